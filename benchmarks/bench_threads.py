"""A training run's thread count chosen on its first steps, against torch's count kept, idle and busy.

    python benchmarks/bench_threads.py [--epochs 30] [--repeats 2]

Trains lab 1's reference model as its notebook's first run does (the built-in Speakers A and B
jointly, seed 0, the lab's batch, evaluation after every epoch; built first if missing), on
torch's default thread count, four ways: with the count fixed ($VAELAB_TRAIN_THREADS=fixed) and
with the choice of `vaelab_core.threads`, each on the machine as it is and with one core kept
busy by another process (a Python loop, as a browser tab or a second notebook would). Prints
each run's seconds, the thread count it trained on, and whether its history is the fixed idle
run's to the bit. Figures only mean something on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time

import torch

from data_prep.defaults import main as build_defaults
from grader.assignment import default_solutions, load_reference
from vaelab_core.datasets import concat, load_dataset
from vaelab_core.threads import THREADS_ENV
from vaelab_core.training import new_model, train


@contextlib.contextmanager
def one_core_busy():
    """Another process spinning on one core while the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it reach the scheduler
        yield
    finally:
        spinner.kill()
        spinner.wait()


def timed_run(model_class, data, epochs: int, setting: str) -> tuple[float, dict]:
    os.environ[THREADS_ENV] = setting
    model = new_model(model_class, 0)
    started = time.perf_counter()
    history = train(model, data, epochs=epochs, seed=0, progress=False)
    return time.perf_counter() - started, history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30, the lab's)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each kind (default 2)")
    args = parser.parse_args(argv)
    speaker_a, speaker_b = (load_dataset(path) for path in build_defaults())
    joint = concat(speaker_a, speaker_b, name="A+B")
    model_class = load_reference(default_solutions())
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"machine   {os.cpu_count()} cores, load average {load}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads by default; {args.epochs} epochs on A+B ({len(joint.train)} sequences)")
    before = os.environ.get(THREADS_ENV)
    reference = None
    try:
        for busy in (False, True):
            for setting in ("fixed", "measure"):
                for repeat in range(args.repeats):
                    with one_core_busy() if busy else contextlib.nullcontext():
                        seconds, history = timed_run(model_class, joint, args.epochs, setting)
                    reference = reference or history
                    same = history["train"] == reference["train"] and history["eval"] == reference["eval"]
                    print(f"{'one core busy' if busy else 'idle':14s} {setting:8s} run {repeat + 1}: {seconds:6.2f} s "
                          f"on {history['threads']} thread(s); history {'the same' if same else 'DIFFERENT'} "
                          f"(final train loss {history['train']['total'][-1]:.6f})")
    finally:
        if before is None:
            os.environ.pop(THREADS_ENV, None)
        else:
            os.environ[THREADS_ENV] = before
    return 0


if __name__ == "__main__":
    sys.exit(main())
