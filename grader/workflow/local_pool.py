"""The local pool: grade submissions N at a time on this machine, each in a process of its own.

Each submission is graded as by `python -m grader.workflow.local_pool INPUTS NOTEBOOK STUDENT OUT`:
one call of the engine (grader/engine/grade.py) in a process with its own kernel, environment
and share of the cores (with PyTorch's default threads, two notebooks side by side on 2 cores
each run about 20 times slower). Like a cluster worker, the process never reads the course:
INPUTS is the folder where autograde materialized the course's GradingInputs once for the
batch, NOTEBOOK the submitted notebook. It writes the graded notebook and its GradingResult to
OUT, a private folder of the pool; only autograde's process moves them into the course and
writes the gradebook. A process that overruns the per-submission timeout is killed with its
kernel (its process group); one failure never stops the others.

The processes are forked from a server started once per batch with the engine already imported
(grader/workflow/fork_server.py): a fresh interpreter spent 3.8 s importing torch, nbformat and
the engine before each submission, on the 2-core VM. Where a system cannot fork, each process is
a fresh interpreter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

from grader.engine.grade import GradingOptions
from grader.engine.result import Cut, GradingResult, Problem
from grader.workflow.fork_server import ForkServer, die_with_parent
from grader.workflow.outcome import Outcome, failed

#: The files a grading process leaves in its output folder.
NOTEBOOK_FILE, RESULT_FILE = "graded.ipynb", "result.json"


@dataclass
class _Process:
    student: str
    process: subprocess.Popen | int  # a fresh interpreter, or the pid of a process the fork server made
    out: Path
    errors: typing.IO
    server: ForkServer | None = None
    started: float = field(default_factory=time.monotonic)

    def poll(self) -> int | None:
        """The exit status (as `Popen.returncode`), or None while it runs."""
        if self.server is not None:
            return self.server.status(self.process)
        return self.process.poll()

    def kill(self) -> None:
        """Kill the process with what it started (its session's process group), and wait for its end."""
        pid = self.process if self.server is not None else self.process.pid
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:  # not yet in a session of its own (or already gone)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.server is None:
            self.process.wait()
            return
        deadline = time.monotonic() + 30
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)


def _start(inputs: Path, submitted: Path, student: str, timestamp: str | None, options: GradingOptions,
           scratch: Path, warm: Path | None, server: ForkServer | None) -> _Process:
    out = Path(tempfile.mkdtemp(prefix=f"{student}-", dir=scratch))
    argv = [str(inputs), str(submitted), student, str(out),
            *(["--timestamp", timestamp] if timestamp else []),
            "--threads", str(options.threads), "--cell-timeout", str(options.cell_timeout),
            "--probe-timeout", str(options.probe_timeout), *(["--unsafe"] if options.unsafe else []),
            *(["--warm", str(warm)] if warm is not None else [])]
    errors = open(out.with_suffix(".stderr"), "w+", encoding="utf-8")  # its last line explains a failure
    if server is not None:
        try:
            return _Process(student, server.start(argv, errors.name, options.threads), out, errors, server)
        except (RuntimeError, OSError, ValueError, Empty) as why:  # a fresh interpreter does the same
            print(f"autograde: {why}; grading {student} in a fresh interpreter", file=sys.stderr)
    env = {**os.environ, "OMP_NUM_THREADS": str(options.threads), "MKL_NUM_THREADS": str(options.threads)}
    # A session of its own: on a timeout the process, its kernel and its probe die together.
    process = subprocess.Popen([sys.executable, "-m", "grader.workflow.local_pool", *argv,
                                "--parent", str(os.getpid())], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    return _Process(student, process, out, errors)


def _exit_problem(process: _Process) -> Problem | None:
    code = process.poll()
    if code == 0:
        return None
    process.errors.seek(0)
    tail = process.errors.read().strip().splitlines()[-1:]
    if code < 0:
        return Problem(Cut.GRADER, f"the grading process was killed by {signal.Signals(-code).name}; "
                                   "it is retried next run")
    return Problem(Cut.GRADER, f"the grading process failed ({tail[0][:200] if tail else f'exit status {code}'}); "
                               "it is retried next run")


def grade_locally(course, students: list[str], options: GradingOptions, jobs: int,
                  timeout: int) -> Iterator[Outcome]:
    """Grade `students` of `course` (a grader.course.Course), `jobs` at a time; yields each
    outcome as it finishes. Stopped early (Ctrl-C), it kills what runs."""
    from grader.engine.grade import zygote_for
    from grader.engine.inputs import GradingInputs

    grading_inputs = GradingInputs.from_course(course)
    inputs = grading_inputs.materialize()
    queue, running = list(students), []
    # The fork server imports the engine while the zygote starts (the first waits for it).
    server = ForkServer() if ForkServer.available() else None
    zygote = None
    try:
        # One zygote for the batch: every submission's probe and kernel start from it, warm.
        zygote = zygote_for(grading_inputs, inputs, options, private=True)
        if zygote is not None:
            zygote.write_view()
        with tempfile.TemporaryDirectory(prefix="vaelab-pool-") as scratch:
            try:
                while queue or running:
                    while queue and len(running) < jobs:
                        student = queue.pop(0)
                        running.append(_start(inputs, course.submitted_notebook(student), student,
                                              course.submission(student).timestamp, options, Path(scratch),
                                              zygote.spool if zygote is not None else None, server))
                    time.sleep(0.2)
                    for process in list(running):
                        overran = time.monotonic() - process.started > timeout
                        if process.poll() is None and not overran:
                            continue
                        if process.poll() is None:
                            process.kill()
                            problem = Problem(Cut.SUBMISSION_TIME, f"it ran longer than {timeout} s and was stopped")
                        else:
                            problem = _exit_problem(process)
                        running.remove(process)
                        process.errors.close()
                        if problem is None:
                            yield Outcome(process.student,
                                          (process.out / NOTEBOOK_FILE).read_text(encoding="utf-8"),
                                          GradingResult.load(process.out / RESULT_FILE))
                        else:
                            yield failed(course, process.student, problem)
                        shutil.rmtree(process.out, ignore_errors=True)
            finally:
                for process in running:  # interrupted: stop what runs
                    process.kill()
                    process.errors.close()
    finally:
        if server is not None:
            server.close()
        if zygote is not None:
            zygote.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.workflow.local_pool INPUTS NOTEBOOK STUDENT OUT`: one submission, by the engine."""
    parser = argparse.ArgumentParser(description="grade one submission (run by vaelab grade autograde)")
    parser.add_argument("inputs", type=Path, help="the course's grading inputs, materialized")
    parser.add_argument("notebook", type=Path, help="the submitted notebook")
    parser.add_argument("student")
    parser.add_argument("out", type=Path)
    parser.add_argument("--timestamp", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cell-timeout", type=int, default=GradingOptions.cell_timeout)
    parser.add_argument("--probe-timeout", type=int, default=GradingOptions.probe_timeout)
    parser.add_argument("--unsafe", action="store_true")
    parser.add_argument("--parent", type=int, default=None, help="die with this process (autograde's)")
    parser.add_argument("--warm", type=Path, default=None, help="the spool of the batch's zygote (none: cold starts)")
    args = parser.parse_args(argv)
    if args.parent is not None:
        die_with_parent(args.parent)
    import nbformat
    import torch

    from grader.engine.grade import Submission, grade
    from grader.engine.inputs import GradingInputs
    from grader.engine.warm import Zygote

    torch.set_num_threads(args.threads)
    submission = Submission(args.student, args.notebook.read_text(encoding="utf-8"), args.timestamp)
    notebook, result = grade(submission, GradingInputs.from_folder(args.inputs),
                             GradingOptions(threads=args.threads, cell_timeout=args.cell_timeout,
                                            probe_timeout=args.probe_timeout, unsafe=args.unsafe,
                                            warm=args.warm is not None),
                             cache=args.inputs.parent, zygote=Zygote.attach(args.warm) if args.warm else None)
    nbformat.write(notebook, args.out / NOTEBOOK_FILE)
    result.save(args.out / RESULT_FILE)  # last: its presence says the run went to the end
    return 0


if __name__ == "__main__":
    sys.exit(main())
