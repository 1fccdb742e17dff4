"""The built-in notes: the kit's own synthesis of the six families, so that pip alone runs the lab.

Each note is a sum of partials (additive synthesis) at 16 kHz, NOTE_SAMPLES long, note-on at
sample 0, released at frame NOTE_RELEASE_FRAME, as the soundfont's notes are:

  x(t) = sum_k A_k g_k(t) sin(2 pi r_k Phi(t) + phi_k)  +  g_1(t) n(t)
         (+ a 10 ms noise burst at the onset of plucked and struck notes)

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
  n(t)    the noise floor, Gaussian noise at a level per family: for bass, brass and keyboard the
          noise of the excitation (string, lips, hammer and soundboard) shaped like the family's
          sound, from f0 up falling as k^-floor_tilt under a low-pass (`floor_shape`); for the
          flute and the voice breath noise (air at the embouchure, aspiration at the glottis),
          broadband and falling slowly (`breath_shape`). It follows g_1(t), the first partial's
          envelope: it lasts as long as the note and dies with it.

Without n(t) the spectrum between the partials holds only the analysis window's leakage, 100 dB
and more below the peak: far cleaner than recorded instruments (FluidR3_GM's samples, for one).
Lab 1's complex-Gaussian likelihood weighs each bin by the inverse of its predicted power, so
such notes ask a model for near-zero magnitudes, and a WAE trained on them diverges.

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

#: Bumped when the synthesis changes: recorded in the manifest. 2: the noise floor n(t).
RECIPE = 2

#: The noise's frequencies (Hz), its FFT's bins over the whole note.
NOISE_FREQS = np.fft.rfftfreq(NOTE_SAMPLES, 1 / SR)

#: The noise falls to 0 from here (Hz) to the Nyquist frequency (`band_limit`).
BAND_EDGE_HZ = 7000.0

#: Breath noise starts here (Hz): a high-pass, no rumble.
BREATH_LOW_HZ = 300.0


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
    floor: float = 0.0            # noise floor: RMS relative to the partials' peak |x|, ...
    floor_tilt: float = 0.0       # ... falling as k^-floor_tilt above f0 (k = f / f0) ...
    floor_hz: float = 4000.0      # ... and 24 dB an octave above this (see floor_shape)
    breath: float = 0.0           # breath noise: RMS relative to the partials' peak |x|, from BREATH_LOW_HZ up ...
    breath_hz: float = 2000.0     # ... and 6 dB an octave down above this (see breath_shape)
    transient: float = 0.0        # a 10 ms noise burst at the onset (hammer, pluck), relative level


#: The families, in the order of NOTE_FAMILIES.
#:
#: The noise (floor, floor_tilt, floor_hz; breath, breath_hz) is set so that the sustain frames
#: are as clean between their partials as FluidR3_GM's notes rendered by `vaelab data notes`, no
#: cleaner. `python benchmarks/notes_realism.py FLUIDR3.npz BUILTIN.npz` (frames 4, 8, ..., 36;
#: floor: the 10th percentile of a frame's dB below its peak; flatness: librosa's), medians, seed 0:
#:
#:              FluidR3_GM         RECIPE 1 (no noise)   RECIPE 2 (these)
#:              floor  flatness    floor  flatness       floor  flatness
#:   bass      -106.7  1.6e-06    -117.3  1.9e-07       -108.8  1.1e-06
#:   brass      -87.5  2.3e-04    -103.0  8.0e-06        -83.8  1.2e-04
#:   flute      -75.2  1.8e-04    -112.4  1.9e-05        -73.3  1.5e-04
#:   guitar    -106.7  7.1e-06    -103.8  1.1e-05       -103.8  1.1e-05
#:   keyboard   -78.0  5.7e-04    -102.7  5.8e-06        -75.2  3.9e-04
#:   vocal      -68.8  8.3e-04    -106.8  6.9e-06        -66.3  6.8e-04
#:   all        -80.8  1.9e-04    -108.4  7.2e-06        -78.2  1.5e-04
TIMBRES = {
    # strong low partials, plucked: falls away like a string, no high partials to speak of
    "bass": Timbre(partials=24, tilt=1.3, soft_tilt=1.2, cutoff_hz=900, attack_s=0.006, decay_s=1.6, sustain=0.0,
                   release_s=0.05, decay_octave=0.3, damping=0.12, pluck=0.3, transient=0.02,
                   floor=0.1, floor_tilt=2.5, floor_hz=8000),
    # bright, many harmonics, a resonance near 1.2 kHz (the bell); much darker when soft
    "brass": Timbre(partials=40, tilt=0.6, soft_tilt=1.6, cutoff_hz=3500, attack_s=0.04, decay_s=0.12,
                    sustain=0.8, release_s=0.06, formants=((1200.0, 900.0, 2.0),), vibrato_hz=5.0,
                    vibrato_depth=0.002, floor=0.03, floor_hz=2000),
    # nearly a sine: a weak second and third partial, breath noise, a slow attack, slight vibrato
    "flute": Timbre(partials=6, tilt=2.6, soft_tilt=1.2, cutoff_hz=4000, attack_s=0.07, decay_s=0.2, sustain=0.9,
                    release_s=0.07, vibrato_hz=5.0, vibrato_depth=0.004, breath=0.011),
    # plucked nylon string: the comb of the pluck point, high partials dying first; no noise floor,
    # its valleys already lie as deep as FluidR3_GM's nylon guitar's
    "guitar": Timbre(partials=32, tilt=0.9, soft_tilt=0.8, cutoff_hz=2800, attack_s=0.003, decay_s=1.1, sustain=0.0,
                     release_s=0.08, decay_octave=0.4, damping=0.15, pluck=0.18, inharmonicity=1e-5,
                     transient=0.03),
    # struck stiff strings: inharmonic partials, long decay low, short high, the damper at the note-off
    "keyboard": Timbre(partials=40, tilt=1.0, soft_tilt=1.0, cutoff_hz=3000, attack_s=0.002, decay_s=2.5,
                       sustain=0.0, release_s=0.12, decay_octave=0.6, damping=0.08, inharmonicity=4e-4,
                       transient=0.04, floor=0.025, floor_tilt=1.0, floor_hz=6000),
    # a sung /a/: the voice's harmonics under three formants (Peterson & Barney 1952), vibrato, aspiration
    "vocal": Timbre(partials=40, tilt=1.0, soft_tilt=0.6, cutoff_hz=4000, attack_s=0.12, decay_s=0.3,
                    sustain=0.9, release_s=0.15, formants=((730.0, 130.0, 8.0), (1090.0, 150.0, 4.0),
                                                           (2440.0, 200.0, 2.0)),
                    vibrato_hz=5.5, vibrato_depth=0.012, breath=0.014, breath_hz=2500),
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


def shaped_noise(rng: np.random.Generator, gain: np.ndarray) -> np.ndarray:
    """`(NOTE_SAMPLES,)` Gaussian noise through the zero-phase filter of magnitude response
    `gain: (NOISE_FREQS.size,)`, unit RMS."""
    noise = np.fft.irfft(np.fft.rfft(rng.standard_normal(NOTE_SAMPLES)) * gain, NOTE_SAMPLES)
    return noise / max(np.sqrt(np.mean(noise ** 2)), 1e-12)


def band_limit(freqs: np.ndarray) -> np.ndarray:
    """`(F,)` gain of the noise's low-pass: 1 up to BAND_EDGE_HZ, then a raised cosine to 0 at
    the Nyquist frequency, as a resampler's anti-aliasing filter (FluidR3_GM's notes fall 20-40
    dB from 7.6 to 8 kHz)."""
    nyquist = SR / 2
    over = np.clip((freqs - BAND_EDGE_HZ) / (nyquist - BAND_EDGE_HZ), 0.0, 1.0)
    return np.cos(0.5 * np.pi * over) ** 2


def floor_shape(timbre: Timbre, f0: float) -> np.ndarray:
    """`(NOISE_FREQS.size,)` the noise floor's magnitude response, unit peak: a high-pass at f0
    (no rumble below the note), then k^-floor_tilt (k = f / f0, as the partials' k^-tilt) under a
    low-pass of 24 dB an octave at floor_hz (the body's, the bell's or the tube's; steeper than
    the partials' gentle one, as on recorded instruments), band-limited."""
    k = NOISE_FREQS / f0
    gain = k ** 2 / (1 + k ** 2) * np.maximum(k, 1.0) ** -timbre.floor_tilt
    gain = gain / (1 + (NOISE_FREQS / timbre.floor_hz) ** 4) * band_limit(NOISE_FREQS)
    return gain / gain.max()


def breath_shape(timbre: Timbre) -> np.ndarray:
    """`(NOISE_FREQS.size,)` the breath noise's magnitude response: a high-pass at BREATH_LOW_HZ
    (no rumble), 6 dB an octave down above `timbre.breath_hz` (turbulence at the embouchure or
    the glottis is broadband and falls slowly), unit peak."""
    rise = (NOISE_FREQS / BREATH_LOW_HZ) ** 2
    gain = rise / (1 + rise) / np.sqrt(1 + (NOISE_FREQS / timbre.breath_hz) ** 2) * band_limit(NOISE_FREQS)
    return gain / gain.max()


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
    if timbre.floor or timbre.breath:
        noise = np.zeros(NOTE_SAMPLES)
        if timbre.floor:
            noise += timbre.floor * shaped_noise(rng, floor_shape(timbre, f0))
        if timbre.breath:
            noise += timbre.breath * shaped_noise(rng, breath_shape(timbre))
        wave += peak * noise * envelope[0]  # g_1(t): k[0] is 1
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
                                "envelope in time per family, over a noise floor (or breath noise) per family; "
                                "see data_prep/notes/synthetic.py",
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
