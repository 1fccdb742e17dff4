"""`write_npz`: deterministic, pickle-free, atomic .npz files (datasets and synthetic labels)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from vaelab_core.atomic_files import NPZ_DATE_TIME, write_npz


def arrays(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [("f0_hz", rng.random(40, dtype=np.float32)),
            ("formants_hz", rng.random((40, 4), dtype=np.float32)),
            ("voiced", rng.random(40) > 0.5),
            ("manifest", np.array(json.dumps({"speaker": "A", "note": "ünïcode"})))]


def members(path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_the_same_arrays_give_the_same_bytes_and_another_seed_does_not(tmp_path):
    write_npz(tmp_path / "one.npz", arrays(0))
    write_npz(tmp_path / "two.npz", arrays(0))
    write_npz(tmp_path / "other.npz", arrays(1))
    one = (tmp_path / "one.npz").read_bytes()
    assert one == (tmp_path / "two.npz").read_bytes()
    assert one != (tmp_path / "other.npz").read_bytes()
    assert {info.date_time for info in members(tmp_path / "one.npz").values()} == {NPZ_DATE_TIME}, (
        "a member stamped with the clock would make two runs differ")


def test_numpy_reads_back_every_array_in_order_without_pickle(tmp_path):
    path = write_npz(tmp_path / "labels.npz", arrays())
    assert path == tmp_path / "labels.npz"
    with np.load(path, allow_pickle=False) as archive:
        assert archive.files == [name for name, _ in arrays()]
        for name, value in arrays():
            np.testing.assert_array_equal(archive[name], value)
            assert archive[name].dtype == value.dtype and archive[name].shape == value.shape
        # A 0-d string stays 0-d: it loads as the JSON text itself, not "['{...}']".
        assert json.loads(str(archive["manifest"]))["note"] == "ünïcode"


@pytest.mark.parametrize("compress, deflated", [
    (True, {"f0_hz", "formants_hz", "voiced", "manifest"}),
    (False, set()),
    ({"manifest"}, {"manifest"}),
])
def test_compress_chooses_the_deflated_members(tmp_path, compress, deflated):
    path = write_npz(tmp_path / "set.npz", arrays(), compress=compress)
    kinds = {name.removesuffix(".npy"): info.compress_type for name, info in members(path).items()}
    assert {name for name, kind in kinds.items() if kind == zipfile.ZIP_DEFLATED} == deflated
    assert {name for name, kind in kinds.items() if kind == zipfile.ZIP_STORED} == set(kinds) - deflated


def test_an_object_array_is_refused_and_the_old_file_is_kept(tmp_path):
    path = write_npz(tmp_path / "set.npz", arrays())
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_npz(path, [("ok", np.zeros(3)), ("objects", np.array([{"a": 1}], dtype=object))])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"], "no partial file is left behind"
