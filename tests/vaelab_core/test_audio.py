"""The signal path: the STFT contract, exact inversion with the phase, Griffin-Lim, file reading."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from vaelab_core import spec
from vaelab_core.audio import (AudioError, complex_stft, griffin_lim, istft, magnitude_spectrogram,
                               read_audio, sine_window)


def harmonic(seconds: float, rate: int = spec.SAMPLE_RATE, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """A voiced-like test signal: ten harmonics of `f0` plus a little noise, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 11))
    x = x + 0.01 * rng.standard_normal(t.size)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def test_one_sequence_gives_150_frames_of_257_bins():
    wave = torch.from_numpy(harmonic(spec.SEQUENCE_SAMPLES / spec.SAMPLE_RATE))
    assert wave.numel() == 38_144
    x = magnitude_spectrogram(wave)
    assert x.shape == (150, 257) and x.dtype == torch.float32
    assert (x >= 0).all()


def test_frames_follow_the_centred_formula_and_batches_keep_their_shape():
    for samples in (512, 1000, 38_144, 40_000):
        assert magnitude_spectrogram(torch.zeros(samples) + 0.1).shape[-2] == 1 + samples // spec.HOP_LENGTH
    assert magnitude_spectrogram(torch.rand(3, spec.SEQUENCE_SAMPLES)).shape == (3, 150, 257)
    # a recording shorter than one sequence gives an empty batch: it must not crash
    assert magnitude_spectrogram(torch.zeros(0, spec.SEQUENCE_SAMPLES)).shape == (0, 150, 257)


def test_sine_window_satisfies_princen_bradley():
    w = sine_window(spec.N_FFT, dtype=torch.float64)
    half = spec.N_FFT // 2
    assert torch.allclose(w[:half] ** 2 + w[half:] ** 2, torch.ones(half, dtype=torch.float64))


def test_istft_with_the_original_phase_gives_the_signal_back():
    torch.manual_seed(0)
    wave = torch.randn(spec.SEQUENCE_SAMPLES) * 0.3
    spectrum = complex_stft(wave)  # (150, 257) complex
    back = istft(spectrum.abs(), spectrum.angle())
    assert back.shape == wave.shape
    assert torch.allclose(back, wave, atol=1e-5), (back - wave).abs().max()


def test_griffin_lim_gives_a_signal_whose_spectrogram_is_close_to_the_target():
    target = magnitude_spectrogram(torch.from_numpy(harmonic(spec.SEQUENCE_SAMPLES / spec.SAMPLE_RATE)))
    wave = griffin_lim(target, n_iter=32)
    assert wave.shape == (spec.SEQUENCE_SAMPLES,)
    assert torch.isfinite(wave).all()
    rebuilt = magnitude_spectrogram(wave)
    # spectral convergence: ||  |STFT(y)| - X || / || X ||; a random phase gives about 0.5
    convergence = (torch.linalg.norm(rebuilt - target) / torch.linalg.norm(target)).item()
    assert convergence < 0.25, convergence


def test_read_audio_mixes_stereo_down_to_the_mean_of_the_channels(tmp_path):
    left, right = harmonic(1.0, f0=200, seed=1), harmonic(1.0, f0=310, seed=2)
    soundfile.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), spec.SAMPLE_RATE, subtype="FLOAT")
    wave, info = read_audio(tmp_path / "stereo.wav")
    assert (info.channels, info.sample_rate) == (2, spec.SAMPLE_RATE)
    assert wave.shape == (spec.SAMPLE_RATE,) and wave.dtype == torch.float32
    np.testing.assert_allclose(wave.numpy(), (left + right) / 2, atol=1e-6)


def test_read_audio_resamples_to_16_khz_and_keeps_the_pitch(tmp_path):
    rate, seconds = 44_100, 2.0
    t = np.arange(int(rate * seconds)) / rate
    soundfile.write(tmp_path / "tone.flac", 0.5 * np.sin(2 * np.pi * 440 * t), rate)
    wave, info = read_audio(tmp_path / "tone.flac")
    assert info.sample_rate == rate and info.channels == 1
    assert abs(wave.numel() - seconds * spec.SAMPLE_RATE) <= 1
    assert info.seconds == pytest.approx(seconds, abs=1e-3)
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    peak_hz = spectrum.argmax() * spec.SAMPLE_RATE / wave.numel()
    assert peak_hz == pytest.approx(440, abs=1)


@pytest.mark.parametrize("content", [b"", b"hello, I am a transcript, not audio\n" * 20, b"RIFF\x00\x00"])
def test_read_audio_names_the_file_it_cannot_decode(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match="broken.wav: cannot decode"):
        read_audio(path)


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_read_audio_refuses_a_truncated_file(tmp_path, suffix):
    whole = tmp_path / f"whole.{suffix}"
    soundfile.write(whole, harmonic(3.0), spec.SAMPLE_RATE)
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    read_audio(whole)  # the complete file is fine
    with pytest.raises(AudioError, match=f"cut.{suffix}: .*(truncated|cannot decode)"):
        read_audio(cut)
