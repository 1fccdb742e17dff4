"""Public self-checks of latent_space's part 1: subspaces, their alignment, factor paths, moves.

The second lab's notebook has students write eight plain functions; after each, a locked cell
calls the matching check, e.g. `check_latent_subspace(latent_subspace)`: the four of part 1 are
here, the four of part 2 (beta_elbo, mmd, lerp, slerp) in `regulariser_checks` beside this
module. A check calls the student's function on small inputs and either prints one line
"✓ <function>() passed: ..." or stops the notebook with a message that says what was expected,
what came back, and the likely mistake (`vaelab_core.checking`, shared with the other lab).

What is checked, and how. This module is installed on students' machines and, like the rest of
`vaelab_core`, holds NO reference implementation. Every check works from:

- properties any correct answer has (shapes, orthonormal columns, symmetry, unit norms, the part
  of z outside a subspace left alone, recon and kl independent of beta, ...);
- hand-built inputs whose answer is known by construction (data spread along known orthogonal
  directions with known variances, a function that is exactly piecewise linear on the knots,
  vectors at a known angle, identical point sets);
- a few numbers written out for two-point cases, each with a comment saying how it is obtained.

Each check runs in a fraction of a second with its own seeded random state, leaves the notebook's
random state as it was, and turns the student's exceptions into a message (a stub's
NotImplementedError reads "not implemented yet").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

from vaelab_core.checking import (SelfCheckFailed, call, checked_tensor, close, fail, own_random_state,
                                  passed, show)

__all__ = [
    "SelfCheckFailed",
    "check_latent_subspace",
    "check_subspace_alignment",
    "check_fit_factor_path",
    "check_move_factor",
]


# --- 1. latent_subspace -----------------------------------------------------------------------

# Per-axis values of a factorial design: every combination of one value per axis is a data
# point (4 x 8 x 4 = 128 points). Each axis has mean 0 and mean square 5, 3 and 2, and as every
# axis is symmetric around 0 the cross products cancel exactly: the covariance is exactly
# diag(5, 3, 2) (up to the 1/N or 1/(N-1) factor), so the eigenvalue shares are 0.5, 0.3, 0.2.
_AXIS_VALUES = ((-3.0, -1.0, 1.0, 3.0),                              # mean square 20/4 = 5
                (-3.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 3.0),        # mean square 24/8 = 3
                (-2.0, 0.0, 0.0, 2.0))                               # mean square 8/4 = 2
_AXIS_VARIANCES = (5.0, 3.0, 2.0)


def _factorial_points() -> torch.Tensor:
    """(128, 3) points whose covariance is exactly diag(5, 3, 2), mean exactly 0."""
    return torch.tensor(list(itertools.product(*_AXIS_VALUES)), dtype=torch.float64)


def _subspace_result(m: str, out, z_dim: int) -> tuple[torch.Tensor, int]:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(m, f"should return a tuple (U, M), got {type(out).__name__}.")
    u, count = out
    if isinstance(count, torch.Tensor) or not isinstance(count, int) or isinstance(count, bool):
        fail(m, f"M should be a Python int, got {type(count).__name__} ({count!r}): "
                "use int(...) (or .item() on a one-element tensor).")
    if not isinstance(u, torch.Tensor) or u.dim() != 2:
        fail(m, f"U should be a 2-D torch.Tensor (Z, M), got "
                f"{tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__}.")
    if tuple(u.shape) == (count, z_dim) and count != z_dim:
        fail(m, f"U has shape {tuple(u.shape)} = (M, Z): the eigenvectors are its rows. They should "
                f"be its columns, shape (Z, M) = ({z_dim}, {count}). torch.linalg.eigh returns the "
                "eigenvectors as COLUMNS: take eigenvectors[:, :M], not eigenvectors[:M].")
    if u.shape[0] != z_dim:
        fail(m, f"U should have Z = {z_dim} rows (one per latent dimension), got shape {tuple(u.shape)}.")
    if u.shape[1] != count:
        fail(m, f"U has {u.shape[1]} columns but M = {count}: U holds exactly the first M "
                "eigenvectors, one per column.")
    u = checked_tensor(m, "U", u, (z_dim, count))
    gram = u.T.double() @ u.double()
    if not close(gram, torch.eye(count, dtype=torch.float64), atol=1e-3):
        norms = gram.diagonal().sqrt()
        off = gram - torch.diag(gram.diagonal())
        if off.abs().max() < 1e-3:
            fail(m, f"the columns of U are orthogonal but not of unit length (norms {show(norms)}): "
                    "eigenvectors from torch.linalg.eigh already have norm 1; do not scale them by "
                    "the eigenvalues or standard deviations.")
        fail(m, f"the columns of U should be orthonormal (U^T U = I), but U^T U = {show(gram)}. "
                "Are they the eigenvectors of the covariance matrix (columns of eigh's result)?")
    return u, count


@own_random_state
def check_latent_subspace(fn: Callable) -> None:
    """latent_subspace(z, variance) -> (U, M): centred PCA, descending order, smallest M reaching the share."""
    m = "latent_subspace"
    gen = torch.Generator().manual_seed(11)
    z_dim = 5
    # A random orthonormal basis (columns of Q): the spread lies along q1, q2, q3 with variances
    # 5, 3, 2; the mean lies along q3, far from 0 (length 10), so that without centring q3 looks
    # like the main direction (second moment 2 + 100) while q4, q5 carry no variance at all.
    q, _ = torch.linalg.qr(torch.randn(z_dim, z_dim, generator=gen, dtype=torch.float64))
    mean_dir = q[:, 2]
    z = (_factorial_points() @ q[:, :3].T + 10.0 * mean_dir).float()
    cov = q[:, :3] @ torch.diag(torch.tensor(_AXIS_VARIANCES, dtype=torch.float64)) @ q[:, :3].T

    u, count = _subspace_result(m, call(m, fn, z.clone(), 0.7), z_dim)
    proj = u.double() @ u.double().T
    if (u[:, 0].double() @ mean_dir).abs() > 0.9:
        fail(m, "the first column of U points along the data's MEAN, a direction of small variance: "
                "z was not centred, so the mean's square dominated. Subtract the mean over the N codes, "
                "z - z.mean(0), before computing the covariance.")
    captured = torch.einsum("zk,zy,yk->k", u.double(), cov, u.double())  # variance along each column
    if captured[0] < 4.9 or (captured[1:] > captured[:-1] + 1e-3).any():
        fail(m, f"the data's variance along the columns of U is {show(captured, 2)}; the first column "
                "should hold the largest (5.0), then decreasing. torch.linalg.eigh returns the "
                "eigenvalues in ASCENDING order: reverse both eigenvalues and eigenvector columns "
                "(e.g. .flip(0) and .flip(1)) before taking the leading ones.")
    if count != 2:
        if count == 1:
            cause = ("the first component holds 50% < 70%: M is the smallest number of components whose "
                     "share is AT LEAST the asked variance, counting the component that reaches it "
                     "(you counted the components before the share was reached).")
        elif count == 3:
            cause = ("the first two already hold 80% >= 70%: one component too many. Count the components "
                     "up to and including the first one where the cumulative share reaches the variance.")
        else:
            cause = "compare the cumulative eigenvalue shares (0.5, 0.8, 1.0, 1.0, 1.0) with 0.7."
        fail(m, f"data with eigenvalue shares 50%, 30%, 20% and variance=0.7 should give M = 2, got "
                f"M = {count}; {cause}")
    want = q[:, :2] @ q[:, :2].T
    if not close(proj, want, atol=1e-3):
        fail(m, "U does not span the two directions of largest variance (compared as projectors U U^T, "
                "which ignore the eigenvectors' arbitrary signs). Take the eigenvectors as the COLUMNS "
                "of eigh's result, ordered by decreasing eigenvalue, from the covariance of the "
                "centred codes.")

    # Exact ties: axis-aligned copy of the same design (variances 5, 3, 2 on latent axes 1, 3, 0,
    # a constant offset on the others). Cumulative shares are exactly 0.5, 0.8, 1.0 here, so
    # variance = 0.5 and 0.8 are reached exactly and must count as reached ("at least").
    pts = _factorial_points().float()
    z = torch.zeros(len(pts), z_dim)
    z[:, 1], z[:, 3], z[:, 0] = pts[:, 0], pts[:, 1], pts[:, 2]
    z[:, 2], z[:, 4] = 10.0, -4.0
    wanted = {0.45: 1, 0.5: 1, 0.79: 2, 0.8: 2, 0.81: 3, 0.95: 3}
    got = {v: _subspace_result(m, call(m, fn, z.clone(), v), z_dim)[1] for v in wanted}
    wrong = {v: got[v] for v in wanted if got[v] != wanted[v]}
    if wrong:
        ties = {0.5, 0.8}
        if set(wrong) <= ties and all(got[v] == wanted[v] + 1 for v in wrong):
            cause = ("only where the share is reached EXACTLY is M one too many: 'at least' means the "
                     "cumulative share >= variance, not > variance.")
        elif all(got[v] == wanted[v] - 1 for v in wrong):
            cause = ("M is one too small: count the component whose share reaches the variance too.")
        elif all(got[v] == wanted[v] + 1 for v in wrong):
            cause = ("M is one too many: the count stops at the first component where the cumulative "
                     "share reaches the variance (an index from 0 is one less than a count).")
        else:
            cause = "M is the smallest number of leading components whose eigenvalues sum to >= variance x total."
        fail(m, f"eigenvalue shares 50%, 30%, 20% (cumulative 0.5, 0.8, 1.0): expected M = "
                f"{wanted} for these variances, got {got}; {cause}")
    passed(m, "centred, descending eigenvectors as orthonormal columns, the smallest M reaching the share")


# --- 2. subspace_alignment --------------------------------------------------------------------

@own_random_state
def check_subspace_alignment(fn: Callable) -> None:
    """subspace_alignment(U_i, U_j) -> (M_i, M_j) dot products of columns, signs kept, no normalising."""
    m = "subspace_alignment"
    r = 1 / math.sqrt(2)
    # Columns written out in Z = 4: U_i = [e1, (e2 + e3)/sqrt2], U_j = [e2, -e1, e4].
    u_i = torch.tensor([[1.0, 0.0], [0.0, r], [0.0, r], [0.0, 0.0]])
    u_j = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # Their dot products by hand: e1.e2 = 0, e1.(-e1) = -1, e1.e4 = 0; (e2+e3)/sqrt2 . e2 = 1/sqrt2.
    want = torch.tensor([[0.0, -1.0, 0.0], [r, 0.0, 0.0]])
    shape_hint = ("Entry (a, b) is the dot product of column a of U_i with column b of U_j, i.e. "
                  "U_i^T U_j (shape (M_i, M_j)); U_i U_j^T multiplies the wrong dimensions.")
    out = call(m, fn, u_i.clone(), u_j.clone(), hint=shape_hint)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (3, 2):
        fail(m, "got shape (M_j, M_i) = (3, 2): rows belong to U_i's columns, so the result is "
                "U_i^T U_j of shape (M_i, M_j) = (2, 3), not U_j^T U_i.")
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (4, 4):
        fail(m, f"got shape (Z, Z) = (4, 4), which is U_i U_j^T. {shape_hint}")
    got = checked_tensor(m, "the alignment matrix", out, (2, 3), shape_hint)
    if not close(got, want):
        if close(got, want.abs()):
            cause = ("it equals the expected matrix with absolute values: keep the signs, a column of "
                     "U_j that is minus a column of U_i gives -1.")
        elif close(got, -want):
            cause = "the signs are flipped."
        else:
            cause = "each entry is the plain dot product of column a of U_i with column b of U_j."
        fail(m, f"for U_i = [e1, (e2+e3)/sqrt2] and U_j = [e2, -e1, e4] expected {show(want)}, got "
                f"{show(got)}; {cause}")
    # Dot products, not cosines nor averages: scale one column by 2, one entry doubles.
    u_j2 = u_j.clone()
    u_j2[:, 1] *= 2
    want2 = want.clone()
    want2[:, 1] *= 2
    got2 = checked_tensor(m, "the alignment matrix", call(m, fn, u_i.clone(), u_j2, hint=shape_hint), (2, 3))
    if not close(got2, want2):
        fail(m, f"with the second column of U_j doubled (-2 e1) expected {show(want2)}, got {show(got2)}: "
                "return the plain dot products U_i^T U_j; do not normalise by the norms (cosines), by "
                "M or by Z.")
    passed(m, "(M_i, M_j) dot products of the columns, signs kept, not normalised")


# --- 3. fit_factor_path -----------------------------------------------------------------------

def _path_values(m: str, g, values, k: int, n_coords: int, what: str) -> torch.Tensor:
    out = call(m, g, values)
    return checked_tensor(m, what, out, (k, n_coords),
                          "g(values) returns one row of M subspace coordinates per value; a single number "
                          "counts as one value.")


def _kinks(values: torch.Tensor, grid: torch.Tensor, tol: float = 1e-4) -> list[float]:
    """Grid points where the slope of a sampled curve changes (in any coordinate)."""
    slopes = values.double().diff(dim=0) / grid.double().diff()[:, None]
    change = (slopes[1:] - slopes[:-1]).abs().max(dim=1).values
    return [float(grid[i + 1]) for i in torch.nonzero(change > tol).flatten().tolist()]


def _describe_bends(found: list[float]) -> str:
    """Group adjacent kink points (a knot between grid points bends two neighbouring intervals)."""
    groups: list[list[float]] = []
    for x in found:
        if groups and x - groups[-1][-1] <= 1.5:
            groups[-1].append(x)
        else:
            groups.append([x])
    return ", ".join(f"{sum(g) / len(g):.1f}" for g in groups[:12]) + (" ..." if len(groups) > 12 else "")


def _bends_only_at(found: list[float], knots: list[float]) -> bool:
    return all(min(abs(x - k) for k in knots) <= 1.01 for x in found)


@own_random_state
def check_fit_factor_path(fn: Callable) -> None:
    """fit_factor_path(y, coords, n_knots) -> g: least-squares piecewise-linear path, knots on the data range."""
    m = "fit_factor_path"
    # Case 1: noise-free samples of a path that is exactly piecewise linear on the knots of
    # n_knots = 5 over [100, 300] Hz: knots 100, 150, 200, 250, 300 with the values below.
    lo, hi, n_knots = 100.0, 300.0, 5
    knots = [100.0, 150.0, 200.0, 250.0, 300.0]
    knot_values = torch.tensor([[0.0, 1.0], [1.0, 0.5], [0.5, -0.5], [1.5, 0.0], [1.0, 1.5]])
    s = torch.linspace(0, 1, 21)
    y = torch.cat([100.0 + 50.0 * (k + s) for k in range(4)])
    coords = torch.cat([(1 - s)[:, None] * knot_values[k] + s[:, None] * knot_values[k + 1] for k in range(4)])
    g = call(m, fn, y.clone(), coords.clone(), n_knots)
    if not callable(g):
        fail(m, f"should return a function g (values -> coordinates), got {type(g).__name__}.")
    grid = torch.arange(lo, hi + 1, 1.0)  # 1 Hz steps: the knots are grid points
    along = _path_values(m, g, grid, len(grid), 2, f"g(values) for {len(grid)} values")
    _path_values(m, g, 150.0, 1, 2, "g(150.0) for a Python number")
    _path_values(m, g, torch.tensor(150.0), 1, 2, "g(torch.tensor(150.0)) for a 0-d tensor")

    steps = along.double().diff(dim=0).abs().max()
    if steps > 0.1:  # the path moves at most 1 unit per 50 Hz, i.e. 0.02 per 1 Hz step
        fail(m, f"g jumps by up to {steps:.2f} between values 1 Hz apart: it is not continuous. Per-bin "
                "averages give a piecewise-constant g; use the hat basis functions (1 at their knot, "
                "falling linearly to 0 at the neighbouring knots) so that g is linear between knots.")
    found = _kinks(along, grid)
    if along.double().diff(dim=0).abs().max() < 1e-6:
        fail(m, f"g is constant ({show(along[0])}) over the whole range of y: the knot values are not "
                "fitted to the data. Is every knot's hat function non-zero for some samples (knots from "
                "y.min() to y.max())?")
    if not found:
        fail(m, "g is a single straight line over the whole range: that is a linear regression. g should "
                "bend at the knots: fit one value per knot with the hat basis functions.")
    if not _bends_only_at(found, knots[1:-1]):
        from_zero = [hi * k / (n_knots - 1) for k in range(n_knots)]
        cause = (f"the {n_knots} knots should be evenly spaced from y.min() = {lo:g} to y.max() = {hi:g} "
                 f"(at {knots}), and g linear between them.")
        if _bends_only_at(found, from_zero):
            cause = (f"these are knots evenly spaced from 0 to y.max() ({from_zero}); they start at "
                     f"y.min() = {lo:g}, not at 0: torch.linspace(y.min(), y.max(), n_knots).")
        elif len(found) > 2 * (n_knots - 2):
            cause += " More bends than interior knots: is n_knots passed on (not a fixed number)?"
        fail(m, f"for y in [{lo:g}, {hi:g}] and n_knots = {n_knots}, g bends at y = {_describe_bends(found)}; "
                f"{cause}")
    at_knots = _path_values(m, g, torch.tensor(knots), n_knots, 2, "g(knots)")
    if not close(at_knots, knot_values, atol=2e-3):
        fail(m, f"noise-free data lying exactly on a piecewise-linear path through {show(knot_values, 2)} "
                f"at the knots {knots}: g(knots) gave {show(at_knots)}. Fit the knot values by least "
                "squares (torch.linalg.lstsq) on the hat-basis design matrix, one row per sample.")

    outside = _path_values(m, g, torch.tensor([50.0, 0.0, 400.0, 1000.0]), 4, 2, "g(values outside the range)")
    ends = at_knots[[0, 0, -1, -1]]
    if not close(outside, ends, atol=2e-3):
        fail(m, f"outside [y.min(), y.max()] = [{lo:g}, {hi:g}] g should stay at its end values "
                f"{show(ends[[0, 2]])}, but g(50, 0, 400, 1000) = {show(outside)}: the path is extrapolated. "
                "Clamp the inputs to [y.min(), y.max()] before evaluating the basis.")

    # Case 2: a straight line plus noise +e / -e at every y (each y appears twice): the noise
    # cancels in the least-squares normal equations, so the fit is the line itself.
    y2 = (100.0 + 200.0 * torch.linspace(0, 1, 41)).repeat_interleave(2)
    line = torch.stack([0.01 * y2 - 1.0, 2.0 - 0.004 * y2], dim=1)
    noise = torch.tensor([[0.3, -0.2], [-0.3, 0.2]]).repeat(41, 1)
    g2 = call(m, fn, y2.clone(), line + noise, 4)
    if not callable(g2):
        fail(m, f"should return a function g, got {type(g2).__name__}.")
    along2 = _path_values(m, g2, grid, len(grid), 2, f"g(values) for {len(grid)} values")
    want2 = torch.stack([0.01 * grid - 1.0, 2.0 - 0.004 * grid], dim=1)
    if not close(along2, want2, atol=2e-3):
        worst = (along2 - want2).abs().max()
        fail(m, f"samples of a straight line with noise of +-0.3 placed symmetrically (every y twice, "
                f"once +e and once -e): the least-squares fit is the line itself, but g is up to "
                f"{worst:.3f} away from it. Fit all samples at once by least squares, not by "
                "interpolating or averaging a few samples near each knot.")

    # Case 3: a V-shaped path with its corner at 150 Hz, between the knots 100 and 200 of
    # n_knots = 3: g must stay straight on [100, 200] and [200, 300], so the corner is NOT
    # reproduced. A g that follows the corner uses more knots than asked.
    y3 = torch.linspace(lo, hi, 201)
    v = ((y3 - 150.0).abs() / 50.0)[:, None].repeat(1, 2) * torch.tensor([1.0, -1.0])
    g3 = call(m, fn, y3.clone(), v, 3)
    if not callable(g3):
        fail(m, f"should return a function g, got {type(g3).__name__}.")
    found3 = _kinks(_path_values(m, g3, grid, len(grid), 2, "g(values)"), grid)
    if not _bends_only_at(found3, [200.0]):
        fail(m, f"with n_knots = 3 over [100, 300] the only interior knot is 200, so g may bend only "
                f"there; it bends at y = {_describe_bends(found3)}. Use the n_knots argument (the "
                "default 8 is only the default).")
    passed(m, "continuous piecewise-linear least-squares path, knots from y.min() to y.max(), clamped")


# --- 4. move_factor ---------------------------------------------------------------------------

def _example_path(values) -> torch.Tensor:
    """A factor path written out for this check: (K,) values (or a number) -> (K, 2) coordinates."""
    v = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    return torch.stack([0.01 * v - 1.0, 2.0 - 0.005 * v], dim=1)


@own_random_state
def check_move_factor(fn: Callable) -> None:
    """move_factor(z, U, g, y, centre): only the subspace part changes, to g(y) around the centre."""
    m = "move_factor"
    gen = torch.Generator().manual_seed(13)
    n, z_dim = 6, 5
    r = 1 / math.sqrt(2)
    u = torch.tensor([[r, 0.0], [r, 0.0], [0.0, 0.6], [0.0, 0.8], [0.0, 0.0]])  # orthonormal columns
    centre = torch.tensor([1.0, -2.0, 3.0, 0.5, -1.0])
    z = 2 * torch.randn(n, z_dim, generator=gen)
    shape_hint = ("With codes as rows, the projection onto the subspace is (z - centre) @ U @ U.T, "
                  "i.e. the projector U U^T (Z x Z); U^T U is the M x M identity.")
    for y, label in ((torch.tensor([100.0, 150.0, 200.0, 250.0, 300.0, 120.0]), "y of shape (N,)"),
                     (180.0, "a number y")):
        z_in = z.clone()
        out = call(m, fn, z_in, u.clone(), _example_path, y, centre.clone(), hint=shape_hint)
        if not torch.equal(z_in, z):
            fail(m, "z was changed in place: build z_new as a new tensor and leave z as it was.")
        z_new = checked_tensor(m, f"z_new for {label}", out, (n, z_dim),
                               "z_new has the shape of z: one moved code per row.")
        target = _example_path(y).expand(n, 2)
        moved = z_new - z
        outside = moved - moved @ u @ u.T
        if outside.abs().max() > 1e-4:
            fail(m, f"for {label}, the part of z orthogonal to the subspace changed (by up to "
                    f"{outside.abs().max():.3f}); only the component along the columns of U may change. "
                    f"{shape_hint}")
        coords = (z_new - centre) @ u
        if not close(coords, target, atol=1e-4):
            if close(coords, target + (z - centre) @ u, atol=1e-4):
                cause = ("the path's coordinates were ADDED to z without removing z's own component in "
                         "the subspace first: z - U U^T (z - centre) + U g(y).")
            elif close(coords, target - centre @ u, atol=1e-4):
                cause = ("the centre is missing: the subspace was found for centred codes, so remove "
                         "U U^T (z - centre), not U U^T z.")
            elif (close(coords, target + centre @ u, atol=1e-4)
                  or close(coords, target - (z - centre) @ u, atol=1e-4)):
                cause = "check the signs: z - U U^T (z - centre) + U g(y)."
            else:
                cause = "z_new = z - U U^T (z - centre) + U g(y)."
            fail(m, f"for {label}, the coordinates U^T (z_new - centre) should equal g(y) = "
                    f"{show(target[:2])} ..., got {show(coords[:2])} ...; {cause}")
    passed(m, "the part of z outside the subspace is kept, its coordinates become g(y), for y a number or (N,)")
