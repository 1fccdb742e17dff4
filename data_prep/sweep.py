"""`vaelab data sweep`: labelled sustained vowels in which one source-filter factor varies.

The second lab looks into the latent space of a trained VAE: does a latent direction follow the
pitch, or a formant? It needs data where the answer is known. Each sweep holds S sequences of a
steady vowel (T = 150 frames, 2.38 s) made with the kit's synthesiser (`data_prep.synth`: the
Rosenberg glottal pulse of voice A through the Klatt formant cascade); in each sequence ONE
factor glides linearly over its whole range (up, then down in the next sequence ...) while the
other three stay at values drawn at random for that sequence:

  OUT/sweep_{f0,f1,f2,f3}.npz
    spectra      float32 (S, T, F)  the lab's magnitude STFT of the audio (the audio is not kept)
    f0_hz        float32 (S, T)     pitch at each frame's centre (frame t: sample t * HOP_LENGTH)
    formants_hz  float32 (S, T, 3)  F1..F3 at each frame's centre
    values       float32 (S, T)     the swept factor at each frame (a column of the two above)
    factor       str                "f0", "f1", "f2" or "f3"
    manifest     str (JSON)         factor, range, sequences, seed, voice, package versions

The labels are the synthesiser's own control values at each frame's centre, not estimates.
Everything is drawn from seeded generators: the same arguments give the same arrays.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from data_prep.synth.plan import CONTROL_HOP
from data_prep.synth.source import glottal_source
from data_prep.synth.utterance import NOISE_FLOOR_DB, PEAK
from data_prep.synth.vocal_filter import vocal_tract_filter
from data_prep.synth.voices import BUILT_IN
from vaelab_core import spec
from vaelab_core.atomic_files import OutputError, check_writable, write_npz
from vaelab_core.audio import magnitude_spectrogram
from vaelab_core.datasets import SWEEP_FACTORS, DatasetError, default_sweep_dir, load_sweep, sweep_dir
from vaelab_core.errors import VaelabError
from vaelab_core.provenance import with_versions

SR = spec.SAMPLE_RATE

#: The factors and the range each one sweeps, in Hz. f0 spans adult male to child-like voices
#: (the built-in voices A and B: 85-300 Hz); F1..F3 span the vowel space of Peterson & Barney
#: (1952), men to children (F1 300-900: close /i u/ to open /a/; F2 1100-2700: back to front;
#: F3 2200-3200). Wide enough for a latent direction to show, narrow enough to stay speech-like.
FACTORS: dict[str, tuple[float, float]] = {
    "f0": (100.0, 300.0),
    "f1": (300.0, 900.0),
    "f2": (1100.0, 2700.0),
    "f3": (2200.0, 3200.0),
}
assert tuple(FACTORS) == SWEEP_FACTORS  # vaelab_core names them for the loader; they must agree

#: Formants stay ordered with this gap (Hz): F2 >= F1 + gap and F3 >= F2 + gap at every frame.
FORMANT_GAP_HZ = 200.0

#: F4, fixed: above F3 + 300 Hz for every F3 of the range (the uniform tube's 3500 Hz is too low).
F4_HZ = 3700.0

#: The glottis of every sweep: voice A's pulse shape, bandwidths and breathiness, but no jitter or
#: shimmer, so that the pitch label is the pitch of every period (its own f0 range is not used).
VOICE = replace(BUILT_IN["A"], jitter=0.0, shimmer=0.0)

#: Bumped when the recipe changes, so that files of an older recipe are no longer "up to date".
RECIPE = 1


class SweepError(VaelabError, ValueError):
    """Bad arguments to the sweep maker, with the accepted values."""


def check_factor(factor: str) -> None:
    if factor not in FACTORS:
        raise SweepError(f"unknown factor {factor!r}; choose one of f0|f1|f2|f3|all "
                         f"({', '.join(f'{k} {lo:g}-{hi:g} Hz' for k, (lo, hi) in FACTORS.items())}).")


def check_counts(sequences: int, seed: int) -> None:
    if isinstance(sequences, bool) or not isinstance(sequences, (int, np.integer)) or sequences < 1:
        raise SweepError(f"sequences must be a whole number >= 1, got {sequences!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SweepError(f"seed must be a whole number >= 0, got {seed!r}.")


def held_values(factor: str, rng: np.random.Generator) -> dict[str, float]:
    """The other three factors of one sequence, uniform in their ranges, redrawn until the formants
    stay ordered (gap FORMANT_GAP_HZ) at both ends of the swept range, hence all along it."""
    while True:
        drawn = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in FACTORS.items() if k != factor}
        ends = [{**drawn, factor: end} for end in FACTORS[factor]]
        if all(e["f2"] >= e["f1"] + FORMANT_GAP_HZ and e["f3"] >= e["f2"] + FORMANT_GAP_HZ for e in ends):
            return drawn


def synthesize_sequence(factor: str, upward: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One steady vowel of spec.SEQUENCE_SAMPLES samples with `factor` gliding over its range.

    Returns `(audio (samples,), tracks (steps, 4))`: the control tracks f0, F1, F2, F3, one row per
    CONTROL_HOP samples; frame t of the STFT is centred on sample t * HOP = control step 2 t.
    Mixed as `synth.utterance` mixes a voiced stretch: pulses + breath noise, tract, unit RMS,
    peak PEAK, a noise floor NOISE_FLOOR_DB below it.
    """
    n = spec.SEQUENCE_SAMPLES
    steps = n // CONTROL_HOP + 2  # as synth.utterance: every block of the filter has a row
    last = (spec.N_FRAMES - 1) * (spec.HOP_LENGTH // CONTROL_HOP)  # step of the last frame's centre
    low, high = FACTORS[factor]
    glide = np.clip(np.arange(steps) / last, 0.0, 1.0)  # 0 at frame 0, 1 at the last frame
    values = {**held_values(factor, rng), factor: low + (high - low) * (glide if upward else 1.0 - glide)}
    tracks = np.stack([np.broadcast_to(values[k], (steps,)) for k in FACTORS], axis=1).astype(np.float64)

    def per_sample(track: np.ndarray) -> np.ndarray:  # control track -> (samples,), linear
        return np.interp(np.arange(n), np.arange(steps) * CONTROL_HOP, track)

    pulses, flow = glottal_source(per_sample(tracks[:, 0]), VOICE, rng)
    excitation = pulses + VOICE.breathiness * (0.5 + flow) * rng.standard_normal(n)
    formants = np.concatenate([tracks[:, 1:], np.full((steps, 1), F4_HZ)], axis=1)  # (steps, 4)
    speech = vocal_tract_filter(excitation, formants, VOICE.bandwidths_hz)
    speech /= max(np.sqrt(np.mean(speech ** 2)), 1e-12)
    speech *= PEAK / max(np.abs(speech).max(), 1e-12)
    speech += PEAK * 10 ** (NOISE_FLOOR_DB / 20) * rng.standard_normal(n)
    return np.clip(speech, -1.0, 1.0), tracks


def make_sweep(factor: str, sequences: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of one sweep file (see the module docstring), all float32:

    spectra (S, T, F) magnitudes >= 0; f0_hz (S, T); formants_hz (S, T, 3) F1..F3; values (S, T)
    the swept factor. S = `sequences`, T = spec.N_FRAMES; even sequences sweep up, odd ones down.
    Sequence s draws from its own generator [seed, factor index, s]: same arguments, same arrays.
    """
    check_factor(factor)
    check_counts(sequences, seed)
    key = list(FACTORS).index(factor)
    at = np.arange(spec.N_FRAMES) * (spec.HOP_LENGTH // CONTROL_HOP)  # frame t -> control step 2 t
    audio, labels = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batched filters: more threads only wait on each other
    try:
        for s in range(sequences):
            wave, tracks = synthesize_sequence(factor, s % 2 == 0, np.random.default_rng([seed, key, s]))
            audio.append(wave)
            labels.append(tracks[at])  # (T, 4): f0, F1, F2, F3 at each frame's centre
        spectra = magnitude_spectrogram(torch.from_numpy(np.stack(audio)).to(torch.float32)).numpy()
    finally:
        torch.set_num_threads(threads)
    labels_a = np.stack(labels).astype(np.float32)  # (S, T, 4)
    return {
        "spectra": np.ascontiguousarray(spectra, dtype=np.float32),
        "f0_hz": np.ascontiguousarray(labels_a[:, :, 0]),
        "formants_hz": np.ascontiguousarray(labels_a[:, :, 1:]),
        "values": np.ascontiguousarray(labels_a[:, :, key]),
    }


def sweep_file(out: Path, factor: str) -> Path:
    """Path of the sweep of `factor` in the folder `out`: OUT/sweep_{factor}.npz."""
    return Path(out) / f"sweep_{factor}.npz"


def request(factor: str, sequences: int, seed: int) -> dict:
    """What a file must have been made with to be up to date (compared with its manifest)."""
    return {"factor": factor, "range_hz": list(FACTORS[factor]), "sequences": int(sequences),
            "seed": int(seed), "recipe": RECIPE}


def sweep_manifest(factor: str, sequences: int, seed: int) -> dict:
    """How a sweep was made (no timestamps: the same request, the same bytes)."""
    return with_versions({
        **request(factor, sequences, seed),
        "generator": "vaelab data sweep: sustained vowels, source-filter model (Rosenberg pulses, "
                     "Klatt formant cascade), one factor gliding linearly, the others held",
        "held": "other factors uniform in their ranges per sequence, F2 >= F1 + gap, F3 >= F2 + gap",
        "formant_gap_hz": FORMANT_GAP_HZ,
        "f4_hz": F4_HZ,
        "ranges_hz": {k: list(v) for k, v in FACTORS.items()},
        "sample_rate": SR,
        "frame_hop_samples": spec.HOP_LENGTH,
        "frame_t_centre_sample": "t * frame_hop_samples (the lab's centred STFT frames)",
        "direction": "sequence s sweeps up for even s, down for odd s",
        "voice": asdict(VOICE),
    })


def existing_request(path: Path) -> dict | None:
    """The request an existing sweep file was made with, or None when it does not load as one."""
    try:
        manifest = load_sweep(path).manifest
    except DatasetError:
        return None
    return {key: manifest.get(key) for key in ("factor", "range_hz", "sequences", "seed", "recipe")}


def main(out: str | Path | None = None, factor: str = "all", sequences: int = 4, seed: int = 0,
         force: bool = False) -> dict[str, Path]:
    """Write OUT/sweep_{factor}.npz for one factor or "all" four; returns {factor: path}.

    out: folder, None for `vaelab_core.datasets.default_sweep_dir()` ($VAELAB_HOME/sweeps);
    sequences: S per file; seed: same seed, same arrays; force: replace files made otherwise.
    A file made with the same request is kept ("up to date"); one made with another request (or
    that does not load) is refused before any work unless `force`.
    """
    factors = list(FACTORS) if factor == "all" else [factor]
    if factor != "all":
        check_factor(factor)
    check_counts(sequences, seed)
    out = default_sweep_dir() if out is None else Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; --out (out=) must be a folder for the sweep files.")

    paths = {f: sweep_file(out, f) for f in factors}
    todo, conflicts = [], []
    for f, path in paths.items():
        made_with = existing_request(path) if path.exists() else None
        if not path.exists():
            todo.append(f)
        elif made_with == request(f, sequences, seed):
            print(f"sweep: {path} is up to date ({f}, {sequences} sequences, seed {seed}), kept")
        elif force:
            todo.append(f)
        else:
            conflicts.append((path, made_with))
    if conflicts:
        lines = "; ".join(f"{p} ({'made with ' + json.dumps(r) if r else 'does not load as a sweep'})"
                          for p, r in conflicts)
        raise OutputError(f"{lines}: not what was asked ({sequences} sequences, seed {seed}). Pass --force "
                          f"(force=True) to replace {'it' if len(conflicts) == 1 else 'them'}, or choose "
                          "another output folder (--out).")
    for f in todo:
        check_writable(paths[f], force=True)  # folders and permissions, before any work

    for f in todo:
        started = time.perf_counter()
        arrays = make_sweep(f, sequences, seed)
        manifest = json.dumps(sweep_manifest(f, sequences, seed), indent=1, sort_keys=True)
        write_npz(paths[f], [*arrays.items(), ("factor", np.array(f)), ("manifest", np.array(manifest))],
                  compress={"manifest"})
        low, high = FACTORS[f]
        print(f"sweep: wrote {paths[f]}: {f} {low:g}-{high:g} Hz, spectra {arrays['spectra'].shape}, "
              f"in {time.perf_counter() - started:.2f} s")
    return paths


def ensure_sweeps(out: str | Path | None = None) -> dict[str, Path]:
    """{factor: path} of all four sweeps in `out`, building those that are missing or unreadable.

    `out`: None means `vaelab_core.datasets.sweep_dir()`, the folder the notebook reads
    ($VAELAB_SWEEPS, else $VAELAB_HOME/sweeps). Files that load are kept whatever request made
    them (a TA may have made larger ones); the rest are made with the defaults of `main`.
    """
    out = sweep_dir() if out is None else Path(out)
    paths = {f: sweep_file(out, f) for f in FACTORS}
    for f, path in paths.items():
        if not path.exists():
            main(out, f)
        elif existing_request(path) is None:
            print(f"sweep: {path} does not load as a sweep; making it again.")
            main(out, f, force=True)
    return paths


if __name__ == "__main__":  # `python -m data_prep.sweep`: all four, without the vaelab command
    main()
