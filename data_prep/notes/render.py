"""`vaelab data notes`: single notes of the six families rendered from a General MIDI soundfont.

The steps, in this order (the first three fail fast, before any note is played):

1. `check_options`: the output can be written, the seed is a whole number;
2. `check_soundfont`: the file is a SoundFont 2 file with a preset for every family's GM program
   (`soundfont.read_soundfont` reads its preset list without loading its samples);
3. `synthesizer.find_fluidsynth`: the `fluidsynth` program is there;
4. `render_all`: one FluidSynth process per family plays all its notes (`synthesizer.render_notes`),
   two families at a time, while the soundfont's SHA-256 is computed beside them;
5. `drop_silent`: a note whose peak stays below SILENT_DB (a pitch outside the preset's samples)
   is left out, counted and listed; the run goes on;
6. `make_manifest`, then `writer.write_notes`: spectra, split by pitch, manifest, one file,
   written atomically; the summary says what was rendered, left out and written.

Why the command line and not a binding: pyfluidsynth reaches FluidSynth's C library through
ctypes, so it breaks when the library's functions change between FluidSynth versions and needs
the shared library found at run time; `fluidsynth -F` is the documented interface of every
packaging (Debian, Homebrew, conda, Windows builds).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version as version_of
from pathlib import Path

import numpy as np

from data_prep.notes import synthesizer
from data_prep.notes.families import FAMILIES, VELOCITIES, Family, family_named, note_labels
from data_prep.notes.soundfont import Soundfont, SoundfontError, find_soundfont, read_soundfont
from data_prep.notes.writer import summary, write_notes
from vaelab_core.atomic_files import check_writable
from vaelab_core.errors import VaelabError
from vaelab_core.notes import NOTE_FAMILIES
from vaelab_core.provenance import sha256_file

#: A note whose peak stays below this (dB full scale) is silent: the preset has no sample there.
SILENT_DB = -80.0

#: FluidSynth processes at once (each renders one family, then waits on nothing): one per core.
WORKERS = max(1, min(len(FAMILIES), os.cpu_count() or 1))


class NotesError(VaelabError, ValueError):
    """Options of `vaelab data notes` that make no sense, or a soundfont that gives no note."""


def check_options(out: Path, seed: int, force: bool) -> Path:
    """Step 1: refuse an unwritable or misnamed output and a meaningless seed, before any work."""
    out = check_writable(out, force)
    if out.suffix != ".npz":
        raise NotesError(f"{out}: a note file must end in .npz (e.g. {out.with_suffix('.npz').name}).")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NotesError(f"seed must be a whole number >= 0, got {seed!r}.")
    return out


def check_soundfont(path: Path, families: tuple[Family, ...]) -> Soundfont:
    """Step 2: the soundfont's presets, and one (bank 0) for every family's program."""
    font = read_soundfont(path)
    missing = [f for f in families if font.preset(f.program - 1) is None]
    if missing:
        listed = ", ".join(f"{f.name} (GM program {f.program}, {f.gm_name})" for f in missing)
        raise SoundfontError(f"{path} has no preset for {listed} in bank 0; use a General MIDI soundfont "
                             "that has every family's program (e.g. FluidR3_GM.sf2, Debian's fluid-soundfont-gm).")
    return font


def warmup_pitches(pitches: list[int]) -> list[int]:
    """The warm-up chord: synthesizer.WARMUP_NOTES pitches spread over the notes' range."""
    return sorted({int(np.round(p)) for p in np.linspace(min(pitches), max(pitches), synthesizer.WARMUP_NOTES)})


def render_all(program: str, font: Soundfont, notes: dict[str, list[tuple[int, int]]],
               say: Callable[[str], None]) -> tuple[dict[str, np.ndarray], str]:
    """Step 4: {family: (n, NOTE_SAMPLES) waveforms} of `notes` {family: [(pitch, velocity), ...]},
    and the soundfont's SHA-256, computed while FluidSynth plays."""
    def render(name: str) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        family = family_named(name)
        with tempfile.TemporaryDirectory(prefix=f"vaelab-notes-{name}-") as work:
            waves = synthesizer.render_notes(program, font.path, family.program - 1, notes[name],
                                             warmup_pitches([p for p, _ in notes[name]]), Path(work))
        return waves, time.perf_counter() - started

    with ThreadPoolExecutor(WORKERS + 1) as pool:  # + 1: the checksum reads the disk meanwhile
        checksum = pool.submit(sha256_file, font.path)
        rendered = {name: pool.submit(render, name) for name in notes}
        waves = {}
        for name, future in rendered.items():  # in family order: the output does not depend on timing
            waves[name], seconds = future.result()
            program_number = family_named(name).program
            pitches = [p for p, _ in notes[name]]
            say(f"  {name}: GM program {program_number} '{font.preset(program_number - 1).name}', "
                f"MIDI {min(pitches)}-{max(pitches)}, {len(notes[name])} notes in {seconds:.1f} s")
        return waves, checksum.result()


def peak_db(waves: np.ndarray) -> np.ndarray:
    """`(N, samples)` -> `(N,)` peak |sample| in dB full scale (-inf for digital silence)."""
    with np.errstate(divide="ignore"):
        return 20 * np.log10(np.abs(waves).max(axis=1))


def drop_silent(waves: np.ndarray, family: np.ndarray, pitch: np.ndarray, velocity: np.ndarray,
                say: Callable[[str], None]) -> tuple[np.ndarray, list[dict]]:
    """Step 5: `(N,)` bool, the notes to keep, and the silent ones as manifest records."""
    peaks = peak_db(waves)
    keep = peaks >= SILENT_DB
    silent = [{"family": NOTE_FAMILIES[family[i]], "pitch": int(pitch[i]), "velocity": int(velocity[i]),
               "peak_db": None if not np.isfinite(peaks[i]) else round(float(peaks[i]), 1)}
              for i in np.flatnonzero(~keep)]
    if silent:
        listed = ", ".join(f"{s['family']} {s['pitch']}/v{s['velocity']}" for s in silent)
        say(f"Left out {len(silent)} silent note(s) (peak below {SILENT_DB:g} dB full scale: the preset "
            f"has no sample at that pitch): {listed}")
    return keep, silent


def make_manifest(font: Soundfont, sha256: str, program: str, version: str,
                  notes: dict[str, list[tuple[int, int]]], silent: list[dict], command: str) -> dict:
    """Step 6: where the notes come from and how they were played (no timestamps, no temporary
    paths: the same soundfont and options give the same bytes)."""
    families = {}
    for name, played in notes.items():
        family = family_named(name)
        pitches = [p for p, _ in played]
        families[name] = {"gm_program": family.program, "midi_program": family.program - 1, "bank": 0,
                          "gm_name": family.gm_name, "preset": font.preset(family.program - 1).name,
                          "pitch_range": [min(pitches), max(pitches)], "instrument_range": family.instrument,
                          "notes_played": len(played),
                          "silent": sum(s["family"] == name for s in silent)}
    return {
        "source": "fluidsynth",
        "soundfont": {"path": str(font.path), "name": font.name, "sha256": sha256,
                      "bytes": font.path.stat().st_size},
        "synthesizer": {
            "program": program, "version": version,
            "command": "fluidsynth -ni " + " ".join(f"-o {k}={v}" for k, v in synthesizer.SETTINGS.items())
                       + " -F FAMILY.wav SOUNDFONT FAMILY.mid (one process per family)",
            "settings": dict(synthesizer.SETTINGS),
            "midi": f"written with mido {version_of('mido')}: one file per family, channel 1, bank 0; a "
                    f"warm-up chord, then one note every {synthesizer.SLOT_MS} ms, released "
                    f"{synthesizer.RELEASE_MS} ms after its onset, all sound off (CC 120) at "
                    f"{synthesizer.SILENCE_MS} ms",
            "cut": f"each note from {synthesizer.LATENCY} samples after its note-on (FluidSynth's block "
                   f"latency at 16 kHz), channels averaged to mono",
        },
        "families": families,
        "silent": {"count": len(silent), "threshold_db": SILENT_DB,
                   "rule": "peak |sample| of the note below threshold_db full scale: left out", "notes": silent},
        "command": command,
    }


def main(out: str | Path, soundfont: str | Path | None = None, seed: int = 0, force: bool = False,
         command: str | None = None, pitches: dict[str, list[int]] | None = None,
         velocities: tuple[int, ...] = VELOCITIES, quiet: bool = False) -> Path:
    """Render the notes of every family from `soundfont` into the note file `out`; returns its path.

    soundfont: a General MIDI .sf2 (None: the first of soundfont.KNOWN_SOUNDFONTS found);
    seed: which pitch of every five is held out (families.eval_offset); force: replace `out`.
    `pitches` {family: [MIDI pitch, ...]} renders only those families and pitches, and
    `velocities` only those velocities (a small set, e.g. in tests). Raises `VaelabError`
    subclasses with the reason and the fix; a failed run leaves no output file.
    """
    started = time.perf_counter()
    say = (lambda *_: None) if quiet else print
    out = Path(out)
    command = command or (f"data_prep.notes.main({str(out)!r}, soundfont={str(soundfont) if soundfont else None!r}, "
                          f"seed={seed!r}, force={force!r})")
    out = check_options(out, seed, force)
    unknown = sorted(set(pitches or {}) - set(NOTE_FAMILIES))
    families = tuple(f for f in FAMILIES if pitches is None or f.name in pitches)
    if unknown or not families:
        raise NotesError(f"pitches= names {'the unknown families ' + str(unknown) if unknown else 'no family'}; "
                         f"name some of {', '.join(NOTE_FAMILIES)}.")
    font = check_soundfont(Path(soundfont) if soundfont is not None else find_soundfont(), families)
    program = synthesizer.find_fluidsynth()
    version = synthesizer.fluidsynth_version(program)

    family, pitch, velocity = note_labels(families, tuple(velocities), pitches)
    notes = {f.name: [(int(p), int(v)) for p, v in zip(pitch[family == k], velocity[family == k])]
             for k, f in enumerate(FAMILIES) if (family == k).any()}
    say(f"Rendering {len(pitch)} notes of {len(notes)} families from {font.path} ('{font.name}', "
        f"{len(font.presets)} presets) with FluidSynth {version}, {WORKERS} at a time:")
    waves, sha256 = render_all(program, font, notes, say)
    all_waves = np.concatenate([waves[name] for name in notes])
    keep, silent = drop_silent(all_waves, family, pitch, velocity, say)
    if not keep.any():
        raise NotesError(f"every note rendered from {font.path} is silent; check that it is a General MIDI "
                         f"soundfont and plays in `fluidsynth {font.path}` (e.g. `noteon 0 60 100`).")
    manifest = make_manifest(font, sha256, program, version, notes, silent, command)
    path, manifest = write_notes(out, all_waves[keep], family[keep], pitch[keep], velocity[keep], manifest,
                                 seed, force)
    summary(path, manifest, time.perf_counter() - started, say)
    if silent:
        say(f"  {len(silent)} silent note(s) left out (listed in the manifest's 'silent')")
    return path
