"""Benchmark independent training runs one after the other against side by side (`vaelab_core.lanes`).

    python benchmarks/bench_lanes.py [--runs N] [--epochs N] [--repeats N]

Trains `--runs` seeds of lab 1's reference model on the built-in Speakers A+B (batch 4, as the
notebook) with `training.train_runs`, in turn:
  - one after the other in this process, on torch's threads (VAELAB_LANES=1), as a notebook did
    before the runs went side by side;
  - side by side, one forked process per torch thread, each on one thread (the default).
It prints each wall time, the ratio of each pair, whether both gave the same histories and
weights to the bit (`torch.equal`), and the float32 1024^3 matmul rate on torch's threads and on
one, before and after, for the record. The pairs alternate, so a machine whose speed drifts
shows it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import matmul_gflops  # noqa: E402

from grader.assignment import assignment, default_solutions  # noqa: E402
from vaelab_core.datasets import concat, load_dataset, speaker_path  # noqa: E402
from vaelab_core.lanes import LANES_ENV, lanes  # noqa: E402
from vaelab_core.training import Run, new_model, train_runs  # noqa: E402


def _rates() -> str:
    threads = torch.get_num_threads()
    on_all = matmul_gflops(1024, 1024, 1024)
    torch.set_num_threads(1)
    on_one = matmul_gflops(1024, 1024, 1024)
    torch.set_num_threads(threads)
    return f"1024^3 matmul {on_all:.0f} GFLOP/s on {threads} thread(s), {on_one:.0f} on 1"


def _train(model_class, data, runs: int, epochs: int, lanes_setting: str | None) -> tuple[float, dict, dict]:
    if lanes_setting is None:
        os.environ.pop(LANES_ENV, None)
    else:
        os.environ[LANES_ENV] = lanes_setting
    jobs = {seed: Run(new_model(model_class, seed), data, {"epochs": epochs, "seed": seed, "progress": False})
            for seed in range(1, runs + 1)}
    started = time.perf_counter()
    histories = train_runs(jobs)
    seconds = time.perf_counter() - started
    return seconds, histories, {seed: job.model.state_dict() for seed, job in jobs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="independent runs (seeds), as lab 1's seeds 1 to 4")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each run")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of timings")
    args = parser.parse_args(argv)
    model_class = assignment(default_solutions(), "vae_speech").reference_namespace()["SpeechVAE"]
    data = concat(load_dataset(speaker_path("A")), load_dataset(speaker_path("B")), name="A+B")
    side = lanes(args.runs)
    print(f"{args.runs} runs of {args.epochs} epochs on {data}; torch threads {torch.get_num_threads()}, "
          f"side by side {side} at a time; {os.cpu_count()} cores")
    print("before:", _rates())
    _train(model_class, data, 1, 1, "1")  # warm-up
    ratios = []
    for repeat in range(args.repeats):
        alone, histories_1, weights_1 = _train(model_class, data, args.runs, args.epochs, "1")
        beside, histories_2, weights_2 = _train(model_class, data, args.runs, args.epochs, None)
        same = histories_1.keys() == histories_2.keys() and all(
            histories_1[k][split] == histories_2[k][split] for k in histories_1 for split in ("train", "eval")) \
            and all(torch.equal(weights_1[k][name], weights_2[k][name]) for k in weights_1 for name in weights_1[k])
        ratios.append(alone / beside)
        print(f"pair {repeat + 1}: one after the other {alone:6.2f} s, side by side {beside:6.2f} s: "
              f"{alone / beside:.2f} times faster; the same histories and weights to the bit: {same}")
    print("after: ", _rates())
    print(f"speed-up over {len(ratios)} pairs: {min(ratios):.2f} to {max(ratios):.2f} times")
    return 0


if __name__ == "__main__":
    sys.exit(main())
