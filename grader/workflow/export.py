"""`vaelab grade export`: the class's grades as one CSV, with a column per graded part.

nbgrader's own `nbgrader export` writes one total per student; an instructor needs the points
of every question (to enter per-question marks in the LMS, to spot a test that fails for
everyone) and to know which submissions are not finished, and why. This module reads nbgrader's
gradebook through its API, adds what the autograder recorded beside each submission
(COURSE/autograded/<student>/<assignment>/vaelab_result.json) and writes COURSE/grades.csv:

    student_id, <one column per grade cell, named by its grade_id, in notebook order>,
    total, max_total, status

one row per student of the gradebook, sorted by student_id. A part not graded yet is an empty
cell; a student without a submission has empty parts, total 0 and status `no submission`.
The status is one short text, its pieces joined with "; ":
  1. `could not be fully graded: <reason>` when the autograder recorded a problem (timeout,
     kernel death); it comes first because it explains the rest;
  2. `graded` (every part has a score, shown only when there is no problem),
     `pending manual grading (<grade ids>)` or `no submission`;
  3. the autograder's flags, e.g. `test cell test_build was edited; restored`.

The writer is an nbgrader export plugin, so `nbgrader export
--exporter=grader.workflow.export.PerPartCsvExportPlugin` in the course folder writes the same file.
`class_table()` is the reading half (the course folder read through grader.course.Course); the
class report (grader/workflow/report.py) uses it too.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins.export import ExportPlugin
from traitlets import Unicode

from grader.course import COURSE_ID, CONFIG_NAME, Course
from grader.engine.result import RESULT_FILE, Cut, GradingResult, Problem
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError


@dataclass(frozen=True)
class Part:
    """One graded cell of the notebook, i.e. one CSV column."""

    grade_id: str      # nbgrader's grade_id: the column name
    max_score: float   # its points
    autograded: bool   # a code (test) cell scored by the autograder; markdown answers are graded by hand


@dataclass(frozen=True)
class StudentRow:
    """One student's line of the class table."""

    student_id: str
    submitted: bool                   # a submission of the assignment is in the gradebook
    scores: dict[str, float | None]   # grade_id -> points (nbgrader's grade.score), None until graded
    pending: list[str]                # grade ids still waiting for a score, in notebook order
    max_total: float                  # sum of the parts' points
    result: GradingResult | None      # None when the autograder left no record

    @property
    def total(self) -> float:
        return sum(score for score in self.scores.values() if score is not None)

    @property
    def problems(self) -> list[str]:
        """What the autograder recorded beyond the scores: its problem (if any), then its flags."""
        if self.result is None:
            return []
        return ([self.result.status] if self.result.cut else []) + self.result.flags

    @property
    def state(self) -> str:
        """'no submission', 'pending' (some part has no final score yet) or 'graded'."""
        if not self.submitted:
            return "no submission"
        return "pending" if self.pending else "graded"

    @property
    def status(self) -> str:
        """The CSV's status text (rules in the module docstring)."""
        grading = {"no submission": "no submission", "graded": "graded",
                   "pending": f"pending manual grading ({', '.join(self.pending)})"}[self.state]
        if self.result is not None and self.result.cut:
            reason, *flags = self.problems  # the reason comes first: it explains the rest
            return "; ".join([reason, *flags] if self.state == "graded" else [reason, grading, *flags])
        return "; ".join([grading, *self.problems])


@dataclass(frozen=True)
class ClassTable:
    """Every student's per-part scores for the course's assignment."""

    assignment: str
    notebook: str
    parts: list[Part]       # in the order of the cells in the source notebook
    rows: list[StudentRow]  # sorted by student_id

    @property
    def max_total(self) -> float:
        return sum(part.max_score for part in self.parts)

    def summary(self) -> str:
        """'N students: g graded, p pending manual grading, n without submission; k with problems'."""
        states = [row.state for row in self.rows]
        problems = sum(1 for row in self.rows if row.problems)
        return (f"{len(self.rows)} students: {states.count('graded')} graded, "
                f"{states.count('pending')} pending manual grading, "
                f"{states.count('no submission')} without submission; "
                f"{problems} with autograder problems or flags")


def load_course(course: str | Path) -> Course:
    """The course in folder `course` (Course.load checks what the export needs)."""
    return Course.load(course)


def read_result(setup: Course, student: str) -> GradingResult | None:
    """The autograder's record of `student`; None when there is none.

    An unreadable record does not stop the export: it becomes the submission's problem, so the
    row says to look at it.
    """
    try:
        result = setup.result(student)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        reason = " ".join(f"unreadable {RESULT_FILE} ({type(err).__name__}: {err}); rerun the autograder "
                          "on this submission".split())
        return GradingResult(student=student, assignment=setup.assignment, submission_sha256="",
                             problems=[Problem(Cut.GRADER, reason)], tests={})
    return result


def _source_order(setup: Course) -> list[str]:
    """grade_ids of the cells of the source notebook, top to bottom ([] if it is not there)."""
    if not setup.source_notebook.is_file():
        print(f"note: {setup.source_notebook} is missing; columns follow the gradebook's order")
        return []
    cells = nbformat.read(setup.source_notebook, as_version=4).cells
    return [cell.metadata["nbgrader"]["grade_id"] for cell in cells
            if "grade_id" in cell.metadata.get("nbgrader", {})]


def _parts(gradebook: Gradebook, setup: Course) -> list[Part]:
    try:
        gradebook.find_assignment(setup.assignment)
    except MissingEntry:
        raise VaelabError(f"the gradebook of {setup.root} has no assignment {setup.assignment!r} (named in "
                          f"{CONFIG_NAME}); run `vaelab grade release` to add it.") from None
    try:
        cells = gradebook.find_notebook(setup.notebook.removesuffix(".ipynb"), setup.assignment).grade_cells
    except MissingEntry:
        raise VaelabError(f"assignment {setup.assignment!r} in the gradebook of {setup.root} has no notebook "
                          f"{setup.notebook!r} (named in {CONFIG_NAME}); run `vaelab grade release`.") from None
    order = {grade_id: index for index, grade_id in enumerate(_source_order(setup))}
    # Cells the source no longer has go last, in the gradebook's order (sorted() is stable).
    cells = sorted(cells, key=lambda cell: order.get(cell.name, len(order)))
    return [Part(cell.name, float(cell.max_score), cell.cell_type == "code") for cell in cells]


def _student_row(gradebook: Gradebook, setup: Course, parts: list[Part], student_id: str) -> StudentRow:
    result = read_result(setup, student_id)
    max_total = sum(part.max_score for part in parts)
    try:  # nbgrader names notebooks without the suffix
        submitted = gradebook.find_submission_notebook(setup.notebook.removesuffix(".ipynb"),
                                                       setup.assignment, student_id)
    except MissingEntry:
        return StudentRow(student_id, False, {part.grade_id: None for part in parts}, [], max_total, result)
    grades = {grade.name: grade for grade in submitted.grades}
    scores, pending = {}, []
    for part in parts:
        grade = grades.get(part.grade_id)
        # grade.score is manual_score if set, else auto_score, but 0 when neither is: not graded.
        graded = grade is not None and (grade.manual_score is not None or grade.auto_score is not None)
        scores[part.grade_id] = float(grade.score) if graded else None
        if not graded or grade.needs_manual_grade:
            pending.append(part.grade_id)
    return StudentRow(student_id, True, scores, pending, max_total, result)


def read_class(gradebook: Gradebook, course: str | Path | Course,
               students: Collection[str] | None = None) -> ClassTable:
    """The class table of the course's assignment (vaelab_course.json), from `gradebook`.

    `students`: only these ids (default: every student in the gradebook).
    """
    setup = course if isinstance(course, Course) else load_course(course)
    parts = _parts(gradebook, setup)
    ids = sorted(student.id for student in gradebook.students
                 if students is None or student.id in students)
    rows = [_student_row(gradebook, setup, parts, student_id) for student_id in ids]
    return ClassTable(setup.assignment, setup.notebook, parts, rows)


def open_gradebook(setup: Course) -> Gradebook:
    """nbgrader's gradebook of the course; an error if there is none (Gradebook() would create it)."""
    if not setup.gradebook_path.is_file():
        raise VaelabError(f"{setup.root} has no nbgrader gradebook ({setup.gradebook_path.name}); run `vaelab grade init "
                          "DIR` to set the course up, then `vaelab grade release`.")
    return Gradebook(setup.db_url, course_id=COURSE_ID)


def class_table(course: str | Path | Course = ".") -> ClassTable:
    """Per-student, per-part scores and status of the course in folder `course`."""
    setup = course if isinstance(course, Course) else load_course(course)
    with open_gradebook(setup) as gradebook:
        return read_class(gradebook, setup)


def _number(value: float | None) -> str:
    """A score as a spreadsheet reads it: '4', '2.5', '0.333'; '' when there is none."""
    if value is None:
        return ""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text_cell(text: str) -> str:
    """`text` as a spreadsheet shows it, never as a formula: a leading =, +, -, @, tab or carriage
    return (a roster id such as '=HYPERLINK(...)') is quoted with an apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(table: ClassTable, path: str | Path) -> Path:
    """Write `table` as CSV (UTF-8, header row, one row per student) to `path`, atomically."""
    path = Path(path)
    header = ["student_id", *(part.grade_id for part in table.parts), "total", "max_total", "status"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in table.rows:
            writer.writerow([_text_cell(row.student_id),
                             *(_number(row.scores[part.grade_id]) for part in table.parts),
                             _number(row.total), _number(row.max_total), _text_cell(row.status)])
    return path


class PerPartCsvExportPlugin(ExportPlugin):
    """nbgrader export plugin: one CSV row per student, one column per graded part, a status.

    `to` (nbgrader's --to) defaults to COURSE/grades.csv; `course` to the nbgrader course root
    (the folder `nbgrader export` runs in). `student` limits the rows; `assignment`, if given,
    must name the course's assignment (the file holds one assignment's parts).
    """

    course = Unicode("", help="vaelab course folder (holding vaelab_course.json); "
                              "default: nbgrader's course root").tag(config=True)

    def course_folder(self) -> Path:
        if self.course:
            return Path(self.course)
        coursedir = getattr(self.parent, "coursedir", None)  # set when run by nbgrader's ExportApp
        return Path(coursedir.root if coursedir is not None else os.getcwd())

    def write(self, gradebook: Gradebook) -> tuple[Path, ClassTable]:
        """Read the class table from `gradebook`, write the CSV; returns (path, table)."""
        course = load_course(self.course_folder())
        table = read_class(gradebook, course, students=[str(s) for s in self.student] or None)
        wanted = [str(name) for name in self.assignment]
        if wanted and wanted != [table.assignment]:
            raise VaelabError(f"this exporter writes the parts of {table.assignment!r} (the assignment of "
                              f"{course.config_path}); --assignment {wanted} does not match it.")
        return write_csv(table, Path(self.to) if self.to else course.grades_csv), table

    def export(self, gradebook: Gradebook) -> None:
        path, table = self.write(gradebook)
        self.log.info("Wrote %s: %s", path, table.summary())


def main(course: str | Path = ".", out: str | Path | None = None) -> Path:
    """Write the per-part grades of the course in `course` to `out` (default COURSE/grades.csv).

    Returns the CSV's path.
    """
    setup = load_course(course)
    out = Path(out) if out is not None else setup.grades_csv
    with open_gradebook(setup) as gradebook:
        path, table = PerPartCsvExportPlugin(course=str(setup.root), to=str(out)).write(gradebook)
    print(f"wrote {path}: {table.summary()}")
    print("next: `vaelab grade report` (the class report: score histogram, pass rate per test, "
          "frequent failures, manual grading left)")
    return path
