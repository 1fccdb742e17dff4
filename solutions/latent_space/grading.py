"""How latent_space is graded: the hidden tests of the eight functions and of parts 1 and 2.

Instructor-only, like the notebook beside it: the grader loads this file by path at grading
time (grader/assignment.py) and nothing installed contains it.

- Functions (test_latent_subspace ... test_slerp). `probe` runs in a separate process on the
  submission's own code (the notebook's code cells up to the last function, nothing after) and
  calls each function on fixed inputs. Each function is probed on its own: where one needs
  another's result (move_factor needs a path g), the probe hands it a fixed one, so one bug
  costs one part. The same probe runs on the reference, and the judges compare.
- Results (test_subspaces ... test_wae). The locked check cells record the notebook's numbers
  (vaelab_core.labs.latent_space.result_checks); the judges compare them with bands made by
  `vaelab grade bands` from reference runs on the course's data, on the grading machine.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from grader.engine.judge import Check, shown_number, within_band
from vaelab_core import spec
from vaelab_core.checking import kl_mistake, recon_mistake
from vaelab_core.datasets import SWEEP_FACTORS as FACTORS
from vaelab_core.labs.latent_space.result_checks import BETA_SETTINGS as SETTINGS
from vaelab_core.errors import VaelabError
from vaelab_core.records import finite_numbers

#: nbgrader ids of the notebook cells that define the reference, in execution order.
FUNCTIONS = ("latent_subspace", "subspace_alignment", "fit_factor_path", "move_factor", "beta_elbo", "mmd",
             "lerp", "slerp")
REFERENCE_CELLS = ("imports", "model", *FUNCTIONS, "regularised_models", "wae_model")
#: The model class the notebook defines (lab 1's, in a cell given from vae_speech/model).
MODEL_CLASS = "SpeechVAE"
#: The probe runs the submission's code cells up to and including this one.
STUDENT_CODE_UNTIL = "slerp"
METHOD_TESTS = tuple(f"test_{name}" for name in FUNCTIONS)
RESULT_TESTS = ("test_subspaces", "test_moves", "test_beta", "test_wae")
#: Cells that train models (timed apart in the grading benchmark).
TRAINING_CELLS = ("beta_runs", "wae_run")
#: the notebook's EPOCHS, for the runs of other seeds (make_bands checks the reference ran as many)
EPOCHS = 30
#: The student's task, for the bundle's INSTALL.md.
STUDENT_WORK = """Fill in the eight functions of section 1, each followed by a self-check cell that stops
with an explanation until the function is right, then run the cells from top to bottom (about a
minute). The first run also makes the four sweep datasets of part 1, in a few seconds, in
`~/.cache/vaelab/sweeps/` (or `$VAELAB_SWEEPS` if you set it)."""
F, Z = spec.N_FREQ, spec.LATENT_DIM


def course_data(data_dir: Path) -> dict[str, Path]:
    """The sweeps of part 1, made once in the course's data folder (the kernel reads them there)."""
    from data_prep.sweep import main as build_sweeps

    folder = data_dir / "sweeps"
    build_sweeps(folder, factor="all")
    return {"VAELAB_SWEEPS": folder}


# --- probes: run on the submission's code, in a process of their own --------------------------

def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _orthonormal(rows: int, cols: int, seed: int) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(rows, cols, generator=_generator(seed)))[0]


def _codes(seed: int) -> torch.Tensor:
    """(400, Z) codes far from the origin whose variance falls off over a few directions."""
    g = _generator(seed)
    scales = torch.tensor([3.0, 2.0, 1.5, 1.0, 0.6] + [0.15] * (Z - 5))
    basis = _orthonormal(Z, Z, seed + 1)
    return 5.0 + (torch.randn(400, Z, generator=g) * scales) @ basis.T


def probe_latent_subspace(fn) -> dict:
    found = {}
    for suffix, (z, variance) in {"": (_codes(1), 0.8), "_95": (_codes(2), 0.95)}.items():
        U, M = fn(z, variance)
        found["U" + suffix], found["M" + suffix] = torch.as_tensor(U).detach(), M
    return found


def probe_subspace_alignment(fn) -> dict:
    return {"dots": torch.as_tensor(fn(_orthonormal(Z, 3, 3), _orthonormal(Z, 2, 4))).detach()}


def _path_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = _generator(5)
    y = 100 + 200 * torch.rand(300, generator=g)
    coords = torch.stack([torch.sin(y / 40), (y / 150) ** 2, torch.cos(y / 90)], dim=1)
    return y, coords + 0.05 * torch.randn(300, 3, generator=g)


def probe_fit_factor_path(fn) -> dict:
    y, coords = _path_data()
    inside = torch.linspace(105, 295, 23)
    g, g5 = fn(y, coords), fn(y, coords, n_knots=5)
    return {"inside": g(inside), "knots5": g5(inside), "outside": g(torch.tensor([20.0, 500.0])),
            "ends": g(torch.tensor([float(y.min()), float(y.max())])), "number": g(180.0)}


def fixed_path(values) -> torch.Tensor:
    """A path given to the student's move_factor (not the student's own fit_factor_path)."""
    v = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    return torch.stack([torch.sin(v / 50), v / 300, torch.cos(v / 70)], dim=1)


def probe_move_factor(fn) -> dict:
    g = _generator(6)
    z, centre = torch.randn(10, Z, generator=g), torch.randn(Z, generator=g)
    U, y = _orthonormal(Z, 3, 7), 100 + 200 * torch.rand(10, generator=g)
    return {"moved": fn(z, U, fixed_path, y, centre), "moved_number": fn(z, U, fixed_path, 150.0, centre)}


def _loss_inputs(seed: int) -> tuple[torch.Tensor, ...]:
    g = _generator(seed)
    return (torch.rand(4, 6, F, generator=g) * 3, torch.randn(4, 6, F, generator=g),
            torch.randn(4, 6, Z, generator=g), torch.randn(4, 6, Z, generator=g))


def probe_beta_elbo(fn) -> dict:
    x, eta, mean, logvar = _loss_inputs(8)
    found = {}
    for key, args, beta in (("b05", (x, eta, mean, logvar), 0.5), ("b4", (x, eta, mean, logvar), 4.0),
                            ("b4_frames", (x.reshape(24, F), eta.reshape(24, F), mean.reshape(24, Z),
                                           logvar.reshape(24, Z)), 4.0)):
        loss, recon, kl = fn(*args, beta=beta)
        for name, value in (("loss", loss), ("recon", recon), ("kl", kl)):
            found[f"{name}_{key}"] = torch.as_tensor(value).detach().double()
    eta, mean = eta.clone().requires_grad_(), mean.clone().requires_grad_()
    loss = fn(x, eta, mean, logvar, beta=4.0)[0]
    if isinstance(loss, torch.Tensor) and loss.requires_grad:
        loss.backward()
    found["gradients"] = eta.grad is not None and mean.grad is not None
    return found


def probe_mmd(fn) -> dict:
    g = _generator(9)
    a, b = torch.randn(50, Z, generator=g) * 1.3 + 0.4, torch.randn(40, Z, generator=g)
    found = {kernel: torch.as_tensor(fn(a, b, kernel)).detach().double() for kernel in ("rbf", "imq")}
    found["default"] = torch.as_tensor(fn(a, b)).detach().double()
    try:
        fn(a, b, "cosine")
        found["unknown_kernel"] = "no error"
    except ValueError:
        found["unknown_kernel"] = "ValueError"
    except Exception as err:  # another error type: named in the feedback
        found["unknown_kernel"] = type(err).__name__
    return found


def probe_lerp(fn) -> dict:
    g = _generator(10)
    z0, z1 = torch.randn(Z, generator=g), torch.randn(Z, generator=g)
    return {"path": fn(z0, z1, torch.linspace(0, 1, 7))}


def probe_slerp(fn) -> dict:
    g = _generator(11)
    z0, z1 = torch.randn(Z, generator=g), torch.randn(Z, generator=g)
    t = torch.linspace(0, 1, 9)
    axis = torch.zeros(Z)
    axis[0] = 1.0  # exactly parallel codes: the cosine is exactly 1, sin(omega) exactly 0
    return {"path": fn(z0, z1, t), "unit_path": fn(z0 / z0.norm(), z1 / z1.norm(), t),
            "parallel": fn(3 * axis, 5 * axis, t)}


PROBES = {f"test_{fn.__name__.removeprefix('probe_')}": fn for fn in (
    probe_latent_subspace, probe_subspace_alignment, probe_fit_factor_path, probe_move_factor,
    probe_beta_elbo, probe_mmd, probe_lerp, probe_slerp)}


def probe(student: dict, reference: dict) -> dict[str, dict]:
    """{test id: probe} on the functions of the submission's namespace `student`.

    Each function is probed alone, on fixed inputs, with the reference's other functions
    standing in for the student's while it runs (a slerp that falls back on the student's own
    lerp is judged on its own code, not on that lerp).
    """
    def call(test: str, name: str):
        def run():
            if not callable(student.get(name)):
                raise NotImplementedError(f"{name} is not defined")
            others = [f for f in FUNCTIONS if f != name]
            saved = {f: student[f] for f in others if f in student}
            student.update({f: reference[f] for f in others})
            try:
                return PROBES[test](student[name])
            finally:
                for f in others:
                    if f in saved:
                        student[f] = saved[f]
                    else:
                        del student[f]
        return run

    return {test: call(test, test.removeprefix("test_")) for test in PROBES}


# --- judges of the functions: the student's probe against the reference's ---------------------

def _tensor(found: dict, key: str) -> torch.Tensor | None:
    value = found.get(key)
    return value if isinstance(value, torch.Tensor) else None


def _same(found: dict, ref: dict, key: str, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    mine, want = _tensor(found, key), _tensor(ref, key)
    return mine is not None and want is not None and mine.shape == want.shape and \
        bool(torch.isfinite(mine).all()) and torch.allclose(mine.double(), want.double(), rtol=rtol, atol=atol)


def _projector(U: torch.Tensor) -> torch.Tensor:
    U = U.double()
    return U @ U.T


def judge_latent_subspace(mine: dict, ref: dict) -> list[Check]:
    def shaped(suffix: str) -> bool:
        U = _tensor(mine, "U" + suffix)
        return U is not None and isinstance(mine.get("M" + suffix), int) and U.shape == (Z, mine["M" + suffix])

    orthonormal = all(shaped(s) and torch.allclose(mine["U" + s].double().T @ mine["U" + s].double(),
                                                   torch.eye(mine["M" + s], dtype=torch.float64), atol=1e-4)
                      for s in ("", "_95"))
    counts = all(mine.get("M" + s) == ref["M" + s] for s in ("", "_95"))
    leading = all(shaped(s) for s in ("", "_95"))
    for s in ("", "_95"):
        if leading:
            k = min(mine["M" + s], ref["M" + s])
            leading = torch.allclose(_projector(mine["U" + s][:, :k]), _projector(ref["U" + s][:, :k]), atol=1e-3)
    if not leading and all(shaped(s) for s in ("", "_95")):
        hint = ("the directions differ from the principal components of the centred codes: are the codes "
                "centred first, and the eigenvectors taken with the largest eigenvalues first "
                "(torch.linalg.eigh sorts them in ascending order)?")
    else:
        hint = "U should be (Z, M), its columns the leading eigenvectors of the covariance."
    return [
        Check(1, orthonormal, "U is (Z, M) with orthonormal columns",
              "U should be a (Z, M) tensor with orthonormal columns (eigenvectors as columns, not rows) "
              "and M a Python int."),
        Check(1, counts, "M keeps the requested share of the variance",
              f"for the grader's codes M should be {ref['M']} at 0.8 and {ref['M_95']} at 0.95, got "
              f"{mine.get('M')} and {mine.get('M_95')}: M is the smallest number of leading eigenvalues "
              "whose sum reaches the share of the total (>=, largest eigenvalues first)."),
        Check(1, leading, "the columns are the leading principal directions", hint),
    ]


def judge_subspace_alignment(mine: dict, ref: dict) -> list[Check]:
    dots = _tensor(mine, "dots")
    shape = "nothing" if dots is None else tuple(dots.shape)
    return [Check(1, _same(mine, ref, "dots"), "the dot products of every pair of basis vectors",
                  f"for U_i (16, 3) and U_j (16, 2) the result should be the 3 x 2 matrix U_i^T U_j with its "
                  f"signs, got {shape}.")]


def judge_fit_factor_path(mine: dict, ref: dict) -> list[Check]:
    number = _tensor(mine, "number")
    shapes = _tensor(mine, "inside") is not None and mine["inside"].shape == (23, 3) and \
        number is not None and number.shape == (1, 3)
    fits = _same(mine, ref, "inside", rtol=1e-3, atol=1e-3) and _same(mine, ref, "knots5", rtol=1e-3, atol=1e-3)
    outside, ends = _tensor(mine, "outside"), _tensor(mine, "ends")
    clamped = outside is not None and ends is not None and outside.shape == ends.shape and \
        torch.allclose(outside.double(), ends.double(), rtol=1e-4, atol=1e-4)
    return [
        Check(1, shapes, "g(values) is (K, M), and (1, M) for one number",
              "g should return (K, M) for K values and (1, M) for a single number."),
        Check(1, fits, "the path is the least-squares piecewise-linear fit",
              "on the grader's data the path differs from the least-squares fit with n_knots knots evenly "
              "spaced from min(y) to max(y) and hat basis functions: is it one straight line, averages per "
              "bin, or knots placed elsewhere (or n_knots ignored)?"),
        Check(1, clamped, "outside the data's range the path stays at its end values",
              "g below min(y) should equal g(min(y)), and above max(y) g(max(y)): clamp the values "
              "before evaluating the hats."),
    ]


def judge_move_factor(mine: dict, ref: dict) -> list[Check]:
    return [
        Check(1, _same(mine, ref, "moved"), "the subspace coordinates are replaced by g(y), the rest kept",
              "the moved codes differ from z - U U^T (z - centre) + U g(y): are the old coordinates removed "
              "(not only g(y) added), and measured from the centre?"),
        Check(1, _same(mine, ref, "moved_number"), "one target value for every code",
              "with y a single number every code should move to that value (g(y) is (1, M): broadcast it)."),
    ]


def judge_beta_elbo(mine: dict, ref: dict) -> list[Check]:
    def value(found: dict, key: str) -> float:
        v = _tensor(found, key)
        return float(v) if v is not None and v.numel() == 1 else math.nan

    terms = all(_same(mine, ref, f"{t}_{k}", rtol=1e-5, atol=1e-4) for t in ("recon", "kl") for k in ("b05", "b4"))
    loss = all(_same(mine, ref, f"loss_{k}", rtol=1e-5, atol=1e-4) for k in ("b05", "b4"))
    frames = all(_same(mine, {f"{t}_b4_frames": mine.get(f"{t}_b4")}, f"{t}_b4_frames", rtol=1e-5, atol=1e-4)
                 for t in ("loss", "recon", "kl")) and mine.get("gradients") is True
    # The likely mistake in a term, from the same ladder as the self-checks (probe: 24 frames).
    causes = {"recon": recon_mistake(value(mine, "recon_b05"), value(ref, "recon_b05"), frames=24, bins=F),
              "kl": kl_mistake(value(mine, "kl_b05"), value(ref, "kl_b05"), frames=24, dims=Z)}
    return [
        Check(1, terms, "recon and kl match the reference and do not depend on beta",
              "recon = sum over bins of [log(pi) + eta + x^2 exp(-eta)] and kl = -1/2 sum over units of "
              "(1 + logvar - mean^2 - exp(logvar)), each averaged over frames and free of beta."
              + "".join(f" Likely mistake in {term}: {cause}" for term, cause in causes.items() if cause)),
        Check(1, loss, "loss = recon + beta * kl",
              "the loss should weigh the KL term only: recon + beta * kl."),
        Check(1, frames, "the same values for (B, T, .) and (N, .) inputs, and gradients flow",
              "a (4, 6, .) batch and the same 24 frames as (24, .) should give the same values (average "
              "over every frame, sum over the last dimension), and the loss must pass gradients to eta "
              "and mean (torch operations only: no .detach(), .item() or numpy)."
              if mine.get("gradients") is True else
              "no gradient reaches eta or mean through the loss: compute it with torch operations on the "
              "tensors (no .detach(), .item(), numpy or torch.no_grad())."),
    ]



def judge_mmd(mine: dict, ref: dict) -> list[Check]:
    rbf, imq = _same(mine, ref, "rbf", 1e-4, 1e-6), _same(mine, ref, "imq", 1e-4, 1e-6)
    swapped = _same({"rbf": mine.get("imq")}, ref, "rbf", 1e-4, 1e-6)
    hint = (" The two kernels look swapped." if swapped else
            " Check the unbiased sums (leave out i = i' and j = j'), the squared distance and C = 2 Z.")
    return [
        Check(1, rbf and _same(mine, ref, "default", 1e-4, 1e-6), "the RBF estimate matches the reference",
              "mmd(a, b, 'rbf') (also the default) differs from the unbiased estimate with k = exp(-d^2 / C)." + hint),
        Check(1, imq, "the IMQ estimate matches the reference",
              "mmd(a, b, 'imq') differs from the unbiased estimate with k = C / (C + d^2)." + hint),
        Check(1, mine.get("unknown_kernel") == "ValueError", "an unknown kernel is a ValueError",
              f"mmd(a, b, 'cosine') should raise ValueError; it gave {mine.get('unknown_kernel')!r}."),
    ]


def judge_lerp(mine: dict, ref: dict) -> list[Check]:
    return [Check(1, _same(mine, ref, "path"), "(1 - t) z0 + t z1 for every t",
                  "lerp should start at z0 (t = 0), end at z1 (t = 1) and return (S, Z) for t of shape (S,).")]


def judge_slerp(mine: dict, ref: dict) -> list[Check]:
    arcs = _same(mine, ref, "path", 1e-4, 1e-5) and _same(mine, ref, "unit_path", 1e-4, 1e-5)
    parallel = _same(mine, ref, "parallel", 1e-4, 1e-5)
    return [
        Check(1, arcs, "the arc between the two codes, unit norm for unit codes",
              "slerp should follow sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1 with "
              "omega the angle between the normalised codes; for unit codes every point has norm 1."),
        Check(1, parallel, "parallel codes give the straight line, no NaN",
              "for parallel codes (omega = 0) sin(omega) is 0: clamp the cosine to [-1, 1] and fall back to "
              "linear interpolation."),
    ]


# --- judges of the results: the notebook's records against the bands ------------------------

def judge_subspaces(record: dict | None, bands: dict) -> list[Check]:
    record = record or {}
    dims = record.get("dims") or {}
    dims_ok = all(dims.get(f) == bands["dims"][f] for f in FACTORS)
    # The largest |dot product| is judged only between subspaces of the reference's sizes: the
    # reference's own is near 1 (0.95 with the shipped model), and so is any pair of larger
    # subspaces of a 16-D latent, so a wrong basis of the wrong size could land in the band by
    # chance, on one machine and not on another.
    largest_ok = dims_ok and within_band(record.get("largest"), bands["largest"])
    matrices_ok = dims_ok
    for pair, want in bands["alignment"].items():
        found = finite_numbers((record.get("alignment") or {}).get(pair), np.shape(want))
        matrices_ok = matrices_ok and found is not None and \
            np.allclose(np.abs(found), np.abs(want), atol=bands["alignment_atol"])
    return [
        Check(1, dims_ok, "M per factor matches the reference",
              f"M per factor is {[dims.get(f) for f in FACTORS]}; the reference gives "
              f"{[bands['dims'][f] for f in FACTORS]} on this course's sweeps (see latent_subspace)."),
        Check(1, largest_ok, "the largest |dot product| between subspaces is in the reference's band",
              f"largest |dot product| {shown_number(record.get('largest'), '.3g')}, band "
              f"{bands['largest'][0]:.3f} to "
              f"{bands['largest'][1]:.3f}" + ("." if dims_ok else " (judged only when M per factor matches: "
                                               "larger subspaces of 16 dimensions always overlap).")),
        Check(1, matrices_ok, "every pair's dot products match the reference (up to sign)",
              "the alignment matrices differ from the reference's: they follow from latent_subspace and "
              "subspace_alignment."),
    ]


#: A factor's moves are judged on their own error only when the reference's measured values follow
#: the targets at least this well: otherwise the decoder does not render that factor measurably
#: (a decoder without harmonics puts f0 measured on its output at the same floor whether a move
#: is right or wrong), and the error would judge noise.
FOLLOWS_TARGETS = 0.8


def judged_factors(bands: dict) -> list[str]:
    """The moved factors whose error and correlation are judged: F1 always, f0 when it is rendered."""
    return [f for f in ("f0", "f1") if f == "f1" or bands[f].get("reference_correlation", 0.0) >= FOLLOWS_TARGETS]


def judge_moves(record: dict | None, bands: dict) -> list[Check]:
    """The moves of F1, and of f0 when the reference's f0 moves follow their targets (judged_factors),
    are judged on their error and on how the measured values follow the targets; both moves on how
    much they disturb the other factors."""
    record = record or {}

    def value(factor: str, key: str):
        return (record.get(factor) or {}).get(key)

    judged = judged_factors(bands)
    names = " and ".join({"f0": "f0", "f1": "F1"}[f] for f in judged)
    others = [((record.get(f) or {}).get("others") or {}).get(o) for f in ("f0", "f1") for o in FACTORS if o != f]
    others_band = [bands[f]["others"][o] for f in ("f0", "f1") for o in FACTORS if o != f]
    # Moves are judged only through subspaces of the reference's sizes: through others (the
    # eigenvectors of the smallest eigenvalues, say, nearly degenerate and so different from one
    # machine's linear algebra to another's) their numbers may land anywhere, in a band by chance.
    sized = all(value(f, "M") == bands["dims"][f] for f in ("f0", "f1"))
    unsized = "" if sized else (
        f" The moves went through subspaces of M = {value('f0', 'M')} (f0) and {value('f1', 'M')} (F1); the "
        f"reference's have {bands['dims']['f0']} and {bands['dims']['f1']}: they are judged only through "
        "subspaces of its sizes (see latent_subspace).")
    return [
        Check(1, sized and all(within_band(value(f, "error"), bands[f]["error"]) for f in judged),
              f"moving {names} lands as close as the reference's",
              "median relative error of the moves: " + ", ".join(
                  f"{f} {shown_number(value(f, 'error'), '.3g')} (band {bands[f]['error'][0]:.3f} to "
                  f"{bands[f]['error'][1]:.3f})"
                  for f in judged) + " (see move_factor and fit_factor_path)." + unsized),
        Check(1, sized and all(within_band(value(f, "correlation"), bands[f]["correlation"]) for f in judged),
              f"the measured {names} follow the targets as with the reference",
              "correlation of the measured values with their targets: " + ", ".join(
                  f"{f} {shown_number(value(f, 'correlation'), '.3g')} (band {bands[f]['correlation'][0]:.3f} to "
                  f"{bands[f]['correlation'][1]:.3f})" for f in judged)
              + ": a move that adds g(y) without removing the old coordinates, or measures them from the wrong "
                "centre, loses it." + unsized),
        Check(1, sized and all(within_band(v, b) for v, b in zip(others, others_band)),
              "the other factors move as little as with the reference",
              "how much the other factors moved differs from the reference's moves: "
              + ", ".join(f"{shown_number(v, '.3g')} (band {b[0]:.3f} to {b[1]:.3f})"
                          for v, b in zip(others, others_band)) + "."
              + unsized),
    ]


def judge_beta(record: dict | None, bands: dict) -> list[Check]:
    record = record or {}
    curves = record.get("curves") or {}

    def final(name: str, term: str):
        values = finite_numbers((curves.get(name) or {}).get(term), (bands["epochs"],))
        return None if values is None else float(values[-1])

    recon = {n: final(n, "recon") for n in SETTINGS}
    kl = {n: final(n, "kl") for n in SETTINGS}
    active = record.get("active") or {}
    return [
        Check(1, all(within_band(recon[n], bands["recon"][n]) for n in SETTINGS),
              "the final reconstruction of each setting is in the reference's band",
              "final train recon: " + ", ".join(f"{n} {shown_number(recon[n], '.3g')} (band "
                                                f"{bands['recon'][n][0]:.1f} to {bands['recon'][n][1]:.1f})"
                                                for n in SETTINGS) + "."),
        Check(1, all(within_band(kl[n], bands["kl"][n]) for n in SETTINGS),
              "the final KL term of each setting is in the reference's band",
              "final train KL: " + ", ".join(f"{n} {shown_number(kl[n], '.3g')} (band {bands['kl'][n][0]:.2f} to "
                                             f"{bands['kl'][n][1]:.2f})" for n in SETTINGS)
              + ". The KL's weight is beta (beta_elbo), rising from 0 in the warm-up."),
        Check(1, all(within_band(active.get(n), bands["active"][n]) for n in SETTINGS),
              "the active units of each setting are in the reference's range",
              "active units: " + ", ".join(f"{n} {active.get(n)} (reference {bands['active'][n][0]:g} to "
                                           f"{bands['active'][n][1]:g})" for n in SETTINGS) + "."),
    ]


def judge_wae(record: dict | None, bands: dict) -> list[Check]:
    record = record or {}
    recon = finite_numbers(record.get("recon"), (bands["epochs"],))
    penalty = finite_numbers(record.get("mmd"), (bands["epochs"],))
    final_recon = None if recon is None else float(recon[-1])
    final_mmd = None if penalty is None else float(penalty[-1])
    return [
        Check(1, within_band(final_recon, bands["recon"]), "the WAE's final reconstruction is in the reference's band",
              f"final train recon of the WAE {shown_number(final_recon, '.3g')}, band {bands['recon'][0]:.1f} to "
              f"{bands['recon'][1]:.1f}."),
        Check(1, within_band(final_mmd, bands["mmd"]), "the WAE's final MMD term is in the reference's band",
              f"final MMD term of the WAE {shown_number(final_mmd, '.3g')}, band {bands['mmd'][0]:.4f} to "
              f"{bands['mmd'][1]:.4f} "
              "(see mmd: the IMQ kernel, unbiased)."),
    ]


JUDGES = {"test_latent_subspace": judge_latent_subspace, "test_subspace_alignment": judge_subspace_alignment,
          "test_fit_factor_path": judge_fit_factor_path, "test_move_factor": judge_move_factor,
          "test_beta_elbo": judge_beta_elbo, "test_mmd": judge_mmd, "test_lerp": judge_lerp,
          "test_slerp": judge_slerp, "test_subspaces": judge_subspaces, "test_moves": judge_moves,
          "test_beta": judge_beta, "test_wae": judge_wae}


# --- bands: from reference runs on the course's data, on the grading machine ----------------

def _spread_band(values, floor: float, spreads: float = 4.0) -> list[float]:
    """A band [low, high] over all the runs, not centred on any. `values`: (S,) the same number
    from runs that differ only by their seed (the reference's among them); the band goes from
    the lowest to the highest, widened on each side by max(`spreads` std over the runs, `floor`)."""
    values = np.asarray(values, dtype=float)
    width = max(spreads * float(values.std()), floor)
    return [float(values.min()) - width, float(values.max()) + width]


def spread_runs(namespace: dict, speakers: dict, extra_seeds: tuple[int, ...] = (1, 2)) -> dict:
    """Part 2's runs repeated with `extra_seeds` for the bands' spread, as the notebook makes them
    (its SETTINGS, EPOCHS of training on A+B), side by side where the machine allows
    (`train_runs`): they need nothing of the reference run, so `vaelab grade bands` makes them
    beside it. {"epochs", "beta": {setting: {"recon", "kl", "active"}: [one value per seed]},
    "wae": {"recon", "mmd": [...]}}."""
    from vaelab_core.datasets import concat
    from vaelab_core.training import Run, new_model, train_runs

    joint = concat(speakers["A"], speakers["B"], name="A+B")
    beta_vae, wae_class, active_units = namespace["BetaVAE"], namespace["WAE"], namespace["active_units"]
    models = {}
    for seed in extra_seeds:
        for name, setting in namespace["SETTINGS"].items():
            models[seed, name] = new_model(lambda: beta_vae(**setting), seed=seed)
        models[seed, "WAE"] = new_model(wae_class, seed=seed)
    histories = train_runs({(seed, name): Run(model, joint, {"epochs": EPOCHS, "seed": seed, "progress": False})
                            for (seed, name), model in models.items()}, desc="spread")
    beta = {n: {"recon": [], "kl": [], "active": []} for n in SETTINGS}
    wae = {"recon": [], "mmd": []}
    for seed in extra_seeds:
        for name in namespace["SETTINGS"]:
            beta[name]["recon"].append(histories[seed, name]["train"]["recon"][-1])
            beta[name]["kl"].append(histories[seed, name]["train"]["kl"][-1])
            beta[name]["active"].append(active_units(models[seed, name], joint.train))
        wae["recon"].append(histories[seed, "WAE"]["train"]["recon"][-1])
        wae["mmd"].append(histories[seed, "WAE"]["train"]["kl"][-1])
    return {"epochs": EPOCHS, "beta": beta, "wae": wae}


def make_bands(records: dict, namespace: dict, speakers: dict, spread: dict) -> dict:
    """Bands from the reference notebook's records on the course's data, and part 2's runs with
    other seeds (`spread_runs`), the reference's value first in each spread.

    Part 1 uses no training: the same code on the same sweeps and weights gives the same
    numbers, so its bands only absorb floating-point differences. Part 2's widths come from the
    spread over seeds (the notebook's seed 0 and the spread runs'), with a floor.
    """
    subspaces, moves = records["test_subspaces"], records["test_moves"]
    bands = {"test_subspaces": {"dims": subspaces["dims"], "alignment": subspaces["alignment"],
                                "alignment_atol": 0.02,
                                "largest": [subspaces["largest"] - 0.02, subspaces["largest"] + 0.02]},
             "test_moves": {f: {"error": [max(0.0, moves[f]["error"] - max(0.01, 0.15 * moves[f]["error"])),
                                          moves[f]["error"] + max(0.01, 0.15 * moves[f]["error"])],
                                "correlation": [moves[f]["correlation"] - 0.1, moves[f]["correlation"] + 0.1],
                                "reference_correlation": moves[f]["correlation"],
                                "others": {o: [max(0.0, v - max(0.01, 0.15 * v)), v + max(0.01, 0.15 * v)]
                                           for o, v in moves[f]["others"].items()}} for f in ("f0", "f1")}}
    bands["test_moves"]["dims"] = {f: subspaces["dims"][f] for f in ("f0", "f1")}

    epochs = records["test_beta"]["epochs"]  # the notebook's EPOCHS, the same for the WAE
    if {epochs, records["test_wae"]["epochs"]} != {spread["epochs"]}:
        raise VaelabError(f"the reference notebook trained {epochs} epochs (the WAE {records['test_wae']['epochs']}), "
                          f"the spread runs of solutions/latent_space/grading.py {spread['epochs']}: make "
                          "grading.py's EPOCHS the notebook's.")
    curves, active = records["test_beta"]["curves"], records["test_beta"]["active"]
    beta = spread["beta"]
    recon = {n: [curves[n]["recon"][-1], *beta[n]["recon"]] for n in SETTINGS}
    kl = {n: [curves[n]["kl"][-1], *beta[n]["kl"]] for n in SETTINGS}
    units = {n: [active[n], *beta[n]["active"]] for n in SETTINGS}
    wae_recon = [records["test_wae"]["recon"][-1], *spread["wae"]["recon"]]
    wae_mmd = [records["test_wae"]["mmd"][-1], *spread["wae"]["mmd"]]
    bands["test_beta"] = {
        "recon": {n: _spread_band(v, 0.01 * abs(float(np.mean(v)))) for n, v in recon.items()},
        "kl": {n: _spread_band(v, max(0.5, 0.1 * abs(float(np.mean(v))))) for n, v in kl.items()},
        # centred on the reference run (the first of each list), as wide as the farthest seed and one unit
        # more: a correct run on another machine is another seed, whichever side of the reference it falls
        "active": {n: [v[0] - max(abs(u - v[0]) for u in v) - 1, v[0] + max(abs(u - v[0]) for u in v) + 1]
                   for n, v in units.items()},
        "epochs": epochs,
    }
    bands["test_wae"] = {"recon": _spread_band(wae_recon, 0.01 * abs(float(np.mean(wae_recon)))),
                         "mmd": _spread_band(wae_mmd, max(0.002, 0.25 * abs(float(np.mean(wae_mmd))))),
                         "epochs": epochs}
    bands["spread"] = {"beta_recon": recon, "beta_kl": kl, "active_units": units, "wae_recon": wae_recon,
                       "wae_mmd": wae_mmd}
    return bands


def summary(results: dict) -> str:
    """The demo's printout of this lab's results.json, beside the seed's figures."""
    seed = results["seed_reported"]
    sub = results["subspaces"]
    lines = [f"  M per factor (f0, F1, F2, F3): ours {[sub['M'][f] for f in FACTORS]}, the seed's "
             f"{[seed['M'][f] for f in FACTORS]}",
             f"  largest |dot product| between subspaces: ours {sub['largest_alignment']:.2f}, the seed's "
             f"{seed['largest_alignment']}",
             *(f"  moving {name}: median error {results['moves'][f]['error']:.1%} (floor, decoding the sweep's "
               f"own codes: {results['moves'][f]['baseline']:.1%}); correlation with the targets "
               f"{results['moves'][f]['correlation']:.2f}" for f, name in (("f0", "f0"), ("f1", "F1")))]
    usage = results["usage"]
    lines.append(f"  the pre-trained model: {usage['active_units']} active units of 16; KL per unit, largest first: "
                 + " ".join(f"{v:.1f}" for v in sorted(usage["kl_per_unit"], reverse=True)))
    for name, row in results["beta"].items():
        lines.append(f"  {name:>12}: recon {row['recon']:8.1f}  KL {row['kl']:6.2f}  active units {row['active_units']}")
    wae = results["wae"]
    lines.append("  WAE against VAE beta=1, recon per eval frame decoding the mean: "
                 + ", ".join(f"{k} {v:.1f}" for k, v in wae["eval_recon"].items())
                 + "; MMD to the prior: " + ", ".join(f"{k} {v:.4f}" for k, v in wae["prior_mmd"].items()))
    lines.append(f"  notebook time: {results['seconds']:.0f} s")
    return "\n".join(lines)
