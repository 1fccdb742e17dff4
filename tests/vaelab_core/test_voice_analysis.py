"""f0 and formant estimators on magnitude spectra, checked on vowels made by the kit's synthesiser.

The oracle is the synthesiser itself: a sustained vowel with a known f0 (glottal source) and
known formants (the resonator cascade), analysed with the lab's STFT. The grid covers f0 100 to
300 Hz and four vowel-like formant sets; the middle half of each 0.5 s vowel is measured.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_prep.synth.plan import CONTROL_HOP
from data_prep.synth.source import glottal_source
from data_prep.synth.vocal_filter import vocal_tract_filter
from data_prep.synth.voices import BUILT_IN
from vaelab_core import spec
from vaelab_core.audio import magnitude_spectrogram
from vaelab_core.voice_analysis import estimate_f0, estimate_formants, lpc_envelope, relative_error

F0S = (100.0, 150.0, 200.0, 250.0, 300.0)
FORMANT_SETS = ((300.0, 1100.0, 2300.0), (500.0, 1500.0, 2500.0), (700.0, 1200.0, 2600.0),
                (850.0, 2000.0, 3000.0))
F4_HZ = 3500.0  # the synthesiser's fourth formant, as in data_prep.synth.plan.VOWELS


def sustained_vowel(f0: float, formants: tuple[float, float, float], seconds: float = 0.5,
                    seed: int = 0, voice: str = "A") -> np.ndarray:
    """Magnitudes `(T, F)` of the middle half of a steady vowel, made like `synth.utterance`."""
    v = BUILT_IN[voice]
    rng = np.random.default_rng(seed)
    n = int(seconds * spec.SAMPLE_RATE)
    pulses, flow = glottal_source(np.full(n, f0), v, rng)
    excitation = pulses + v.breathiness * (0.5 + flow) * rng.standard_normal(n)  # as in utterance.py
    steps = n // CONTROL_HOP + 2
    track = np.tile(np.array([*formants, F4_HZ]), (steps, 1))  # (steps, 4), constant
    wave = vocal_tract_filter(excitation, track, v.bandwidths_hz)
    wave *= 0.7 / np.abs(wave).max()
    wave += 0.7e-3 * rng.standard_normal(n)  # the -60 dB noise floor of synth.utterance
    mag = magnitude_spectrogram(torch.tensor(wave, dtype=torch.float32)).numpy()
    assert mag.shape[1] == spec.N_FREQ  # time first: (T, F)
    t = mag.shape[0]
    return mag[t // 4: 3 * t // 4]


@pytest.fixture(scope="module")
def vowels() -> dict[tuple[float, tuple[float, float, float]], np.ndarray]:
    return {(f0, fs): sustained_vowel(f0, fs, seed=i)
            for i, (f0, fs) in enumerate((f0, fs) for f0 in F0S for fs in FORMANT_SETS)}


def formant_errors(vowels, f0s) -> np.ndarray:
    """Relative errors `(frames, 3)` of F1..F3 over the vowels with these f0; a missing formant counts as 100 %."""
    errors = [relative_error(estimate_formants(mag), np.array(fs))
              for (f0, fs), mag in vowels.items() if f0 in f0s]
    errors = np.concatenate(errors)
    return np.where(np.isnan(errors), 1.0, errors)


# --- f0 ------------------------------------------------------------------------------------------

def test_f0_is_within_2_percent_with_no_octave_errors(vowels):
    for f0 in F0S:
        errors = np.concatenate([relative_error(estimate_f0(mag), f0)
                                 for (f, _), mag in vowels.items() if f == f0])
        assert np.median(errors) < 0.02, (
            f"f0 {f0} Hz: median relative error {np.median(errors):.3f}, expected < 0.02")
        worst = np.max(errors)
        assert worst < 0.2, (
            f"f0 {f0} Hz: a frame is off by {worst:.0%}: an octave error (the comb preferred f0/2 or 2 f0?)")


def test_f0_survives_a_missing_fundamental_and_a_blurred_low_contrast_spectrum():
    # Harmonics 2..12 only: subharmonic summation still finds 150 Hz, not the 300 Hz spacing's double.
    t = np.arange(8000) / spec.SAMPLE_RATE
    wave = sum(np.sin(2 * np.pi * k * 150.0 * t) / k for k in range(2, 13))
    mag = magnitude_spectrogram(torch.tensor(wave, dtype=torch.float32)).numpy()[8:24]
    assert np.median(relative_error(estimate_f0(mag), 150.0)) < 0.02

    # A decoder-like spectrum: log-magnitude blurred over ~1 bin and its harmonic ripple cut to 30 %.
    mag = sustained_vowel(150.0, (500.0, 1500.0, 2500.0), seed=7, voice="B")
    db = 20 * np.log10(mag + 1e-9)
    kernel = np.exp(-0.5 * np.arange(-4, 5) ** 2)
    blurred = np.stack([np.convolve(np.pad(r, 4, mode="edge"), kernel / kernel.sum(), "valid") for r in db])
    envelope = np.stack([np.convolve(np.pad(r, 12, mode="edge"), np.ones(25) / 25, "valid") for r in blurred])
    decoded_like = 10 ** ((envelope + 0.3 * (blurred - envelope)) / 20)
    assert np.median(relative_error(estimate_f0(decoded_like), 150.0)) < 0.02


# --- formants ------------------------------------------------------------------------------------

def test_formants_meet_the_targets_up_to_f0_200(vowels):
    medians = np.median(formant_errors(vowels, (100.0, 150.0, 200.0)), axis=0)
    for name, got, limit in zip(("F1", "F2", "F3"), medians, (0.10, 0.10, 0.12)):
        assert got < limit, f"{name}: median relative error {got:.3f} for f0 <= 200 Hz, expected < {limit}"


def test_formants_stay_usable_at_high_f0(vowels):
    # Measured ~3 %, 1 %, 1 % at f0 250-300 Hz: the order-14 model is too small to fit single
    # harmonics, so it does not lock onto them (a single vowel can still be off by ~20 %).
    medians = np.median(formant_errors(vowels, (250.0, 300.0)), axis=0)
    assert (medians < (0.10, 0.10, 0.12)).all(), f"F1..F3 median relative errors {medians} at f0 250-300 Hz"


def test_formants_are_sorted_in_range_and_missing_ones_are_trailing_nan(vowels):
    found = estimate_formants(np.concatenate(list(vowels.values())), count=4)  # (frames, 4)
    assert (~np.isnan(found[:, :3])).all(axis=1).mean() > 0.9  # F1..F3 nearly always there
    missing = np.isnan(found)
    assert (missing[:, :-1] <= missing[:, 1:]).all(), "a NaN before a found formant: fill from the end"
    values = found[~missing]
    assert ((values > 90) & (values < 7800)).all()
    assert all((np.diff(row[~np.isnan(row)]) > 0).all() for row in found), "formants not lowest first"


def test_lpc_envelope_peaks_at_the_formants(vowels):
    mag = vowels[100.0, (500.0, 1500.0, 2500.0)]
    env = lpc_envelope(mag)
    assert env.shape == mag.shape and (env > 0).all() and np.isfinite(env).all()
    mean_env = env.mean(axis=0)
    peaks = [k for k in range(1, spec.N_FREQ - 1) if mean_env[k - 1] < mean_env[k] > mean_env[k + 1]]
    peak_hz = np.array(peaks) * spec.SAMPLE_RATE / spec.N_FFT
    for formant in (500.0, 1500.0, 2500.0):
        assert np.abs(peak_hz - formant).min() < 100.0, f"no envelope peak near {formant} Hz: peaks at {peak_hz}"
    assert lpc_envelope(mag[0], n_bins=513).shape == (513,)


# --- shapes, types and degenerate frames -----------------------------------------------------------

def test_any_leading_shape_torch_or_numpy(vowels):
    frames = vowels[150.0, (500.0, 1500.0, 2500.0)][:6]  # (6, F)
    f0 = estimate_f0(frames)
    fm = estimate_formants(frames)
    assert f0.shape == (6,) and fm.shape == (6, 3) and f0.dtype == np.float64
    assert estimate_f0(frames[0]).shape == () and estimate_formants(frames[0]).shape == (3,)
    stacked = frames.reshape(2, 3, spec.N_FREQ)  # (S, T, F)
    np.testing.assert_allclose(estimate_f0(stacked), f0.reshape(2, 3))
    np.testing.assert_allclose(estimate_formants(stacked), fm.reshape(2, 3, 3))
    np.testing.assert_allclose(lpc_envelope(stacked), lpc_envelope(frames).reshape(2, 3, -1), rtol=1e-9)
    as_torch = torch.from_numpy(stacked)  # float32, as the decoder gives it
    assert isinstance(estimate_f0(as_torch), np.ndarray)
    np.testing.assert_allclose(estimate_f0(as_torch), f0.reshape(2, 3), rtol=1e-3)
    np.testing.assert_allclose(estimate_formants(as_torch), fm.reshape(2, 3, 3), rtol=1e-3)
    assert estimate_formants(frames, count=5).shape == (6, 5)
    assert estimate_formants(frames, order=18).shape == (6, 3)
    assert estimate_f0(np.zeros((0, spec.N_FREQ))).shape == (0,)
    with pytest.raises(ValueError, match="frequency first"):
        estimate_f0(frames.T)  # (F, T): the torchaudio orientation


def test_flat_zero_and_noise_frames_give_nan_not_a_crash():
    rng = np.random.default_rng(0)
    flat, zero = np.ones(spec.N_FREQ), np.zeros(spec.N_FREQ)
    assert np.isnan(estimate_f0(flat)) and np.isnan(estimate_f0(zero))
    assert np.isnan(estimate_formants(flat)).all() and np.isnan(estimate_formants(zero)).all()
    broken = np.ones(spec.N_FREQ)
    broken[10] = np.nan
    assert np.isnan(estimate_f0(broken)) and np.isnan(estimate_formants(broken)).all()
    noise = np.abs(rng.standard_normal((20, spec.N_FREQ)))
    f0, fm = estimate_f0(noise), estimate_formants(noise)
    assert f0.shape == (20,) and fm.shape == (20, 3)
    assert ((f0 >= 70) & (f0 <= 400)).all()  # no voicing decision: noise gets a (meaningless) f0
    assert (np.isnan(fm) | ((fm > 90) & (fm < 7800))).all()
    assert np.isfinite(lpc_envelope(np.stack([flat, zero, noise[0]]))).all()


def test_relative_error():
    np.testing.assert_allclose(relative_error([110.0, 90.0, np.nan], 100.0), [0.1, 0.1, np.nan])
    assert relative_error(torch.tensor([200.0]), np.array([100.0])).tolist() == [1.0]


def test_f0_of_spectra_decoded_by_the_shipped_model_is_finite(vowels):
    # The model class lives in the instructor's notebook: run the checkpoint's dense layers by hand
    # (encoder mean, decoder, eta -> exp(eta / 2), as SpeechVAEBase.reconstruct does).
    from vaelab_core.checkpoints import load_checkpoint, pretrained_path

    state = load_checkpoint(pretrained_path())["model"]

    def dense_tanh(h: torch.Tensor, part: str) -> torch.Tensor:
        for i in range(0, 8, 2):
            h = torch.tanh(h @ state[f"{part}.{i}.weight"].T + state[f"{part}.{i}.bias"])
        return h

    x = torch.from_numpy(vowels[150.0, (500.0, 1500.0, 2500.0)])
    mean = dense_tanh(x, "mlp_x_z") @ state["inf_mean.weight"].T + state["inf_mean.bias"]
    eta = dense_tanh(mean, "mlp_z_x") @ state["gen_logvar.weight"].T + state["gen_logvar.bias"]
    decoded = torch.exp(eta / 2)  # (T, F)
    f0 = estimate_f0(decoded)
    assert f0.shape == (x.shape[0],) and np.isfinite(f0).all() and ((f0 >= 70) & (f0 <= 400)).all()
    assert estimate_formants(decoded).shape == (x.shape[0], 3)
