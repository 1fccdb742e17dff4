"""Provenance: one set of package versions, recorded alike by datasets, synthetic corpora and
checkpoints, and file checksums that agree with hashlib."""

from __future__ import annotations

import hashlib
import json
import platform

import numpy as np
import pytest
import torch
from torch import nn

import vaelab_core
from data_prep import build, synth
from vaelab_core.checkpoints import load_checkpoint, save_checkpoint
from vaelab_core.datasets import load_dataset
from vaelab_core.provenance import HASH_CHUNK, package_versions, sha256_file, with_versions

KEYS = {"vaelab", "torch", "torchaudio", "numpy", "soundfile", "libsndfile", "python"}


def test_package_versions_are_plain_strings_of_the_running_packages():
    versions = package_versions()
    assert set(versions) == KEYS
    # Plain str, not torch's TorchVersion: checkpoints are read with weights_only=True.
    assert all(type(v) is str and v for v in versions.values())
    assert versions["torch"] == str(torch.__version__) and versions["numpy"] == np.__version__
    assert versions["python"] == platform.python_version()
    assert versions["vaelab"] == vaelab_core.__version__


def test_with_versions_adds_them_at_the_top_level_and_the_record_wins():
    record = with_versions({"command": "x", "numpy": "as recorded"})
    assert record["command"] == "x" and record["numpy"] == "as recorded"
    assert set(record) == KEYS | {"command"}


@pytest.mark.parametrize("size", [0, 1, HASH_CHUNK, 2 * HASH_CHUNK + 7])
def test_sha256_file_agrees_with_hashlib_across_chunk_boundaries(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_sha256_file_of_a_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        sha256_file(tmp_path / "absent.wav")


def test_dataset_synthetic_corpus_and_checkpoint_record_the_same_versions(tmp_path):
    torch.manual_seed(0)
    corpus = tmp_path / "synth"
    synth.main(corpus, speakers=["A"], minutes=0.4, seed=0)  # two utterances: enough for a split
    dataset = load_dataset(build.main(corpus / "A", tmp_path / "A.npz", speaker="A", seed=0, quiet=True))
    checkpoint = load_checkpoint(save_checkpoint(tmp_path / "m.pt", nn.Linear(2, 2), epoch=0))

    records = {"dataset manifest": dataset.manifest,
               "synthetic corpus manifest": json.loads((corpus / "synth_manifest.json").read_text()),
               "checkpoint provenance": checkpoint["provenance"]}
    for where, record in records.items():
        assert {k: record.get(k) for k in KEYS} == package_versions(), f"{where} records other versions"
