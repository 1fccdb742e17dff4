"""Example submissions of latent_space, each with the scores the grader must give it.

Instructor-only (they hold the solution): made from the student notebook of the release by
writing the function cells into it, and graded by `vaelab demo`, the end-to-end tests and the
grading benchmark. The correct functions are read from the solution notebook beside this file;
each mistake is an edit of one of them, the kind a student makes. A submission may carry
several mistakes in different functions: the hidden tests probe each function alone, so each
costs its own part (and the results that depend on it).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grader.kit.cell_examples import Example, SolutionCells

#: The eight function tests and the four result tests, with their points in the notebook.
POINTS = {"test_latent_subspace": 3, "test_subspace_alignment": 1, "test_fit_factor_path": 3,
          "test_move_factor": 2, "test_beta_elbo": 3, "test_mmd": 3, "test_lerp": 1, "test_slerp": 2,
          "test_subspaces": 3, "test_moves": 3, "test_beta": 3, "test_wae": 2}
FUNCTIONS = ("latent_subspace", "subspace_alignment", "fit_factor_path", "move_factor", "beta_elbo", "mmd",
             "lerp", "slerp")


LAB = SolutionCells(Path(__file__).with_name("latent_space.ipynb"), FUNCTIONS, POINTS)
#: grade id -> the solution's source of each cell a student writes, markers dropped
SOLUTION = LAB.solution

#: The same functions written another way: SVD, pinv, cdist, explicit loops.
VARIANTS = {
    "latent_subspace": '''def latent_subspace(z, variance=0.8):
    centred = z - z.mean(0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    energy = singular ** 2
    kept = torch.cumsum(energy, 0) / energy.sum()
    M = int(torch.searchsorted(kept, torch.tensor(variance, dtype=kept.dtype))) + 1
    return vh[:M].T, M
''',
    "fit_factor_path": '''def fit_factor_path(y, coords, n_knots=8):
    lo, hi = float(y.min()), float(y.max())
    knots = torch.linspace(lo, hi, n_knots)
    step = (hi - lo) / (n_knots - 1)

    def basis(v):
        v = torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1).clamp(lo, hi)
        return torch.relu(1 - torch.abs(v - knots) / step)

    w = torch.linalg.pinv(basis(y)) @ coords
    def g(values):
        return basis(values) @ w
    return g
''',
    "mmd": '''def mmd(a, b, kernel="rbf"):
    c = 2.0 * a.shape[1]
    kernels = {"rbf": lambda d2: torch.exp(-d2 / c), "imq": lambda d2: c / (c + d2)}
    if kernel not in kernels:
        raise ValueError("unknown kernel " + str(kernel))
    k = kernels[kernel]
    n, m = a.shape[0], b.shape[0]
    kaa = k(torch.cdist(a, a) ** 2) * (1 - torch.eye(n))
    kbb = k(torch.cdist(b, b) ** 2) * (1 - torch.eye(m))
    return kaa.sum() / (n * (n - 1)) + kbb.sum() / (m * (m - 1)) - 2 * k(torch.cdist(a, b) ** 2).mean()
''',
}


_full = LAB.full  # the expected scores: full points except where given
_edit = LAB.edit  # {cell: the solution's source with one edit}


EXAMPLES = {
    "correct": Example("the reference solution", {}, _full()),
    "variants": Example("correct, written another way (SVD, pinv, cdist)", VARIANTS, _full()),
    "ascending": Example(
        "latent_subspace: the eigenvectors of the smallest eigenvalues (eigh's order kept); "
        "subspace_alignment: absolute values; fit_factor_path: one straight line; lerp reversed",
        {**_edit("latent_subspace", "descending=True", "descending=False"),
         **_edit("subspace_alignment", "return U_i.T @ U_j", "return (U_i.T @ U_j).abs()"),
         **_edit("fit_factor_path", "torch.linspace(float(y.min()), float(y.max()), n_knots, dtype=coords.dtype)",
                 "torch.linspace(float(y.min()), float(y.max()), 2, dtype=coords.dtype)"),
         **_edit("lerp", "(1 - t) * z0 + t * z1", "t * z0 + (1 - t) * z1")},
        # its subspaces have other sizes than the reference's: part 1's results are not judged through them
        _full(test_latent_subspace=1, test_subspace_alignment=0, test_fit_factor_path=2, test_lerp=0,
              test_subspaces=0, test_moves=0)),
    "additive": Example(
        "move_factor: g(y) added without removing the old coordinates; beta on the reconstruction; "
        "mmd: the biased estimate; slerp: no fallback for parallel codes",
        {**_edit("move_factor", "z - (z - centre) @ U @ U.T + g(y) @ U.T", "z + g(y) @ U.T"),
         **_edit("beta_elbo", "recon + beta * kl", "beta * recon + kl"),
         **_edit("mmd", "(k_aa.sum() - k_aa.diagonal().sum()) / (n * (n - 1))", "k_aa.mean()"),
         **_edit("mmd", "(k_bb.sum() - k_bb.diagonal().sum()) / (m * (m - 1))", "k_bb.mean()"),
         **_edit("slerp", "    if torch.sin(omega).abs() < 1e-6:\n        return lerp(z0, z1, t)\n", "")},
        # The WAE trained on the biased MMD stays inside the reference's bands: its own test catches it.
        # The additive move misses F1 (and f0) and disturbs the other factors far less than the
        # reference's move does with the shipped model: all three checks of test_moves fail.
        _full(test_move_factor=0, test_beta_elbo=2, test_mmd=1, test_slerp=1, test_moves=0, test_beta=0)),
    "blank": Example("the release notebook as handed out, nothing filled in", {},
                     {test: 0 for test in POINTS}, answers=False),
}


def make_submission(release: nbformat.NotebookNode, example: Example) -> nbformat.NotebookNode:
    """The student notebook of the release with the example's cells filled in."""
    return LAB.fill(release, example)

#: What `vaelab demo` grades by default when it grades this lab: a correct submission and its two
#: typical mistakes.
DEMO_EXAMPLES = ("correct", "ascending", "additive")
