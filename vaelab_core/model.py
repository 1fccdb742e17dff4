"""The part of the speech VAE that the lab provides: everything but the five student methods.

Students subclass `SpeechVAEBase` in the notebook and write `build`, `generation_x`,
`reparametrization`, `inference` and `get_loss` (handout 2.3). Each method is a separate,
replaceable piece, so a grader can judge one with the reference standing in for the others.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab_core import spec


class SpeechVAEBase(nn.Module):
    """A VAE on magnitude spectrogram frames, x: (..., F) -> latent z: (..., Z).

    Frames are modelled independently, so every method works on any leading shape:
    (B, T, F) batches of sequences as well as (N, F) stacks of frames.
    Model (handout eq. (1)-(4)): z ~ N(0, I); x | z ~ N_c(0, diag exp(eta(z)));
    q(z | x) = N(mean(x), diag exp(logvar(x))).
    """

    def __init__(self, x_dim: int = spec.N_FREQ, z_dim: int = spec.LATENT_DIM,
                 encoder_hidden: tuple[int, ...] = spec.ENCODER_HIDDEN,
                 decoder_hidden: tuple[int, ...] = spec.DECODER_HIDDEN) -> None:
        super().__init__()
        self.x_dim = x_dim  # F, bins per frame
        self.z_dim = z_dim  # Z, latent dimension
        self.encoder_hidden = tuple(encoder_hidden)  # dense tanh layers of the encoder
        self.decoder_hidden = tuple(decoder_hidden)  # dense tanh layers of the decoder
        self.build()

    # --- the five student methods (handout 2.3); the notebook's subclass defines them ---------

    def build(self) -> None:
        """Create `mlp_x_z`, `inf_mean`, `inf_logvar`, `mlp_z_x` and `gen_logvar`."""
        raise NotImplementedError("build() is not implemented yet")

    def generation_x(self, z: torch.Tensor) -> torch.Tensor:
        """z: (..., Z) -> eta: (..., F), the log-variance of p(x | z)."""
        raise NotImplementedError("generation_x() is not implemented yet")

    def reparametrization(self, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """mean, logvar: (..., Z) -> one sample z: (..., Z) of N(mean, diag exp(logvar))."""
        raise NotImplementedError("reparametrization() is not implemented yet")

    def inference(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (..., F) magnitudes -> (z, mean, logvar), each (..., Z)."""
        raise NotImplementedError("inference() is not implemented yet")

    def get_loss(self, x: torch.Tensor, eta: torch.Tensor, mean: torch.Tensor,
                 logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Negative ELBO per frame: (loss, recon, kl), scalars averaged over all frames."""
        raise NotImplementedError("get_loss() is not implemented yet")

    # --- provided ----------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (..., F) -> (eta (..., F), z, mean, logvar (..., Z)): encode, sample, decode."""
        z, mean, logvar = self.inference(x)
        eta = self.generation_x(z)
        return eta, z, mean, logvar

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, recon, kl) of a batch x: (..., F), with one posterior sample per frame (eq. (6))."""
        eta, _, mean, logvar = self(x)
        return self.get_loss(x, eta, mean, logvar)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Magnitudes x: (..., F) -> reconstructed magnitudes (..., F).

        Decodes the posterior mean (no sampling). Under N_c(0, exp(eta)) the expected power
        E|x|^2 is exp(eta), so the magnitude shown or played is sqrt(exp(eta)) = exp(eta / 2).
        """
        device = next(self.parameters()).device  # the model may sit on a GPU, the data not
        _, mean, _ = self.inference(x.to(device))
        return torch.exp(0.5 * self.generation_x(mean)).to(x.device)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars in `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def expected_parameter_count(x_dim: int = spec.N_FREQ, z_dim: int = spec.LATENT_DIM,
                             encoder_hidden: tuple[int, ...] = spec.ENCODER_HIDDEN,
                             decoder_hidden: tuple[int, ...] = spec.DECODER_HIDDEN) -> int:
    """Parameters of the handout's architecture (dense layers with biases): 220,385 for the lab."""
    def dense(sizes: tuple[int, ...]) -> int:
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))

    encoder = dense((x_dim, *encoder_hidden)) + 2 * dense((encoder_hidden[-1], z_dim))
    decoder = dense((z_dim, *decoder_hidden)) + dense((decoder_hidden[-1], x_dim))
    return encoder + decoder
