"""Tests of data_prep.sweep: the labels are exact and cover their ranges, the spectra really move
with the swept factor (measured on the spectra, not trusted from the labels), the files are
idempotent and refuse to be silently replaced, and loading refuses what is not a sweep."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from data_prep import sweep
from data_prep.sweep import FACTORS, SweepError, ensure_sweeps, make_sweep, sweep_file
from vaelab_core import spec
from vaelab_core.atomic_files import OutputError
from vaelab_core.cli import main as vaelab
from vaelab_core.datasets import (SWEEP_FACTORS, DatasetError, Sweep, default_sweep_dir, load_sweep,
                                  sweep_dir)

BIN_HZ = spec.SAMPLE_RATE / spec.N_FFT  # 31.25 Hz per STFT bin


@pytest.fixture(scope="module")
def sweeps() -> dict[str, dict[str, np.ndarray]]:
    """The four default sweeps (4 sequences, seed 0), made once for the module."""
    torch.set_num_threads(1)
    return {f: make_sweep(f) for f in FACTORS}


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


# --- The arrays --------------------------------------------------------------------------------

def test_factors_agree_with_the_loader():
    assert tuple(FACTORS) == SWEEP_FACTORS
    assert all(low < high for low, high in FACTORS.values())


@pytest.mark.parametrize("factor", list(FACTORS))
def test_shapes_dtypes_and_magnitudes(sweeps, factor):
    arrays = sweeps[factor]
    s, t, f = 4, spec.N_FRAMES, spec.N_FREQ
    assert set(arrays) == {"spectra", "f0_hz", "formants_hz", "values"}  # no audio
    assert arrays["spectra"].shape == (s, t, f)
    assert arrays["f0_hz"].shape == (s, t) and arrays["values"].shape == (s, t)
    assert arrays["formants_hz"].shape == (s, t, 3)
    assert all(a.dtype == np.float32 for a in arrays.values())
    assert np.isfinite(arrays["spectra"]).all() and arrays["spectra"].min() >= 0
    assert (arrays["spectra"].max(axis=-1) > 0).all()  # no silent frame


@pytest.mark.parametrize("factor", list(FACTORS))
def test_the_swept_label_covers_its_range_linearly_and_the_others_hold(sweeps, factor):
    arrays = sweeps[factor]
    low, high = FACTORS[factor]
    both = np.concatenate([arrays["f0_hz"][..., None], arrays["formants_hz"]], axis=-1)  # (S, T, 4)
    k = list(FACTORS).index(factor)
    np.testing.assert_array_equal(arrays["values"], both[..., k])
    for s, values in enumerate(arrays["values"]):
        start, end = (low, high) if s % 2 == 0 else (high, low)  # up, down, up ...
        np.testing.assert_allclose(values, np.linspace(start, end, spec.N_FRAMES), rtol=1e-5)
        for other in range(4):
            if other == k:
                continue
            held = both[s, :, other]
            assert np.all(held == held[0]), f"{list(FACTORS)[other]} moves in sequence {s}"
            lo, hi = FACTORS[list(FACTORS)[other]]
            assert lo <= held[0] <= hi
    f1, f2, f3 = np.moveaxis(arrays["formants_hz"], -1, 0)
    assert np.all(f2 >= f1 + sweep.FORMANT_GAP_HZ - 1e-3) and np.all(f3 >= f2 + sweep.FORMANT_GAP_HZ - 1e-3)
    # The held values are drawn per sequence, not shared by all.
    held_f0_or_f1 = both[:, 0, 1 if factor == "f0" else 0]
    assert len(np.unique(held_f0_or_f1)) == len(held_f0_or_f1)


def test_same_arguments_same_arrays_and_the_seed_matters(sweeps):
    again = make_sweep("f2")
    for name, array in sweeps["f2"].items():
        np.testing.assert_array_equal(again[name], array)
    other = make_sweep("f2", seed=1)
    assert not np.array_equal(other["formants_hz"], sweeps["f2"]["formants_hz"])
    assert make_sweep("f0", sequences=1)["spectra"].shape == (1, spec.N_FRAMES, spec.N_FREQ)


def test_the_lowest_harmonic_sits_on_the_f0_label(sweeps):
    """Oracle: the lowest clear spectral peak (within 20 dB of the frame's maximum) is the
    fundamental; its bin times 16000/512 Hz must be within 1.5 bins of the label."""
    arrays = sweeps["f0"]
    errors = []
    for frame, f0 in zip(arrays["spectra"].reshape(-1, spec.N_FREQ), arrays["values"].reshape(-1)):
        if f0 > 220:  # low-ish f0 only: the sine window resolves the harmonics with room to spare
            continue
        x = frame[:128]
        peaks = [k for k in range(2, 127) if x[k] >= x[k - 1] and x[k] >= x[k + 1] and x[k] > 0.1 * frame.max()]
        errors.append(peaks[0] * BIN_HZ - f0)
    assert len(errors) > 200
    assert np.abs(errors).max() < 1.5 * BIN_HZ, f"fundamental off its label by up to {np.abs(errors).max():.0f} Hz"


@pytest.mark.parametrize("factor", ["f1", "f2", "f3"])
def test_the_spectral_energy_follows_a_swept_formant(sweeps, factor):
    """Oracle: the energy centroid of the band the formant sweeps (+- 150 Hz) rises and falls with
    its label in every sequence, while the held formants stay where they are."""
    arrays = sweeps[factor]
    low, high = FACTORS[factor]
    first, stop = int((low - 150) / BIN_HZ), int((high + 150) / BIN_HZ) + 1
    power = arrays["spectra"][:, :, first:stop].astype(np.float64) ** 2
    centroid = (power * np.arange(first, stop) * BIN_HZ).sum(-1) / power.sum(-1)  # (S, T) Hz
    for s in range(len(centroid)):
        r = np.corrcoef(centroid[s], arrays["values"][s])[0, 1]
        assert r > 0.9, f"sequence {s}: band centroid vs {factor} label correlate only at {r:.2f}"
        # The centroid travels a good part of the range, the way the label does.
        movement = np.sign(arrays["values"][s, -1] - arrays["values"][s, 0]) * (centroid[s, -1] - centroid[s, 0])
        assert movement > 0.4 * (high - low)


@pytest.mark.parametrize("bad, message", [
    ({"factor": "F1"}, "f0|f1|f2|f3|all"),
    ({"factor": "all"}, "f0|f1|f2|f3|all"),  # make_sweep makes one factor; "all" is main's
    ({"factor": "f0", "sequences": 0}, "sequences must be a whole number >= 1"),
    ({"factor": "f0", "seed": -1}, "seed must be a whole number >= 0"),
])
def test_make_sweep_refuses_bad_arguments(bad, message):
    with pytest.raises(SweepError, match=message.replace("|", r"\|")):
        make_sweep(**bad)


# --- Files, the command, the notebook's helper ---------------------------------------------------

def test_the_command_writes_a_loadable_file_and_keeps_it_when_up_to_date(tmp_path, capsys):
    out = tmp_path / "sweeps"
    assert vaelab(["data", "sweep", "--factor", "f1", "--out", str(out)]) == 0
    path = sweep_file(out, "f1")
    assert path == out / "sweep_f1.npz" and sorted(p.name for p in out.iterdir()) == ["sweep_f1.npz"]
    printed = capsys.readouterr().out
    assert str(path) in printed and "(4, 150, 257)" in printed and " s" in printed

    loaded = load_sweep(path)
    assert isinstance(loaded, Sweep) and loaded.factor == "f1"
    assert loaded.spectra.dtype == torch.float32 and loaded.spectra.shape == (4, spec.N_FRAMES, spec.N_FREQ)
    assert loaded.frames.shape == (4 * spec.N_FRAMES, spec.N_FREQ)
    assert loaded.labels.shape == (4 * spec.N_FRAMES,)
    torch.testing.assert_close(loaded.frames[spec.N_FRAMES + 3], loaded.spectra[1, 3])
    assert float(loaded.labels[spec.N_FRAMES + 3]) == float(loaded.values[1, 3])
    np.testing.assert_array_equal(loaded.spectra.numpy(), make_sweep("f1")["spectra"])
    m = loaded.manifest
    assert (m["factor"], m["range_hz"], m["sequences"], m["seed"]) == ("f1", [300.0, 900.0], 4, 0)
    assert "torch" in m and "numpy" in m and "vaelab" in m  # package versions
    assert "f1" in repr(loaded)

    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    assert vaelab(["data", "sweep", "--factor", "f1", "--out", str(out)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert leftovers(out) == []


def test_another_request_is_refused_without_force_and_the_file_kept(tmp_path, capsys):
    out = tmp_path / "sweeps"
    assert vaelab(["data", "sweep", "--factor", "f0", "--out", str(out), "--sequences", "2"]) == 0
    path = sweep_file(out, "f0")
    before = path.read_bytes()
    capsys.readouterr()
    code = vaelab(["data", "sweep", "--factor", "f0", "--out", str(out), "--sequences", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "vaelab: error:" in err and "Traceback" not in err
    assert "sweep_f0.npz" in err and "--force" in err and '"sequences": 2' in err
    assert path.read_bytes() == before
    assert vaelab(["data", "sweep", "--factor", "f0", "--out", str(out), "--sequences", "3", "--force"]) == 0
    assert load_sweep(path).spectra.shape[0] == 3
    assert leftovers(out) == []


def test_a_file_that_is_not_a_sweep_is_refused_without_force(tmp_path):
    path = sweep_file(tmp_path, "f3")
    path.write_bytes(b"precious notes")
    with pytest.raises(OutputError, match="does not load as a sweep"):
        sweep.main(tmp_path, "f3", sequences=1)
    assert path.read_bytes() == b"precious notes"


def test_all_checks_every_output_before_writing_any(tmp_path):
    sweep.main(tmp_path, "f2", sequences=1)
    with pytest.raises(OutputError, match="sweep_f2.npz"):
        sweep.main(tmp_path, "all", sequences=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep_f2.npz"]  # f0, f1, f3 not written


def test_a_bad_factor_through_the_command(tmp_path, capsys):
    assert vaelab(["data", "sweep", "--factor", "pitch", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "unknown factor 'pitch'" in err and "f0|f1|f2|f3|all" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_an_output_folder_that_is_a_file(tmp_path):
    (tmp_path / "notes").write_text("")
    with pytest.raises(OutputError, match="must be a folder"):
        sweep.main(tmp_path / "notes", "f0", sequences=1)


def test_the_same_request_gives_the_same_bytes(tmp_path):
    paths = [sweep.main(tmp_path / name, "f3", sequences=1)["f3"] for name in ("one", "two")]
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_defaults_live_under_the_data_home_and_ensure_builds_only_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAELAB_HOME", str(tmp_path))
    monkeypatch.delenv("VAELAB_SWEEPS", raising=False)
    assert default_sweep_dir() == tmp_path / "sweeps" == sweep_dir()
    assert default_sweep_dir(tmp_path / "other") == tmp_path / "other" / "sweeps"

    written = sweep.main(factor="f0", sequences=2)  # out=None: the default folder
    assert written == {"f0": tmp_path / "sweeps" / "sweep_f0.npz"}
    kept = written["f0"].read_bytes()
    paths = ensure_sweeps()
    assert paths == {f: tmp_path / "sweeps" / f"sweep_{f}.npz" for f in FACTORS}
    assert written["f0"].read_bytes() == kept  # a loadable file is kept, whatever made it
    assert [load_sweep(paths[f]).factor for f in FACTORS] == list(FACTORS)

    capsys.readouterr()
    assert ensure_sweeps() == paths
    assert "wrote" not in capsys.readouterr().out  # nothing to do the second time
    paths["f1"].write_bytes(b"damaged")
    ensure_sweeps()
    assert load_sweep(paths["f1"]).factor == "f1"  # an unreadable file is made again

    monkeypatch.setenv("VAELAB_SWEEPS", str(tmp_path / "shared"))
    assert sweep_dir() == tmp_path / "shared"
    assert ensure_sweeps()["f2"] == tmp_path / "shared" / "sweep_f2.npz"
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [f"sweep_{f}.npz" for f in FACTORS]


# --- load_sweep refusals --------------------------------------------------------------------------

def test_load_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(DatasetError, match=r"no such sweep file.*vaelab data sweep --out DIR.*notebook"):
        load_sweep(tmp_path / "sweep_f0.npz")


def test_load_refuses_files_that_are_not_sweeps(tmp_path):
    (tmp_path / "text.npz").write_text("not a sweep")
    with pytest.raises(DatasetError, match="cannot read it as a sweep"):
        load_sweep(tmp_path / "text.npz")
    np.savez(tmp_path / "dataset.npz", train=np.zeros((1, spec.N_FRAMES, spec.N_FREQ), np.float32))
    with pytest.raises(DatasetError, match="not a vaelab sweep file, it lacks"):
        load_sweep(tmp_path / "dataset.npz")


def _write_sweep_like(path, **changes):
    arrays = {name: array for name, array in make_sweep("f0", sequences=1).items()}
    arrays.update(factor=np.array("f0"), manifest=np.array(json.dumps({"factor": "f0"})))
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"values": np.zeros((1, 7), np.float32)}, r"values.*expected finite float32 labels of shape \(1, 150\)"),
    ({"formants_hz": np.zeros((1, spec.N_FRAMES, 4), np.float32)}, r"formants_hz.*\(1, 150, 3\)"),
    ({"f0_hz": np.zeros((1, spec.N_FRAMES))}, "f0_hz.*got float64"),
    ({"spectra": -np.ones((1, spec.N_FRAMES, spec.N_FREQ), np.float32)}, "negative values"),
    ({"spectra": np.ones((1, spec.N_FRAMES, 129), np.float32)}, r"expected shape \(N, 150, 257\)"),
    ({"factor": np.array("f9")}, "factor 'f9' is not one of f0, f1, f2, f3"),
])
def test_load_refuses_arrays_that_break_the_contract(tmp_path, changes, message):
    path = _write_sweep_like(tmp_path / "sweep_f0.npz", **changes)
    with pytest.raises(DatasetError, match=message):
        load_sweep(path)


def test_load_never_unpickles(tmp_path):
    path = _write_sweep_like(tmp_path / "sweep_f0.npz", manifest=np.array([{"factor": "f0"}], dtype=object))
    with pytest.raises(DatasetError, match="cannot read it as a sweep"):
        load_sweep(path)
    with zipfile.ZipFile(sweep.main(tmp_path / "real", "f0", sequences=1)["f0"]) as archive:
        assert sorted(archive.namelist()) == sorted(f"{n}.npy" for n in
                                                    ("spectra", "f0_hz", "formants_hz", "values", "factor", "manifest"))
