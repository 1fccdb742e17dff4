"""How many torch threads the labs' training uses: measured on the work itself, not assumed.

torch starts with one thread per core. A step of the labs' models is made of operations so small
that the threads spend much of it waiting for each other, and when another program keeps a core
busy (a browser, a second notebook) a thread waits for one the system has put aside. On the
2-core Xeon of the README, lab 1's first run (30 epochs) took 2.8 to 3.6 s on 2 threads idle; with
one core kept busy it took 53 and 93 s on 2 threads and 5.0 s on 1 (`benchmarks/bench_threads.py`).
Neither count is right everywhere, so `training.train` times its first steps on the caller's
thread count and on one thread, in turn, keeps the faster for the rest of the run (one thread
only if clearly faster), and gives the caller its thread count back at the end.

`training.evaluate` chooses the same way over its batches when it has enough of them. Work too
short to time on itself (a small evaluation, Griffin-Lim of one example) runs on the count that
the latest choice in this process made for the same caller's count (`as_measured`): a timing of
this machine's load on the labs' own work, which a probe of a few operations is not (measured:
one element-wise operation or one matrix product, timed alone, ran faster on 2 threads than on 1
with a core busy, while a training step ran 7 to 23 times slower).

Both counts train, evaluate and reconstruct to the same numbers to the bit on the machines
measured (the README; tests/vaelab_core/test_threads.py checks it wherever the tests run), so
the choice changes how long the work takes and nothing else. With one thread (every graded
kernel, every run side by side) there is nothing to choose. $VAELAB_TRAIN_THREADS=fixed keeps
the caller's thread count without measuring (the benchmarks that time a given count set it).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator

import torch

from vaelab_core.errors import VaelabError

#: Environment variable: "fixed" trains on the caller's thread count without measuring.
THREADS_ENV = "VAELAB_TRAIN_THREADS"
ROUNDS = 3  # timed steps on each count, in turn, after one warm-up step on the caller's count
MIN_STEPS = 50  # a run shorter than this keeps the caller's count: measuring would cost too much of it
MARGIN = 1.2  # one thread is chosen only if a frame takes this many times longer on the caller's count

_announced: set[tuple[int, int]] = set()
_latest: dict[int, int] = {}  # the caller's count: the count the latest choice made for it


def measuring_allowed() -> bool:
    """False when $VAELAB_TRAIN_THREADS says "fixed"; any other value is an error that says why."""
    setting = os.environ.get(THREADS_ENV, "").strip().lower()
    if setting in ("", "measure"):
        return True
    if setting == "fixed":
        return False
    raise VaelabError(f"{THREADS_ENV}={setting!r}: expected 'fixed' (train on torch's thread count as set) "
                      "or 'measure' (the default: time the first steps on it and on one thread, keep the faster).")


class ThreadChoice:
    """The thread count of one run, chosen over its first steps.

    Wrap each training step: `choice.begin()`, the step, `choice.end(frames)`. The first steps
    run on the caller's count and on one thread in turn (one warm-up step first, not timed);
    after them the faster count per frame is set for the rest of the run. `chosen` is None
    until then. `restore()` gives the caller its count back.
    """

    def __init__(self, total_steps: int, clock: Callable[[], float] = time.perf_counter,
                 announce: Callable[[str], None] | None = print):
        self.given = torch.get_num_threads()
        self.clock, self.announce = clock, announce
        measure = self.given > 1 and total_steps >= MIN_STEPS and measuring_allowed()
        self.schedule = [self.given] + [self.given, 1] * ROUNDS if measure else []
        self.per_frame: dict[int, list[float]] = {self.given: [], 1: []}
        self.chosen: int | None = None if measure else self.given
        self._step = 0
        self._started = 0.0

    def begin(self) -> None:
        if self._step < len(self.schedule):
            torch.set_num_threads(self.schedule[self._step])
            self._started = self.clock()

    def end(self, frames: int) -> None:
        if self._step >= len(self.schedule):
            return
        if self._step > 0:  # the first step warms up (allocations, the threads' start)
            self.per_frame[self.schedule[self._step]].append((self.clock() - self._started) / max(frames, 1))
        self._step += 1
        if self._step == len(self.schedule):
            self._decide()

    def _decide(self) -> None:
        given, alone = (statistics.median(self.per_frame[count]) for count in (self.given, 1))
        self.chosen = 1 if given > MARGIN * alone else self.given
        _latest[self.given] = self.chosen
        torch.set_num_threads(self.chosen)
        if self.chosen != self.given and self.announce and (self.given, self.chosen) not in _announced:
            _announced.add((self.given, self.chosen))
            self.announce(f"training on 1 thread, not {self.given}: its first steps ran {given / alone:.1f} times "
                          f"faster on one (another program is keeping a core busy, or this machine's threads "
                          f"wait on each other for a model this small).")

    def restore(self) -> None:
        torch.set_num_threads(self.given)


@contextlib.contextmanager
def as_measured() -> Iterator[int]:
    """Run the block on the count the latest choice in this process made for the caller's thread
    count (the caller's count if none was made, or measuring is switched off); the caller's count
    comes back after. Yields the count the block runs on."""
    given = torch.get_num_threads()
    count = _latest.get(given, given) if measuring_allowed() else given
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(given)
