"""Every bad input to `vaelab data build` / `vaelab data check`, through the real command.

A user's mistake must end in exit status 2 with one message naming the path, the problem and the
fix, and must leave no output file behind. Conversions (other rates, stereo) are not mistakes:
they are done and reported.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from pathlib import Path
import soundfile

from vaelab_core import spec
from vaelab_core.cli import main as vaelab

RATE = spec.SAMPLE_RATE


def voice(seconds: float, f0: float = 140.0, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Harmonics of a wobbling f0 under a syllable-rate envelope, plus noise; float32, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 16)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    x = x + 0.02 * rng.standard_normal(t.size)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def write(path, data, rate: int = RATE):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, data, rate)
    return path


def good_reader(root, reader: str = "A", n: int = 3, seconds: float = 5.5):
    return [write(root / reader / f"{reader}-1-{k:04d}.wav", voice(seconds, seed=k)) for k in range(n)]


def build(corpus, out, *extra) -> int:
    return vaelab(["data", "build", "--corpus", str(corpus), "--out", str(out), *extra])


def assert_refused(code: int, capsys, *phrases: str, out=None) -> str:
    """Exit 2, an error line holding every phrase, and (when given) no file at `out`."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "vaelab: error:" in err and "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, f"{phrase!r} not in {err!r}"
    if out is not None:
        assert not out.exists()
        if out.parent.exists():
            assert [p.name for p in out.parent.iterdir() if "partial" in p.name] == []
    return err


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out" / "set.npz"


def test_a_good_corpus_builds_and_checks(tmp_path, out, capsys):
    good_reader(tmp_path / "corpus")
    assert build(tmp_path / "corpus", out) == 0
    assert out.is_file()
    assert "Wrote" in capsys.readouterr().out
    assert vaelab(["data", "check", str(out)]) == 0
    printed = capsys.readouterr().out  # 3 files x 2 sequences; one file (2 sequences) held out
    assert "(4, 150, 257)" in printed and "(2, 150, 257)" in printed


def test_a_missing_corpus(tmp_path, out, capsys):
    code = build(tmp_path / "nowhere", out)
    assert_refused(code, capsys, "nowhere: no such folder", out=out)


def test_a_corpus_that_is_a_file(tmp_path, out, capsys):
    file = write(tmp_path / "one.wav", voice(5.0))
    assert_refused(build(file, out), capsys, "one.wav is a file, not a folder", out=out)


def test_an_empty_corpus(tmp_path, out, capsys):
    (tmp_path / "empty").mkdir()
    assert_refused(build(tmp_path / "empty", out), capsys, "no audio files found", "it is empty", out=out)


def test_a_corpus_of_transcripts_only(tmp_path, out, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "1-1.trans.txt").write_text("HELLO\n")
    assert_refused(build(tmp_path / "c", out), capsys, "no audio files found", "1-1.trans.txt", out=out)


def test_an_unknown_speaker_lists_the_ids_found(tmp_path, out, capsys):
    good_reader(tmp_path / "c", "1998", n=2)
    good_reader(tmp_path / "c", "367", n=2)
    assert_refused(build(tmp_path / "c", out, "--speaker", "1989"), capsys,
                   "no recordings of speaker '1989'", "found (2): 367, 1998", out=out)


def test_corrupt_and_truncated_files_are_skipped_and_reported(tmp_path, out, capsys):
    corpus = tmp_path / "c"
    good_reader(corpus, n=3)
    (corpus / "A" / "A-1-0100.wav").write_text("this is a transcript, not audio\n" * 10)
    whole = write(corpus / "A" / "A-1-0101.flac", voice(5.0, seed=9)).read_bytes()
    (corpus / "A" / "A-1-0101.flac").write_bytes(whole[: len(whole) // 2])
    whole = write(corpus / "A" / "A-1-0102.wav", voice(5.0, seed=9)).read_bytes()
    (corpus / "A" / "A-1-0102.wav").write_bytes(whole[: len(whole) // 2])
    assert build(corpus, out) == 0
    printed = capsys.readouterr().out
    assert "Skipped 3 of 6 files" in printed
    assert "A/A-1-0100.wav: cannot decode" in printed
    assert "A/A-1-0101.flac: cannot decode" in printed
    assert "A/A-1-0102.wav: the file is truncated" in printed
    assert "used 3" in printed


def test_nothing_but_damaged_files_is_an_error(tmp_path, out, capsys):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "fake.wav").write_text("not audio")
    (corpus / "empty.flac").write_bytes(b"")
    assert_refused(build(corpus, out), capsys, "none of the 2 audio files could be decoded", "empty.flac",
                   "Re-export", out=out)


def test_every_file_shorter_than_one_sequence(tmp_path, out, capsys):
    corpus = tmp_path / "c"
    for k in range(3):
        write(corpus / f"A-1-{k:04d}.wav", voice(2.0, seed=k))
    assert_refused(build(corpus, out), capsys, "every recording is shorter than one sequence",
                   "38,144 samples = 2.38 s", out=out)


def test_only_silence(tmp_path, out, capsys):
    corpus = tmp_path / "c"
    for k in range(2):
        write(corpus / f"quiet {k}.wav", np.zeros(5 * RATE, np.float32))
    assert_refused(build(corpus, out), capsys, "only silence", out=out)


def test_a_single_usable_recording_cannot_make_an_eval_part(tmp_path, out, capsys):
    corpus = tmp_path / "c"
    good_reader(corpus, n=1)
    write(corpus / "A" / "A-1-0009.wav", voice(1.0))  # too short to count
    assert_refused(build(corpus, out), capsys, "only one usable recording (A/A-1-0000.wav)",
                   "second recording", out=out)


def test_an_existing_output_is_refused_before_any_work_unless_forced(tmp_path, out, capsys):
    good_reader(tmp_path / "c")
    out.parent.mkdir()
    out.write_bytes(b"precious")
    assert_refused(build(tmp_path / "c", out), capsys, "already exists", "--force")
    assert out.read_bytes() == b"precious"
    assert "Reading" not in capsys.readouterr().out  # refused before reading anything
    assert build(tmp_path / "c", out, "--force") == 0
    assert out.read_bytes()[:2] == b"PK"


def test_an_output_under_a_regular_file(tmp_path, capsys):
    good_reader(tmp_path / "c")
    (tmp_path / "notes.txt").write_text("")
    for out in (tmp_path / "notes.txt" / "set.npz", tmp_path / "notes.txt" / "sub" / "set.npz"):
        assert_refused(build(tmp_path / "c", out), capsys, "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == ""


def test_an_output_folder_that_is_read_only(tmp_path, capsys):
    good_reader(tmp_path / "c")
    if os.geteuid() == 0:  # permissions do not stop root; /proc refuses new files even to root
        assert_refused(build(tmp_path / "c", Path("/proc/vaelab-set.npz")), capsys, "cannot write",
                       out=Path("/proc/vaelab-set.npz"))
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert_refused(build(tmp_path / "c", locked / "set.npz"), capsys, "permission denied",
                       out=locked / "set.npz")
    finally:
        locked.chmod(0o755)


def test_an_output_that_is_a_folder_or_not_npz(tmp_path, capsys):
    good_reader(tmp_path / "c")
    (tmp_path / "dir.npz").mkdir()
    assert_refused(build(tmp_path / "c", tmp_path / "dir.npz", "--force"), capsys, "is a folder")
    assert_refused(build(tmp_path / "c", tmp_path / "set.npy"), capsys, "must end in .npz",
                   out=tmp_path / "set.npy")


@pytest.mark.parametrize("fraction", ["0", "1", "-0.2", "1.5"])
def test_an_eval_fraction_outside_0_1(tmp_path, out, capsys, fraction):
    good_reader(tmp_path / "c")
    assert_refused(build(tmp_path / "c", out, "--eval-fraction", fraction), capsys,
                   "strictly between 0 and 1", out=out)


def test_other_rates_and_stereo_are_converted_and_reported(tmp_path, out, capsys):
    corpus = tmp_path / "c"
    for k in range(3):
        x = voice(5.5, seed=k, rate=44_100)
        write(corpus / f"take{k}.flac", np.stack([x, x], axis=1), rate=44_100)
    write(corpus / "take9.wav", voice(5.5, seed=9, rate=8_000), rate=8_000)
    assert build(corpus, out, "--speaker", "Speaker A") == 0
    printed = capsys.readouterr().out
    assert "Converted: 1 file resampled from 8000 Hz, 3 files resampled from 44100 Hz, " \
           "3 stereo files mixed to mono" in printed
    assert out.is_file()


def test_check_refuses_a_missing_or_damaged_dataset(tmp_path, capsys):
    assert_refused(vaelab(["data", "check", str(tmp_path / "none.npz")]), capsys, "no such dataset file")
    (tmp_path / "bad.npz").write_text("not a dataset")
    assert_refused(vaelab(["data", "check", str(tmp_path / "bad.npz")]), capsys,
                   "cannot read it as a dataset")


def test_check_draws_a_plot(tmp_path, out, capsys):
    good_reader(tmp_path / "c")
    assert build(tmp_path / "c", out) == 0
    plot = tmp_path / "plot.png"
    assert vaelab(["data", "check", str(out), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.speech
def test_a_real_reader_through_the_command(speech_dir, tmp_path, out, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(speech_dir / "test-other" / "2033", corpus / "2033")
    assert build(corpus, out, "--speaker", "2033") == 0
    printed = capsys.readouterr().out
    assert "Read 10 files" in printed and "from 1 reader(s): 2033" in printed
