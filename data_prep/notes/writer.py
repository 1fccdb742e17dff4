"""Waveforms + labels -> spectra -> one note file: the path both sources of notes end in.

`write_notes` takes the notes' waveforms (N, NOTE_SAMPLES) at 16 kHz and their labels, takes the
lab's magnitude STFT of each (`vaelab_core.audio.magnitude_spectrogram`, the very transform of
the speech labs), splits train/eval by whole notes (`families.is_eval`), completes the manifest
(counts, split, STFT parameters, package versions) and writes the file atomically with
`vaelab_core.notes.save_notes`. Whatever made the waveforms (FluidSynth or the kit's own
synthesis), the spectra are made the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from data_prep.notes.families import VELOCITIES, is_eval, split_record
from vaelab_core import spec
from vaelab_core.audio import magnitude_spectrogram
from vaelab_core.notes import NOTE_FAMILIES, NOTE_FRAMES, NOTE_HOLD_SECONDS, NOTE_RELEASE_FRAME, \
    NOTE_SAMPLES, save_notes
from vaelab_core.provenance import with_versions

#: Notes transformed at once: bounds the memory of the complex STFT (256 notes: 34 MB).
BATCH = 256


def spectra_of(waves: np.ndarray) -> np.ndarray:
    """`waves: (N, NOTE_SAMPLES)` -> `(N, NOTE_FRAMES, F)` float32 magnitudes, one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small transforms: more threads only wait on each other
    try:
        parts = [magnitude_spectrogram(torch.from_numpy(np.ascontiguousarray(waves[i:i + BATCH], dtype=np.float32)))
                 for i in range(0, len(waves), BATCH)]
    finally:
        torch.set_num_threads(threads)
    spectra = torch.cat(parts).numpy() if parts else np.zeros((0, NOTE_FRAMES, spec.N_FREQ), np.float32)
    assert spectra.shape[1:] == (NOTE_FRAMES, spec.N_FREQ), spectra.shape
    return spectra


def note_parameters() -> dict:
    """Every number that shapes a note's spectra, read from where it is defined."""
    return {
        "sample_rate": spec.SAMPLE_RATE,
        "samples": NOTE_SAMPLES,
        "frames": NOTE_FRAMES,
        "hold_seconds": NOTE_HOLD_SECONDS,
        "release_frame": NOTE_RELEASE_FRAME,
        "onset": "the note starts at sample 0 (frame 0)",
        "n_fft": spec.N_FFT,
        "hop_length": spec.HOP_LENGTH,
        "window": spec.WINDOW,
        "center": spec.CENTER,
        "pad_mode": spec.PAD_MODE,
        "values": "STFT magnitude |X|, float32; no normalisation (velocity sets the loudness)",
    }


def counts(family: np.ndarray, held_out: np.ndarray) -> dict:
    """Notes in all, per side, and per family and side."""
    return {"notes": len(family), "train": int((~held_out).sum()), "eval": int(held_out.sum()),
            "per_family": {name: {"train": int(((family == k) & ~held_out).sum()),
                                  "eval": int(((family == k) & held_out).sum())}
                           for k, name in enumerate(NOTE_FAMILIES)}}


def write_notes(out: str | Path, waves: np.ndarray, family: np.ndarray, pitch: np.ndarray,
                velocity: np.ndarray, manifest: dict, seed: int, force: bool = False) -> tuple[Path, dict]:
    """Write the note file `out` from `waves: (N, NOTE_SAMPLES)` float (16 kHz, note-on at sample 0)
    and their labels `family`, `pitch`, `velocity: (N,)` int; returns the path and the manifest written.

    `manifest`: what the source knows (source, its parameters, silent notes ...), completed here
    with the note and STFT parameters, the split, the counts and the package versions.
    """
    waves = np.asarray(waves, dtype=np.float32)
    if waves.ndim != 2 or waves.shape[1] != NOTE_SAMPLES or len(waves) != len(family):
        raise ValueError(f"expected ({len(family)}, {NOTE_SAMPLES}) waveforms, got {waves.shape}")
    held_out = is_eval(family, pitch, seed)
    split = split_record(seed)
    split["eval_pitches"] = {name: sorted({int(p) for p in pitch[(family == k) & held_out]})
                             for k, name in enumerate(NOTE_FAMILIES)}
    full = with_versions({**manifest, "note": note_parameters(), "split": split,
                          "velocities": sorted({int(v) for v in velocity}) or list(VELOCITIES),
                          "pitch_ranges": {name: [int(pitch[family == k].min()), int(pitch[family == k].max())]
                                           for k, name in enumerate(NOTE_FAMILIES) if (family == k).any()},
                          "counts": counts(family, held_out)})
    return save_notes(out, spectra_of(waves), family, pitch, velocity, held_out, full, force=force), full


def summary(path: Path, manifest: dict, seconds: float, say: Callable[[str], None]) -> None:
    """Print what the file holds: notes per family and side, the split, size and time."""
    c = manifest["counts"]
    per_family = ", ".join(f"{name} {n['train'] + n['eval']}" for name, n in c["per_family"].items())
    say(f"  {c['notes']} notes ({per_family}); split by pitch, every {manifest['split']['every']}th "
        f"pitch held out: train {c['train']} / eval {c['eval']}")
    say(f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s")
