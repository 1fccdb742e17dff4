"""`data_prep.build`: recordings -> dataset, on synthetic voices written here and on real speech.

The bad inputs, through the real `vaelab` command, are in test_cli.py.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile
import torch

from data_prep import build
from data_prep.build import FileResult, split_by_utterance
from data_prep.corpus import Recording
from data_prep.preprocess import SILENCE_DB, wave_to_sequences
from vaelab_core import spec
from vaelab_core.audio import read_audio
from vaelab_core.datasets import load_dataset
from vaelab_core.provenance import package_versions

RATE = spec.SAMPLE_RATE


def voice(seconds: float, f0: float, seed: int, rate: int = RATE) -> np.ndarray:
    """A vowel-like test signal: harmonics of a wobbling f0, a syllable-rate envelope, some noise,
    and 0.2 s of silence at each end. float32, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 16)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    x = x + 0.02 * rng.standard_normal(t.size)
    x[: int(0.2 * rate)] = 0
    x[-int(0.2 * rate):] = 0
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def write_reader(folder, reader: str, n_files: int, seconds: float = 5.5, f0: float = 120.0,
                 rate: int = RATE, channels: int = 1) -> list:
    """n_files LibriSpeech-style recordings READER/READER-7-000k.wav; 5.5 s gives 2 sequences each."""
    paths = []
    for k in range(n_files):
        x = voice(seconds, f0 * (1 + 0.03 * k), seed=k + 100 * sum(map(ord, reader)), rate=rate)
        data = np.stack([x, 0.5 * x], axis=1) if channels == 2 else x
        path = folder / reader / f"{reader}-7-{k:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, data, rate)
        paths.append(path)
    return paths


@pytest.fixture
def corpus(tmp_path):
    """Two readers, five 5.5 s recordings each: 10 utterances, 20 sequences."""
    root = tmp_path / "corpus"
    write_reader(root, "A", 5, f0=110.0)
    write_reader(root, "B", 5, f0=210.0)
    (root / "A" / "A-7.trans.txt").write_text("transcripts are ignored\n")
    return root


def test_a_two_reader_corpus_gives_the_expected_counts(corpus, tmp_path, capsys):
    out = build.main(corpus, tmp_path / "out" / "ab.npz")
    assert out == tmp_path / "out" / "ab.npz"
    data = load_dataset(out)
    m = data.manifest
    assert m["speaker"] == "all" and m["readers"] == ["A", "B"]
    assert m["counts"]["files_used"] == 10 and m["counts"]["files_skipped"] == 0
    assert len(data.train) + len(data.eval) == 20
    # 0.2 of each reader's five utterances: one each
    assert m["counts"]["files_eval"] == 2 and len(data.eval) == 4 and len(data.train) == 16
    printed = capsys.readouterr().out
    assert "Read 10 files" in printed and "train 8 files / 16 sequences" in printed
    assert "eval 2 files / 4 sequences" in printed


def test_the_split_is_by_utterance_and_every_reader_has_eval_material(corpus, tmp_path):
    data = load_dataset(build.main(corpus, tmp_path / "ab.npz", quiet=True))
    files = data.manifest["files"]
    eval_files = [f for f in files if f["split"] == "eval"]
    assert {f["reader"] for f in eval_files} == {"A", "B"}
    assert {f["reader"] for f in files if f["split"] == "train"} == {"A", "B"}
    # The arrays are exactly the files' own sequences, side by side: no chunk of an eval
    # utterance is in train (an independent recomputation, file by file).
    for side, array in (("train", data.train), ("eval", data.eval)):
        expected = torch.cat([wave_to_sequences(read_audio(corpus / f["path"])[0])
                              for f in files if f["split"] == side])
        assert torch.equal(array, expected)


def test_rebuilding_gives_identical_bytes(corpus, tmp_path):
    first = build.main(corpus, tmp_path / "one.npz", command="same", quiet=True).read_bytes()
    second = build.main(corpus, tmp_path / "two.npz", command="same", quiet=True).read_bytes()
    build.main(corpus, tmp_path / "one.npz", command="same", force=True, quiet=True)
    assert first == second == (tmp_path / "one.npz").read_bytes()


def test_the_seed_chooses_the_eval_utterances(corpus, tmp_path):
    def eval_files(seed):
        m = load_dataset(build.main(corpus, tmp_path / f"s{seed}.npz", seed=seed, force=True, quiet=True)).manifest
        return sorted(f["path"] for f in m["files"] if f["split"] == "eval")

    assert eval_files(0) == eval_files(0)
    assert len({tuple(eval_files(s)) for s in (0, 1, 2)}) > 1


def test_the_manifest_records_sources_parameters_and_provenance(corpus, tmp_path):
    m = load_dataset(build.main(corpus, tmp_path / "ab.npz", eval_fraction=0.4, seed=3,
                                command="vaelab data build ...", quiet=True)).manifest
    source = corpus / m["files"][0]["path"]
    assert m["files"][0]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert m["files"][0]["seconds"] == pytest.approx(5.5)
    assert m["files"][0]["sequences"] == 2
    p = m["preprocessing"]
    assert (p["sample_rate"], p["n_fft"], p["hop_length"], p["n_frames"], p["n_freq"]) == \
        (spec.SAMPLE_RATE, spec.N_FFT, spec.HOP_LENGTH, spec.N_FRAMES, spec.N_FREQ)
    assert (p["window"], p["center"], p["pad_mode"], p["sequence_samples"], p["silence_trim_db"]) == \
        (spec.WINDOW, spec.CENTER, spec.PAD_MODE, spec.SEQUENCE_SAMPLES, SILENCE_DB)
    assert "peak_normalisation" in p
    assert m["split"] == {"rule": "by utterance", "eval_fraction": 0.4, "seed": 3, "per_reader": True}
    assert m["counts"]["minutes_read"] == pytest.approx(10 * 5.5 / 60, abs=1e-3)
    # 20 sequences of 38,144 samples at 16 kHz (2.384 s each), an oracle independent of spec.
    assert m["counts"]["minutes_in_sequences"] == pytest.approx(20 * 38_144 / 16_000 / 60, abs=1e-3)
    # The package versions at the manifest's top level, the same keys as in checkpoints.
    assert {k: m[k] for k in package_versions()} == package_versions()
    assert {"vaelab", "torch", "torchaudio", "numpy", "soundfile", "python"} <= set(m)
    assert m["command"] == "vaelab data build ..."
    assert not any(word in json.dumps(m).lower() for word in ("timestamp", "created_at", "date"))


@pytest.mark.parametrize("out, fraction, words", [
    ("set.npy", 0.2, "must end in .npz"),
    ("set.npz", 1.0, "strictly between 0 and 1"),
])
def test_bad_options_are_refused_before_any_file_is_read(corpus, tmp_path, monkeypatch, out, fraction, words):
    def no_decoding(recording):
        raise AssertionError(f"{recording.relative} was read before the options were checked")

    monkeypatch.setattr(build, "process_file", no_decoding)
    with pytest.raises(build.BuildError, match=words):
        build.main(corpus, tmp_path / out, eval_fraction=fraction, quiet=True)
    assert not (tmp_path / out).exists()


def test_one_speaker_is_chosen_by_its_id(corpus, tmp_path):
    data = load_dataset(build.main(corpus, tmp_path / "b.npz", speaker="B", quiet=True))
    assert data.manifest["speaker"] == "B" and data.manifest["readers"] == ["B"]
    assert {f["path"].split("/")[0] for f in data.manifest["files"]} == {"B"}
    assert len(data.train) + len(data.eval) == 10


def test_a_plain_folder_is_named_by_speaker(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for k in range(3):
        soundfile.write(folder / f"take {k}.wav", voice(5.5, 150.0 + 10 * k, seed=k), RATE)
    data = load_dataset(build.main(folder, tmp_path / "mine.npz", speaker="Speaker A", quiet=True))
    assert data.manifest["speaker"] == "Speaker A" and data.manifest["readers"] == ["Speaker A"]
    assert data.manifest["counts"]["files_eval"] == 1  # round(3 * 0.2) = 1: at least one


def test_other_rates_and_stereo_are_converted_and_reported(tmp_path, capsys):
    root = tmp_path / "corpus"
    write_reader(root, "C", 3, rate=44_100, channels=2)
    write_reader(root, "D", 2, rate=22_050)
    data = load_dataset(build.main(root, tmp_path / "cd.npz"))
    printed = capsys.readouterr().out
    assert "3 files resampled from 44100 Hz" in printed
    assert "2 files resampled from 22050 Hz" in printed
    assert "3 stereo files mixed to mono" in printed
    files = {f["path"]: f for f in data.manifest["files"]}
    assert files["C/C-7-0000.wav"]["sample_rate"] == 44_100 and files["C/C-7-0000.wav"]["channels"] == 2
    assert len(data.train) + len(data.eval) == 10


def test_quiet_prints_nothing(corpus, tmp_path, capsys):
    build.main(corpus, tmp_path / "ab.npz", quiet=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_damaged_file_is_skipped_and_recorded(corpus, tmp_path, capsys):
    (corpus / "B" / "B-7-0009.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    m = load_dataset(build.main(corpus, tmp_path / "ab.npz")).manifest
    assert [s["path"] for s in m["skipped"]] == ["B/B-7-0009.wav"]
    assert "cannot decode" in m["skipped"][0]["reason"]
    assert "B/B-7-0009.wav: cannot decode" in capsys.readouterr().out
    assert m["counts"]["files_used"] == 10


def result(reader: str, name: str) -> FileResult:
    recording = Recording(path=None, relative=f"{reader}/{name}", reader=reader)
    return FileResult(recording, "0" * 64, np.zeros((1, spec.N_FRAMES, spec.N_FREQ), np.float32))


@pytest.mark.parametrize("seed", range(5))
def test_split_rules(seed):
    # reader with 2 -> 1/1; reader with 10 -> 2 eval; three single-utterance readers pooled
    usable = ([result("two", f"{k}.wav") for k in range(2)] + [result("ten", f"{k}.wav") for k in range(10)]
              + [result(r, "0.wav") for r in ("s1", "s2", "s3")])
    side = split_by_utterance(usable, 0.2, seed)
    assert sorted(side) == sorted(r.recording.relative for r in usable)
    assert sorted(side[f"two/{k}.wav"] for k in range(2)) == ["eval", "train"]
    assert sum(side[f"ten/{k}.wav"] == "eval" for k in range(10)) == 2
    assert sum(side[f"{r}/0.wav"] == "eval" for r in ("s1", "s2", "s3")) == 1  # round(0.6), both sides


def test_two_utterances_always_give_one_on_each_side():
    for fraction in (0.01, 0.5, 0.99):
        for usable in ([result("a", "0.wav"), result("a", "1.wav")], [result("a", "0.wav"), result("b", "0.wav")]):
            assert sorted(split_by_utterance(usable, fraction, 0).values()) == ["eval", "train"]


@pytest.mark.speech
@pytest.mark.parametrize("reader", ["1998", "2033"])
def test_real_readers_give_at_least_20_sequences(speech_dir, tmp_path, reader):
    data = load_dataset(build.main(speech_dir / "test-other", tmp_path / f"{reader}.npz", speaker=reader,
                                   quiet=True))
    assert len(data.train) + len(data.eval) >= 20
    assert len(data.eval) >= 1 and data.manifest["readers"] == [reader]
    assert data.manifest["counts"]["files_used"] == 10


def test_listening_examples_are_the_audio_of_the_first_eval_sequences(corpus, tmp_path):
    """The stored waveforms give back eval[:K] through the lab's STFT, so iSTFT with their
    phase plays exactly what the model sees."""
    from vaelab_core.audio import magnitude_spectrogram

    data = load_dataset(build.main(corpus, tmp_path / "set.npz", quiet=True))
    assert data.examples is not None and 1 <= len(data.examples) <= 2
    assert torch.allclose(magnitude_spectrogram(data.examples), data.eval[:len(data.examples)], atol=1e-4)
