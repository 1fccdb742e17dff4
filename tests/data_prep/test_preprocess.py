"""From a recording to sequences (handout 2.5.1): silence trimming, chunking, normalisation, STFT."""

from __future__ import annotations

import torch

from data_prep.preprocess import SILENCE_DB, trim_silence, wave_to_sequences
from vaelab_core import spec

RATE = spec.SAMPLE_RATE


def tone(seconds: float, amplitude: float = 0.5, hz: float = 220.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE), dtype=torch.float64) / RATE
    return (amplitude * torch.sin(2 * torch.pi * hz * t)).to(torch.float32)


def silence(seconds: float) -> torch.Tensor:
    return torch.zeros(int(seconds * RATE))


def test_leading_and_trailing_silence_is_cut_but_pauses_inside_are_kept():
    speech = torch.cat([tone(1.0), silence(0.5), tone(1.0)])
    trimmed = trim_silence(torch.cat([silence(1.0), speech, silence(2.0)]))
    # frame resolution: at most one frame (512 samples) of slack on each side
    assert abs(trimmed.numel() - speech.numel()) <= 2 * spec.N_FFT
    assert trimmed.numel() > 2.4 * RATE  # the 0.5 s pause inside stays


def test_quiet_noise_below_the_threshold_counts_as_silence():
    gen = torch.Generator().manual_seed(0)
    floor = 10 ** ((SILENCE_DB - 20) / 20) * 0.5  # 20 dB under the threshold, relative to the tone
    wave = torch.cat([silence(1.0), tone(1.0), silence(1.0)])
    wave = wave + floor * torch.randn(wave.numel(), generator=gen)
    assert abs(trim_silence(wave).numel() - RATE) <= 2 * spec.N_FFT


def test_digital_silence_and_tiny_inputs_trim_to_nothing():
    assert trim_silence(silence(3.0)).numel() == 0
    assert trim_silence(tone(0.01)).numel() == 0  # shorter than one STFT frame


def test_sequences_have_the_lab_shape_and_the_tail_is_dropped():
    wave = tone(2.5 * spec.SEQUENCE_SAMPLES / RATE)
    x = wave_to_sequences(wave)
    assert x.shape == (2, spec.N_FRAMES, spec.N_FREQ) and x.dtype == torch.float32
    assert (x >= 0).all()


def test_a_recording_shorter_than_one_sequence_gives_none():
    x = wave_to_sequences(tone(0.9 * spec.SEQUENCE_SAMPLES / RATE))
    assert x.shape == (0, spec.N_FRAMES, spec.N_FREQ)
    assert wave_to_sequences(silence(5.0)).shape == (0, spec.N_FRAMES, spec.N_FREQ)


def test_peak_normalisation_makes_the_level_irrelevant():
    wave = tone(3.0, amplitude=0.8) + 0.1 * tone(3.0, amplitude=0.8, hz=1800)
    loud, quiet = wave_to_sequences(wave), wave_to_sequences(0.01 * wave)
    assert torch.allclose(loud, quiet, rtol=1e-4, atol=1e-4)


def test_the_spectrum_peaks_at_the_tone_frequency():
    x = wave_to_sequences(tone(3.0, hz=1000.0))
    peak_bin = x[0].mean(dim=0).argmax().item()
    assert abs(peak_bin * RATE / spec.N_FFT - 1000.0) <= RATE / spec.N_FFT
