"""Public self-checks of the flows lab's single planar flow: the transform with its
log-determinant, and the constraint on u that keeps it invertible.

The third lab's notebook has students write four functions and two methods of
`FlowVAE(FlowVAEBase)`; after each, a locked cell calls the matching check, e.g.
`check_planar_flow(planar_flow)`. This module checks planar_flow and constrain_u; `chain_checks`
beside it checks flow_chain and free_energy, and `model_checks` the two methods (the speech VAE's
flow posterior). A check calls the student's code on small inputs and either prints
"✓ <function>() passed: ..." (check_constrain_u adds a line showing why u is constrained) or
stops the notebook with a message that says what was expected, what came back, and the likely
mistake (`vaelab_core.checking`, shared with the other labs).

What is checked, and how. These modules are installed on students' machines and, like the rest
of `vaelab_core`, hold NO reference implementation. Every check works from:

- hand-built inputs whose answer is worked out in the comments (points where tanh is a simple
  fraction, a flow that folds the plane at the root of z = 2 tanh z, log-ratios whose mean is
  7/8);
- properties any correct answer has (one log-determinant per sample, w^T u > -1, a chain of
  K flows is the same as K chains of one, each frame with its own parameters alone gives the
  same as in the batch, gradients reach every input);
- the change of variables itself, with autograd as the judge: the log-determinant against
  log|det| of the Jacobian that `torch.autograd.functional.jacobian` computes from the student's
  own transform (`jacobians`), and the chain's ln q_K(z_K) against ln q0(z0) minus that ln|det|
  (Rezende and Mohamed 2015, eq. 7).

Each check runs in a fraction of a second with its own seeded random state, leaves the notebook's
random state as it was, and turns the student's exceptions into a message (a stub's
NotImplementedError reads "not implemented yet").

`folding_example(planar_flow, constrain_u)` is not a check: it runs the student's two functions
on the flow that folds the plane, for the notebook to print and plot (why u is constrained).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vaelab_core.checking import (SelfCheckFailed, backward, call, checked_tensor, close, fail, own_random_state,
                                  passed, show, without_gradient)
from vaelab_core.labs.flows.jacobians import first_match, jacobian_blocks, log_abs_det, near, two_outputs

__all__ = [
    "SelfCheckFailed",
    "check_planar_flow",
    "check_constrain_u",
    "folding_example",
    "Folding",
]

LN2, LN3 = math.log(2.0), math.log(3.0)


# --- 1. planar_flow ---------------------------------------------------------------------------

# Case A, worked out by hand. D = 2, w = (1, 2), b = 0.5, u = (3, -1): u^T w = 3 - 2 = 1, and
# u_1 + u_2 = 2. The four points z = (a - b - 2 t, t) make a = w^T z + b take values where tanh is
# a simple fraction, tanh(x) = (e^2x - 1) / (e^2x + 1):
#   a = 0:          h = 0,                          h' = 1 - h^2 = 1
#   a = ln(3) / 2:  h = (3 - 1) / (3 + 1) = 1/2,    h' = 3/4
#   a = -ln(3) / 2: h = -1/2,                       h' = 3/4
#   a = ln 3:       h = (9 - 1) / (9 + 1) = 4/5,    h' = 9/25
# so f(z) = z + u h, and 1 + u^T psi(z) = 1 + h' u^T w = 1 + h' = 2, 7/4, 7/4, 34/25.
_PLANAR_W, _PLANAR_U, _PLANAR_B = (1.0, 2.0), (3.0, -1.0), 0.5
_PLANAR_A = (0.0, LN3 / 2, -LN3 / 2, LN3)
_PLANAR_T = (0.5, -1.0, 2.0, 0.25)
_PLANAR_H = (0.0, 0.5, -0.5, 0.8)
_PLANAR_DH = (1.0, 0.75, 0.75, 0.36)
_PLANAR_DET = (2.0, 1.75, 1.75, 1.36)
_PLANAR_LOG_DET = tuple(math.log(d) for d in _PLANAR_DET)
# As u^T w = 1, a log_det implies h'(a) = e^log_det - 1. What the typical mistakes give instead:
#   1 - tanh(a):               1 - 0, 1 - 1/2, 1 + 1/2, 1 - 4/5
#   tanh(a) itself:            the values of h above
#   the sigmoid's derivative:  s (1 - s), s = 1 / (1 + e^-a) with e^-a = 1, 1/sqrt3, sqrt3, 1/3:
#                              1/4, sqrt3 / (1 + sqrt3)^2 = 0.232051 (twice), (3/4)(1/4) = 3/16
#   psi without w:             u^T (h' 1) = h' (u_1 + u_2) = 2 h'
_DH_ONE_MINUS_H = (1.0, 0.5, 1.5, 0.2)
_DH_SIGMOID = (0.25, 0.232051, 0.232051, 0.1875)
_DH_PSI_WITHOUT_W = (2.0, 1.5, 1.5, 0.72)
# Case B: the same points and w, b with u = (0, -1), so u^T w = -2 and 1 + u^T psi = 1 - 2 h' =
# -1, -1/2, -1/2, 7/25: negative at three points (such a flow folds the plane, see constrain_u).
_PLANAR_U_B = (0.0, -1.0)
_PLANAR_DET_B = (-1.0, -0.5, -0.5, 0.28)
_PLANAR_LOG_DET_B = (0.0, -LN2, -LN2, math.log(0.28))


def _planar_points() -> torch.Tensor:
    a, t = torch.tensor(_PLANAR_A), torch.tensor(_PLANAR_T)
    return torch.stack([a - _PLANAR_B - 2 * t, t], dim=-1)  # (4, 2): w^T z + b = a


def _planar(m: str, fn: Callable, z, u, w, b, what: str, hint: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """fn(z, u, w, b) checked to be (f_z (..., D), log_det (...)), both finite float32 (NaN aside)."""
    z_in = z.clone()
    f_z, log_det = two_outputs(m, call(m, fn, z_in, u, w, b, hint=hint), ("f_z", "log_det"))
    if not torch.equal(z_in, z):
        fail(m, "z was changed in place (z += ... or z[...] = ...): return a new tensor f_z = z + u h(w^T z + b) "
                "and leave the input alone, the chain still needs it.")
    f_z = checked_tensor(m, f"f_z {what}", f_z, tuple(z.shape), "f_z has the shape of z.")
    lead = tuple(z.shape[:-1])
    if isinstance(log_det, torch.Tensor) and tuple(log_det.shape) != lead:
        if log_det.dim() == 0 or (log_det.numel() == 1 and len(lead) > 0 and lead != (1,)):
            fail(m, f"log_det {what} should hold one value per sample, shape {lead}, got shape "
                    f"{tuple(log_det.shape)}: it was summed (or averaged) over the samples. Each sample has "
                    "its own Jacobian, so keep ln|1 + u^T psi(z)| per sample; the chain and the free energy "
                    "average later.")
        if tuple(log_det.shape) == (*lead, 1):
            fail(m, f"log_det {what} should have shape {lead}, got {tuple(log_det.shape)}: sum u * psi over "
                    "the last dimension without keepdim, one number per sample.")
    if isinstance(log_det, torch.Tensor) and tuple(log_det.shape) == lead and torch.isnan(log_det).any():
        return f_z, log_det.detach()  # the caller explains a NaN (a negative determinant)
    log_det = checked_tensor(m, f"log_det {what}", log_det, lead, "One value per sample: shape (...,).")
    return f_z, log_det


@own_random_state
def check_planar_flow(fn: Callable) -> None:
    """planar_flow(z, u, w, b) -> (f_z (..., D), log_det (...,)): z + u tanh(w^T z + b), ln|1 + u^T psi(z)|."""
    m = "planar_flow"
    z = _planar_points()
    u, w, b = torch.tensor(_PLANAR_U), torch.tensor(_PLANAR_W), torch.tensor(_PLANAR_B)
    where = "for the 4 points of the hand case"
    broadcast_hint = ("u, w (D,) or (..., D) and b a 0-d tensor or (...,) broadcast against z (..., D): "
                      "compute w^T z as (w * z).sum(-1), not z @ w or torch.dot.")
    f_z, log_det = _planar(m, fn, z, u, w, b, where, broadcast_hint)

    # f(z) = z + u h(a): the hand values of h give it exactly.
    h = torch.tensor(_PLANAR_H)[:, None]
    want_f = z + h * u
    if not close(f_z, want_f):
        cause = "f(z) = z + u h(w^T z + b) with h = tanh."
        if close(f_z, z + h * w):
            cause = ("f_z moved z along w; the planar flow moves z along u: f(z) = z + u h(w^T z + b) "
                     "(w only sets the direction of the hyperplane w^T z + b = 0).")
        else:
            other_b = _planar(m, fn, z, u, w, torch.tensor(-1.0), "for b = -1", broadcast_hint)[0]
            if close(other_b, f_z):
                cause = "changing b from 0.5 to -1 did not change f_z: b is ignored. The argument is a = w^T z + b."
        fail(m, f"for w = (1, 2), b = 0.5, u = (3, -1) and z = {show(z)} (where a = w^T z + b = 0, "
                f"ln(3)/2, -ln(3)/2, ln 3 and tanh(a) = 0, 1/2, -1/2, 4/5) expected f_z = {show(want_f)}, got "
                f"{show(f_z)}; {cause}")

    # log_det = ln|1 + u^T psi|, by hand: ln 2, ln 7/4, ln 7/4, ln 34/25.
    if torch.isnan(log_det).any():
        fail(m, f"log_det {where} contains NaN, although 1 + u^T psi(z) = {show(torch.tensor(_PLANAR_DET))} > 0 "
                "there. Is a log or a square root taken of something negative?")
    if not near(log_det, _PLANAR_LOG_DET):
        implied = log_det.double().exp() - 1  # = h'(a), as u^T w = 1
        cause = first_match(log_det, [
            (_PLANAR_DET, "log_det is |det| itself, 1 + u^T psi(z): take its log, ln|1 + u^T psi(z)|."),
            ([-v for v in _PLANAR_LOG_DET], "log_det has the wrong sign: it is +ln|1 + u^T psi(z)|."),
        ]) or first_match(implied, [
            (_DH_ONE_MINUS_H, "that is h'(a) = 1 - tanh(a). Is h' the derivative of tanh, 1 - tanh(a)^2?"),
            (_PLANAR_H, "that is h'(a) = tanh(a), h itself. Is h' the derivative of tanh, 1 - tanh(a)^2?"),
            (_DH_SIGMOID, ("that is the sigmoid's derivative s(a) (1 - s(a)); h is tanh here, whose derivative "
                           "is 1 - tanh(a)^2.")),
            (_DH_PSI_WITHOUT_W, ("u^T psi came out as h'(a) (u_1 + u_2): psi(z) = h'(w^T z + b) w is a vector "
                                 "along w. Did you leave out w?")),
        ], atol=1e-3) or ("log_det = ln|1 + u^T psi(z)|, psi(z) = h'(w^T z + b) w, h'(a) = 1 - tanh(a)^2.")
        fail(m, f"for the same points (h'(a) = 1 - tanh(a)^2 = 1, 3/4, 3/4, 9/25, so 1 + u^T psi = "
                f"1 + h'(a) u^T w = 2, 7/4, 7/4, 34/25) expected log_det = {show(torch.tensor(_PLANAR_LOG_DET), 4)}, "
                f"got {show(log_det, 4)}; {cause}")

    # Case B: u^T w = -2, so 1 + u^T psi < 0 at three of the points; ln|.| needs the |.|.
    _, log_det_b = _planar(m, fn, z, torch.tensor(_PLANAR_U_B), w, b, "for u = (0, -1)", broadcast_hint)
    if torch.isnan(log_det_b).any():
        fail(m, f"for u = (0, -1) (u^T w = -2), 1 + u^T psi(z) = {show(torch.tensor(_PLANAR_DET_B))} is negative "
                f"at the first three points and log_det is {show(log_det_b, 4)}: the log of a negative number is "
                "NaN. The density changes by the ABSOLUTE value of the determinant: "
                "torch.log(torch.abs(1 + (u * psi).sum(-1))). (constrain_u keeps it positive in the chain, but "
                "planar_flow itself must work for any u.)")
    if not near(log_det_b, _PLANAR_LOG_DET_B):
        fail(m, f"for u = (0, -1) (u^T w = -2, 1 + u^T psi(z) = {show(torch.tensor(_PLANAR_DET_B))}) expected "
                f"log_det = ln|1 + u^T psi| = {show(torch.tensor(_PLANAR_LOG_DET_B), 4)}, got {show(log_det_b, 4)}.")

    # The change of variables on random inputs: log_det against autograd's Jacobian of f_z, with
    # one flow shared by all samples and with a flow per sample (u, w (N, D), b (N,)).
    gen = torch.Generator().manual_seed(31)
    n, d = 5, 3
    z = torch.randn(n, d, generator=gen)
    shared = (torch.randn(d, generator=gen), torch.randn(d, generator=gen), torch.tensor(0.3))
    per_sample = (torch.randn(n, d, generator=gen), torch.randn(n, d, generator=gen), torch.randn(n, generator=gen))
    for label, (u, w, b) in (("one flow for all samples", shared), ("a flow per sample", per_sample)):
        _, log_det = _planar(m, fn, z, u, w, b, f"({label})", broadcast_hint)
        blocks = jacobian_blocks(m, lambda x, u=u, w=w, b=b: fn(x, u, w, b)[0], z)
        want = log_abs_det(blocks)
        if not close(log_det, want, atol=1e-3):
            fail(m, f"random z, u, w, b ({label}, D = 3): log_det = {show(log_det, 4)} but ln|det df/dz| from "
                    f"autograd's Jacobian of your f_z is {show(want, 4)}. log_det must be the log of the "
                    "absolute determinant of f's Jacobian: ln|1 + u^T psi(z)|, psi(z) = (1 - tanh(a)^2) w.")

    # Leading dimensions: (B, T, D) frames, each with its own flow (part 2), against frame by frame.
    z = torch.randn(2, 3, 4, generator=gen)
    u, w, b = torch.randn(2, 3, 4, generator=gen), torch.randn(2, 3, 4, generator=gen), torch.randn(2, 3, generator=gen)
    f_z, log_det = _planar(m, fn, z, u, w, b, "for z, u, w (2, 3, 4) and b (2, 3)", broadcast_hint)
    for i in range(2):
        for j in range(3):
            f_one, ld_one = _planar(m, fn, z[i, j][None], u[i, j], w[i, j], b[i, j], "for one frame", broadcast_hint)
            if not (close(f_z[i, j], f_one[0]) and close(log_det[i, j], ld_one[0])):
                fail(m, f"frame ({i}, {j}) of a (2, 3, 4) batch, each frame with its own u, w, b, gives a "
                        "different result from the same frame alone. " + broadcast_hint)

    # Gradients reach z (the chain), u, w and b (trained in part 1, predicted in part 2).
    leaves = {name: v.clone().requires_grad_() for name, v in
              (("z", z[0]), ("u", u[0, 0]), ("w", w[0, 0]), ("b", b[0, 0]))}
    f_z, log_det = call(m, fn, leaves["z"], leaves["u"], leaves["w"], leaves["b"])
    backward(m, f_z.sum() + log_det.sum(), "f_z and log_det")
    missing = without_gradient(leaves)
    if missing:
        fail(m, f"no gradient reaches {missing} through f_z and log_det: use torch operations on the tensors "
                "(no .item(), .detach(), numpy or math functions); u, w and b are trained.")
    passed(m, "f(z) = z + u tanh(w^T z + b), log_det = ln|1 + u^T psi(z)| per sample equals autograd's "
              "Jacobian, broadcasts over (..., D), gradients reach z, u, w, b")


# --- 2. constrain_u ---------------------------------------------------------------------------

# Three rows worked out by hand, w = (3, 4) (|w| = 5, |w|^2 = 25):
#   u = (-2, 1):          w^T u = -6 + 4 = -2,  m(-2)   = -1 + ln(1 + e^-2) = -0.873072
#   u = (4, -3):          w^T u = 0,            m(0)    = -1 + ln 2         = -0.306853
#   u = (ln(3) / 3, 0):   w^T u = ln 3,         m(ln 3) = -1 + ln(1 + 3)    =  0.386294
# (m(a) = -1 + softplus(a), the paper's appendix A). u_hat = u + (m - a) w / |w|^2 gives
# w^T u_hat = a + (m - a) = m, and moves u along w only.
_CONSTRAIN_W = (3.0, 4.0)
_CONSTRAIN_U = ((-2.0, 1.0), (4.0, -3.0), (LN3 / 3, 0.0))
_CONSTRAIN_A = (-2.0, 0.0, LN3)
_CONSTRAIN_M = (-0.8730719889570275, LN2 - 1, math.log(4.0) - 1)
# What w^T u_hat comes out as for the typical mistakes:
#   m(a) = softplus(a), without the -1:   m + 1 = 0.126928, 0.693147, 1.386294
#   divided by |w| = 5 instead of 25:     a + 5 (m - a) = 3.634640, -1.534264, -2.462977
_CONSTRAIN_SOFTPLUS = tuple(v + 1 for v in _CONSTRAIN_M)
_CONSTRAIN_BY_NORM = tuple(a + 5 * (v - a) for a, v in zip(_CONSTRAIN_A, _CONSTRAIN_M))

# The flow that folds the plane: u = (-2, 0), w = (1, 0), b = 0, so w^T u = -2 and
# f(z) = (z_1 - 2 tanh z_1, z_2). z* = 1.915008 solves z = 2 tanh z (iterate z <- 2 tanh z), so
# (-z*, 0), (0, 0) and (z*, 0) all map to (0, 0): f is not invertible. With u_hat =
# (m(-2), 0) = (-0.873072, 0) they map to +-z* (1 + m(-2) / 2) (as tanh z* = z* / 2), +-1.079038.
FOLD_ROOT = 1.9150080481545375
FOLD_U, FOLD_W = (-2.0, 0.0), (1.0, 0.0)


def _constrained(m: str, fn: Callable, u: torch.Tensor, w: torch.Tensor, what: str) -> torch.Tensor:
    u_in, w_in = u.clone(), w.clone()
    out = call(m, fn, u_in, w_in, hint="u and w have shape (..., D): compute w^T u as (w * u).sum(-1, keepdim=True) "
                                       "so that it broadcasts against w.")
    if not (torch.equal(u_in, u) and torch.equal(w_in, w)):
        fail(m, "u or w was changed in place: return a new tensor u_hat and leave u and w alone.")
    return checked_tensor(m, f"u_hat {what}", out, tuple(u.shape),
                          "u_hat has the shape of u; w^T u is one number per row, (w * u).sum(-1, keepdim=True).")


@own_random_state
def check_constrain_u(fn: Callable) -> None:
    """constrain_u(u, w) -> u_hat (..., D): u moved along w so that w^T u_hat = -1 + softplus(w^T u) > -1."""
    m = "constrain_u"
    w = torch.tensor(_CONSTRAIN_W).expand(3, 2).contiguous()
    u = torch.tensor(_CONSTRAIN_U)
    u_hat = _constrained(m, fn, u, w, "for 3 rows of (u, w) in D = 2")
    dots = (u_hat.double() * w.double()).sum(-1)
    normal = torch.tensor([4.0, -3.0], dtype=torch.float64) / 5  # the direction perpendicular to w
    if torch.equal(u_hat, u):
        fail(m, "it returns u unchanged. For u = (-2, 1), w = (3, 4) (w^T u = -2 < -1) the flow is not "
                "invertible: 1 + u^T psi(z) = 1 - 2 h'(a) is negative near a = 0, and the plane folds onto "
                "itself. u_hat = u + (m(w^T u) - w^T u) w / |w|^2 with m(a) = -1 + softplus(a); it changes u "
                "even when w^T u > -1 already, as m(a) != a.")
    if not near(dots, _CONSTRAIN_M):
        cause = first_match(dots, [
            (_CONSTRAIN_SOFTPLUS, ("w^T u_hat came out as softplus(w^T u): the -1 is missing, m(a) = -1 + "
                                   "softplus(a) (it is the -1 that gives values above -1 rather than above 0).")),
            (_CONSTRAIN_BY_NORM, ("the step along w is |w| = 5 times too long: divide by |w|^2 (w^T w), not by "
                                  "|w|, so that w^T u_hat = w^T u + (m - w^T u) w^T w / |w|^2 = m.")),
            (_CONSTRAIN_A, "w^T u_hat equals w^T u: u was moved perpendicular to w, or by (m - a) = 0."),
        ], atol=1e-3) or ("u_hat = u + (m(w^T u) - w^T u) w / |w|^2, m(a) = -1 + softplus(a) = -1 + ln(1 + e^a), "
                          "so that w^T u_hat = m(w^T u).")
        fail(m, f"for w = (3, 4) and u = {show(u, 4)} (w^T u = -2, 0, ln 3) expected w^T u_hat = m(w^T u) = "
                f"-1 + ln(1 + e^(w^T u)) = {show(torch.tensor(_CONSTRAIN_M), 4)}, got {show(dots, 4)}; {cause}")
    if not close((u_hat.double() @ normal), (u.double() @ normal)):
        fail(m, f"u_hat = {show(u_hat, 4)} for u = {show(u, 4)}, w = (3, 4): w^T u_hat is right but u also moved "
                "perpendicular to w. Move u along w only: u_hat = u + (m(w^T u) - w^T u) w / |w|^2.")

    # Random (u, w) with leading dims (B, K, D) = (2, 5, 5): w^T u_hat > -1 everywhere, u moved
    # along w only, each row as alone. Some u point against w (w^T u = -3) as a fold would need.
    gen = torch.Generator().manual_seed(37)
    u, w = torch.randn(2, 5, 5, generator=gen), torch.randn(2, 5, 5, generator=gen)
    u[0, :2] = -3 * w[0, :2] / (w[0, :2] ** 2).sum(-1, keepdim=True)
    u_hat = _constrained(m, fn, u, w, "for u, w of shape (2, 5, 5)").double()
    dots = (u_hat * w.double()).sum(-1)
    if (dots <= -1).any():
        fail(m, f"for random u, w (shape (2, 5, 5)) w^T u_hat reaches {dots.min():.4f} <= -1: the flow can fold. "
                "m(a) = -1 + softplus(a) > -1 for every a.")
    step = u_hat - u.double()
    along = (step * w.double()).sum(-1, keepdim=True) / (w.double() ** 2).sum(-1, keepdim=True) * w.double()
    if not close(step, along, atol=1e-4):
        fail(m, "for random u, w of shape (2, 5, 5), u_hat - u is not parallel to w in every row: each row's u "
                "moves along its own w. With several rows, w^T u needs keepdim: (w * u).sum(-1, keepdim=True).")
    for i, k in ((0, 0), (1, 3)):
        alone = _constrained(m, fn, u[i, k], w[i, k], "for one (u, w) of shape (5,)")
        if not close(alone.double(), u_hat[i, k]):
            fail(m, f"row ({i}, {k}) of a (2, 5, 5) batch gives a different u_hat from the same (u, w) alone: "
                    "each row uses its own w^T u, (w * u).sum(-1, keepdim=True).")

    # Gradients reach u and w (both trained, or predicted by the encoder in part 2).
    leaves = {"u": u[1].clone().requires_grad_(), "w": w[1].clone().requires_grad_()}
    out = call(m, fn, leaves["u"], leaves["w"])
    backward(m, out.sum(), "u_hat")
    missing = without_gradient(leaves)
    if missing:
        fail(m, f"no gradient reaches {missing} through u_hat: use torch operations (torch.nn.functional.softplus, "
                "torch.log1p, torch.exp), no .item(), numpy or math functions.")

    # Why: the flow that folds the plane, and what the student's u_hat does to it.
    fold_hat = _constrained(m, fn, torch.tensor(FOLD_U), torch.tensor(FOLD_W), "for u = (-2, 0), w = (1, 0)")
    image = FOLD_ROOT * (1 + fold_hat[0].item() / 2)  # z* + u_hat_1 tanh(z*), tanh(z*) = z* / 2
    passed(m, "w^T u_hat = -1 + softplus(w^T u) > -1 for every (u, w), u moved along w only, gradients reach u, w")
    print(f"  why: u = (-2, 0), w = (1, 0), b = 0 (w^T u = -2 < -1) folds the plane: (-{FOLD_ROOT:.3f}, 0), (0, 0) "
          f"and ({FOLD_ROOT:.3f}, 0) all map to (0, 0) ({FOLD_ROOT:.3f} solves z = 2 tanh z), so no inverse "
          f"exists; with your u_hat = ({fold_hat[0].item():.3f}, {fold_hat[1].item():.3f}) they map to "
          f"(-{image:.3f}, 0), (0, 0), ({image:.3f}, 0).")


@dataclass(frozen=True)
class Folding:
    """A planar flow that folds the plane, and the same flow with u constrained (for a figure).

    u = (-2, 0), w = (1, 0), b = 0: f(z) = (z_1 - 2 tanh z_1, z_2) sends three points to one.
    points: (3, 2) (-z*, 0), (0, 0), (z*, 0), z* = 1.915 the root of z = 2 tanh z.
    images, images_hat: (3, 2) their images under u and under u_hat = constrain_u(u, w).
    line: (S,) z_1 from -3 to 3 (with z_2 = 0); folded, unfolded: (S,) f's first coordinate along
    it under u (goes down then up: not one-to-one) and under u_hat (increasing).
    log_det, log_det_hat: (S,) ln|det| along the line (-inf where the folded flow's det is 0).
    """

    u: torch.Tensor
    u_hat: torch.Tensor
    w: torch.Tensor
    points: torch.Tensor
    images: torch.Tensor
    images_hat: torch.Tensor
    line: torch.Tensor
    folded: torch.Tensor
    unfolded: torch.Tensor
    log_det: torch.Tensor
    log_det_hat: torch.Tensor

    def __str__(self) -> str:
        def pts(t):
            return ", ".join(f"({a:.3f}, {b:.3f})" for a, b in t.tolist())
        return (f"u = {tuple(self.u.tolist())}, w = {tuple(self.w.tolist())}, b = 0: w^T u = "
                f"{float(self.u @ self.w):.0f} < -1\n"
                f"  {pts(self.points)} -> {pts(self.images)}: three points, one image; f has no inverse\n"
                f"u_hat = constrain_u(u, w) = ({self.u_hat[0]:.3f}, {self.u_hat[1]:.3f}): w^T u_hat = "
                f"{float(self.u_hat @ self.w):.3f} > -1\n"
                f"  {pts(self.points)} -> {pts(self.images_hat)}: one point each")


@torch.no_grad()
def folding_example(planar_flow: Callable, constrain_u: Callable, steps: int = 121) -> Folding:
    """The student's planar_flow with and without the student's constrain_u on the folding flow
    (see `Folding`); print it, or plot `line` against `folded` and `unfolded`."""
    u, w, b = torch.tensor(FOLD_U), torch.tensor(FOLD_W), torch.tensor(0.0)
    u_hat = call("constrain_u", constrain_u, u, w)
    points = torch.tensor([[-FOLD_ROOT, 0.0], [0.0, 0.0], [FOLD_ROOT, 0.0]])
    line = torch.linspace(-3.0, 3.0, steps)
    along = torch.stack([line, torch.zeros_like(line)], dim=-1)
    images = call("planar_flow", planar_flow, points, u, w, b)[0]
    images_hat = call("planar_flow", planar_flow, points, u_hat, w, b)[0]
    folded, log_det = call("planar_flow", planar_flow, along, u, w, b)
    unfolded, log_det_hat = call("planar_flow", planar_flow, along, u_hat, w, b)
    return Folding(u=u, u_hat=u_hat, w=w, points=points, images=images, images_hat=images_hat, line=line,
                   folded=folded[:, 0], unfolded=unfolded[:, 0], log_det=log_det, log_det_hat=log_det_hat)
