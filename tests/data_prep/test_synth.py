"""Tests of data_prep.synth: determinism, file layout and labels, and that the voices really are
source-filter speech with the pitch and formants they are meant to have, measured on the audio
itself (autocorrelation pitch, LPC formants) rather than trusted from the labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from data_prep import synth
from vaelab_core import spec
from vaelab_core.atomic_files import OutputError
from vaelab_core.audio import magnitude_spectrogram
from vaelab_core.errors import VaelabError

SR = spec.SAMPLE_RATE


def all_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus_ab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half a minute each of A and B (3 utterances per voice), made once for the module."""
    out = tmp_path_factory.mktemp("synth") / "ab"
    synth.main(out, speakers=["A", "B"], minutes=0.5, seed=0)
    return out


# --- Oracles: estimates from the audio alone ---------------------------------------------------

def autocorrelation_f0(wave: np.ndarray, centres: np.ndarray, size: int = 1024) -> np.ndarray:
    """Pitch at each centre sample: the lag of the autocorrelation peak between 60 and 400 Hz."""
    estimates = []
    for c in centres:
        segment = wave[c - size // 2: c + size // 2]
        if c < size // 2 or len(segment) < size:
            continue
        segment = (segment - segment.mean()) * np.hanning(size)
        ac = np.fft.irfft(np.abs(np.fft.rfft(segment, 2 * size)) ** 2)[:size]
        low, high = SR // 400, SR // 60
        estimates.append(SR / (low + np.argmax(ac[low:high])))
    return np.array(estimates)


def lpc_f1_f2(wave: np.ndarray, centres: np.ndarray, order: int = 14, size: int = 512) -> np.ndarray:
    """(n, 2) lowest two resonances of an order-14 LPC fit (autocorrelation method, Levinson)."""
    estimates = []
    for c in centres:
        segment = wave[c - size // 2: c + size // 2]
        if c < size // 2 or len(segment) < size:
            continue
        segment = np.append(segment[0], segment[1:] - 0.97 * segment[:-1]) * np.hamming(size)
        r = np.correlate(segment, segment, "full")[size - 1: size + order]
        a, error = np.zeros(order + 1), r[0]
        a[0] = 1.0
        for i in range(1, order + 1):
            k = -(r[i] + a[1:i] @ r[i - 1:0:-1]) / error
            a[1:i + 1] += k * np.concatenate([a[i - 1:0:-1], [1.0]])
            error *= 1 - k * k
        roots = np.roots(a)
        roots = roots[np.imag(roots) > 0]
        freqs = np.angle(roots) * SR / (2 * np.pi)
        bandwidths = -np.log(np.abs(roots)) * SR / np.pi
        freqs = np.sort(freqs[(freqs > 200) & (bandwidths < 500)])
        if len(freqs) >= 2:
            estimates.append(freqs[:2])
    return np.array(estimates)


def measure_voice(folder: Path) -> dict[str, np.ndarray]:
    """Measured and labelled pitch and F1/F2 over the voiced frames of every file of a voice."""
    measured_f0, label_f0, measured_f, label_f = [], [], [], []
    for wav in sorted(folder.glob("*.wav")):
        wave, _ = soundfile.read(wav, dtype="float64")
        labels = np.load(wav.with_name(wav.stem + ".labels.npz"))
        voiced = np.flatnonzero(labels["voiced"])[2:-2]  # away from the file's edges
        centres = voiced * spec.HOP_LENGTH
        measured_f0.append(autocorrelation_f0(wave, centres))
        label_f0.append(labels["f0_hz"][voiced])
        measured_f.append(lpc_f1_f2(wave, centres))
        label_f.append(labels["formants_hz"][voiced, :2])
    return {"f0": np.concatenate(measured_f0), "f0_label": np.concatenate(label_f0),
            "f12": np.concatenate(measured_f), "f12_label": np.concatenate(label_f)}


# --- Determinism -------------------------------------------------------------------------------

def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("first", 3), ("again", 3), ("other", 4)):
        synth.main(tmp_path / name, speakers=["B"], minutes=0.25, seed=seed)
    first, again, other = (all_bytes(tmp_path / n) for n in ("first", "again", "other"))
    assert first == again, "the same seed must give byte-identical files"
    assert first.keys() == other.keys()
    assert first["B/B-0-0000.wav"] != other["B/B-0-0000.wav"], "another seed must give other audio"


def test_a_voice_does_not_depend_on_the_other_voices_of_the_run(tmp_path: Path, corpus_ab: Path) -> None:
    synth.main(tmp_path / "a_alone", speakers=["A"], minutes=0.5, seed=0)
    alone = all_bytes(tmp_path / "a_alone" / "A")
    assert alone == all_bytes(corpus_ab / "A")


# --- Layout, audio format and labels ------------------------------------------------------------

def test_layout_manifest_and_label_shapes(corpus_ab: Path) -> None:
    manifest = json.loads((corpus_ab / "synth_manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["minutes_per_voice"] == 0.5
    assert [v["name"] for v in manifest["voices"]] == ["A", "B"]
    for voice in ("A", "B"):
        wavs = sorted((corpus_ab / voice).glob("*.wav"))
        assert [w.name for w in wavs] == [f"{voice}-0-{k:04d}.wav" for k in range(3)]
        total = 0
        for wav in wavs:
            info = soundfile.info(str(wav))
            assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
            total += info.frames
            with np.load(wav.with_name(wav.stem + ".labels.npz"), allow_pickle=False) as labels:
                frames = 1 + info.frames // spec.HOP_LENGTH  # the lab's centred STFT
                assert labels["f0_hz"].shape == (frames,) and labels["f0_hz"].dtype == np.float32
                assert labels["formants_hz"].shape == (frames, 4)
                assert labels["voiced"].shape == (frames,) and labels["voiced"].dtype == bool
                assert np.all(labels["f0_hz"][~labels["voiced"]] == 0)
                assert np.all(np.diff(labels["formants_hz"], axis=1) > 0), "F1 < F2 < F3 < F4"
                assert 0.3 < labels["voiced"].mean() < 0.9, "speech has voiced and unvoiced frames"
        assert total == round(0.5 * 60 * SR), "a voice's utterances add up to the minutes asked"
    listed = {f["audio"] for f in manifest["files"]} | {f["labels"] for f in manifest["files"]}
    assert listed == set(all_bytes(corpus_ab)) - {"synth_manifest.json"}


def test_two_minutes_give_about_eleven_utterances_of_eight_to_fifteen_seconds() -> None:
    lengths = np.array(synth.utterance_lengths(2.0, 0, synth.BUILT_IN["A"])) / SR
    assert len(lengths) >= 10
    assert lengths.sum() == pytest.approx(120.0)
    assert lengths.min() > 7.0 and lengths.max() < 16.0


def test_no_frame_is_digital_silence_and_the_noise_floor_is_low(corpus_ab: Path) -> None:
    wave, _ = soundfile.read(corpus_ab / "A" / "A-0-0000.wav", dtype="float32")
    frame_energy = magnitude_spectrogram(torch.from_numpy(wave)).pow(2).sum(dim=1)
    assert frame_energy.min() > 0
    # The quietest frames (pauses) are about 60 dB below the loudest ones, not 20.
    level_db = 10 * torch.log10(frame_energy)
    assert level_db.max() - level_db.min() > 40


# --- It sounds like the voices it claims to be ----------------------------------------------------

def test_a_and_b_differ_in_measured_pitch_and_formants(corpus_ab: Path) -> None:
    a, b = measure_voice(corpus_ab / "A"), measure_voice(corpus_ab / "B")
    f0_a, f0_b = np.median(a["f0"]), np.median(b["f0"])
    assert 85 <= f0_a <= 150, f"A should be a low voice (85-150 Hz), measured {f0_a:.0f} Hz"
    assert 180 <= f0_b <= 300, f"B should be a high voice (180-300 Hz), measured {f0_b:.0f} Hz"
    assert f0_b > 1.5 * f0_a
    f_a, f_b = np.median(a["f12"], axis=0), np.median(b["f12"], axis=0)
    assert f_b[0] > 1.1 * f_a[0] and f_b[1] > 1.1 * f_a[1], (
        f"B's shorter tract should raise F1 and F2: A {f_a.round()}, B {f_b.round()} Hz")


@pytest.mark.parametrize("voice", ["A", "B"])
def test_labels_agree_with_the_audio(corpus_ab: Path, voice: str) -> None:
    m = measure_voice(corpus_ab / voice)
    f0_error = np.abs(m["f0"] - m["f0_label"]) / m["f0_label"]
    assert np.median(f0_error) < 0.03, "the pitch heard in the audio should be the labelled one"
    assert np.mean(f0_error < 0.1) > 0.8
    # LPC formant estimates are rougher (biased towards harmonics at high pitch): compare medians.
    ratio = np.median(m["f12"], axis=0) / np.median(m["f12_label"], axis=0)
    assert np.all(np.abs(ratio - 1) < 0.15), f"measured / labelled F1, F2 = {ratio.round(2)}"


def test_count_makes_varied_plausible_voices(tmp_path: Path) -> None:
    written = synth.main(tmp_path / "many", count=3, minutes=0.05, seed=1)
    assert [p.parent.name for p in written] == ["S000", "S001", "S002"]
    voices = [synth.varied_voice(i, seed=1) for i in range(12)]
    for v in voices:
        assert 60 < v.f0_low_hz < v.f0_high_hz < 450 and 10.5 <= v.tract_cm <= 18.5
    assert len({v.tract_cm for v in voices}) == 12 and max(v.f0_low_hz for v in voices) > 1.8 * min(
        v.f0_low_hz for v in voices), "voices should spread over the adult/child range"
    assert synth.varied_voice(2, seed=1) == voices[2] != synth.varied_voice(2, seed=2)


# --- Arguments and outputs ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"minutes": 0}, "minutes must be a positive"),
    ({"minutes": -1.0}, "minutes must be a positive"),
    ({"minutes": float("nan")}, "minutes must be a positive"),
    ({"count": 0}, "count must be a whole number of voices >= 1"),
    ({"speakers": ["A", "C"]}, r"the built-in voices are A \(low voice"),
    ({"speakers": []}, "the built-in voices are A"),
    ({"speakers": ["A"], "count": 2}, "not both"),
    ({"speakers": ["A", "A"]}, "repeat"),
    ({"seed": -1}, "seed must be a whole number >= 0"),
])
def test_bad_arguments_are_refused_before_writing_anything(tmp_path: Path, kwargs: dict, words: str) -> None:
    with pytest.raises(VaelabError, match=words):
        synth.main(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_existing_outputs_are_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    synth.main(out, speakers=["A"], minutes=0.4, seed=0)  # two utterances
    before = all_bytes(out)
    with pytest.raises(OutputError, match=r"already holds synthetic speech .*--force"):
        synth.main(out, speakers=["A"], minutes=0.2, seed=5)
    assert all_bytes(out) == before

    synth.main(out, speakers=["A"], minutes=0.2, seed=5, force=True)  # one utterance now
    after = all_bytes(out)
    assert sorted(after) == ["A/A-0-0000.labels.npz", "A/A-0-0000.wav", "synth_manifest.json"], (
        "files of the replaced corpus must not be left behind to mix with the new one")
    assert after["A/A-0-0000.wav"] != before["A/A-0-0000.wav"]


def test_a_file_as_the_output_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputError, match="must be a folder"):
        synth.main(tmp_path / "taken", speakers=["A"], minutes=0.1)


def test_an_interrupted_run_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = synth.writer.synthesize_utterance
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synth.writer, "synthesize_utterance", interrupted)  # where main looks it up
    with pytest.raises(KeyboardInterrupt):
        synth.main(tmp_path / "out", speakers=["A"], minutes=0.4)
    names = sorted(all_bytes(tmp_path / "out"))
    assert names == ["A/A-0-0000.labels.npz", "A/A-0-0000.wav"], "only complete files, no manifest yet"
    assert not list((tmp_path / "out").rglob("*partial*"))


def test_the_cli_verb(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from data_prep.cli import register_data
    import argparse

    parser = argparse.ArgumentParser()
    register_data(parser.add_subparsers())
    args = parser.parse_args(["data", "synth", "--out", str(tmp_path / "c"), "--speakers", "B", "--minutes", "0.1"])
    args.run(args)
    assert "wrote 1 voice(s)" in capsys.readouterr().out
    assert (tmp_path / "c" / "B" / "B-0-0000.wav").is_file()
