"""Public checks of latent_space's results: checked here, recorded for the grader.

Each check first records the notebook's numbers (`vaelab_core.records`) in the cell that calls
it, then checks what can be checked without a reference and says what looks wrong. The grader
judges the records against bands made from the reference notebook on the grading machine.
"""

from __future__ import annotations

import math

import numpy as np

from vaelab_core import spec
from vaelab_core.checking import fail
from vaelab_core.datasets import SWEEP_FACTORS as FACTORS
from vaelab_core.records import finite_numbers, plain, record

#: The names of part 2's settings, in the notebook's order (its SETTINGS; the grader's bands).
BETA_SETTINGS = ("beta=0.5", "beta=1", "beta=4", "warm-up", "warm-up to 4")


def check_subspaces(dims: dict, alignment: dict) -> None:
    """Part 1: M_i per factor and the dot products between the subspaces of each pair."""
    part = "subspaces"
    matrices = {str(pair): plain(dots) for pair, dots in alignment.items()}
    cross = [abs(v) for m in matrices.values() if m is not None for v in np.ravel(m)]
    record("test_subspaces", dims={str(f): dims.get(f) for f in FACTORS}, alignment=matrices,
           largest=max(cross) if cross else None)
    for factor in FACTORS:
        m = dims.get(factor)
        if not isinstance(m, int) or not 1 <= m <= spec.LATENT_DIM:
            fail(part, f"M for {factor} should be a whole number of components from 1 to "
                       f"{spec.LATENT_DIM}, got {m!r}: see latent_subspace.")
    pairs = [f"{a}-{b}" for i, a in enumerate(FACTORS) for b in FACTORS[i + 1:]]
    for pair in pairs:
        a, b = pair.split("-")
        found = matrices.get(pair)
        if found is None or np.shape(found) != (dims[a], dims[b]):
            fail(part, f"alignment[{pair!r}] should be a {dims[a]} x {dims[b]} matrix (M of {a} by M of "
                       f"{b}), got {None if found is None else np.shape(found)}: see subspace_alignment.")
    if max(cross) > 1 + 1e-4:
        fail(part, f"a dot product between unit basis vectors is {max(cross):.3f}, above 1: are the "
                   "columns of U unit vectors (eigenvectors), and is the alignment U_i^T U_j?")
    print(f"✓ subspaces: M = {[dims[f] for f in FACTORS]} for {', '.join(FACTORS)}; largest |dot product| "
          f"between two factors {max(cross):.2f}")


def check_moves(moves: dict) -> None:
    """Part 1: moving f0 and F1 along their paths, measured on the decoded spectra."""
    part = "moves"

    def number(value):
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    summary = {f: {"M": moves.get(f, {}).get("M"),  # the size of the subspace the factor was moved in
                   "error": number(moves.get(f, {}).get("error")),
                   "baseline": number(moves.get(f, {}).get("baseline")),
                   "correlation": number(moves.get(f, {}).get("correlation")),
                   "others": {o: number(v) for o, v in (moves.get(f, {}).get("others") or {}).items()}}
               for f in ("f0", "f1")}
    record("test_moves", **summary)
    for factor, result in summary.items():
        if result["error"] is None or result["correlation"] is None:
            fail(part, f"the move of {factor} has no finite median error: did move_factor return codes "
                       "of shape (N, Z), and fit_factor_path a path g(y) of shape (N, M)?")
        if set(result["others"]) != set(FACTORS) - {factor} or None in result["others"].values():
            fail(part, f"the move of {factor} should measure how much each other factor moved.")
        if result["error"] > 0.5:
            fail(part, f"moving {factor} misses its targets by {result['error']:.0%} (median): the moved codes "
                       "do not carry the target values. Check move_factor (the old coordinates removed, "
                       "measured from the centre) and fit_factor_path.")
    print(f"✓ moves: median error f0 {summary['f0']['error']:.1%}, F1 {summary['f1']['error']:.1%}")


def check_beta_runs(runs: dict, active: dict, epochs: int, unit_kl: dict | None = None) -> None:
    """Part 2: the beta settings, their curves, active units and (if given) the KL of each unit."""
    part = "beta"
    unit_kl = unit_kl or {}
    curves = {name: {t: (runs.get(name) or {}).get("train", {}).get(t) for t in ("recon", "kl")}
              for name in BETA_SETTINGS}
    record("test_beta", epochs=epochs, curves=curves, active={n: active.get(n) for n in BETA_SETTINGS},
           unit_kl={n: plain(unit_kl.get(n)) for n in BETA_SETTINGS})
    for name in BETA_SETTINGS:
        for term, values in curves[name].items():
            if finite_numbers(values, (epochs,)) is None:
                fail(part, f"{name}: expected {epochs} finite epochs of train {term}; did its run finish?")
        units = active.get(name)
        if not isinstance(units, int) or not 0 <= units <= spec.LATENT_DIM:
            fail(part, f"{name}: the active units should be a count from 0 to {spec.LATENT_DIM}, got {units!r}.")
    if not curves["beta=4"]["kl"][-1] < curves["beta=0.5"]["kl"][-1]:
        fail(part, "the KL term with beta = 4 is not below the one with beta = 0.5: is beta on the KL "
                   "term (loss = recon + beta * kl), with recon and kl themselves free of beta?")
    print("✓ beta: " + ", ".join(f"{n} {active[n]} active" for n in BETA_SETTINGS))


def check_wae(history: dict, prior_match: dict, epochs: int, eval_recon: dict | None = None) -> None:
    """Part 2: the WAE's training curves, how well each model's codes match the prior and (if
    given) each model's recon on the eval frames, decoding the posterior mean."""
    part = "WAE"
    train = history.get("train", {})
    record("test_wae", epochs=epochs, recon=train.get("recon"), mmd=train.get("kl"),
           prior_match={str(k): v for k, v in prior_match.items()},
           eval_recon={str(k): v for k, v in (eval_recon or {}).items()})
    for term, values in (("recon", train.get("recon")), ("MMD", train.get("kl"))):
        if finite_numbers(values, (epochs,)) is None:
            fail(part, f"expected {epochs} finite epochs of the WAE's {term}; did its run finish?")
    if not train["recon"][-1] < train["recon"][0]:
        fail(part, "the WAE's reconstruction did not improve: is its loss recon + weight * mmd?")
    if any(not isinstance(v, float) or not math.isfinite(v) for v in prior_match.values()):
        fail(part, "the MMD between codes and prior samples should be a finite number for each model.")
    print(f"✓ WAE: recon {train['recon'][0]:.1f} -> {train['recon'][-1]:.1f}; MMD to the prior "
          + ", ".join(f"{k} {v:.4f}" for k, v in prior_match.items()))
