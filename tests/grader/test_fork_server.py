"""The local pool's fork server (grader/workflow/fork_server.py): grading processes forked with the
engine imported, each in a session of its own, their end reported as `subprocess` reports it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from grader.workflow.fork_server import ForkServer
from grader.workflow.local_pool import _Process

pytestmark = pytest.mark.skipif(not ForkServer.available(), reason="this system cannot fork")


@pytest.fixture(scope="module")
def server():
    started = ForkServer()
    yield started
    started.close()


def _wait(server: ForkServer, pid: int, seconds: float = 60) -> int | None:
    deadline = time.monotonic() + seconds
    while server.status(pid) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.status(pid)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (an ended process whose new parent has not reaped it yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _blocked_process(server: ForkServer, tmp_path: Path) -> int:
    """A grading process that waits for ever: its submitted notebook is a FIFO nobody writes."""
    fifo = tmp_path / "submitted.ipynb"
    os.mkfifo(fifo)
    (tmp_path / "out").mkdir()
    (tmp_path / "stderr").touch()  # as the pool makes it, before the process starts
    return server.start([str(tmp_path / "inputs"), str(fifo), "blocked", str(tmp_path / "out")],
                        str(tmp_path / "stderr"), 1)


def test_a_grading_process_that_fails_reports_its_status_and_why(server, tmp_path):
    errors = tmp_path / "stderr"
    pid = server.start([str(tmp_path / "no inputs"), str(tmp_path / "none.ipynb"), "ghost", str(tmp_path)],
                       str(errors), 1)
    assert _wait(server, pid) == 1
    assert "FileNotFoundError" in errors.read_text().strip().splitlines()[-1]


def test_a_timeout_kills_the_process_in_its_own_session(server, tmp_path):
    pid = _blocked_process(server, tmp_path)
    deadline = time.monotonic() + 30
    while os.getsid(pid) != pid and time.monotonic() < deadline:  # it has made its session
        time.sleep(0.05)
    assert os.getsid(pid) == pid and os.getsid(pid) != os.getsid(0)
    assert server.status(pid) is None  # still waiting
    process = _Process("blocked", pid, tmp_path / "out", open(tmp_path / "stderr"), server)
    process.kill()
    assert process.poll() == -9


def test_a_process_still_running_dies_with_the_server(tmp_path):
    own = ForkServer()
    pid = _blocked_process(own, tmp_path)
    own.close()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert own.status(pid) == -9  # what the pool reads for a process whose server is gone
