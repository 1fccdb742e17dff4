"""`vaelab data notes`: FluidSynth renders a soundfont's notes; every bad input ends in one sentence.

The render tests use a tiny soundfont written by the test (tiny_soundfont.py) and, where this
machine has it, a small subset of FluidR3_GM; they are skipped when FluidSynth is absent. The
bad-input tests run the real command: exit status 2, one message saying what was wrong and what
to do, and no output file left behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_prep.notes import NotesError, SynthesizerError, main, synthesizer
from data_prep.notes.families import FAMILIES
from tests.data_prep.notes.tiny_soundfont import write_soundfont
from vaelab_core.cli import main as vaelab
from vaelab_core.notes import NOTE_RELEASE_FRAME, NOTE_SAMPLES, load_notes, midi_to_hz
from vaelab_core.provenance import sha256_file
from vaelab_core.voice_analysis import estimate_f0


def f0_error(spectrum, pitch: int) -> float:
    """Relative error of the median f0 of `spectrum: (T, F)`'s held frames 8-40 against the label."""
    target = float(midi_to_hz(pitch))
    found = np.nanmedian(estimate_f0(np.asarray(spectrum)[8:40], fmin=0.7 * target, fmax=1.4 * target))
    return abs(found / target - 1)


def assert_refused(code: int, capsys: pytest.CaptureFixture, out: Path, *phrases: str) -> str:
    """Exit 2, one error line holding every phrase, and no file (not even a partial one) at `out`."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "vaelab: error:" in err and "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, f"{phrase!r} not in {err!r}"
    assert not out.exists()
    if out.parent.is_dir():
        assert [p.name for p in out.parent.iterdir() if "partial" in p.name] == []
    return err


# --- rendering ------------------------------------------------------------------------------

def test_a_tiny_soundfont_renders_labelled_notes_at_their_pitch(fluidsynth, tiny_font: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture):
    out = tmp_path / "notes.npz"
    main(out, soundfont=tiny_font, pitches={"bass": [50, 55], "keyboard": [48, 60, 69, 72]}, velocities=(80,))
    notes = load_notes(out)
    assert notes.source == "fluidsynth" and len(notes) == 6
    assert notes.family.tolist() == [0, 0, 4, 4, 4, 4] and notes.velocity.tolist() == [80] * 6
    assert notes.pitch.tolist() == [50, 55, 48, 60, 69, 72]
    for spectrum, pitch in zip(notes.spectra, notes.pitch.tolist()):
        assert f0_error(spectrum, pitch) < 0.03, pitch
        energy = (spectrum ** 2).sum(-1)
        assert energy[0] > 0.01 * energy[20]  # the note starts at frame 0 ...
        assert energy[NOTE_RELEASE_FRAME + 3] < 1e-4 * energy[NOTE_RELEASE_FRAME - 3]  # ... and ends at its release
    manifest = notes.manifest
    assert manifest["soundfont"]["sha256"] == sha256_file(tiny_font)
    assert manifest["soundfont"]["name"] == "vaelab test"
    assert manifest["families"]["keyboard"]["preset"] == "Test Piano"
    assert manifest["families"]["bass"]["gm_program"] == 34 and manifest["families"]["bass"]["preset"] == "Test Bass"
    settings = manifest["synthesizer"]["settings"]
    assert settings["synth.reverb.active"] == settings["synth.chorus.active"] == 0
    assert settings["synth.sample-rate"] == 16000 and manifest["synthesizer"]["version"][0].isdigit()
    assert manifest["silent"]["count"] == 0 and manifest["counts"]["notes"] == 6
    assert "Wrote" in capsys.readouterr().out


def test_a_note_does_not_depend_on_the_notes_around_it(fluidsynth, tiny_font: Path, tmp_path: Path):
    """Thanks to the warm-up chord, a note renders the same alone or among others (and so a
    subset renders exactly the notes of the full set)."""
    many = [(48, 40), (60, 120), (55, 80), (60, 80), (72, 120)]
    alone = synthesizer.render_notes(fluidsynth, tiny_font, 0, [(60, 80)], [48, 72], tmp_path)
    among = synthesizer.render_notes(fluidsynth, tiny_font, 0, many, [48, 60, 72], tmp_path)
    assert alone.shape == (1, NOTE_SAMPLES) and among.shape == (5, NOTE_SAMPLES)
    assert np.array_equal(alone[0], among[3])
    assert np.flatnonzero(alone[0])[0] <= 2  # cut at the note's first samples


def test_a_pitch_outside_the_presets_keys_is_left_out_counted_and_listed(
        fluidsynth, tiny_font: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "notes.npz"
    main(out, soundfont=tiny_font, pitches={"keyboard": [40, 60, 80]}, velocities=(40, 120))  # keys 48-72 sound
    notes = load_notes(out)
    assert notes.pitch.tolist() == [60, 60] and notes.velocity.tolist() == [40, 120]
    silent = notes.manifest["silent"]
    assert silent["count"] == 4 and notes.manifest["families"]["keyboard"]["silent"] == 4
    assert [(s["family"], s["pitch"], s["velocity"]) for s in silent["notes"]] == [
        ("keyboard", 40, 40), ("keyboard", 40, 120), ("keyboard", 80, 40), ("keyboard", 80, 120)]
    printed = capsys.readouterr().out
    assert "Left out 4 silent note(s)" in printed and "keyboard 40/v40" in printed and "keyboard 80/v120" in printed


def test_only_silent_notes_is_an_error_and_leaves_no_file(fluidsynth, tiny_font: Path, tmp_path: Path):
    out = tmp_path / "notes.npz"
    with pytest.raises(NotesError, match="every note rendered from .* is silent"):
        main(out, soundfont=tiny_font, pitches={"keyboard": [30, 90]}, velocities=(80,), quiet=True)
    assert list(tmp_path.iterdir()) == [tiny_font]


def test_fluid_r3_renders_a_small_subset_the_same_twice(fluidsynth, fluid_r3: Path, tmp_path: Path):
    subset = {"flute": [72, 74, 76], "keyboard": [57, 60, 64]}
    made = [main(tmp_path / f"{i}.npz", soundfont=fluid_r3, pitches=subset, velocities=(80,), command="test",
                 quiet=True) for i in range(2)]
    assert made[0].read_bytes() == made[1].read_bytes()  # deterministic: no reverb, chorus or dither
    notes = load_notes(made[0])
    assert len(notes) == 6 and notes.manifest["silent"]["count"] == 0
    assert {k: v["preset"] for k, v in notes.manifest["families"].items()} == {
        "flute": "Flute", "keyboard": "Yamaha Grand Piano"}
    for spectrum, pitch in zip(notes.spectra, notes.pitch.tolist()):
        assert f0_error(spectrum, pitch) < 0.03, pitch


def test_a_soundfont_that_fluidsynth_cannot_load_is_an_error_not_silence(fluidsynth, tmp_path: Path):
    """A preset list alone passes the header check; FluidSynth's refusal must still stop the run
    (FluidSynth itself exits with 0 and renders silence)."""
    font = write_soundfont(tmp_path / "broken.sf2", {0: "Test Piano"})
    data = bytearray(font.read_bytes())
    start = data.index(b"smpl")
    data[start:start + 4] = b"smpX"  # the samples' chunk renamed: no sample data
    font.write_bytes(bytes(data))
    with pytest.raises(SynthesizerError, match="FluidSynth failed to render program 1 of .*broken.sf2"):
        main(tmp_path / "notes.npz", soundfont=font, pitches={"keyboard": [60]}, quiet=True)
    assert not (tmp_path / "notes.npz").exists()


# --- bad input, through the command -----------------------------------------------------------

def notes_command(out: Path, *extra: str) -> int:
    return vaelab(["data", "notes", "--out", str(out), *extra])


def test_a_text_file_as_soundfont(tmp_path: Path, capsys: pytest.CaptureFixture):
    text = tmp_path / "font.sf2"
    text.write_text("not a soundfont\n")
    out = tmp_path / "out" / "notes.npz"
    assert_refused(notes_command(out, "--soundfont", str(text)), capsys, out,
                   "not a SoundFont 2 file", "RIFF 'sfbk'", "--soundfont")


def test_a_missing_soundfont(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "notes.npz"
    assert_refused(notes_command(out, "--soundfont", str(tmp_path / "nowhere.sf2")), capsys, out,
                   "nowhere.sf2 does not exist", "--soundfont")


def test_no_fluidsynth_on_path(tiny_font: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                               monkeypatch: pytest.MonkeyPatch):
    """Checked with a soundfont that has every family's program, so that FluidSynth is what is missing."""
    font = write_soundfont(tmp_path / "gm.sf2", {f.program - 1: f.gm_name for f in FAMILIES})
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out = tmp_path / "notes.npz"
    assert_refused(notes_command(out, "--soundfont", str(font)), capsys, out,
                   "fluidsynth program is not on PATH", "apt install fluidsynth", "brew install fluid-synth",
                   "conda install -c conda-forge fluidsynth")


def test_a_family_without_a_preset(tiny_font: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "notes.npz"
    err = assert_refused(notes_command(out, "--soundfont", str(tiny_font)), capsys, out,
                         "has no preset for brass (GM program 57, Trumpet), flute (GM program 74, Flute), "
                         "guitar (GM program 25, Acoustic Guitar (nylon)), vocal (GM program 53, Choir Aahs)",
                         "General MIDI soundfont")
    assert "bass (" not in err and "keyboard (" not in err  # the tiny font has those two


def test_an_output_that_cannot_be_written(tiny_font: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "notes.npz"
    assert_refused(notes_command(out, "--soundfont", str(tiny_font)), capsys, out, "is a file, not a folder")
    taken = tmp_path / "taken.npz"
    taken.write_bytes(b"earlier")
    assert notes_command(taken, "--soundfont", str(tiny_font)) == 2
    assert "already exists; pass --force" in capsys.readouterr().err and taken.read_bytes() == b"earlier"
    wrong = tmp_path / "notes.txt"
    assert_refused(notes_command(wrong, "--soundfont", str(tiny_font)), capsys, wrong, "must end in .npz")


def test_a_negative_seed(tiny_font: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "notes.npz"
    assert_refused(notes_command(out, "--soundfont", str(tiny_font), "--seed", "-1"), capsys, out,
                   "seed must be a whole number >= 0")
