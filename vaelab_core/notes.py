"""Instrument notes: single notes labelled by family, MIDI pitch and velocity, one `.npz` file.

The synthesizer lab (`synth`) trains auto-encoders on the frames of single notes, as the
course's audio projects do on NSynth. A note file holds

  spectra   float32 (N, NOTE_FRAMES, F) magnitude spectrograms of the lab's STFT (vaelab_core.spec),
            one note each: the attack at frame 0, the note released at NOTE_RELEASE_FRAME
  family    int64 (N,) index into `families`
  pitch     int64 (N,) MIDI note number (69 = A4 = 440 Hz)
  velocity  int64 (N,) MIDI velocity, 1..127
  is_eval   bool (N,) the held-out notes: whole notes, never frames of a training note
  families  str (len(NOTE_FAMILIES),) the family names, in the order of NOTE_FAMILIES
  manifest  a JSON string: where the notes come from ("source": "fluidsynth" with the soundfont's
            path and SHA-256, the synthesizer's version, the preset of each family; or "builtin"),
            pitch ranges, velocities, notes left out (silent) and why, the split rule and seed,
            counts, package versions, the command that made it.

Two sources make such files: `vaelab data notes` renders a General MIDI soundfont with FluidSynth
(the TA's set, real sampled instruments), and `vaelab data defaults` synthesises the kit's own
notes (harmonic partials with an envelope per family) so that a machine with pip alone runs the
lab. The notebook reads `notes_path()`: $VAELAB_NOTES if set, else the built-in file.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaelab_core import spec
from vaelab_core.datasets import DatasetError, data_home

#: The six instrument families, as NSynth names them (its bass, brass, flute, guitar, keyboard
#: and vocal), in the order of the `family` labels.
NOTE_FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "vocal")

#: Frames of one note: (64 - 1) * 256 / 16 kHz = 1.008 s.
NOTE_FRAMES = 64
#: Samples of one note's waveform, the STFT's frames being centred: (NOTE_FRAMES - 1) * hop.
NOTE_SAMPLES = (NOTE_FRAMES - 1) * spec.HOP_LENGTH
#: The note is held for 0.75 s, then released: frames from here on are the release.
NOTE_HOLD_SECONDS = 0.75
NOTE_RELEASE_FRAME = round(NOTE_HOLD_SECONDS * spec.SAMPLE_RATE / spec.HOP_LENGTH)

#: Environment variable naming a note file to use instead of the built-in one.
NOTES_ENV = "VAELAB_NOTES"

_ARRAYS = ("spectra", "family", "pitch", "velocity", "is_eval", "families", "manifest")


def midi_to_hz(pitch) -> torch.Tensor | float:
    """The fundamental frequency of MIDI note `pitch` (equal temperament, A4 = 69 = 440 Hz)."""
    if isinstance(pitch, torch.Tensor):
        return 440.0 * torch.pow(2.0, (pitch.to(torch.float64) - 69) / 12)
    return 440.0 * 2.0 ** ((float(pitch) - 69) / 12)


@dataclass(frozen=True)
class NoteSet:
    """A loaded note file (see the module's docstring for each field)."""

    spectra: torch.Tensor   # (N, NOTE_FRAMES, F) float32 magnitudes >= 0
    family: torch.Tensor    # (N,) int64, index into NOTE_FAMILIES
    pitch: torch.Tensor     # (N,) int64 MIDI note numbers
    velocity: torch.Tensor  # (N,) int64
    is_eval: torch.Tensor   # (N,) bool
    manifest: dict
    path: str = ""

    @property
    def source(self) -> str:
        """"fluidsynth" (a rendered soundfont) or "builtin" (the kit's own synthesis)."""
        return str(self.manifest.get("source", "unknown"))

    def split(self, part: str) -> "NoteSet":
        """The notes of `part`, "train" or "eval", as a NoteSet of their own."""
        if part not in ("train", "eval"):
            raise ValueError(f"part must be 'train' or 'eval', not {part!r}")
        keep = self.is_eval if part == "eval" else ~self.is_eval
        return NoteSet(self.spectra[keep], self.family[keep], self.pitch[keep], self.velocity[keep],
                       self.is_eval[keep], self.manifest, self.path)

    def describe(self) -> str:
        """One sentence: how many notes of which source, per family, and the pitch range."""
        counts = torch.bincount(self.family, minlength=len(NOTE_FAMILIES)).tolist()
        per_family = ", ".join(f"{name} {count}" for name, count in zip(NOTE_FAMILIES, counts))
        where = {"fluidsynth": f"rendered by FluidSynth from {Path(self.manifest.get('soundfont', {}).get('path', '?')).name}",
                 "builtin": "the kit's own synthetic notes (built in)"}.get(self.source, self.source)
        low, high = (int(self.pitch.min()), int(self.pitch.max())) if len(self.pitch) else (0, 0)
        return (f"{len(self.pitch)} notes, {where}: {per_family}; MIDI {low}-{high}, "
                f"{int(self.is_eval.sum())} held out")

    def __len__(self) -> int:
        return len(self.pitch)

    def __repr__(self) -> str:
        return f"NoteSet({self.describe()})"


def default_notes_path(home: str | Path | None = None) -> Path:
    """The built-in note file made by `vaelab data defaults`: HOME/datasets/notes.npz, HOME being
    `home` or, when None, `data_home()`."""
    return (data_home() if home is None else Path(home)) / "datasets" / "notes.npz"


def notes_path() -> Path:
    """The note file the notebook reads: $VAELAB_NOTES, else the built-in one."""
    return Path(os.environ.get(NOTES_ENV) or default_notes_path())


def check_notes(arrays: dict[str, np.ndarray], what: str) -> None:
    """Raise `DatasetError` unless `arrays` (the file's arrays, manifest excluded) follow the
    format of the module's docstring."""
    spectra = arrays["spectra"]
    expected = (NOTE_FRAMES, spec.N_FREQ)
    if spectra.ndim != 3 or tuple(spectra.shape[1:]) != expected or spectra.dtype != np.float32:
        raise DatasetError(f"{what}: expected float32 spectra of shape (N, {expected[0]}, {expected[1]}) "
                           f"(notes, frames, bins), got {spectra.dtype} {tuple(spectra.shape)}. "
                           "Make it again with `vaelab data notes` or `vaelab data defaults`.")
    if not np.isfinite(spectra).all() or (spectra.size and spectra.min() < 0):
        raise DatasetError(f"{what}: the spectra must be finite magnitudes >= 0; make the file again.")
    n = len(spectra)
    names = [str(name) for name in arrays["families"].reshape(-1)]
    if tuple(names) != NOTE_FAMILIES:
        raise DatasetError(f"{what}: families {names} are not the lab's {list(NOTE_FAMILIES)} in that order.")
    for name, low, high in (("family", 0, len(NOTE_FAMILIES) - 1), ("pitch", 0, 127), ("velocity", 1, 127)):
        labels = arrays[name]
        if labels.shape != (n,) or labels.dtype.kind not in "iu" or (n and (labels.min() < low or labels.max() > high)):
            raise DatasetError(f"{what} ({name}): expected {n} integers in {low}..{high}, one per note; "
                               f"got {labels.dtype} {tuple(labels.shape)}.")
    if arrays["is_eval"].shape != (n,) or arrays["is_eval"].dtype != np.bool_:
        raise DatasetError(f"{what} (is_eval): expected {n} booleans, one per note.")


def save_notes(path: str | Path, spectra: np.ndarray, family: np.ndarray, pitch: np.ndarray,
               velocity: np.ndarray, is_eval: np.ndarray, manifest: dict, force: bool = False) -> Path:
    """Check and write a note file atomically (npz, no pickle); refuses to overwrite unless `force`."""
    from vaelab_core.atomic_files import check_writable, write_npz

    path = check_writable(path, force)
    arrays = {"spectra": np.ascontiguousarray(spectra, dtype=np.float32),
              "family": np.asarray(family, dtype=np.int64), "pitch": np.asarray(pitch, dtype=np.int64),
              "velocity": np.asarray(velocity, dtype=np.int64), "is_eval": np.asarray(is_eval, dtype=bool),
              "families": np.array(NOTE_FAMILIES)}
    check_notes(arrays, str(path))
    write_npz(path, [*arrays.items(), ("manifest", np.array(json.dumps(manifest, sort_keys=True)))])
    return path


def load_notes(path: str | Path | None = None) -> NoteSet:
    """Load and validate a note file (default `notes_path()`); raises `DatasetError` with the
    reason and what to do."""
    path = Path(notes_path() if path is None else path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such note file. Make the built-in notes with `vaelab data defaults`, "
                           "or render a soundfont with `vaelab data notes` (TA) and point $VAELAB_NOTES at it.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = set(_ARRAYS) - set(archive.files)
            if missing:
                raise DatasetError(f"{path}: not a vaelab note file, it lacks {sorted(missing)}.")
            arrays = {name: archive[name] for name in _ARRAYS}
        manifest = json.loads(str(arrays.pop("manifest").reshape(-1)[0]))
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DatasetError(f"{path}: cannot read it as a note .npz ({err}).") from err
    check_notes(arrays, str(path))
    return NoteSet(torch.from_numpy(arrays["spectra"]), torch.from_numpy(arrays["family"]),
                   torch.from_numpy(arrays["pitch"]), torch.from_numpy(arrays["velocity"]),
                   torch.from_numpy(arrays["is_eval"]), manifest, str(path))
