"""Tests of data_prep.defaults: synth -> build -> load_dataset, once, then reused; the same for
the built-in notes (data_prep.notes.synthetic -> load_notes).

These run the real `data_prep.build` (the same pipeline a TA runs on recordings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_prep import defaults
from vaelab_core import spec
from vaelab_core.datasets import default_speaker_path, load_dataset, save_dataset
from vaelab_core.notes import default_notes_path, load_notes


def file_bytes(paths) -> list[bytes]:
    return [Path(p).read_bytes() for p in paths]


def test_paths_under_a_given_home() -> None:
    assert defaults.dataset_paths("/x") == {"A": Path("/x/datasets/speaker_A.npz"),
                                            "B": Path("/x/datasets/speaker_B.npz")}


def test_paths_without_a_home_are_the_notebooks_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAELAB_HOME", str(tmp_path))
    assert defaults.dataset_paths() == {s: tmp_path / "datasets" / f"speaker_{s}.npz" for s in "AB"}
    assert defaults.dataset_paths() == {s: default_speaker_path(s) for s in "AB"}


def test_the_builtin_notes_are_made_once_beside_the_speakers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Speakers already there (tiny stand-ins, so that only the notes are made): the notes are
    synthesised, recorded as made by `vaelab data defaults`, and kept by the next run."""
    empty = np.zeros((2, spec.N_FRAMES, spec.N_FREQ), dtype=np.float32)
    for speaker, path in defaults.dataset_paths(tmp_path).items():
        save_dataset(path, empty, empty[:1], {"speaker": speaker})
    speakers = [p.read_bytes() for p in defaults.dataset_paths(tmp_path).values()]

    defaults.main(tmp_path)
    notes_path = default_notes_path(tmp_path)
    notes = load_notes(notes_path)
    assert notes.source == "builtin" and notes.manifest["command"] == defaults.COMMAND
    assert notes.manifest["synthesis"]["seed"] == defaults.SEED and len(notes.split("eval")) > 0
    printed = capsys.readouterr().out
    assert "Notes:" in printed and "made" in printed and "Speaker A:" in printed
    assert [p.read_bytes() for p in defaults.dataset_paths(tmp_path).values()] == speakers

    before, mtime = notes_path.read_bytes(), notes_path.stat().st_mtime_ns
    defaults.main(tmp_path)
    assert "nothing to do" in capsys.readouterr().out
    assert notes_path.read_bytes() == before and notes_path.stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_first_use_builds_the_lab_defaults_and_later_uses_reuse_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("VAELAB_HOME", str(tmp_path / "home"))
    paths = defaults.main()
    assert paths == (default_speaker_path("A"), default_speaker_path("B"))
    assert "Speaker A:" in capsys.readouterr().out

    for speaker, path in zip("AB", paths):
        dataset = load_dataset(path)
        assert dataset.train.shape[1:] == dataset.eval.shape[1:] == (spec.N_FRAMES, spec.N_FREQ)
        assert len(dataset.train) >= 20 and len(dataset.eval) >= 4
        # Train and eval come from different utterances (whole files), never from one file.
        files = dataset.manifest["files"]
        sides = {f["path"]: f["split"] for f in files}
        assert {"train", "eval"} == set(sides.values())
        assert all(Path(p).name.startswith(f"{speaker}-0-") for p in sides)
        assert sum(f["sequences"] for f in files if f["split"] == "eval") == len(dataset.eval)

    assert load_notes(default_notes_path()).source == "builtin"  # the synthesizer lab's notes too

    # Second use: nothing is rebuilt, nothing changes.
    files = [*paths, default_notes_path()]
    before = file_bytes(files)
    mtimes = [p.stat().st_mtime_ns for p in files]
    assert defaults.main() == paths
    assert "nothing to do" in capsys.readouterr().out
    assert file_bytes(files) == before and [p.stat().st_mtime_ns for p in files] == mtimes

    # A lost or damaged file is made again, byte for byte the same; the other one is kept.
    paths[1].unlink()
    paths[0].write_bytes(b"not a dataset")
    files[2].write_bytes(b"not a note file")
    defaults.main()
    assert file_bytes(files) == before


@pytest.mark.slow
def test_an_interrupted_run_is_finished_by_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "MINUTES", 0.5)  # small speakers: this is about the control flow
    real_build = defaults.build.main

    def build_a_then_interrupt(corpus, out, speaker=None, **kwargs):
        if speaker == "B":
            raise KeyboardInterrupt
        return real_build(corpus, out, speaker=speaker, **kwargs)

    monkeypatch.setattr(defaults.build, "main", build_a_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        defaults.main(tmp_path)
    datasets = tmp_path / "datasets"
    assert sorted(p.name for p in datasets.iterdir()) == ["speaker_A.npz"], "no partial file is left"
    a_bytes = (datasets / "speaker_A.npz").read_bytes()

    monkeypatch.setattr(defaults.build, "main", real_build)
    a, b = defaults.main(tmp_path)
    assert a.read_bytes() == a_bytes and load_dataset(b).eval.shape[1:] == (spec.N_FRAMES, spec.N_FREQ)
