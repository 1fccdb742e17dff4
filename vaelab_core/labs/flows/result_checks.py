"""Public checks of the flows lab's results: checked here, recorded for the grader.

Each check first records the notebook's numbers (`vaelab_core.records`) in the cell that calls
it, then checks what can be checked without a reference and says what looks wrong. The grader
judges the records against bands made from the reference notebook on the grading machine.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from vaelab_core import spec
from vaelab_core.checking import fail
from vaelab_core.records import finite_numbers, plain, record

#: Part 1's target energies (Rezende and Mohamed 2015, Table 1) and numbers of flows.
TARGETS = ("U1", "U2", "U3", "U4")
DENSITY_FLOWS = (2, 8, 32)
#: Part 2's numbers of flows in the speech VAE's posterior (0: the plain VAE of lab 1).
VAE_FLOWS = (0, 4, 8)
#: How far below -ln Z a free energy may come (its Monte Carlo estimate's noise) before it says
#: that log q_K is not a density.
BOUND_SLACK = 0.05


def _json(value):
    """`value` for a record: `plain`, with a 0-d tensor or array (a loss's .mean()) as its number."""
    if (hasattr(value, "dim") and value.dim() == 0) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return plain(value)


def _number(value) -> float | None:
    """A finite float, or None (a tensor's item, an int or a numpy scalar are numbers too)."""
    array = finite_numbers(_json(value), ())
    return None if array is None else float(array)


def _last(values):
    """The last of a list of per-epoch values (for a record), or None."""
    values = _json(values)
    return values[-1] if isinstance(values, list) and values else None


def _by_k(values, k: int):
    """values[k], whether the dict is keyed by int K (the notebook) or by str(K) (from JSON)."""
    values = values or {}
    return values.get(k, values.get(str(k)))


def check_densities(free_energies: dict, log_z: dict, steps: int) -> None:
    """Part 1: the free energy F of each target U1-U4 fitted with K = 2, 8, 32 planar flows.

    free_energies: {target: {K: F}} (floats); log_z: {target: ln Z} (grid integral of exp(-U));
    steps: optimisation steps per fit. F >= -ln Z for any density q_K (F + ln Z = KL(q_K || p/Z)).
    """
    part = "densities"
    found = {t: {str(k): _number(_by_k(free_energies.get(t), k)) for k in DENSITY_FLOWS} for t in TARGETS}
    record("test_densities", free_energy={t: {str(k): _json(_by_k(free_energies.get(t), k)) for k in DENSITY_FLOWS}
                                          for t in TARGETS},
           log_z={t: _json(log_z.get(t)) for t in TARGETS}, steps=steps)
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or steps < 1:
        fail(part, f"steps should be the number of optimisation steps of each fit, a positive int, got {steps!r}.")
    for target in TARGETS:
        if _number(log_z.get(target)) is None:
            fail(part, f"ln Z of {target} should be a finite number (the log of the grid integral of exp(-U)), got "
                       f"{log_z.get(target)!r}.")
        for k in DENSITY_FLOWS:
            if found[target][str(k)] is None:
                fail(part, f"the free energy of {target} with K = {k} flows should be a finite number, got "
                           f"{_by_k(free_energies.get(target), k)!r}: did its fit run to the end (a NaN comes from a "
                           "log of a negative determinant or a flow that diverged)?")
    gaps = {t: [found[t][str(k)] + float(log_z[t]) for k in DENSITY_FLOWS] for t in TARGETS}
    for target, values in gaps.items():
        for k, gap in zip(DENSITY_FLOWS, values):
            if gap < -BOUND_SLACK:
                fail(part, f"{target} with K = {k}: F = {found[target][str(k)]:.3f} is below -ln Z = "
                           f"{-float(log_z[target]):.3f} by {-gap:.3f} nats. F >= -ln Z for every density q_K "
                           "(F + ln Z is KL(q_K || p/Z) >= 0), so log q_K is not a density: check the sign of the "
                           "log-det in flow_chain (ln q_K = ln q0 - sum ln|det|), the constant of ln q0, and that F "
                           "is mean(log_q - log_p) with log_p = -U(z_K).")
    print(f"✓ densities: {len(TARGETS)} targets x K = {', '.join(map(str, DENSITY_FLOWS))} flows, {steps} steps "
          "each; KL gap F + ln Z (nats):")
    for target, values in gaps.items():
        print(f"  {target}: " + ", ".join(f"K={k} {g:.3f}" for k, g in zip(DENSITY_FLOWS, values))
              + f" ({_trend(values)})")


#: How much worse a longer chain may fit than a shorter one before the check says more than "this
#: run": one seed's luck moves a close fit by hundredths of a nat (K = 32 fell 0.013 to 0.019 nat
#: behind K = 8 on U2 or U3 on two machines, for 3 of 16 seeds).
SEED_NOISE = 0.1


def _trend(gaps: list[float]) -> str:
    """How the KL gaps of K = 2, 8, 32 move, and what a gap that does not shrink means."""
    worse = [(k, longer, g, h) for (k, g), (longer, h) in itertools.pairwise(zip(DENSITY_FLOWS, gaps)) if h >= g]
    if not worse:
        return "shrinks as K grows"
    k, longer, g, h = worse[-1]
    # a longer chain can always do what the shorter one does (its extra flows as the identity, u = 0),
    # so at its optimum it fits at least as well: a worse fit is the optimisation's, not K's
    if h - g < SEED_NOISE:
        return (f"K={longer} is {h - g:.3f} nat behind K={k} in this run: two close fits, ordered by the seed "
                "and the rounding, not by K; over seeds the longer chain fits better on average")
    return (f"does not shrink from K={k} to K={longer} in this run, by {h - g:.3f} nat: more flows can always "
            "fit at least as well (the extra ones could be the identity), so that fit got stuck; the figure "
            "shows where (a mode or a bend missed?)")


def check_flow_vae(runs: dict, epochs: int) -> None:
    """Part 2: the speech VAE with K = 0, 4, 8 planar flows in its posterior.

    runs: {K: {"eval": {"total", "recon", "kl"}, "train": a history of vaelab_core.training.train,
    "unit_kl": Z floats (KL of each unit of q0 against N(0, 1), nats per frame),
    "seconds_per_epoch": float}}; epochs: the epochs each run trained.
    """
    part = "flow VAE"
    by_k = {k: _by_k(runs, k) or {} for k in VAE_FLOWS}

    def train_total(run):
        totals = ((run.get("train") or {}).get("train") or {}).get("total")
        return totals if isinstance(totals, (list, tuple)) else _json(totals)

    record("test_flow_vae",
           eval={str(k): {t: _json((run.get("eval") or {}).get(t)) for t in ("total", "recon", "kl")}
                 for k, run in by_k.items()},
           unit_kl={str(k): _json(run.get("unit_kl")) for k, run in by_k.items()},
           seconds_per_epoch={str(k): _json(run.get("seconds_per_epoch")) for k, run in by_k.items()},
           final_train={str(k): _last(train_total(run)) for k, run in by_k.items()},
           epochs=epochs)
    for k, run in by_k.items():
        if not run:
            fail(part, f"no run for K = {k} flows: runs should hold K = {', '.join(map(str, VAE_FLOWS))}.")
        terms = {t: _number((run.get("eval") or {}).get(t)) for t in ("total", "recon", "kl")}
        missing = [t for t, v in terms.items() if v is None]
        if missing:
            fail(part, f"K = {k}: the eval {missing[0]} should be a finite number, got "
                       f"{(run.get('eval') or {}).get(missing[0])!r}. Did its training finish?")
        if not math.isclose(terms["recon"] + terms["kl"], terms["total"], rel_tol=1e-3, abs_tol=1e-3):
            fail(part, f"K = {k}: eval recon + kl = {terms['recon']:.3f} + {terms['kl']:.3f} = "
                       f"{terms['recon'] + terms['kl']:.3f}, but total = {terms['total']:.3f}: get_loss should "
                       "return loss = recon + kl.")
        totals = train_total(run)
        if finite_numbers(totals, (epochs,)) is None:
            got = len(totals) if isinstance(totals, (list, tuple)) else totals
            fail(part, f"K = {k}: the training history should hold {epochs} finite epochs of train total, got "
                       f"{got!r}. Did its run finish, with epochs={epochs}?")
        units = finite_numbers(run.get("unit_kl"), (spec.LATENT_DIM,))
        if units is None:
            fail(part, f"K = {k}: unit_kl should be {spec.LATENT_DIM} finite numbers, the KL of each unit of q0 "
                       f"against N(0, 1), got {run.get('unit_kl')!r}.")
        if (units < -1e-6).any():
            fail(part, f"K = {k}: a unit's KL is {units.min():.4f} < 0, but a KL divergence is never negative: is "
                       "unit_kl the KL of each unit of q0 (from its mean and logvar) against N(0, 1)?")
        if _number(run.get("seconds_per_epoch")) is None or _number(run["seconds_per_epoch"]) <= 0:
            fail(part, f"K = {k}: seconds_per_epoch should be a positive number, got {run.get('seconds_per_epoch')!r}.")
    print("✓ flow VAE: eval -ELBO " + ", ".join(
        f"K={k} {float(by_k[k]['eval']['total']):.1f} ({float(by_k[k]['seconds_per_epoch']):.1f} s/epoch)"
        for k in VAE_FLOWS) + f" after {epochs} epochs")
