"""Prints how useful the shipped pre-trained model is on real readers it has never seen.

    python benchmarks/eval_pretrained.py [--speech ../shared/speech] [--checkpoint FILE]

For four test-other readers: the pre-trained model's eval loss next to that of a model trained
from scratch for 30 epochs on that reader alone. Then readers 1998 and 2033 as Speakers A and
B: the pre-trained model, Model A and Model B (20 epochs of fine-tuning each) on both. Losses
are the negative ELBO per frame on the eval splits (lower is better). Needs ../shared/speech.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from data_prep.build import main as build
from grader.assignment import default_solutions, load_reference
from vaelab_core.checkpoints import load_pretrained
from vaelab_core.datasets import load_dataset
from vaelab_core.training import evaluate, finetune, new_model, train

REPO = Path(__file__).resolve().parents[1]


def main(speech: Path, checkpoint: Path | None = None) -> None:
    readers = speech / "librispeech" / "test-other"
    reference = load_reference(default_solutions())
    pretrained = load_pretrained(reference(), checkpoint)  # None: the shipped checkpoint
    with tempfile.TemporaryDirectory() as folder:
        data = {r: load_dataset(build(readers, Path(folder) / f"{r}.npz", speaker=r, quiet=True))
                for r in ("3331", "1688", "367", "3005", "1998", "2033")}
    print("unseen reader   train seqs   pre-trained   scratch, 30 epochs")
    for reader in ("3331", "1688", "367", "3005"):
        scratch = new_model(reference, seed=0)
        train(scratch, data[reader], epochs=30, seed=0, progress=False)
        print(f"{reader:>13}   {len(data[reader].train):>10}   {evaluate(pretrained, data[reader])['total']:>11.1f}"
              f"   {evaluate(scratch, data[reader])['total']:>18.1f}")
    a, b = data["1998"], data["2033"]
    model_a, _ = finetune(pretrained, a, epochs=20, seed=0, progress=False)
    model_b, _ = finetune(pretrained, b, epochs=20, seed=0, progress=False)
    print("\nmodel        on A (1998)   on B (2033)")
    for name, model in (("pre-trained", pretrained), ("Model A", model_a), ("Model B", model_b)):
        print(f"{name:<11}  {evaluate(model, a)['total']:>11.1f}   {evaluate(model, b)['total']:>11.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, default=REPO.parent / "shared" / "speech")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint to judge instead of the shipped one")
    args = parser.parse_args()
    main(args.speech, args.checkpoint)
