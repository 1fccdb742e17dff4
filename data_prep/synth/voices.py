"""The synthetic speakers: the few numbers that make a voice, the built-in ones, and varied ones.

A voice fixes its pitch range, vocal-tract length (which scales every formant), formant
bandwidths, glottal pulse shape and perturbations, breathiness and speaking rate. The plan
(`plan`), the source (`source`) and the filter (`vocal_filter`) read their numbers from it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from vaelab_core.errors import VaelabError

#: Vocal-tract length that the vowel table (`plan.VOWELS`) belongs to. A uniform tube closed at
#: the glottis has resonances F_n = (2n - 1) c / 4L: 500, 1500, 2500, 3500 Hz for L = 17.5 cm
#: and c = 350 m/s. A shorter tract scales every formant by 17.5 cm / L.
REFERENCE_TRACT_CM = 17.5


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


def voice_key(voice: Voice) -> int:
    """A stable number per voice name, for seeding its generators (Python's hash() changes between runs)."""
    return zlib.crc32(voice.name.encode())
