"""`vaelab data build`: a folder of recordings -> one speaker dataset (.npz) with its manifest.

The steps, in this order, each a function below that `main` calls in turn (the first two fail
fast, before any audio is decoded):

1. `check_options`: the output file can be written (`check_writable`) and the options make
   sense: a refusal after minutes of work would waste them;
2. `find_sources`: find the recordings and keep the requested speaker (`data_prep.corpus`);
3. `decode_and_cut`, per file, in parallel (`process_file`): checksum, decode to 16 kHz mono
   (`vaelab_core.audio.read_audio` resamples and mixes down), cut into (n, 150, 257) sequences
   (`data_prep.preprocess.wave_to_sequences`, the function students comment in section 2.5.1);
   `keep_usable`: unreadable, silent and too-short files are skipped with their reason;
4. `split_by_utterance`: train/eval by whole files, never chunks, so no eval sequence shares a
   recording with a training one (neighbouring chunks of one recording are near copies);
5. `make_manifest`, then `save_dataset`: the arrays and the manifest (sources with checksums,
   parameters, split, counts, package versions), atomically and with deterministic bytes;
6. `report`: what was read, cut, split and written, and how fast.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data_prep import corpus as corpus_files
from data_prep.corpus import Recording, list_ids
from data_prep.preprocess import SILENCE_DB, cut_chunks, trim_silence, wave_to_sequences
from vaelab_core import spec
from vaelab_core.atomic_files import check_writable
from vaelab_core.audio import AudioError, read_audio
from vaelab_core.datasets import save_dataset
from vaelab_core.errors import VaelabError
from vaelab_core.provenance import sha256_file, with_versions

#: Files decoded at once. Threads, not processes: decoding (libsndfile) and the STFT (torch)
#: release the GIL, whereas worker processes must start up and send every spectrogram back
#: through a pipe (2 processes measured 2-6x slower than 2 threads on 2 cores). Two threads per
#: core keep the cores busy while a thread waits for the disk or the GIL: on 2 shared cores, 4
#: threads built the 52-min corpus in 1.7-2.0 s, 2 threads in 2.1-3.1 s, 1 thread in 4-7 s. The
#: output does not depend on it: results are kept in file order.
WORKERS = max(1, min(8, 2 * (os.cpu_count() or 1)))


class BuildError(VaelabError, ValueError):
    """A corpus that gives no usable dataset, or build options that make no sense."""


@dataclass
class FileResult:
    """What one recording gave: its sequences, or the reason it was skipped."""

    recording: Recording
    sha256: str
    sequences: np.ndarray  # (n, T, F) float32; n = 0 when skipped
    sample_rate: int = 0  # the file's own rate (0 when it could not be decoded)
    channels: int = 0  # the file's own channel count
    seconds: float = 0.0  # duration at 16 kHz
    skipped: str = ""  # "" (usable), "unreadable", "silent" or "too short"
    reason: str = ""  # why it was skipped, in words
    speech_seconds: float = 0.0  # sound left after trimming silence (for "too short")


#: Waveforms of the first eval sequences stored with a dataset, for listening in the notebook.
EXAMPLES = 2


def listening_examples(usable: list[FileResult], side: dict[str, str]) -> np.ndarray:
    """The audio of `eval[:EXAMPLES]`: the first eval recording cut exactly as for its sequences."""
    first = next(r for r in usable if side[r.recording.relative] == "eval")
    wave, _ = read_audio(first.recording.path)
    return cut_chunks(wave)[:EXAMPLES].numpy()


def process_file(recording: Recording) -> FileResult:
    """Checksum, decode and cut one recording. Never raises for a bad file: it reports it."""
    empty = np.zeros((0, spec.N_FRAMES, spec.N_FREQ), dtype=np.float32)
    try:
        sha256 = sha256_file(recording.path)
    except OSError as err:  # e.g. no permission to read it
        return FileResult(recording, "", empty, skipped="unreadable", reason=f"cannot open it ({err.strerror})")
    try:
        wave, info = read_audio(recording.path)
    except AudioError as err:
        reason = str(err).removeprefix(f"{recording.path}: ")
        return FileResult(recording, sha256, empty, skipped="unreadable", reason=reason)
    result = FileResult(recording, sha256, wave_to_sequences(wave).numpy(), info.sample_rate,
                        info.channels, info.seconds)
    if len(result.sequences) == 0:
        speech = trim_silence(wave) if wave.numel() >= spec.N_FFT else wave  # too short to judge
        result.speech_seconds = speech.numel() / spec.SAMPLE_RATE
        if speech.numel() == 0:
            result.skipped, result.reason = "silent", "only silence (no sound to keep after trimming)"
        else:
            result.skipped = "too short"
            result.reason = (f"too short: {result.speech_seconds:.2f} s of sound after trimming silence, "
                             f"one sequence needs {spec.SEQUENCE_SAMPLES:,} samples ({spec.SEQUENCE_SECONDS:.2f} s)")
    return result


def split_by_utterance(usable: list[FileResult], eval_fraction: float, seed: int) -> dict[str, str]:
    """Assign each usable recording to "train" or "eval". Returns {relative path: side}.

    Each reader's recordings are shuffled with a generator seeded by (seed, reader) and
    round(k * eval_fraction) of its k recordings go to eval, at least 1 and at most k - 1 when
    k >= 2, so every reader with two recordings has eval material. Readers with one recording
    each (e.g. one utterance per reader in a pre-training corpus) are pooled and split the same
    way. With >= 2 recordings in all, both sides get at least one. Adding a reader with several
    recordings leaves the other readers' split as it was.
    """
    by_reader: dict[str, list[str]] = {}
    for result in usable:
        by_reader.setdefault(result.recording.reader, []).append(result.recording.relative)
    groups = {f"reader {r}": files for r, files in by_reader.items() if len(files) >= 2}
    singles = sorted(files[0] for files in by_reader.values() if len(files) == 1)
    if singles:
        groups["readers with one recording"] = singles

    side = {}
    for name, files in sorted(groups.items()):
        files = sorted(files)
        random.Random(f"{seed}/{name}").shuffle(files)
        n_eval = round(len(files) * eval_fraction)
        if len(files) >= 2:
            n_eval = min(max(n_eval, 1), len(files) - 1)
        for i, relative in enumerate(files):
            side[relative] = "eval" if i < n_eval else "train"
    return side


def describe_conversions(usable: list[FileResult]) -> str:
    """E.g. "3 files resampled from 44100 Hz, 2 stereo files mixed to mono" ("" when none)."""
    parts = [f"{n} file{'s' * (n > 1)} resampled from {rate} Hz"
             for rate, n in sorted(Counter(r.sample_rate for r in usable
                                           if r.sample_rate != spec.SAMPLE_RATE).items())]
    channels = Counter(r.channels for r in usable if r.channels > 1)
    for count, n in sorted(channels.items()):
        kind = "stereo" if count == 2 else f"{count}-channel"
        parts.append(f"{n} {kind} file{'s' * (n > 1)} mixed to mono")
    return ", ".join(parts)


def explain_nothing_usable(corpus: Path, results: list[FileResult]) -> str:
    """Why no recording gave a sequence, in a sentence that says what to do."""
    kinds = Counter(r.skipped for r in results)
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    if kinds["too short"]:
        longest = max(r.speech_seconds for r in results)
        return (f"{corpus}: every recording is shorter than one sequence after trimming silence "
                f"({counts}; the longest has {longest:.2f} s of sound). A sequence needs "
                f"{spec.SEQUENCE_SAMPLES:,} samples = {spec.SEQUENCE_SECONDS:.2f} s of speech at "
                f"{spec.SAMPLE_RATE} Hz; use longer recordings (or join short utterances).")
    if kinds["silent"]:
        return (f"{corpus}: the recordings hold only silence ({counts}): no frame rises above "
                f"-90 dB full scale. Check the microphone input or gain, or that the right files "
                "were exported.")
    first = results[0]
    return (f"{corpus}: none of the {len(results)} audio files could be decoded (e.g. "
            f"{first.recording.relative}: {first.reason}). Re-export them as wav or flac.")


def preprocessing_parameters() -> dict:
    """Every number that shapes the spectrograms, read from where it is defined."""
    return {
        "sample_rate": spec.SAMPLE_RATE,
        "mono": "channels averaged",
        "resampling": "torchaudio.functional.resample (default sinc interpolation)",
        "n_fft": spec.N_FFT,
        "hop_length": spec.HOP_LENGTH,
        "window": spec.WINDOW,
        "center": spec.CENTER,
        "pad_mode": spec.PAD_MODE,
        "n_frames": spec.N_FRAMES,
        "n_freq": spec.N_FREQ,
        "sequence_samples": spec.SEQUENCE_SAMPLES,
        "silence_trim_db": SILENCE_DB,
        "silence_trim": "leading and trailing frames below the file's loudest frame + silence_trim_db",
        "chunking": "non-overlapping sequences, incomplete tail dropped",
        "peak_normalisation": "each sequence scaled to max |sample| = 1",
        "values": "STFT magnitude |X|, float32",
    }


def check_options(out: Path, eval_fraction: float, force: bool) -> Path:
    """Step 1: refuse an unwritable or misnamed output and a meaningless eval fraction, before any work."""
    out = check_writable(out, force)
    if out.suffix != ".npz":
        raise BuildError(f"{out}: a dataset file must end in .npz (e.g. {out.with_suffix('.npz').name}).")
    if not 0 < eval_fraction < 1:
        raise BuildError(f"--eval-fraction {eval_fraction}: expected a share strictly between 0 and 1 "
                         "(e.g. 0.2 holds out one utterance in five).")
    return out


def find_sources(corpus: Path, speaker: str | None,
                 say: Callable[[str], None]) -> tuple[list[Recording], str]:
    """Step 2: the recordings to read and the speaker name to record (a reader id, or "all")."""
    recordings = corpus_files.select_speaker(corpus_files.find_recordings(corpus, speaker), speaker, corpus)
    readers = sorted({r.reader for r in recordings}, key=corpus_files.natural_key)
    name = readers[0] if len(readers) == 1 else corpus_files.ALL_SPEAKERS
    say(f"Reading {len(recordings)} recordings of {len(readers)} reader(s) from {corpus} "
        f"(speaker: {name})")
    return recordings, name


def decode_and_cut(recordings: list[Recording], progress: bool) -> list[FileResult]:
    """Step 3: `process_file` on every recording, in parallel; results in file order (deterministic)."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(tqdm(pool.map(process_file, recordings), total=len(recordings), unit="file",
                         desc="decoding", disable=not progress, leave=False))


def keep_usable(corpus: Path, results: list[FileResult], say: Callable[[str], None]) -> list[FileResult]:
    """Step 3, continued: say what was skipped and converted; the usable results, at least two."""
    usable = [r for r in results if not r.skipped]
    skipped = [r for r in results if r.skipped]
    if skipped:
        say(f"Skipped {len(skipped)} of {len(results)} files:")
        for r in skipped:
            say(f"  {r.recording.relative}: {r.reason}")
    if not usable:
        raise BuildError(explain_nothing_usable(corpus, results))
    if len(usable) == 1:
        raise BuildError(
            f"{corpus}: only one usable recording ({usable[0].recording.relative}). The eval part "
            "must come from other utterances than the training part, so a second recording with at "
            f"least {spec.SEQUENCE_SECONDS:.2f} s of speech is needed.")
    conversions = describe_conversions(usable)
    if conversions:
        say(f"Converted: {conversions}")
    return usable


def sequences_of(usable: list[FileResult], side: dict[str, str], split: str) -> np.ndarray:
    """Step 4, continued: `(N, T, F)`, the sequences of the files on `split` ("train" or "eval"),
    in file order."""
    return np.concatenate([r.sequences for r in usable if side[r.recording.relative] == split])


def make_manifest(corpus: Path, name: str, results: list[FileResult], side: dict[str, str],
                  sizes: tuple[int, int], eval_fraction: float, seed: int, command: str) -> dict:
    """Step 5: what the dataset holds and how it was made. No timestamps: identical inputs give
    identical bytes. `sizes`: (train, eval) sequence counts."""
    usable = [r for r in results if not r.skipped]
    skipped = [r for r in results if r.skipped]
    seconds_decoded = sum(r.seconds for r in results)  # every file that could be decoded
    seconds_used = sum(r.seconds for r in usable)
    return with_versions({
        "speaker": name,
        "readers": sorted({r.recording.reader for r in usable}, key=corpus_files.natural_key),
        "corpus": str(corpus),
        "files": [{"path": r.recording.relative, "reader": r.recording.reader, "sha256": r.sha256,
                   "seconds": round(r.seconds, 4), "sample_rate": r.sample_rate, "channels": r.channels,
                   "sequences": len(r.sequences), "split": side[r.recording.relative]} for r in usable],
        "skipped": [{"path": r.recording.relative, "reader": r.recording.reader, "sha256": r.sha256,
                     "seconds": round(r.seconds, 4), "reason": r.reason} for r in skipped],
        "conversions": describe_conversions(usable) or "none",
        "preprocessing": preprocessing_parameters(),
        "split": {"rule": "by utterance", "eval_fraction": eval_fraction, "seed": seed,
                  "per_reader": True},
        "counts": {"files_found": len(results), "files_used": len(usable), "files_skipped": len(skipped),
                   "files_train": sum(s == "train" for s in side.values()),
                   "files_eval": sum(s == "eval" for s in side.values()),
                   "sequences_train": sizes[0], "sequences_eval": sizes[1],
                   "minutes_read": round(seconds_decoded / 60, 3),
                   "minutes_used": round(seconds_used / 60, 3),
                   "minutes_in_sequences": round(sum(sizes) * spec.SEQUENCE_SECONDS / 60, 3)},
        "command": command,
    })


def report(out: Path, manifest: dict, results: list[FileResult], seconds_taken: float,
           say: Callable[[str], None]) -> None:
    """Last step: what was read, cut, split and written, with minutes and speed."""
    usable = [r for r in results if not r.skipped]
    seconds_decoded = sum(r.seconds for r in results)
    seconds_used = sum(r.seconds for r in usable)
    counts, split, readers = manifest["counts"], manifest["split"], manifest["readers"]
    n_train, n_eval = counts["sequences_train"], counts["sequences_eval"]
    say(f"Read {len(results)} files, {seconds_decoded / 60:.1f} min of audio; used {len(usable)} "
        f"({seconds_used / 60:.1f} min) from {len(readers)} reader(s): {list_ids(readers)}")
    say(f"Cut {n_train + n_eval} sequences of {spec.SEQUENCE_SECONDS:.2f} s "
        f"({counts['minutes_in_sequences']:.1f} min of speech)")
    say(f"Split by utterance (eval fraction {split['eval_fraction']}, seed {split['seed']}): "
        f"train {counts['files_train']} files / {n_train} sequences, "
        f"eval {counts['files_eval']} files / {n_eval} sequences")
    say(f"Wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {seconds_taken:.1f} s "
        f"({seconds_decoded / seconds_taken:.0f}x real time)")


def main(corpus: str | Path, out: str | Path, speaker: str | None = None, eval_fraction: float = 0.2,
         seed: int = 0, force: bool = False, command: str | None = None, quiet: bool = False) -> Path:
    """Build one speaker dataset from the recordings under `corpus`; returns the written path.

    `speaker`: a reader id to keep, or None / "all" for a multi-speaker set (the pre-training
    corpus); for a plain folder of one voice, the name to record. `eval_fraction` of each
    reader's utterances (whole files) are held out for evaluation, chosen with `seed`.
    Raises `VaelabError` subclasses with the reason and the fix.
    """
    started = time.perf_counter()
    say = (lambda *_: None) if quiet else print
    corpus, out = Path(corpus), Path(out)
    command = command or (f"data_prep.build.main({str(corpus)!r}, {str(out)!r}, speaker={speaker!r}, "
                          f"eval_fraction={eval_fraction!r}, seed={seed!r}, force={force!r})")

    out = check_options(out, eval_fraction, force)
    recordings, name = find_sources(corpus, speaker, say)
    results = decode_and_cut(recordings, progress=not quiet)
    usable = keep_usable(corpus, results, say)
    side = split_by_utterance(usable, eval_fraction, seed)
    train, eval_ = sequences_of(usable, side, "train"), sequences_of(usable, side, "eval")
    manifest = make_manifest(corpus, name, results, side, (len(train), len(eval_)), eval_fraction, seed,
                             command)
    save_dataset(out, train, eval_, manifest, force=force, examples=listening_examples(usable, side))
    report(out, manifest, results, time.perf_counter() - started, say)
    return out
