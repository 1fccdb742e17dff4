"""latent_space's self-checks (subspace_checks, regulariser_checks) pass correct functions and
catch the typical mistakes.

The correct implementations below are the tests' reference oracle: they live here, never in
`vaelab_core`, which students have installed. Each mistake is a small mutation of one of them.
"""

from __future__ import annotations

import math

import pytest
import torch

from vaelab_core import spec
from vaelab_core.checking import SelfCheckFailed
from vaelab_core.labs.latent_space import regulariser_checks, subspace_checks

# --- correct implementations (the oracle) ------------------------------------------------------


def latent_subspace(z, variance=0.8):
    zc = z - z.mean(0)
    vals, vecs = torch.linalg.eigh(zc.T @ zc / (len(z) - 1))
    vals, vecs = vals.flip(0), vecs.flip(1)  # eigh is ascending
    share = torch.cumsum(vals, 0) / vals.sum()
    count = min(int((share < variance).sum()) + 1, len(vals))
    return vecs[:, :count], count


def subspace_alignment(u_i, u_j):
    return u_i.T @ u_j


def _hat_fit(y, coords, knots, clamp=True):
    lo, hi = y.min(), y.max()
    h = knots[1] - knots[0]

    def basis(v):
        v = torch.as_tensor(v, dtype=torch.float32).reshape(-1)
        if clamp:
            v = v.clamp(lo, hi)
        return (1 - (v[:, None] - knots[None, :]).abs() / h).clamp(min=0)

    values = torch.linalg.lstsq(basis(y), coords, driver="gelsd").solution
    return lambda v: basis(v) @ values


def fit_factor_path(y, coords, n_knots=8):
    return _hat_fit(y, coords, torch.linspace(y.min(), y.max(), n_knots))


def move_factor(z, u, g, y, centre):
    return z - (z - centre) @ u @ u.T + g(y) @ u.T


def beta_elbo(x, eta, mean, logvar, beta=1.0):
    recon = (spec.LOG_PI + eta + x.pow(2) * torch.exp(-eta)).sum(-1).mean()
    kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(-1).mean()
    return recon + beta * kl, recon, kl


def _kernel_matrix(a, b, kernel, c, squared=True):
    d2 = (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)
    d = d2 if squared else d2.sqrt()
    if kernel == "rbf":
        return torch.exp(-d / c)
    if kernel == "imq":
        return c / (c + d)
    raise ValueError(f"unknown kernel {kernel!r}")


def _offdiag_mean(k):
    n = len(k)
    return (k.sum() - k.diagonal().sum()) / (n * (n - 1))


def mmd(a, b, kernel="rbf"):
    c = 2 * a.shape[1]
    return (_offdiag_mean(_kernel_matrix(a, a, kernel, c)) + _offdiag_mean(_kernel_matrix(b, b, kernel, c))
            - 2 * _kernel_matrix(a, b, kernel, c).mean())


def lerp(z0, z1, t):
    return (1 - t)[:, None] * z0 + t[:, None] * z1


def slerp(z0, z1, t, clamp=True, normalise=True, fallback=True):
    cos = z0 @ z1 / (z0.norm() * z1.norm()) if normalise else z0 @ z1
    if clamp:
        cos = cos.clamp(-1, 1)
    omega = torch.arccos(cos)
    if fallback and torch.sin(omega).abs() < 1e-6:
        return lerp(z0, z1, t)
    return ((torch.sin((1 - t) * omega) / torch.sin(omega))[:, None] * z0
            + (torch.sin(t * omega) / torch.sin(omega))[:, None] * z1)


CORRECT = {
    "latent_subspace": latent_subspace,
    "subspace_alignment": subspace_alignment,
    "fit_factor_path": fit_factor_path,
    "move_factor": move_factor,
    "beta_elbo": beta_elbo,
    "mmd": mmd,
    "lerp": lerp,
    "slerp": slerp,
}


def check_of(name):
    return getattr(subspace_checks, f"check_{name}", None) or getattr(regulariser_checks, f"check_{name}")


@pytest.mark.parametrize("name", CORRECT)
def test_a_correct_function_passes(name, capsys):
    check_of(name)(CORRECT[name])
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {name}() passed")
    assert out.count("\n") == 1


@pytest.mark.parametrize("name", CORRECT)
def test_a_stub_is_not_implemented_yet(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    with pytest.raises(SelfCheckFailed, match="not implemented yet") as failure:
        check_of(name)(stub)
    assert failure.value.method == name


@pytest.mark.parametrize("name", CORRECT)
def test_checks_leave_the_global_random_state_alone(name, capsys):
    def noisy(*args, **kwargs):  # a student function that draws from the global generator
        torch.rand(3)
        return CORRECT[name](*args, **kwargs)

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_of(name)(noisy)
    assert torch.equal(torch.rand(3), expected)


def test_a_student_error_becomes_a_message():
    def broken(z, variance=0.8):
        raise KeyError("oops")

    with pytest.raises(SelfCheckFailed, match="raised KeyError"):
        subspace_checks.check_latent_subspace(broken)


# --- typical mistakes ------------------------------------------------------------------------

def subspace_not_centred(z, variance=0.8):
    vals, vecs = torch.linalg.eigh(z.T @ z / len(z))
    vals, vecs = vals.flip(0), vecs.flip(1)
    share = torch.cumsum(vals, 0) / vals.sum()
    count = min(int((share < variance).sum()) + 1, len(vals))
    return vecs[:, :count], count


def subspace_ascending(z, variance=0.8):
    zc = z - z.mean(0)
    vals, vecs = torch.linalg.eigh(zc.T @ zc / (len(z) - 1))  # forgot that eigh is ascending
    share = torch.cumsum(vals, 0) / vals.sum()
    count = min(int((share < variance).sum()) + 1, len(vals))
    return vecs[:, :count], count


def subspace_ascending_vectors_only(z, variance=0.8):
    zc = z - z.mean(0)
    vals, vecs = torch.linalg.eigh(zc.T @ zc / (len(z) - 1))
    share = torch.cumsum(vals.flip(0), 0) / vals.sum()  # M from sorted values, U from unsorted vectors
    count = int((share < variance).sum()) + 1
    return vecs[:, :count], count


def subspace_rows(z, variance=0.8):
    u, count = latent_subspace(z, variance)
    return u.T.contiguous(), count


def subspace_strict_share(z, variance=0.8):
    zc = z - z.mean(0)
    vals, vecs = torch.linalg.eigh(zc.T @ zc / (len(z) - 1))
    vals, vecs = vals.flip(0), vecs.flip(1)
    share = torch.cumsum(vals, 0) / vals.sum()
    count = min(int((share <= variance).sum()) + 1, len(vals))  # > instead of >=
    return vecs[:, :count], count


def subspace_counts_before(z, variance=0.8):
    zc = z - z.mean(0)
    vals, vecs = torch.linalg.eigh(zc.T @ zc / (len(z) - 1))
    vals, vecs = vals.flip(0), vecs.flip(1)
    share = torch.cumsum(vals, 0) / vals.sum()
    count = max(int((share < variance).sum()), 1)  # components before the share is reached
    return vecs[:, :count], count


def subspace_scaled_columns(z, variance=0.8):
    zc = z - z.mean(0)
    vals, vecs = torch.linalg.eigh(zc.T @ zc / (len(z) - 1))
    vals, vecs = vals.flip(0), vecs.flip(1)
    share = torch.cumsum(vals, 0) / vals.sum()
    count = int((share < variance).sum()) + 1
    return vecs[:, :count] * vals[:count].clamp(min=0).sqrt(), count


def subspace_tensor_count(z, variance=0.8):
    u, count = latent_subspace(z, variance)
    return u, torch.tensor(count)


def alignment_outer(u_i, u_j):
    return u_i @ u_j.T


def alignment_abs(u_i, u_j):
    return (u_i.T @ u_j).abs()


def alignment_cosine(u_i, u_j):
    return (u_i / u_i.norm(dim=0)).T @ (u_j / u_j.norm(dim=0))


def alignment_transposed(u_i, u_j):
    return u_j.T @ u_i


def path_straight_line(y, coords, n_knots=8):
    design = torch.stack([torch.ones_like(y), y], dim=1)
    w = torch.linalg.lstsq(design, coords).solution

    def g(v):
        v = torch.as_tensor(v, dtype=torch.float32).reshape(-1)
        return torch.stack([torch.ones_like(v), v], dim=1) @ w
    return g


def path_bin_averages(y, coords, n_knots=8):
    edges = torch.linspace(y.min(), y.max(), n_knots)
    bins = torch.bucketize(y, edges[1:-1])
    means = torch.stack([coords[bins == k].mean(0) for k in range(n_knots - 1)])

    def g(v):
        v = torch.as_tensor(v, dtype=torch.float32).reshape(-1)
        return means[torch.bucketize(v, edges[1:-1])]
    return g


def path_no_clamp(y, coords, n_knots=8):
    return _hat_fit(y, coords, torch.linspace(y.min(), y.max(), n_knots), clamp=False)


def path_knots_from_zero(y, coords, n_knots=8):
    return _hat_fit(y, coords, torch.linspace(0, float(y.max()), n_knots))


def path_ignores_n_knots(y, coords, n_knots=8):
    return _hat_fit(y, coords, torch.linspace(y.min(), y.max(), 8))


def path_interpolates_nearest_samples(y, coords, n_knots=8):
    knots = torch.linspace(y.min(), y.max(), n_knots)
    nearest = (y[None, :] - knots[:, None]).abs().argmin(dim=1)  # one sample per knot, no fit
    values = coords[nearest]
    h = knots[1] - knots[0]

    def g(v):
        v = torch.as_tensor(v, dtype=torch.float32).reshape(-1).clamp(y.min(), y.max())
        return (1 - (v[:, None] - knots[None, :]).abs() / h).clamp(min=0) @ values
    return g


def path_shape_of_input(y, coords, n_knots=8):
    g = fit_factor_path(y, coords, n_knots)
    return lambda v: g(v).squeeze(0) if not isinstance(v, torch.Tensor) or v.dim() == 0 else g(v)


def move_adds(z, u, g, y, centre):
    return z + g(y) @ u.T


def move_without_centre(z, u, g, y, centre):
    return z - z @ u @ u.T + g(y) @ u.T


def move_small_projector(z, u, g, y, centre):
    return z - (z - centre) @ u.T @ u + g(y) @ u.T


def move_in_place(z, u, g, y, centre):
    z -= (z - centre) @ u @ u.T - g(y) @ u.T
    return z


def elbo_beta_on_recon(x, eta, mean, logvar, beta=1.0):
    _, recon, kl = beta_elbo(x, eta, mean, logvar)
    return beta * recon + kl, recon, kl


def elbo_mixture(x, eta, mean, logvar, beta=1.0):
    _, recon, kl = beta_elbo(x, eta, mean, logvar)
    return (1 - beta) * recon + beta * kl, recon, kl


def elbo_weighted_kl_returned(x, eta, mean, logvar, beta=1.0):
    loss, recon, kl = beta_elbo(x, eta, mean, logvar, beta)
    return loss, recon, beta * kl


def elbo_sum_over_frames(x, eta, mean, logvar, beta=1.0):
    recon = (spec.LOG_PI + eta + x.pow(2) * torch.exp(-eta)).sum()
    kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum()
    return recon + beta * kl, recon, kl


def elbo_without_log_pi(x, eta, mean, logvar, beta=1.0):
    recon = (eta + x.pow(2) * torch.exp(-eta)).sum(-1).mean()
    kl = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(-1).mean()
    return recon + beta * kl, recon, kl


def elbo_detached(x, eta, mean, logvar, beta=1.0):
    loss, recon, kl = beta_elbo(x, eta, mean, logvar, beta)
    return loss.detach(), recon.detach(), kl.detach()


def mmd_biased(a, b, kernel="rbf"):
    c = 2 * a.shape[1]
    return (_kernel_matrix(a, a, kernel, c).mean() + _kernel_matrix(b, b, kernel, c).mean()
            - 2 * _kernel_matrix(a, b, kernel, c).mean())


def _mmd_with(a, b, kernel, c, squared=True):
    return (_offdiag_mean(_kernel_matrix(a, a, kernel, c, squared))
            + _offdiag_mean(_kernel_matrix(b, b, kernel, c, squared))
            - 2 * _kernel_matrix(a, b, kernel, c, squared).mean())


def mmd_bandwidth_one(a, b, kernel="rbf"):
    return _mmd_with(a, b, kernel, 1.0)


def mmd_bandwidth_z(a, b, kernel="rbf"):
    return _mmd_with(a, b, kernel, a.shape[1])


def mmd_not_squared(a, b, kernel="rbf"):
    return _mmd_with(a, b, kernel, 2 * a.shape[1], squared=False)


def mmd_swapped(a, b, kernel="rbf"):
    swap = {"rbf": "imq", "imq": "rbf"}
    return mmd(a, b, swap.get(kernel, kernel))


def mmd_any_kernel_name(a, b, kernel="rbf"):
    return mmd(a, b, "imq" if kernel == "imq" else "rbf")


def mmd_kernel_ignored(a, b, kernel="rbf"):
    return mmd(a, b, "rbf") if kernel in ("rbf", "imq") else mmd(a, b, kernel)


def lerp_reversed(z0, z1, t):
    return t[:, None] * z0 + (1 - t)[:, None] * z1


def lerp_squared(z0, z1, t):
    return lerp(z0, z1, t * t)


def slerp_no_clamp(z0, z1, t):
    return slerp(z0, z1, t, clamp=False)


def slerp_raw_dot(z0, z1, t):
    return slerp(z0, z1, t, normalise=False)


def slerp_no_fallback(z0, z1, t):
    return slerp(z0, z1, t, fallback=False)


def slerp_reversed(z0, z1, t):
    return slerp(z1, z0, t)


MISTAKES = [
    ("latent_subspace", subspace_not_centred, "was not centred"),
    ("latent_subspace", subspace_ascending, "ASCENDING order"),
    ("latent_subspace", subspace_ascending_vectors_only, "ASCENDING order"),
    ("latent_subspace", subspace_rows, "eigenvectors are its rows"),
    ("latent_subspace", subspace_strict_share, "not > variance"),
    ("latent_subspace", subspace_counts_before, "components before the share was reached"),
    ("latent_subspace", subspace_scaled_columns, "not of unit length"),
    ("latent_subspace", subspace_tensor_count, "M should be a Python int"),
    ("subspace_alignment", alignment_outer, "U_i U_j^T"),
    ("subspace_alignment", alignment_abs, "keep the signs"),
    ("subspace_alignment", alignment_cosine, "do not normalise"),
    ("subspace_alignment", alignment_transposed, "not U_j^T U_i"),
    ("fit_factor_path", path_straight_line, "single straight line"),
    ("fit_factor_path", path_bin_averages, "piecewise-constant"),
    ("fit_factor_path", path_no_clamp, "Clamp the inputs"),
    ("fit_factor_path", path_knots_from_zero, "not at 0"),
    ("fit_factor_path", path_ignores_n_knots, "n_knots"),
    ("fit_factor_path", path_interpolates_nearest_samples, "least squares"),
    ("fit_factor_path", path_shape_of_input, "a single number counts as one value"),
    ("move_factor", move_adds, "ADDED to z without removing"),
    ("move_factor", move_without_centre, "the centre is missing"),
    ("move_factor", move_small_projector, "U^T U is the M x M identity"),
    ("move_factor", move_in_place, "changed in place"),
    ("beta_elbo", elbo_beta_on_recon, "beta multiplies the reconstruction term"),
    ("beta_elbo", elbo_mixture, "(1 - beta) recon + beta kl, a mixture"),
    ("beta_elbo", elbo_weighted_kl_returned, "return it unweighted"),
    ("beta_elbo", elbo_sum_over_frames, "average over frames"),
    ("beta_elbo", elbo_without_log_pi, "log(pi) of each bin is missing"),
    ("beta_elbo", elbo_detached, "no gradient reaches"),
    ("mmd", mmd_biased, "biased estimate"),
    ("mmd", mmd_bandwidth_one, "bandwidth C = 1"),
    ("mmd", mmd_bandwidth_z, "bandwidth C = Z"),
    ("mmd", mmd_not_squared, "not the SQUARED distance"),
    ("mmd", mmd_swapped, "kernel names swapped"),
    ("mmd", mmd_any_kernel_name, "should raise ValueError"),
    ("mmd", mmd_kernel_ignored, "kernel argument ignored"),
    ("lerp", lerp_reversed, "runs backwards"),
    ("lerp", lerp_squared, "linear in t"),
    ("slerp", lerp, "this is lerp"),
    ("slerp", slerp_no_clamp, "Clamp the cosine"),
    ("slerp", slerp_raw_dot, "NORMALISED vectors"),
    ("slerp", slerp_no_fallback, "fall back to lerp"),
    ("slerp", slerp_reversed, "runs backwards"),
]


@pytest.mark.parametrize("name, fn, hint", MISTAKES, ids=[f"{m[0]}-{m[1].__name__}" for m in MISTAKES])
def test_each_typical_mistake_fails_with_a_teaching_message(name, fn, hint):
    with pytest.raises(SelfCheckFailed) as failure:
        check_of(name)(fn)
    assert failure.value.method == name
    assert hint in failure.value.message, failure.value.message


# --- the checks' own constructions ---------------------------------------------------------------

def test_the_factorial_design_has_exactly_the_stated_covariance():
    pts = subspace_checks._factorial_points()
    assert torch.equal(pts.mean(0), torch.zeros(3, dtype=torch.float64))
    assert torch.equal(pts.T @ pts / len(pts), torch.diag(torch.tensor(subspace_checks._AXIS_VARIANCES,
                                                                      dtype=torch.float64)))


def test_the_two_point_mmd_values_match_the_oracle():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    rbf = regulariser_checks._two_point_mmd(math.exp(-1 / 4), math.exp(-5 / 4),
                                       [math.exp(-d / 4) for d in (1, 8, 2, 5)])
    imq = regulariser_checks._two_point_mmd(4 / 5, 4 / 9, [4 / (4 + d) for d in (1, 8, 2, 5)])
    assert mmd(a, b, "rbf").item() == pytest.approx(rbf, rel=1e-12)
    assert mmd(a, b, "imq").item() == pytest.approx(imq, rel=1e-12)
    p = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    assert mmd(p, p).item() == pytest.approx(math.exp(-0.5) - 1, rel=1e-12)


def test_a_failure_renders_without_a_traceback():
    with pytest.raises(SelfCheckFailed) as failure:
        regulariser_checks.check_lerp(lerp_reversed)
    lines = failure.value._render_traceback_()
    assert lines[0].endswith("check of lerp() failed\x1b[0m")
    assert not any("Traceback" in line for line in lines)


def test_the_module_holds_no_reference_implementation():
    """Public file: no eigen-decomposition, least-squares solve or kernel matrix of the answers."""
    import inspect

    source = inspect.getsource(subspace_checks) + inspect.getsource(regulariser_checks)
    for banned in ("linalg.eigh(", "linalg.lstsq(", "cdist(", "torch.linalg.svd("):
        assert banned not in source
