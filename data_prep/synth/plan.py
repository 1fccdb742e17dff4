"""The plan of an utterance: what is said when, as control tracks, and the labels it gives.

Phrases separated by pauses; each phrase a run of syllables, an optional consonant (fricative,
/h/ or stop) before a vowel; an intonation contour per phrase (declination + pitch accents); all
as control tracks, one value per CONTROL_HOP samples (`plan_utterance`). The per-frame labels
written beside the audio are read off the same tracks (`frame_labels`), so they are what the
voice was told to say, not an estimate. How long each utterance is (`utterance_lengths`) and
which generator draws it (`utterance_rng`) are planned here too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_prep.synth.source import FRICATIVES
from data_prep.synth.voices import Voice, voice_key
from vaelab_core import spec

SR = spec.SAMPLE_RATE

#: The tract is re-tuned (and every control track sampled) once per CONTROL_HOP samples:
#: half an STFT hop, 8 ms, so that frame t of the STFT sits on control step 2 t.
CONTROL_HOP = spec.HOP_LENGTH // 2

#: Vowel targets F1-F3 in Hz: the men's averages of Peterson & Barney (1952, Table II), for the
#: tract of `voices.REFERENCE_TRACT_CM`. F4 is put at the uniform-tube value, 3500 Hz.
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

#: Consonant before a vowel and its probability: none, a fricative, /h/ (aspiration through the
#: tract), or a stop (silent closure + burst).
ONSETS = ("none", "s", "sh", "f", "h", "stop")
ONSET_PROBABILITIES = (0.40, 0.15, 0.08, 0.07, 0.10, 0.20)

#: Utterance lengths in seconds, like LibriSpeech's: drawn in this range, then rescaled so that
#: a voice's utterances add up to exactly the requested minutes.
UTTERANCE_SECONDS = (8.0, 15.0)
MEAN_UTTERANCE_SECONDS = 11.0


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


def frame_labels(plan: Plan, n_samples: int) -> dict[str, np.ndarray]:
    """Per-frame labels of an utterance of `n_samples`, read off its plan.

    Frame t of the lab's centred STFT (one per HOP_LENGTH samples, `1 + n_samples // HOP_LENGTH`
    frames) is centred on sample t * HOP_LENGTH = control step 2 t. Returns f0_hz `(frames,)`
    float32, 0 when unvoiced; formants_hz `(frames, 4)` float32; voiced `(frames,)` bool.
    """
    frames = 1 + n_samples // spec.HOP_LENGTH
    at = np.arange(frames) * (spec.HOP_LENGTH // CONTROL_HOP)
    frame_voiced = plan.voicing[at] > 0.5
    return {
        "f0_hz": np.where(frame_voiced, plan.f0_hz[at], 0.0).astype(np.float32),
        "formants_hz": plan.formants_hz[at].astype(np.float32),
        "voiced": frame_voiced,
    }


def utterance_lengths(minutes: float, seed: int, voice: Voice) -> list[int]:
    """Sample counts of a voice's utterances: 8-15 s each, adding up to `minutes` exactly."""
    total = round(minutes * 60 * SR)
    count = max(1, round(minutes * 60 / MEAN_UTTERANCE_SECONDS))
    rng = np.random.default_rng([seed, voice_key(voice), 0])
    seconds = rng.uniform(*UTTERANCE_SECONDS, size=count)
    bounds = np.round(np.cumsum(seconds) / seconds.sum() * total).astype(int)
    return np.diff(bounds, prepend=0).tolist()


def utterance_rng(seed: int, voice: Voice, k: int) -> np.random.Generator:
    """The generator of utterance `k` of `voice`. Stream 0 of the voice draws the lengths, stream
    k + 1 utterance k: each utterance has its own, so they can be rendered in any order, and a
    voice does not depend on the other voices of the run."""
    return np.random.default_rng([seed, voice_key(voice), k + 1])
