"""Grading one submission: the steps, in order, and why that order.

  1. restore_cells  (restore_cells.py) nbgrader's sanitising: locked and test cells back to the
                    assignment's, deleted ones put back; the tampering found becomes flags.
                    First, so that everything after sees only the cells the student may write.
  2. probe          (probe.py) the student's five methods, called on fixed inputs in a process
                    of their own, from the restored code up to the model cell. Before the
                    kernel: it needs no training, and a notebook that later dies still has its
                    methods graded.
  3. execute        (execute.py) the whole notebook in a kernel of its own, on the course's
                    data, with this worker's threads and environment; errors and overrunning
                    cells do not stop it; the check cells record the results.
  4. judge          (judge.py) the probes against the reference's, the records against the
                    bands, in this process (which runs no student code); the verdicts become
                    the test cells' outputs.
  5. write          the autograded notebook, then vaelab_result.json, each atomically: a result
                    file exists only for a submission graded to the end.

The gradebook is not written here: `vaelab grade autograde` runs this for many submissions at
once, each in its own process, and one process writes the gradebook (save_grades.py).
`grade_submission` depends on its arguments and the course directory only, so it can run
anywhere the course is (the roadmap's distributed grading).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from grader.workflow.bands import load_bands
from grader.course import Course
from grader.engine.execute import NotebookFailed, execute_notebook, kernel_environment
from grader.engine.judge import judge_tests, write_verdicts
from grader.engine.probe import reference_probes, run_probes
from grader.engine.restore_cells import restore_cells
from grader.engine.sandbox import Sandbox
from vaelab_core.atomic_files import atomic_path
from vaelab_core.provenance import sha256_file
from vaelab_core.records import read_records

#: Seconds one cell may run before it is interrupted (the lab's longest, five seeds, takes ~30 s).
CELL_TIMEOUT = 600


def _when(text: str | None) -> float | None:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return None


def cell_seconds(notebook: nbformat.NotebookNode, training_cells: tuple[str, ...], started: float) -> dict[str, float]:
    """Seconds of the run by kind, from nbclient's timing metadata: kernel start (until the first
    cell), training (the cells named in `training_cells`), tests (check cells), imports and data
    (everything else)."""
    seconds = {"kernel start": 0.0, "imports and data": 0.0, "training": 0.0, "tests": 0.0}
    first = None
    for cell in notebook.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        begin, end = _when(timing.get("iopub.status.busy")), _when(timing.get("iopub.status.idle"))
        if begin is None or end is None:
            continue
        first = begin if first is None else min(first, begin)
        nbgrader = cell.metadata.get("nbgrader", {})
        kind = ("tests" if nbgrader.get("grade") and not nbgrader.get("solution") else
                "training" if nbgrader.get("grade_id") in training_cells else "imports and data")
        seconds[kind] += end - begin
    if first is not None:
        seconds["kernel start"] = max(0.0, first - started)
    return seconds


def _run_problems(notebook: nbformat.NotebookNode, cell_timeout: int) -> list[str]:
    """Cells that overran and were interrupted."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == "KeyboardInterrupt":
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "code")
                problems.append(f"cell {index} ({grade_id}) ran longer than {cell_timeout} s and was interrupted")
    return problems


def kernel_values(course: Course, workdir: Path) -> dict[str, str]:
    """What a graded notebook's kernel is told: the course's data, where to write, no progress bars."""
    return {**course.kernel_data(), "VAELAB_OUT": str(workdir / "outputs"), "TQDM_DISABLE": "1",
            "MPLBACKEND": "Agg"}


def grade_submission(course: str | Path, student: str, threads: int = 1,
                     cell_timeout: int = CELL_TIMEOUT, unsafe: bool = False) -> dict:
    """Grade `student`'s submission of the course's assignment; returns and writes its result.

    unsafe: run the student's code without the sandbox's namespaces (resource limits only).
    """
    course = Course.load(course)
    task = course.task
    rules = task.rules()
    bands = load_bands(course)
    submitted = course.submitted_notebook(student)
    started = time.perf_counter()
    result = {"student": student, "assignment": course.assignment, "submission_sha256": sha256_file(submitted),
              "status": "graded", "flags": [], "threads": threads}
    timestamp = submitted.parent / "timestamp.txt"
    result["timestamp"] = timestamp.read_text().strip() if timestamp.is_file() else None

    # 1. restore_cells
    notebook = nbformat.read(submitted, as_version=4)
    resources = {"nbgrader": {"notebook": Path(course.notebook).stem, "assignment": course.assignment,
                              "student": student, "db_url": course.db_url}}
    release = nbformat.read(course.release_notebook, as_version=4)
    notebook, result["flags"] = restore_cells(notebook, resources, release)
    points = {cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
              for cell in notebook.cells if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
              and cell.cell_type == "code"}

    with tempfile.TemporaryDirectory(prefix=f"vaelab-grade-{student}-") as tmp:
        workdir = Path(tmp)
        restored = workdir / course.notebook
        nbformat.write(notebook, restored)
        env = kernel_values(course, workdir)
        (workdir / "outputs").mkdir()
        sandbox = Sandbox(read_only=[*course.speakers.values(), *course.data_paths.values()],
                          writable=[workdir], unsafe=unsafe)

        # 2. probe
        probe_started = time.perf_counter()
        probes = run_probes(restored, task, kernel_environment(env, threads), sandbox=sandbox)
        probe_seconds = time.perf_counter() - probe_started

        # 3. execute
        kernel_started = time.time()
        problems, run_info = [], {}
        try:
            notebook = execute_notebook(notebook, workdir, env=env, timeout=cell_timeout, threads=threads,
                                        allow_errors=True, sandbox=sandbox, run_info=run_info)
        except NotebookFailed as failure:
            notebook = failure.notebook
            # the cell that was running: the last one the kernel had started (it has a count)
            ran = [i for i, c in enumerate(notebook.cells) if c.get("execution_count")]
            last = ran[-1] if ran else 0
            where = notebook.cells[last].metadata.get("nbgrader", {}).get("grade_id", "code") \
                if last < len(notebook.cells) else "end"
            problems.append(f"the kernel died in cell {last} ({where}); later cells did not run"
                            if getattr(failure, "kernel_died", False) else str(failure)[:300])
        problems += _run_problems(notebook, cell_timeout)
        if run_info.get("truncated_cell") is not None:
            problems.append(f"cell {run_info['truncated_cell']} printed more than the output limit; its output "
                            "was cut and the cell interrupted")
        if run_info.get("stopped"):
            problems.append(run_info["stopped"])
        seconds = cell_seconds(notebook, getattr(rules, "TRAINING_CELLS", ()), kernel_started)

    # 4. judge
    judge_started = time.perf_counter()
    records = read_records(notebook)
    verdicts = judge_tests(rules, points, probes, reference_probes(task), records, bands)
    write_verdicts(notebook, verdicts)
    seconds["tests"] += probe_seconds + time.perf_counter() - judge_started

    # 5. write
    if problems:
        result["status"] = "could not be fully graded: " + "; ".join(problems)
    result["tests"] = {test: verdict.as_dict() for test, verdict in verdicts.items()}
    result["records"] = records  # the notebook's own numbers, as judged (for regrading and audits)
    result["seconds"] = {**{k: round(v, 2) for k, v in seconds.items()},
                         "total": round(time.perf_counter() - started, 2)}
    out = course.autograded_dir(student)
    with atomic_path(out / course.notebook) as tmp:
        nbformat.write(notebook, tmp)
    with atomic_path(course.result_path(student)) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this worker when the process that started it dies (a grader killed with
    SIGKILL must not leave workers that go on writing), and check it has not died already."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker outlives its parent, as before
        return
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.engine.grade COURSE STUDENT`: one submission, in a process of its own."""
    parser = argparse.ArgumentParser(description="grade one submission (run by vaelab grade autograde)")
    parser.add_argument("course", type=Path)
    parser.add_argument("student")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT)
    parser.add_argument("--unsafe", action="store_true")
    parser.add_argument("--parent", type=int, default=None, help="die with this process (autograde's)")
    args = parser.parse_args(argv)
    if args.parent is not None:
        _die_with_parent(args.parent)
    import torch

    torch.set_num_threads(args.threads)
    grade_submission(args.course, args.student, threads=args.threads, cell_timeout=args.cell_timeout,
                     unsafe=args.unsafe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
