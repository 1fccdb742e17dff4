"""Independent runs side by side, each in a process of its own on one torch thread.

A training step of the lab's model is made of operations too small for torch to split well
between threads: one core runs it at about 60 % of its matmul rate with one thread, two cores
at 40 to 47 % with two (`benchmarks/bench_training.py`). So a notebook with several independent
runs (lab 1's seeds and its two fine-tunings, latent_space's beta settings) finishes them sooner
one per core than one after the other on all cores; `benchmarks/bench_lanes.py` measures both on
the machine it runs on. A lab whose time per epoch is one of its results (synth, flows) keeps its
runs one after the other: runs side by side share the machine, and their times show it.

Side by side needs `fork` (Linux): the runs call classes the notebook defines, which a forked
child has and a freshly started one would not. Elsewhere, with one torch thread (every graded
kernel, every band run beside another), or with VAELAB_LANES=1, the runs go one after the
other in this process, as they always did.

A forked run keeps to one thread, even where the cores outnumber the runs. torch's builds on the
registry split operations between threads with GNU OpenMP, which does not survive `fork`: once
the parent has used its threads (any large operation does), a child that asks for two or more
can wait forever in a parallel operation. Measured: a parent on 4 threads, two runs of 2 threads
each hung; on 1 thread each, they ended at once (tests/vaelab_core/test_lanes.py).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

import torch

from vaelab_core.errors import VaelabError

#: Environment variable: how many runs may go side by side (default: torch's thread count).
LANES_ENV = "VAELAB_LANES"


class LanesError(VaelabError):
    """A run side by side stopped without a result (its process died), with what to do."""


def lanes(runs: int) -> int:
    """How many of `runs` independent runs go side by side here: torch's thread count (or
    $VAELAB_LANES), at most `runs`; 1 where processes cannot be forked safely (not Linux)."""
    setting = os.environ.get(LANES_ENV, "").strip()
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise VaelabError(f"{LANES_ENV}={setting!r}: expected a whole number of runs side by side, "
                              "at least 1 (1 trains one run after the other).")
        count = int(setting)
    else:
        count = torch.get_num_threads()
    if not sys.platform.startswith("linux"):
        count = 1
    return max(1, min(count, runs))


@contextlib.contextmanager
def lanes_setting(count: int):
    """$VAELAB_LANES set to `count` while the block runs, then restored: runs that may go side by
    side on more cores than this process's torch threads (`vaelab grade bands`: the spread's runs
    beside the reference kernel, one thread each, then on every core once it ends)."""
    if count < 1:
        raise VaelabError(f"lanes_setting({count}): at least 1 run at a time.")
    before = os.environ.get(LANES_ENV)
    os.environ[LANES_ENV] = str(count)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LANES_ENV, None)
        else:
            os.environ[LANES_ENV] = before


def run_each(work: Callable[[Any], Any], items: Sequence, on_done: Callable[[int], None] | None = None) -> list:
    """[work(item) for item in items], side by side in `lanes(len(items))` forked processes.

    Each process runs one item on one torch thread (more would hang: see the module's docstring)
    and sends its result back (it must pickle). An exception
    in `work` is raised here with the child's traceback attached; a process that dies raises
    `LanesError`. Either way the other processes are stopped first. `on_done(index)` is called
    as each item finishes. With one lane, the items run here, one after the other.

    Where the last item would go alone (five runs on two lanes: two, two, then one on one core
    while the other idles), it runs here instead once the others are done, on this process's
    torch threads: a forked run cannot take more than one, this process can.
    """
    items = list(items)
    count = lanes(len(items))
    if count <= 1:
        return _run_here(work, items, on_done, first_index=0)
    alone = len(items) > count and len(items) % count == 1 and torch.get_num_threads() > 1
    forked = _run_side_by_side(work, items[:-1] if alone else items, count, on_done, total=len(items))
    return forked + (_run_here(work, items[-1:], on_done, first_index=len(items) - 1) if alone else [])


def _run_here(work: Callable[[Any], Any], items: Sequence, on_done: Callable[[int], None] | None,
              first_index: int) -> list:
    """[work(item) for item in items] in this process, `on_done` told each item's index."""
    results = []
    for offset, item in enumerate(items):
        results.append(work(item))
        if on_done is not None:
            on_done(first_index + offset)
    return results


def _run_side_by_side(work: Callable[[Any], Any], items: Sequence, count: int,
                     on_done: Callable[[int], None] | None = None, total: int | None = None) -> list:
    """[work(item) for item in items], `count` at a time in forked processes of one torch thread
    (`run_each` without its choices: how many lanes, and which item runs here). `total`: the
    number of runs to name in an error (default: len(items))."""
    items = list(items)
    total = len(items) if total is None else total
    context = multiprocessing.get_context("fork")
    waiting = list(enumerate(items))
    running: dict = {}  # receiving end of a pipe -> (item's index, its process)
    results: dict[int, Any] = {}
    try:
        while waiting or running:
            while waiting and len(running) < count:
                index, item = waiting.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_child, args=(work, item, send), daemon=True)
                with warnings.catch_warnings():
                    # Python 3.12+ warns that forking a process with threads may deadlock the child:
                    # a child here only runs torch code and writes to its own pipe.
                    warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                    process.start()
                send.close()
                running[receive] = (index, process)
            for receive in wait(list(running)):
                index, process = running.pop(receive)
                try:
                    status, value = pickle.loads(receive.recv_bytes())
                except EOFError:
                    status, value = "died", None
                receive.close()
                process.join()
                if status == "died":
                    raise LanesError(
                        f"run {index + 1} of {total}, side by side in a process of its own, stopped without a "
                        f"result (exit code {process.exitcode}). Run them one after the other to see why: "
                        f"os.environ[{LANES_ENV!r}] = '1', then run the cell again.")
                if status == "error":
                    raise value
                results[index] = value
                if on_done is not None:
                    on_done(index)
    finally:
        for receive, (_, process) in running.items():
            process.terminate()
            process.join()
            receive.close()
    return [results[index] for index in range(len(items))]


def _child(work: Callable, item, send) -> None:
    """In a forked process: run `work(item)` on one torch thread and send the outcome."""
    torch.set_num_threads(1)
    try:
        outcome = ("ok", work(item))
    except BaseException as error:  # noqa: BLE001 - the parent re-raises it
        error.add_note("(in a run side by side; its traceback:)\n" + traceback.format_exc().rstrip())
        outcome = ("error", error)
    # plain pickle, tensors by value: torch's reductions would share them through files that
    # vanish with this process
    try:
        message = pickle.dumps(outcome)
    except Exception:  # noqa: BLE001 - a result or an exception that does not pickle
        message = pickle.dumps(("error", LanesError("a run side by side could not send back what it made:\n"
                                                    + traceback.format_exc().rstrip())))
    send.send_bytes(message)
    send.close()
