"""Public self-checks of latent_space's part 2: the beta-VAE loss, MMD, lerp and slerp.

Same rules as `subspace_checks` (part 1): properties, hand-built inputs with known answers and a
few numbers written out with their derivation; NO reference implementation; each check has its
own random state and teaches on failure. A wrong recon or kl term is diagnosed by the same ladder
as vae_speech's get_loss (`vaelab_core.checking`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from vaelab_core import spec
from vaelab_core.checking import (SelfCheckFailed, call, checked_tensor, close, fail, kl_mistake, loss_reaches,
                                  loss_terms, own_random_state, passed, recon_mistake, show)

__all__ = ["SelfCheckFailed", "check_beta_elbo", "check_mmd", "check_lerp", "check_slerp"]


# --- 5. beta_elbo -----------------------------------------------------------------------------

def _elbo_terms(m: str, fn: Callable, *args) -> tuple[torch.Tensor, float, float, float]:
    out = loss_terms(m, call(m, fn, *args))
    return out[0], out[0].item(), out[1].item(), out[2].item()


def _near(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)


@own_random_state
def check_beta_elbo(fn: Callable) -> None:
    """beta_elbo(x, eta, mean, logvar, beta) -> (loss, recon, kl): loss = recon + beta kl, per frame."""
    m = "beta_elbo"
    b, t, f, zd = 2, 3, 7, 4
    frames = b * t
    x0, eta0 = torch.zeros(b, t, f), torch.zeros(b, t, f)
    ones, zeros = torch.ones(b, t, zd), torch.zeros(b, t, zd)

    # x = 0, eta = 0: each bin gives log(pi); mean = 1, logvar = 0: each dimension gives 1/2.
    _, loss, recon, kl = _elbo_terms(m, fn, x0, eta0, ones, zeros, 1.0)
    want_r, want_k = f * spec.LOG_PI, zd / 2
    if not _near(recon, want_r):
        cause = (recon_mistake(recon, want_r, frames=frames, bins=f)
                 or "recon = sum over the F bins of log(pi) + eta + x^2 exp(-eta), averaged over frames.")
        fail(m, f"recon for x = 0 and eta = 0 at each of F = {f} bins: expected F log(pi) = {want_r:.4f}, "
                f"got {recon:.4f}; {cause}")
    if not _near(kl, want_k):
        cause = (kl_mistake(kl, want_k, frames=frames, dims=zd)
                 or "kl = -1/2 sum over Z of (1 + logvar - mean^2 - exp(logvar)), averaged over frames.")
        fail(m, f"kl for mean = 1 and logvar = 0 in each of Z = {zd} dimensions: expected Z/2 = {want_k:.4f}, "
                f"got {kl:.4f}; {cause}")
    if not _near(loss, recon + kl):
        cause = "loss = recon + beta * kl."
        if _near(loss, kl):
            cause = ("with beta = 1 the loss is kl alone: is it (1 - beta) recon + beta kl, a mixture? The "
                     "beta-VAE loss is recon + beta * kl.")
        fail(m, f"with beta = 1, loss should be recon + kl = {recon + kl:.4f}, got {loss:.4f}; {cause}")

    # x = 1, eta = 0: each bin gives log(pi) + 1. mean = 0, logvar = 0: q is the prior, kl = 0.
    _, _, recon, kl = _elbo_terms(m, fn, torch.ones(b, t, f), eta0, zeros, zeros, 1.0)
    if not _near(recon, f * (spec.LOG_PI + 1)):
        fail(m, f"recon for x = 1 and eta = 0 at every bin: expected F (log(pi) + 1) = "
                f"{f * (spec.LOG_PI + 1):.4f}, got {recon:.4f}. Each bin adds x^2 exp(-eta).")
    if not _near(kl, 0.0):
        fail(m, f"kl should be 0 when mean = 0 and logvar = 0 (q is the prior N(0, I)), got {kl:.4f}.")

    # beta weighs the KL term in the loss, and nothing else.
    gen = torch.Generator().manual_seed(17)
    x = torch.rand(b, t, f, generator=gen) * 2
    eta = torch.randn(b, t, f, generator=gen)
    mean = torch.randn(b, t, zd, generator=gen)
    logvar = 0.5 * torch.randn(b, t, zd, generator=gen)
    _, loss1, r1, k1 = _elbo_terms(m, fn, x, eta, mean, logvar)
    if not _near(loss1, r1 + k1):
        fail(m, f"without a beta argument (default beta = 1.0) loss should be recon + kl = {r1 + k1:.4f}, "
                f"got {loss1:.4f}.")
    for beta in (0.0, 0.5, 4.0):
        _, lb, rb, kb = _elbo_terms(m, fn, x, eta, mean, logvar, beta)
        if not (_near(rb, r1) and _near(kb, k1)):
            which = "recon" if not _near(rb, r1) else "kl"
            cause = "return the unweighted terms: beta appears only in loss = recon + beta * kl."
            if _near(rb, beta * r1):
                cause = "beta multiplies the reconstruction term; it weighs the KL term only."
            elif _near(kb, beta * k1):
                cause = ("the returned kl is already multiplied by beta: return it unweighted, beta goes "
                         "into the loss.")
            fail(m, f"{which} changed with beta (beta = {beta:g}: recon {rb:.4f}, kl {kb:.4f}; beta = 1: "
                    f"recon {r1:.4f}, kl {k1:.4f}): {cause}")
        if not _near(lb, r1 + beta * k1):
            cause = "loss = recon + beta * kl."
            if _near(lb, beta * r1 + k1):
                cause = "beta multiplies the reconstruction term; it weighs the KL term: recon + beta * kl."
            elif _near(lb, (1 - beta) * r1 + beta * k1):
                cause = "that is (1 - beta) recon + beta kl, a mixture; the beta-VAE loss is recon + beta * kl."
            fail(m, f"for beta = {beta:g} expected loss = recon + beta * kl = {r1 + beta * k1:.4f}, got "
                    f"{lb:.4f}; {cause}")

    # The same frames as a batch twice as large, and flattened to (N, .), give the same averages.
    _, l2, r2, k2 = _elbo_terms(m, fn, x.repeat(2, 1, 1), eta.repeat(2, 1, 1), mean.repeat(2, 1, 1),
                                logvar.repeat(2, 1, 1), 0.5)
    _, lh, rh, kh = _elbo_terms(m, fn, x, eta, mean, logvar, 0.5)
    if not (_near(r2, rh) and _near(k2, kh)):
        fail(m, f"the batch repeated twice gives recon {r2:.4f}, kl {k2:.4f} but once gives {rh:.4f}, "
                f"{kh:.4f}: average over all frames (batch x time), do not sum over them.")
    _, lf, rf, kf = _elbo_terms(m, fn, x.reshape(-1, f), eta.reshape(-1, f), mean.reshape(-1, zd),
                                logvar.reshape(-1, zd), 0.5)
    if not (_near(rf, rh) and _near(kf, kh) and _near(lf, lh)):
        fail(m, f"the same frames as (N, F) and (N, Z) give recon {rf:.4f}, kl {kf:.4f}, but as (B, T, .) "
                f"{rh:.4f}, {kh:.4f}: sum over the last dimension only and average over all the others.")

    # Gradients reach eta (reconstruction) and mean, logvar (KL).
    eta_g, mean_g, logvar_g = (v.clone().requires_grad_() for v in (eta, mean, logvar))
    loss_t = _elbo_terms(m, fn, x, eta_g, mean_g, logvar_g, 0.5)[0]
    loss_reaches(m, loss_t, {"eta": eta_g, "mean": mean_g, "logvar": logvar_g})
    passed(m, "hand-computed recon and kl, loss = recon + beta * kl, per-frame averages, gradients flow")


# --- 6. mmd -----------------------------------------------------------------------------------

def _two_point_mmd(k_aa: float, k_bb: float, k_ab: list[float], biased: bool = False) -> float:
    """The MMD^2 estimate written out for two 2-point sets from their kernel values.

    Unbiased: each within-set mean has one off-diagonal value (k(a1, a2) = k(a2, a1)), the
    cross mean has four values. Biased (a typical mistake): the within-set means also count the
    two diagonal values k(a, a) = 1.
    """
    within = (lambda k: (2 + 2 * k) / 4) if biased else (lambda k: k)
    return within(k_aa) + within(k_bb) - 2 * sum(k_ab) / 4


@own_random_state
def check_mmd(fn: Callable) -> None:
    """mmd(a, b, kernel) -> 0-d unbiased MMD^2 with C = 2 Z, kernels 'rbf' and 'imq'."""
    m = "mmd"
    # Two 2-point sets in Z = 2, so C = 2 Z = 4. Squared distances, by hand:
    # a1 = (0, 0), a2 = (1, 0): 1.  b1 = (0, 1), b2 = (2, 2): 5.
    # a1-b1: 1, a1-b2: 8, a2-b1: 2, a2-b2: 5.
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    d_aa, d_bb, d_ab = 1.0, 5.0, [1.0, 8.0, 2.0, 5.0]

    def value(kernel, biased=False, squared=True):
        dist = (lambda d: d) if squared else math.sqrt
        return _two_point_mmd(kernel(dist(d_aa)), kernel(dist(d_bb)), [kernel(dist(d)) for d in d_ab], biased)

    rbf = {c: (lambda d, c=c: math.exp(-d / c)) for c in (4.0, 2.0, 1.0)}
    imq = {c: (lambda d, c=c: c / (c + d)) for c in (4.0, 2.0, 1.0)}
    for name, kernels, other in (("rbf", rbf, imq), ("imq", imq, rbf)):
        out = call(m, fn, a.clone(), b.clone(), name)
        got = checked_tensor(m, f"mmd(a, b, {name!r})", out, (),
                             "The estimate is a single number: a 0-d tensor.").item()
        want = value(kernels[4.0])
        if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5):
            formula = "exp(-d2 / C)" if name == "rbf" else "C / (C + d2)"
            cause = (f"with C = 2 Z = 4 and d2 the squared distance, k = {formula}; the unbiased estimate "
                     "averages k(a_i, a_j) and k(b_i, b_j) over i != j and k(a_i, b_j) over all pairs.")
            if math.isclose(got, value(kernels[4.0], biased=True), rel_tol=1e-4):
                cause = ("that is the biased estimate: the within-set means include the diagonal "
                         "k(a_i, a_i) = 1. Average over i != j only.")
            elif math.isclose(got, value(kernels[2.0]), rel_tol=1e-4):
                cause = "that is the bandwidth C = Z; it is C = 2 Z (2 x dimension x prior variance 1)."
            elif math.isclose(got, value(kernels[1.0]), rel_tol=1e-4):
                cause = "that is the bandwidth C = 1; it is C = 2 Z (2 x dimension x prior variance 1)."
            elif math.isclose(got, value(kernels[4.0], squared=False), rel_tol=1e-4):
                cause = "the kernel got the distance, not the SQUARED distance d2."
            elif math.isclose(got, value(other[4.0]), rel_tol=1e-4):
                cause = (f"that is the other kernel's value: {name!r} should be k = {formula}. Are the "
                         "kernel names swapped, or is the kernel argument ignored?")
            fail(m, f"for a = {{(0,0), (1,0)}}, b = {{(0,1), (2,2)}} and kernel {name!r} expected "
                    f"{want:.6f}, got {got:.6f}; {cause}")

    # a and b the same two distinct points p, q: the unbiased estimate is k(p, q) - 1 < 0
    # (within means k, cross mean (1 + k + k + 1) / 4); the biased one would be exactly 0.
    p = torch.tensor([[0.0, 0.0], [1.0, 1.0]])  # d2(p, q) = 2, C = 4: k = exp(-1/2)
    got = checked_tensor(m, "mmd(a, a)", call(m, fn, p.clone(), p.clone()), ()).item()
    want = math.exp(-0.5) - 1
    if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5):
        cause = "it is the unbiased estimate, which can be negative."
        if abs(got) < 1e-6:
            cause = ("0 is the biased estimate (diagonal i = j included); the unbiased one averages the "
                     "within-set kernel values over i != j and can be negative.")
        fail(m, f"for a = b = {{(0,0), (1,1)}} the unbiased estimate is k(p, q) - 1 = {want:.6f}, got "
                f"{got:.6f}; {cause}")
    default = checked_tensor(m, "mmd(a, b)", call(m, fn, a.clone(), b.clone()), ()).item()
    if not math.isclose(default, value(rbf[4.0]), rel_tol=1e-4, abs_tol=1e-5):
        fail(m, f"without a kernel argument the default is 'rbf' ({value(rbf[4.0]):.6f}), got {default:.6f}.")

    # Symmetric in (a, b), for sets of different sizes.
    gen = torch.Generator().manual_seed(19)
    a5, b7 = torch.randn(5, 3, generator=gen), torch.randn(7, 3, generator=gen) + 0.5
    ab = checked_tensor(m, "mmd(a, b) for 5 and 7 points", call(m, fn, a5, b7), ()).item()
    ba = checked_tensor(m, "mmd(b, a) for 7 and 5 points", call(m, fn, b7, a5), ()).item()
    if not math.isclose(ab, ba, rel_tol=1e-4, abs_tol=1e-6):
        fail(m, f"mmd(a, b) = {ab:.6f} but mmd(b, a) = {ba:.6f}: the estimate is symmetric. Is one set's "
                "size or kernel matrix used for the other?")

    # Large samples: near 0 for one distribution, clearly positive for a shifted one.
    x = torch.randn(400, 16, generator=gen)
    same = checked_tensor(m, "mmd", call(m, fn, x, torch.randn(400, 16, generator=gen)), ()).item()
    shifted = checked_tensor(m, "mmd", call(m, fn, x, torch.randn(400, 16, generator=gen) + 1.0), ()).item()
    if abs(same) > 0.01:
        fail(m, f"two samples of 400 points from the same N(0, I) in Z = 16 give {same:.4f}; the unbiased "
                "estimate should be within 0.01 of 0. Are the diagonal terms excluded and C = 2 Z?")
    if shifted < 0.05:
        fail(m, f"N(0, I) against N(1, I) in Z = 16 gives {shifted:.4f}; it should be clearly positive "
                "(> 0.05). Check the sign: within-set means minus twice the cross mean.")

    try:
        fn(a.clone(), b.clone(), "cosine")
    except ValueError:
        pass
    except NotImplementedError:
        fail(m, "not implemented yet for unknown kernel names: raise ValueError for them.")
    except Exception as err:
        fail(m, f"an unknown kernel name ('cosine') should raise ValueError, got {type(err).__name__}: {err}")
    else:
        fail(m, "an unknown kernel name ('cosine') should raise ValueError (e.g. raise ValueError(f'unknown "
                "kernel {kernel!r}')), but it returned a value.")
    passed(m, "unbiased estimate with C = 2 Z for 'rbf' and 'imq', symmetric, ~0 for one distribution")


# --- 7. lerp and 8. slerp ---------------------------------------------------------------------

def _interpolation(m: str, fn: Callable, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor,
                   nan_hint: str = "") -> torch.Tensor:
    out = call(m, fn, z0.clone(), z1.clone(), t.clone())
    return checked_tensor(m, f"the path for S = {len(t)} values of t and Z = {len(z0)}", out, (len(t), len(z0)),
                          f"One row per value of t. {nan_hint}".strip())


def _end_points(m: str, path: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor, what: str) -> None:
    if close(path[0], z1) and close(path[-1], z0):
        fail(m, f"{what}: t = 0 gives z1 and t = 1 gives z0, the path runs backwards: the weight of z0 is "
                "(1 - t) and the weight of z1 is t.")
    if not (close(path[0], z0) and close(path[-1], z1)):
        fail(m, f"{what}: t = 0 should give z0 = {show(z0)} and t = 1 should give z1 = {show(z1)}; got "
                f"{show(path[0])} and {show(path[-1])}.")


@own_random_state
def check_lerp(fn: Callable) -> None:
    """lerp(z0, z1, t) -> (S, Z): the straight line (1 - t) z0 + t z1."""
    m = "lerp"
    z0 = torch.tensor([1.0, -2.0, 0.5, 3.0])
    z1 = torch.tensor([-1.0, 2.0, 2.5, 3.0])
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    path = _interpolation(m, fn, z0, z1, t)
    _end_points(m, path, z0, z1, "end points")
    midpoint = torch.tensor([0.0, 0.0, 1.5, 3.0])  # (z0 + z1) / 2, by hand
    if not close(path[2], midpoint):
        fail(m, f"t = 0.5 should give the midpoint (z0 + z1) / 2 = {show(midpoint)}, got {show(path[2])}: "
                "the weights (1 - t) and t are linear in t.")
    quarter = torch.tensor([0.5, -1.0, 1.0, 3.0])  # 3/4 z0 + 1/4 z1, by hand
    if not close(path[1], quarter):
        fail(m, f"t = 0.25 should give 3/4 z0 + 1/4 z1 = {show(quarter)}, got {show(path[1])}: "
                "the point moves in proportion to t.")
    dist = (path - z0).norm(dim=1)
    if not (dist.diff() > 0).all():
        fail(m, f"the distance from z0 should grow with t, got {show(dist)}.")
    passed(m, "(S, Z) straight line from z0 (t = 0) to z1 (t = 1), moving in proportion to t")


@own_random_state
def check_slerp(fn: Callable) -> None:
    """slerp(z0, z1, t) -> (S, Z): along the great circle, end points kept, lerp for parallel vectors."""
    m = "slerp"
    nan_hint = ("NaN usually comes from arccos of a cosine just above 1 (clamp it to [-1, 1]) or from "
                "dividing by sin(omega) = 0 for parallel vectors (fall back to lerp then).")
    s3 = math.sqrt(3) / 2
    # Unit vectors 60 degrees apart: omega = pi / 3.
    z0 = torch.tensor([1.0, 0.0, 0.0, 0.0])
    z1 = torch.tensor([0.5, s3, 0.0, 0.0])
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    path = _interpolation(m, fn, z0, z1, t, nan_hint)
    _end_points(m, path, z0, z1, "for unit vectors 60 degrees apart")
    norms = path.norm(dim=1)
    if not close(norms, torch.ones(5), atol=1e-4):
        cause = "slerp follows the great circle through two unit vectors, so every point has norm 1."
        if close(norms[2], torch.tensor(s3), atol=1e-3):
            cause = ("the midpoint has norm cos(30 deg) = 0.866, that of the straight line: this is lerp. "
                     "Weight z0 by sin((1 - t) omega) / sin(omega) and z1 by sin(t omega) / sin(omega).")
        fail(m, f"for unit-norm z0, z1 the path's norms should all be 1, got {show(norms, 4)}; {cause}")
    angles = torch.rad2deg(torch.arccos((path @ z0 / norms).clamp(-1, 1)))
    want = t * 60
    if not close(angles, want, atol=0.05):
        fail(m, f"the angle to z0 should grow linearly with t, {show(want, 1)} degrees, got {show(angles, 1)}: "
                "omega is the angle between z0 and z1, and z0's weight is sin((1 - t) omega) / sin(omega).")

    # Non-unit end points, same directions (still 60 degrees apart): the end points are kept and
    # the midpoint is sin(30 deg) / sin(60 deg) (z0 + z1) = (z0 + z1) / sqrt(3).
    for scale in (0.5, 3.0):
        a, b = scale * z0, scale * z1
        path = _interpolation(m, fn, a, b, t, nan_hint + " Is omega computed from the normalised vectors?")
        _end_points(m, path, a, b, f"for z0, z1 of norm {scale:g}")
        mid = (a + b) / math.sqrt(3)
        if not close(path[2], mid, atol=1e-4):
            fail(m, f"for z0, z1 of norm {scale:g}, 60 degrees apart, the midpoint should be "
                    f"(z0 + z1) sin(30 deg) / sin(60 deg) = {show(mid)}, got {show(path[2])}: the angle "
                    "omega comes from the cosine between the NORMALISED vectors, z0 . z1 / (|z0| |z1|); "
                    "the raw dot product is not a cosine.")

    # Parallel vectors (sin(omega) = 0): lerp, no NaN. First exactly parallel, then many random
    # directions each with a scaled copy, where rounding can push the cosine just past 1.
    a, b = torch.tensor([2.0, 0.0, 0.0, 0.0]), torch.tensor([4.0, 0.0, 0.0, 0.0])
    path = _interpolation(m, fn, a, b, t, "For parallel z0, z1, sin(omega) = 0: fall back to lerp.")
    line = torch.tensor([[2.0, 0, 0, 0], [2.5, 0, 0, 0], [3.0, 0, 0, 0], [3.5, 0, 0, 0], [4.0, 0, 0, 0]])
    if not close(path, line):
        fail(m, f"for parallel z0 = {show(a)}, z1 = {show(b)} expected lerp's points {show(line)}, got "
                f"{show(path)}: when sin(omega) is about 0 fall back to (1 - t) z0 + t z1.")
    gen = torch.Generator().manual_seed(23)
    for _ in range(40):
        a = torch.randn(16, generator=gen)
        b = a * 3.0
        out = call(m, fn, a.clone(), b.clone(), t.clone())
        if isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
            fail(m, "NaN for (nearly) parallel z0, z1 (z1 = 3 z0 in Z = 16): rounding makes their cosine "
                    "slightly larger than 1, where arccos is NaN. Clamp the cosine to [-1, 1] before arccos "
                    "(and fall back to lerp when sin(omega) is about 0).")
        checked_tensor(m, "the path for parallel vectors", out, (len(t), 16))
    passed(m, "end points kept, unit norm and uniform angle on the great circle, lerp for parallel vectors")
