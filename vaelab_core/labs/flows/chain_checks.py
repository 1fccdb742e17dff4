"""Public self-checks of the flows lab's chain of planar flows and its free energy: flow_chain
(K constrained flows in order, ln q_K = ln q0 - the sum of their ln|det|) and free_energy (the
Monte Carlo mean of ln q - ln p). `flow_checks` beside this module says how the checks work; like
it, this module holds no reference implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vaelab_core.checking import (SelfCheckFailed, backward, call, checked_tensor, close, fail, loss_reaches,
                                  own_random_state, passed, show, without_gradient)
from vaelab_core.labs.flows.flow_checks import FOLD_ROOT, FOLD_U, FOLD_W
from vaelab_core.labs.flows.jacobians import first_match, jacobian_blocks, log_abs_det, two_outputs

__all__ = ["SelfCheckFailed", "check_flow_chain", "check_free_energy"]

#: m(-2) = -1 + ln(1 + e^-2), what constrain_u makes of w^T u = -2 (flow_checks works it out).
_M_OF_MINUS_2 = math.log1p(math.exp(-2.0)) - 1


# --- 3. flow_chain ----------------------------------------------------------------------------

def _chain(m: str, fn: Callable, z0, log_q0, u, w, b, what: str, hint: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    z_in, lq_in = z0.clone(), log_q0.clone()
    out = call(m, fn, z_in, lq_in, u, w, b, hint=hint)
    if not (torch.equal(z_in, z0) and torch.equal(lq_in, log_q0)):
        fail(m, "z0 or log_q0 was changed in place (+=, -= or item assignment): build new tensors for z and "
                "the log-density at each flow instead.")
    z_k, log_q = two_outputs(m, out, ("z_K", "log_q_K"))
    z_k = checked_tensor(m, f"z_K {what}", z_k, tuple(z0.shape), "z_K has the shape of z0.")
    lead = tuple(z0.shape[:-1])
    if isinstance(log_q, torch.Tensor) and log_q.dim() == 0 and lead:
        fail(m, f"log_q_K {what} should hold one value per sample, shape {lead}, got a single number: keep "
                "each sample's log-det comes off that sample's log-density, never summed over the samples.")
    log_q = checked_tensor(m, f"log_q_K {what}", log_q, lead, "log_q_K has the shape of log_q0, one per sample.")
    return z_k, log_q


@own_random_state
def check_flow_chain(fn: Callable) -> None:
    """flow_chain(z0, log_q0, u, w, b) -> (z_K, log_q_K): K constrained planar flows in order,
    ln q_K(z_K) = ln q0(z0) - sum_k ln|det df_k/dz_{k-1}| (eq. 7)."""
    m = "flow_chain"
    layout_hint = ("u, w have shape (..., K, D) and b (..., K): flow k is u[..., k, :], w[..., k, :], b[..., k] "
                   "(part 2 puts the frames' dims first: u (B, T, K, D)); take K from u.shape[-2].")
    gen = torch.Generator().manual_seed(41)

    # One flow: log_q_1 = log_q0 - ln|det dz_1/dz0|, the Jacobian of the student's own z_1 by autograd.
    n, d = 6, 2
    z0, log_q0 = torch.randn(n, d, generator=gen), torch.randn(n, generator=gen) - 2
    u, w, b = torch.randn(1, d, generator=gen), torch.randn(1, d, generator=gen), torch.randn(1, generator=gen)
    z1, log_q1 = _chain(m, fn, z0, log_q0, u, w, b, "for K = 1 flow", layout_hint)
    if close(z1, z0):
        fail(m, "with K = 1 flow z_K equals z0: the flow was not applied. z, log_det = planar_flow(z, "
                "constrain_u(u[..., k, :], w[..., k, :]), w[..., k, :], b[..., k]) for each k.")
    blocks = jacobian_blocks(m, lambda x: fn(x, log_q0, u, w, b)[0], z0)
    log_det = log_abs_det(blocks)
    want = log_q0.double() - log_det
    if not close(log_q1, want, atol=1e-3):
        cause = first_match(log_q1, [
            (log_q0.double() + log_det, ("the log-det is added; it is subtracted: ln q_K(z_K) = ln q0(z0) - "
                                         "sum_k ln|det df_k/dz_{k-1}| (eq. 7). Where a flow spreads space "
                                         "out (|det| > 1), the density goes down.")),
            (-log_det, "log_q0 is dropped: start from log_q = log_q0 and subtract each flow's log-det."),
            (log_q0, "log_q_K equals log_q0: subtract each flow's log-det from the running log-density."),
        ], atol=1e-3) or "log_q_K = log_q0 - log_det of each flow (check planar_flow's log_det too)."
        fail(m, f"one flow: log_q0 = {show(log_q0)}, and autograd's Jacobian of your z_K gives ln|det dz_K/dz0| "
                f"= {show(log_det)}, so ln q_K(z_K) should be {show(want)}; got {show(log_q1)}: {cause}")

    # u must be constrained: on the flow that folds the plane (u = (-2, 0), w = (1, 0), b = 0) the
    # three points (-z*, 0), (0, 0), (z*, 0) go to +-1.079038 with u_hat, all to (0, 0) with u (see
    # constrain_u's hand computation).
    points = torch.tensor([[-FOLD_ROOT, 0.0], [0.0, 0.0], [FOLD_ROOT, 0.0]])
    image = FOLD_ROOT * (1 + _M_OF_MINUS_2 / 2)  # m(-2) = -0.873072
    want_z = torch.tensor([[-image, 0.0], [0.0, 0.0], [image, 0.0]])
    z_fold, _ = _chain(m, fn, points, torch.zeros(3), torch.tensor([FOLD_U]), torch.tensor([FOLD_W]),
                       torch.zeros(1), "for the folding flow", layout_hint)
    if not close(z_fold, want_z, atol=1e-3):
        cause = "each flow uses u_hat = constrain_u(u[..., k, :], w[..., k, :]) in place of u."
        if z_fold.abs().max() < 1e-3:
            cause = ("all three points went to (0, 0): the flow folded the plane, so u was used as it is. Use "
                     "u_hat = constrain_u(u[..., k, :], w[..., k, :]) in planar_flow, which keeps each flow "
                     "invertible (w^T u_hat > -1).")
        fail(m, f"with u = (-2, 0), w = (1, 0), b = 0 (w^T u = -2) the points {show(points)} should go to "
                f"{show(want_z)} (u_hat = (-0.873, 0)), got {show(z_fold)}; {cause}")

    # K = 3 flows are the same as three chains of one flow each, in order (z carried, log-dets summed).
    n, d, k = 5, 2, 3
    z0, log_q0 = torch.randn(n, d, generator=gen), torch.randn(n, generator=gen) - 2
    u, w, b = torch.randn(k, d, generator=gen), torch.randn(k, d, generator=gen), torch.randn(k, generator=gen)
    z_k, log_q = _chain(m, fn, z0, log_q0, u, w, b, "for K = 3 flows", layout_hint)

    def one(z, lq, i):
        return _chain(m, fn, z, lq, u[i:i + 1], w[i:i + 1], b[i:i + 1], "for K = 1 flow", layout_hint)

    steps = [(z0, log_q0)]
    for i in range(k):
        steps.append(one(*steps[-1], i))
    want_z, want_q = steps[-1]
    if not close(z_k, want_z, atol=1e-4):
        backwards = (z0, log_q0)
        for i in reversed(range(k)):
            backwards = one(*backwards, i)
        if close(z_k, backwards[0], atol=1e-4):
            cause = ("the flows were applied in reverse order: flow 0 comes first, z_1 = f_0(z0), ..., "
                     "z_K = f_{K-1}(z_{K-1}).")
        elif close(z_k, one(z0, log_q0, k - 1)[0], atol=1e-4):
            cause = ("z_K is the last flow applied to z0: each flow was fed z0. Feed each flow the previous "
                     "flow's output, z = planar_flow(z, ...)[0], and return the last z.")
        else:
            cause = "z_k = f_{k-1}(z_{k-1}) for k = 1..K, each flow with its own u[..., k, :], w[..., k, :], b[..., k]."
        fail(m, f"with K = 3 flows expected z_K = {show(want_z)} (flow 0, then 1, then 2, each as a chain of one "
                f"flow), got {show(z_k)}; {cause}")
    if not close(log_q, want_q, atol=1e-4):
        last = log_q0 - (steps[-2][1] - steps[-1][1])
        cause = "subtract every flow's log-det from log_q0."
        if close(log_q, last, atol=1e-4):
            cause = ("only the last flow's log-det is kept: inside the loop each flow's log-det must come off "
                     "the running log-density (which starts at log_q0), not off log_q0 again.")
        fail(m, f"with K = 3 flows expected log_q_K = log_q0 - the three log-dets = {show(want_q)}, got "
                f"{show(log_q)}; {cause}")

    # Part 2's layout: a flow per frame, z0 (B, T, D), u, w (B, T, K, D), b (B, T, K); each frame
    # with its own parameters alone must give the same.
    z0, log_q0 = torch.randn(2, 3, 4, generator=gen), torch.randn(2, 3, generator=gen)
    u, w = torch.randn(2, 3, 2, 4, generator=gen), torch.randn(2, 3, 2, 4, generator=gen)
    b = torch.randn(2, 3, 2, generator=gen)
    z_k, log_q = _chain(m, fn, z0, log_q0, u, w, b, "for z0 (2, 3, 4), u, w (2, 3, K = 2, 4), b (2, 3, 2)",
                        layout_hint)
    for i, j in ((0, 0), (1, 2), (0, 1)):
        z_one, q_one = _chain(m, fn, z0[i, j][None], log_q0[i, j][None], u[i, j], w[i, j], b[i, j],
                              "for one frame", layout_hint)
        if not (close(z_k[i, j], z_one[0]) and close(log_q[i, j], q_one[0])):
            fail(m, f"frame ({i}, {j}) of a (2, 3) batch of frames, each with its own K = 2 flows, differs from "
                    "the same frame alone. " + layout_hint)

    # Gradients reach z0, log_q0, u, w and b.
    leaves = {"z0": z0.clone().requires_grad_(), "log_q0": log_q0.clone().requires_grad_(),
              "u": u.clone().requires_grad_(), "w": w.clone().requires_grad_(), "b": b.clone().requires_grad_()}
    out = call(m, fn, *leaves.values())
    backward(m, out[0].sum() + out[1].sum(), "z_K and log_q_K")
    missing = without_gradient(leaves)
    if missing:
        fail(m, f"no gradient reaches {missing} through z_K and log_q_K: no .detach(), .item(), numpy or "
                "in-place writes into a preallocated tensor on the way.")

    # K = 0 (part 2's plain VAE): nothing changes.
    z0, log_q0 = torch.randn(4, 3, generator=gen), torch.randn(4, generator=gen)
    z_k, log_q = _chain(m, fn, z0, log_q0, torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0),
                        "for K = 0 flows (u of shape (0, D))",
                        "With K = 0 flows the loop runs no step and (z0, log_q0) come back unchanged.")
    if not (close(z_k, z0) and close(log_q, log_q0)):
        fail(m, "with K = 0 flows (u, w of shape (0, D), b (0,)) flow_chain should return z0 and log_q0 unchanged.")
    passed(m, "K constrained flows in order, ln q_K = ln q0 - sum of ln|det| (autograd's Jacobian), a flow per "
              "frame, gradients reach every input, K = 0 is the identity")



# --- 4. free_energy ---------------------------------------------------------------------------

# By hand: log_q = (-1, -2.5, 0.5, -3), log_p = (-2, -1, -0.5, -6); log_q - log_p = (1, -1.5, 1, 3),
# whose mean is 3.5 / 4 = 0.875. The typical mistakes give: log_p - log_q, -0.875; the sum, 3.5;
# the mean of exp(log_q - log_p), (e + e^-1.5 + e + e^3) / 4 = 6.436308.
_FE_LOG_Q = (-1.0, -2.5, 0.5, -3.0)
_FE_LOG_P = (-2.0, -1.0, -0.5, -6.0)
_FE_WANT = 0.875


def _free_energy(m: str, fn: Callable, log_q, log_p, what: str) -> float:
    out = call(m, fn, log_q.clone(), log_p.clone())
    if isinstance(out, torch.Tensor) and out.dim() > 0 and out.numel() > 1:
        fail(m, f"F {what} should be a single number (a 0-d tensor), got shape {tuple(out.shape)}: average over "
                "ALL samples, .mean() without a dim.")
    return checked_tensor(m, f"F {what}", out, (), "F is one number, a 0-d tensor: .mean() over all samples.").item()


@own_random_state
def check_free_energy(fn: Callable) -> None:
    """free_energy(log_q, log_p) -> 0-d F = mean(log_q - log_p) over all samples."""
    m = "free_energy"
    log_q, log_p = torch.tensor(_FE_LOG_Q), torch.tensor(_FE_LOG_P)
    got = _free_energy(m, fn, log_q, log_p, "for 4 samples")
    if not math.isclose(got, _FE_WANT, rel_tol=1e-5, abs_tol=1e-6):
        cause = next((c for v, c in (
            (-_FE_WANT, ("the sign is flipped: F = E_q[ln q - ln p], what q gives up to match p (eq. 15), not "
                         "ln p - ln q.")),
            (4 * _FE_WANT, "it is the sum over the 4 samples: F is an expectation, the MEAN over samples."),
            (6.436308, "it is the mean of exp(log_q - log_p): F is the mean of the log-ratio itself."),
        ) if math.isclose(got, v, rel_tol=1e-5)), "F = mean over samples of (log_q - log_p).")
        fail(m, f"for log_q = {list(_FE_LOG_Q)} and log_p = {list(_FE_LOG_P)} (log_q - log_p = 1, -1.5, 1, 3) "
                f"expected F = 3.5 / 4 = {_FE_WANT}, got {got:.6f}; {cause}")

    # The bound is reached when q = p / Z: then log_q - log_p = -ln Z everywhere, F = -ln Z (here ln Z = 2).
    gen = torch.Generator().manual_seed(43)
    log_q = torch.randn(2, 3, generator=gen) - 3
    got = _free_energy(m, fn, log_q, log_q + 2.0, "for (2, 3) samples")
    if not math.isclose(got, -2.0, rel_tol=1e-5, abs_tol=1e-5):
        fail(m, f"for log_p = log_q + 2 on (2, 3) samples (q = p / Z with ln Z = 2) expected F = -ln Z = -2, got "
                f"{got:.6f}: average over every sample of every dimension.")

    # Gradients reach both (in part 2, log_p depends on the decoder).
    leaves = {"log_q": log_q.clone().requires_grad_(), "log_p": (log_q + 1).requires_grad_()}
    out = call(m, fn, leaves["log_q"], leaves["log_p"])
    loss_reaches(m, out, leaves)
    passed(m, "F = mean(log_q - log_p), -ln Z when q = p / Z, gradients reach both")
