"""`results.json`: the notebook's numbers under fixed keys, for the demo, tests and grading.

Losses are the negative ELBO per frame; A and B losses are on the eval splits. Keys:
  scratch.history.{train,eval}.{total,recon,kl}   per epoch, the 30-epoch model on A+B
  scratch.eval_loss.{A,B}                          that model on each speaker
  seeds.total_mean, seeds.total_std                train total per epoch over the seeds
  seeds.eval_total_mean, seeds.eval_total_std      eval total per epoch over the seeds
  pretrained.{A,B}                                 the pre-trained model, no fine-tuning
  finetuned.{A,B}                                  Model A on A, Model B on B
  cross.{A,B}.{A,B}                                cross[model][data] after fine-tuning
  steps_per_epoch, seconds                         steps of the 30-epoch run; notebook wall time
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vaelab_core.atomic_files import atomic_path


def _plain(value):
    """numpy arrays and scalars -> lists and floats, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def lab_results(scratch_history: dict, scratch_eval_loss: dict, seed_runs: dict,
                pretrained_loss: dict, finetuned_loss: dict, cross: dict, seconds: float) -> dict:
    """Gather the notebook's results under the keys documented above."""
    train_total = np.asarray(seed_runs["train"]["total"])
    eval_total = np.asarray(seed_runs["eval"]["total"])
    return _plain({
        "scratch": {"history": {s: scratch_history[s] for s in ("train", "eval")},
                    "eval_loss": scratch_eval_loss},
        "seeds": {"seeds": seed_runs["seeds"],
                  "total_mean": train_total.mean(0), "total_std": train_total.std(0),
                  "eval_total_mean": eval_total.mean(0), "eval_total_std": eval_total.std(0)},
        "pretrained": pretrained_loss,
        "finetuned": finetuned_loss,
        "cross": cross,
        "steps_per_epoch": scratch_history.get("steps_per_epoch"),
        "seconds": seconds,
    })


def save_results(path: str | Path, results: dict) -> Path:
    """Write `results` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_plain(results), indent=1))
    return path
