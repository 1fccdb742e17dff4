"""Helpers shared by the end-to-end course tests."""

from __future__ import annotations

import csv
from pathlib import Path


def exported_scores(grades: Path, expected: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The scores grades.csv holds for the students and tests of `expected` (same layout);
    fails if grades.csv has other students."""
    with open(grades, newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(expected)
    return {student: {test: float(rows[student][test]) for test in scores} for student, scores in expected.items()}
