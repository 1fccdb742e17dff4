"""The environment of a graded kernel (grader/engine/environment.py)."""

from __future__ import annotations

import os
from pathlib import Path

from grader.engine.environment import kernel_environment


def test_a_kernel_gets_its_data_threads_and_no_inherited_allocator_tuning(monkeypatch, tmp_path):
    # what a Dask nanny sets for its workers; it made the lab's training 60% slower in a kernel
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=65536")
    monkeypatch.setenv("VAELAB_TEST_INHERITED", "kept")
    monkeypatch.setenv("VAELAB_LANES", "8")  # the instructor's own setting must not reach a one-thread kernel
    env = kernel_environment({"VAELAB_SPEAKER_A": "/data/a.npz"}, tmp_path / "out", threads=1)
    assert not [name for name in env if name.startswith("MALLOC_") or name == "GLIBC_TUNABLES"]
    assert env["VAELAB_TEST_INHERITED"] == "kept" and env["PATH"] == os.environ["PATH"]
    assert env["VAELAB_SPEAKER_A"] == "/data/a.npz" and Path(env["VAELAB_OUT"]) == tmp_path / "out"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["VAELAB_LANES"] == "1"
    assert "MALLOC_TRIM_THRESHOLD_" in os.environ  # the grader's own process is left as it was
