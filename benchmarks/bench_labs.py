"""Wall time of each lab's solution notebook, executed headless as `vaelab demo` runs it.

    python benchmarks/bench_labs.py [--lab NAME] [--repeats N] [--threads N]

Prints the machine (cores, load average, torch threads, float32 matmul rate), then per lab
and run: the notebook's wall time from kernel start to the last cell, its matmul units (wall
time x the machine's float32 1024^3 matmul rate with all its cores, measured in the same run:
the work the machine could have done meanwhile; goal at most 5,000 GFLOP) and its slowest cells.
--threads gives the kernel that many torch threads (default: torch's own, as on a student's
machine).
The built-in Speaker A and B sets are built first if missing (not timed); the latent_space
sweeps are built by the notebook itself on its first run (timed once, 0.3 s). Goal for the
second lab: at most 60 s on 2 cores. Figures only mean something on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import matmul_gflops  # noqa: E402 (this folder's sibling script)

from grader.kit.demo import lab_names  # noqa: E402
from grader.engine.environment import kernel_environment  # noqa: E402
from grader.engine.execute import execute_notebook  # noqa: E402
from grader.assignment import assignment, default_solutions  # noqa: E402


def cell_seconds(notebook) -> list[tuple[str, float]]:
    """(cell id, seconds) of every executed code cell, from nbclient's timing metadata."""
    found = []
    for cell in notebook.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "code")
            found.append((grade_id, (end - start).total_seconds()))
    return found


GOAL_GFLOP = 5000  # a notebook's matmul units at most (wall time x matmul rate)


def run(name: str, speakers: tuple[Path, Path], threads: int | None = None) -> tuple[float, list[tuple[str, float]]]:
    source = assignment(default_solutions(), name).notebook_path
    with tempfile.TemporaryDirectory(prefix="vaelab-bench-labs-") as tmp:
        env = kernel_environment({"VAELAB_SPEAKER_A": str(speakers[0]), "VAELAB_SPEAKER_B": str(speakers[1])},
                                 Path(tmp), threads)
        started = time.perf_counter()
        notebook = execute_notebook(source, Path(tmp), env, timeout=3600)
        return time.perf_counter() - started, cell_seconds(notebook)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default=None, help="one lab of solutions/ (default: all)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per lab (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the kernel (default: torch's)")
    args = parser.parse_args(argv)
    from data_prep.defaults import main as build_defaults

    speakers = tuple(Path(p).resolve() for p in build_defaults())
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    rate = matmul_gflops(1024, 1024, 1024)  # with torch's default threads: all the cores
    print(f"machine   {os.cpu_count()} cores, load average {load}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; float32 matmul 1024^3 {rate:.0f} GFLOP/s; kernel threads "
          f"{args.threads or 'torch default'}")
    for name in [args.lab] if args.lab else lab_names(default_solutions()):
        for repeat in range(args.repeats):
            seconds, cells = run(name, speakers, args.threads)
            slowest = ", ".join(f"{cell} {s:.1f} s" for cell, s in sorted(cells, key=lambda c: -c[1])[:4])
            units = seconds * rate
            print(f"{name:<13} run {repeat + 1}: {seconds:6.1f} s (kernel start to last cell), {units:,.0f} GFLOP "
                  f"of matmul time (goal <= {GOAL_GFLOP:,}: {'met' if units <= GOAL_GFLOP else 'NOT met'}); "
                  f"slowest: {slowest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
