"""The built-in notes: the kit's own synthesis of the six families, so that pip alone runs the lab.

Each note is a sum of partials (additive synthesis) at 16 kHz, NOTE_SAMPLES long, note-on at
sample 0, released at frame NOTE_RELEASE_FRAME, as the soundfont's notes are:

  x(t) = sum_k A_k g_k(t) sin(2 pi r_k Phi(t) + phi_k)
         (+ breath noise for the flute, a 10 ms noise burst at the onset of plucked and struck notes)

  Phi(t)  the fundamental's phase in cycles, the integral of f0(t) (f0 = midi_to_hz(pitch), with
          vibrato for flute, brass and voices)
  r_k     partial k's ratio to f0: k, or k sqrt(1 + B k^2) for the stiff strings of a piano
          (H. Fletcher, "Normal vibration frequencies of a stiff piano string", JASA 1964)
  A_k     the family's spectral envelope at r_k f0: a slope k^-tilt that steepens for soft
          notes (velocity brightens the sound, as it does on real instruments), a gentle
          low-pass, formant resonances for voices and brass, and for plucked strings the comb
          |sin(pi k beta)| of the pluck point beta (mode k of a string plucked there has no
          amplitude where k beta is a whole number)
  g_k(t)  the envelope in time: an attack, then a fall to the sustain level (plucked and struck
          notes fall to 0, their high partials faster, and high notes faster than low ones),
          then an exponential release from the note-off on
  phi_k   a random phase per partial, from the note's own generator

The note is scaled to a peak of PEAK (v / 127)^2 at velocity v: velocity sets the loudness
(about 19 dB from velocity 40 to 120, close to what FluidSynth does with FluidR3_GM) and the
brightness. Every note draws from its own generator [seed, family, pitch, velocity], so a note
depends only on the seed and its labels: the same seed gives the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from data_prep.notes.families import FAMILIES, VELOCITIES, note_labels
from data_prep.notes.writer import summary, write_notes
from vaelab_core import spec
from vaelab_core.atomic_files import check_writable
from vaelab_core.notes import NOTE_FAMILIES, NOTE_RELEASE_FRAME, NOTE_SAMPLES, default_notes_path, midi_to_hz

SR = spec.SAMPLE_RATE

#: No partial above this (Hz): below the Nyquist frequency, 8 kHz, with room to spare.
MAX_PARTIAL_HZ = 7600.0

#: Peak of a note at velocity 127 (FluidR3_GM's loudest notes, rendered by `vaelab data notes`,
#: peak near 0.45 at velocity 120).
PEAK = 0.5

#: Bumped when the synthesis changes: recorded in the manifest.
RECIPE = 1


@dataclass(frozen=True)
class Timbre:
    """How one family sounds: its spectral envelope and its envelope in time."""

    partials: int                 # at most this many partials (and none above MAX_PARTIAL_HZ)
    tilt: float                   # A_k ~ k^-tilt at velocity 127 ...
    soft_tilt: float              # ... and k^-(tilt + soft_tilt) at velocity 0: soft notes are darker
    cutoff_hz: float              # a gentle low-pass on the partials: 1 / (1 + (f / cutoff)^2)
    attack_s: float               # rise time from silence to the peak (raised cosine)
    decay_s: float                # time constant of the fall from the peak to the sustain, at middle C
    sustain: float                # level held until the note-off (0: the note only decays)
    release_s: float              # time constant of the fall after the note-off
    decay_octave: float = 0.0     # decay_s halves every 1 / decay_octave octaves above middle C
    damping: float = 0.0          # partial k falls (1 + damping (k - 1)) times faster than the first
    formants: tuple[tuple[float, float, float], ...] = ()  # (centre Hz, bandwidth Hz, gain) resonances
    pluck: float = 0.0            # pluck position along the string (0: not plucked): A_k ~ |sin(pi k pluck)|
    inharmonicity: float = 0.0    # B at middle C of r_k = k sqrt(1 + B k^2), doubling every octave up
    vibrato_hz: float = 0.0       # vibrato rate ...
    vibrato_depth: float = 0.0    # ... and depth as a fraction of f0, faded in over the first 0.3 s
    breath: float = 0.0           # breath noise (1-6 kHz) relative to the partials' peak
    transient: float = 0.0        # a 10 ms noise burst at the onset (hammer, pluck), relative level


#: The families, in the order of NOTE_FAMILIES.
TIMBRES = {
    # strong low partials, plucked: falls away like a string, no high partials to speak of
    "bass": Timbre(partials=24, tilt=1.3, soft_tilt=1.2, cutoff_hz=900, attack_s=0.006, decay_s=1.6, sustain=0.0,
                   release_s=0.05, decay_octave=0.3, damping=0.12, pluck=0.3, transient=0.02),
    # bright, many harmonics, a resonance near 1.2 kHz (the bell); much darker when soft
    "brass": Timbre(partials=40, tilt=0.6, soft_tilt=1.6, cutoff_hz=3500, attack_s=0.04, decay_s=0.12,
                    sustain=0.8, release_s=0.06, formants=((1200.0, 900.0, 2.0),), vibrato_hz=5.0,
                    vibrato_depth=0.002),
    # nearly a sine: a weak second and third partial, breath noise, a slow attack, slight vibrato
    "flute": Timbre(partials=6, tilt=2.6, soft_tilt=1.2, cutoff_hz=4000, attack_s=0.07, decay_s=0.2, sustain=0.9,
                    release_s=0.07, vibrato_hz=5.0, vibrato_depth=0.004, breath=0.04),
    # plucked nylon string: the comb of the pluck point, high partials dying first
    "guitar": Timbre(partials=32, tilt=0.9, soft_tilt=0.8, cutoff_hz=2800, attack_s=0.003, decay_s=1.1, sustain=0.0,
                     release_s=0.08, decay_octave=0.4, damping=0.15, pluck=0.18, inharmonicity=1e-5,
                     transient=0.03),
    # struck stiff strings: inharmonic partials, long decay low, short high, the damper at the note-off
    "keyboard": Timbre(partials=40, tilt=1.0, soft_tilt=1.0, cutoff_hz=3000, attack_s=0.002, decay_s=2.5,
                       sustain=0.0, release_s=0.12, decay_octave=0.6, damping=0.08, inharmonicity=4e-4,
                       transient=0.04),
    # a sung /a/: the voice's harmonics under three formants (Peterson & Barney 1952), vibrato
    "vocal": Timbre(partials=40, tilt=1.0, soft_tilt=0.6, cutoff_hz=4000, attack_s=0.12, decay_s=0.3,
                    sustain=0.9, release_s=0.15, formants=((730.0, 130.0, 8.0), (1090.0, 150.0, 4.0),
                                                           (2440.0, 200.0, 2.0)),
                    vibrato_hz=5.5, vibrato_depth=0.012),
}
assert tuple(TIMBRES) == NOTE_FAMILIES


def spectral_envelope(timbre: Timbre, freqs: np.ndarray, k: np.ndarray, velocity: int) -> np.ndarray:
    """A_k of the module docstring: `freqs, k: (K,)` partial frequencies (Hz) and numbers -> `(K,)`."""
    loud = velocity / 127
    amp = k ** -(timbre.tilt + timbre.soft_tilt * (1 - loud))
    amp = amp / (1 + (freqs / timbre.cutoff_hz) ** 2)
    if timbre.formants:
        resonance = sum(gain / (1 + ((freqs - centre) / (bandwidth / 2)) ** 2)
                        for centre, bandwidth, gain in timbre.formants)
        amp = amp * (0.15 + resonance)
    if timbre.pluck:
        amp = amp * (0.05 + np.abs(np.sin(np.pi * k * timbre.pluck)))
    return amp


def time_envelope(timbre: Timbre, t: np.ndarray, k: np.ndarray, pitch: int) -> np.ndarray:
    """g_k(t) of the module docstring: `t: (S,)` seconds, `k: (K,)` -> `(K, S)` float32, or `(1, S)`
    when every partial has the same envelope (no damping)."""
    attack = np.where(t < timbre.attack_s, 0.5 - 0.5 * np.cos(np.pi * t / timbre.attack_s), 1.0)
    release_at = NOTE_RELEASE_FRAME * spec.HOP_LENGTH / SR
    release = np.exp(-np.maximum(t - release_at, 0.0) / timbre.release_s)
    after = np.maximum(t - timbre.attack_s, 0.0).astype(np.float32)
    decay = timbre.decay_s * 2.0 ** (-timbre.decay_octave * (pitch - 60) / 12)
    rates = (1 + timbre.damping * (k - 1)) / decay if timbre.damping else np.array([1 / decay])
    fall = np.multiply.outer(-rates.astype(np.float32), after)  # (K or 1, S), in place from here on
    np.exp(fall, out=fall)
    if timbre.sustain:
        fall *= 1 - timbre.sustain
        fall += timbre.sustain
    fall *= (attack * release).astype(np.float32)
    return fall


def band_noise(rng: np.random.Generator, low_hz: float, high_hz: float, n: int) -> np.ndarray:
    """`(n,)` white noise kept between `low_hz` and `high_hz` (zeroed FFT bins), unit peak."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    noise = np.fft.irfft(spectrum * ((freqs >= low_hz) & (freqs <= high_hz)), n)
    return noise / max(np.abs(noise).max(), 1e-12)


def synthesize_note(family: int, pitch: int, velocity: int, seed: int = 0) -> np.ndarray:
    """One note of family index `family`, MIDI `pitch` and `velocity`: `(NOTE_SAMPLES,)` float32."""
    timbre = TIMBRES[NOTE_FAMILIES[family]]
    rng = np.random.default_rng([seed, family, pitch, velocity])
    t = np.arange(NOTE_SAMPLES) / SR
    f0 = float(midi_to_hz(pitch))
    # Phi(t) in cycles; the vibrato fades in over 0.3 s
    if timbre.vibrato_depth:
        wobble = timbre.vibrato_depth * np.minimum(t / 0.3, 1.0) * np.sin(2 * np.pi * timbre.vibrato_hz * t)
        cycles = np.cumsum(f0 * (1 + wobble)) / SR
    else:
        cycles = f0 * t
    bend = timbre.inharmonicity * 2.0 ** ((pitch - 60) / 12)
    k = np.arange(1, timbre.partials + 1, dtype=np.float64)
    ratios = k * np.sqrt(1 + bend * k ** 2)
    keep = ratios * f0 * (1 + timbre.vibrato_depth) < MAX_PARTIAL_HZ
    k, ratios = k[keep], ratios[keep]
    amps = spectral_envelope(timbre, ratios * f0, k, velocity)
    # Partial k's phase in cycles, r_k Phi + phi_k = k frac(Phi) + (r_k - k) Phi + phi_k: with Phi
    # reduced to [0, 1) first, every term stays below a few hundred cycles, precise enough in
    # float32 (whose sine is 30x faster than float64's), where r_k Phi itself would not be.
    offsets = rng.uniform(0, 1, size=(len(k), 1)).astype(np.float32)
    phase = np.multiply.outer(k.astype(np.float32), (cycles - np.floor(cycles)).astype(np.float32))  # (K, S)
    phase += offsets
    if bend:
        phase += np.multiply.outer((ratios - k).astype(np.float32), cycles.astype(np.float32))
    phase *= np.float32(2 * np.pi)
    partials = np.sin(phase, out=phase)
    # einsum, not `@`: a BLAS matrix-vector product can be 20x slower when its threads wait for a
    # busy core, and this is not where BLAS pays off
    envelope = time_envelope(timbre, t, k, pitch)
    if len(envelope) == 1:
        wave = np.einsum("k,ks->s", amps.astype(np.float32), partials) * envelope[0]
    else:
        wave = np.einsum("k,ks->s", amps.astype(np.float32), np.multiply(partials, envelope, out=partials))
    wave = wave.astype(np.float64)
    peak = max(np.abs(wave).max(), 1e-12)
    if timbre.breath:
        wave += timbre.breath * peak * band_noise(rng, 1000, 6000, t.size) * time_envelope(timbre, t, k[:1], pitch)[0]
    if timbre.transient:
        burst = np.exp(-t / 0.004) * band_noise(rng, 500, 7000, t.size)
        wave += timbre.transient * peak * burst
    wave *= PEAK * (velocity / 127) ** 2 / max(np.abs(wave).max(), 1e-12)
    return wave.astype(np.float32)


def builtin_manifest(seed: int, command: str) -> dict:
    """What the source knows about itself (the writer adds the rest)."""
    return {
        "source": "builtin",
        "synthesis": {"method": "additive: harmonic (or stretched) partials with a spectral envelope and an "
                                "envelope in time per family; see data_prep/notes/synthetic.py",
                      "recipe": RECIPE, "seed": seed, "peak_at_velocity_127": PEAK,
                      "loudness": "peak PEAK * (velocity / 127)^2",
                      "max_partial_hz": MAX_PARTIAL_HZ,
                      "timbres": {name: asdict(timbre) for name, timbre in TIMBRES.items()}},
        "families": {f.name: {"pitch_range": [f.low, f.high], "instrument_range": f.instrument,
                              "modelled_on": f"GM program {f.program}, {f.gm_name}"} for f in FAMILIES},
        "silent": {"count": 0, "notes": []},
        "command": command,
    }


def main(out: str | Path | None = None, seed: int = 0, force: bool = False, command: str | None = None,
         quiet: bool = False, pitches: dict[str, list[int]] | None = None,
         velocities: tuple[int, ...] = VELOCITIES) -> Path:
    """Synthesise every family's notes into the note file `out` (None: `default_notes_path()`).

    Returns its path. seed: the notes' random phases and noise, and which pitch of every five is
    held out; force: replace an existing file. `pitches` {family: [MIDI pitch, ...]} and
    `velocities` make only those notes (a small set, e.g. in tests), as in `render.main`.
    """
    started = time.perf_counter()
    say: Callable[[str], None] = (lambda *_: None) if quiet else print
    out = default_notes_path() if out is None else Path(out)
    command = command or f"data_prep.notes.synthetic.main({str(out)!r}, seed={seed!r}, force={force!r})"
    out = check_writable(out, force)  # before the work, not after
    families = tuple(f for f in FAMILIES if pitches is None or f.name in pitches)
    family, pitch, velocity = note_labels(families, tuple(velocities), pitches)
    waves = np.stack([synthesize_note(int(f), int(p), int(v), seed) for f, p, v in zip(family, pitch, velocity)])
    path, manifest = write_notes(out, waves, family, pitch, velocity, builtin_manifest(seed, command), seed, force)
    say(f"notes: the kit's own synthetic notes (seed {seed}):")
    summary(path, manifest, time.perf_counter() - started, say)
    return path
