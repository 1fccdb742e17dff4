"""FluidSynth's command line: one process plays all the notes of one family, which are cut out after.

Loading a General MIDI soundfont is most of a note's cost (FluidR3_GM is 148 MB), so each family
is one MIDI file (written with `mido`) of all its notes in sequence, one every SLOT_MS, and one
`fluidsynth -ni -F family.wav` renders it:

  slot 0       a warm-up chord (not kept): FluidSynth renders the first block of a voice it has
               never used a little differently from later uses of that voice, so every voice a
               kept note can take has been used once before it
  slot i >= 1  note i - 1: note-on at the slot's start, note-off RELEASE_MS later (the release at
               frame NOTE_RELEASE_FRAME), "all sound off" (MIDI CC 120) SILENCE_MS after the start,
               once the NOTE_SAMPLES kept have been played, so that no release tail reaches the next
               note; the next slot starts in silence

FluidSynth handles MIDI events at the start of a block of 64 samples and a note sounds from the
next block on; every time above is a whole number of blocks at 16 kHz, so each note starts
exactly LATENCY samples after its event and is cut from there. The result does not depend on the
neighbouring notes (tests/data_prep/notes check it), so a subset renders the same notes.

The settings (SETTINGS, passed as `-o name=value`) make the render deterministic and plain: no
reverb, no chorus (both would also smear one note into the next), float samples (no dither, no
clipping), one thread, rendered directly at 16 kHz (FluidR3's notes rendered at 32 or 48 kHz and
resampled by torchaudio differ by under 1 dB in energy off the harmonics: nothing to gain).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile

from vaelab_core import spec
from vaelab_core.errors import VaelabError
from vaelab_core.notes import NOTE_RELEASE_FRAME, NOTE_SAMPLES

#: How to install FluidSynth's command line, per packaging.
INSTALL = ("Debian/Ubuntu `apt install fluidsynth`, macOS Homebrew `brew install fluid-synth`, "
           "conda `conda install -c conda-forge fluidsynth`")

#: FluidSynth's settings for every render (`fluidsynth -o name=value`), recorded in the manifest.
SETTINGS = {
    "synth.sample-rate": spec.SAMPLE_RATE,
    "synth.reverb.active": 0,
    "synth.chorus.active": 0,
    "synth.gain": 1.0,                   # FluidR3's loudest notes (velocity 120) peak near 0.45 (default 0.2)
    "synth.cpu-cores": 1,
    "synth.lock-memory": 0,              # no mlock of the samples: it needs privileges, and warns
    "synth.dynamic-sample-loading": 1,   # load only the samples of the preset played
    "audio.file.type": "wav",
    "audio.file.format": "float",
}

#: FluidSynth's block: events are handled at the start of one, a note sounds from the next.
BLOCK = 64
LATENCY = BLOCK

#: The timeline of a family's MIDI file, in milliseconds (one MIDI tick = 1 ms).
SLOT_MS = 1200
RELEASE_MS = NOTE_RELEASE_FRAME * spec.HOP_LENGTH * 1000 // spec.SAMPLE_RATE  # 752 ms: frame 47
SILENCE_MS = 1100
WARMUP_NOTES = 8  # pitches of the warm-up chord, each at every velocity

for _ms in (SLOT_MS, RELEASE_MS, SILENCE_MS):  # whole blocks, so that each note starts LATENCY after its event
    assert _ms * spec.SAMPLE_RATE % (1000 * BLOCK) == 0, _ms
assert RELEASE_MS * spec.SAMPLE_RATE // 1000 == NOTE_RELEASE_FRAME * spec.HOP_LENGTH
assert (SILENCE_MS * spec.SAMPLE_RATE // 1000) > LATENCY + NOTE_SAMPLES


class SynthesizerError(VaelabError, RuntimeError):
    """FluidSynth missing, or a render that failed."""


def find_fluidsynth() -> str:
    """The path of the `fluidsynth` program; SynthesizerError naming the packages when it is absent."""
    program = shutil.which("fluidsynth")
    if program is None:
        raise SynthesizerError(f"the fluidsynth program is not on PATH; install FluidSynth ({INSTALL}), "
                               "then run this again.")
    return program


def fluidsynth_version(program: str) -> str:
    """FluidSynth's version, e.g. "2.3.1", as `fluidsynth --version` prints it."""
    try:
        shown = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=60, check=False,
                               stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise SynthesizerError(f"{program} does not run ({err}); reinstall FluidSynth ({INSTALL}).") from err
    found = re.search(r"version\s+(\d[\w.]*)", shown)
    return found[1] if found else shown.strip().splitlines()[0] if shown.strip() else "unknown"


def onset_ms(i: int) -> int:
    """Time of the note-on of the `i`-th kept note (0-based), in ms from the file's start."""
    return (i + 1) * SLOT_MS


def write_midi(path: Path, program: int, notes: list[tuple[int, int]], warmup: list[int]) -> Path:
    """Write the MIDI file of one family (see the module docstring): channel 1, bank 0, `program`
    (0-based), the warm-up chord of `warmup` pitches, then `notes` [(pitch, velocity), ...]."""
    import mido

    events = [(0, mido.Message("control_change", control=0, value=0)),  # bank select: bank 0
              (0, mido.Message("program_change", program=program))]
    velocities = sorted({v for _, v in notes}) or [100]
    for pitch in warmup:
        for velocity in velocities:
            events.append((0, mido.Message("note_on", note=pitch, velocity=velocity)))
    events.append((RELEASE_MS, mido.Message("control_change", control=123, value=0)))  # all notes off
    events.append((SILENCE_MS, mido.Message("control_change", control=120, value=0)))  # all sound off
    for i, (pitch, velocity) in enumerate(notes):
        start = onset_ms(i)
        events += [(start, mido.Message("note_on", note=pitch, velocity=velocity)),
                   (start + RELEASE_MS, mido.Message("note_off", note=pitch, velocity=0)),
                   (start + SILENCE_MS, mido.Message("control_change", control=120, value=0))]
    events.sort(key=lambda event: event[0])  # stable: at one time, the order written above
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=1_000_000, time=0)])  # 1 beat = 1 s
    now = 0
    for at, message in events:
        track.append(message.copy(time=at - now))
        now = at
    track.append(mido.MetaMessage("end_of_track", time=onset_ms(len(notes)) - now))
    midi = mido.MidiFile(ticks_per_beat=1000)  # 1 tick = 1 ms
    midi.tracks.append(track)
    midi.save(str(path))
    return path


def render_notes(program_path: str, soundfont: Path, program: int, notes: list[tuple[int, int]],
                 warmup: list[int], workdir: Path) -> np.ndarray:
    """Play `notes` [(pitch, velocity), ...] on the preset of MIDI `program` (0-based, bank 0) of
    `soundfont` with one FluidSynth process in `workdir`; returns their waveforms,
    `(len(notes), NOTE_SAMPLES)` float32, mono (the channels averaged), 16 kHz, note-on at sample 0.
    """
    midi = write_midi(workdir / "notes.mid", program, notes, warmup)
    wav = workdir / "notes.wav"
    command = [program_path, "-ni", *[arg for name, value in SETTINGS.items() for arg in ("-o", f"{name}={value}")],
               "-F", str(wav), str(soundfont), str(midi)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, cwd=workdir, stdin=subprocess.DEVNULL,
                             timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        raise SynthesizerError(f"{program_path} did not run to the end ({err}); check that "
                               f"`fluidsynth --version` works, or reinstall FluidSynth ({INSTALL}).") from err
    problems = [line for line in (run.stderr + run.stdout).splitlines()
                if "error" in line.lower() or "not a soundfont" in line.lower()]
    if run.returncode != 0 or problems or not wav.is_file():
        said = "; ".join(problems[-3:]) or (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise SynthesizerError(f"FluidSynth failed to render program {program + 1} of {soundfont} "
                               f"(exit status {run.returncode}: {said}); check the soundfont with "
                               f"`fluidsynth {soundfont}` and its `inst 1` command.")
    audio, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
    if rate != spec.SAMPLE_RATE:
        raise SynthesizerError(f"FluidSynth wrote {rate} Hz instead of the {spec.SAMPLE_RATE} Hz asked for; "
                               "this FluidSynth ignores synth.sample-rate, use version 2 or later.")
    mono = audio.mean(axis=1)
    needed = onset_ms(len(notes) - 1) * spec.SAMPLE_RATE // 1000 + LATENCY + NOTE_SAMPLES if notes else 0
    if len(mono) < needed:  # FluidSynth stops at the file's end; the padding is silence in any case
        mono = np.pad(mono, (0, needed - len(mono)))
    starts = [onset_ms(i) * spec.SAMPLE_RATE // 1000 + LATENCY for i in range(len(notes))]
    return np.stack([mono[s:s + NOTE_SAMPLES] for s in starts]) if notes else \
        np.zeros((0, NOTE_SAMPLES), dtype=np.float32)
