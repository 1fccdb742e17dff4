"""results.json: the documented keys, plain JSON values, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaelab_core.results import lab_results, save_results

EPOCHS, SEEDS = 30, 5
TERMS = ("total", "recon", "kl")


def fake_inputs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    history = {split: {t: [float(v) for v in rng.normal(250, 5, EPOCHS)] for t in TERMS}
               for split in ("train", "eval")}
    history.update(config={"epochs": EPOCHS}, steps_per_epoch=17, seconds=12.5)
    seed_runs = {"seeds": list(range(SEEDS)),
                 "train": {t: rng.normal(250, 5, (SEEDS, EPOCHS)) for t in TERMS},
                 "eval": {t: rng.normal(260, 5, (SEEDS, EPOCHS)) for t in TERMS}}
    return dict(scratch_history=history,
                scratch_eval_loss={"A": np.float64(251.0), "B": np.float32(262.5)},
                seed_runs=seed_runs,
                pretrained_loss={"A": 270.0, "B": 275.0},
                finetuned_loss={"A": 240.0, "B": 245.0},
                cross={"A": {"A": 240.0, "B": 300.0}, "B": {"A": 310.0, "B": 245.0}},
                seconds=np.float64(321.0))


def test_documented_keys_and_lengths():
    inputs = fake_inputs()
    results = lab_results(**inputs)
    assert set(results) == {"scratch", "seeds", "pretrained", "finetuned", "cross", "steps_per_epoch", "seconds"}
    for split in ("train", "eval"):
        assert set(results["scratch"]["history"][split]) == set(TERMS)
        for term in TERMS:
            values = results["scratch"]["history"][split][term]
            assert isinstance(values, list) and len(values) == EPOCHS
    assert set(results["scratch"]["history"]) == {"train", "eval"}, "config etc. belong elsewhere"
    assert set(results["scratch"]["eval_loss"]) == {"A", "B"}
    for key in ("total_mean", "total_std", "eval_total_mean", "eval_total_std"):
        assert isinstance(results["seeds"][key], list) and len(results["seeds"][key]) == EPOCHS, key
    assert set(results["pretrained"]) == set(results["finetuned"]) == {"A", "B"}
    assert {m: set(row) for m, row in results["cross"].items()} == {"A": {"A", "B"}, "B": {"A", "B"}}
    assert results["steps_per_epoch"] == 17 and results["seconds"] == 321.0


def test_seed_statistics_are_over_seeds_per_epoch():
    inputs = fake_inputs()
    results = lab_results(**inputs)
    runs = inputs["seed_runs"]
    np.testing.assert_allclose(results["seeds"]["total_mean"], runs["train"]["total"].mean(axis=0))
    np.testing.assert_allclose(results["seeds"]["total_std"], runs["train"]["total"].std(axis=0))
    np.testing.assert_allclose(results["seeds"]["eval_total_mean"], runs["eval"]["total"].mean(axis=0))
    np.testing.assert_allclose(results["seeds"]["eval_total_std"], runs["eval"]["total"].std(axis=0))
    assert results["seeds"]["seeds"] == list(range(SEEDS))


def test_values_are_plain_json():
    results = lab_results(**fake_inputs())
    text = json.dumps(results)  # raises on numpy arrays or numpy scalars
    assert json.loads(text) == results
    assert type(results["scratch"]["eval_loss"]["B"]) is float
    assert type(results["seeds"]["total_mean"][0]) is float


def test_save_results_round_trip_without_temporary_files(tmp_path):
    results = lab_results(**fake_inputs())
    path = save_results(tmp_path / "out" / "results.json", results)
    assert json.loads(path.read_text()) == results
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_save_results_replaces_old_results(tmp_path):
    path = tmp_path / "results.json"
    save_results(path, {"seconds": 1.0})
    save_results(path, {"seconds": 2.0})
    assert json.loads(path.read_text()) == {"seconds": 2.0}


def test_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    save_results(path, lab_results(**fake_inputs()))
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_results(path, {"not json": {1, 2, 3}})  # a set cannot be serialised
    assert path.read_bytes() == before, "a failed write should leave the previous results intact"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"], "a temporary file was left"
