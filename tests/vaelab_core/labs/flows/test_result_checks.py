"""The flows lab's result checks: each records its numbers for the grader, then stops a wrong
result with a message that says what to look at.

The oracle here is a made-up run that a correct notebook could produce: free energies above
-ln Z that shrink towards it as K grows, and flow-VAE runs whose terms add up. Each mistake of
MISTAKES edits one number of it the way a typical bug would.
"""

from __future__ import annotations

import copy
import math

import pytest

from vaelab_core import spec
from vaelab_core.checking import SelfCheckFailed
from vaelab_core.labs.flows import result_checks
from vaelab_core.labs.flows.result_checks import check_densities, check_flow_vae

EPOCHS = 3
LOG_Z = {"U1": 1.5, "U2": 1.8, "U3": 2.1, "U4": 2.3}


def densities():
    """A correct run: F = -ln Z + a KL gap that shrinks with K (int keys, as the notebook has them)."""
    gaps = {2: 0.40, 8: 0.15, 32: 0.05}
    return {t: {k: -ln_z + gap for k, gap in gaps.items()} for t, ln_z in LOG_Z.items()}


def flow_vae_runs():
    """A correct run for K = 0, 4, 8: eval terms that add up, `EPOCHS` epochs, Z unit KLs."""
    def run(total, kl, seconds):
        history = {"train": {t: [v + 10 * (EPOCHS - 1 - e) for e in range(EPOCHS)]
                             for t, v in (("total", total), ("recon", total - kl), ("kl", kl))},
                   "eval": {t: [v] * EPOCHS for t, v in (("total", total), ("recon", total - kl), ("kl", kl))}}
        return {"eval": {"total": total, "recon": total - kl, "kl": kl}, "train": history,
                "unit_kl": [0.5] * (spec.LATENT_DIM - 2) + [0.0, 1e-9], "seconds_per_epoch": seconds}

    return {0: run(-520.0, 12.0, 1.0), 4: run(-523.5, 14.0, 1.6), 8: run(-524.0, 14.5, 2.2)}


@pytest.fixture
def records(monkeypatch):
    """What the checks record, {part: values}, instead of a notebook display."""
    found = {}
    monkeypatch.setattr(result_checks, "record", lambda part, **values: found.__setitem__(part, values))
    return found


# --- densities ----------------------------------------------------------------------------------

def test_densities_record_and_report_the_gap_per_k(records, capsys):
    check_densities(densities(), LOG_Z, steps=500)
    out = capsys.readouterr().out
    assert out.startswith("✓ densities")
    assert out.count("shrinks as K grows") == 4
    assert "U1: K=2 0.400, K=8 0.150, K=32 0.050" in out
    values = records["test_densities"]
    assert values["free_energy"]["U3"] == pytest.approx({"2": -1.7, "8": -1.95, "32": -2.05})
    assert values["log_z"] == LOG_Z and values["steps"] == 500


def test_densities_accept_string_keys_and_say_when_the_gap_does_not_shrink(records, capsys):
    free = {t: {str(k): v for k, v in by_k.items()} for t, by_k in densities().items()}
    free["U2"]["32"] = free["U2"]["2"]  # K = 32 no better than K = 2 in this run: reported, not failed
    check_densities(free, LOG_Z, steps=500)
    out = capsys.readouterr().out
    assert "U2: K=2 0.400, K=8 0.150, K=32 0.400 (does not shrink from K=8 to K=32" in out
    assert "stuck" in out


def test_densities_say_two_close_fits_are_ordered_by_the_seed_not_by_k(records, capsys):
    free = densities()
    free["U2"][32] = free["U2"][8] + 0.019  # K = 32 just behind K = 8, as seed 0 on one machine
    check_densities(free, LOG_Z, steps=500)
    out = capsys.readouterr().out
    assert "U2: K=2 0.400, K=8 0.150, K=32 0.169 (K=32 is 0.019 nat behind K=8 in this run" in out
    assert "not by K" in out and out.count("shrinks as K grows") == 3


def test_densities_allow_a_little_noise_below_the_bound(records):
    free = densities()
    free["U1"][32] = -LOG_Z["U1"] - 0.03  # a Monte Carlo estimate can dip just below -ln Z
    check_densities(free, LOG_Z, steps=500)


def _density_mistake(edit):
    def make():
        free, log_z, steps = densities(), dict(LOG_Z), 500
        return edit(free, log_z, steps)
    return make


DENSITY_MISTAKES = [
    ("below the bound: the log-det's sign flipped",
     _density_mistake(lambda f, z, s: ({t: {k: v - 3.0 for k, v in by_k.items()} for t, by_k in f.items()}, z, s)),
     "log q_K is not a density"),
    ("a K missing", _density_mistake(lambda f, z, s: ({**f, "U2": {2: f["U2"][2], 8: f["U2"][8]}}, z, s)),
     "U2 with K = 32 flows should be a finite number"),
    ("a target missing", _density_mistake(lambda f, z, s: ({t: v for t, v in f.items() if t != "U4"}, z, s)),
     "U4 with K = 2"),
    ("a fit that diverged", _density_mistake(lambda f, z, s: ({**f, "U3": {**f["U3"], 8: math.nan}}, z, s)),
     "did its fit run to the end"),
    ("ln Z missing", _density_mistake(lambda f, z, s: (f, {t: v for t, v in z.items() if t != "U1"}, s)),
     "ln Z of U1 should be a finite number"),
    ("steps not a count", _density_mistake(lambda f, z, s: (f, z, 0)), "positive int"),
]


@pytest.mark.parametrize("what, make, hint", DENSITY_MISTAKES, ids=[m[0] for m in DENSITY_MISTAKES])
def test_each_density_mistake_fails_with_a_teaching_message(what, make, hint, records):
    with pytest.raises(SelfCheckFailed) as failure:
        check_densities(*make())
    assert failure.value.method == "densities"
    assert hint in failure.value.message, failure.value.message
    assert "test_densities" in records  # recorded before checking, for the grader


# --- flow VAE -----------------------------------------------------------------------------------

def test_flow_vae_records_each_k_and_prints_the_bound_and_time(records, capsys):
    check_flow_vae(flow_vae_runs(), epochs=EPOCHS)
    out = capsys.readouterr().out
    assert out.startswith("✓ flow VAE: eval -ELBO K=0 -520.0 (1.0 s/epoch), K=4 -523.5 (1.6 s/epoch)")
    values = records["test_flow_vae"]
    assert set(values["eval"]) == {"0", "4", "8"}
    assert values["eval"]["4"] == {"total": -523.5, "recon": -537.5, "kl": 14.0}
    assert values["final_train"] == {"0": -520.0, "4": -523.5, "8": -524.0}
    assert values["seconds_per_epoch"] == {"0": 1.0, "4": 1.6, "8": 2.2}
    assert len(values["unit_kl"]["8"]) == spec.LATENT_DIM and values["epochs"] == EPOCHS


def test_flow_vae_accepts_string_keys(records):
    check_flow_vae({str(k): v for k, v in flow_vae_runs().items()}, epochs=EPOCHS)


def _vae_mistake(edit):
    def make():
        runs = copy.deepcopy(flow_vae_runs())
        edit(runs)
        return runs
    return make


def _set(path, value):
    def edit(runs):
        *keys, last = path
        target = runs
        for key in keys:
            target = target[key]
        target[last] = value
    return edit


VAE_MISTAKES = [
    ("a K missing", _vae_mistake(lambda runs: runs.pop(8)), "no run for K = 8"),
    ("terms that do not add up", _vae_mistake(_set((4, "eval", "kl"), -14.0)), "return loss = recon + kl"),
    ("a NaN eval loss", _vae_mistake(_set((0, "eval", "total"), math.nan)), "eval total should be a finite number"),
    ("a short history", _vae_mistake(_set((8, "train", "train", "total"), [1.0, 2.0])), "3 finite epochs"),
    ("unit KL of the wrong length", _vae_mistake(_set((4, "unit_kl"), [0.1] * 8)),
     f"{spec.LATENT_DIM} finite numbers"),
    ("a negative unit KL", _vae_mistake(_set((4, "unit_kl"), [-0.2] + [0.1] * (spec.LATENT_DIM - 1))),
     "never negative"),
    ("no time", _vae_mistake(_set((0, "seconds_per_epoch"), None)), "seconds_per_epoch should be a positive number"),
]


@pytest.mark.parametrize("what, make, hint", VAE_MISTAKES, ids=[m[0] for m in VAE_MISTAKES])
def test_each_flow_vae_mistake_fails_with_a_teaching_message(what, make, hint, records):
    with pytest.raises(SelfCheckFailed) as failure:
        check_flow_vae(make(), epochs=EPOCHS)
    assert failure.value.method == "flow VAE"
    assert hint in failure.value.message, failure.value.message
    assert "test_flow_vae" in records


def test_the_records_are_plain_json(monkeypatch):
    """The real record() displays plain JSON values: tensors and numpy numbers become lists and floats."""
    import json

    import numpy as np
    import torch

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda data, raw: shown.append(data))
    free = {t: {k: torch.tensor(v) for k, v in by_k.items()} for t, by_k in densities().items()}
    check_densities(free, {t: np.float64(v) for t, v in LOG_Z.items()}, steps=500)
    runs = flow_vae_runs()
    runs[4]["unit_kl"] = torch.full((spec.LATENT_DIM,), 0.25)
    check_flow_vae(runs, epochs=EPOCHS)
    for data in shown:
        json.dumps(data)
    assert [d["application/vnd.vaelab.record+json"]["part"] for d in shown] == ["test_densities", "test_flow_vae"]
