"""The writer: the corpus on disk (audio, labels, manifest), and `main`, the Python API of the verb.

`main` checks its arguments and outputs before any work, renders the utterances (two at a time;
`utterance.synthesize_utterance`), writes each as it comes (`write_utterance`), removes what a
replaced corpus leaves behind, and writes the manifest last, so that a corpus with a manifest
is a complete one.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile
import torch

from data_prep.synth.plan import utterance_lengths, utterance_rng
from data_prep.synth.utterance import synthesize_utterance
from data_prep.synth.voices import SynthError, Voice, choose_voices
from vaelab_core import spec
from vaelab_core.atomic_files import OutputError, atomic_path, check_writable, write_npz
from vaelab_core.provenance import sha256_file, with_versions

SR = spec.SAMPLE_RATE

#: Utterances rendered at once (threads; see `main`).
WORKERS = 2

#: The corpus manifest, in the output folder.
MANIFEST_NAME = "synth_manifest.json"


def check_arguments(minutes: float, seed: int) -> None:
    """Raise SynthError unless `minutes` is a positive number and `seed` a whole number >= 0."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes) or minutes <= 0:
        raise SynthError(f"minutes must be a positive number of minutes of speech per voice, got {minutes!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SynthError(f"seed must be a whole number >= 0, got {seed!r}.")


def check_outputs(out: Path, targets: list[Path], force: bool) -> None:
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


def stale_files(out: Path, voices: list[Voice], keep: set[Path]) -> list[Path]:
    """Files of an earlier run that this one replaces (with force): listed in the old manifest
    or named like this run's files, but not written now."""
    stale = set()
    manifest = out / MANIFEST_NAME
    try:
        for entry in json.loads(manifest.read_text()).get("files", []):
            stale.update(out / entry[key] for key in ("audio", "labels") if key in entry)
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    for voice in voices:
        stale.update((out / voice.name).glob(f"{voice.name}-0-*.wav"))
        stale.update((out / voice.name).glob(f"{voice.name}-0-*.labels.npz"))
    return sorted(p for p in stale if p not in keep and p.is_file() and out.resolve() in p.resolve().parents)


def write_utterance(out: Path, stem: Path, voice: Voice, wave: np.ndarray,
                    labels: dict[str, np.ndarray]) -> dict:
    """Write STEM.wav (16-bit PCM) and STEM.labels.npz, each atomically; returns the manifest entry."""
    wav, npz = stem.with_name(stem.name + ".wav"), stem.with_name(stem.name + ".labels.npz")
    with atomic_path(wav) as tmp:
        soundfile.write(str(tmp), wave, SR, subtype="PCM_16", format="WAV")
    write_npz(npz, list(labels.items()))
    return {
        "voice": voice.name,
        "audio": wav.relative_to(out).as_posix(), "audio_sha256": sha256_file(wav),
        "labels": npz.relative_to(out).as_posix(), "labels_sha256": sha256_file(npz),
        "seconds": len(wave) / SR,
        "voiced_share": round(float(labels["voiced"].mean()), 4),
    }


def corpus_manifest(voices: list[Voice], files: list[dict], minutes: float, seed: int) -> dict:
    """What the corpus holds and how it was made (no timestamps: the same run, the same bytes)."""
    return with_versions({
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
    })


def main(out: str | Path, speakers: list[str] | None = None, count: int | None = None,
         minutes: float = 2.0, seed: int = 0, force: bool = False) -> list[Path]:
    """Write synthetic speakers to the folder `out`; returns the audio files written.

    speakers: built-in voice names, e.g. ["A", "B"] (the default when `count` is not given);
    count: make N varied voices S000.. instead; minutes: speech per voice; seed: same seed, same
    bytes; force: replace an earlier corpus in `out` (its files are removed, not mixed in).
    """
    started = time.perf_counter()
    check_arguments(minutes, seed)
    voices = choose_voices(speakers, count, seed)
    out = Path(out)

    plans = {v.name: utterance_lengths(minutes, seed, v) for v in voices}
    stems = {v.name: [out / v.name / f"{v.name}-0-{k:04d}" for k in range(len(plans[v.name]))] for v in voices}
    wavs = [s.with_name(s.name + ".wav") for v in voices for s in stems[v.name]]
    labels = [s.with_name(s.name + ".labels.npz") for v in voices for s in stems[v.name]]
    manifest_path = out / MANIFEST_NAME
    check_outputs(out, wavs + labels + [manifest_path], force)

    # Utterances are independent (each has its own generator): render them two at a time, one
    # torch thread each (numpy and torch release the GIL; on 2 cores this beats one utterance
    # with two intra-op threads), and write them in order as they come.
    jobs = [(voice, k, stem, n_samples) for voice in voices
            for k, (stem, n_samples) in enumerate(zip(stems[voice.name], plans[voice.name]))]

    def render(job: tuple[Voice, int, Path, int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        voice, k, _, n_samples = job
        return synthesize_utterance(voice, n_samples, utterance_rng(seed, voice, k))

    files = []
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            for (voice, _, stem, _), (wave, frame_labels) in zip(jobs, pool.map(render, jobs)):
                files.append(write_utterance(out, stem, voice, wave, frame_labels))
    finally:
        torch.set_num_threads(torch_threads)

    stale = stale_files(out, voices, set(wavs + labels)) if force else []
    for path in stale:
        path.unlink()
    with atomic_path(manifest_path) as tmp:
        tmp.write_text(json.dumps(corpus_manifest(voices, files, minutes, seed), indent=1, sort_keys=True) + "\n")

    print(f"synth: wrote {len(voices)} voice(s), {len(wavs)} utterances, {len(voices) * minutes:g} min of audio "
          f"({minutes:g} per voice) + labels to {out} in {time.perf_counter() - started:.1f} s")
    for voice in voices:
        print(f"  {voice.name}: {len(plans[voice.name])} files, f0 {voice.f0_low_hz:g}-{voice.f0_high_hz:g} Hz, "
              f"tract {voice.tract_cm:g} cm, {voice.description}")
    if stale:
        print(f"  removed {len(stale)} file(s) of the earlier corpus in {out}")
    return wavs
