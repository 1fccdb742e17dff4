"""Fixtures shared by the whole suite.

`../shared/speech` (real LibriSpeech audio) sits beside the project on developers' machines and
in CI, but not on users' machines: tests that need it take the `speech_dir` fixture and are
skipped cleanly when it is absent.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEECH = Path(os.environ.get("VAELAB_SHARED_SPEECH", REPO.parent / "shared" / "speech"))


#: The session fixtures that grade or release one lab's course (tests/grader/conftest.py), named
#: `graded_<lab>` or `released_<lab>`: minutes each on 2 cores.
COURSE_FIXTURE = re.compile(r"^(?:graded|released)_(\w+)$")


def pytest_configure(config: pytest.Config) -> None:
    """Every process the suite starts (kernels, grading pools, band runs) gets one thread per
    numeric library unless told otherwise: the suite runs two test workers side by side
    (README's test command), and on 2 cores a second OpenMP thread per process only waits."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def course_of(item: pytest.Item) -> str | None:
    """The lab whose course `item` reads: from a course fixture it uses, or from its `lab`
    parameter when it asks for `graded_<lab>` by name while running (the browser test)."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "lab" in callspec.params and "request" in item.fixturenames:
        return str(callspec.params["lab"])
    labs = {m.group(1) for name in item.fixturenames if (m := COURSE_FIXTURE.match(name))}
    if len(labs) > 1:
        raise pytest.UsageError(f"{item.nodeid} uses the courses of {sorted(labs)}: a test reads one lab's course")
    return labs.pop() if labs else None


def pytest_itemcollected(item: pytest.Item) -> None:
    """With `--dist loadgroup`, every test of one lab's course runs in the same worker, so that
    the course is graded once (its fixtures are per worker); the workers share out the labs.
    Marked as each test is collected, before pytest-xdist reads the groups."""
    lab = course_of(item)
    if lab is not None:
        item.add_marker(pytest.mark.xdist_group(f"course-{lab}"))


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
