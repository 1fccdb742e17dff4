"""A SoundFont 2 file small enough to write in a test: one looped harmonic tone, a few presets.

FluidSynth plays it like any soundfont, so the render path is tested without FluidR3_GM (148 MB)
and with what FluidR3 never shows: a program it lacks, and keys outside a preset's samples
(silent notes). The layout follows the SoundFont 2.04 specification: RIFF 'sfbk' with the INFO,
sdta (16-bit samples) and pdta (presets -> instruments -> samples) lists, each record list ended
by its terminal record.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

#: The tone: exactly PERIOD samples per cycle at RATE, so 440 Hz, looped over whole cycles.
RATE = 44_000
PERIOD = 100
ROOT_KEY = 69  # 440 Hz

# Generator numbers (SoundFont 2.04, section 8.1.2)
KEY_RANGE, INSTRUMENT, SAMPLE_ID, SAMPLE_MODES = 43, 41, 53, 54


def _chunk(chunk_id: bytes, data: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode("ascii")[:19].ljust(20, b"\0")


def tone() -> np.ndarray:
    """20 cycles of a 440 Hz tone with two overtones, int16, then the 46 zeros the format asks for."""
    n = np.arange(20 * PERIOD)
    x = sum(np.sin(2 * np.pi * k * n / PERIOD) / k for k in (1, 2, 3))
    return np.concatenate([np.round(12000 * x / np.abs(x).max()), np.zeros(46)]).astype("<i2")


def write_soundfont(path: Path, programs: dict[int, str], keys: tuple[int, int] = (48, 72)) -> Path:
    """A soundfont at `path` with one preset per entry of `programs` {0-based program: name}, bank 0,
    all playing the tone on the MIDI keys `keys` (inclusive) and nothing elsewhere."""
    samples = tone()
    n_tone = 20 * PERIOD
    info = _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1)), _chunk(b"isng", b"EMU8000\0"),
                 _chunk(b"INAM", b"vaelab test\0"))  # even sizes
    sdta = _list(b"sdta", _chunk(b"smpl", samples.tobytes()))

    phdr, pbag, pgen = b"", b"", b""
    for i, (program, name) in enumerate(sorted(programs.items())):
        phdr += struct.pack("<20sHHHIII", _name(name), program, 0, i, 0, 0, 0)
        pbag += struct.pack("<HH", i, 0)
        pgen += struct.pack("<HH", INSTRUMENT, 0)  # every preset: one zone, instrument 0
    n = len(programs)
    phdr += struct.pack("<20sHHHIII", _name("EOP"), 0, 0, n, 0, 0, 0)
    pbag += struct.pack("<HH", n, 0)
    pgen += struct.pack("<HH", 0, 0)

    inst = struct.pack("<20sH", _name("tone"), 0) + struct.pack("<20sH", _name("EOI"), 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 3, 0)
    igen = (struct.pack("<HBB", KEY_RANGE, keys[0], keys[1])   # key range first ...
            + struct.pack("<HH", SAMPLE_MODES, 1)               # loop while the key is held
            + struct.pack("<HH", SAMPLE_ID, 0)                  # ... the sample last
            + struct.pack("<HH", 0, 0))
    shdr = (struct.pack("<20sIIIIIBbHH", _name("tone"), 0, n_tone, n_tone // 2, n_tone, RATE, ROOT_KEY, 0, 0, 1)
            + struct.pack("<20sIIIIIBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0))
    no_modulators = b"\0" * 10
    pdta = _list(b"pdta", _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", no_modulators),
                 _chunk(b"pgen", pgen), _chunk(b"inst", inst), _chunk(b"ibag", ibag),
                 _chunk(b"imod", no_modulators), _chunk(b"igen", igen), _chunk(b"shdr", shdr))
    body = b"sfbk" + info + sdta + pdta
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path
