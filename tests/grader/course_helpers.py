"""Helpers shared by the end-to-end course tests."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from grader.course import Course
from grader.workflow.init import write_nbgrader_config


def exported_scores(grades: Path, expected: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The scores grades.csv holds for the students and tests of `expected` (same layout);
    fails if grades.csv has other students."""
    with open(grades, newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(expected)
    return {student: {test: float(rows[student][test]) for test in scores} for student, scores in expected.items()}



def copy_course(template: Path, target: Path) -> Course:
    """A copy of the course folder `template` at `target` that a test may change (grade, grade by
    hand, regrade): the whole folder, its nbgrader_config.py pointed at the copy (it names the
    root and the gradebook; the rest of a course holds no absolute path of its own)."""
    shutil.copytree(template, target, symlinks=True)
    write_nbgrader_config(target)
    return Course.load(target)
