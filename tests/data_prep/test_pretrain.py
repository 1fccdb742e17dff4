"""`vaelab pretrain`: early stopping, the best epoch's weights, provenance, and bad inputs."""

from __future__ import annotations

import shlex
import sys

import numpy as np
import pytest
import torch

from data_prep.pretrain import main as pretrain
from grader.assignment import default_solutions, load_reference
from vaelab_core import spec
from vaelab_core.atomic_files import OutputError
from vaelab_core.checkpoints import load_checkpoint, load_state_by_parts
from vaelab_core.cli import main as vaelab
from vaelab_core.datasets import load_dataset, save_dataset
from vaelab_core.errors import VaelabError
from vaelab_core.training import evaluate

Reference = load_reference(default_solutions())
READERS = ("r1", "r2", "r3")


def corpus(path, n_train: int = 3, n_eval: int = 1, seed: int = 0):
    """A tiny multi-speaker set: each reader has its own spectral tilt; (3 n_train, T, F) train."""
    rng = np.random.default_rng(seed)
    train, eval_ = [], []
    for k, _ in enumerate(READERS):
        power = np.logspace(1 - k, -2 - k / 2, spec.N_FREQ)  # (F,) E|x|^2 per bin for this reader

        def draw(n):
            z = rng.standard_normal((n, spec.N_FRAMES, spec.N_FREQ, 2))
            return (np.sqrt(power / 2) * np.hypot(z[..., 0], z[..., 1])).astype(np.float32)

        train.append(draw(n_train))
        eval_.append(draw(n_eval))
    manifest = {"speaker": "all", "readers": list(READERS), "command": "test corpus"}
    return save_dataset(path, np.concatenate(train), np.concatenate(eval_), manifest)


@pytest.fixture
def tiny_corpus(tmp_path):
    return corpus(tmp_path / "corpus.npz")


def test_writes_the_best_epochs_weights_with_provenance(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "ckpt" / "model.pt"
    provenance = pretrain(tiny_corpus, out, Reference, epochs=4, patience=2, batch_size=4, command="pytest run",
                          progress=False)
    checkpoint = load_checkpoint(out)
    saved = checkpoint["provenance"]
    assert saved == {**saved, **provenance}, "the returned provenance is the checkpoint's"
    for key in ("corpus_manifest_sha256", "best_eval_loss", "epochs_run", "best_epoch", "command",
                "torch", "numpy", "vaelab", "python"):
        assert key in saved, f"provenance lacks {key}"
    assert len(saved["corpus_manifest_sha256"]) == 64 and int(saved["corpus_manifest_sha256"], 16) >= 0
    assert saved["command"] == "pytest run" and saved["corpus_readers"] == len(READERS)
    assert saved["train_sequences"] == 9 and saved["eval_sequences"] == 3
    assert 1 <= saved["best_epoch"] <= saved["epochs_run"] <= 4

    history = checkpoint["history"]
    eval_total = history["eval"]["total"]
    assert len(eval_total) == len(history["train"]["total"]) == saved["epochs_run"]
    assert saved["best_eval_loss"] == min(eval_total)
    assert saved["best_epoch"] == int(np.argmin(eval_total)) + 1
    assert checkpoint["epoch"] == saved["best_epoch"]
    assert checkpoint["config"]["train"]["patience"] == 2 and checkpoint["config"]["z_dim"] == spec.LATENT_DIM

    # Oracle: the saved weights, evaluated afresh, give the recorded best loss.
    model = Reference()
    load_state_by_parts(model, checkpoint["model"])
    data = load_dataset(tiny_corpus)
    assert evaluate(model, data, seed=0)["total"] == pytest.approx(saved["best_eval_loss"], rel=1e-5)
    printed = capsys.readouterr().out
    assert "pre-training on all: 9 train / 3 eval sequences, 3 readers" in printed
    assert f"wrote {out}" in printed
    assert [p.name for p in out.parent.iterdir()] == ["model.pt"], "a temporary file was left"


def test_same_seed_same_checkpoint(tiny_corpus, tmp_path):
    runs = []
    for k in range(2):
        pretrain(tiny_corpus, tmp_path / f"{k}.pt", Reference, epochs=2, patience=5, batch_size=4, progress=False)
        runs.append(load_checkpoint(tmp_path / f"{k}.pt"))
    assert runs[0]["history"]["eval"] == runs[1]["history"]["eval"]
    assert all(torch.equal(runs[0]["model"][k], v) for k, v in runs[1]["model"].items())
    assert runs[0]["provenance"]["corpus_manifest_sha256"] == runs[1]["provenance"]["corpus_manifest_sha256"]


def test_manifest_hash_identifies_the_corpus(tmp_path):
    a = pretrain(corpus(tmp_path / "a.npz"), tmp_path / "a.pt", Reference, epochs=1, batch_size=9, progress=False)
    other = load_dataset(corpus(tmp_path / "b.npz"))
    other.manifest["readers"] = ["x1", "x2", "x3"]
    save_dataset(tmp_path / "c.npz", other.train.numpy(), other.eval.numpy(), other.manifest)
    c = pretrain(tmp_path / "c.npz", tmp_path / "c.pt", Reference, epochs=1, batch_size=9, progress=False)
    assert a["corpus_manifest_sha256"] != c["corpus_manifest_sha256"]


def test_stops_early_when_the_eval_loss_stops_improving(tiny_corpus, tmp_path, capsys):
    # lr = 0 freezes the weights and evaluate() is seeded, so the eval loss is the same every
    # epoch: epoch 1 stays the best, and patience 2 ends the run after epoch 3 of 10.
    provenance = pretrain(tiny_corpus, tmp_path / "m.pt", Reference, epochs=10, patience=2, lr=0.0, batch_size=4,
                          progress=False)
    assert provenance["epochs_run"] == 3 and provenance["best_epoch"] == 1
    assert "early stop after epoch 3" in capsys.readouterr().out
    history = load_checkpoint(tmp_path / "m.pt")["history"]
    assert len(set(history["eval"]["total"])) == 1


def test_refuses_to_overwrite_without_force(tiny_corpus, tmp_path):
    out = tmp_path / "m.pt"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError, match="already exists"):
        pretrain(tiny_corpus, out, Reference, epochs=1, progress=False)
    assert out.read_bytes() == b"precious"
    pretrain(tiny_corpus, out, Reference, epochs=1, batch_size=9, force=True, progress=False)
    assert load_checkpoint(out)["provenance"]["epochs_run"] == 1


def test_empty_eval_split_is_refused(tmp_path):
    data = np.random.default_rng(0).random((3, spec.N_FRAMES, spec.N_FREQ), dtype=np.float32)
    path = save_dataset(tmp_path / "no_eval.npz", data, np.zeros((0, spec.N_FRAMES, spec.N_FREQ), np.float32),
                        {"speaker": "all"})
    with pytest.raises(VaelabError, match="eval split is empty") as caught:
        pretrain(path, tmp_path / "m.pt", Reference, epochs=1, progress=False)
    assert "--eval-fraction" in str(caught.value), "the message should say how to fix the corpus"
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("epochs, patience", [(0, 5), (3, 0)])
def test_epochs_and_patience_must_be_positive(tiny_corpus, tmp_path, epochs, patience):
    with pytest.raises(VaelabError, match="at least 1"):
        pretrain(tiny_corpus, tmp_path / "m.pt", Reference, epochs=epochs, patience=patience, progress=False)


def run_cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["vaelab", *args])  # what the installed command would see
    return vaelab(list(args))


def test_cli_pretrains_and_records_the_command(tiny_corpus, tmp_path, monkeypatch):
    out = tmp_path / "m.pt"
    args = ("pretrain", "--corpus", str(tiny_corpus), "--out", str(out), "--epochs", "2", "--patience", "1",
            "--batch-size", "9")
    assert run_cli(monkeypatch, *args) == 0
    provenance = load_checkpoint(out)["provenance"]
    assert provenance["command"] == shlex.join(["vaelab", *args])
    assert provenance["epochs_run"] <= 2


@pytest.mark.parametrize("case, expected", [
    ("missing corpus", "no such dataset file"),
    ("output exists", "already exists"),
    ("zero epochs", "at least 1"),
    ("no solutions", "no such assignment folder"),
    ("empty eval", "eval split is empty"),
])
def test_cli_bad_input_exits_2_with_a_message(case, expected, tiny_corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out" / "m.pt"
    args = ["pretrain", "--corpus", str(tiny_corpus), "--out", str(out), "--epochs", "1"]
    if case == "missing corpus":
        args[2] = str(tmp_path / "nowhere.npz")
    elif case == "output exists":
        out.parent.mkdir()
        out.write_bytes(b"keep")
    elif case == "zero epochs":
        args[-1] = "0"
    elif case == "no solutions":
        args += ["--solutions", str(tmp_path / "not_solutions")]
    elif case == "empty eval":
        empty = np.zeros((0, spec.N_FRAMES, spec.N_FREQ), np.float32)
        args[2] = str(save_dataset(tmp_path / "e.npz", load_dataset(tiny_corpus).train.numpy(), empty, {}))
    capsys.readouterr()
    assert run_cli(monkeypatch, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("vaelab: error: ") and expected in err, err
    assert "Traceback" not in err
    if case == "output exists":
        assert out.read_bytes() == b"keep"
    else:
        assert not out.exists(), "a failed run should write no checkpoint"


# --- the recipe against posterior collapse: KL warm-up and free bits ---------------------------

def _unit_kl(mean, logvar):
    """KL of each unit averaged over frames, written out independently: (Z,)."""
    return (0.5 * (mean ** 2 + torch.exp(logvar) - 1 - logvar)).reshape(-1, mean.shape[-1]).mean(0)


@pytest.mark.parametrize("progress, warmup, free_bits", [(0.0, 10, 0.0), (0.25, 10, 0.0), (0.5, 10, 2.0),
                                                         (0.9, 0, 0.5)])
@torch.no_grad()
def test_the_training_objective_weighs_and_floors_each_units_kl(progress, warmup, free_bits):
    from data_prep.pretrain import recipe_class

    epochs = 20
    model = recipe_class(Reference, epochs, warmup_epochs=warmup, free_bits=free_bits)()
    x = torch.rand(2, 5, spec.N_FREQ)
    model.train()
    model.on_train_step(progress)
    torch.manual_seed(0)
    objective, recon, kl = model.loss(x)
    torch.manual_seed(0)
    eta, _, mean, logvar = model(x)
    plain_loss, plain_recon, plain_kl = model.get_loss(x, eta, mean, logvar)
    weight = min(1.0, progress * epochs / warmup) if warmup else 1.0
    expected = plain_recon + weight * torch.clamp(_unit_kl(mean, logvar), min=free_bits).sum()
    assert float(recon) == pytest.approx(float(plain_recon)) and float(kl) == pytest.approx(float(plain_kl)), \
        "the recorded recon and KL stay the handout's"
    assert float(objective) == pytest.approx(float(expected), rel=1e-5)
    # Evaluation is the plain negative ELBO, whatever the schedule.
    model.eval()
    torch.manual_seed(0)
    evaluated, _, _ = model.loss(x)
    torch.manual_seed(0)
    eta, _, mean, logvar = model(x)
    assert float(evaluated) == pytest.approx(float(model.get_loss(x, eta, mean, logvar)[0]))


def test_recipe_is_recorded_and_loads_into_the_plain_model(tiny_corpus, tmp_path):
    extra = corpus(tmp_path / "extra.npz", n_train=1, n_eval=1, seed=1)
    out = tmp_path / "model.pt"
    code = vaelab(["pretrain", "--corpus", str(tiny_corpus), "--out", str(out), "--epochs", "4", "--patience", "2",
                   "--batch-size", "4", "--warmup-epochs", "2", "--free-bits", "0.5", "--extra-corpus", str(extra),
                   "--threads", "1"])
    assert code == 0
    saved = load_checkpoint(out)
    provenance = saved["provenance"]
    assert provenance["warmup_epochs"] == 2 and provenance["free_bits"] == 0.5 and provenance["seed"] == 0
    assert provenance["extra_corpus"] == str(extra) and len(provenance["extra_corpus_manifest_sha256"]) == 64
    assert provenance["train_sequences"] == 9 + 6 and provenance["eval_sequences"] == 3
    assert provenance["best_epoch"] > 2, "epochs of the warm-up are not candidates for the best"
    model = Reference()
    load_state_by_parts(model, saved["model"])  # the student's class takes the weights by part names
    assert evaluate(model, load_dataset(tiny_corpus), seed=0)["total"] == pytest.approx(provenance["best_eval_loss"],
                                                                                        rel=1e-5)


@pytest.mark.parametrize("flags, message", [(["--warmup-epochs", "4"], "--warmup-epochs"),
                                            (["--free-bits", "-1"], "--free-bits")])
def test_bad_recipe_settings_are_refused(tiny_corpus, tmp_path, flags, message, capsys):
    out = tmp_path / "model.pt"
    code = vaelab(["pretrain", "--corpus", str(tiny_corpus), "--out", str(out), "--epochs", "4", *flags])
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists()
