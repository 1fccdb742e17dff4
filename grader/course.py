"""A course directory: nbgrader's layout plus what vaelab adds, and `vaelab grade init`.

    COURSE/
      nbgrader_config.py        nbgrader's settings for this course (formgrader reads it too)
      vaelab_course.json        the assignment, the solutions folder, the speaker data
      gradebook.db              nbgrader's SQLite gradebook (written by one process at a time)
      data/speaker_A.npz, B     the course's speaker data, copied in: grading runs every notebook on it
      data/...                  data the assignment makes for itself (its grading.py's `course_data`),
                                e.g. latent_space's sweeps; each reaches the kernel as an environment variable
      source/<assignment>/      the instructor's notebook (refreshed from solutions/ by release)
      release/<assignment>/     the student notebook; student_bundle/: notebook + wheel + INSTALL.md
      submitted/<student>/<assignment>/   notebook, timestamp.txt, report.pdf (from intake)
      autograded/<student>/<assignment>/  judged notebook + vaelab_result.json
      feedback/<student>/<assignment>/    HTML feedback
      grading/bands.json        numeric bands of the reference runs (instructor-only)

Every verb takes `course` (default: the current folder) and reads it through `Course.load`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from grader.reference import DEFAULT_ASSIGNMENT, Assignment, assignment, default_solutions
from vaelab_core.atomic_files import atomic_path
from vaelab_core.datasets import load_dataset
from vaelab_core.errors import VaelabError

CONFIG_NAME = "vaelab_course.json"
COURSE_ID = "vaelab"
SPEAKERS = ("A", "B")


class CourseError(VaelabError):
    """A course directory that is missing or incomplete, with the command that fixes it."""


@dataclass(frozen=True)
class Course:
    """A course directory and its configuration (see the module docstring)."""

    root: Path
    config: dict

    @classmethod
    def load(cls, root: str | Path = ".") -> Course:
        root = Path(root).resolve()
        path = root / CONFIG_NAME
        if not path.is_file():
            raise CourseError(f"{root} is not a vaelab course directory (no {CONFIG_NAME}). Create one with "
                              "`vaelab grade init DIR`, or pass --course DIR.")
        return cls(root, json.loads(path.read_text()))

    # --- what the course grades, and on which data -------------------------------------------

    @property
    def assignment(self) -> str:
        return self.config["assignment"]

    @property
    def notebook(self) -> str:
        """File name of the assignment's notebook, e.g. vae_speech.ipynb."""
        return self.config["notebook"]

    @property
    def task(self) -> Assignment:
        return assignment(self.config["solutions"], self.assignment)

    @property
    def speakers(self) -> dict[str, Path]:
        return {s: self.root / self.config["speakers"][s] for s in SPEAKERS}

    # --- nbgrader's layout --------------------------------------------------------------------

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def source_notebook(self) -> Path:
        return self.root / "source" / self.assignment / self.notebook

    @property
    def release_notebook(self) -> Path:
        return self.root / "release" / self.assignment / self.notebook

    def submitted_notebook(self, student: str) -> Path:
        return self.root / "submitted" / student / self.assignment / self.notebook

    def autograded_dir(self, student: str) -> Path:
        return self.root / "autograded" / student / self.assignment

    def result_path(self, student: str) -> Path:
        """The autograder's record of one submission (status, per-test verdicts, timings)."""
        return self.autograded_dir(student) / "vaelab_result.json"

    @property
    def data_paths(self) -> dict[str, Path]:
        """{environment variable: path} of the data the assignment made for the course (may be empty)."""
        return {name: self.root / path for name, path in self.config.get("data", {}).items()}

    def kernel_data(self) -> dict[str, str]:
        """What a notebook of this course is told about its data, as environment variables."""
        return {"VAELAB_SPEAKER_A": str(self.speakers["A"]), "VAELAB_SPEAKER_B": str(self.speakers["B"]),
                **{name: str(path) for name, path in self.data_paths.items()}}

    @property
    def bands_path(self) -> Path:
        return self.root / "grading" / "bands.json"

    def students(self) -> list[str]:
        """Students with a submitted notebook for this assignment, sorted."""
        return sorted(p.parent.parent.name for p in (self.root / "submitted").glob(f"*/{self.assignment}/{self.notebook}"))

    def nbgrader_config(self) -> Config:
        """nbgrader's settings for this course (as nbgrader_config.py says, without reading it)."""
        config = Config()
        config.CourseDirectory.root = str(self.root)
        config.CourseDirectory.course_id = COURSE_ID
        config.CourseDirectory.db_url = self.db_url
        config.Application.log_level = "WARN"
        return config


NBGRADER_CONFIG = '''# nbgrader settings of this vaelab course (written by `vaelab grade init`).
c = get_config()  # noqa: F821 (nbgrader's config loader provides it)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.db_url = {db_url!r}
'''


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def main(course: str | Path, speaker_a: str | Path | None = None, speaker_b: str | Path | None = None,
         solutions: str | Path | None = None, assignment_name: str = DEFAULT_ASSIGNMENT,
         force: bool = False) -> Course:
    """Create the course directory `course` for `assignment_name` of `solutions` on the given
    speaker data (default: the built-in Speaker A and B). Returns the course."""
    root = Path(course).resolve()
    if (root / CONFIG_NAME).exists() and not force:
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
    for speaker, path in given.items():
        _copy(path, root / "data" / f"speaker_{speaker}.npz")
    _copy(task.notebook_path, root / "source" / task.name / task.notebook_path.name)
    made = rules.course_data(root / "data") if hasattr(rules, "course_data") else {}
    config = {"data": {name: str(Path(path).resolve().relative_to(root)) for name, path in made.items()},
              "assignment": task.name, "notebook": task.notebook_path.name, "solutions": str(task.solutions),
              "speakers": {s: f"data/speaker_{s}.npz" for s in SPEAKERS},
              "speaker_sources": {s: str(p.resolve()) for s, p in given.items()}}
    with atomic_path(root / "nbgrader_config.py") as tmp:
        tmp.write_text(NBGRADER_CONFIG.format(root=str(root), course_id=COURSE_ID,
                                              db_url=f"sqlite:///{root / 'gradebook.db'}"))
    with atomic_path(root / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(config, indent=1) + "\n")
    print(f"course {root}: assignment {task.name} from {task.solutions}, speakers "
          f"A = {given['A']}, B = {given['B']} (copied to {root / 'data'}).")
    print(f"next: vaelab grade release --course {root}")
    return Course.load(root)
