"""`vaelab grade release`: the student notebook, the student bundle, and the grading bands.

The source notebook is refreshed from the solutions folder into the course; nbgrader's
generate_assignment makes the student version in release/ (the same generation as
`vaelab labs`, stamped the same way) and records the assignment's cells in the gradebook.
The bundle students receive is that notebook, a wheel of the core package only (no grader,
no solutions, no bands) and INSTALL.md: students never need the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from grader.workflow import bands as grading_bands
from grader.course import Course
from grader.kit.generate_labs import generate_assignment, notebook_text, stamp
from grader.kit.student_bundle import build_bundle
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError

#: Files that must never reach release/: the grading rules and the bands.
INSTRUCTOR_ONLY = ("grading.py", "bands.json")


def main(course: str | Path = ".", skip_bands: bool = False, threads: int | None = None) -> Path:
    """Release the course's assignment; returns the student bundle's path.

    skip_bands: do not (re)compute the grading bands now (run `vaelab grade bands` later).
    """
    course = Course.load(course)
    task = course.task
    with atomic_path(course.source_notebook) as tmp:
        shutil.copyfile(task.notebook_path, tmp)
    release = generate_assignment(course)
    leaked = [p for name in INSTRUCTOR_ONLY for p in release.rglob(name)]
    if leaked:
        for path in leaked:
            path.unlink()
        raise VaelabError(f"{release} held instructor-only files {[str(p) for p in leaked]} (removed): keep "
                          f"only the notebook in {course.source_notebook.parent}.")
    notebook = stamp(nbformat.read(course.release_notebook, as_version=4), course.assignment, course.notebook)
    with atomic_path(course.release_notebook) as tmp:
        tmp.write_text(notebook_text(notebook))
    bundle = build_bundle([course.release_notebook],
                          course.student_bundle_path,
                          course.assignment, course.task.rules().STUDENT_WORK)
    print(f"release: student notebook {course.release_notebook}; bundle for students {bundle}")
    if not skip_bands:
        grading_bands.main(course.root, threads=threads)
    else:
        print(f"release: bands not computed; run `vaelab grade bands --course {course.root}` before autograde")
    return bundle
