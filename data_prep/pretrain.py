"""`vaelab pretrain`: train the reference VAE on a multi-speaker set, with early stopping.

The model class is given by the caller (the `vaelab pretrain` verb passes the reference loaded
from the instructor's solutions folder); the training steps are the ones students use
(vaelab_core.training). The checkpoint keeps the
weights of the epoch with the lowest eval loss.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from vaelab_core.atomic_files import check_writable
from vaelab_core.checkpoints import save_checkpoint
from vaelab_core.datasets import load_dataset, steps_per_epoch
from vaelab_core.errors import VaelabError
from vaelab_core.training import TrainConfig, new_model, train


def main(corpus: str | Path, out: str | Path, model_class: type, epochs: int = 200, patience: int = 15,
         batch_size: int = 8, seed: int = 0, lr: float = 1e-3,
         force: bool = False, command: str | None = None, progress: bool = True) -> dict:
    """Pre-train and write the checkpoint to `out`; returns the checkpoint's provenance."""
    if epochs < 1 or patience < 1:
        raise VaelabError(f"--epochs and --patience must be at least 1 (got {epochs}, {patience}).")
    out = check_writable(out, force)
    data = load_dataset(corpus)
    if len(data.eval) == 0:
        raise VaelabError(f"{corpus}: the eval split is empty; early stopping needs held-out "
                          "utterances (rebuild with --eval-fraction > 0).")
    started = time.perf_counter()
    model = new_model(model_class, seed)
    readers = data.manifest.get("readers", [])
    print(f"pre-training on {data.name}: {len(data.train)} train / {len(data.eval)} eval sequences"
          f"{f', {len(readers)} readers' if readers else ''}; "
          f"{steps_per_epoch(len(data.train), batch_size)} steps per epoch")
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                         desc="pre-training", patience=patience)
    history = train(model, data, config)
    best_epoch, best_loss = history["best_epoch"], history["best_eval_loss"]

    manifest_text = json.dumps(data.manifest, sort_keys=True)
    provenance = {
        "corpus": str(corpus),
        "corpus_manifest_sha256": hashlib.sha256(manifest_text.encode()).hexdigest(),
        "corpus_speaker": data.name,
        "corpus_readers": len(readers),
        "train_sequences": len(data.train),
        "eval_sequences": len(data.eval),
        "epochs_run": len(history["eval"]["total"]),
        "best_epoch": best_epoch,
        "best_eval_loss": best_loss,
        "seconds": round(time.perf_counter() - started, 1),
        "command": command or "data_prep.pretrain.main",
    }
    save_checkpoint(out, model, epoch=best_epoch, history=history, config={"train": history["config"]},
                    provenance=provenance, force=force)
    print(f"wrote {out}: best eval loss {best_loss:.2f} per frame at epoch {best_epoch} "
          f"of {provenance['epochs_run']} ({provenance['seconds']:.0f} s)")
    return provenance
