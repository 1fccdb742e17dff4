"""`vaelab grade autograde`: grade every new submission, locally or on a Dask cluster.

Each submission is one call of the engine (grader/engine/grade.py), run either by the local
pool (grader/workflow/local_pool.py: N processes on this machine, each with `cores // jobs`
threads) or, with `--scheduler ADDRESS`, as a task on a Dask cluster
(grader/workflow/cluster.py). Either way the outcomes come back here, and this process alone
writes the course: the autograded notebook, its GradingResult, and the gradebook
(grader/workflow/save_grades.py), one submission at a time as each finishes.

Re-running grades only what is new: a submission whose result records the same notebook
checksum, and whose grades are in the gradebook, is skipped unless `force`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from tqdm.auto import tqdm

from grader.course import Course
from grader.engine.grade import CELL_TIMEOUT, GradingOptions
from grader.engine.probe import PROBE_SECONDS
from grader.engine.result import GradingResult
from grader.engine.sandbox import check_available
from grader.engine.view import check_hidden
from grader.stored_bands import load_bands
from grader.workflow.outcome import Outcome
from grader.workflow.save_grades import save_grades
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError

#: Seconds a whole submission may take in the local pool before its process is killed.
SUBMISSION_TIMEOUT = 1800


def _already_graded(course: Course, student: str) -> bool:
    """The result on disk is for the notebook now in submitted/, and the gradebook has it."""
    try:
        result = course.result(student)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if result is None or result.submission_sha256 != course.submission(student).sha256 \
            or not result.saved or result.retry:
        return False
    try:
        with Gradebook(course.db_url) as gradebook:
            gradebook.find_submission(course.assignment, student)
    except MissingEntry:
        return False
    return True


def keep(course: Course, outcome: Outcome) -> GradingResult:
    """Write an outcome into the course: the graded notebook (or none), the gradebook, then the
    record marked saved. The record is written last: it says the rest is done."""
    notebook_path = course.autograded_notebook(outcome.student)
    if outcome.notebook is None:
        notebook_path.unlink(missing_ok=True)  # nothing of an unfinished run is kept
    else:
        with atomic_path(notebook_path) as tmp:
            tmp.write_text(outcome.notebook, encoding="utf-8")
    result = outcome.result
    save_grades(course, result)
    result.saved = True
    result.save(course.result_path(outcome.student))
    return result


def main(course: str | Path = ".", jobs: int = 1, force: bool = False, timeout: int = SUBMISSION_TIMEOUT,
         cell_timeout: int = CELL_TIMEOUT, threads: int | None = None, unsafe: bool = False,
         scheduler: str | None = None, probe_timeout: int = PROBE_SECONDS,
         cold: bool = False, student: list[str] | str | None = None) -> dict[str, GradingResult]:
    """Grade the course's submissions; returns {student: GradingResult}.

    jobs: submissions graded at once by the local pool; threads: torch threads per submission
    (default: the cores shared out between the jobs; 1 on a cluster); timeout: seconds per
    submission in the local pool; cell_timeout: seconds per notebook cell before it is
    interrupted; probe_timeout: seconds per method in the probe (the notebook's code before the
    methods may take four times that); unsafe: run student code without the sandbox (grader/engine/sandbox.py), which
    grading otherwise refuses to do without; scheduler: the address of a Dask scheduler
    (tcp://host:8786) whose workers grade instead of the local pool; cold: start each
    submission's probe and kernel from a fresh interpreter rather than from the batch's (or the
    worker's) zygote (grader/engine/warm.py): about 3 s more per submission, for comparison;
    student: grade only this student, or these (with force: again), the others left as they are.
    """
    course = Course.load(course)
    if jobs < 1:
        raise VaelabError(f"--jobs must be at least 1 (got {jobs}).")
    load_bands(course)  # refuse stale or missing bands before starting anything
    if unsafe:
        print("autograde: --unsafe: student code runs WITHOUT the sandbox (resource limits only)")
    elif scheduler is None:
        # a sandbox that cannot start here, or that would show the course, stops grading before it begins
        check_available(hidden=[course.root])
    else:
        check_hidden([course.root])  # a worker on this machine would show it too
    if not course.gradebook_path.is_file():
        raise VaelabError(f"{course.root}: no gradebook yet; run `vaelab grade release --course {course.root}`.")
    students = course.students()
    if not students:
        raise VaelabError(f"{course.submitted_dir}: no submissions; run `vaelab grade intake ZIP_DIR` first.")
    if student is not None:
        wanted = [student] if isinstance(student, str) else list(dict.fromkeys(student))
        unknown = [s for s in wanted if s not in students]
        if unknown:
            raise VaelabError(f"no submission from {', '.join(map(repr, unknown))} in {course.submitted_dir}; "
                              f"the students who handed in are {', '.join(students)}.")
        students = wanted
    todo = [s for s in students if force or not _already_graded(course, s)]
    threads = threads or (1 if scheduler else max(1, (os.cpu_count() or 1) // jobs))
    if min(cell_timeout, probe_timeout) < 1:
        raise VaelabError(f"--cell-timeout and --probe-timeout are seconds, at least 1 (got {cell_timeout} "
                          f"and {probe_timeout}).")
    options = GradingOptions(threads=threads, cell_timeout=cell_timeout, unsafe=unsafe, probe_timeout=probe_timeout,
                             warm=not cold)
    where = f"on the Dask cluster at {scheduler}" if scheduler else f"{jobs} at a time"
    print(f"autograde: {len(todo)} of {len(students)} submissions to grade ({len(students) - len(todo)} "
          f"unchanged), {where}, {threads} thread(s) each")
    for student in todo:
        course.autograded_dir(student).mkdir(parents=True, exist_ok=True)
        course.result_path(student).unlink(missing_ok=True)  # a result exists only once finished
    if scheduler:
        from grader.workflow.cluster import grade_on_cluster
        outcomes = grade_on_cluster(course, todo, options, scheduler)
    else:
        from grader.workflow.local_pool import grade_locally
        outcomes = grade_locally(course, todo, options, jobs, timeout)
    results, cut = {}, 0
    bar = tqdm(total=len(todo), unit="submission", desc="autograde")
    started = time.perf_counter()
    try:
        for outcome in outcomes:
            result = keep(course, outcome)
            results[outcome.student] = result
            cut += result.cut
            bar.update(1)
            bar.set_postfix(cut=cut)
    finally:
        bar.close()
        outcomes.close()  # interrupted: the pool stops what runs; what was kept stays
    seconds = time.perf_counter() - started
    print(f"autograde: {len(results)} graded in {seconds:.0f} s, {cut} cut short by a limit or not graded")
    for student, result in sorted(results.items()):
        if result.cut or result.flags:
            print(f"  {student}: {'; '.join([result.status, *result.flags])}")
    print(f"next: vaelab grade feedback --course {course.root}; vaelab grade export --course {course.root}")
    return results
