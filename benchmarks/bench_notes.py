"""Benchmark the two sources of the synthesizer lab's notes: `vaelab data notes` and the built-in ones.

    python benchmarks/bench_notes.py [--soundfont FILE.sf2] [--repeats 1]

Renders every family's notes (about 900) from the soundfont (default: FluidR3_GM.sf2 where the
packagings install it) with FluidSynth, then synthesises the built-in notes, each into a
temporary file that is deleted afterwards. The goal is at most 60 s for the rendered set on 2
CPU cores, timing `data_prep.notes.main` itself: FluidSynth's processes, the soundfont's
checksum, the STFT and writing the file (interpreter start-up and imports are reported apart).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

started = time.perf_counter()
import torch  # noqa: E402  (imported after the clock starts, to time the imports)

from data_prep.notes import main as render_notes, render, synthetic  # noqa: E402
from data_prep.notes.soundfont import find_soundfont  # noqa: E402
from vaelab_core.errors import VaelabError  # noqa: E402
from vaelab_core.notes import load_notes  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - started
GOAL = 60.0  # seconds for the rendered set


def timed(make, out: Path) -> tuple[float, int]:
    """Seconds `make(out)` took, and the notes in the file it wrote."""
    clock = time.perf_counter()
    make(out)
    seconds = time.perf_counter() - clock
    return seconds, len(load_notes(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soundfont", type=Path, default=None, help="a General MIDI .sf2 file")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each source (the best is kept too)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the kit's data preparation runs; the STFT is a small part
    try:
        soundfont = args.soundfont or find_soundfont()
        runs = {"fluidsynth": [], "builtin": []}
        with tempfile.TemporaryDirectory(prefix="vaelab-bench-") as tmp:
            for i in range(args.repeats):
                runs["fluidsynth"].append(timed(lambda out: render_notes(
                    out, soundfont=soundfont, command="benchmarks/bench_notes.py", quiet=True, force=True),
                    Path(tmp) / "rendered.npz"))
                runs["builtin"].append(timed(lambda out: synthetic.main(
                    out, command="benchmarks/bench_notes.py", quiet=True, force=True), Path(tmp) / "builtin.npz"))
            silent = load_notes(Path(tmp) / "rendered.npz").manifest["silent"]["count"]
    except VaelabError as err:
        print(f"bench_notes: {err}", file=sys.stderr)
        return 2
    print(f"soundfont        {soundfont} ({soundfont.stat().st_size / 1e6:.0f} MB)")
    print(f"cores            {os.cpu_count()} (FluidSynth processes at once: {render.WORKERS}; torch threads 1)")
    for source, label in (("fluidsynth", "rendered"), ("builtin", "built-in")):
        seconds = [s for s, _ in runs[source]]
        notes = runs[source][0][1]
        shown = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"{label:<16} {notes} notes in {shown} s: {notes / min(seconds):.0f} notes/s at best"
              + (f" ({silent} silent left out)" if source == "fluidsynth" else ""))
    best = min(s for s, _ in runs["fluidsynth"])
    print(f"imports          {IMPORT_SECONDS:.2f} s (not counted)")
    print(f"goal             rendered set in <= {GOAL:.0f} s: {'met' if best <= GOAL else 'NOT met'} ({best:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
