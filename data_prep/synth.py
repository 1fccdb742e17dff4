"""`vaelab data synth`: synthetic speakers made with the source-filter model of speech.

Speech is a source (the glottal airflow, or turbulent noise at a constriction) shaped by a
filter (the resonances of the vocal tract, the formants) and radiated at the lips (Fant 1960,
"Acoustic Theory of Speech Production"). This module builds each part from a few numbers per
voice (`Voice`) and writes recordings that `vaelab data build` reads like real ones:

  OUT/<voice>/<voice>-0-<NNNN>.wav           16 kHz 16-bit PCM, 8-15 s each, LibriSpeech-style
                                             names READER-CHAPTER-UTTERANCE (reader = voice)
  OUT/<voice>/<voice>-0-<NNNN>.labels.npz    per STFT frame (one per HOP_LENGTH samples, frame t
                                             centred on sample t * HOP_LENGTH, as in the lab's
                                             STFT): f0_hz (frames,), 0 when unvoiced;
                                             formants_hz (frames, 4); voiced (frames,) bool
  OUT/synth_manifest.json                    voices, seed, minutes, files with sha256

Everything is drawn from seeded generators: the same arguments give the same bytes (on the
same platform and library versions). A voice's audio depends only on the seed and its name
(built-ins) or its index (--count), not on which other voices are made in the same run.

How one utterance is made (`synthesize_utterance`):
  1. plan (`plan_utterance`): phrases separated by pauses; each phrase a run of syllables, an
     optional consonant (fricative, /h/ or stop) before a vowel; an intonation contour per phrase
     (declination + pitch accents); all as control tracks, one value per CONTROL_HOP samples.
  2. source (`glottal_source`): a Rosenberg (1971) glottal pulse per period, with jitter (period
     perturbation) and shimmer (amplitude perturbation); its time derivative stands for the
     flow plus lip radiation (+6 dB/octave). Breathy and /h/ noise is added at the glottis.
  3. filter (`vocal_tract_filter`): four cascaded second-order resonators (Klatt 1980) at the
     formant frequencies, which move smoothly between vowel targets. The tract is re-tuned every
     CONTROL_HOP samples: the excitation is cut into overlapping windowed blocks, each block is
     filtered with the resonators of its moment (all blocks in one batched torchaudio call), and
     the results are overlap-added.
  4. frication (`frication_noise`): noise through fixed band-pass filters for /s/, /sh/, /f/ and
     stop bursts; it bypasses the tract filter (the constriction is near the lips).
  5. mix: vowels at unit RMS, frication below it, peak 0.7, and a background noise floor 60 dB
     below the peak so that no frame is digital silence.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from vaelab_core import spec
from vaelab_core.atomic_files import OutputError, atomic_path, check_writable
from vaelab_core.errors import VaelabError

SR = spec.SAMPLE_RATE

#: The tract is re-tuned (and every control track sampled) once per CONTROL_HOP samples:
#: half an STFT hop, 8 ms, so that frame t of the STFT sits on control step 2 t.
CONTROL_HOP = spec.HOP_LENGTH // 2

#: Samples kept after each filtered block for the resonators' ringing: with the narrowest
#: bandwidth (50 Hz) a resonance decays by 60 dB in 6.9 / (pi * 50 Hz) = 44 ms = 703 samples.
FILTER_TAIL = 768

#: Utterances rendered at once (threads; see `main`).
WORKERS = 2

#: Peak level of each utterance, and the background noise floor below it.
PEAK = 0.7
NOISE_FLOOR_DB = -60.0

#: Vocal-tract length that the vowel table below belongs to. A uniform tube closed at the
#: glottis has resonances F_n = (2n - 1) c / 4L: 500, 1500, 2500, 3500 Hz for L = 17.5 cm and
#: c = 350 m/s. A shorter tract scales every formant by 17.5 cm / L.
REFERENCE_TRACT_CM = 17.5

#: Vowel targets F1-F3 in Hz: the men's averages of Peterson & Barney (1952, Table II). F4 is
#: put at the uniform-tube value, 3500 Hz.
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "i": (270.0, 2290.0, 3010.0, 3500.0),  # heed
    "I": (390.0, 1990.0, 2550.0, 3500.0),  # hid
    "E": (530.0, 1840.0, 2480.0, 3500.0),  # head
    "ae": (660.0, 1720.0, 2410.0, 3500.0),  # had
    "A": (730.0, 1090.0, 2440.0, 3500.0),  # hod
    "O": (570.0, 840.0, 2410.0, 3500.0),  # hawed
    "U": (440.0, 1020.0, 2240.0, 3500.0),  # hood
    "u": (300.0, 870.0, 2240.0, 3500.0),  # who'd
    "V": (640.0, 1190.0, 2390.0, 3500.0),  # hud
    "3": (490.0, 1350.0, 1690.0, 3500.0),  # heard
}

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

#: Consonant before a vowel and its probability: none, a fricative, /h/ (aspiration through the
#: tract), or a stop (silent closure + burst).
ONSETS = ("none", "s", "sh", "f", "h", "stop")
ONSET_PROBABILITIES = (0.40, 0.15, 0.08, 0.07, 0.10, 0.20)

#: Utterance lengths in seconds, like LibriSpeech's: drawn in this range, then rescaled so that
#: a voice's utterances add up to exactly the requested minutes.
UTTERANCE_SECONDS = (8.0, 15.0)
MEAN_UTTERANCE_SECONDS = 11.0


class SynthError(VaelabError, ValueError):
    """Bad arguments to the synthesiser, with the accepted values."""


@dataclass(frozen=True)
class Voice:
    """The numbers that make one synthetic speaker."""

    name: str  # reader id in file names; "A", "B", or "S000".. for --count voices
    description: str  # what it should sound like, for the manifest and the printout
    f0_low_hz: float  # bottom of the pitch range (end of a declarative phrase)
    f0_high_hz: float  # top of the pitch range (pitch accents)
    tract_cm: float  # vocal-tract length; formants scale by REFERENCE_TRACT_CM / tract_cm
    bandwidths_hz: tuple[float, float, float, float]  # formant bandwidths B1..B4
    open_quotient: float  # share of a glottal period with the glottis open (0.4-0.8)
    speed_quotient: float  # opening time / closing time of the glottal pulse (>1: skewed)
    jitter: float  # relative standard deviation of successive glottal periods (~0.5-1 %)
    shimmer: float  # relative standard deviation of successive pulse amplitudes (~3-6 %)
    breathiness: float  # aspiration noise during voicing, relative to the glottal pulses
    syllables_per_s: float  # speaking rate

    @property
    def formant_scale(self) -> float:
        return REFERENCE_TRACT_CM / self.tract_cm


#: The built-in voices of the lab: two clearly different speakers (handout 2.4 fine-tunes a
#: model trained on one to the other).
BUILT_IN: dict[str, Voice] = {
    "A": Voice("A", "low voice, long vocal tract (adult male-like)", f0_low_hz=85.0,
               f0_high_hz=150.0, tract_cm=17.5, bandwidths_hz=(60.0, 90.0, 150.0, 200.0),
               open_quotient=0.55, speed_quotient=2.5, jitter=0.006, shimmer=0.04,
               breathiness=0.03, syllables_per_s=4.2),
    "B": Voice("B", "high voice, short vocal tract (adult female or young-like)", f0_low_hz=180.0,
               f0_high_hz=300.0, tract_cm=14.0, bandwidths_hz=(75.0, 110.0, 170.0, 240.0),
               open_quotient=0.65, speed_quotient=2.0, jitter=0.008, shimmer=0.05,
               breathiness=0.08, syllables_per_s=4.8),
}

#: Kinds of --count voices: probability, tract length range (cm), range of the pitch range's
#: geometric centre (Hz). Rough adult male / adult female / child values.
VOICE_KINDS: dict[str, tuple[float, tuple[float, float], tuple[float, float]]] = {
    "adult male-like": (0.4, (16.5, 18.5), (95.0, 140.0)),
    "adult female-like": (0.4, (13.8, 15.5), (175.0, 245.0)),
    "child-like": (0.2, (11.0, 13.0), (230.0, 320.0)),
}


def varied_voice(index: int, seed: int) -> Voice:
    """Voice number `index` of a --count corpus: kind, pitch, tract length and quality drawn from `seed`."""
    rng = np.random.default_rng([seed, 1_000_003, index])
    kinds = list(VOICE_KINDS)
    kind = kinds[rng.choice(len(kinds), p=[VOICE_KINDS[k][0] for k in kinds])]
    _, tract_range, centre_range = VOICE_KINDS[kind]
    centre = rng.uniform(*centre_range)
    span = rng.uniform(1.25, 1.4)  # pitch range: centre / span .. centre * span
    tract = rng.uniform(*tract_range)
    widen = 1.0 + 0.25 * rng.uniform()  # shorter tracts and breathier voices have wider bands
    return Voice(
        name=f"S{index:03d}", description=kind,
        f0_low_hz=round(centre / span, 1), f0_high_hz=round(centre * span, 1), tract_cm=round(tract, 2),
        bandwidths_hz=tuple(round(b * widen, 1) for b in (60.0, 90.0, 150.0, 200.0)),
        open_quotient=round(rng.uniform(0.5, 0.7), 3), speed_quotient=round(rng.uniform(1.8, 3.0), 3),
        jitter=round(rng.uniform(0.004, 0.012), 4), shimmer=round(rng.uniform(0.02, 0.06), 4),
        breathiness=round(rng.uniform(0.02, 0.12), 3), syllables_per_s=round(rng.uniform(3.6, 5.4), 2),
    )


# --- 1. The plan: what is said when, as control tracks --------------------------------------

@dataclass
class Plan:
    """Control tracks of one utterance, one row per CONTROL_HOP samples: `(steps, ...)`."""

    f0_hz: np.ndarray  # (steps,) intended pitch (also defined, and meaningless, in pauses)
    formants_hz: np.ndarray  # (steps, 4) F1..F4 of the tract
    voicing: np.ndarray  # (steps,) 0..1, amplitude of the glottal pulses
    loudness: np.ndarray  # (steps,) syllable and phrase dynamics
    aspiration: np.ndarray  # (steps,) /h/: noise at the glottis, through the tract
    frication: np.ndarray  # (steps, len(FRICATIVES)) noise bands bypassing the tract


def _steps(seconds: float) -> int:
    return max(1, round(seconds * SR / CONTROL_HOP))


def _smooth(track: np.ndarray, steps: int) -> np.ndarray:
    """Moving average over `steps` control steps along axis 0, edges held (no fade to zero)."""
    if steps <= 1:
        return track
    kernel = np.ones(steps) / steps
    padded = np.pad(track, [(steps // 2, steps - 1 - steps // 2)] + [(0, 0)] * (track.ndim - 1), mode="edge")
    if track.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(track.shape[1])], axis=1)


def plan_utterance(voice: Voice, steps: int, rng: np.random.Generator) -> Plan:
    """Phrases, syllables and intonation of one utterance of `steps` control steps."""
    voicing = np.zeros(steps)
    loudness = np.ones(steps)
    aspiration = np.zeros(steps)
    frication = np.zeros((steps, len(FRICATIVES)))
    pitch = np.full(steps, np.nan)  # position in the voice's pitch range, 0 (low) .. 1 (high), log scale
    target_steps: list[int] = []  # control steps where the formants reach a vowel's target
    vowel_targets: list[np.ndarray] = []
    vowel_names = list(VOWELS)
    fricative_index = {name: j for j, name in enumerate(FRICATIVES)}

    i = _steps(rng.uniform(0.15, 0.35))  # silence before the first word
    end = steps - _steps(rng.uniform(0.2, 0.4))  # ... and after the last one
    while end - i > _steps(0.6):
        start = i
        stop = min(start + _steps(rng.uniform(1.2, 3.2)), end)
        syllables: list[tuple[int, int]] = []
        j = start
        while stop - j > _steps(0.1):
            onset = ONSETS[rng.choice(len(ONSETS), p=ONSET_PROBABILITIES)]
            if onset in ("s", "sh", "f"):
                length = _steps(rng.uniform(0.07, 0.14))
                frication[j:j + length, fricative_index[onset]] = 1.0
                j += length
            elif onset == "h":
                length = _steps(rng.uniform(0.05, 0.09))
                aspiration[j:j + length] = 1.0
                j += length
            elif onset == "stop":
                j += _steps(rng.uniform(0.04, 0.07))  # closure: silence
                frication[j:j + 2, fricative_index["burst"]] = (1.0, 0.3)  # release burst, 16 ms
                j += 2
            length = min(_steps(rng.uniform(0.6, 1.1) / voice.syllables_per_s), stop - j)
            if length < _steps(0.05):
                break
            voicing[j:j + length] = 1.0
            # Syllable dynamics: louder in the middle of the vowel.
            loudness[j:j + length] = 0.75 + 0.25 * np.sin(np.pi * (np.arange(length) + 0.5) / length)
            vowel = vowel_names[rng.integers(len(vowel_names))]
            target = np.array(VOWELS[vowel]) * voice.formant_scale * (1.0 + 0.03 * rng.standard_normal(4))
            # The target is held over the middle half of the vowel (its steady state); the
            # outer quarters are the transitions from and to the neighbouring vowels.
            target_steps += [j + length // 4, j + (3 * length) // 4]
            vowel_targets += [target, target]
            syllables.append((j, length))
            j += length
        stop = max(j, start + 1)

        # Intonation (e.g. 't Hart, Collier & Cohen 1990): a declination line from high to low
        # across the phrase, pitch accents as bumps on one to three syllables, a final fall.
        t = np.arange(start, stop)
        x = (t - start) / max(stop - start, 1)
        contour = rng.uniform(0.45, 0.65) + (rng.uniform(0.05, 0.2) - rng.uniform(0.45, 0.65)) * x
        if syllables:
            accented = rng.choice(len(syllables), size=min(len(syllables), int(rng.integers(1, 4))), replace=False)
            for k in accented:
                centre = syllables[k][0] + syllables[k][1] / 2
                contour += rng.uniform(0.2, 0.4) * np.exp(-0.5 * ((t - centre) / _steps(0.08)) ** 2)
                loudness[syllables[k][0]:sum(syllables[k])] *= 1.3
        contour -= 0.1 * np.clip((x - 0.85) / 0.15, 0, 1)  # final lowering
        pitch[start:stop] = contour
        loudness[start:stop] *= 1.0 - 0.3 * x  # phrases get softer towards their end, too
        i = stop + _steps(rng.uniform(0.25, 0.7))  # pause between phrases

    # Pitch between phrases: carried over (it is not heard), plus a slow random drift.
    known = np.flatnonzero(~np.isnan(pitch))
    pitch = np.interp(np.arange(steps), known, pitch[known]) if known.size else np.full(steps, 0.4)
    pitch += _smooth(0.15 * rng.standard_normal(steps), 25)
    f0 = voice.f0_low_hz * (voice.f0_high_hz / voice.f0_low_hz) ** np.clip(pitch, 0.0, 1.0)

    # Formants glide between the vowel targets (coarticulation), smoothed over ~56 ms.
    if target_steps:
        anchors = np.array(target_steps)
        targets = np.stack(vowel_targets)
        formants = np.stack([np.interp(np.arange(steps), anchors, targets[:, k]) for k in range(4)], axis=1)
    else:  # too short to hold a word: a neutral tract
        formants = np.tile(np.array([500.0, 1500.0, 2500.0, 3500.0]) * voice.formant_scale, (steps, 1))
    formants = _smooth(formants, 7)

    return Plan(
        f0_hz=f0,
        formants_hz=formants,
        voicing=_smooth(voicing, 3),  # ~24 ms onsets and offsets
        loudness=_smooth(loudness, 3),
        aspiration=_smooth(aspiration, 3),
        frication=np.concatenate([_smooth(frication[:, :-1], 3), frication[:, -1:]], axis=1),  # bursts stay sharp
    )


# --- 2. The source: glottal pulses ----------------------------------------------------------

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


# --- 3. The filter: four formant resonators, re-tuned every CONTROL_HOP samples -------------

def resonator_coefficients(freq_hz: torch.Tensor, bandwidth_hz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Second-order resonator of Klatt (1980): y[n] = A x[n] + B y[n-1] + C y[n-2].

    C = -exp(-2 pi BW / fs), B = 2 exp(-pi BW / fs) cos(2 pi F / fs), A = 1 - B - C (unit gain at
    0 Hz, so a cascade gives the natural relative formant levels). Returns torchaudio's
    `(a, b)`, each `(..., 3)`: a = [1, -B, -C], b = [A, 0, 0].
    """
    c = -torch.exp(-2 * torch.pi * bandwidth_hz / SR)
    b = 2 * torch.exp(-torch.pi * bandwidth_hz / SR) * torch.cos(2 * torch.pi * freq_hz / SR)
    gain = 1 - b - c
    zeros = torch.zeros_like(gain)
    return torch.stack([torch.ones_like(b), -b, -c], dim=-1), torch.stack([gain, zeros, zeros], dim=-1)


def vocal_tract_filter(excitation: np.ndarray, formants_hz: np.ndarray, bandwidths_hz: tuple[float, ...]) -> np.ndarray:
    """Pass `excitation: (samples,)` through a cascade of formant resonators that moves in time.

    `formants_hz: (steps, 4)` gives the formants at samples 0, CONTROL_HOP, 2 CONTROL_HOP ...
    Block k is the excitation around sample k * CONTROL_HOP under a Hann window of 2 CONTROL_HOP
    (consecutive windows add up to one); it is filtered with the formants of step k, rings on
    for FILTER_TAIL samples, and is added back in place (overlap-add).
    """
    n, hop = excitation.size, CONTROL_HOP
    blocks_n = formants_hz.shape[0]  # one block per control step, covering [k hop - hop, k hop + hop)
    padded = np.pad(excitation, (hop, blocks_n * hop + hop - n))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * hop) / (2 * hop))  # periodic Hann
    blocks = np.lib.stride_tricks.sliding_window_view(padded, 2 * hop)[::hop][:blocks_n] * window
    blocks = torch.from_numpy(np.pad(blocks, ((0, 0), (0, FILTER_TAIL)))).to(torch.float32)  # (blocks, length)

    freqs = torch.from_numpy(formants_hz).to(torch.float32)
    bandwidths = torch.tensor(bandwidths_hz, dtype=torch.float32).expand_as(freqs)
    a, b = resonator_coefficients(freqs, bandwidths)  # (blocks, 4, 3)
    for formant in range(4):  # the cascade, each stage one batched call with per-block coefficients
        blocks = torchaudio.functional.lfilter(blocks, a[:, formant], b[:, formant], clamp=False, batching=True)

    # Overlap-add: block k starts at padded sample k * hop; add it hop-sized piece by piece.
    blocks = blocks.to(torch.float64).numpy()
    length = blocks.shape[1]
    out = np.zeros(blocks_n * hop + length)
    for piece in range(length // hop):
        out[piece * hop: piece * hop + blocks_n * hop] += blocks[:, piece * hop:(piece + 1) * hop].reshape(-1)
    return out[hop: hop + n]


# --- 4. Frication: noise bands that bypass the tract ----------------------------------------

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


# --- 5. One utterance -------------------------------------------------------------------------

def synthesize_utterance(voice: Voice, n_samples: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Audio `(n_samples,)` float in [-1, 1] and its per-frame labels (see the module docstring)."""
    steps = n_samples // CONTROL_HOP + 2  # control steps 0 .. covering every block of the filter
    plan = plan_utterance(voice, steps, rng)

    def per_sample(track: np.ndarray) -> np.ndarray:  # control track -> (n_samples,), linear
        return np.interp(np.arange(n_samples), np.arange(steps) * CONTROL_HOP, track)

    voicing, loudness = per_sample(plan.voicing), per_sample(plan.loudness)
    pulses, flow = glottal_source(per_sample(plan.f0_hz), voice, rng)
    breath = rng.standard_normal(n_samples)
    # At the glottis: pulses, breath noise that follows the glottal opening, and /h/.
    excitation = loudness * (voicing * (pulses + voice.breathiness * (0.5 + flow) * breath)
                             + 0.5 * per_sample(plan.aspiration) * breath)
    speech = vocal_tract_filter(excitation, plan.formants_hz, voice.bandwidths_hz)
    voiced = voicing > 0.5
    speech /= max(np.sqrt(np.mean(speech[voiced] ** 2)) if voiced.any() else np.sqrt(np.mean(speech ** 2)), 1e-12)

    bands = frication_noise(n_samples, voice, rng)
    levels = np.array([level for _, _, level in FRICATIVES.values()])
    envelopes = np.stack([per_sample(plan.frication[:, j]) for j in range(len(FRICATIVES))], axis=1)
    speech += (bands * envelopes * levels).sum(axis=1)

    speech *= PEAK / max(np.abs(speech).max(), 1e-12)
    speech += PEAK * 10 ** (NOISE_FLOOR_DB / 20) * rng.standard_normal(n_samples)

    # Labels: frame t of the lab's centred STFT is centred on sample t * HOP = control step 2 t.
    frames = 1 + n_samples // spec.HOP_LENGTH
    at = np.arange(frames) * (spec.HOP_LENGTH // CONTROL_HOP)
    frame_voiced = plan.voicing[at] > 0.5
    labels = {
        "f0_hz": np.where(frame_voiced, plan.f0_hz[at], 0.0).astype(np.float32),
        "formants_hz": plan.formants_hz[at].astype(np.float32),
        "voiced": frame_voiced,
    }
    return np.clip(speech, -1.0, 1.0), labels


def utterance_lengths(minutes: float, seed: int, voice: Voice) -> list[int]:
    """Sample counts of a voice's utterances: 8-15 s each, adding up to `minutes` exactly."""
    total = round(minutes * 60 * SR)
    count = max(1, round(minutes * 60 / MEAN_UTTERANCE_SECONDS))
    rng = np.random.default_rng([seed, _voice_key(voice), 0])
    seconds = rng.uniform(*UTTERANCE_SECONDS, size=count)
    bounds = np.round(np.cumsum(seconds) / seconds.sum() * total).astype(int)
    return np.diff(bounds, prepend=0).tolist()


def _voice_key(voice: Voice) -> int:
    """A stable number per voice name (Python's hash() changes between runs)."""
    return zlib.crc32(voice.name.encode())


# --- Files ------------------------------------------------------------------------------------

def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez without its clock: fixed zip timestamps, so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def choose_voices(speakers: list[str] | None, count: int | None, seed: int) -> list[Voice]:
    """The voices to make: built-ins by name, or `count` varied ones. Raises SynthError."""
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise SynthError(f"count must be a whole number of voices >= 1, got {count!r}.")
        if speakers is not None:
            raise SynthError("give either speakers (built-in voices, e.g. ['A', 'B']) or count "
                             "(N varied voices), not both.")
        return [varied_voice(i, seed) for i in range(int(count))]
    if speakers is None:
        speakers = list(BUILT_IN)
    if isinstance(speakers, str):
        speakers = speakers.split(",")
    names = [str(s).strip() for s in speakers]
    unknown = [s for s in names if s not in BUILT_IN]
    if not names or unknown:
        raise SynthError(
            f"unknown voice(s) {unknown or names!r}; the built-in voices are "
            + ", ".join(f"{v.name} ({v.description})" for v in BUILT_IN.values())
            + ". For other voices use count=N (--count N)."
        )
    if len(set(names)) != len(names):
        raise SynthError(f"voice names repeat in {names!r}; give each once.")
    return [BUILT_IN[s] for s in names]


def _check_arguments(minutes: float, seed: int) -> None:
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) or minutes <= 0:
        raise SynthError(f"minutes must be a positive number of minutes of speech per voice, got {minutes!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SynthError(f"seed must be a whole number >= 0, got {seed!r}.")


def _check_outputs(out: Path, targets: list[Path], force: bool) -> None:
    """Refuse before any work if outputs exist (unless `force`) or cannot be written."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; --out (out=) must be a folder for the synthetic corpus.")
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:3])
        shown += f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise OutputError(f"{out} already holds synthetic speech ({shown}); pass --force (force=True) "
                          "to replace it, or choose another output folder.")
    for path in targets:
        check_writable(path, force=True)  # folders, permissions


def _stale_files(out: Path, voices: list[Voice], keep: set[Path]) -> list[Path]:
    """Files of an earlier run that this one replaces (with force): listed in the old manifest
    or named like this run's files, but not written now."""
    stale = set()
    manifest = out / "synth_manifest.json"
    try:
        for entry in json.loads(manifest.read_text()).get("files", []):
            stale.update(out / entry[key] for key in ("audio", "labels") if key in entry)
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    for voice in voices:
        stale.update((out / voice.name).glob(f"{voice.name}-0-*.wav"))
        stale.update((out / voice.name).glob(f"{voice.name}-0-*.labels.npz"))
    return sorted(p for p in stale if p not in keep and p.is_file() and out.resolve() in p.resolve().parents)


def main(out: str | Path, speakers: list[str] | None = None, count: int | None = None,
         minutes: float = 2.0, seed: int = 0, force: bool = False) -> list[Path]:
    """Write synthetic speakers to the folder `out`; returns the audio files written.

    speakers: built-in voice names, e.g. ["A", "B"] (the default when `count` is not given);
    count: make N varied voices S000.. instead; minutes: speech per voice; seed: same seed, same
    bytes; force: replace an earlier corpus in `out` (its files are removed, not mixed in).
    """
    started = time.perf_counter()
    _check_arguments(minutes, seed)
    voices = choose_voices(speakers, count, seed)
    out = Path(out)

    plans = {v.name: utterance_lengths(minutes, seed, v) for v in voices}
    stems = {v.name: [out / v.name / f"{v.name}-0-{k:04d}" for k in range(len(plans[v.name]))] for v in voices}
    wavs = [s.with_name(s.name + ".wav") for v in voices for s in stems[v.name]]
    labels = [s.with_name(s.name + ".labels.npz") for v in voices for s in stems[v.name]]
    manifest_path = out / "synth_manifest.json"
    _check_outputs(out, wavs + labels + [manifest_path], force)

    # Utterances are independent (each has its own generator): render them two at a time, one
    # torch thread each (numpy and torch release the GIL; on 2 cores this beats one utterance
    # with two intra-op threads), and write them in order as they come.
    jobs = [(voice, k, stem, n_samples) for voice in voices
            for k, (stem, n_samples) in enumerate(zip(stems[voice.name], plans[voice.name]))]

    def render(job: tuple[Voice, int, Path, int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        voice, k, _, n_samples = job
        return synthesize_utterance(voice, n_samples, np.random.default_rng([seed, _voice_key(voice), k + 1]))

    files = []
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            for (voice, _, stem, n_samples), (wave, frame_labels) in zip(jobs, pool.map(render, jobs)):
                wav, npz = stem.with_name(stem.name + ".wav"), stem.with_name(stem.name + ".labels.npz")
                with atomic_path(wav) as tmp:
                    soundfile.write(str(tmp), wave, SR, subtype="PCM_16", format="WAV")
                with atomic_path(npz) as tmp:
                    _write_npz(tmp, frame_labels)
                files.append({
                    "voice": voice.name,
                    "audio": wav.relative_to(out).as_posix(), "audio_sha256": _sha256(wav),
                    "labels": npz.relative_to(out).as_posix(), "labels_sha256": _sha256(npz),
                    "seconds": n_samples / SR,
                    "voiced_share": round(float(frame_labels["voiced"].mean()), 4),
                })
    finally:
        torch.set_num_threads(torch_threads)

    stale = _stale_files(out, voices, set(wavs + labels)) if force else []
    for path in stale:
        path.unlink()
    manifest = {
        "generator": "vaelab data synth: source-filter model (Rosenberg pulses, Klatt formant cascade)",
        "seed": seed,
        "minutes_per_voice": minutes,
        "sample_rate": SR,
        "labels": {"frame_hop_samples": spec.HOP_LENGTH,
                   "frame_t_centre_sample": "t * frame_hop_samples (the lab's centred STFT frames)",
                   "f0_hz": "(frames,) float32, intended pitch, 0 in unvoiced frames",
                   "formants_hz": "(frames, 4) float32, F1..F4 of the vocal-tract filter",
                   "voiced": "(frames,) bool"},
        "voices": [asdict(v) for v in voices],
        "files": files,
        "versions": {"numpy": np.__version__, "torch": torch.__version__, "torchaudio": torchaudio.__version__},
    }
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")

    print(f"synth: wrote {len(voices)} voice(s), {len(wavs)} utterances, {len(voices) * minutes:g} min of audio "
          f"({minutes:g} per voice) + labels to {out} in {time.perf_counter() - started:.1f} s")
    for voice in voices:
        print(f"  {voice.name}: {len(plans[voice.name])} files, f0 {voice.f0_low_hz:g}-{voice.f0_high_hz:g} Hz, "
              f"tract {voice.tract_cm:g} cm, {voice.description}")
    if stale:
        print(f"  removed {len(stale)} file(s) of the earlier corpus in {out}")
    return wavs
