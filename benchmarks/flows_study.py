"""Part 2 of the flows lab over seeds and data sets: the eval -ELBO per frame of lab 1's VAE with
K = 0, 4 and 8 planar flows in its posterior, with the solution notebook's own FlowVAE.

    python benchmarks/flows_study.py [--seeds 0 1 2] [--epochs N] [--speaker-a A.npz --speaker-b B.npz]

Default data: the built-in Speakers A and B; default epochs: the notebook's (grading.py's
EPOCHS). Prints one row per K: each seed's eval -ELBO, recon, KL and seconds per epoch, then mean
and sample standard deviation. The README's flows table and the issue note's came from this
script's numbers on the built-in data and on two test-other readers built with `vaelab data build`.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from grader.assignment import assignment, default_solutions
from vaelab_core.datasets import concat, load_dataset, speaker_path
from vaelab_core.training import evaluate, new_model, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the notebook's EPOCHS")
    parser.add_argument("--speaker-a", default=None)
    parser.add_argument("--speaker-b", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lab = assignment(default_solutions(), "flows")
    flow_vae = lab.reference_namespace()["FlowVAE"]
    epochs = lab.rules().EPOCHS if args.epochs is None else args.epochs
    joint = concat(load_dataset(args.speaker_a or speaker_path("A")), load_dataset(args.speaker_b or speaker_path("B")),
                   name="A+B")
    print(f"{joint}; {epochs} epochs, seeds {args.seeds}, 1 torch thread")
    for k in (0, 4, 8):
        totals = []
        for seed in args.seeds:
            model = new_model(lambda: flow_vae(n_flows=k), seed=seed)
            history = train(model, joint, epochs=epochs, seed=seed, batch_size=4, progress=False)
            scores = evaluate(model, joint.eval, seed=seed)
            totals.append(scores["total"])
            print(f"K={k} seed {seed}: -ELBO {scores['total']:.2f} (recon {scores['recon']:.2f}, KL {scores['kl']:.2f}), "
                  f"{history['seconds'] / epochs:.3f} s/epoch")
        spread = statistics.stdev(totals) if len(totals) > 1 else 0.0
        print(f"K={k}: {statistics.mean(totals):.1f} ± {spread:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
