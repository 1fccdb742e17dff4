"""Warm against cold starts, interleaved: the time outside training of one submission.

Grades one submission of the example corpus (default `correct`) in this process with the engine
(grader/engine/grade.py), alternating warm starts (probe and kernel forked from a zygote:
grader/engine/warm.py) and cold ones (fresh interpreters), `--rounds` times each. Interleaving
matters on a machine whose speed drifts: bench_grading.py runs its configurations one after
another, minutes apart. Prints each run's seconds by kind and the mean time outside training of
each mode. The zygote's own start is timed apart: a batch pays it once.

    .venv/bin/python benchmarks/bench_warm.py [--rounds 3] [--example correct]

About 45 s per graded submission on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from grader.workflow import init as course_verb
from grader.workflow import intake, release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="warm and cold runs each (default 3)")
    parser.add_argument("--example", default="correct", help="the example submission to grade")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from grader.course import Course
    from grader.engine import grade as engine
    from grader.engine.inputs import GradingInputs
    from grader.kit.example_submissions import write_example_zips

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="vaelab-bench-warm-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("VAELAB_HOME", str(root / "vaelab_home"))
        course = course_verb.main(root / "course", force=True)
        release.main(course.root)
        write_example_zips(course, root / "inbox", students={"s00": args.example})
        intake.main(root / "inbox", course.root)
        course = Course.load(course.root)
        inputs = GradingInputs.from_course(course)
        folder = inputs.materialize()
        started = time.perf_counter()
        zygote = engine.zygote_for(inputs, folder, engine.GradingOptions())
        print(f"zygote    started in {time.perf_counter() - started:.2f} s (once per batch, or per Dask worker)")
        if zygote is None:
            print("warm starts are not available here")
            return 1
        outside = {"warm": [], "cold": []}
        for _ in range(args.rounds):
            for mode in ("warm", "cold"):
                _, result = engine.grade(course.submission("s00"), inputs, engine.GradingOptions(warm=mode == "warm"))
                seconds = result.seconds
                outside[mode].append(seconds["total"] - seconds["training"])
                print(f"{mode}      " + ", ".join(f"{k} {v:.2f}" for k, v in seconds.items())
                      + f"; outside training {outside[mode][-1]:.2f} s", flush=True)
    warm_mean, cold_mean = (sum(v) / len(v) for v in (outside["warm"], outside["cold"]))
    print(f"outside training, mean of {args.rounds}: warm {warm_mean:.2f} s, cold {cold_mean:.2f} s "
          f"(warm is {warm_mean / cold_mean:.0%} of cold)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
