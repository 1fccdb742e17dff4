"""Dataset files: save/load round trip, deterministic bytes, and every way loading can refuse a file."""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest
import torch

from vaelab_core import spec
from vaelab_core.atomic_files import OutputError
from vaelab_core.datasets import (DatasetError, default_speaker_path, frame_batches, load_dataset, save_dataset, speaker_path, steps_per_epoch)

SHAPE = (spec.N_FRAMES, spec.N_FREQ)


def spectrograms(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SHAPE), dtype=np.float32)


MANIFEST = {"speaker": "A", "files": [{"path": "A-0-0000.wav", "split": "train", "sequences": 3}],
            "note": "ünïcode survives"}


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


def test_save_then_load_gives_the_same_arrays_and_manifest(tmp_path):
    train, eval_ = spectrograms(3), spectrograms(2, seed=1)
    path = save_dataset(tmp_path / "set.npz", train, eval_, MANIFEST)
    data = load_dataset(path)
    assert data.train.dtype == torch.float32 and data.train.shape == (3, *SHAPE)
    np.testing.assert_array_equal(data.train.numpy(), train)
    np.testing.assert_array_equal(data.eval.numpy(), eval_)
    assert data.manifest == MANIFEST
    assert data.name == "A" and data.path == str(path)
    assert data.examples is None
    assert leftovers(tmp_path) == []


def test_examples_round_trip(tmp_path):
    examples = np.random.default_rng(0).uniform(-1, 1, (2, spec.SEQUENCE_SAMPLES)).astype(np.float32)
    save_dataset(tmp_path / "set.npz", spectrograms(3), spectrograms(2), MANIFEST, examples=examples)
    np.testing.assert_array_equal(load_dataset(tmp_path / "set.npz").examples.numpy(), examples)


def test_identical_inputs_give_identical_bytes(tmp_path):
    save_dataset(tmp_path / "one.npz", spectrograms(3), spectrograms(2), MANIFEST)
    save_dataset(tmp_path / "two.npz", spectrograms(3), spectrograms(2), MANIFEST)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()


def test_an_existing_file_is_replaced_only_with_force(tmp_path):
    path = tmp_path / "set.npz"
    save_dataset(path, spectrograms(3), spectrograms(2), MANIFEST)
    with pytest.raises(OutputError, match="already exists.*--force"):
        save_dataset(path, spectrograms(1), spectrograms(1), MANIFEST)
    save_dataset(path, spectrograms(1), spectrograms(1), MANIFEST, force=True)
    assert len(load_dataset(path).train) == 1


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 150, 256), np.float32), r"expected shape \(N, 150, 257\)"),
    (np.zeros((150, 257), np.float32), "expected shape"),
    (np.zeros((2, *SHAPE), np.float64), "expected float32"),
    (np.full((2, *SHAPE), np.nan, np.float32), "NaN or infinite"),
    (-np.ones((2, *SHAPE), np.float32), "negative values"),
])
def test_save_refuses_arrays_that_break_the_contract_and_writes_nothing(tmp_path, bad, match):
    with pytest.raises(DatasetError, match=match):
        save_dataset(tmp_path / "set.npz", bad, spectrograms(1), MANIFEST)
    assert list(tmp_path.iterdir()) == []


def test_save_wants_an_npz_name(tmp_path):
    with pytest.raises(DatasetError, match="must end in .npz"):
        save_dataset(tmp_path / "set.npy", spectrograms(1), spectrograms(1), MANIFEST)


def test_load_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset file.*vaelab data build"):
        load_dataset(tmp_path / "nothing.npz")


def test_load_refuses_a_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("not a zip archive")
    with pytest.raises(DatasetError, match="cannot read it as a dataset"):
        load_dataset(path)


def test_load_refuses_an_npz_without_the_dataset_parts(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, train=spectrograms(1))
    with pytest.raises(DatasetError, match=r"not a vaelab dataset, it lacks \['eval', 'manifest'\]"):
        load_dataset(path)


def test_load_refuses_wrong_shapes_and_negative_values(tmp_path):
    np.savez(tmp_path / "shape.npz", train=np.zeros((1, 257, 150), np.float32), eval=spectrograms(1),
             manifest=np.array(json.dumps({})))
    with pytest.raises(DatasetError, match=r"\(train\): expected shape"):
        load_dataset(tmp_path / "shape.npz")
    np.savez(tmp_path / "log.npz", train=spectrograms(1), eval=-spectrograms(1),
             manifest=np.array(json.dumps({})))
    with pytest.raises(DatasetError, match=r"\(eval\): contains negative values.*log-spectrograms"):
        load_dataset(tmp_path / "log.npz")


def test_load_refuses_a_truncated_file(tmp_path):
    path = save_dataset(tmp_path / "set.npz", spectrograms(3), spectrograms(2), MANIFEST)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="cannot read it as a dataset"):
        load_dataset(path)


def test_files_are_stored_without_pickle(tmp_path):
    path = save_dataset(tmp_path / "set.npz", spectrograms(1), spectrograms(1), MANIFEST)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["eval.npy", "manifest.npy", "train.npy"]
    with np.load(path, allow_pickle=False) as archive:
        assert archive["manifest"].dtype.kind == "U"


def test_arrays_are_stored_as_they_are_and_only_the_manifest_is_deflated(tmp_path):
    train = spectrograms(2)
    path = save_dataset(tmp_path / "set.npz", train, spectrograms(1, seed=1), MANIFEST)
    expected = io.BytesIO()
    np.lib.format.write_array(expected, train, allow_pickle=False)  # oracle: numpy's own .npy bytes
    with zipfile.ZipFile(path) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
        assert archive.read("train.npy") == expected.getvalue()
    assert kinds == {"train.npy": zipfile.ZIP_STORED, "eval.npy": zipfile.ZIP_STORED,
                     "manifest.npy": zipfile.ZIP_DEFLATED}


def test_default_speaker_paths_live_under_the_data_home(tmp_path, monkeypatch):
    assert default_speaker_path("B", tmp_path) == tmp_path / "datasets" / "speaker_B.npz"
    monkeypatch.setenv("VAELAB_HOME", str(tmp_path / "home"))
    assert default_speaker_path("A") == tmp_path / "home" / "datasets" / "speaker_A.npz"
    assert speaker_path("A") == default_speaker_path("A")
    monkeypatch.setenv("VAELAB_SPEAKER_A", str(tmp_path / "mine.npz"))
    assert speaker_path("A") == tmp_path / "mine.npz"
    with pytest.raises(ValueError, match="'A' and 'B', not 'C'"):
        default_speaker_path("C", tmp_path)


@pytest.mark.parametrize("n, batch_size", [(10, 4), (12, 4), (1, 4), (5, 1)])
def test_frame_batches_cover_every_frame_once(n, batch_size):
    t, f = 7, 3
    ids = torch.arange(n * t, dtype=torch.float32)
    x = ids.reshape(n, t, 1).expand(n, t, f).contiguous()  # every frame holds its own index
    batches = list(frame_batches(x, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert len(batches) == steps_per_epoch(n, batch_size) == math.ceil(n / batch_size)
    for i, batch in enumerate(batches):
        assert batch.ndim == 3 and batch.shape[1:] == (t, f)
        expected_b = min(batch_size, n - i * batch_size)
        assert batch.shape[0] == expected_b, f"batch {i}: {batch.shape[0]} sequences, expected {expected_b}"
        assert torch.equal(batch[..., 0:1].expand_as(batch), batch), "a frame was split across rows"
    seen = torch.cat([b[..., 0].reshape(-1) for b in batches])
    assert torch.equal(seen.sort().values, ids), "every frame should appear exactly once per epoch"


def test_frame_batches_shuffle_across_sequences_and_follow_the_generator():
    n, t = 8, 10
    x = torch.arange(n * t, dtype=torch.float32).reshape(n, t, 1)
    order = lambda seed: torch.cat(list(frame_batches(x, 4, generator=torch.Generator().manual_seed(seed))))
    assert torch.equal(order(0), order(0))
    assert not torch.equal(order(0), order(1))
    first = order(0)[0, :, 0]
    assert len(set((first // t).tolist())) > 1, "a pseudo-sequence should mix frames of several sequences"
    unshuffled = torch.cat(list(frame_batches(x, 4, shuffle=False)))
    assert torch.equal(unshuffled, x)


def test_sequence_batches_is_a_dataloader_of_whole_sequences():
    from torch.utils.data import DataLoader

    from vaelab_core.datasets import sequence_batches

    x = torch.arange(5 * 150 * 257, dtype=torch.float32).reshape(5, 150, 257)
    loader = sequence_batches(x, batch_size=2, generator=torch.Generator().manual_seed(0))
    assert isinstance(loader, DataLoader)
    batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(2, 150, 257), (2, 150, 257), (1, 150, 257)]
    seen = sorted(int(b[i, 0, 0]) // (150 * 257) for b in batches for i in range(len(b)))
    assert seen == [0, 1, 2, 3, 4]  # every sequence once, kept whole
