"""Run the whole suite as two pytest processes side by side: the README's test command.

    python tests/side_by_side.py [pytest options and paths, given to both]

The course tests (marker `courses`: each lab's course graded end to end in real kernels, two (flows: four)
at a time, plus the tests that share those courses) take most of a run, and keep both cores of
a 2-core machine busy while they grade; between gradings one process sets a course up, releases
it or drives the browser, and the other core waits. The rest of the suite (no course, about 850
tests) runs beside them, on one thread (its torch, and any kernel it starts) and at a lower
priority, so that it takes what the courses leave idle.

A lower priority means two things on Linux. Each kernel starts a session of its own, and the
scheduler first shares the cores between sessions (autogroups), then between the processes of
one session by their nice values. A rest that is only niced, in the runner's session, still gets
as much CPU as each grading kernel: measured on the 2-core VM, the first course graded beside it
was about 130 s slower (at nice 0 and nice 10 alike). So the rest runs in a session of its own
whose autogroup is niced, and so does every session it starts (its own kernels). With that, the
first course took 293 and 321 s in two fresh-clone CI runs (451 to 472 s before), and the whole
suite 24:28 and 25:28 (28:37 to 29:41 before).

The course tests print as they run; the others' report follows when both have finished. The exit
status is the first failure's (0 when both pass; a process that selects no test counts as a
pass). A marker expression given (`-m "not slow"`) narrows both selections. `python -m pytest`
still runs everything in one process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: pytest's exit status when a selection holds no test (the other process may hold them all)
NO_TESTS = 5
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: the rest's scheduling priority (see _lower_priority)
NICENESS = 10


def _lower_priority() -> None:
    """In the rest's process before it starts (in its own session): yield the cores to the course
    tests while they grade, take what they leave idle. Nice 10, not 19: a test with a timeout must
    still move while two kernels are busy (about a tenth of a core against each)."""
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    _nice_autogroup("self")


def _nice_autogroup(pid: str) -> None:
    """Give the autogroup (session) of process `pid` the rest's niceness, where Linux has them."""
    try:
        with open(f"/proc/{pid}/autogroup", "r+", encoding="ascii") as group:
            if group.read().split()[-1] != str(NICENESS):
                group.write(str(NICENESS))
    except (OSError, IndexError):
        pass  # no autogroups here (another system, or the kernel's option off), or the process ended


def _descendants(root: int) -> list[int]:
    """The processes below `root`, from /proc (empty where there is none)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat") if Path("/proc/self/stat").exists() else ():
        try:
            stat = entry.read_text()
        except OSError:
            continue
        pid, parent = int(entry.parent.name), int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def _keep_sessions_niced(root: int, done: threading.Event, every: float = 1.0) -> None:
    """Until `done`: nice the autogroup of each session the rest starts (its kernels start one each)."""
    while not done.wait(every):
        for pid in _descendants(root):
            _nice_autogroup(str(pid))


def split_markers(argv: list[str]) -> tuple[list[str], str | None]:
    """`argv` without its `-m EXPR` options, and EXPR (the last one given, as pytest takes it)."""
    rest, expression = [], None
    arguments = iter(argv)
    for argument in arguments:
        if argument == "-m":
            expression = next(arguments, None)
        elif argument.startswith("-m") and len(argument) > 2:
            expression = argument[2:].lstrip("=")
        else:
            rest.append(argument)
    return rest, expression


def main(argv: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    argv, chosen = split_markers(argv)  # a marker expression given is kept in both selections
    within = f" and ({chosen})" if chosen else ""
    one_thread = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
    with tempfile.TemporaryDirectory(prefix="vaelab-tests-") as tmp:
        rest_log = Path(tmp) / "rest.log"
        with open(rest_log, "w", encoding="utf-8") as log:
            rest = subprocess.Popen([*pytest, "-m", f"not courses{within}", "-p", "no:cacheprovider", *argv], cwd=ROOT,
                                    env=one_thread, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_lower_priority)
            done = threading.Event()
            threading.Thread(target=_keep_sessions_niced, args=(rest.pid, done), daemon=True).start()
            print("tests: the course tests here; the rest of the suite beside them on one thread "
                  f"(its report follows at the end; pid {rest.pid})", flush=True)
            try:
                courses = subprocess.run([*pytest, "-m", f"courses{within}", *argv], cwd=ROOT).returncode
                rest_status = rest.wait()
            except KeyboardInterrupt:  # its own session does not get the terminal's Ctrl-C: pass it on
                os.killpg(rest.pid, signal.SIGINT)
                rest.wait()
                raise
            finally:
                done.set()
        print("\n" + "=" * 30 + " the rest of the suite, run beside the course tests " + "=" * 30, flush=True)
        sys.stdout.write(rest_log.read_text(encoding="utf-8", errors="replace"))
    return combined_status(courses, rest_status)


def combined_status(courses: int, rest: int) -> int:
    """The suite's exit status from the two processes' (pytest's codes): the course tests'
    failure first, then the rest's; a process that selected no test passes unless neither ran one."""
    if courses == NO_TESTS and rest == NO_TESTS:
        return NO_TESTS
    failures = [status for status in (courses, rest) if status not in (0, NO_TESTS)]
    return failures[0] if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
