"""`vaelab data check`: validate a speaker dataset and summarise what it holds.

Validation is `vaelab_core.datasets.load_dataset`'s (shapes, dtype, finite, >= 0), plus the
manifest's own bookkeeping when it has it (no utterance on both sides of the split, sequence
counts matching the arrays). The summary is what a TA looks at before handing a set out: sizes,
minutes, silent frames, the level range across frequency bins, and who is speaking.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_prep.corpus import list_ids
from vaelab_core import spec
from vaelab_core.atomic_files import atomic_path, check_writable
from vaelab_core.datasets import DatasetError, load_dataset

#: A frame whose energy is this far below the set's median frame counts as silent.
SILENT_FRAME_DB = -60.0

#: Floor added to powers before taking logarithms (an all-zero bin would give -inf dB).
POWER_FLOOR = 1e-12

#: Spectrograms drawn by --plot.
PLOTTED_EXAMPLES = 4


def to_db(power: np.ndarray) -> np.ndarray:
    return 10 * np.log10(power + POWER_FLOOR)


def frame_energy_db(x: np.ndarray) -> np.ndarray:
    """Energy per frame, sum_f |X_f|^2, in dB: `x: (N, T, F)` -> `(N, T)`."""
    return to_db(np.square(x, dtype=np.float64).sum(axis=-1))


def check_manifest(manifest: dict, n_train: int, n_eval: int, path: Path) -> None:
    """Raise `DatasetError` when the manifest's file list contradicts the arrays or the split."""
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and {"path", "split", "sequences"} <= f.keys()
                                              for f in files):
        return  # a manifest without per-file bookkeeping (e.g. a hand-made set): nothing to compare
    sides: dict[str, set[str]] = {"train": set(), "eval": set()}
    counts = {"train": 0, "eval": 0}
    for entry in files:
        if entry["split"] not in sides:
            raise DatasetError(f"{path}: manifest file {entry['path']} has split {entry['split']!r}, "
                               "expected 'train' or 'eval'. Rebuild the dataset.")
        sides[entry["split"]].add(entry["path"])
        counts[entry["split"]] += int(entry["sequences"])
    both = sides["train"] & sides["eval"]
    if both:
        raise DatasetError(f"{path}: {len(both)} utterance(s) are on both sides of the train/eval split "
                           f"(e.g. {sorted(both)[0]}); eval must come from other utterances. Rebuild it "
                           "with `vaelab data build`.")
    if (counts["train"], counts["eval"]) != (n_train, n_eval):
        raise DatasetError(f"{path}: the manifest lists {counts['train']} train / {counts['eval']} eval "
                           f"sequences but the arrays hold {n_train} / {n_eval}: the file was altered "
                           "after it was built. Rebuild it with `vaelab data build`.")


def summarise_part(x: np.ndarray, median_db: float) -> dict:
    """Sizes and sanity counts of one part, `x: (N, T, F)`."""
    energy = frame_energy_db(x)
    silent = int((energy < median_db + SILENT_FRAME_DB).sum())
    return {
        "shape": list(x.shape),
        "dtype": str(x.dtype),
        "minutes": round(len(x) * spec.SEQUENCE_SECONDS / 60, 3),
        "nan": int(np.isnan(x).sum()),
        "inf": int(np.isinf(x).sum()),
        "negative": int((x < 0).sum()),
        "silent_frames": silent,
        "silent_fraction": round(silent / max(energy.size, 1), 4),
    }


def bin_frequencies() -> np.ndarray:
    """Centre frequency of each of the F bins, in Hz."""
    return np.arange(spec.N_FREQ) * spec.SAMPLE_RATE / spec.N_FFT


def print_summary(summary: dict) -> None:
    readers = summary["readers"]
    rows = [("dataset", summary["path"]), ("speaker", summary["speaker"]),
            ("readers", f"{len(readers)}: {list_ids(readers)}" if readers else "-"),
            ("files", summary["files"]), ("split", summary["split"]), ("made by", summary["command"])]
    for key, value in rows:
        print(f"  {key:<9} {value}")
    print()
    print(f"  {'part':<6}{'sequences':>10}  {'shape':<18}{'dtype':<9}{'minutes':>8}{'NaN/inf':>9}"
          f"{'negative':>10}  silent frames")
    for part in ("train", "eval"):
        p = summary[part]
        shape = "(" + ", ".join(map(str, p["shape"])) + ")"
        print(f"  {part:<6}{p['shape'][0]:>10}  {shape:<18}{p['dtype']:<9}{p['minutes']:>8.2f}"
              f"{p['nan'] + p['inf']:>9}{p['negative']:>10}  {p['silent_frames']} "
              f"({100 * p['silent_fraction']:.1f} %)")
    print(f"  (silent: frame energy more than {-SILENT_FRAME_DB:.0f} dB below the median frame's, "
          f"{summary['median_frame_db']:.1f} dB)")
    level = summary["level_db"]
    print()
    print(f"  mean level per bin: {level['min']:.1f} dB at {level['min_hz']:.0f} Hz to {level['max']:.1f} dB "
          f"at {level['max_hz']:.0f} Hz (range {level['max'] - level['min']:.1f} dB)")


def draw(path: Path, train: np.ndarray, eval_: np.ndarray, mean_db: np.ndarray, title: str) -> None:
    """Mean spectrum and a few example spectrograms (dB, axes in s and Hz) to a PNG, atomically."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot: no display, no global state

    hz = bin_frequencies()
    examples = [("train", i, train[i]) for i in np.linspace(0, len(train) - 1, 2, dtype=int)]
    examples += [("eval", i, eval_[i]) for i in np.linspace(0, len(eval_) - 1, 2, dtype=int)]
    examples = examples[:PLOTTED_EXAMPLES]
    seconds = np.arange(spec.N_FRAMES) * spec.HOP_LENGTH / spec.SAMPLE_RATE  # centred frames
    peak = max(float(to_db(np.square(x)).max()) for _, _, x in examples)

    fig = Figure(figsize=(11, 8), layout="constrained")
    grid = fig.add_gridspec(2, len(examples), height_ratios=(1, 1.3))
    ax = fig.add_subplot(grid[0, :])
    ax.plot(hz, mean_db, color="tab:blue")
    ax.set(xlabel="frequency (Hz)", ylabel="mean power (dB)", xlim=(0, hz[-1]),
           title=f"{title}: mean spectrum over all frames")
    ax.grid(alpha=0.3)
    for column, (part, index, x) in enumerate(examples):
        ax = fig.add_subplot(grid[1, column])
        image = ax.pcolormesh(seconds, hz, to_db(np.square(x)).T, shading="nearest",
                              vmin=peak - 80, vmax=peak, cmap="magma", rasterized=True)
        ax.set(title=f"{part}[{index}]", xlabel="time (s)")
        ax.set_ylabel("frequency (Hz)" if column == 0 else "")
    fig.colorbar(image, ax=fig.axes[1:], label="power (dB)", shrink=0.9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def main(dataset: str | Path, plot: str | Path | None = None) -> dict:
    """Validate `dataset` and print its summary; with `plot`, also draw it to that PNG.

    Returns the summary as a dict (shapes, minutes, counts, level range, manifest essentials).
    Raises `DatasetError` for a file that breaks the lab contract, `OutputError` for an
    unwritable plot path.
    """
    dataset = Path(dataset)
    if plot is not None:
        plot = check_writable(plot, force=True)  # a plot is a view: replacing it is expected
        if plot.suffix.lower() != ".png":
            raise DatasetError(f"{plot}: the plot is written as PNG; give a file name ending in .png.")
    data = load_dataset(dataset)
    train, eval_ = data.train.numpy(), data.eval.numpy()
    manifest = data.manifest
    check_manifest(manifest, len(train), len(eval_), dataset)

    both = np.concatenate([train, eval_])
    median_db = float(np.median(frame_energy_db(both))) if both.size else 0.0
    mean_db = to_db(np.square(both, dtype=np.float64).mean(axis=(0, 1))) if both.size else \
        np.zeros(spec.N_FREQ)
    hz = bin_frequencies()
    files = manifest.get("files", [])
    split = manifest.get("split", {})
    summary = {
        "path": str(dataset),
        "speaker": data.name,
        "readers": [str(r) for r in manifest.get("readers", [])],
        "files": (f"{len(files)} used ({sum(f.get('split') == 'train' for f in files)} train, "
                  f"{sum(f.get('split') == 'eval' for f in files)} eval), "
                  f"{len(manifest.get('skipped', []))} skipped") if files else "not listed in the manifest",
        "split": (f"{split.get('rule', '?')}, eval fraction {split.get('eval_fraction', '?')}, "
                  f"seed {split.get('seed', '?')}") if isinstance(split, dict) and split else "not recorded",
        "command": manifest.get("command", "not recorded"),
        "train": summarise_part(train, median_db),
        "eval": summarise_part(eval_, median_db),
        "minutes": round(len(both) * spec.SEQUENCE_SECONDS / 60, 3),
        "median_frame_db": round(median_db, 2),
        "level_db": {"min": round(float(mean_db.min()), 2), "min_hz": float(hz[mean_db.argmin()]),
                     "max": round(float(mean_db.max()), 2), "max_hz": float(hz[mean_db.argmax()])},
    }
    print_summary(summary)
    if plot is not None:
        readers = summary["readers"]
        draw(plot, train, eval_, mean_db, data.name + (f" ({len(readers)} readers)" if len(readers) > 1 else ""))
        summary["plot"] = str(plot)
        print(f"\n  wrote {plot}")
    return summary
