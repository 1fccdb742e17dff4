"""Grading benchmark: `vaelab grade autograde --jobs 2` against plain sequential `nbgrader autograde`.

Makes a course on the built-in speakers, a class of N submissions (default 20) cycling through
the example corpus, takes them in with `vaelab grade intake`, grades them with vaelab (two
workers, one thread each) and checks that every grade is the one the corpus expects; then
grades them again without the sandbox (`--unsafe`) for the sandbox's cost; then grades the same
submissions in a copy of the course with plain `nbgrader autograde`, one after another with
PyTorch's default threads (what an instructor does without vaelab). Prints the times, their
ratios and vaelab's seconds per submission split into kernel start, imports and data, training,
and tests.

    .venv/bin/python benchmarks/bench_grading.py [--submissions 20] [--jobs 2]

It takes about 40 s per submission and per grader on 2 cores (20 submissions: ~25 minutes).
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

        started = time.perf_counter()
        results = autograde.main(course.root, jobs=args.jobs, force=True)
        ours = time.perf_counter() - started
        expected = expected_scores(course)
        wrong = {s: {t: v["score"] for t, v in (results[s]["tests"] or {}).items()}
                 for s, name in students.items()
                 if {t: v["score"] for t, v in (results[s]["tests"] or {}).items()} != expected[name]}
        print(f"grades    {len(students) - len(wrong)} of {len(students)} as the example corpus expects"
              + (f"; differing: {json.dumps(wrong)}" if wrong else ""))

        started = time.perf_counter()
        autograde.main(course.root, jobs=args.jobs, force=True, unsafe=True)
        unsandboxed = time.perf_counter() - started

        plain = plain_nbgrader(course.root, root / "plain", list(students))

    n = len(students)
    split = {k: sum(r["seconds"][k] for r in results.values()) / n
             for k in ("kernel start", "imports and data", "training", "tests", "total")}
    print(f"vaelab    {ours:7.1f} s for {n} submissions with --jobs {args.jobs} ({ours / n:.1f} s per submission "
          f"of wall time); shortcut taken by 0 (no reference-run reuse is implemented)")
    print(f"unsafe    {unsandboxed:7.1f} s for the same without the sandbox: the sandbox costs "
          f"{(ours / unsandboxed - 1) * 100:+.1f} % (goal: at most +10 %)")
    print(f"nbgrader  {plain:7.1f} s for {n} submissions, one after another ({plain / n:.1f} s each)")
    print(f"speed-up  {plain / ours:.2f}x (goal: at least 1.8x on 2 cores)")
    print("per submission, inside one worker (s): " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
