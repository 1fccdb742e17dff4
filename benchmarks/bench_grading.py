"""Grading benchmark: the local pool, a Dask cluster on this machine, and plain `nbgrader autograde`.

Makes a course on the built-in speakers, a class of N submissions (default 20) cycling through
the example corpus, takes them in with `vaelab grade intake`, and grades them

1. with vaelab's local pool (`--jobs` processes, one thread each, warm starts), checking that
   every grade is the one the corpus expects;
2. with the same pool and cold starts (`--cold`: every probe and kernel from a fresh
   interpreter, not forked from the batch's zygote): what warm starts save, and the same grades;
3. on a Dask cluster started here (`dask scheduler` and `--jobs` single-thread `dask worker`
   processes, as on a real cluster): Dask's overhead per submission, and the same grades;
   then with the local pool without the sandbox (`--unsafe`): the sandbox's cost;
4. with plain `nbgrader autograde`, one after another with PyTorch's default threads, in a copy
   of the course (what an instructor does without vaelab).

Prints this machine's matmul rate before each run (its speed may drift between them), the
times, vaelab's seconds per submission split into kernel start, imports and data, training and
tests, and on paper what a class of 300 takes on 32 worker cores at the measured
per-submission figures.

    .venv/bin/python benchmarks/bench_grading.py [--submissions 20] [--jobs 2] [--skip-nbgrader]

It takes about 30-40 s per submission and per grader on 2 cores (20 submissions: ~40 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from grader.workflow import init as course_verb

from grader.workflow import autograde, intake, release
from grader.kit.example_submissions import expected_scores, write_example_zips


def matmul_gflops(n: int = 512, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - started) / 1e9


def plain_nbgrader(course_root: Path, copy: Path, students: list[str]) -> float:
    """Seconds for `nbgrader autograde` of every student, one after another, in a copy of the course."""
    shutil.copytree(course_root, copy, ignore=shutil.ignore_patterns("autograded", "feedback"))
    (copy / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(copy)!r}\nc.CourseDirectory.course_id = 'vaelab'\n"
        f"c.CourseDirectory.db_url = {f'sqlite:///{copy}/gradebook.db'!r}\n"
        "c.ExecutePreprocessor.timeout = 1800\n")
    env = {**os.environ, "VAELAB_SPEAKER_A": str(copy / "data" / "speaker_A.npz"),
           "VAELAB_SPEAKER_B": str(copy / "data" / "speaker_B.npz"), "TQDM_DISABLE": "1", "MPLBACKEND": "Agg",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("OMP_NUM_THREADS", None)
    started = time.perf_counter()
    for student in students:
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "autograde", "vae_speech",
                            "--student", student, "--force"], cwd=copy, check=True,
                           env={**env, "VAELAB_OUT": out}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20, help="class size (at least 8; default 20)")
    parser.add_argument("--jobs", type=int, default=2, help="vaelab's workers (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="build the course here and keep it")
    parser.add_argument("--skip-nbgrader", action="store_true", help="leave out plain nbgrader (the slowest)")
    parser.add_argument("--skip-unsafe", action="store_true", help="leave out the run without the sandbox")
    parser.add_argument("--skip-cold", action="store_true", help="leave out the run with cold starts")
    args = parser.parse_args(argv)
    if args.submissions < 8:
        parser.error("--submissions must be at least 8")
    print(f"machine   {os.cpu_count()} cores, load {', '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"matmul 512x512 float32 {matmul_gflops():.1f} GFLOP/s on {torch.get_num_threads()} threads")

    with tempfile.TemporaryDirectory(prefix="vaelab-bench-grading-") as tmp:
        root = args.keep or Path(tmp)
        os.environ.setdefault("VAELAB_HOME", str(root / "vaelab_home"))
        course = course_verb.main(root / "course", force=True)
        release.main(course.root)
        examples = list(expected_scores(course))
        students = {f"s{i:02d}": examples[i % len(examples)] for i in range(args.submissions)}
        write_example_zips(course, root / "inbox", students=students)
        intake.main(root / "inbox", course.root)

        expected = expected_scores(course)

        def differing(results: dict) -> dict:
            scores = {s: {t: v.score for t, v in (results[s].tests or {}).items()} for s in students}
            return {s: scores[s] for s, name in students.items() if scores[s] != expected[name]}

        speed = {"local": matmul_gflops()}  # this VM's speed drifts: measured before each run
        started = time.perf_counter()
        results = autograde.main(course.root, jobs=args.jobs, force=True)
        ours = time.perf_counter() - started
        wrong = differing(results)
        print(f"grades    local pool: {len(students) - len(wrong)} of {len(students)} as the example corpus "
              f"expects" + (f"; differing: {json.dumps(wrong)}" if wrong else ""))

        cold = cold_results = None
        if not args.skip_cold:
            speed["cold"] = matmul_gflops()
            started = time.perf_counter()
            cold_results = autograde.main(course.root, jobs=args.jobs, force=True, cold=True)
            cold = time.perf_counter() - started
            same = sum(cold_results[s].tests == results[s].tests for s in students)
            print(f"grades    cold starts: {same} of {len(students)} identical to the warm local pool's")
            wrong = wrong or {s: "differs cold" for s in students if cold_results[s].tests != results[s].tests}

        speed["dask"] = matmul_gflops()
        cluster_seconds, cluster_results = on_dask(course.root, root / "dask", args.jobs)
        same = sum(cluster_results[s].tests == results[s].tests for s in students)
        print(f"grades    Dask cluster: {same} of {len(students)} identical to the local pool's")
        wrong = wrong or {s: "differs on Dask" for s in students if cluster_results[s].tests != results[s].tests}

        unsandboxed = None
        if not args.skip_unsafe:
            started = time.perf_counter()
            autograde.main(course.root, jobs=args.jobs, force=True, unsafe=True)
            unsandboxed = time.perf_counter() - started
        plain = None if args.skip_nbgrader else plain_nbgrader(course.root, root / "plain", list(students))
        sent = inputs_mb(course)

    n = len(students)

    def per_submission(found: dict) -> dict[str, float]:
        return {k: sum(r.seconds[k] for r in found.values()) / n
                for k in ("kernel start", "imports and data", "training", "tests", "total")}

    split = per_submission(results)
    print("matmul before each run (GFLOP/s, 2 threads): " + ", ".join(f"{k} {v:.0f}" for k, v in speed.items()))
    print(f"local     {ours:7.1f} s for {n} submissions with --jobs {args.jobs} ({ours / n:.1f} s per submission "
          "of wall time)")
    print(f"dask      {cluster_seconds:7.1f} s for the same on {args.jobs} single-thread Dask workers here "
          f"({cluster_seconds / n:.1f} s each): Dask's overhead {(cluster_seconds - ours) / n * args.jobs:+.2f} s "
          "per submission and worker")
    if cold is not None:
        cold_split = per_submission(cold_results)
        print(f"cold      {cold:7.1f} s for the same with cold starts ({cold / n:.1f} s each); warm starts save "
              f"{(cold - ours) / n * args.jobs:.2f} s per submission and worker")
        print("per submission, cold, inside one worker (s): " + ", ".join(f"{k} {v:.2f}" for k, v in cold_split.items()))
        print(f"non-training time per submission, cold: {cold_split['total'] - cold_split['training']:.2f} s")
    if unsandboxed is not None:
        print(f"unsafe    {unsandboxed:7.1f} s for the same without the sandbox: the sandbox costs "
              f"{(ours / unsandboxed - 1) * 100:+.1f} %")
    if plain is not None:
        print(f"nbgrader  {plain:7.1f} s for {n} submissions, one after another ({plain / n:.1f} s each); "
              f"vaelab's local pool is {plain / ours:.2f}x faster")
    dask_split = per_submission(cluster_results)
    print("per submission, Dask, inside one worker (s): " + ", ".join(f"{k} {v:.2f}" for k, v in dask_split.items()))
    print("per submission, inside one worker (s): " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()))
    print(f"non-training time per submission: {split['total'] - split['training']:.2f} s")
    per_core = split["total"]  # one submission on one single-thread worker
    print(f"on paper  a class of 300 on 32 single-thread worker cores: 300 x {per_core:.1f} s / 32 = "
          f"{300 * per_core / 32 / 60:.1f} min (if each core grades as fast as one of these {args.jobs} did "
          f"side by side, and the course's inputs, {sent:.1f} MB, reach each worker once)")
    return 0 if not wrong else 1


def inputs_mb(course) -> float:
    from grader.engine.inputs import GradingInputs

    return GradingInputs.from_course(course).size / 2 ** 20


def on_dask(course_root: Path, folder: Path, workers: int) -> tuple[float, dict]:
    """Seconds and results of grading the course on a Dask cluster of `workers` single-thread
    worker processes started here with the `dask` command line (as on a real cluster)."""
    from distributed import Client

    folder.mkdir(parents=True, exist_ok=True)
    from grader.workflow.cluster import SCHEDULER_SETTINGS

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **SCHEDULER_SETTINGS}
    scheduler_file = folder / "scheduler.json"
    started_processes = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                                           "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                          cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        while not scheduler_file.is_file():
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        started_processes.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--nworkers", str(workers), "--nthreads", "1",
             "--no-dashboard", "--local-directory", str(folder)],
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address) as client:
            client.wait_for_workers(workers, timeout=120)
        started = time.perf_counter()
        results = autograde.main(course_root, force=True, scheduler=address)
        return time.perf_counter() - started, results
    finally:
        for process in started_processes:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    sys.exit(main())
