"""`vaelab grade autograde`: grade every submission, N at a time, each in its own process.

Each submission is graded by `python -m grader.engine.grade COURSE STUDENT` (grader/engine/grade.py),
a process of its own with its own kernel, environment and share of the cores: with PyTorch's
default threads, two notebooks side by side on 2 cores each run about 20 times slower, so each
worker gets `cores // jobs` threads. A worker that overruns the per-submission timeout is
killed with its kernel (its process group); one failure never stops the others. This process
alone writes the gradebook, as each worker finishes (grader/workflow/save_grades.py).

Re-running grades only what is new: a submission whose result records the same notebook
checksum, and whose grades are in the gradebook, is skipped unless `force`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from tqdm.auto import tqdm

from grader.workflow.bands import load_bands
from grader.course import Course
from grader.engine.grade import CELL_TIMEOUT
from grader.engine.sandbox import check_available
from grader.workflow.save_grades import save_grades
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError
from vaelab_core.provenance import sha256_file

#: Seconds a whole submission may take before its worker is killed.
SUBMISSION_TIMEOUT = 1800


@dataclass
class Worker:
    student: str
    process: subprocess.Popen
    errors: typing.IO
    started: float = field(default_factory=time.monotonic)


def _already_graded(course: Course, student: str) -> bool:
    """The result on disk is for the notebook now in submitted/, and the gradebook has it."""
    path = course.result_path(student)
    if not path.is_file():
        return False
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if result.get("submission_sha256") != sha256_file(course.submitted_notebook(student)) \
            or not result.get("saved") or result.get("retry"):
        return False
    try:
        with Gradebook(course.db_url) as gradebook:
            gradebook.find_submission(course.assignment, student)
    except MissingEntry:
        return False
    return True


def _start(course: Course, student: str, threads: int, cell_timeout: int, unsafe: bool) -> Worker:
    command = [sys.executable, "-m", "grader.engine.grade", str(course.root), student,
               "--threads", str(threads), "--cell-timeout", str(cell_timeout), "--parent", str(os.getpid()),
               *(["--unsafe"] if unsafe else [])]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    errors = tempfile.TemporaryFile("w+")  # the worker's stderr: its last line explains a failure
    # A session of its own: on a timeout the worker, its kernel and its probe die together.
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=errors, start_new_session=True)
    return Worker(student, process, errors)


def _failure(course: Course, student: str, reason: str) -> dict:
    """The result of a submission whose worker did not finish: nothing of it is kept."""
    notebook = course.autograded_dir(student) / course.notebook
    notebook.unlink(missing_ok=True)
    timestamp = course.submitted_notebook(student).parent / "timestamp.txt"
    return {"student": student, "assignment": course.assignment,
            "submission_sha256": sha256_file(course.submitted_notebook(student)),
            "timestamp": timestamp.read_text().strip() if timestamp.is_file() else None,
            "status": f"could not be graded: {reason}", "flags": [], "tests": None}


def _finish(course: Course, worker: Worker, reason: str | None) -> dict:
    """Read (or make) the worker's result, save it in the gradebook, mark it saved."""
    path = course.result_path(worker.student)
    if reason is None:
        result = json.loads(path.read_text())
    else:
        result = _failure(course, worker.student, reason)
        result["retry"] = reason.endswith("retried next run")  # the grader's failure, not the submission's
    save_grades(course, worker.student, result)
    result["saved"] = True
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _exit_reason(worker: Worker) -> str | None:
    code = worker.process.returncode
    if code == 0:
        return None
    worker.errors.seek(0)
    tail = worker.errors.read().strip().splitlines()[-1:]
    worker.errors.close()
    if code < 0:
        return f"the grading process was killed by {signal.Signals(-code).name}"
    return f"the grading process failed ({tail[0][:200] if tail else f'exit status {code}'}); it is retried next run"


def main(course: str | Path = ".", jobs: int = 1, force: bool = False, timeout: int = SUBMISSION_TIMEOUT,
         cell_timeout: int = CELL_TIMEOUT, threads: int | None = None, unsafe: bool = False) -> dict[str, dict]:
    """Grade the course's submissions; returns {student: result}.

    jobs: submissions graded at once; threads: torch threads per worker (default: the cores
    shared out between the jobs); timeout: seconds per submission; cell_timeout: seconds per
    notebook cell before it is interrupted; unsafe: run student code without the sandbox
    (grader/engine/sandbox.py), which grading otherwise refuses to do without.
    """
    course = Course.load(course)
    if jobs < 1:
        raise VaelabError(f"--jobs must be at least 1 (got {jobs}).")
    load_bands(course)  # refuse stale or missing bands before starting anything
    if unsafe:
        print("autograde: --unsafe: student code runs WITHOUT the sandbox (resource limits only)")
    else:
        check_available()  # a sandbox that cannot start here stops grading before it begins
    if not (course.root / "gradebook.db").is_file():
        raise VaelabError(f"{course.root}: no gradebook yet; run `vaelab grade release --course {course.root}`.")
    students = course.students()
    if not students:
        raise VaelabError(f"{course.root / 'submitted'}: no submissions; run `vaelab grade intake ZIP_DIR` first.")
    todo = [s for s in students if force or not _already_graded(course, s)]
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    print(f"autograde: {len(todo)} of {len(students)} submissions to grade ({len(students) - len(todo)} "
          f"unchanged), {jobs} at a time, {threads} thread(s) each")
    for student in todo:
        course.autograded_dir(student).mkdir(parents=True, exist_ok=True)
        course.result_path(student).unlink(missing_ok=True)  # a result exists only once finished
    results, failures = {}, 0
    queue, running = list(todo), []
    bar = tqdm(total=len(todo), unit="submission", desc="autograde")
    started = time.perf_counter()
    try:
        while queue or running:
            while queue and len(running) < jobs:
                running.append(_start(course, queue.pop(0), threads, cell_timeout, unsafe))
            time.sleep(0.2)
            for worker in list(running):
                overran = time.monotonic() - worker.started > timeout
                if worker.process.poll() is None and not overran:
                    continue
                if overran and worker.process.poll() is None:
                    os.killpg(worker.process.pid, signal.SIGKILL)
                    worker.process.wait()
                    reason = f"it ran longer than {timeout} s and was stopped"
                else:
                    reason = _exit_reason(worker)
                running.remove(worker)
                result = _finish(course, worker, reason)
                results[worker.student] = result
                failures += result["status"] != "graded"
                bar.update(1)
                bar.set_postfix(problems=failures)
    finally:
        bar.close()
        for worker in running:  # interrupted: stop what runs, keep what was saved
            os.killpg(worker.process.pid, signal.SIGKILL)
    seconds = time.perf_counter() - started
    print(f"autograde: {len(results)} graded in {seconds:.0f} s, {failures} with problems")
    for student, result in sorted(results.items()):
        if result["status"] != "graded" or result.get("flags"):
            print(f"  {student}: {'; '.join([result['status'], *result.get('flags', [])])}")
    print(f"next: vaelab grade feedback --course {course.root}; vaelab grade export --course {course.root}")
    return results
