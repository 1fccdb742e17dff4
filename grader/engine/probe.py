"""Step 2 of grading a submission: call the student's methods on fixed inputs, in a process of
their own.

`run_probes(...)` starts `python -m grader.engine.probe`, which runs the submission's code cells up to
the assignment's model cell (nothing after it: later cells cannot change what is probed), then
each probe of the assignment's grading rules with a time limit, and writes plain tensors and
numbers to a file (torch.save of a dict, read back with weights_only=True). The judging happens
in the grader's process (grader/engine/judge.py): whatever the student's code does to torch, numpy or
builtins in the probe process, it changes only its own answers.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from grader.engine.result import Cut, Problem
from grader.engine.view import GRADER_DIR

#: Seconds one method may take in the probe (the lab's methods take milliseconds); the code
#: cells up to the model cell may take CODE_FACTOR times as long (imports, data).
PROBE_SECONDS = 20
CODE_FACTOR = 4
#: Longest text kept of a student's error message.
ERROR_CHARS = 300
#: How a probe's error message starts when the method overran.
OVERRAN = "the method ran longer than"


class _ProbeTimeout(BaseException):
    """Raised inside a probe that ran too long (BaseException: a student's `except Exception`
    cannot swallow it)."""


#: The file the probe leaves beside its answers when the student's first cell starts.
STUDENT_CODE_STARTED = "student-code-started"


def setup_cells(cells: list) -> int:
    """How many cells come before the first code cell a student can write: the notebook's locked
    setup (the instructor's code, restored by step 1). An error there is the grader's, not the
    student's: the environment, not the submission, is at fault."""
    for index, cell in enumerate(cells):
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and not nbgrader.get("locked"):
            return index
    return len(cells)


def _student_namespace(cells: list[dict], until: str, started: Path | None = None,
                       skip: tuple[str, ...] = ()) -> tuple[dict, list[str], int]:
    """Run the code cells (grader.assignment.notebook_cells) up to and including the cell `until`,
    like a kernel would (IPython syntax turned into Python, magics ignored), but the locked cells
    named in `skip` (the lab's runs: grading.py's PROBE_SKIPS). Returns the namespace, the errors,
    and how many of them the locked setup cells raised (they come first); `started` is created
    when the student's first cell starts (`setup_cells`)."""
    from IPython.core.inputtransformer2 import TransformerManager

    class _NoShell:  # `%matplotlib inline` and friends become calls to get_ipython(): ignore them
        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    namespace = {"__name__": "__main__", "get_ipython": _NoShell}
    errors = []
    transform = TransformerManager().transform_cell
    setup, setup_errors = setup_cells(cells), 0
    for index, cell in enumerate(cells):
        if index == setup and started is not None:
            started.touch()
        nbgrader = cell["metadata"].get("nbgrader", {})
        grade_id = nbgrader.get("grade_id")
        is_test = nbgrader.get("grade") and not nbgrader.get("solution")
        skipped = grade_id in skip and nbgrader.get("locked")  # a student's own code always runs
        if cell.get("cell_type") == "code" and not is_test and not skipped:
            try:
                exec(compile(transform(cell["source"]), f"<cell {index}>", "exec"), namespace)
            except _ProbeTimeout:
                raise
            except BaseException as err:  # SystemExit and KeyboardInterrupt from student code too
                errors.append(f"cell {index} ({grade_id or 'code'}) raised {type(err).__name__}: "
                              f"{str(err)[:ERROR_CHARS]}")
                setup_errors += index < setup
        if grade_id == until:
            break
    return namespace, errors, setup_errors


def _timeout(signum, frame):
    raise _ProbeTimeout()


def _describe(err: BaseException, seconds: float) -> str:
    if isinstance(err, _ProbeTimeout):
        return f"{OVERRAN} {seconds:g} s on a small input (an endless loop?)."
    if isinstance(err, NotImplementedError):
        return "the method is not implemented."
    return f"calling the method raised {type(err).__name__}: {str(err)[:ERROR_CHARS]}"


def _plain(value):
    """Tensors, numbers, strings and containers of them, detached and on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)[:ERROR_CHARS]


def probe_notebook(notebook_path: Path, assignment_dir: Path, seconds: float = PROBE_SECONDS,
                   started: Path | None = None) -> dict:
    """{"tests": {test: probe result or {"error": text}}, "cuts": [what overran], "setup": [errors
    of the locked setup cells]} for the submission at `notebook_path`; `seconds` per method;
    `started` is created when the student's first cell starts."""
    from grader.assignment import Assignment, notebook_cells

    task = Assignment(assignment_dir.parent, assignment_dir.name)
    rules = task.rules()
    reference = task.reference_namespace()
    cells = notebook_cells(notebook_path)
    signal.signal(signal.SIGALRM, _timeout)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(io.StringIO()):
        signal.setitimer(signal.ITIMER_REAL, CODE_FACTOR * seconds)
        cuts = []
        try:
            student, errors, setup = _student_namespace(cells, rules.STUDENT_CODE_UNTIL, started, rules.PROBE_SKIPS)
        except _ProbeTimeout:
            cuts.append(f"the notebook's code up to cell {rules.STUDENT_CODE_UNTIL} ran longer than "
                        f"{CODE_FACTOR * seconds:g} s in the probe; its methods could not be called")
            student, errors, setup = {}, [cuts[-1]], 0
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        setup = errors[:setup]
        model_class = rules.MODEL_CLASS
        if model_class is not None and model_class not in student:
            reason = f"the notebook does not define {model_class}" + (f" ({errors[0]})" if errors else "") + "."
            return {"tests": {test: {"error": reason} for test in rules.METHOD_TESTS}, "cuts": cuts, "setup": setup}
        tests = call_probes(rules, student, reference, seconds)
        overran = [test for test, result in tests.items() if result.get("error", "").startswith(OVERRAN)]
        if overran:
            cuts.append(f"{', '.join(overran)}: the method ran longer than {seconds:g} s in the probe")
        return {"tests": tests, "cuts": cuts, "setup": setup}


def call_probes(rules, student: dict, reference: dict, seconds: float = PROBE_SECONDS) -> dict[str, dict]:
    """Each of the assignment's probes on the `student` namespace, with a time limit of `seconds`
    each; a probe that fails gives {"error": why} for its test only."""
    results = {}
    previous = signal.signal(signal.SIGALRM, _timeout)
    try:
        for test, call in rules.probe(student, reference).items():
            torch.manual_seed(0)
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                results[test] = _plain(call())
            except BaseException as err:  # the student's failure, whatever it is, is this test's
                results[test] = {"error": _describe(err, seconds)}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return results


@dataclass(frozen=True)
class ProbeOutcome:
    """What probing a submission gave (step 2's output)."""

    tests: dict[str, dict]             # test -> the probe's answers, or {"error": why}
    problems: list[Problem]            # the limits that cut it
    grader_failure: str | None = None  # the probe failed before the student's first cell: why


def run_probes(notebook_path: Path, task, env: dict[str, str], sandbox=None,
               timeout: float = 300, seconds: float = PROBE_SECONDS) -> ProbeOutcome:
    """Probe a submission in a child process (in `sandbox`, a grader.engine.sandbox.Sandbox, when
    given), `seconds` per method. A probe process that dies or overruns `timeout` gives every
    method test the reason, and grading goes on; one that failed before the student's first
    cell ran (an import of the setup, the sandbox) says so in `grader_failure`.

    The child sees a private folder holding the submission, the assignment's grading rules and
    the reference's cells, nothing else of the solutions or the course.
    """
    import dataclasses
    import shutil

    import nbformat

    rules = task.rules()
    grader_failure = None
    with (sandbox.tempdir("vaelab-probe-") if sandbox is not None else
          tempfile.TemporaryDirectory(prefix="vaelab-probe-")) as tmp:
        tmp = Path(tmp)
        shutil.copyfile(notebook_path, tmp / "submission.ipynb")
        folder = tmp / "assignment" / task.name
        folder.mkdir(parents=True)
        shutil.copyfile(task.grading_path, folder / "grading.py")
        nbformat.write(reference_only(task), folder / task.notebook_path.name)
        out = tmp / "probes.pt"
        command = [sys.executable, "-m", "grader.engine.probe", str(tmp / "submission.ipynb"), str(folder), str(out),
                   "--seconds", str(seconds)]
        if sandbox is not None:
            sandbox = dataclasses.replace(sandbox, read_only=[GRADER_DIR], writable=[tmp])
            command = sandbox.command(command, tmp)
        try:
            finished = subprocess.run(command, env=env, cwd=tmp, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            reason = f"probing the methods took longer than {timeout:.0f} s; the probe was stopped"
            problem = Problem(Cut.PROBE_TIME, reason)
        else:
            if finished.returncode == 0 and out.is_file():
                try:
                    found = torch.load(out, weights_only=True)
                    setup = found.get("setup") or []
                    return ProbeOutcome(found["tests"], [Problem(Cut.PROBE_TIME, text) for text in found["cuts"]],
                                        f"the probe's setup cells failed: {setup[0]}" if setup else None)
                except Exception:  # a file the student's code wrote in place of the probe's
                    reason = "the probe's answers could not be read back (was the file replaced?)."
                    problem = None
            else:
                reason = _exit_reason(finished.returncode)
                problem = Problem(Cut.MEMORY if finished.returncode == -signal.SIGKILL else Cut.KERNEL_DEATH,
                                  reason.rstrip("."))
                if not (tmp / STUDENT_CODE_STARTED).exists():
                    said = finished.stderr.decode(errors="replace").strip().splitlines()
                    grader_failure = f"the probe stopped before the student's code ran: {(said or [reason])[-1][:300]}"
    return ProbeOutcome({test: {"error": reason} for test in rules.METHOD_TESTS}, [problem] if problem else [],
                        grader_failure)


def reference_only(task):
    """The assignment's notebook (an nbformat NotebookNode) reduced to the cells that define the
    reference (what a probe needs)."""
    import nbformat

    notebook = nbformat.read(task.notebook_path, as_version=4)
    keep = set(task.rules().REFERENCE_CELLS)
    notebook.cells = [c for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in keep]
    return notebook


def reference_probes(task) -> dict[str, dict]:
    """The same probes on the reference itself, in the grader's process (trusted code only)."""
    reference = task.reference_namespace()
    with contextlib.redirect_stdout(io.StringIO()):
        return {test: _plain(call()) for test, call in task.rules().probe(reference, reference).items()}


def step(run) -> None:
    """The engine's step 2 (grader/engine/grade.py): probe the restored submission in the sandbox."""
    started = time.perf_counter()
    outcome = run_probes(run.restored_path, run.task, run.environment, sandbox=run.sandbox,
                         seconds=run.options.probe_timeout)
    run.probes = outcome.tests
    run.problems += outcome.problems
    run.grader_failure = run.grader_failure or outcome.grader_failure
    run.seconds["tests"] += time.perf_counter() - started


def _exit_reason(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return f"the process running the methods was killed by {name} (a crash, or a memory or CPU limit)."
    return f"the process running the methods stopped with exit status {code} (os._exit or sys.exit in the code?)."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="probe a submission's methods (run by the grader)")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("assignment_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=PROBE_SECONDS, help="per method")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    results = probe_notebook(args.notebook, args.assignment_dir, args.seconds,
                             started=args.out.with_name(STUDENT_CODE_STARTED))
    # Written last, in one piece: a student's os._exit() before this point leaves no file.
    torch.save(results, args.out)
    return 0


if __name__ == "__main__":
    # os._exit: no interpreter teardown in which student objects' __del__ could still run.
    sys.stdout.flush()
    os._exit(main())

