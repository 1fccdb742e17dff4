"""How much of its latent space a VAE uses: the KL of each unit, and which units are active.

A unit k whose posterior q(z_k | x) equals the prior N(0, 1) for every frame has KL 0: it tells
the decoder nothing, and the decoder learns to ignore it (posterior collapse). Summing the KL
term of the loss over units hides this; these functions show it unit by unit. Two readings are
combined, because each alone can mislead: the KL (nats of information a unit carries per frame)
and the variance of its posterior mean over the data (a unit whose mean moves by a little
against a posterior variance near 1 carries almost nothing, yet passes a variance threshold).
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab_core import spec

#: A unit is active when it carries more than this many nats per frame...
KL_THRESHOLD = 0.1
#: ...and its posterior mean varies over the frames by more than this (Burda et al. 2016's 0.01).
VARIANCE_THRESHOLD = 0.01


@torch.no_grad()
def kl_per_unit(model: nn.Module, spectra: torch.Tensor) -> torch.Tensor:
    """KL(q(z_k | x) || N(0, 1)) of each unit, averaged over the frames of spectra (..., F): (Z,) nats."""
    _, mean, logvar = model.inference(spectra.reshape(-1, spectra.shape[-1]))
    return (0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)).mean(dim=0)


@torch.no_grad()
def mean_variance(model: nn.Module, spectra: torch.Tensor) -> torch.Tensor:
    """Variance over the frames of each unit's posterior mean, spectra (..., F): (Z,)."""
    _, mean, _ = model.inference(spectra.reshape(-1, spectra.shape[-1]))
    return mean.var(dim=0)


def active_mask(model: nn.Module, spectra: torch.Tensor) -> torch.Tensor:
    """(Z,) booleans: the units with KL above KL_THRESHOLD and mean variance above VARIANCE_THRESHOLD."""
    return (kl_per_unit(model, spectra) > KL_THRESHOLD) & (mean_variance(model, spectra) > VARIANCE_THRESHOLD)


def active_units(model: nn.Module, spectra: torch.Tensor) -> int:
    """How many of the model's Z units are active on spectra (..., F) (see active_mask)."""
    return int(active_mask(model, spectra).sum())


def describe(kl: torch.Tensor) -> str:
    """One line: total KL, how many units carry more than KL_THRESHOLD, and the largest ones."""
    order = torch.argsort(kl, descending=True)
    carrying = int((kl > KL_THRESHOLD).sum())
    largest = ", ".join(f"unit {int(k)} {float(kl[k]):.1f}" for k in order[:min(4, carrying)])
    return (f"KL {float(kl.sum()):.1f} nats per frame in all; {carrying} of {spec.LATENT_DIM} units carry more "
            f"than {KL_THRESHOLD} nat" + (f" (largest: {largest})" if carrying else ""))
