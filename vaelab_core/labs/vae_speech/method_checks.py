"""Public self-checks of vae_speech, one per student method (handout 2.3: "check your implementation").

Each check takes the notebook's model class (or an instance), exercises one method and
either prints what it verified or stops the notebook with a message that says what was
expected, what came, and the likely cause (`vaelab_core.checking`, shared with the other lab).
The checks test properties (shapes, moments, gradients, special cases computable by hand),
never a stored answer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelab_core import spec
from vaelab_core.checking import (SelfCheckFailed, backward, call, checked_tensor, fail, kl_mistake,
                                  loss_reaches, loss_terms, own_random_state, passed, recon_mistake,
                                  variance_mistake, without_gradient)
from vaelab_core.model import count_parameters, expected_parameter_count

__all__ = ["SelfCheckFailed", "check_build", "check_generation_x", "check_reparametrization",
           "check_inference", "check_get_loss", "check_all"]


def _instance(model_or_class, method: str = "build") -> nn.Module:
    if isinstance(model_or_class, nn.Module):
        return model_or_class
    torch.manual_seed(0)
    return call(method, model_or_class)


def _linears(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def _grad_reaches(method: str, module: nn.Module, name: str) -> None:
    grads = [p.grad for p in module.parameters()]
    if not grads or all(g is None or g.abs().sum() == 0 for g in grads):
        fail(method, f"no gradient reaches {name}: is its output used, and not detached "
                     "(.detach(), .data, torch.no_grad(), numpy) on the way?")


# --- build -----------------------------------------------------------------------------------

@own_random_state
def check_build(model_or_class) -> None:
    """The five parts exist with the handout's layer sizes, tanh activations and parameter count."""
    model = _instance(model_or_class)
    m = "build"
    f, z = model.x_dim, model.z_dim
    enc, dec = (f, *model.encoder_hidden), (z, *model.decoder_hidden)
    layout = {
        "mlp_x_z": list(zip(enc[:-1], enc[1:])),
        "inf_mean": [(enc[-1], z)],
        "inf_logvar": [(enc[-1], z)],
        "mlp_z_x": list(zip(dec[:-1], dec[1:])),
        "gen_logvar": [(dec[-1], f)],
    }
    for part, expected in layout.items():
        module = getattr(model, part, None)
        if not isinstance(module, nn.Module):
            fail(m, f"the model has no layer called {part!r} (found {type(module).__name__}). The five "
                    f"names {', '.join(spec.MODEL_PARTS)} are fixed: the pre-trained model is loaded by them.")
        found = _linears(module)
        if found != expected:
            fail(m, f"{part} should be dense layers (in, out) = {expected}, found {found}. "
                    "Check the sizes in the handout (2.3) and the order of the layers.")
    other_activations = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Softplus)
    for part, width in (("mlp_x_z", enc[-1]), ("mlp_z_x", dec[-1])):
        module = getattr(model, part)
        wrong = [type(x).__name__ for x in module.modules() if isinstance(x, other_activations)]
        if wrong:
            fail(m, f"{part} uses {wrong[0]}; the handout's dense layers are activated with tanh.")
        tanhs = sum(isinstance(x, nn.Tanh) for x in module.modules())
        if tanhs and tanhs != len(layout[part]):
            fail(m, f"{part} has {len(layout[part])} dense layers but {tanhs} tanh activations: "
                    "each dense layer is followed by one.")
        if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            continue  # a container the model walks itself: generation_x / inference exercise it
        torch.manual_seed(1)
        probe = torch.randn(64, enc[0] if part == "mlp_x_z" else z) * 50
        out = call(m, module, probe)
        checked_tensor(m, f"{part}(input)", out, (64, width))
        if out.abs().max() > 1 or (out == 0).float().mean() > 0.2:
            fail(m, f"{part} should end with a tanh (outputs in (-1, 1)); its outputs range over "
                    f"[{out.min():.2f}, {out.max():.2f}]. Is a ReLU or no activation used?")
    for head in ("inf_mean", "inf_logvar", "gen_logvar"):
        if any(isinstance(x, (nn.Tanh, nn.ReLU, nn.Sigmoid)) for x in getattr(model, head).modules()):
            fail(m, f"{head} should be a plain linear layer: a mean or a log-variance can take "
                    "any real value, so no activation bounds it.")
    if model.inf_mean is model.inf_logvar:
        fail(m, "inf_mean and inf_logvar are the same layer; they need separate weights.")
    count, want = count_parameters(model), expected_parameter_count(f, z, model.encoder_hidden,
                                                                    model.decoder_hidden)
    if count != want:
        fail(m, f"expected {want:,} trainable parameters, found {count:,}. Are there extra "
                "layers, missing biases, or parameters frozen with requires_grad=False?")
    passed(m, f"5 parts with the handout's sizes, {count:,} parameters")


# --- generation_x ----------------------------------------------------------------------------

@own_random_state
def check_generation_x(model_or_class) -> None:
    """eta = generation_x(z) has shape (..., F), is deterministic, unbounded, and trains the decoder."""
    model = _instance(model_or_class)
    m = "generation_x"
    torch.manual_seed(2)
    z = torch.randn(4, spec.N_FRAMES, model.z_dim)
    eta = call(m, model.generation_x, z)
    checked_tensor(m, "eta for z of shape (4, 150, Z)", eta, (4, spec.N_FRAMES, model.x_dim),
                   "generation_x maps each frame's z (Z values) to F log-variances.")
    flat = call(m, model.generation_x, z.reshape(-1, model.z_dim))
    if tuple(flat.shape) != (4 * spec.N_FRAMES, model.x_dim) or not torch.allclose(
            flat.reshape(eta.shape), eta, atol=1e-5):
        fail(m, "the result for (N, Z) input differs from the same frames given as (B, T, Z): "
                "frames are independent, so work on the last dimension only.")
    if not torch.allclose(call(m, model.generation_x, z), eta):
        fail(m, "two calls with the same z gave different eta: the decoder is deterministic, "
                "sampling happens in reparametrization() only.")
    if (eta >= 0).all():
        fail(m, "every eta is >= 0 for a freshly initialised decoder. eta is a LOG-variance, the "
                "raw output of gen_logvar: do not apply exp(), softplus() or a square to it.")
    backward(m, eta.sum(), "eta")
    _grad_reaches(m, model.gen_logvar, "gen_logvar")
    _grad_reaches(m, model.mlp_z_x, "mlp_z_x")
    model.zero_grad(set_to_none=True)
    passed(m, "shape (..., F), deterministic, unbounded log-variances, gradients reach the decoder")


# --- reparametrization -----------------------------------------------------------------------

@own_random_state
def check_reparametrization(model_or_class) -> None:
    """Samples are N(mean, exp(logvar)) in mean and variance, differentiable in both arguments."""
    model = _instance(model_or_class)
    m = "reparametrization"
    torch.manual_seed(3)
    n, zd = 20_000, 8
    mean = torch.linspace(-2, 2, zd).repeat(n, 1).requires_grad_()
    logvar = torch.linspace(-1.5, 1.5, zd).repeat(n, 1).requires_grad_()
    z = call(m, model.reparametrization, mean, logvar)
    checked_tensor(m, "z", z, (n, zd), "z has the shape of mean and logvar.")
    z2 = call(m, model.reparametrization, mean, logvar)
    if torch.allclose(z, z2):
        fail(m, "two calls gave the same z: the trick draws fresh noise eps ~ N(0, I) each time "
                "(torch.randn_like).")
    sample_mean, sample_var = z.mean(0).detach(), z.var(0).detach()
    true_mean, true_var = mean[0].detach(), logvar[0].detach().exp()
    if not torch.allclose(sample_mean, true_mean, atol=0.1):
        fail(m, f"the samples' mean is {sample_mean.numpy().round(2)}, expected about "
                f"{true_mean.numpy().round(2)}: z = mean + (something) x eps.")
    ratio = sample_var / true_var
    if not torch.allclose(ratio, torch.ones_like(ratio), atol=0.08):
        cause = (variance_mistake(sample_var, logvar[0].detach())
                 or "compare your scale of eps with the standard deviation exp(logvar / 2).")
        fail(m, f"the samples' variance is {sample_var.numpy().round(2)}, expected exp(logvar) = "
                f"{true_var.numpy().round(2)}; {cause}")
    backward(m, z.sum(), "z (no gradient reaches mean or logvar)")
    missing = without_gradient({"mean": mean, "logvar": logvar})
    if missing:
        fail(m, f"no gradient reaches {missing}: build z from mean and logvar with torch operations "
                "(no .detach(), numpy or torch.normal(mean, std), which does not propagate gradients).")
    passed(m, "fresh samples with mean = mean and variance = exp(logvar), gradients reach both")


# --- inference -------------------------------------------------------------------------------

@own_random_state
def check_inference(model_or_class) -> None:
    """inference(x) -> (z, mean, logvar), shapes (..., Z), z sampled around mean with exp(logvar)."""
    model = _instance(model_or_class)
    m = "inference"
    torch.manual_seed(4)
    x = torch.rand(64, spec.N_FRAMES, model.x_dim) * 3
    out = call(m, model.inference, x)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail(m, f"should return a tuple (z, mean, logvar), got {type(out).__name__}"
                f"{' of length ' + str(len(out)) if isinstance(out, (tuple, list)) else ''}.")
    expected = (64, spec.N_FRAMES, model.z_dim)
    for name, value in zip(("z", "mean", "logvar"), out):
        checked_tensor(m, name, value, expected, "Each frame gets its own Z-dimensional posterior.")
    z, mean, logvar = out
    z2, mean2, logvar2 = call(m, model.inference, x)
    if torch.allclose(z, z2):
        if not (torch.allclose(mean, mean2) and torch.allclose(logvar, logvar2)):
            fail(m, "the first returned value is deterministic but a later one is random: "
                    "return (z, mean, logvar) in this order.")
        fail(m, "two calls gave the same z: z must be sampled with reparametrization(mean, logvar).")
    if not (torch.allclose(mean, mean2) and torch.allclose(logvar, logvar2)):
        fail(m, "mean and logvar changed between two calls on the same x: they come from the "
                "encoder alone, only z is random.")
    if torch.allclose(mean, logvar):
        fail(m, "mean and logvar are identical: each has its own head (inf_mean, inf_logvar).")
    residual = ((z - mean) / torch.exp(0.5 * logvar)).detach()
    if not 0.85 < residual.var().item() < 1.15 or abs(residual.mean().item()) > 0.05:
        fail(m, f"(z - mean) / exp(logvar / 2) should be standard normal noise; it has mean "
                f"{residual.mean():.2f} and variance {residual.var():.2f}. Pass mean and logvar "
                "(not a standard deviation) to reparametrization, in that order.")
    backward(m, z.sum() + mean.sum() + logvar.sum(), "z, mean and logvar")
    for part in ("mlp_x_z", "inf_mean", "inf_logvar"):
        _grad_reaches(m, getattr(model, part), part)
    model.zero_grad(set_to_none=True)
    passed(m, "(z, mean, logvar) of shape (..., Z), z sampled from q(z|x), gradients reach the encoder")


# --- get_loss --------------------------------------------------------------------------------

def _loss_of(model: nn.Module, x, eta, mean, logvar) -> tuple[float, float, float]:
    out = loss_terms("get_loss", call("get_loss", model.get_loss, x, eta, mean, logvar))
    return tuple(v.item() for v in out)


# Hand-computed values for the special cases of check_get_loss (per bin / per latent dimension).
RECON_PER_BIN = 3.5310242469692907  # x = 2, eta = log 4
RECON_PER_BIN_ETA_AS_VARIANCE = 4.356754227605608  # the same with eta read as a variance
RECON_PER_BIN_X_NOT_SQUARED = 3.0310242469692907  # the same with |x| in place of |x|^2
KL_PER_DIMENSION = 0.6534264097200273  # mean = 1, logvar = log 2


@own_random_state
def check_get_loss(model_or_class) -> None:
    """The negative ELBO per frame on hand-computable cases, and its gradients."""
    model = _instance(model_or_class)
    m = "get_loss"
    f, zd = model.x_dim, model.z_dim
    shape_x, shape_z = (3, 5, f), (3, 5, zd)
    frames = 15

    # The expected values below were worked out by hand (handout 2.2) and are written as plain
    # numbers, per frequency bin or latent dimension, so that this public file states results
    # for two special cases, not the formulas students derive.
    # Case 1: x = 2, eta = log 4 at every bin, posterior N(0, I): the KL is 0 as q is the prior.
    x = torch.full(shape_x, 2.0)
    eta = torch.full(shape_x, math.log(4.0))
    zeros = torch.zeros(shape_z)
    loss, recon, kl = _loss_of(model, x, eta, zeros, zeros)
    want = f * RECON_PER_BIN
    if not math.isclose(recon, want, rel_tol=1e-4):
        cause = recon_mistake(recon, want, frames=frames, bins=f,
                              if_eta_is_variance=f * RECON_PER_BIN_ETA_AS_VARIANCE,
                              if_x_not_squared=f * RECON_PER_BIN_X_NOT_SQUARED)
        fail(m, f"reconstruction term for x = 2 and eta = log 4 at every bin: expected "
                f"{want:.3f} per frame, got {recon:.3f}; {cause or 'compare with your derivation in 2.2.'}")
    if abs(kl) > 1e-5:
        fail(m, f"the KL divergence should be 0 when q(z|x) = N(0, I) (mean 0, logvar 0), got {kl:.4f}.")
    if not math.isclose(loss, recon + kl, rel_tol=1e-5, abs_tol=1e-4):
        fail(m, f"loss should be recon + kl (the negative ELBO), got {loss:.3f} vs {recon + kl:.3f}.")

    # Case 2: mean = 1 and logvar = log 2 in every latent dimension.
    kl_mean, kl_logvar = torch.ones(shape_z), torch.full(shape_z, math.log(2.0))
    loss, recon2, kl = _loss_of(model, x, eta, kl_mean, kl_logvar)
    want_kl = zd * KL_PER_DIMENSION
    if not math.isclose(kl, want_kl, rel_tol=1e-4):
        cause = (kl_mistake(kl, want_kl, frames=frames, dims=zd)
                 or "compare with the KL between diagonal Gaussians you derived in 2.2.")
        fail(m, f"KL for mean = 1 and logvar = log 2 in every dimension: expected {want_kl:.4f} "
                f"per frame, got {kl:.4f}; {cause}")
    if not math.isclose(recon2, recon, rel_tol=1e-5):
        fail(m, "the reconstruction term changed with mean and logvar: it depends on x and eta only.")
    if not math.isclose(loss, recon2 + kl, rel_tol=1e-5, abs_tol=1e-4):
        fail(m, f"loss should be recon + kl (the negative ELBO), got {loss:.3f} vs {recon2 + kl:.3f}.")

    # Case 3: the same frames in a batch of another size give the same per-frame value.
    one = _loss_of(model, x[:1, :1], eta[:1, :1], zeros[:1, :1], zeros[:1, :1])[1]
    if not math.isclose(one, recon, rel_tol=1e-4):
        fail(m, f"one frame gives recon {one:.3f} but {frames} identical frames give {recon:.3f} per "
                "frame: average over all frames (batch x time), do not sum over them.")

    # Gradients reach eta (reconstruction) and mean, logvar (KL).
    torch.manual_seed(5)
    x = torch.rand(shape_x)
    eta = torch.randn(shape_x, requires_grad=True)
    mean = torch.randn(shape_z, requires_grad=True)
    logvar = torch.randn(shape_z, requires_grad=True)
    loss = call(m, model.get_loss, x, eta, mean, logvar)[0]
    loss_reaches(m, loss, {"eta": eta, "mean": mean, "logvar": logvar})
    passed(m, "hand-computed reconstruction and KL terms match, per-frame average, gradients flow")


def check_all(model_or_class) -> None:
    """All five checks in the order of the handout."""
    for check in (check_build, check_generation_x, check_reparametrization, check_inference,
                  check_get_loss):
        check(model_or_class)
