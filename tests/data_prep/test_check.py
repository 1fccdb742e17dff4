"""`data_prep.check`: validation, the summary's numbers and the plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_prep import check
from vaelab_core import spec
from vaelab_core.atomic_files import OutputError
from vaelab_core.datasets import DatasetError, save_dataset

SHAPE = (spec.N_FRAMES, spec.N_FREQ)


def spectrograms(n: int, seed: int = 0, tilt: bool = True) -> np.ndarray:
    """Positive magnitudes whose level falls with frequency, as in speech."""
    rng = np.random.default_rng(seed)
    slope = np.linspace(1.0, 0.01, spec.N_FREQ) if tilt else 1.0
    return (rng.random((n, *SHAPE)) * slope + 1e-3).astype(np.float32)


def manifest(n_train: int, n_eval: int, **changes) -> dict:
    m = {"speaker": "A", "readers": ["A"], "command": "vaelab data build --corpus x --out y",
         "split": {"rule": "by utterance", "eval_fraction": 0.2, "seed": 0},
         "files": [{"path": "A-0-0000.wav", "split": "train", "sequences": n_train},
                   {"path": "A-0-0001.wav", "split": "eval", "sequences": n_eval}],
         "skipped": [{"path": "A-0-0002.wav", "reason": "too short"}]}
    m.update(changes)
    return m


@pytest.fixture
def dataset(tmp_path):
    return save_dataset(tmp_path / "a.npz", spectrograms(6), spectrograms(2, seed=1), manifest(6, 2))


def test_the_summary_reports_sizes_levels_and_the_manifest(dataset, capsys):
    summary = check.main(dataset)
    assert summary["train"]["shape"] == [6, 150, 257] and summary["eval"]["shape"] == [2, 150, 257]
    assert summary["train"]["dtype"] == "float32"
    assert summary["minutes"] == pytest.approx(8 * spec.SEQUENCE_SAMPLES / spec.SAMPLE_RATE / 60, abs=1e-3)
    assert all(summary[p][k] == 0 for p in ("train", "eval") for k in ("nan", "inf", "negative", "silent_frames"))
    assert summary["speaker"] == "A" and summary["readers"] == ["A"]
    assert summary["files"] == "2 used (1 train, 1 eval), 1 skipped"
    # the level falls with frequency: loudest at the bottom, quietest at the top
    assert summary["level_db"]["max_hz"] < 200 and summary["level_db"]["min_hz"] > 7000
    assert summary["level_db"]["max"] - summary["level_db"]["min"] == pytest.approx(40, abs=3)
    printed = capsys.readouterr().out
    assert "speaker   A" in printed and "train" in printed and "(6, 150, 257)" in printed
    assert "mean level per bin" in printed


def test_silent_frames_are_counted(tmp_path):
    train = spectrograms(4)
    train[0, :30] = 0.0  # 30 digitally silent frames
    train[1, :10] *= 1e-4  # 10 frames 80 dB down
    path = save_dataset(tmp_path / "s.npz", train, spectrograms(1), manifest(4, 1))
    summary = check.main(path)
    assert summary["train"]["silent_frames"] == 40
    assert summary["train"]["silent_fraction"] == pytest.approx(40 / 600, abs=1e-4)
    assert summary["eval"]["silent_frames"] == 0


def test_the_plot_is_a_png_written_atomically(dataset, tmp_path, capsys):
    plot = tmp_path / "plots" / "a.png"
    summary = check.main(dataset, plot=plot)
    assert summary["plot"] == str(plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    assert [p.name for p in plot.parent.iterdir()] == ["a.png"]  # no partial file left
    check.main(dataset, plot=plot)  # a plot is a view: drawing it again replaces it
    assert f"wrote {plot}" in capsys.readouterr().out


def test_the_plot_wants_a_png_name_and_a_writable_place(dataset, tmp_path):
    with pytest.raises(DatasetError, match="ending in .png"):
        check.main(dataset, plot=tmp_path / "a.jpg")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError):
        check.main(dataset, plot=tmp_path / "file" / "a.png")


def test_a_missing_or_broken_dataset_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset file"):
        check.main(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DatasetError, match="cannot read it as a dataset"):
        check.main(tmp_path / "text.npz")


def test_an_utterance_on_both_sides_is_refused(tmp_path):
    m = manifest(3, 1)
    m["files"][1]["path"] = m["files"][0]["path"]
    path = save_dataset(tmp_path / "leak.npz", spectrograms(3), spectrograms(1), m)
    with pytest.raises(DatasetError, match="1 utterance\\(s\\) are on both sides.*A-0-0000.wav"):
        check.main(path)


def test_counts_that_disagree_with_the_manifest_are_refused(tmp_path):
    path = save_dataset(tmp_path / "edited.npz", spectrograms(3), spectrograms(1), manifest(5, 1))
    with pytest.raises(DatasetError, match="lists 5 train / 1 eval sequences but the arrays hold 3 / 1"):
        check.main(path)


def test_a_manifest_without_a_file_list_is_accepted(tmp_path, capsys):
    path = save_dataset(tmp_path / "bare.npz", spectrograms(2), spectrograms(1), {"speaker": "B"})
    summary = check.main(path)
    assert summary["speaker"] == "B" and summary["files"] == "not listed in the manifest"
    assert json.loads(json.dumps(summary)) == summary  # plain data, ready for a report
