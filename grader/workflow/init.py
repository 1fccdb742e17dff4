"""`vaelab grade init DIR`: create a course folder wired to an assignment and its speaker data
(the layout is described in grader/course.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from grader.assignment import DEFAULT_ASSIGNMENT, assignment, default_solutions
from grader.course import COURSE_ID, MARKDOWN_FILTERS, SPEAKERS, Course, CourseError
from vaelab_core.atomic_files import atomic_path
from vaelab_core.datasets import load_dataset

NBGRADER_CONFIG = '''# nbgrader settings of this vaelab course (written by `vaelab grade init`).
c = get_config()  # noqa: F821 (nbgrader's config loader provides it)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.db_url = {db_url!r}
# formulas as MathML in formgrader and the feedback pages, so they read without a network; only
# where the kit is installed (a `jupyter lab` of another environment keeps nbconvert's TeX)
try:
    import grader.workflow.mathml  # noqa: F401
except ImportError:
    pass
else:
    c.HTMLExporter.filters = {filters!r}
'''


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_nbgrader_config(root: Path) -> None:
    """The nbgrader_config.py of the course folder `root` (it names the folder and the gradebook
    by absolute path: a copied course needs it written again)."""
    layout = Course(root)
    with atomic_path(layout.nbgrader_config_path) as tmp:
        tmp.write_text(NBGRADER_CONFIG.format(root=str(root), course_id=COURSE_ID, db_url=layout.db_url,
                                              filters=MARKDOWN_FILTERS))


def main(course: str | Path, speaker_a: str | Path | None = None, speaker_b: str | Path | None = None,
         solutions: str | Path | None = None, assignment_name: str = DEFAULT_ASSIGNMENT,
         force: bool = False) -> Course:
    """Create the course directory `course` for `assignment_name` of `solutions` on the given
    speaker data (default: the built-in Speaker A and B). Returns the course."""
    root = Path(course).resolve()
    if Course(root).config_path.exists() and not force:
        raise CourseError(f"{root} is already a course directory; pass --force to set it up again "
                          "(submissions and grades are kept).")
    if (speaker_a is None) != (speaker_b is None):
        raise CourseError("give both --speaker-a and --speaker-b, or neither (the built-in speakers).")
    task = assignment(solutions or default_solutions(), assignment_name)
    rules = task.rules()  # a broken grading.py is the instructor's to fix now, not at grading time
    if speaker_a is None:
        from data_prep.defaults import main as build_defaults
        speaker_a, speaker_b = build_defaults()
    given = {"A": Path(speaker_a), "B": Path(speaker_b)}
    for path in given.values():
        load_dataset(path)  # refuse data that breaks the lab contract, with the dataset's own message

    root.mkdir(parents=True, exist_ok=True)
    # the course as its configuration will say, but for the assignment's own data (made below)
    course = Course(root, {"assignment": task.name, "notebook": task.notebook_path.name,
                           "solutions": str(task.solutions),
                           "speakers": {s: Course.speaker_file(s) for s in SPEAKERS}})
    for speaker, path in given.items():
        _copy(path, course.speakers[speaker])
    _copy(task.notebook_path, course.source_notebook)
    made = rules.course_data(course.data_dir)
    config = {"data": {name: str(Path(path).resolve().relative_to(root)) for name, path in made.items()},
              **course.config, "speaker_sources": {s: str(p.resolve()) for s, p in given.items()}}
    write_nbgrader_config(root)
    with atomic_path(course.config_path) as tmp:
        tmp.write_text(json.dumps(config, indent=1) + "\n")
    print(f"course {root}: assignment {task.name} from {task.solutions}, speakers "
          f"A = {given['A']}, B = {given['B']} (copied to {course.data_dir}).")
    print(f"next: vaelab grade release --course {root}")
    return Course.load(root)
