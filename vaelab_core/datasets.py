"""Speaker datasets: one `.npz` file each, loaded without pickle, batched for training.

A dataset file holds
  train     float32 (N_train, T, F) magnitude spectrograms, >= 0
  eval      float32 (N_eval, T, F), from other utterances than `train`
  manifest  a JSON string: speaker, source files (sha256, seconds), preprocessing parameters,
            split rule and seed, counts, package versions, the command that made it.
  examples  optional float32 (K, 38144): the waveforms of the first K eval sequences, so that a
            notebook can play a reconstruction with the original phase without the recordings.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from vaelab_core import spec
from vaelab_core.atomic_files import check_writable, write_npz
from vaelab_core.errors import VaelabError

#: Environment variable naming the folder where the default (built-in) datasets live.
DATA_HOME_ENV = "VAELAB_HOME"


class DatasetError(VaelabError, ValueError):
    """A dataset file that does not follow the lab contract, with the reason and the fix."""


@dataclass
class SpeakerDataset:
    """A loaded dataset: `train: (N, T, F)` and `eval: (M, T, F)` float32 tensors."""

    train: torch.Tensor
    eval: torch.Tensor
    manifest: dict = field(default_factory=dict)
    path: str = ""
    examples: torch.Tensor | None = None  # (K, samples) waveforms of eval[:K], if stored

    @property
    def name(self) -> str:
        return str(self.manifest.get("speaker", Path(self.path).stem or "dataset"))

    def __repr__(self) -> str:
        return (f"SpeakerDataset({self.name!r}: train {tuple(self.train.shape)}, "
                f"eval {tuple(self.eval.shape)})")


def check_spectrograms(array: np.ndarray, what: str) -> None:
    """Raise `DatasetError` unless `array` is float32 (N, T, F), finite and >= 0."""
    expected = (spec.N_FRAMES, spec.N_FREQ)
    if array.ndim != 3 or tuple(array.shape[1:]) != expected:
        raise DatasetError(
            f"{what}: expected shape (N, {expected[0]}, {expected[1]}) (sequences, frames, bins), got "
            f"{tuple(array.shape)}. Was it made with the lab's STFT settings (vaelab data build)?"
        )
    if array.dtype != np.float32:
        raise DatasetError(f"{what}: expected float32 magnitudes, got {array.dtype}.")
    if not np.isfinite(array).all():
        raise DatasetError(f"{what}: contains NaN or infinite values; rebuild the dataset.")
    if array.size and array.min() < 0:
        raise DatasetError(f"{what}: contains negative values, but magnitudes are >= 0. "
                           "Were log-spectrograms or complex parts stored instead of |STFT|?")


def save_dataset(path: str | Path, train: np.ndarray, eval: np.ndarray, manifest: dict,
                 force: bool = False, examples: np.ndarray | None = None) -> Path:
    """Write a dataset atomically (npz, no pickle). Refuses to overwrite unless `force`.

    `examples: (K, SEQUENCE_SAMPLES)` float32 are the waveforms of `eval[:K]` (optional).
    """
    path = check_writable(path, force)
    if path.suffix != ".npz":
        raise DatasetError(f"{path}: a dataset file must end in .npz.")
    check_spectrograms(train, f"{path} (train)")
    check_spectrograms(eval, f"{path} (eval)")
    text = json.dumps(manifest, indent=1, sort_keys=True)
    arrays = [("train", train), ("eval", eval), ("manifest", np.array(text))]
    if examples is not None:
        examples = np.asarray(examples, dtype=np.float32)
        if examples.ndim != 2 or examples.shape[1] != spec.SEQUENCE_SAMPLES or len(examples) > len(eval):
            raise DatasetError(f"{path}: examples should be (K <= N_eval, {spec.SEQUENCE_SAMPLES}) "
                               f"waveforms of the first eval sequences, got {examples.shape}.")
        arrays.append(("examples", examples))
    # Float32 magnitudes barely compress (zlib saves ~8 %), and deflating the 180 MB pre-training
    # set took 6-8 s, three times as long as decoding its 52 min of audio: store arrays as they
    # are, compress only the JSON manifest.
    write_npz(path, arrays, compress={"manifest"})
    return path


def load_dataset(path: str | Path) -> SpeakerDataset:
    """Load and validate a dataset file. Returns tensors and the manifest.

    Raises `DatasetError` with the reason (missing file, not an npz, wrong shapes ...).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"{path}: no such dataset file. Build one with `vaelab data build` (TA), or the built-in "
            "Speaker A and B with `vaelab data defaults` (`python -m data_prep.defaults` in a student "
            "install), or check the path."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"train", "eval", "manifest"} - set(archive.files)
            if missing:
                raise DatasetError(f"{path}: not a vaelab dataset, it lacks {sorted(missing)}.")
            train, eval_ = archive["train"], archive["eval"]
            manifest = json.loads(str(archive["manifest"].reshape(-1)[0]))  # 0-d (or (1,)) string
            examples = archive["examples"] if "examples" in archive.files else None
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DatasetError(f"{path}: cannot read it as a dataset .npz ({err}).") from err
    check_spectrograms(train, f"{path} (train)")
    check_spectrograms(eval_, f"{path} (eval)")
    return SpeakerDataset(torch.from_numpy(train), torch.from_numpy(eval_), manifest, str(path),
                          None if examples is None else torch.from_numpy(examples))


def concat(*datasets: SpeakerDataset, name: str | None = None) -> SpeakerDataset:
    """Several speakers as one dataset (handout 2.4 trains on A and B jointly)."""
    return SpeakerDataset(
        torch.cat([d.train for d in datasets]),
        torch.cat([d.eval for d in datasets]),
        {"speaker": name or "+".join(d.name for d in datasets),
         "parts": [d.manifest for d in datasets]},
    )


def frame_batches(x: torch.Tensor, batch_size: int, shuffle: bool = True,
                  generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Batches of `(B, T, F)` made of frames shuffled across the whole set.

    `x: (N, T, F)`. The model treats frames independently, so the frames of all sequences are
    pooled, shuffled and regrouped into `ceil(N / batch_size)` batches of `batch_size`
    pseudo-sequences of T frames each (the last batch may be smaller). Compared with batching
    whole sequences, each step sees frames from many utterances at once, which makes the
    gradient far less noisy on a small speaker set; the step count per epoch is the same.
    """
    n, t, f = x.shape
    frames = x.reshape(n * t, f)
    if shuffle:
        frames = frames[torch.randperm(n * t, generator=generator)]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield frames[start * t: stop * t].reshape(stop - start, t, f)


def sequence_batches(x: torch.Tensor, batch_size: int, shuffle: bool = True,
                     generator: torch.Generator | None = None) -> DataLoader:
    """A torch DataLoader over whole sequences of `x: (N, T, F)`: batches `(B, T, F)`."""
    return DataLoader(x, batch_size=batch_size, shuffle=shuffle, generator=generator)


def steps_per_epoch(n_sequences: int, batch_size: int) -> int:
    """Optimizer steps in one epoch over `n_sequences` with batches of `batch_size`."""
    return math.ceil(n_sequences / batch_size)


def data_home() -> Path:
    """Folder of the built-in datasets: $VAELAB_HOME, else ~/.cache/vaelab."""
    return Path(os.environ.get(DATA_HOME_ENV) or Path.home() / ".cache" / "vaelab")


def default_speaker_path(speaker: str, home: str | Path | None = None) -> Path:
    """Path of the built-in synthetic set for `speaker` ("A" or "B"), built by `vaelab data defaults`:
    HOME/datasets/speaker_{A,B}.npz, HOME being `home` or, when None, `data_home()`."""
    if speaker not in ("A", "B"):
        raise ValueError(f"the built-in speakers are 'A' and 'B', not {speaker!r}")
    return (data_home() if home is None else Path(home)) / "datasets" / f"speaker_{speaker}.npz"


def speaker_path(speaker: str) -> Path:
    """Dataset path for Speaker A or B: $VAELAB_SPEAKER_A / $VAELAB_SPEAKER_B, else the built-in set."""
    return Path(os.environ.get(f"VAELAB_SPEAKER_{speaker}") or default_speaker_path(speaker))


# --- Sweeps: labelled sustained vowels, one source-filter factor varying (second lab) ----------

#: The factors a sweep can vary: the pitch f0 and the first three formants F1..F3. Each sweep
#: file is made by `vaelab data sweep` (data_prep.sweep), which holds the ranges.
SWEEP_FACTORS = ("f0", "f1", "f2", "f3")

#: Environment variable naming a folder of ready-made sweep files (else `default_sweep_dir()`).
SWEEP_DIR_ENV = "VAELAB_SWEEPS"


def default_sweep_dir(home: str | Path | None = None) -> Path:
    """Folder of the sweep files `sweep_{f0,f1,f2,f3}.npz`: HOME/sweeps, HOME being `home` or,
    when None, `data_home()`."""
    return (data_home() if home is None else Path(home)) / "sweeps"


def sweep_dir() -> Path:
    """Folder the notebook reads sweeps from: $VAELAB_SWEEPS, else `default_sweep_dir()`."""
    return Path(os.environ.get(SWEEP_DIR_ENV) or default_sweep_dir())


@dataclass(frozen=True)
class Sweep:
    """One loaded sweep: S sequences of T frames in which only `factor` changes.

    spectra: (S, T, F) float32 magnitudes; f0_hz: (S, T) pitch; formants_hz: (S, T, 3) F1..F3;
    values: (S, T) the swept factor's value at each frame (Hz), all read off the synthesiser.
    """

    factor: str  # "f0", "f1", "f2" or "f3"
    spectra: torch.Tensor  # (S, T, F) float32 magnitudes >= 0
    f0_hz: torch.Tensor  # (S, T) float32
    formants_hz: torch.Tensor  # (S, T, 3) float32, F1..F3
    values: torch.Tensor  # (S, T) float32, the swept factor per frame
    manifest: dict  # how it was made: factor, range, sequences, seed, voice, versions

    @property
    def frames(self) -> torch.Tensor:
        """All frames, sequence after sequence: (S * T, F)."""
        return self.spectra.reshape(-1, self.spectra.shape[-1])

    @property
    def labels(self) -> torch.Tensor:
        """The swept factor of each row of `frames`: (S * T,)."""
        return self.values.reshape(-1)

    def __repr__(self) -> str:
        low, high = (float(self.values.min()), float(self.values.max())) if self.values.numel() else (0.0, 0.0)
        return f"Sweep({self.factor!r}: spectra {tuple(self.spectra.shape)}, {low:.0f}-{high:.0f} Hz)"


def load_sweep(path: str | Path) -> Sweep:
    """Load and validate a sweep file (`vaelab data sweep`); raises `DatasetError` with the reason."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(
            f"{path}: no such sweep file. Build the sweeps with `vaelab data sweep --out DIR` (TA), or "
            "let the notebook build them (data_prep.sweep.ensure_sweeps()); or check the path."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"spectra", "f0_hz", "formants_hz", "values", "factor", "manifest"} - set(archive.files)
            if missing:
                raise DatasetError(f"{path}: not a vaelab sweep file, it lacks {sorted(missing)}.")
            arrays = {name: archive[name] for name in ("spectra", "f0_hz", "formants_hz", "values")}
            factor = str(archive["factor"].reshape(-1)[0])
            manifest = json.loads(str(archive["manifest"].reshape(-1)[0]))
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DatasetError(f"{path}: cannot read it as a sweep .npz ({err}).") from err
    if factor not in SWEEP_FACTORS:
        raise DatasetError(f"{path}: factor {factor!r} is not one of {', '.join(SWEEP_FACTORS)}.")
    spectra = arrays["spectra"]
    check_spectrograms(spectra, f"{path} (spectra)")
    s, t = spectra.shape[:2]
    expected = {"f0_hz": (s, t), "formants_hz": (s, t, 3), "values": (s, t)}
    for name, shape in expected.items():
        array = arrays[name]
        if array.shape != shape or array.dtype != np.float32 or not np.isfinite(array).all():
            raise DatasetError(
                f"{path} ({name}): expected finite float32 labels of shape {shape}, one per frame of the "
                f"spectra {tuple(spectra.shape)}; got {array.dtype} {tuple(array.shape)}. Rebuild it with "
                "`vaelab data sweep --force`."
            )
    return Sweep(factor, *(torch.from_numpy(arrays[name]) for name in ("spectra", "f0_hz", "formants_hz", "values")),
                 manifest)
