"""Part 1's judge of flows on made-up records: its verdicts must not depend on what rounding
decides, which differs from one machine to the next (a wrong log-density ending in a NaN or far
below the floor; a correct fit landing on one mode of U1 instead of both). Fast: no kernel, no
fit; the bands are made by the lab's own `make_bands` from records shaped like the notebook's."""

from __future__ import annotations

import math

import pytest

from grader.assignment import assignment, default_solutions
from tests.grader.band_margins import moved_bands

RULES = assignment(default_solutions(), "flows").rules()
#: -ln Z of each target, as the notebook records ln Z (the values of the built-in targets)
LOG_Z = {"U1": 1.878, "U2": 2.143, "U3": 2.702, "U4": 2.771}
#: the reference's KL gap F + ln Z per K, the same on every target here
GAP = {2: 0.8, 8: 0.2, 32: 0.05}


def record(gap=GAP, **changed) -> dict:
    """A part-1 record with the gap `gap[K]` on every fit; `changed`: {"U1_32": F} for single fits."""
    free = {t: {str(k): -LOG_Z[t] + gap[k] for k in RULES.FLOW_COUNTS} for t in RULES.TARGETS}
    for key, value in changed.items():
        target, k = key.split("_")
        free[target][k] = value
    return {"free_energy": free, "log_z": dict(LOG_Z), "steps": 1000}


@pytest.fixture(scope="module")
def bands() -> dict:
    seed_1 = record({2: 0.9, 8: 0.25, 32: 0.06})
    spread = {"steps": 1000, "epochs": RULES.EPOCHS,
              "free_energy": {t: {str(k): [seed_1["free_energy"][t][str(k)]] for k in RULES.FLOW_COUNTS}
                              for t in RULES.TARGETS},
              "flow_vae": {str(k): {term: [-300.0] for term in ("total", "recon", "kl", "unit_kl_sum")}
                           for k in RULES.FLOW_POSTERIORS}}
    vae = {"eval": {str(k): {"total": -300.0, "recon": -310.0, "kl": 10.0} for k in RULES.FLOW_POSTERIORS},
           "unit_kl": {str(k): [0.5] * 16 for k in RULES.FLOW_POSTERIORS}, "epochs": RULES.EPOCHS}
    made = RULES.make_bands({"test_densities": record(), "test_flow_vae": vae}, {}, {}, spread)
    return made["test_densities"]


def score(rec, bands, share=0.0) -> list[bool]:
    return [check.passed for check in RULES.judge_densities(rec, moved_bands(bands, share))]


@pytest.mark.parametrize("share", [-0.5, 0.0, 0.5])
def test_a_correct_fit_on_one_mode_of_u1_passes_wherever_the_band_lands(bands, share):
    one_mode = record(U1_32=-LOG_Z["U1"] + GAP[32] + math.log(2))
    assert score(record(), bands, share) == [True, True, True]
    assert score(one_mode, bands, share) == [True, True, True]


def test_a_wrong_log_density_scores_the_same_whether_it_ends_in_nan_or_below_the_floor(bands):
    nan = record(U1_2="nan")
    below = record(U1_8=-16.6, U2_32=-59.0)
    assert score(nan, bands) == score(below, bands) == [True, False, False]
    messages = [c.failed_text for c in RULES.judge_densities(nan, bands) if not c.passed]
    assert "NaN" in messages[0] and "U1 K=2" in messages[0]


def test_fits_worse_everywhere_fail_the_match_and_say_which_are_farthest(bands):
    one_flow_each = record({2: 1.2, 8: 1.0, 32: 0.9})  # a chain that keeps one flow of K
    assert score(one_flow_each, bands, 0.5) == [True, True, False]
    message = RULES.judge_densities(one_flow_each, bands)[2].failed_text
    assert "mean KL gap" in message and "K=32" in message


def test_a_fit_not_run_or_run_shorter_costs_every_point(bands):
    assert score(None, bands) == [False, False, False]
    assert score({**record(), "steps": 200}, bands) == [False, False, False]
    missing = record()
    del missing["free_energy"]["U3"]["8"]
    checks = RULES.judge_densities(missing, bands)
    assert [c.passed for c in checks] == [False, False, False] and "U3 K=8" in checks[0].failed_text
