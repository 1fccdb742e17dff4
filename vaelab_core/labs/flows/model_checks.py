"""Public self-checks of the flows lab's speech VAE with a flow posterior: the two methods of
`FlowVAE(FlowVAEBase)`, inference and get_loss.

After each method the notebook's locked cell calls `check_flow_inference(FlowVAE)` or
`check_flow_loss(FlowVAE)` with the class: the check builds fresh models with
FlowVAE(n_flows=...); given an instance, it uses its class and leaves it alone. Same rules as
`flow_checks` (the 2-D flows, beside this module), whose comparisons and autograd Jacobians
(`jacobians`) these checks share: NO reference implementation; hand-built cases (a posterior set to mean 1/2 and
log-variance ln 4, whose log-density is a sum of constants; lab 1's recon at x = 2 and
eta = ln 4); properties (kl moves one for one with log q_K, each frame alone gives the same,
gradients reach every layer); and ln q_K(z_K) + ln|det dz_K/dz0|, the Jacobian of the student's
own z_K by autograd, against the hand-computed ln q0(z0) (Rezende and Mohamed 2015, eq. 7). Each
check has its own random state and teaches on failure; a wrong recon term is diagnosed by the
same ladder as vae_speech's get_loss (`vaelab_core.checking`).
"""

from __future__ import annotations

import functools
import math
import warnings

import torch
from torch import nn

from vaelab_core import spec
from vaelab_core.checking import (SelfCheckFailed, backward, call, checked_tensor, close, fail, loss_reaches,
                                  loss_terms, own_random_state, passed, recon_mistake, show)
from vaelab_core.labs.flows.jacobians import first_match, jacobian_blocks, log_abs_det, near

__all__ = ["SelfCheckFailed", "check_flow_inference", "check_flow_loss"]

LOG_2PI = math.log(2 * math.pi)


# --- 5. FlowVAE.inference ---------------------------------------------------------------------

# Set by the check (not the student's weights): mean = 1/2 and logvar = ln 4 (standard deviation 2)
# in every dimension, and z0 = mean + 2 * 1 = 5/2 (one standard deviation up). Then, per latent
# dimension, ln q0(z0) = -1/2 (ln 2 pi + logvar + (z0 - mean)^2 / exp(logvar))
#                      = -1/2 (ln 2 pi + ln 4 + 4 / 4) = -2.112086.
# The typical mistakes give, per dimension:
#   logvar left out:           -1/2 (ln 2 pi + 1)          = -1.418939
#   ln 2 pi left out:          -1/2 (ln 4 + 1)             = -1.193147
#   N(0, 1) instead of q0:     -1/2 (ln 2 pi + (5/2)^2)    = -4.043939
_INF_MEAN, _INF_LOGVAR, _INF_Z0 = 0.5, math.log(4.0), 2.5
_LOG_Q0_PER_DIM = -0.5 * (LOG_2PI + math.log(4.0) + 1.0)
_LOG_Q0_NO_LOGVAR = -0.5 * (LOG_2PI + 1.0)
_LOG_Q0_NO_2PI = -0.5 * (math.log(4.0) + 1.0)
_LOG_Q0_STANDARD = -0.5 * (LOG_2PI + 2.5 ** 2)


def _model_class(model_class) -> type:
    return model_class if isinstance(model_class, type) else type(model_class)


def _last_linear(module: nn.Module) -> nn.Linear:
    return [layer for layer in module.modules() if isinstance(layer, nn.Linear)][-1]


def _new_model(m: str, model_class, n_flows: int) -> nn.Module:
    """A fresh model_class(n_flows=n_flows), seeded; never the student's trained instance."""
    torch.manual_seed(0)
    with warnings.catch_warnings():  # n_flows = 0 makes an empty nn.Linear, whose init warns
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return call(m, functools.partial(_model_class(model_class), n_flows=n_flows))


def _flow_model(m: str, model_class, n_flows: int) -> nn.Module:
    """A fresh model whose posterior is mean 1/2, logvar ln 4 for every x."""
    model = _new_model(m, model_class, n_flows)
    for name in ("mlp_x_z", "inf_mean", "inf_logvar"):
        if not isinstance(getattr(model, name, None), nn.Module):
            fail(m, f"the model has no layer {name!r}: FlowVAE should subclass FlowVAEBase, which builds it.")
    with torch.no_grad():
        for name, value in (("inf_mean", _INF_MEAN), ("inf_logvar", _INF_LOGVAR)):
            layer = _last_linear(getattr(model, name))
            layer.weight.zero_()
            layer.bias.fill_(value)
    return model


def _inference(m: str, model: nn.Module, x: torch.Tensor, what: str):
    hint = ("encode x with mlp_x_z into h; the mean and log-variance of q0 come from inf_mean and "
            "inf_logvar, the flows' parameters from the base's flow_parameters, z0 from its reparametrization.")
    out = call(m, model.inference, x, hint=hint)
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        got = f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list)) else type(out).__name__
        fail(m, f"should return a tuple (z_K, log_q_K, mean, logvar), got {got}.")
    lead, z_dim = tuple(x.shape[:-1]), model.z_dim
    z_k, log_q, mean, logvar = out
    if isinstance(log_q, torch.Tensor) and tuple(log_q.shape) != lead and log_q.numel() < max(1, math.prod(lead)):
        fail(m, f"log_q_K {what} should hold one value per frame, shape {lead}, got {tuple(log_q.shape)}: it was "
                "summed or averaged over frames. ln q_K(z_K) is a density per frame; get_loss averages.")
    z_k = checked_tensor(m, f"z_K {what}", z_k, (*lead, z_dim), "z_K has one Z-vector per frame.")
    log_q = checked_tensor(m, f"log_q_K {what}", log_q, lead, "log_q_K holds one value per frame: sum over Z only.")
    mean = checked_tensor(m, f"mean {what}", mean, (*lead, z_dim))
    logvar = checked_tensor(m, f"logvar {what}", logvar, (*lead, z_dim))
    return out, z_k, log_q, mean, logvar


@own_random_state
def check_flow_inference(model_class) -> None:
    """FlowVAE.inference(x) -> (z_K, log_q_K, mean, logvar): the sample z0 of q0 through the
    chain, ln q_K(z_K) = ln q0(z0) - sum of ln|det| (checked with autograd's Jacobian)."""
    m = "inference"
    k = 3
    model = _flow_model(m, model_class, k)
    z_dim = model.z_dim
    # The sample z0 is set by the check: reparametrization returns it (and records what it got),
    # flow_parameters records the h it is given.
    state = {"z0": None, "args": None, "h": None}
    flow_parameters = model.flow_parameters

    def fixed_sample(mean, logvar):
        state["args"] = (mean, logvar)
        return state["z0"]

    def recorded_flow_parameters(h):
        state["h"] = h
        return flow_parameters(h)

    model.reparametrization = fixed_sample
    model.flow_parameters = recorded_flow_parameters

    torch.manual_seed(1)
    x = torch.rand(2, 3, model.x_dim) * 3
    state["z0"] = torch.full((2, 3, z_dim), _INF_Z0)
    _, z_k, log_q, mean, logvar = _inference(m, model, x, "for x of shape (2, 3, F)")
    if state["args"] is None:
        fail(m, "reparametrization was not called: sample z0 with self.reparametrization, the base's sampler, "
                "given the mean and log-variance, then push z0 through the flows.")
    if close(mean, torch.full_like(mean, _INF_LOGVAR)) and close(logvar, torch.full_like(logvar, _INF_MEAN)):
        fail(m, "mean and logvar are swapped: the mean comes from inf_mean and the log-variance from inf_logvar, "
                "returned as (z_K, log_q_K, mean, logvar).")
    if not (close(mean, torch.full_like(mean, _INF_MEAN)) and close(logvar, torch.full_like(logvar, _INF_LOGVAR))):
        fail(m, "the returned mean and logvar are not inf_mean(h) and inf_logvar(h) with h = self.mlp_x_z(x).")
    got_mean, got_logvar = (a.detach() if isinstance(a, torch.Tensor) else a for a in state["args"])
    if not (isinstance(got_mean, torch.Tensor) and close(got_mean, mean) and close(got_logvar, logvar)):
        fail(m, "reparametrization should get (mean, logvar) of q0, in this order.")
    h = state["h"]
    if h is None:
        fail(m, "flow_parameters was not called: the base's flow_parameters, given the encoder's hidden layer, "
                   "gives each frame's flows.")
    if not (isinstance(h, torch.Tensor) and close(h.detach(), model.mlp_x_z(x).detach())):
        fail(m, "flow_parameters should get h = self.mlp_x_z(x), the encoder's last hidden layer: the flows are "
                "amortised, predicted per frame from x like mean and logvar.")
    if close(z_k, state["z0"]):
        fail(m, f"with {k} flows z_K equals the sample z0: z0 instead of z_K was returned. Return the z_K that "
                "flow_chain gives.")

    # z_K follows the sample z0 (not mean), and only it: the same z0 twice gives the same z_K.
    state["z0"] = torch.full((2, 3, z_dim), _INF_Z0)
    again = _inference(m, model, x, "for the same x and z0")[1]
    if not close(again, z_k):
        fail(m, "the same x and the same sample z0 gave two different z_K: draw z0 only with "
                "self.reparametrization(mean, logvar) (no torch.randn of your own), then the flows are deterministic.")
    state["z0"] = torch.full((2, 3, z_dim), -1.5)
    moved = _inference(m, model, x, "for another z0")[1]
    if close(moved, z_k):
        fail(m, "z_K did not change when the sample z0 did: are the flows fed mean instead of z0? "
                "flow_chain starts from the sample.")

    # eq. 7: ln q_K(z_K) + ln|det dz_K/dz0| = ln q0(z0), with the Jacobian of the student's own z_K
    # by autograd and ln q0(z0) by hand (z0 = 5/2 for mean 1/2, standard deviation 2).
    xs = x[0, :2]
    z0 = torch.full((2, z_dim), _INF_Z0)

    def z_k_of(z):
        state["z0"] = z
        return model.inference(xs)[0]

    state["z0"] = z0.clone().requires_grad_()
    _, z_k, log_q, _, _ = _inference(m, model, xs, "for x of shape (2, F)")
    out = model.inference(xs)[0]
    if not out.requires_grad:
        fail(m, "z_K is cut from the graph of z0 (.detach(), .data, torch.no_grad() or numpy on the way): the "
                "flows must stay differentiable.")
    log_det = log_abs_det(jacobian_blocks(m, z_k_of, z0))
    implied = log_q.double() + log_det  # = ln q0(z0) when log_q_K = ln q0(z0) - sum of log-dets
    want = z_dim * _LOG_Q0_PER_DIM
    if not near(implied, [want, want], atol=1e-3):
        cause = first_match(implied, [
            ([z_dim * _LOG_Q0_NO_LOGVAR] * 2, ("log_q0 is missing the logvar term: ln N(z0; mean, exp(logvar)) = "
                                               "-1/2 sum (ln 2 pi + logvar + (z0 - mean)^2 / exp(logvar)).")),
            ([z_dim * _LOG_Q0_NO_2PI] * 2, ("log_q0 is missing the constant ln(2 pi) of each dimension: -1/2 sum "
                                            "(ln 2 pi + logvar + (z0 - mean)^2 / exp(logvar)).")),
            ([z_dim * _LOG_Q0_STANDARD] * 2, ("log_q0 is the density of N(0, I) at z0; the base posterior q0 is "
                                              "N(mean, exp(logvar)): -1/2 sum (ln 2 pi + logvar + (z0 - mean)^2 / "
                                              "exp(logvar)).")),
            (want + log_det, ("log_q_K equals log_q0(z0): the flows' log-dets are not subtracted. Return the "
                              "log-density that flow_chain gives.")),
            (want + 2 * log_det, "log_q_K is log_q0 + the log-dets: subtract them (flow_chain, eq. 7)."),
        ], atol=1e-3) or ("log_q0 = -1/2 sum over Z of (ln 2 pi + logvar + (z0 - mean)^2 / exp(logvar)), then "
                          "flow_chain subtracts the log-dets.")
        fail(m, f"for mean = 1/2, logvar = ln 4 and z0 = 5/2 in each of the Z = {z_dim} dimensions, ln q0(z0) = "
                f"{z_dim} x -1/2 (ln 2 pi + ln 4 + 1) = {want:.4f}, so log_q_K + ln|det dz_K/dz0| (autograd) should "
                f"be {want:.4f} per frame; got {show(implied, 4)}: {cause}")

    # Gradients reach the encoder: mlp_x_z, both heads and the flows' parameters.
    model.zero_grad(set_to_none=True)
    state["z0"] = z0
    z_k, log_q, mean, logvar = model.inference(xs)
    backward(m, z_k.sum() + log_q.sum() + mean.sum() + logvar.sum(), "z_K, log_q_K, mean and logvar")
    for name in ("mlp_x_z", "inf_mean", "inf_logvar", "inf_flow"):
        part = getattr(model, name, None)
        if isinstance(part, nn.Module) and all(p.grad is None or p.grad.abs().sum() == 0 for p in part.parameters()):
            fail(m, f"no gradient reaches {name}: is its output used (and not detached) on the way to z_K and log_q_K?")

    # K = 0, the plain VAE of part 2: z_K = z0 and log_q_K = ln q0(z0).
    plain = _flow_model(m, model_class, 0)
    plain.reparametrization = fixed_sample
    state["z0"] = torch.full((2, z_dim), _INF_Z0)
    _, z_k, log_q, _, _ = _inference(m, plain, xs, "with n_flows = 0")
    if not (close(z_k, state["z0"]) and near(log_q, [want, want], atol=1e-3)):
        fail(m, f"with n_flows = 0, z_K should be z0 and log_q_K = ln q0(z0) = {want:.4f}; got z_K "
                f"{'= z0' if close(z_k, state['z0']) else '!= z0'} and log_q_K = {show(log_q, 4)}.")
    passed(m, "z0 from reparametrization through the flows, ln q_K(z_K) = ln q0(z0) - ln|det dz_K/dz0| "
              "(autograd), one value per frame, gradients reach the encoder, n_flows = 0 works")


# --- 6. FlowVAE.get_loss ----------------------------------------------------------------------

# Worked out by hand for x = 2 and eta = ln 4 at every bin (per bin: ln pi + eta + x^2 e^-eta =
# ln pi + ln 4 + 4 / 4), as lab 1, and for eta read as a variance (ln pi + ln(ln 4) + 4 / ln 4) or
# |x| in place of |x|^2 (ln pi + ln 4 + 2 / 4).
_RECON_PER_BIN = spec.LOG_PI + math.log(4.0) + 1.0
_RECON_PER_BIN_ETA_AS_VARIANCE = spec.LOG_PI + math.log(math.log(4.0)) + 4.0 / math.log(4.0)
_RECON_PER_BIN_X_NOT_SQUARED = spec.LOG_PI + math.log(4.0) + 0.5
# The prior's log-density per latent dimension, ln N(z; 0, 1) = -1/2 (z^2 + ln 2 pi): at z = 1,
# -1/2 (1 + ln 2 pi) = -1.418939; at z = 0, -1/2 ln 2 pi = -0.918939.
_LOG_PRIOR_AT_ONE = -0.5 * (1.0 + LOG_2PI)
_LOG_PRIOR_AT_ZERO = -0.5 * LOG_2PI
_GET_LOSS_LOG_Q = -10.0


def _loss_of(m: str, model: nn.Module, x, eta, z_k, log_q) -> tuple[float, float, float]:
    out = loss_terms(m, call(m, model.get_loss, x, eta, z_k, log_q))
    return tuple(v.item() for v in out)


@own_random_state
def check_flow_loss(model_class) -> None:
    """FlowVAE.get_loss(x, eta, z_K, log_q_K) -> (loss, recon, kl): lab 1's recon, kl = mean of
    log_q_K - ln N(z_K; 0, I), loss = recon + kl, each averaged over frames."""
    m = "get_loss"
    model = _new_model(m, model_class, 2)
    f, z_dim = model.x_dim, model.z_dim
    frames, shape_x, shape_z = 15, (3, 5, f), (3, 5, z_dim)
    x = torch.full(shape_x, 2.0)
    eta = torch.full(shape_x, math.log(4.0))
    ones, log_q = torch.ones(shape_z), torch.full(shape_x[:2], _GET_LOSS_LOG_Q)

    # kl is estimated from the sample: it moves one for one with log_q_K.
    _, _, kl = _loss_of(m, model, x, eta, ones, log_q)
    _, _, kl_up = _loss_of(m, model, x, eta, ones, log_q + 1.5)
    if not math.isclose(kl_up - kl, 1.5, rel_tol=1e-3, abs_tol=1e-4):
        if abs(kl_up - kl) < 1e-6:
            cause = ("kl does not depend on log_q_K: is it lab 1's analytic KL (from mean and logvar)? With flows "
                     "q_K has no closed form; the KL term is estimated from the sample, the mean over frames of "
                     "log_q_K - ln p(z_K).")
        elif math.isclose(kl_up - kl, frames * 1.5, rel_tol=1e-3):
            cause = (f"kl moved {frames} times too far for {frames} frames, their sum: average over frames "
                     "(batch and time), sum over the latent dimensions only.")
        elif math.isclose(kl_up - kl, -1.5, rel_tol=1e-3):
            cause = "kl went down: its sign is flipped. kl = mean over frames of (log_q_K - ln p(z_K))."
        else:
            cause = "kl = mean over frames of (log_q_K - ln p(z_K)): one more nat of log_q_K is one more nat of kl."
        fail(m, f"raising log_q_K by 1.5 in every frame changed kl by {kl_up - kl:.4f}, expected +1.5; {cause}")

    # Case 1: z_K = 1 and log_q_K = -10 in every frame.
    loss, recon, kl = _loss_of(m, model, x, eta, ones, log_q)
    want = f * _RECON_PER_BIN
    if not math.isclose(recon, want, rel_tol=1e-4):
        cause = recon_mistake(recon, want, frames=frames, bins=f,
                              if_eta_is_variance=f * _RECON_PER_BIN_ETA_AS_VARIANCE,
                              if_x_not_squared=f * _RECON_PER_BIN_X_NOT_SQUARED)
        cause = cause or "it is lab 1's term, the sum over bins of ln pi + eta + x^2 e^-eta."
        fail(m, f"reconstruction term for x = 2 and eta = ln 4 at every bin: expected {want:.3f} per frame (lab 1's "
                f"term, unchanged), got {recon:.3f}; {cause}")
    prior = z_dim * _LOG_PRIOR_AT_ONE
    want_kl = _GET_LOSS_LOG_Q - prior
    if not math.isclose(kl, want_kl, rel_tol=1e-4, abs_tol=1e-4):
        cause = next((c for v, c in (
            (_GET_LOSS_LOG_Q, ("kl equals the mean of log_q_K: the prior term is missing. kl = mean of (log_q_K - "
                               "ln p(z_K)), ln p(z_K) = -1/2 sum (z_K^2 + ln 2 pi).")),
            (_GET_LOSS_LOG_Q + 0.5 * z_dim, ("the constant ln(2 pi) is missing in ln p(z_K) = -1/2 sum over Z of "
                                             "(z_K^2 + ln 2 pi).")),
            (-want_kl, "the sign of kl is flipped: kl = mean of (log_q_K - ln p(z_K)), not ln p - ln q."),
            (_GET_LOSS_LOG_Q + prior, "ln p(z_K) is added; it is subtracted: kl = mean of (log_q_K - ln p(z_K))."),
            (want_kl * frames, f"it is {frames} times too large for {frames} frames, their sum: average over frames."),
            (_GET_LOSS_LOG_Q - _LOG_PRIOR_AT_ONE, (f"ln p(z_K) was averaged over the Z = {z_dim} latent dimensions: "
                                                  "sum over them, average over frames.")),
        ) if math.isclose(kl, v, rel_tol=1e-4, abs_tol=1e-4)),
            "kl = mean over frames of (log_q_K - ln p(z_K)), ln p(z_K) = -1/2 sum over Z of (z_K^2 + ln 2 pi).")
        fail(m, f"for z_K = 1 and log_q_K = -10 in every frame, ln p(z_K) = {z_dim} x -1/2 (1 + ln 2 pi) = "
                f"{prior:.4f}, so kl = -10 - ({prior:.4f}) = {want_kl:.4f}; got {kl:.4f}: {cause}")
    if not math.isclose(loss, recon + kl, rel_tol=1e-5, abs_tol=1e-4):
        fail(m, f"loss should be recon + kl (the negative ELBO per frame), got {loss:.4f} vs {recon + kl:.4f}.")

    # Case 2: z_K = 0, where ln p(z_K) = -Z/2 ln 2 pi; recon does not move.
    loss, recon0, kl = _loss_of(m, model, x, eta, torch.zeros(shape_z), log_q)
    want_kl = _GET_LOSS_LOG_Q - z_dim * _LOG_PRIOR_AT_ZERO
    if not math.isclose(kl, want_kl, rel_tol=1e-4, abs_tol=1e-4):
        fail(m, f"for z_K = 0 and log_q_K = -10, ln p(z_K) = -{z_dim}/2 ln 2 pi, so kl = {want_kl:.4f}; got {kl:.4f}. "
                "ln p(z_K) = -1/2 sum over Z of (z_K^2 + ln 2 pi).")
    if not math.isclose(recon0, recon, rel_tol=1e-5):
        fail(m, "the reconstruction term changed with z_K: it depends on x and eta only.")

    # One frame gives the same per-frame values as 15 identical frames.
    one = _loss_of(m, model, x[:1, :1], eta[:1, :1], ones[:1, :1], log_q[:1, :1])
    whole = _loss_of(m, model, x, eta, ones, log_q)
    if not all(math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4) for a, b in zip(one, whole)):
        fail(m, f"one frame gives (loss, recon, kl) = {tuple(round(v, 3) for v in one)} but {frames} identical frames "
                f"give {tuple(round(v, 3) for v in whole)}: average over all frames (batch x time), do not sum.")

    # Gradients reach eta (recon), z_K (the prior) and log_q_K.
    gen = torch.Generator().manual_seed(47)
    leaves = {"eta": torch.randn(shape_x, generator=gen).requires_grad_(),
              "z_K": torch.randn(shape_z, generator=gen).requires_grad_(),
              "log_q_K": torch.randn(shape_x[:2], generator=gen).requires_grad_()}
    loss_t = call(m, model.get_loss, torch.rand(shape_x, generator=gen), *leaves.values())[0]
    loss_reaches(m, loss_t, leaves)

    # The whole model: loss(x) = get_loss on inference's outputs, finite, and it trains every part.
    model.zero_grad(set_to_none=True)
    try:
        out = model.loss(torch.rand(2, 3, f, generator=gen) * 3)
    except NotImplementedError:
        fail(m, "get_loss passed its own cases, but model.loss(x) stops at a method that is not implemented yet "
                "(inference?): fill it in, run its cell and its check, then this check again.")
    except Exception as err:  # a student error: show it as a message, with its type
        fail(m, f"get_loss passed its own cases, but model.loss(x) raised {type(err).__name__}: {err}. loss(x) runs "
                "inference, generation_x and get_loss in turn: see the inference check.")
    loss_t = loss_terms(m, out)[0]
    if not torch.isfinite(loss_t):
        fail(m, f"model.loss(x) is {loss_t.item()} on random frames: see the inference and get_loss checks.")
    backward(m, loss_t, "model.loss(x)")
    untouched = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    if untouched:
        fail(m, f"model.loss(x) sends no gradient to {untouched[0]}: does every part (encoder, flows, decoder) "
                "reach the loss without .detach()?")
    passed(m, "lab 1's recon, kl = mean of log_q_K - ln N(z_K; 0, I) on hand cases, loss = recon + kl per frame, "
              "gradients reach eta, z_K, log_q_K and every layer")
