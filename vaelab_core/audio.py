"""The signal path: audio files -> 16 kHz mono -> magnitude STFT, and back to audio.

Shapes follow the lab's convention, time first: a spectrogram is (..., T, F) with F = 257.
torchaudio works frequency first, (..., F, T); the transposes below are the only place where
the two meet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile
import torch

from vaelab_core import spec
from vaelab_core.errors import VaelabError
from vaelab_core.installation import load_torchaudio
from vaelab_core.threads import as_measured

torchaudio = load_torchaudio()  # one clear sentence, not a traceback, when the pair does not match


class AudioError(VaelabError, ValueError):
    """An audio file that cannot be used, with a message saying which file and why."""


@dataclass(frozen=True)
class AudioInfo:
    """What was read from a file before conversion."""

    path: str
    sample_rate: int  # the file's own rate, before resampling
    channels: int  # the file's own channel count, before the mix-down
    seconds: float  # duration after conversion


def sine_window(length: int, dtype: torch.dtype = torch.float32, **_: object) -> torch.Tensor:
    """w[n] = sin(pi (n + 1/2) / length), n = 0 .. length - 1: see `spec.WINDOW` for why."""
    n = torch.arange(length, dtype=torch.float64)
    return torch.sin(torch.pi * (n + 0.5) / length).to(dtype)


def read_audio(path: str | Path) -> tuple[torch.Tensor, AudioInfo]:
    """Read a wav/flac file as 16 kHz mono float32.

    Returns `(wave, info)` with `wave: (samples,)`. Stereo is averaged to mono and other rates
    are resampled with torchaudio; `info` keeps the original rate and channel count so callers
    can report the conversion. Raises `AudioError` naming the file for anything unreadable.
    """
    path = Path(path)
    try:
        with soundfile.SoundFile(str(path)) as handle:
            data = handle.read(dtype="float32", always_2d=True)
            rate, header_log = handle.samplerate, handle.extra_info
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as err:
        raise AudioError(
            f"{path}: cannot decode this file as audio ({err}). It may be truncated, corrupt or not "
            "an audio file at all; re-export it as wav or flac, or remove it from the folder."
        ) from err
    # libsndfile reads a cut-off wav without complaint, returning only the samples present; its
    # header log says so ("data : 160000 (should be 79979)"). Sizes 0 and 0xFFFFFFFF are the
    # placeholders of streamed wavs (e.g. ffmpeg to a pipe), not a truncation.
    cut = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", header_log, re.MULTILINE)
    if cut and int(cut[2]) < int(cut[1]) and int(cut[1]) not in (0, 0xFFFFFFFF, 0x7FFFFFFF):
        raise AudioError(
            f"{path}: the file is truncated: its header announces {int(cut[1]):,} bytes of audio but "
            f"only {int(cut[2]):,} are there (an interrupted copy or export?). Copy or export it again."
        )
    channels = data.shape[1]
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))  # (samples,) mono mix-down
    if not torch.isfinite(wave).all():
        raise AudioError(f"{path}: the decoded samples contain NaN or infinity; the file is damaged.")
    if rate != spec.SAMPLE_RATE:
        wave = torchaudio.functional.resample(wave, orig_freq=rate, new_freq=spec.SAMPLE_RATE)
    return wave, AudioInfo(str(path), int(rate), int(channels), wave.numel() / spec.SAMPLE_RATE)


@lru_cache(maxsize=1)
def _spectrogram_transform() -> torchaudio.transforms.Spectrogram:
    return torchaudio.transforms.Spectrogram(
        n_fft=spec.N_FFT,
        hop_length=spec.HOP_LENGTH,
        window_fn=sine_window,
        power=None,  # complex output: magnitude and phase are both needed somewhere
        center=spec.CENTER,
        pad_mode=spec.PAD_MODE,
    )


def complex_stft(wave: torch.Tensor) -> torch.Tensor:
    """Complex STFT of `wave: (..., samples)` as `(..., T, F)`, T = 1 + samples // hop."""
    return _spectrogram_transform()(wave).transpose(-1, -2)


def magnitude_spectrogram(wave: torch.Tensor) -> torch.Tensor:
    """Magnitude STFT |X| of `wave: (..., samples)` as float32 `(..., T, F)`.

    A sequence of `spec.SEQUENCE_SAMPLES` = 38,144 samples gives exactly 150 x 257.
    An empty batch, e.g. `(0, samples)`, gives an empty `(0, T, F)` (torch's reflect padding
    rejects empty batches, and a recording shorter than one sequence yields one).
    """
    if wave.numel() == 0 and wave.shape[-1] > 0:
        frames = 1 + wave.shape[-1] // spec.HOP_LENGTH if spec.CENTER else \
            1 + (wave.shape[-1] - spec.N_FFT) // spec.HOP_LENGTH
        return torch.zeros(*wave.shape[:-1], frames, spec.N_FREQ, dtype=torch.float32)
    return complex_stft(wave).abs().to(torch.float32)


def istft(magnitude: torch.Tensor, phase: torch.Tensor, length: int | None = None) -> torch.Tensor:
    """Audio from magnitudes `(..., T, F)` and a phase of the same shape (in radians).

    Used to listen to a reconstruction with the original signal's phase. `length` defaults to
    the sequence length of T frames, (T - 1) * hop samples.
    """
    frames = magnitude.shape[-2]
    spectrum = torch.polar(magnitude.to(torch.float32), phase.to(torch.float32)).transpose(-1, -2)
    return torch.istft(
        spectrum,
        n_fft=spec.N_FFT,
        hop_length=spec.HOP_LENGTH,
        window=sine_window(spec.N_FFT),
        center=spec.CENTER,
        length=length if length is not None else (frames - 1) * spec.HOP_LENGTH,
    )


def griffin_lim(magnitude: torch.Tensor, n_iter: int = 64, length: int | None = None) -> torch.Tensor:
    """Audio from magnitudes `(..., T, F)` alone, phase estimated by Griffin-Lim (torchaudio)."""
    frames = magnitude.shape[-2]
    transform = torchaudio.transforms.GriffinLim(
        n_fft=spec.N_FFT,
        hop_length=spec.HOP_LENGTH,
        window_fn=sine_window,
        power=1.0,  # the input is a magnitude, not a power spectrogram
        n_iter=n_iter,
        length=length if length is not None else (frames - 1) * spec.HOP_LENGTH,
        rand_init=False,  # a fixed start makes listening examples reproducible
    )
    with as_measured():  # one thread where the latest training here found it faster (a busy core)
        return transform(magnitude.to(torch.float32).transpose(-1, -2))
