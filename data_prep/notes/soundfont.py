"""A SoundFont 2 file's header and the list of its presets, read without loading its samples.

A soundfont (.sf2) is a RIFF file of form 'sfbk' with three LIST chunks: INFO (names, version),
sdta (the samples: most of the file) and pdta (the instruments). The presets a MIDI program
change selects are the records of pdta's 'phdr' chunk, 38 bytes each: a 20-byte name, the
program (0-based), the bank, then indices and reserved words; a last record "EOP" ends the list
(SoundFont 2.04 specification, section 7.2). Checking these before FluidSynth starts turns
"not a soundfont" and "no such program" into clear errors: FluidSynth itself would print a
warning and render silence, or play another preset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vaelab_core.errors import VaelabError

#: Soundfonts of the usual packagings, tried in order when no --soundfont is given: Debian and
#: Ubuntu (fluid-soundfont-gm), Fedora and Arch (fluid-soundfont), and the generic GM link.
KNOWN_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)

_PHDR_RECORD = struct.Struct("<20sHHHIII")  # name, program, bank, bag index, library, genre, morphology


class SoundfontError(VaelabError, ValueError):
    """A soundfont that is missing, is not a SoundFont 2 file, or lacks a preset the notes need."""


@dataclass(frozen=True)
class Preset:
    """One preset of a soundfont: what a program change on `bank` to `program` selects."""

    name: str
    bank: int
    program: int  # 0-based, as in a MIDI program change message (GM program 1 is 0 here)


@dataclass(frozen=True)
class Soundfont:
    """A soundfont's own name and its presets (its samples are not read)."""

    path: Path
    name: str               # the INFO chunk's INAM, "" when absent
    presets: tuple[Preset, ...]

    def preset(self, program: int, bank: int = 0) -> Preset | None:
        """The preset for MIDI program `program` (0-based) of `bank`, None when there is none."""
        return next((p for p in self.presets if p.program == program and p.bank == bank), None)


def find_soundfont() -> Path:
    """The first of KNOWN_SOUNDFONTS on this machine; SoundfontError when there is none."""
    for candidate in KNOWN_SOUNDFONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SoundfontError(
        "no General MIDI soundfont found in the usual places (" + ", ".join(KNOWN_SOUNDFONTS) + "); "
        "install one (Debian/Ubuntu: `apt install fluid-soundfont-gm`) or name a .sf2 file with --soundfont.")


def _chunks(handle: BinaryIO, end: int):
    """Yield (id, size, start) for the chunks between the handle's position and `end`, leaving
    the handle at each chunk's data (chunks are padded to an even size)."""
    while handle.tell() + 8 <= end:
        chunk_id, size = struct.unpack("<4sI", handle.read(8))
        start = handle.tell()
        yield chunk_id, size, start
        handle.seek(start + size + (size & 1))


def read_soundfont(path: str | Path) -> Soundfont:
    """Read the name and preset list of the soundfont at `path`.

    Raises SoundfontError when the file is missing or unreadable, is not a RIFF 'sfbk' file, or
    has no preset list.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise SoundfontError(f"soundfont {path} {what}; give the path of a .sf2 file with --soundfont "
                             "(e.g. /usr/share/sounds/sf2/FluidR3_GM.sf2 from Debian's fluid-soundfont-gm).")
    not_sf2 = (f"{path} is not a SoundFont 2 file (it does not start with a RIFF 'sfbk' header); "
               "give a General MIDI .sf2 file with --soundfont (e.g. FluidR3_GM.sf2).")
    name, records = "", b""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise SoundfontError(not_sf2)
            end = 8 + struct.unpack("<I", head[4:8])[0]
            for chunk_id, size, start in _chunks(handle, end):
                if chunk_id != b"LIST":
                    continue
                kind = handle.read(4)
                for sub_id, sub_size, _ in _chunks(handle, start + size):
                    if kind == b"INFO" and sub_id == b"INAM":
                        name = handle.read(sub_size).split(b"\0")[0].decode("latin-1").strip()
                    elif kind == b"pdta" and sub_id == b"phdr":
                        records = handle.read(sub_size)
    except OSError as err:
        raise SoundfontError(f"cannot read soundfont {path} ({err.strerror or err}); check its permissions.") from err
    except struct.error as err:  # a chunk header cut off: a truncated download
        raise SoundfontError(f"{path} is a truncated or damaged soundfont (a chunk ends before its header "
                             "does); download or copy it again.") from err
    n = len(records) // _PHDR_RECORD.size
    if n < 2:  # at least one preset and the terminal "EOP" record
        raise SoundfontError(f"{path} has no preset list (no 'phdr' chunk in its 'pdta' part): a damaged or "
                             "incomplete soundfont; download or copy it again.")
    presets = []
    for i in range(n - 1):  # the last record is the terminal "EOP"
        raw, program, bank, *_ = _PHDR_RECORD.unpack_from(records, i * _PHDR_RECORD.size)
        presets.append(Preset(raw.split(b"\0")[0].decode("latin-1").strip(), bank, program))
    return Soundfont(path, name, tuple(presets))
