"""`vaelab pretrain`: train the reference VAE on a multi-speaker set, with early stopping.

The model class is given by the caller (the `vaelab pretrain` verb passes the reference loaded
from the instructor's solutions folder); the training steps are the ones students use
(vaelab_core.training). The checkpoint keeps the weights of the epoch with the lowest eval loss
(the true negative ELBO on the corpus's held-out utterances).

Against posterior collapse (a decoder that learns to do without most latent units, whose KL
then falls to 0), the recipe has two standard remedies, both off by default:
- a KL warm-up: the KL weight rises linearly from 0 to 1 over the first `warmup_epochs`
  (Bowman et al. 2016; Sønderby et al. 2016), so the encoder learns to carry information
  before it is charged for it; early stopping ignores those epochs;
- free bits: each latent unit's KL, averaged over the batch, is charged only above
  `free_bits` nats (Kingma et al. 2016, "Improved variational inference with inverse
  autoregressive flow"), so a unit is not pushed all the way back to the prior.
Both change the training objective only: evaluation, early stopping and the recorded KL are the
plain negative ELBO of the handout, and the weights load into the students' own model.
An `extra_corpus` (e.g. hours of the kit's synthetic speech) adds training sequences; the eval
split stays the main corpus's.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from vaelab_core.atomic_files import check_writable
from vaelab_core.checkpoints import save_checkpoint
import torch

from vaelab_core.datasets import SpeakerDataset, load_dataset, steps_per_epoch
from vaelab_core.errors import VaelabError
from vaelab_core.training import TrainConfig, new_model, train


def recipe_class(model_class: type, epochs: int, warmup_epochs: int = 0, free_bits: float = 0.0) -> type:
    """`model_class` trained with the recipe's objective: KL weight min(1, epochs done / warmup_epochs),
    each unit's batch-mean KL charged as max(free_bits, KL). Evaluation keeps the plain loss."""

    class Pretraining(model_class):
        kl_weight = 1.0

        def on_train_step(self, progress: float) -> None:
            # progress: share of `epochs` done (vaelab_core.training), so progress * epochs = epochs done.
            self.kl_weight = min(1.0, progress * epochs / warmup_epochs) if warmup_epochs else 1.0

        def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """(objective, recon, kl) in training, with kl the plain KL; (loss, recon, kl) in evaluation."""
            eta, _, mean, logvar = self(x)
            loss, recon, kl = self.get_loss(x, eta, mean, logvar)
            if not self.training or (self.kl_weight == 1.0 and free_bits == 0.0):
                return loss, recon, kl
            # KL of each unit, averaged over the frames of the batch: (Z,)
            per_unit = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).reshape(-1, mean.shape[-1]).mean(0)
            return recon + self.kl_weight * per_unit.clamp(min=free_bits).sum(), recon, kl

    Pretraining.__name__ = Pretraining.__qualname__ = f"{model_class.__name__}Pretraining"
    return Pretraining


def main(corpus: str | Path, out: str | Path, model_class: type, epochs: int = 200, patience: int = 15,
         batch_size: int = 8, seed: int = 0, lr: float = 1e-3, warmup_epochs: int = 0, free_bits: float = 0.0,
         extra_corpus: str | Path | None = None, threads: int | None = None,
         force: bool = False, command: str | None = None, progress: bool = True) -> dict:
    """Pre-train and write the checkpoint to `out`; returns the checkpoint's provenance.

    warmup_epochs, free_bits: the remedies against posterior collapse (module docstring);
    extra_corpus: a dataset whose sequences (both splits) join the training split;
    threads: torch threads of this process (None: torch's default; 1 when several run side by side).
    """
    if epochs < 1 or patience < 1:
        raise VaelabError(f"--epochs and --patience must be at least 1 (got {epochs}, {patience}).")
    if warmup_epochs < 0 or warmup_epochs >= epochs:
        raise VaelabError(f"--warmup-epochs must be from 0 to fewer than --epochs ({epochs}); got {warmup_epochs}.")
    if not 0.0 <= free_bits <= 8.0:
        raise VaelabError(f"--free-bits is in nats per latent unit, from 0 to 8; got {free_bits}.")
    out = check_writable(out, force)
    if threads is not None:
        torch.set_num_threads(threads)
    data = load_dataset(corpus)
    if len(data.eval) == 0:
        raise VaelabError(f"{corpus}: the eval split is empty; early stopping needs held-out "
                          "utterances (rebuild with --eval-fraction > 0).")
    extra = load_dataset(extra_corpus) if extra_corpus is not None else None
    train_data = data if extra is None else SpeakerDataset(
        torch.cat([data.train, extra.train, extra.eval]), data.eval, data.manifest)
    started = time.perf_counter()
    model = new_model(recipe_class(model_class, epochs, warmup_epochs, free_bits), seed)
    readers = data.manifest.get("readers", [])
    print(f"pre-training on {data.name}: {len(train_data.train)} train / {len(data.eval)} eval sequences"
          f"{f', {len(readers)} readers' if readers else ''}"
          f"{f' (+{len(train_data.train) - len(data.train)} of {extra.name})' if extra is not None else ''}; "
          f"{steps_per_epoch(len(train_data.train), batch_size)} steps per epoch; "
          f"KL warm-up {warmup_epochs} epochs, free bits {free_bits} nats per unit")
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, progress=progress,
                         desc="pre-training", patience=patience, patience_after=warmup_epochs)
    history = train(model, train_data, config)
    best_epoch, best_loss = history["best_epoch"], history["best_eval_loss"]

    manifest_text = json.dumps(data.manifest, sort_keys=True)
    provenance = {
        "corpus": str(corpus),
        "corpus_manifest_sha256": hashlib.sha256(manifest_text.encode()).hexdigest(),
        "corpus_speaker": data.name,
        "corpus_readers": len(readers),
        "extra_corpus": str(extra_corpus) if extra is not None else None,
        "extra_corpus_manifest_sha256": (hashlib.sha256(json.dumps(extra.manifest, sort_keys=True).encode())
                                         .hexdigest() if extra is not None else None),
        "train_sequences": len(train_data.train),
        "warmup_epochs": warmup_epochs,
        "free_bits": free_bits,
        "seed": seed,
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
