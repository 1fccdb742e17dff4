"""Benchmark `vaelab data build` on the multi-speaker pre-training corpus.

    python benchmarks/bench_build.py [CORPUS]

CORPUS defaults to ../shared/speech/librispeech/train-clean-100 (251 readers, 52 min). The
dataset is built into a temporary folder and deleted afterwards. The goal is at least 300x real
time on 2 CPU cores, timing `data_prep.build.main` itself (interpreter start-up and imports,
which do not grow with the corpus, are reported apart).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

started = time.perf_counter()
from data_prep import build  # noqa: E402  (imported after the clock starts, to time the imports)
from vaelab_core.datasets import load_dataset  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - started
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "speech" / "librispeech" / "train-clean-100"
GOAL = 300  # x real time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1].strip())
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS, help="folder of recordings")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"bench_build: {args.corpus} is not a folder; pass the corpus path.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vaelab-bench-") as tmp:
        out = Path(tmp) / "bench.npz"
        clock = time.perf_counter()
        build.main(args.corpus, out, command="benchmarks/bench_build.py", quiet=True)
        seconds = time.perf_counter() - clock
        data = load_dataset(out)
        size_mb = out.stat().st_size / 1e6
    counts = data.manifest["counts"]
    factor = counts["minutes_read"] * 60 / seconds
    print(f"corpus           {args.corpus}")
    print(f"cores            {os.cpu_count()} (build workers: {build.WORKERS})")
    print(f"files            {counts['files_found']} found, {counts['files_used']} used, "
          f"{counts['files_skipped']} skipped")
    print(f"audio            {counts['minutes_read']:.1f} min decoded, {counts['minutes_used']:.1f} min in "
          "the files used")
    print(f"sequences        {counts['sequences_train']} train + {counts['sequences_eval']} eval "
          f"({size_mb:.0f} MB)")
    print(f"build time       {seconds:.2f} s (imports {IMPORT_SECONDS:.2f} s, not counted)")
    print(f"real-time factor {factor:.0f}x (goal >= {GOAL}x): {'met' if factor >= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
