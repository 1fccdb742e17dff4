"""Helpers shared by the end-to-end course tests."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import nbformat

from grader.course import Course
from grader.workflow.feedback import visible_text
from grader.workflow.init import write_nbgrader_config


def exported_scores(grades: Path, expected: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The scores grades.csv holds for the students and tests of `expected` (same layout);
    fails if grades.csv has other students."""
    with open(grades, newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(expected)
    return {student: {test: float(rows[student][test]) for test in scores} for student, scores in expected.items()}


def assert_feedback_shows_no_solution_line(graded: dict, own: tuple[str, ...] = ("correct", "variants")) -> None:
    """Fail if a feedback page of `graded` (a session's graded course, conftest.py: its "course"
    and its "pages") shows a line only the instructor has: a line of a solution region of the
    source notebook (over 15 characters, and in no given cell) or of the grading rules (over 40).
    What the example submissions named in `own` wrote is theirs to see: their lines do not count."""
    course = graded["course"]
    source = nbformat.read(course.task.notebook_path, as_version=4)
    given = {line.strip() for c in source.cells if not c.metadata.get("nbgrader", {}).get("solution")
             for line in c.source.splitlines()}
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", "\n".join(c.source for c in source.cells),
                         flags=re.DOTALL)
    secret = {line.strip() for region in regions for line in region.splitlines()
              if len(line.strip()) > 15 and line.strip() not in given}
    secret |= {line.strip() for line in course.task.grading_path.read_text().splitlines() if len(line.strip()) > 40}
    for name in own:
        notebook = nbformat.read(course.submitted_notebook(name), as_version=4)
        secret -= {line.strip() for cell in notebook.cells for line in cell.source.splitlines()}
    for page in graded["pages"]:
        text = visible_text(page.read_text())
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{page}: {leaked[:3]}"


def copy_course(template: Path, target: Path) -> Course:
    """A copy of the course folder `template` at `target` that a test may change (grade, grade by
    hand, regrade): the whole folder, its nbgrader_config.py pointed at the copy (it names the
    root and the gradebook; the rest of a course holds no absolute path of its own)."""
    shutil.copytree(template, target, symlinks=True)
    write_nbgrader_config(target)
    return Course.load(target)
