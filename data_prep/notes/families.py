"""What is played: per family a General MIDI program and a pitch range, three velocities, the split.

Both sources of a note file play the same notes: `vaelab data notes` asks a soundfont's preset
for them, the built-in synthesis (`synthetic`) makes them itself. Each family is played over the
range of the instrument that names it, every semitone, at each of VELOCITIES; 289 pitches x 3
velocities = 867 notes in all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaelab_core.notes import NOTE_FAMILIES


@dataclass(frozen=True)
class Family:
    """One family of notes: which General MIDI program plays it, over which pitches."""

    name: str          # one of vaelab_core.notes.NOTE_FAMILIES
    program: int       # General MIDI program, 1-based as the GM list numbers them (1 = Acoustic Grand Piano)
    gm_name: str       # the GM list's name of that program (a soundfont names its preset as it likes)
    low: int           # lowest MIDI pitch played
    high: int          # highest MIDI pitch played (inclusive)
    instrument: str    # the range in words: where low and high come from

    @property
    def pitches(self) -> range:
        return range(self.low, self.high + 1)


#: The families in the order of NOTE_FAMILIES (their `family` label is the index here).
FAMILIES = (
    Family("bass", 34, "Electric Bass (finger)", 28, 67,
           "E1-G4: a four-string bass's open E to the 24th fret of its G string"),
    Family("brass", 57, "Trumpet", 52, 86,
           "E3-D6: the B-flat trumpet's lowest note to its usual top"),
    Family("flute", 74, "Flute", 60, 96, "C4-C7: the concert flute's three octaves"),
    Family("guitar", 25, "Acoustic Guitar (nylon)", 40, 83,
           "E2-B5: a classical guitar's open low E to the 19th fret of its high E string"),
    Family("keyboard", 1, "Acoustic Grand Piano", 21, 108, "A0-C8: the 88 keys of a grand piano"),
    Family("vocal", 53, "Choir Aahs", 40, 84, "E2-C6: a choir, from the basses' low E to the sopranos' high C"),
)
assert tuple(f.name for f in FAMILIES) == NOTE_FAMILIES  # the labels index NOTE_FAMILIES

#: MIDI velocities of every pitch: soft, medium, loud.
VELOCITIES = (40, 80, 120)

#: Held out: every EVAL_EVERY-th pitch of a family, with all its velocities (see `is_eval`).
EVAL_EVERY = 5


def family_named(name: str) -> Family:
    return FAMILIES[NOTE_FAMILIES.index(name)]


def note_labels(families: tuple[Family, ...] = FAMILIES, velocities: tuple[int, ...] = VELOCITIES,
                pitches: dict[str, list[int]] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notes to play, as `(family, pitch, velocity)`, three int64 arrays of shape (N,).

    Ordered by family (the order of NOTE_FAMILIES), then pitch, then velocity. `pitches`
    replaces a family's range by the given list (a small subset, in tests).
    """
    rows = [(NOTE_FAMILIES.index(f.name), p, v) for f in families
            for p in (pitches or {}).get(f.name, f.pitches) for v in velocities]
    labels = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return labels[:, 0], labels[:, 1], labels[:, 2]


def eval_offset(seed: int) -> int:
    """Which pitch of every EVAL_EVERY is held out: the (2 + seed) mod EVAL_EVERY-th of its
    family's range (seed 0: the third, so that neither end of a range is held out)."""
    return (2 + seed) % EVAL_EVERY


def is_eval(family: np.ndarray, pitch: np.ndarray, seed: int) -> np.ndarray:
    """`(N,)` bool: the held-out notes. A split by whole notes, and by pitch: pitch p of family f
    is held out, at every velocity, when (p - low_f) mod EVAL_EVERY == eval_offset(seed), low_f
    being the lowest pitch of the family's range. No held-out note shares its pitch and family
    with a training note, so a model cannot pass by remembering one velocity of it."""
    low = np.array([f.low for f in FAMILIES], dtype=np.int64)[family]
    return (pitch - low) % EVAL_EVERY == eval_offset(seed)


def split_record(seed: int) -> dict:
    """The split rule as the manifest records it."""
    offset = eval_offset(seed)
    return {"rule": f"by pitch: within each family, pitch p is held out (all {len(VELOCITIES)} velocities) "
                    f"when (p - lowest pitch of the family) mod {EVAL_EVERY} == {offset}",
            "every": EVAL_EVERY, "offset": offset, "seed": seed,
            "offset_from_seed": f"(2 + seed) mod {EVAL_EVERY}"}
