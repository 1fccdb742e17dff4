"""What the instructor grades by hand in nbgrader's formgrader: kept when the autograder runs
again, and the student's PDF report one click away from it.

Written answers, overrides of autograded scores and comments live in nbgrader's gradebook beside
the autograder's scores (grade.manual_score wins over grade.auto_score; comments in
comment.manual_comment). The autograder never clears them, but nbgrader's SaveAutoGrades marks
every cell that has a manual score as needing review again, which would put a graded student back
to `pending manual grading` each time `vaelab grade autograde --force` (or a retry) regrades the
same notebook. So save_grades.py, the one writer of the gradebook, asks this module:

  1. `link_report` before saving: the report (submitted/<student>/<assignment>/report.pdf) is
     copied beside the autograded notebook, where formgrader serves a submission's files
     (/formgrader/submissions/<id>/report.pdf) and from where nbgrader's generate_feedback copies
     it into feedback/; a first cell of the autograded notebook links it. formgrader shows
     notebooks only: this link is how the instructor opens the PDF while grading.
  2. `saved_submission` before and `keep_manual_grades` after SaveAutoGrades: when the notebook
     just graded is the one whose grades the gradebook held (same sha256, recorded in
     COURSE/grading/saved_submissions.json, instructor-only), the hand-given points stay final.
     A new submission keeps nbgrader's rule: the points and comments stay, marked for review
     (formgrader's "Resolve" button), and the result's flags say so (they reach the export's
     status and autograde's summary).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from grader.course import REPORT, Course
from grader.engine.result import GradingResult
from vaelab_core.atomic_files import atomic_path

LINK_MARK = "report_link"          # metadata.vaelab key of the link cell: added once
LINK_CELL = ('<p><b>Report (PDF)</b>: <a href="{name}" target="_blank">{name}</a>, as the student sent '
             "it with this notebook. The written answers below are graded by hand in nbgrader's "
             "formgrader.</p>")


def link_report(course: Course, student: str) -> bool:
    """Copy the student's report.pdf beside the autograded notebook and link it from a first
    markdown cell (once). Returns False when there is no report or no autograded notebook."""
    report = course.submitted_report(student)
    notebook_path = course.autograded_notebook(student)
    if not report.is_file() or not notebook_path.is_file():
        return False
    with atomic_path(course.autograded_report(student)) as tmp:
        shutil.copyfile(report, tmp)
    notebook = nbformat.read(notebook_path, as_version=4)
    if not any(cell.metadata.get("vaelab", {}).get(LINK_MARK) for cell in notebook.cells):
        cell = nbformat.v4.new_markdown_cell(LINK_CELL.format(name=REPORT))
        cell.metadata["vaelab"] = {LINK_MARK: True}
        notebook.cells.insert(0, cell)
        with atomic_path(notebook_path) as tmp:
            nbformat.write(notebook, tmp)
    return True


def saved_submission(course: Course, student: str) -> str | None:
    """sha256 of the student's notebook whose grades the gradebook holds now (None: none recorded)."""
    path = course.saved_submissions_path
    try:
        return json.loads(path.read_text()).get(student) if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        return None  # unreadable: treated as a new submission, whose manual grades are reviewed


def _remember(course: Course, student: str, sha256: str) -> None:
    path = course.saved_submissions_path
    try:
        saved = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        saved = {}
    saved[student] = sha256
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n")


def hand_graded(course: Course, student: str) -> dict[str, float]:
    """{grade_id: manual score} of the student's submission in the gradebook, notebook order."""
    with Gradebook(course.db_url) as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(Path(course.notebook).stem, course.assignment, student)
        except MissingEntry:
            return {}
        return {grade.name: grade.manual_score for grade in notebook.grades if grade.manual_score is not None}


def keep_manual_grades(course: Course, student: str, result: GradingResult, before: str | None) -> None:
    """After the autograder's scores are saved: the hand-given grades are final again if the
    notebook graded now (result.submission_sha256) is the one they were given on (`before`,
    from saved_submission); otherwise they are marked for review and result.flags says so.
    Then records the notebook whose grades the gradebook now holds."""
    now = result.submission_sha256 or None
    manual = hand_graded(course, student)
    same = now is not None and now == before
    if manual:
        with Gradebook(course.db_url) as gradebook:
            notebook = gradebook.find_submission_notebook(Path(course.notebook).stem, course.assignment, student)
            for grade in notebook.grades:
                if grade.name in manual:
                    grade.needs_manual_grade = not same
            gradebook.db.commit()
    if manual and not same:
        result.flags.append(
            f"graded by hand for an earlier submission ({', '.join(manual)}): the points and comments "
            "are kept, to review in formgrader (Resolve)")
    if now is not None:
        _remember(course, student, now)
