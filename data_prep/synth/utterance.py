"""One utterance: the plan's control tracks through source and filter, mixed to a waveform.

  1. plan (`plan.plan_utterance`): phrases, syllables, intonation, as control tracks;
  2. source (`source.glottal_source`): glottal pulses; breathy and /h/ noise added at the glottis;
  3. filter (`vocal_filter.vocal_tract_filter`): the formant cascade, moving with the plan;
  4. frication (`source.frication_noise`): noise bands added after the tract;
  5. mix: vowels at unit RMS, frication below it, peak 0.7, and a background noise floor 60 dB
     below the peak so that no frame is digital silence.
The draws from the generator come in this order, so the same generator gives the same audio.
"""

from __future__ import annotations

import numpy as np

from data_prep.synth.plan import CONTROL_HOP, frame_labels, plan_utterance
from data_prep.synth.source import FRICATIVES, frication_noise, glottal_source
from data_prep.synth.vocal_filter import vocal_tract_filter
from data_prep.synth.voices import Voice

#: Peak level of each utterance, and the background noise floor below it.
PEAK = 0.7
NOISE_FLOOR_DB = -60.0


def synthesize_utterance(voice: Voice, n_samples: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Audio `(n_samples,)` float in [-1, 1] and its per-frame labels (`plan.frame_labels`)."""
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
    return np.clip(speech, -1.0, 1.0), frame_labels(plan, n_samples)
