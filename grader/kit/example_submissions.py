"""The assignment's example submissions as students send them: one ZIP each, notebook + PDF.

Made from the course's released student notebook and the assignment's `examples.py`
(instructor-only: the examples hold the solution). `vaelab demo`, the end-to-end tests and the
grading benchmark take them in through `vaelab grade intake` like any class.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import nbformat

from grader.course import Course


def write_report_pdf(path: Path, student: str, pages: int = 1) -> Path:
    """A small real PDF standing in for a student's report (`pages` pages)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        for page in range(pages):
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.1, 0.9, f"Lab report of {student}, page {page + 1}")
            pdf.savefig(fig)
            plt.close(fig)
    return path


def write_example_zips(course: Course, out: Path, names: list[str] | None = None,
                       arrived: float = 1_764_000_000.0, students: dict[str, str] | None = None) -> dict[str, Path]:
    """One ZIP per example in the folder `out`; returns {student id: path}.

    names: the examples to write (default: all), each sent by the student of the same name;
    students: {student id: example name} instead, e.g. a class of 20 cycling through them.
    `arrived`: the ZIPs' modification time (intake reads it as the arrival time).
    """
    examples = course.task.examples()
    release = nbformat.read(course.release_notebook, as_version=4)
    out.mkdir(parents=True, exist_ok=True)
    students = students or {name: name for name in names or list(examples.EXAMPLES)}
    written = {}
    for student, name in students.items():
        notebook = examples.make_submission(release, examples.EXAMPLES[name])
        path = out / f"{student}.zip"
        pdf = write_report_pdf(out / f".{student}.pdf", student)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{student}/{course.notebook}", nbformat.writes(notebook))
            archive.write(pdf, f"{student}/report.pdf")
        pdf.unlink()
        os.utime(path, (arrived, arrived))
        written[student] = path
    return written


def expected_scores(course: Course) -> dict[str, dict[str, float]]:
    """{student id: {test: points}} that the grader must give the examples."""
    return {name: dict(example.expected) for name, example in course.task.examples().EXAMPLES.items()}
