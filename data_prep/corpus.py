"""Finding the recordings of a corpus folder and telling whose voice each one is.

Two layouts are recognised, and may be mixed:

* LibriSpeech-style names, READER-CHAPTER-UTTERANCE.ext (e.g. `1998-15444-0003.flac`,
  `A-0-0007.wav`): the reader id is taken from the name wherever the file sits, so a
  LibriSpeech tree (READER/CHAPTER/...), a flat folder of such files and READER/files all work.
* Any other name: a plain folder of audio files is one speaker. When the corpus holds a single
  such folder (the usual case: a folder of one voice's recordings), that speaker is named by
  `--speaker`, or else by the folder's name; when it holds several (corpus/alice/...,
  corpus/bob/...), each folder's name is its reader id.

Only `.wav` and `.flac` files (any letter case) are recordings; transcripts (.txt), label files
(.npz), JSON and everything else are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vaelab_core.errors import VaelabError

#: File extensions read as audio (compared in lower case).
AUDIO_SUFFIXES = (".wav", ".flac")

#: READER-CHAPTER-UTTERANCE: an alphanumeric reader id, then two numbers.
LIBRISPEECH_NAME = re.compile(r"^(?P<reader>[A-Za-z0-9]+)-(?P<chapter>\d+)-(?P<utterance>\d+)$")

#: "all" (or no --speaker at all) asks for every reader: a multi-speaker set.
ALL_SPEAKERS = "all"

#: How many reader ids an error message lists before it says "and N more".
LISTED_IDS = 20


class CorpusError(VaelabError, ValueError):
    """A corpus folder that cannot be used, or a speaker it does not hold."""


@dataclass(frozen=True)
class Recording:
    """One audio file of the corpus."""

    path: Path  # the file itself
    relative: str  # its path relative to the corpus folder, with "/" separators
    reader: str  # whose voice it is


def natural_key(text: str) -> tuple:
    """Sort key putting numeric ids in numeric order ("19" < "103") and names after them."""
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def list_ids(ids: list[str] | set[str]) -> str:
    """`ids` sorted and comma-separated, cut after `LISTED_IDS` with a count of the rest."""
    ordered = sorted(ids, key=natural_key)
    shown = ", ".join(ordered[:LISTED_IDS])
    rest = len(ordered) - LISTED_IDS
    return shown + (f" ... and {rest} more" if rest > 0 else "")


def is_audio(path: Path) -> bool:
    """A .wav/.flac file that is not hidden: hidden ones are unfinished outputs of an interrupted
    run (`.NAME.partial.wav`) or macOS resource forks (`._NAME.wav`), never recordings."""
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")


def find_recordings(corpus: str | Path, speaker: str | None = None) -> list[Recording]:
    """All recordings under `corpus` (recursively) with their reader ids, in path order.

    `speaker` names the voice of a corpus that is one plain folder (see the module docstring);
    it does not filter here (`select_speaker` does). Raises `CorpusError` when the
    corpus is missing, is not a folder or holds no .wav/.flac file.
    """
    corpus = Path(corpus)
    if not corpus.exists():
        raise CorpusError(f"{corpus}: no such folder. Check the --corpus path (it is the folder "
                          "that holds the .wav/.flac recordings).")
    if not corpus.is_dir():
        raise CorpusError(f"{corpus} is a file, not a folder. --corpus takes the folder that holds "
                          "the recordings (searched recursively), e.g. .../test-other/1998.")
    files = sorted((p for p in corpus.rglob("*") if p.is_file()),
                   key=lambda p: p.relative_to(corpus).as_posix())
    audio = [p for p in files if is_audio(p)]
    if not audio:
        others = f"; it holds {len(files)} other file(s), e.g. {files[0].relative_to(corpus)}" if files else \
            "; it is empty"
        raise CorpusError(f"{corpus}: no audio files found (.wav or .flac, searched in all "
                          f"sub-folders){others}. Point --corpus at the folder of recordings, or "
                          "convert them to wav or flac first.")

    named = {p: LIBRISPEECH_NAME.match(p.stem) for p in audio}
    plain_folders = {p.parent for p in audio if not named[p]}
    # --speaker names a plain folder's voice only when it is the corpus's one and only voice, so
    # that a mistyped id on a LibriSpeech tree is reported instead of silently renaming files.
    single_voice = len(plain_folders) == 1 and not any(named.values())

    def folder_voice(folder: Path) -> str:
        if single_voice and speaker and speaker != ALL_SPEAKERS:
            return speaker
        return folder.resolve().name or "speaker"

    recordings = []
    for path in audio:
        match = named[path]
        reader = match["reader"] if match else folder_voice(path.parent)
        recordings.append(Recording(path, path.relative_to(corpus).as_posix(), reader))
    return recordings


def select_speaker(recordings: list[Recording], speaker: str | None, corpus: str | Path) -> list[Recording]:
    """The recordings of `speaker`, or all of them for None / "all".

    Raises `CorpusError` listing the reader ids found when `speaker` is not among them.
    """
    if not speaker or speaker == ALL_SPEAKERS:
        return list(recordings)
    chosen = [r for r in recordings if r.reader == speaker]
    if not chosen:
        readers = {r.reader for r in recordings}
        raise CorpusError(
            f"{corpus}: no recordings of speaker {speaker!r}. Reader ids found ({len(readers)}): "
            f"{list_ids(readers)}. Pass one of these to --speaker, or omit it (or 'all') to build "
            "a multi-speaker set from every reader."
        )
    return chosen
