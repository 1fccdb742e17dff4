"""The result checks of both labs: each records its numbers, then stops a wrong result with a
message that says what to look at."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab_core.latent_result_checks import check_beta_runs, check_moves, check_subspaces, check_wae
from vaelab_core.records import MIME
from vaelab_core.result_checks import check_cross, check_finetuning, check_seeds, check_training
from vaelab_core.selfcheck import SelfCheckFailed


def history(epochs: int, start: float = 10.0) -> dict:
    falling = list(np.linspace(start, start / 2, epochs))
    terms = {"total": falling, "recon": [v - 1 for v in falling], "kl": [1.0] * epochs}
    return {"train": terms, "eval": terms}


def test_training_records_then_accepts_a_falling_history(capsys):
    check_training(history(30), epochs=30)
    out = capsys.readouterr().out
    assert "✓ training" in out


def test_training_of_the_wrong_length_says_so():
    with pytest.raises(SelfCheckFailed, match="should hold 30 epochs"):
        check_training(history(3), epochs=30)


def test_seeds_that_are_one_run_repeated_are_refused():
    runs = {"seeds": [0, 1], "train": {"total": np.tile(np.linspace(5, 1, 4), (2, 1))}}
    with pytest.raises(SelfCheckFailed, match="seeded"):
        check_seeds(runs, epochs=4)


def test_finetuning_must_beat_the_pretrained_model():
    with pytest.raises(SelfCheckFailed, match="not better than the pre-trained"):
        check_finetuning({"A": 1.0, "B": 1.0}, {"A": 2.0, "B": 0.5})


def test_cross_needs_the_whole_table():
    with pytest.raises(SelfCheckFailed, match=r"cross\['B'\]\['A'\]"):
        check_cross({"A": {"A": 1.0, "B": 2.0}, "B": {"B": 1.0}})


def test_subspaces_check_the_alignment_shapes():
    dims = {"f0": 2, "f1": 1, "f2": 1, "f3": 1}
    alignment = {f"{a}-{b}": torch.zeros(dims[a], dims[b])
                 for i, a in enumerate(dims) for b in list(dims)[i + 1:]}
    check_subspaces(dims, alignment)
    alignment["f0-f1"] = torch.zeros(1, 2)
    with pytest.raises(SelfCheckFailed, match="2 x 1 matrix"):
        check_subspaces(dims, alignment)


def test_moves_need_finite_errors_and_every_other_factor():
    good = {"f0": {"error": 0.1, "correlation": 0.5, "baseline": 0.1, "others": {"f1": 0.1, "f2": 0.1, "f3": 0.1}},
            "f1": {"error": 0.2, "correlation": 0.5, "baseline": 0.1, "others": {"f0": 0.1, "f2": 0.1, "f3": 0.1}}}
    check_moves(good)
    good["f1"]["others"].pop("f3")
    with pytest.raises(SelfCheckFailed, match="each other factor"):
        check_moves(good)


def test_beta_runs_notice_a_beta_that_does_not_weigh_the_kl():
    runs = {name: {"train": {"recon": [2.0, 1.0], "kl": [1.0, kl]}}
            for name, kl in (("beta=0.5", 1.0), ("beta=1", 2.0), ("beta=4", 3.0), ("warm-up", 2.0),
                             ("warm-up to 4", 1.5))}
    active = dict.fromkeys(runs, 16)
    with pytest.raises(SelfCheckFailed, match="beta on the KL"):
        check_beta_runs(runs, active, epochs=2)


def test_wae_records_its_curves(capsys):
    check_wae({"train": {"recon": [3.0, 1.0], "kl": [0.2, 0.1]}}, {"VAE beta=1": 0.1, "WAE": 0.05}, epochs=2,
              eval_recon={"VAE beta=1": -500.0, "WAE": -510.0})
    assert "✓ WAE" in capsys.readouterr().out


def test_a_record_travels_as_its_own_mime_type(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda data, raw=False: shown.append(data))
    check_training(history(5), epochs=5)
    assert shown and shown[0][MIME]["part"] == "test_training"
