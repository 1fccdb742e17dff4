"""Benchmark part 1 of the flows lab: fitting the chains one after the other against `fit_chains`.

    python benchmarks/bench_flows_fits.py [--steps N] [--repeats N] [--threads N[,N...]]

For each thread count (default: 1, as in a graded kernel, and torch's default, as in a student's
notebook), with the reference solution's `flow_chain` and `free_energy` and the notebook's
K = 2, 8, 32:
  - the wall time of `fit_densities` for each K, one after the other (each fit pays for its own
    target energies, backward pass and Adam step);
  - the wall time of `fit_chains` (one loop for all chains on one thread, groups side by side on
    more);
  - whether both give the same parameters and free-energy histories, to the bit (`torch.equal`).
The two are run in turn, `--repeats` times, so that a machine whose speed drifts shows it in the
pairs. Each thread count runs in a process of its own that gets it as a graded kernel does, from
OMP_NUM_THREADS and its kin, not from `torch.set_num_threads`: on the 2-core VM, after an explicit
`torch.set_num_threads(2)`, the chains side by side took 8.5 and 10.0 s for 400 steps against 6.8
and 7.3 s without it (K = 32 alone: 5.5 to 6.9 s either way). The float32 1024^3 matmul rate and
the load average are printed for the record.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import matmul_gflops  # noqa: E402

from grader.assignment import assignment, default_solutions  # noqa: E402
from grader.engine.environment import THREAD_VARIABLES  # noqa: E402
from vaelab_core import flows  # noqa: E402

FLOW_COUNTS = (2, 8, 32)  # the notebook's


def _timed(fit) -> tuple[float, dict]:
    started = time.perf_counter()
    fitted = fit()
    return time.perf_counter() - started, fitted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=flows.DensityFit().steps, help="Adam steps of each fit")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of runs per thread count")
    parser.add_argument("--threads", default=f"1,{torch.get_num_threads()}",
                        help="torch thread counts to time (default: 1 and torch's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.child:  # each thread count in a process of its own (see the docstring)
        for threads in dict.fromkeys(int(t) for t in args.threads.split(",")):
            env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}
            subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--repeats", str(args.repeats),
                            "--child"], check=True, env=env)
        return 0
    namespace = assignment(default_solutions(), "flows").reference_namespace()
    chain, free_energy = namespace["flow_chain"], namespace["free_energy"]
    config = flows.DensityFit(steps=args.steps)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"machine: {os.cpu_count()} cores, load average {load}; torch {torch.__version__}; "
          f"K = {', '.join(map(str, FLOW_COUNTS))}, {args.steps} steps of {config.samples} samples per target")
    threads = torch.get_num_threads()
    print(f"{threads} thread(s): float32 matmul 1024^3 {matmul_gflops(1024, 1024, 1024):.0f} GFLOP/s")
    # a short fit first: the first pair of a process ran 1.3x apart where later pairs ran 1.1x
    flows.fit_chains(FLOW_COUNTS, chain, free_energy, flows.DensityFit(steps=50))
    for repeat in range(args.repeats):
        apart, alone = _timed(lambda: {k: flows.fit_densities(k, chain, free_energy, config) for k in FLOW_COUNTS})
        together_s, together = _timed(lambda: flows.fit_chains(FLOW_COUNTS, chain, free_energy, config))
        same = all(torch.equal(getattr(alone[k], name), getattr(together[k], name))
                   for k in FLOW_COUNTS for name in ("u", "w", "b", "history"))
        print(f"  pair {repeat + 1}: one after the other {apart:6.2f} s, fit_chains {together_s:6.2f} s "
              f"({apart / together_s:.2f}x); same fits to the bit: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
