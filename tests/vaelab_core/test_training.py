"""The training engine: history layout, reproducibility, learning, batching, evaluation, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grader.assignment import default_solutions, load_reference
from vaelab_core import spec
from vaelab_core.datasets import SpeakerDataset, steps_per_epoch
from vaelab_core.training import (TERMS, Run, TrainConfig, TrainingError, cross_evaluate, evaluate,
                                  finetune, finetune_each, new_model, train, train_runs, train_seeds)

Reference = load_reference(default_solutions())
T, F = spec.N_FRAMES, spec.N_FREQ


def random_dataset(seed: int = 0, n_train: int = 12, n_eval: int = 4, scale: float = 2.0) -> SpeakerDataset:
    """Uniform magnitudes in [0, scale): train (n_train, T, F), eval (n_eval, T, F)."""
    g = torch.Generator().manual_seed(seed)
    return SpeakerDataset(torch.rand(n_train, T, F, generator=g) * scale,
                          torch.rand(n_eval, T, F, generator=g) * scale, {"speaker": f"random{seed}"})


TOY_POWER = torch.logspace(1, -2, F)  # (F,) E|x|^2 per bin, 10 down to 0.01: a strong spectral tilt


def toy_speaker(seed: int = 0, n_train: int = 12, n_eval: int = 4) -> SpeakerDataset:
    """A learnable set: |complex Gaussian| magnitudes whose power follows a fixed spectral tilt.

    The model can lower the loss far below its initial value by learning eta ~ log(power[f]).
    """
    g = torch.Generator().manual_seed(seed)
    power = TOY_POWER

    def draw(n: int) -> torch.Tensor:
        real, imag = torch.randn(2, n, T, F, generator=g)
        return (power / 2).sqrt() * torch.sqrt(real ** 2 + imag ** 2)  # E|x|^2 = power

    return SpeakerDataset(draw(n_train), draw(n_eval), {"speaker": f"toy{seed}"})


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def quick(model, data, epochs=2, seed=0, **kwargs) -> dict:
    return train(model, data, epochs=epochs, seed=seed, progress=False, **kwargs)


def test_history_layout_and_total_is_recon_plus_kl():
    history = quick(new_model(Reference, 0), random_dataset(), epochs=3)
    for split in ("train", "eval"):
        assert set(history[split]) == set(TERMS)
        for term in TERMS:
            assert len(history[split][term]) == 3, f"{split}.{term} should have one value per epoch"
            assert all(math.isfinite(v) for v in history[split][term])
        for epoch in range(3):
            total, recon, kl = (history[split][t][epoch] for t in TERMS)
            assert total == pytest.approx(recon + kl, rel=1e-5), f"{split} epoch {epoch + 1}"
            assert kl >= 0, "the KL term of eq. (6) is never negative"
    assert history["steps_per_epoch"] == steps_per_epoch(12, TrainConfig.batch_size) == 3
    assert history["config"]["epochs"] == 3 and history["config"]["seed"] == 0
    assert history["seconds"] > 0


def test_tensor_data_trains_without_eval():
    history = quick(new_model(Reference, 0), random_dataset().train, epochs=2)
    assert len(history["train"]["total"]) == 2
    assert all(len(history["eval"][t]) == 0 for t in TERMS)


def test_same_seed_same_history_and_weights():
    data = random_dataset()
    runs = []
    for _ in range(2):
        model = new_model(Reference, seed=3)
        runs.append((quick(model, data, seed=3), weights(model)))
    (h1, w1), (h2, w2) = runs
    for split in ("train", "eval"):
        assert h1[split] == h2[split]
    assert same_weights(w1, w2)


def test_different_seed_different_history_and_weights():
    data = random_dataset()
    m1, m2 = new_model(Reference, seed=1), new_model(Reference, seed=2)
    assert not same_weights(weights(m1), weights(m2)), "new_model's seed should fix the initial weights"
    h1, h2 = quick(m1, data, seed=1), quick(m2, data, seed=2)
    assert h1["train"]["total"] != h2["train"]["total"]
    assert not same_weights(weights(m1), weights(m2))


def test_training_seed_alone_changes_the_run():
    """Same initial weights, different training seed: other batches and samples, other result."""
    data = random_dataset()
    m1, m2 = new_model(Reference, seed=0), new_model(Reference, seed=0)
    h1, h2 = quick(m1, data, seed=0), quick(m2, data, seed=1)
    assert h1["train"]["total"] != h2["train"]["total"]
    assert not same_weights(weights(m1), weights(m2))


def test_training_lowers_the_loss_on_a_learnable_set():
    data = toy_speaker()
    model = new_model(Reference, 0)
    before = evaluate(model, data)["total"]
    history = quick(model, data, epochs=8, lr=1e-2, batch_size=1)
    after = evaluate(model, data)["total"]
    train_total = history["train"]["total"]
    assert train_total[-1] < train_total[0] - 20, f"train loss per epoch barely moved: {train_total}"
    assert after < before - 20, f"eval loss {before:.1f} -> {after:.1f}: training did not help"
    assert history["eval"]["total"][-1] == pytest.approx(after, rel=1e-6)
    # Oracle: the true model of this data, eta = log power, reaches sum_f (log pi + log power_f + 1)
    # per frame (E|x|^2 / power = 1); a trained VAE gets close to it and cannot beat it by more
    # than the sampling noise of 600 eval frames (std ~ 0.7 nats).
    bound = float((spec.LOG_PI + torch.log(TOY_POWER) + 1).sum())
    assert bound - 3 < after < bound + 5, f"eval loss {after:.1f}, the true model's is {bound:.1f}"


def test_evaluate_is_deterministic_and_leaves_the_global_rng_alone():
    model, data = new_model(Reference, 0), random_dataset()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = evaluate(model, data, seed=5)
    assert torch.equal(torch.get_rng_state(), state), "evaluate() changed the caller's random state"
    assert evaluate(model, data, seed=5) == first
    assert evaluate(model, data.eval, seed=5) == first, "a dataset should be evaluated on its eval split"
    assert evaluate(model, data, seed=6)["total"] != first["total"], "the seed should fix the posterior samples"
    assert not model.training, "evaluate() should leave the model in eval mode"


def test_evaluate_matches_an_independent_per_frame_average():
    """The per-frame average over batches equals the loss of all frames at once (same samples)."""
    model, data = new_model(Reference, 0), random_dataset(n_eval=4)
    result = evaluate(model, data.eval, batch_size=64, seed=9)
    torch.manual_seed(9)
    with torch.no_grad():
        loss, recon, kl = model.loss(data.eval)
    assert result["total"] == pytest.approx(loss.item(), rel=1e-5)
    assert result["recon"] == pytest.approx(recon.item(), rel=1e-5)
    assert result["kl"] == pytest.approx(kl.item(), rel=1e-5)


def test_train_seeds_stacks_histories_and_reuses_first():
    data = random_dataset(n_train=4, n_eval=2)
    epochs, seeds = 2, [0, 1, 2]
    marker = {split: {t: [-1.0] * epochs for t in TERMS} for split in ("train", "eval")}
    runs = train_seeds(Reference, data, seeds=seeds, epochs=epochs, first=marker, progress=False)
    assert runs["seeds"] == seeds
    for split in ("train", "eval"):
        for term in TERMS:
            assert isinstance(runs[split][term], np.ndarray)
            assert runs[split][term].shape == (len(seeds), epochs)
    assert (runs["train"]["total"][0] == -1).all(), "`first` should be used as the first seed's run"
    oracle = quick(new_model(Reference, 1), data, epochs=epochs, seed=1)
    np.testing.assert_array_equal(runs["train"]["total"][1], oracle["train"]["total"])
    np.testing.assert_array_equal(runs["eval"]["kl"][1], oracle["eval"]["kl"])
    assert not np.array_equal(runs["train"]["total"][1], runs["train"]["total"][2])


def test_finetune_keeps_the_original_and_returns_a_trained_copy():
    model = new_model(Reference, 0)
    before = weights(model)
    data = random_dataset()
    tuned, history = finetune(model, data, epochs=2, seed=0, progress=False)
    assert tuned is not model
    assert same_weights(weights(model), before), "finetune() changed the original model"
    assert not same_weights(weights(tuned), before), "the returned copy was not trained"
    assert len(history["train"]["total"]) == len(history["eval"]["total"]) == 2
    assert history["eval"]["total"][-1] == pytest.approx(evaluate(tuned, data)["total"], rel=1e-6)


def test_cross_evaluate_table_is_model_by_data():
    models = {"A": new_model(Reference, 0), "B": new_model(Reference, 1)}
    datasets = {"A": random_dataset(0, scale=1.0), "B": random_dataset(1, scale=5.0)}
    table = cross_evaluate(models, datasets, seed=0)
    assert list(table) == ["A", "B"] and all(list(row) == ["A", "B"] for row in table.values())
    for m, model in models.items():
        for d, data in datasets.items():
            assert table[m][d] == evaluate(model, data, seed=0)["total"], f"table[{m}][{d}]"
    assert table["A"]["A"] != table["A"]["B"] and table["A"]["A"] != table["B"]["A"]


class NaNLoss(Reference):
    """A broken get_loss, e.g. log() of a variance that reached 0."""

    def get_loss(self, x, eta, mean, logvar):
        loss, recon, kl = super().get_loss(x, eta, mean, logvar)
        nan = loss * float("nan")
        return nan, recon, kl


def test_nan_loss_raises_a_helpful_training_error():
    with pytest.raises(TrainingError) as caught:
        quick(new_model(NaNLoss, 0), random_dataset(), epochs=2)
    message = str(caught.value)
    assert "nan" in message.lower(), message
    assert "epoch 1, step 1" in message, "the message should say where the loss broke"
    assert "get_loss" in message and "log-variance" in message, "the message should name likely causes"


def test_empty_train_split_raises_training_error():
    data = SpeakerDataset(torch.empty(0, T, F), torch.rand(2, T, F))
    with pytest.raises(TrainingError, match="training split is empty"):
        quick(new_model(Reference, 0), data)


def test_patience_stops_early_and_keeps_the_best_epochs_weights(capsys):
    """With lr = 0 nothing improves after epoch 1, so patience 2 stops after epoch 3 and the
    weights are those of the best epoch."""
    data = random_dataset()
    model = new_model(Reference, seed=0)
    before = weights(model)
    history = train(model, data, epochs=10, seed=0, lr=0.0, progress=False, patience=2)
    assert len(history["train"]["total"]) == len(history["eval"]["total"]) == 3
    assert history["best_epoch"] == int(np.argmin(history["eval"]["total"])) + 1
    assert history["best_eval_loss"] == min(history["eval"]["total"])
    assert same_weights(before, weights(model))
    assert "early stop after epoch 3" in capsys.readouterr().out


def test_patience_ignores_the_warm_up_epochs(capsys):
    """With lr = 0 every epoch evaluates alike; with patience_after 4 the best epoch is the first
    after the warm-up (5), and patience 2 stops after epoch 7, not 3."""
    data = random_dataset()
    history = train(new_model(Reference, seed=0), data, epochs=10, seed=0, lr=0.0, progress=False,
                    patience=2, patience_after=4)
    assert len(history["eval"]["total"]) == 7
    assert history["best_epoch"] == 5
    assert "early stop after epoch 7" in capsys.readouterr().out


def test_a_run_shorter_than_its_warm_up_keeps_its_last_epoch():
    history = train(new_model(Reference, seed=0), random_dataset(), epochs=2, seed=0, lr=0.0, progress=False,
                    patience=2, patience_after=5)
    assert history["best_epoch"] == 2


def test_patience_needs_an_eval_split():
    with pytest.raises(TrainingError, match="needs an eval split"):
        train(new_model(Reference), torch.rand(4, spec.N_FRAMES, spec.N_FREQ), epochs=2, patience=1,
              progress=False)


def test_train_config_is_the_one_description_of_a_run():
    """Keyword settings and a TrainConfig give the same run; every field is recorded."""
    data = random_dataset()
    by_words = quick(new_model(Reference, 1), data, epochs=2, seed=1, desc="a label")
    config = TrainConfig(epochs=2, seed=1, progress=False, desc="a label")
    by_config = train(new_model(Reference, 1), data, config)
    assert by_words["train"] == by_config["train"]
    assert by_config["config"] == {**TrainConfig().__dict__, "epochs": 2, "seed": 1,
                                   "progress": False, "desc": "a label"}


def test_a_misspelt_training_setting_fails_and_names_the_fields():
    with pytest.raises(TypeError, match="unknown training setting.*'epoch'.*'epochs'"):
        train(new_model(Reference), random_dataset(), epoch=3)


def test_a_models_step_schedule_sees_the_share_of_training_done():
    """on_train_step gets progress from 0 (first step) rising evenly to below 1 (last step)."""
    seen = []

    class Scheduled(Reference):
        def on_train_step(self, progress):
            seen.append(progress)

    data = random_dataset(n_train=8)
    train(new_model(Scheduled, 0), data, epochs=2, batch_size=4, progress=False)
    steps = 2 * steps_per_epoch(8, 4)
    assert seen == pytest.approx([k / steps for k in range(steps)])
    evaluate(new_model(Scheduled, 0), data)
    assert len(seen) == steps  # evaluation runs no schedule


def test_tqdm_disable_hides_the_bar_even_when_progress_is_on(monkeypatch, capsys):
    """A graded kernel sets TQDM_DISABLE=1: no bar, although train shows one by default."""
    data = random_dataset()
    monkeypatch.setenv("TQDM_DISABLE", "1")
    train(new_model(Reference, seed=0), data, epochs=1, seed=0)
    assert "epoch" not in capsys.readouterr().err
    monkeypatch.delenv("TQDM_DISABLE")
    train(new_model(Reference, seed=0), data, epochs=1, seed=0)
    assert "epoch" in capsys.readouterr().err


class CountsSteps(Reference):
    """A model whose plain attribute changes during training, as a KL warm-up's weight does."""

    def __init__(self):
        super().__init__()
        self.last_progress = -1.0

    def on_train_step(self, progress):
        self.last_progress = progress


def test_train_runs_side_by_side_equal_the_runs_one_after_the_other(monkeypatch):
    data = random_dataset(n_train=8, n_eval=2)
    made = {}
    for count in ("1", "2"):
        monkeypatch.setenv("VAELAB_LANES", count)
        runs = {seed: Run(new_model(CountsSteps, seed), data, {"epochs": 2, "seed": seed, "progress": False})
                for seed in (0, 1, 2)}
        torch.manual_seed(123)
        histories = train_runs(runs)
        after = torch.rand(3)  # the caller's random state is left as it was
        made[count] = histories, {seed: weights(run.model) for seed, run in runs.items()}, after, runs
    (one_by_one, weights_1, after_1, runs_1), (side, weights_2, after_2, runs_2) = made["1"], made["2"]
    torch.manual_seed(123)
    assert torch.equal(after_1, torch.rand(3)) and torch.equal(after_2, after_1)
    for seed in (0, 1, 2):
        for split in ("train", "eval"):
            assert side[seed][split] == one_by_one[seed][split], f"seed {seed}, {split}"
        assert same_weights(weights_2[seed], weights_1[seed]), f"seed {seed}: other weights side by side"
        assert runs_2[seed].model.last_progress == runs_1[seed].model.last_progress == 0.75  # epoch 2, step 2 of 2
    assert one_by_one[0]["train"]["total"] != one_by_one[1]["train"]["total"]


def test_train_runs_raises_a_runs_training_error_and_refuses_a_misspelt_setting(monkeypatch):
    monkeypatch.setenv("VAELAB_LANES", "2")
    data = random_dataset(n_train=4, n_eval=2)
    runs = {"fine": Run(new_model(Reference, 0), data, {"epochs": 1, "progress": False}),
            "broken": Run(new_model(NaNLoss, 0), data, {"epochs": 1, "progress": False})}
    with pytest.raises(TrainingError, match="the loss became nan"):
        train_runs(runs)
    with pytest.raises(TypeError, match="epoch"):
        train_runs({"typo": Run(new_model(Reference, 0), data, {"epoch": 1})})


def test_finetune_each_tunes_a_copy_per_dataset_as_finetune_does(monkeypatch):
    monkeypatch.setenv("VAELAB_LANES", "2")
    model = new_model(Reference, 0)
    before = weights(model)
    datasets = {"A": random_dataset(0), "B": random_dataset(1, scale=4.0)}
    tuned = finetune_each(model, datasets, epochs=2, seed=0, progress=False)
    assert same_weights(weights(model), before), "finetune_each() changed the original model"
    for name, data in datasets.items():
        alone, history = finetune(model, data, epochs=2, seed=0, progress=False)
        assert tuned[name][1]["eval"] == history["eval"] and same_weights(weights(tuned[name][0]), weights(alone))
