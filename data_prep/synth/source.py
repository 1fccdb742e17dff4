"""The sources of speech: glottal pulses (voicing) and turbulent noise at a constriction (frication).

Voicing (`glottal_source`): a Rosenberg (1971) glottal pulse per period, with jitter (period
perturbation) and shimmer (amplitude perturbation); its time derivative stands for the flow
plus lip radiation (+6 dB/octave). It is shaped by the vocal tract (`vocal_filter`).

Frication (`frication_noise`): noise through fixed band-pass filters for /s/, /sh/, /f/ and stop
bursts; it bypasses the tract filter (the constriction is near the lips).
"""

from __future__ import annotations

import numpy as np
import torch

from data_prep.synth.voices import Voice
from vaelab_core import spec
from vaelab_core.installation import load_torchaudio

torchaudio = load_torchaudio()

SR = spec.SAMPLE_RATE

#: Fricatives: band-pass centre (Hz, for the 17.5 cm tract; scaled like the formants), the
#: band-pass Q, and the level relative to the vowels' RMS. /s/ and /sh/ are strong, narrow-ish
#: bands (front cavity resonances), /f/ is weak and broad. The last entry is the stop burst:
#: a short broadband transient after a silent closure.
FRICATIVES: dict[str, tuple[float, float, float]] = {
    "s": (5000.0, 2.0, 0.30),
    "sh": (2800.0, 2.5, 0.30),
    "f": (4000.0, 0.7, 0.10),
    "burst": (3000.0, 0.5, 0.80),
}


def rosenberg_pulse(phase: np.ndarray, open_quotient: float, speed_quotient: float) -> np.ndarray:
    """Glottal flow over one period, `phase` in [0, 1): Rosenberg (1971), model C.

    Opening (0 <= phase < Tp): 0.5 (1 - cos(pi phase / Tp)); closing (Tp <= phase < Tp + Tn):
    cos(pi (phase - Tp) / (2 Tn)); closed afterwards. Tp + Tn = open quotient, Tp / Tn = speed
    quotient. The abrupt end of the closing phase is the main excitation of the tract.
    """
    tn = open_quotient / (1.0 + speed_quotient)
    tp = open_quotient - tn
    opening = 0.5 * (1.0 - np.cos(np.pi * phase / tp))
    closing = np.cos(np.pi * (phase - tp) / (2.0 * tn))
    return np.where(phase < tp, opening, np.where(phase < tp + tn, closing, 0.0))


def glottal_source(f0_hz: np.ndarray, voice: Voice, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Glottal excitation for a pitch track `f0_hz: (samples,)`.

    Returns `(excitation, flow)`, both `(samples,)`: the flow derivative at unit RMS (flow +
    lip radiation, which differentiates) and the flow itself in 0..1 (to modulate breath noise).
    """
    n = f0_hz.size
    # Glottal closure instants, one period at a time: T_k = 1 / f0(t_k) (1 + jitter * N(0, 1)).
    # A loop over periods (not samples): ~200 per second of speech.
    max_periods = int(n * f0_hz.max() / SR * 1.2) + 8
    jitter = voice.jitter * rng.standard_normal(max_periods)
    shimmer = np.clip(1.0 + voice.shimmer * rng.standard_normal(max_periods), 0.5, None)
    starts, periods = [], []
    t = 0.0
    while t < n and len(starts) < max_periods:
        period = SR / f0_hz[int(t)] * (1.0 + jitter[len(starts)])
        starts.append(t)
        periods.append(period)
        t += period
    starts_a, periods_a = np.array(starts), np.array(periods)
    # Each sample's period and phase within it, then the pulse shape (vectorised).
    samples = np.arange(n, dtype=np.float64)
    k = np.searchsorted(starts_a, samples, side="right") - 1
    phase = (samples - starts_a[k]) / periods_a[k]
    flow = shimmer[k] * rosenberg_pulse(phase, voice.open_quotient, voice.speed_quotient)
    excitation = np.diff(flow, prepend=0.0)
    return excitation / max(np.sqrt(np.mean(excitation ** 2)), 1e-12), flow / flow.max()


def frication_noise(n: int, voice: Voice, rng: np.random.Generator) -> np.ndarray:
    """One band-passed noise per FRICATIVES entry, each at unit RMS: `(samples, len(FRICATIVES))`."""
    noise = torch.from_numpy(rng.standard_normal((len(FRICATIVES), n))).to(torch.float32)
    # Band-pass biquads (RBJ cookbook, 0 dB peak), one per row, applied in one batched call.
    centres = torch.tensor([min(c * voice.formant_scale, 0.42 * SR) for c, _, _ in FRICATIVES.values()],
                           dtype=torch.float64)  # a shorter front cavity raises the band, below Nyquist
    qs = torch.tensor([q for _, q, _ in FRICATIVES.values()], dtype=torch.float64)
    w0 = 2 * torch.pi * centres / SR
    alpha = torch.sin(w0) / (2 * qs)
    a = torch.stack([1 + alpha, -2 * torch.cos(w0), 1 - alpha], dim=1)
    b = torch.stack([alpha, torch.zeros_like(alpha), -alpha], dim=1)
    a, b = (a / a[:, :1]).to(torch.float32), (b / a[:, :1]).to(torch.float32)  # a0 = 1
    for _ in range(2):  # twice: steeper skirts
        noise = torchaudio.functional.lfilter(noise, a, b, clamp=False, batching=True)
    bands = noise.to(torch.float64).numpy().T
    return bands / np.sqrt(np.mean(bands ** 2, axis=0)).clip(1e-12)
