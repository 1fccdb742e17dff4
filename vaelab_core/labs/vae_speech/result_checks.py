"""Public checks of vae_speech's results (handout sections 2.4 and 2.5), recorded for the grader.

Each check first records the notebook's numbers (`vaelab_core.records`) in the cell that calls
it, for the grader, which judges them against the reference run on the same data; then it
checks what can be checked without a reference and says what looks wrong.
"""

from __future__ import annotations

import math

import numpy as np

from vaelab_core.checking import fail
from vaelab_core.records import record


def check_training(history: dict, epochs: int) -> None:
    """The 30-epoch history (2.4.1): `epochs` finite values of total, recon and KL per split."""
    part = "training"
    record("test_training", epochs=epochs,
           train={t: history.get("train", {}).get(t) for t in ("total", "recon", "kl")},
           eval={t: history.get("eval", {}).get(t) for t in ("total", "recon", "kl")})
    for split in ("train", "eval"):
        for term in ("total", "recon", "kl"):
            values = history.get(split, {}).get(term)
            if values is None or len(values) != epochs:
                fail(part, f"the history should hold {epochs} epochs of {split} {term}, found "
                           f"{'none' if values is None else len(values)}. Did the training cell run "
                           "to the end?")
            if not all(math.isfinite(v) for v in values):
                fail(part, f"{split} {term} is not finite at some epoch: see the training cell's "
                           "error; get_loss and inference are the usual suspects.")
    train = history["train"]
    if not train["total"][-1] < train["total"][0]:
        fail(part, f"the training loss did not go down ({train['total'][0]:.1f} at epoch 1, "
                   f"{train['total'][-1]:.1f} at epoch {epochs}). Does the gradient reach every "
                   "part of the model (reparametrization, inference)?")
    print(f"✓ training: {epochs} epochs recorded; train loss {train['total'][0]:.1f} -> {train['total'][-1]:.1f}")


def check_seeds(seed_runs: dict, epochs: int) -> None:
    """Five seeds (2.4.2): a (seeds, epochs) history of the train loss, runs that really differ."""
    part = "seeds"
    totals = seed_runs.get("train", {}).get("total")
    record("test_seeds", seeds=list(seed_runs.get("seeds", [])), train_total=totals,
           train_recon=seed_runs.get("train", {}).get("recon"), train_kl=seed_runs.get("train", {}).get("kl"))
    totals = np.asarray(totals, dtype=float)
    if totals.ndim != 2 or totals.shape[1] != epochs or totals.shape[0] < 2:
        fail(part, f"expected the train loss of each seed at each epoch, shape (seeds, {epochs}); "
                   f"got {totals.shape}.")
    if not np.isfinite(totals).all():
        fail(part, "some seed's loss is not finite: see the error of that run.")
    if np.ptp(totals[:, -1]) == 0:
        fail(part, "every seed ends at exactly the same loss: are the runs really seeded "
                   "differently (new_model(SpeechVAE, seed) and train(..., seed=seed))?")
    mean = totals.mean(0)
    if not mean[-1] < mean[0]:
        fail(part, f"the mean loss over seeds does not go down ({mean[0]:.1f} -> {mean[-1]:.1f}).")
    print(f"✓ seeds: {totals.shape[0]} runs of {epochs} epochs recorded; final loss "
          f"{mean[-1]:.1f} ± {totals[:, -1].std():.1f}")


def check_finetuning(pretrained_loss: dict, finetuned_loss: dict) -> None:
    """Fine-tuning (2.5.2-2.5.3): each fine-tuned model beats the pre-trained one on its speaker."""
    part = "fine-tuning"
    record("test_finetune", pretrained=pretrained_loss, finetuned=finetuned_loss)
    for speaker in ("A", "B"):
        before, after = pretrained_loss.get(speaker), finetuned_loss.get(speaker)
        if not all(isinstance(v, float) and math.isfinite(v) for v in (before, after)):
            fail(part, f"expected finite losses on Speaker {speaker} before and after fine-tuning, "
                       f"got {before!r} and {after!r}.")
        if not after < before:
            fail(part, f"Model {speaker} ({after:.1f}) is not better than the pre-trained model "
                       f"({before:.1f}) on Speaker {speaker}'s data: did fine-tuning start from the "
                       "pre-trained weights (load_pretrained) and run its 20 epochs?")
    print("✓ fine-tuning: each fine-tuned model beats the pre-trained one on its own speaker")


def check_cross(cross: dict) -> None:
    """Cross-evaluation (2.5.4): a 2 x 2 table cross[model][data] of finite losses."""
    part = "cross-evaluation"
    record("test_cross", cross=cross)
    for model in ("A", "B"):
        for data in ("A", "B"):
            value = cross.get(model, {}).get(data)
            if not (isinstance(value, float) and math.isfinite(value)):
                fail(part, f"cross[{model!r}][{data!r}] should be a finite loss, got {value!r}.")
    print("✓ cross-evaluation: the 2 x 2 table is complete")
