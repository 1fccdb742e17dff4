"""vae_speech's result checks: each records its numbers, then stops a wrong result with a
message that says what to look at."""

from __future__ import annotations

import numpy as np
import pytest

from vaelab_core.checking import SelfCheckFailed
from vaelab_core.labs.vae_speech.result_checks import check_cross, check_finetuning, check_seeds, check_training
from vaelab_core.records import MIME


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


def test_a_record_travels_as_its_own_mime_type(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda data, raw=False: shown.append(data))
    check_training(history(5), epochs=5)
    assert shown and shown[0][MIME]["part"] == "test_training"
