"""Fixtures shared by the whole suite.

`../shared/speech` (real LibriSpeech audio) sits beside the project on developers' machines and
in CI, but not on users' machines: tests that need it take the `speech_dir` fixture and are
skipped cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("VAELAB_SHARED_SPEECH", REPO.parent / "shared" / "speech"))


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """`../shared/speech/librispeech`, or a skip when it is not on this machine."""
    root = SPEECH / "librispeech"
    if not root.is_dir():
        pytest.skip(f"real speech not available at {root} (only on developer and CI machines)")
    return root


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the user's own ~/.cache/vaelab unless a test sets VAELAB_HOME itself."""
    monkeypatch.setenv("VAELAB_HOME", str(tmp_path_factory.getbasetemp() / "vaelab_home"))
    monkeypatch.delenv("VAELAB_SPEAKER_A", raising=False)
    monkeypatch.delenv("VAELAB_SPEAKER_B", raising=False)
    monkeypatch.delenv("VAELAB_SWEEPS", raising=False)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """One intra-op torch thread in every test: the lab's matrices are small, and when the other
    core is busy (a parallel test run, a kernel, a training in the background) OpenMP threads
    waiting on each other make a step dozens of times slower. Restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def torch_threads():
    """Set torch's thread count for one test (`torch_threads(2)`); the count it had comes back after."""
    import torch

    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)
