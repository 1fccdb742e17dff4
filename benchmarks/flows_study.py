"""The flows lab over seeds: part 2 (default) or part 1 (--densities), with the solution
notebook's own functions.

    python benchmarks/flows_study.py [--seeds 0 1 2] [--epochs N] [--speaker-a A.npz --speaker-b B.npz]
    python benchmarks/flows_study.py --densities [--seeds 0 1 2] [--steps N] [--samples N] [--lr X]

Part 2: the eval -ELBO per frame of lab 1's VAE with K = 0, 4 and 8 planar flows in its
posterior. Default data: the built-in Speakers A and B; default epochs: the notebook's
(grading.py's EPOCHS). Prints one row per K: each seed's eval -ELBO, recon, KL and seconds per
epoch, then mean and sample standard deviation. The README's flows table and the issue note's
came from this script's numbers on the built-in data and on two test-other readers built with
`vaelab data build`.

Part 1: the chains of K = 2, 8 and 32 flows fitted to U1 to U4 with each seed (the notebook's
`vaelab_core.flows.DensityFit`, or the steps, samples and learning rate given), one torch thread
as in a graded kernel. Prints each seed's fit seconds and KL gap F + ln Z per target and K, and
whether K = 32 beats K = 8 beats K = 2 on each target (the README's eight-seed figures).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from grader.assignment import assignment, default_solutions
from vaelab_core import flows
from vaelab_core.datasets import concat, load_dataset, speaker_path
from vaelab_core.training import evaluate, new_model, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the notebook's EPOCHS")
    parser.add_argument("--speaker-a", default=None)
    parser.add_argument("--speaker-b", default=None)
    parser.add_argument("--densities", action="store_true", help="part 1 instead of part 2")
    parser.add_argument("--steps", type=int, default=None, help="part 1: Adam steps (default: DensityFit's)")
    parser.add_argument("--samples", type=int, default=None, help="part 1: samples per step (default: DensityFit's)")
    parser.add_argument("--lr", type=float, default=None, help="part 1: learning rate (default: DensityFit's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lab = assignment(default_solutions(), "flows")
    if args.densities:
        chosen = {"steps": args.steps, "samples": args.samples, "lr": args.lr}
        config = dataclasses.replace(flows.DensityFit(), **{k: v for k, v in chosen.items() if v is not None})
        return _densities(lab.reference_namespace(), config, lab.rules().FLOW_COUNTS, args.seeds)
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
            print(f"K={k} seed {seed}: -ELBO {scores['total']:.2f} (recon {scores['recon']:.2f}, "
                  f"KL {scores['kl']:.2f}), {history['seconds'] / epochs:.3f} s/epoch")
        spread = statistics.stdev(totals) if len(totals) > 1 else 0.0
        print(f"K={k}: {statistics.mean(totals):.1f} ± {spread:.1f}")
    return 0


def _densities(namespace: dict, config: flows.DensityFit, counts: tuple[int, ...], seeds: list[int]) -> int:
    chain, free_energy = namespace["flow_chain"], namespace["free_energy"]
    log_z = {name: flows.log_normaliser(name) for name in flows.TARGETS}
    print(f"part 1: {config.steps} steps of {config.samples} samples, lr {config.lr}; seeds {seeds}, 1 torch thread")
    gaps = {}
    for seed in seeds:
        started = time.perf_counter()
        fitted = flows.fit_chains(counts, chain, free_energy, dataclasses.replace(config, seed=seed))
        seconds = time.perf_counter() - started
        for k in counts:
            for name, value in flows.final_free_energy(fitted[k], chain, free_energy).items():
                gaps[name, k, seed] = value + log_z[name]
        print(f"seed {seed}: fits {seconds:.1f} s; KL gap F + ln Z " + "; ".join(
            f"{name} " + " ".join(f"{gaps[name, k, seed]:.3f}" for k in counts) for name in flows.TARGETS))
    ordered = 0
    for name in flows.TARGETS:
        rows = [[gaps[name, k, seed] for k in counts] for seed in seeds]
        kept = sum(row[0] > row[1] > row[2] for row in rows)
        ordered += kept
        print(f"{name}: K = 2, 8, 32 mean " + " ".join(f"{statistics.mean(r[i] for r in rows):.3f}" for i in range(3))
              + f"; K = 32 < 8 < 2 on {kept} of {len(seeds)} seeds")
    print(f"ordered on {ordered} of {len(seeds) * len(flows.TARGETS)} (target, seed) pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
