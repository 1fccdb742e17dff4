"""How clean two note files are between their partials, family by family: the noise floor and the flatness.

    python benchmarks/notes_realism.py A.npz B.npz     (e.g. FluidR3_GM's rendered notes and the built-in ones)

Lab 1's complex-Gaussian likelihood (Itakura-Saito-like) weighs every bin by the inverse of its
predicted power, so a model trained on notes that are near-silent between their partials must
predict near-zero magnitudes there, and a WAE trained on such notes diverges. Two measures on the
sustain frames (frames 4, 8, ..., 36 of each note that sound within 60 dB of its loudest frame,
the selection of `vaelab_core.synthesis.frames_of(notes, slice(4, 40, 4))`):

  floor     the 10th percentile of a frame's magnitudes in dB below the frame's peak, median over
            the family's frames (how deep the valleys between partials are)
  flatness  librosa's spectral flatness of a frame (geometric over arithmetic mean of the power),
            median over the family's frames

Prints one row per family and one for all frames, the two files side by side, and the ratio of
the flatnesses and the difference of the floors (B against A).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import librosa
import numpy as np

from vaelab_core.errors import VaelabError
from vaelab_core.notes import NOTE_FAMILIES, NoteSet, load_notes

#: The sustain frames: after the attack, before the note-off (NOTE_RELEASE_FRAME = 47), one in four.
SUSTAIN = slice(4, 40, 4)
#: A frame counts as sounding within this many dB of the note's loudest frame.
SOUNDING_DB = -60.0
#: The floor is this percentile of a frame's dB magnitudes.
FLOOR_PERCENTILE = 10


def sustain_frames(notes: NoteSet) -> tuple[np.ndarray, np.ndarray]:
    """The sounding sustain frames of `notes`: (M, F) magnitudes and (M,) family indices."""
    spectra = notes.spectra.numpy().astype(np.float64)
    energy = (spectra ** 2).sum(-1)  # (N, T)
    loud = 10 * np.log10(np.maximum(energy, 1e-30) / np.maximum(energy.max(1, keepdims=True), 1e-20)) > SOUNDING_DB
    note, frame = loud[:, SUSTAIN].nonzero()
    frames = spectra[:, SUSTAIN][note, frame]
    return frames, notes.family.numpy()[note]


def floor_db(frames: np.ndarray) -> np.ndarray:
    """(M, F) magnitudes -> (M,): the FLOOR_PERCENTILE-th percentile of 20 log10(|X| / max |X|)."""
    level = 20 * np.log10(np.maximum(frames, 1e-12) / np.maximum(frames.max(1, keepdims=True), 1e-12))
    return np.percentile(level, FLOOR_PERCENTILE, axis=1)


def flatness(frames: np.ndarray) -> np.ndarray:
    """(M, F) magnitudes -> (M,): librosa's spectral flatness (it squares the magnitudes itself)."""
    return librosa.feature.spectral_flatness(S=frames.T)[0]


def measure(notes: NoteSet) -> dict[str, tuple[float, float]]:
    """{family or "all": (median floor in dB, median flatness)} of the sustain frames."""
    frames, family = sustain_frames(notes)
    floors, flat = floor_db(frames), flatness(frames)
    table = {name: (float(np.median(floors[family == k])), float(np.median(flat[family == k])))
             for k, name in enumerate(NOTE_FAMILIES) if (family == k).any()}
    table["all"] = (float(np.median(floors)), float(np.median(flat)))
    return table


def main(first: str | Path, second: str | Path, say=print) -> dict[str, dict[str, tuple[float, float]]]:
    """Measure both note files and print the table; returns {path: measure(notes)}."""
    tables = {str(path): measure(load_notes(path)) for path in (first, second)}
    a, b = tables.values()
    say(f"A: {first}\nB: {second}")
    say(f"{'family':<9} {'floor A':>8} {'floor B':>8} {'B - A':>6}   {'flat A':>8} {'flat B':>8} {'B / A':>6}")
    for name in a:
        if name not in b:
            continue
        (fa, la), (fb, lb) = a[name], b[name]
        say(f"{name:<9} {fa:8.1f} {fb:8.1f} {fb - fa:+6.1f}   {la:8.1e} {lb:8.1e} {lb / la:6.2f}")
    return tables


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="a note file (A), e.g. rendered by `vaelab data notes`")
    parser.add_argument("second", type=Path, help="another note file (B), e.g. the built-in notes")
    args = parser.parse_args(argv)
    try:
        main(args.first, args.second)
    except VaelabError as err:
        print(f"notes_realism: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
