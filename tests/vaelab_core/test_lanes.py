"""Runs side by side in forked processes: the same results as one after the other, in order, and
a clear error when a run fails, dies or makes something that cannot come back."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vaelab_core.errors import VaelabError
from vaelab_core.lanes import LANES_ENV, LanesError, lanes, lanes_setting, run_each

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs side by side only on Linux")


def square_where(item: int) -> tuple[int, int]:
    return item * item, os.getpid()


def test_side_by_side_gives_the_results_in_order_from_other_processes(monkeypatch, torch_threads):
    monkeypatch.setenv(LANES_ENV, "2")
    torch_threads(1)  # as in a graded kernel: no item runs here
    finished = []
    results = run_each(square_where, range(5), on_done=finished.append)
    assert [value for value, _ in results] == [0, 1, 4, 9, 16]
    assert all(pid != os.getpid() for _, pid in results), "every item should run in a process of its own"
    assert sorted(finished) == list(range(5))


def test_a_last_item_that_would_go_alone_runs_here_on_every_thread(monkeypatch, torch_threads):
    monkeypatch.setenv(LANES_ENV, "2")
    torch_threads(2)
    finished = []
    results = run_each(square_where, range(5), on_done=finished.append)
    assert [value for value, _ in results] == [0, 1, 4, 9, 16]
    assert [pid == os.getpid() for _, pid in results] == [False, False, False, False, True]
    assert sorted(finished) == list(range(5)) and finished[-1] == 4
    # an even count fills both lanes to the end: every item in a process of its own
    assert all(pid != os.getpid() for _, pid in run_each(square_where, range(4)))


def test_one_lane_runs_here_one_after_the_other(monkeypatch):
    monkeypatch.setenv(LANES_ENV, "1")
    assert lanes(5) == 1
    assert run_each(square_where, [3, 4]) == [(9, os.getpid()), (16, os.getpid())]


def test_lanes_are_at_most_the_runs_and_the_setting_is_checked(monkeypatch):
    monkeypatch.setenv(LANES_ENV, "4")
    assert lanes(3) == 3 and lanes(8) == 4
    for wrong in ("0", "two", "-1"):
        monkeypatch.setenv(LANES_ENV, wrong)
        with pytest.raises(VaelabError, match="whole number"):
            lanes(3)


def test_a_lanes_setting_holds_for_its_block_only(monkeypatch):
    monkeypatch.delenv(LANES_ENV, raising=False)
    with lanes_setting(3):
        assert lanes(8) == 3
    assert LANES_ENV not in os.environ
    monkeypatch.setenv(LANES_ENV, "1")
    with pytest.raises(RuntimeError), lanes_setting(2):
        assert lanes(8) == 2
        raise RuntimeError("a run failed")
    assert os.environ[LANES_ENV] == "1"
    with pytest.raises(VaelabError, match="at least 1"), lanes_setting(0):
        pass


def fails_on_two(item: int) -> int:
    if item == 2:
        raise ValueError(f"item {item} is not allowed")
    return item


def test_an_exception_in_a_run_is_raised_here_with_its_traceback(monkeypatch):
    monkeypatch.setenv(LANES_ENV, "2")
    with pytest.raises(ValueError, match="item 2 is not allowed") as raised:
        run_each(fails_on_two, range(4))
    assert any("fails_on_two" in note for note in raised.value.__notes__), "the child's traceback should be attached"


def dies_on_one(item: int) -> int:
    if item == 1:
        os._exit(3)
    return item


def test_a_run_whose_process_dies_says_so_and_how_to_see_why(monkeypatch):
    monkeypatch.setenv(LANES_ENV, "2")
    with pytest.raises(LanesError, match=r"exit code 3\).*VAELAB_LANES"):
        run_each(dies_on_one, range(3))


def makes_a_lambda(item: int):
    return lambda: item


def test_a_result_that_cannot_come_back_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(LANES_ENV, "2")
    with pytest.raises(LanesError, match="could not send back"):
        run_each(makes_a_lambda, range(2))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs go side by side only on Linux")
def test_runs_side_by_side_do_not_hang_where_the_cores_outnumber_them():
    """A laptop's 4 or 8 threads and lab 1's two fine-tunings: the kernel has used its OpenMP
    threads long before, and a forked run that asked for two of them waited forever (GNU OpenMP
    does not survive fork). Each run now keeps to one thread and ends."""
    script = (
        "import os, torch\n"
        "from vaelab_core.lanes import run_each\n"
        "torch.set_num_threads(4)\n"
        "(torch.randn(1024, 1024) @ torch.randn(1024, 1024)).sum(); (torch.randn(4_000_000) * 2).sum()\n"
        "os.environ['VAELAB_LANES'] = '2'\n"
        "def work(seed):\n"
        "    torch.manual_seed(seed)\n"
        "    x = torch.randn(4_000_000)\n"
        "    return round(float((x * 2).sum() + (torch.randn(512, 512) @ torch.randn(512, 512)).sum()), 1), "
        "torch.get_num_threads()\n"
        "print(run_each(work, [0, 1]))\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the runs too
        process.communicate()
        pytest.fail("two runs side by side under a 4-thread parent did not end in 120 s (a forked child on more than "
                    "one OpenMP thread waits forever)")
    assert process.returncode == 0, err
    results = ast.literal_eval(out.strip())
    assert [threads for _, threads in results] == [1, 1]
