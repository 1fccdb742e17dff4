"""The synth lab's findings over seeds and note sets, with the solution notebook's own code.

    python benchmarks/synth_study.py NOTES.npz [NOTES.npz ...] [--seeds 0 1 2] [--threads 2]

For each note file and seed, runs the code cells of solutions/synth/synth.ipynb (the figures and
the audio players left out) with every `seed=0` and `manual_seed(0)` of the notebook replaced by
the seed: the models' initial weights, batches, posterior samples, prior samples and random walk
all change with it. Prints per note set the mean and standard deviation over seeds of what the
notebook's prose and model answers quote: each model's reconstruction term, the descriptor
distances (reconstructions and prior samples, in data spreads), the paths' centroid change per
step, and the pitch control of the conditional VAE and of the VAE given the nearest note. The
spread is what the grading bands' floors (solutions/synth/grading.py, make_bands) must cover.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "synth" / "synth.ipynb"
#: Cells that only draw or play: left out (they change no number).
SKIPPED = {"reconstructions", "listen_paths", "pitch_figure", "correlations"}


def run(notes: Path, seed: int, lr: float | None = None) -> dict:
    """The notebook's `results` for one note file and one seed (and Adam's step size `lr` in
    place of the notebook's LR, when given)."""
    os.environ["VAELAB_NOTES"] = str(notes)
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["TQDM_DISABLE"] = "1"
    cells = [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"
             and c.metadata.get("nbgrader", {}).get("grade_id") not in SKIPPED]
    with tempfile.TemporaryDirectory(prefix="synth-study-") as out:
        os.environ["VAELAB_OUT"] = out
        namespace = {"__name__": "__main__"}
        for cell in cells:
            source = cell.source.replace("seed=0", f"seed={seed}").replace("manual_seed(0)", f"manual_seed({seed})")
            source = source.replace("plt.show()", "plt.close('all')")
            if lr is not None:
                source = re.sub(r"^LR = .*$", f"LR = {lr!r}", source, flags=re.MULTILINE)
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, cell.metadata.get("nbgrader", {}).get("grade_id", "cell"), "exec"), namespace)
        return json.loads(json.dumps(namespace["results"], default=float))


def rows(results: list[dict]) -> dict[str, list[float]]:
    """{figure: [one value per seed]} of the figures the study reports."""
    table: dict[str, list[float]] = {}

    def add(name, value):
        table.setdefault(name, []).append(float(value))

    for r in results:
        for model in ("VAE", "WAE"):
            add(f"{model} recon (nats per eval frame)", r["models"][model]["recon"])
        for name, row in r["generation"].items():
            add(f"distance, {name} (mean)", row["mean"])
            for d in ("centroid", "bandwidth", "flatness", "rolloff"):
                add(f"distance, {name}, {d}", row[d])
        for name, row in r["smoothness"].items():
            add(f"centroid change per step, {name}", row["centroid"])
        for model, families in r["pitch"].items():
            for family, control in families.items():
                add(f"pitch, {model}, {family}: median error (semitones)", control["median_semitones"])
                add(f"pitch, {model}, {family}: correlation of log f0", control["correlation"])
        add("notebook seconds (figures and audio left out)", r["seconds"])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notes", nargs="+", type=Path, help="note files (vaelab data notes / defaults)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=None, help="Adam's step size instead of the notebook's LR")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads; seeds {args.seeds}")
    for notes in args.notes:
        started = time.perf_counter()
        results = [run(notes, seed, args.lr) for seed in args.seeds]
        print(f"\n== {notes} ({results[0]['notes']['source']}, {results[0]['notes']['count']} notes; "
              f"LR {args.lr or 'as in the notebook'}; "
              f"{time.perf_counter() - started:.0f} s)")
        for name, values in rows(results).items():
            values = np.asarray(values)
            print(f"  {name:62} {values.mean():9.3f} ± {values.std():7.3f}   [" + ", ".join(f"{v:.3f}" for v in values) + "]")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
