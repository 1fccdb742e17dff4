"""A course directory: nbgrader's layout plus what vaelab adds (`vaelab grade init` makes one:
grader/workflow/init.py).

    COURSE/
      nbgrader_config.py        nbgrader's settings for this course (formgrader reads it too)
      vaelab_course.json        the assignment, the solutions folder, the speaker data
      gradebook.db              nbgrader's SQLite gradebook (written by one process at a time)
      data/speaker_A.npz, B     the course's speaker data, copied in: grading runs every notebook on it
      data/...                  data the assignment makes for itself (its grading.py's `course_data`),
                                e.g. latent_space's sweeps; each reaches the kernel as an environment variable
      source/<assignment>/      the instructor's notebook (refreshed from solutions/ by release)
      release/<assignment>/     the student notebook (made by nbgrader's generate_assignment)
      student_bundle/<assignment>_student_bundle.zip   what students get: notebook + wheel + INSTALL.md
      submitted/<student>/<assignment>/   notebook, timestamp.txt, report.pdf (from intake)
      intake.csv                what became of every ZIP taken in
      autograded/<student>/<assignment>/  judged notebook + vaelab_result.json (a GradingResult) + report.pdf
      feedback/<student>/<assignment>/    HTML feedback (<notebook>.html)
      grading/bands.json        numeric bands of the reference runs (instructor-only)
      grading/reference_probes.pt  the reference's probes, made with the bands (instructor-only)
      grading/saved_submissions.json  the notebook whose grades the gradebook holds, per student
      grades.csv                the per-part grades (export)
      reports/report.html       the class report, its figures beside it (report)

Every verb takes `course` (default: the current folder) and reads it through `Course.load`: this
class is the one reader of the layout, and the only place where its paths are spelled (the
gradebook's address too: `db_url`). `Course(root)` alone, without a configuration, gives the paths
that do not depend on the assignment (`vaelab grade init` writes them before the configuration
exists). Grading a submission does not read the course at all (the engine takes GradingInputs,
grader/engine/inputs.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from grader.assignment import Assignment, assignment
from grader.engine.result import RESULT_FILE
from vaelab_core.errors import VaelabError

CONFIG_NAME = "vaelab_course.json"
COURSE_ID = "vaelab"
SPEAKERS = ("A", "B")
TIMESTAMP = "timestamp.txt"   # in submitted/<student>/<assignment>/: when the submission arrived (nbgrader's)
REPORT = "report.pdf"         # in submitted/ and autograded/<student>/<assignment>/: the student's PDF report


class CourseError(VaelabError):
    """A course directory that is missing or incomplete, with the command that fixes it."""


@dataclass(frozen=True)
class Course:
    """A course directory and its configuration (see the module docstring)."""

    root: Path
    config: dict = field(default_factory=dict)  # vaelab_course.json; empty: the layout alone

    @classmethod
    def load(cls, root: str | Path = ".") -> Course:
        """The course in folder `root`; raises CourseError, saying what to run, when the folder is
        not a course or its vaelab_course.json is damaged."""
        root = Path(root).resolve()
        path = cls(root).config_path
        if not path.is_file():
            raise CourseError(f"{root} is not a vaelab course directory (no {CONFIG_NAME}). Create one with "
                              "`vaelab grade init DIR`, or pass --course DIR.")
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            names = config["assignment"], config["notebook"]
        except KeyError as missing:
            raise CourseError(f"{path} names no {missing}; rerun `vaelab grade init DIR` (it writes the "
                              "assignment and its notebook file there).") from None
        except (ValueError, TypeError) as err:
            raise CourseError(f"{path} is damaged ({err!r}; expected JSON with 'assignment' and 'notebook'): "
                              "run `vaelab grade init` again.") from None
        if not all(isinstance(name, str) for name in names):
            raise CourseError(f"{path}: \"assignment\" and \"notebook\" should be names (strings), got "
                              f"{names[0]!r} and {names[1]!r}.")
        return cls(root, config)

    def source_grade_ids(self) -> frozenset[str]:
        """nbgrader grade ids of the instructor's source notebook (which cells make the assignment)."""
        import nbformat

        try:
            cells = nbformat.read(self.source_notebook, as_version=4).cells
        except (OSError, ValueError) as err:
            raise CourseError(f"cannot read the source notebook {self.source_notebook} ({err}): it tells which "
                              "notebook belongs to the assignment; run `vaelab grade init` again.") from None
        return frozenset(cell.metadata.get("nbgrader", {}).get("grade_id") for cell in cells) - {None}

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

    # --- the layout (the module docstring's table) ------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def nbgrader_config_path(self) -> Path:
        return self.root / "nbgrader_config.py"

    @property
    def gradebook_path(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        """nbgrader's address of the gradebook (SQLAlchemy's)."""
        return f"sqlite:///{self.gradebook_path}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @staticmethod
    def speaker_file(speaker: str) -> str:
        """Where `vaelab grade init` copies a speaker's data, relative to the root (vaelab_course.json
        records it)."""
        return f"data/speaker_{speaker}.npz"

    @property
    def source_dir(self) -> Path:
        """source/<assignment>/: the instructor's version, which nbgrader's generate_assignment reads."""
        return self.root / "source" / self.assignment

    @property
    def source_notebook(self) -> Path:
        return self.source_dir / self.notebook

    @property
    def release_dir(self) -> Path:
        """release/<assignment>/: where nbgrader's generate_assignment writes the student version."""
        return self.root / "release" / self.assignment

    @property
    def release_notebook(self) -> Path:
        return self.release_dir / self.notebook

    @property
    def student_bundle_path(self) -> Path:
        return self.root / "student_bundle" / f"{self.assignment}_student_bundle.zip"

    @property
    def submitted_dir(self) -> Path:
        """submitted/: every student's submissions (nbgrader's)."""
        return self.root / "submitted"

    def submission_dir(self, student: str) -> Path:
        """submitted/<student>/<assignment>/: one student's submission."""
        return self.submitted_dir / student / self.assignment

    def submitted_notebook(self, student: str) -> Path:
        return self.submission_dir(student) / self.notebook

    def submitted_report(self, student: str) -> Path:
        return self.submission_dir(student) / REPORT

    def submitted_timestamp(self, student: str) -> Path:
        """When the submission arrived, in nbgrader's format (nbgrader's autograde reads it)."""
        return self.submission_dir(student) / TIMESTAMP

    def submission(self, student: str):
        """`student`'s submission as the engine takes it (grader.engine.grade.Submission)."""
        from grader.engine.grade import Submission

        notebook = self.submitted_notebook(student)
        stamp = self.submitted_timestamp(student)
        return Submission(student, notebook.read_text(encoding="utf-8"),
                          stamp.read_text().strip() if stamp.is_file() else None)

    @property
    def intake_record(self) -> Path:
        """intake.csv: what became of every ZIP taken in (grader/workflow/intake.py)."""
        return self.root / "intake.csv"

    def autograded_dir(self, student: str) -> Path:
        return self.root / "autograded" / student / self.assignment

    def autograded_notebook(self, student: str) -> Path:
        """The judged notebook (absent when the run did not finish)."""
        return self.autograded_dir(student) / self.notebook

    def autograded_report(self, student: str) -> Path:
        """The student's report copied beside the judged notebook, where formgrader serves it."""
        return self.autograded_dir(student) / REPORT

    def result_path(self, student: str) -> Path:
        """The autograder's record of one submission (grader.engine.result.GradingResult)."""
        return self.autograded_dir(student) / RESULT_FILE

    def result(self, student: str):
        """The autograder's record of `student`'s submission, or None when there is none yet.
        Raises OSError, ValueError, KeyError or TypeError when it is unreadable."""
        from grader.engine.result import GradingResult

        path = self.result_path(student)
        return GradingResult.load(path) if path.is_file() else None

    @property
    def feedback_dir(self) -> Path:
        return self.root / "feedback"

    def feedback_page(self, student: str) -> Path:
        """The HTML page nbgrader's generate_feedback writes for `student`."""
        return self.feedback_dir / student / self.assignment / Path(self.notebook).with_suffix(".html")

    @property
    def bands_path(self) -> Path:
        return self.root / "grading" / "bands.json"

    @property
    def reference_probes_path(self) -> Path:
        """The reference's probes, computed with the bands (torch.save of plain tensors)."""
        return self.root / "grading" / "reference_probes.pt"

    @property
    def saved_submissions_path(self) -> Path:
        """{student: sha256 of the notebook whose grades the gradebook holds} (grader/workflow/manual_grades.py)."""
        return self.root / "grading" / "saved_submissions.json"

    @property
    def grades_csv(self) -> Path:
        """Where `vaelab grade export` writes by default."""
        return self.root / "grades.csv"

    @property
    def report_html(self) -> Path:
        """Where `vaelab grade report` writes by default (its figures beside it)."""
        return self.root / "reports" / "report.html"

    # --- the data a notebook of this course reads ---------------------------------------------

    @property
    def data_paths(self) -> dict[str, Path]:
        """{environment variable: path} of the data the assignment made for the course (may be empty)."""
        return {name: self.root / path for name, path in self.config.get("data", {}).items()}

    def kernel_data_paths(self) -> dict[str, Path]:
        """{environment variable: path} of every datum a notebook of this course reads."""
        return {"VAELAB_SPEAKER_A": self.speakers["A"], "VAELAB_SPEAKER_B": self.speakers["B"], **self.data_paths}

    def kernel_data(self) -> dict[str, str]:
        """What a notebook of this course is told about its data, as environment variables."""
        return {name: str(path) for name, path in self.kernel_data_paths().items()}

    @property
    def rules(self):
        """The assignment's grading rules (loaded once per process)."""
        return self.task.rules()

    def students(self) -> list[str]:
        """Students with a submitted notebook for this assignment, sorted."""
        return sorted(p.parent.parent.name for p in self.submitted_dir.glob(f"*/{self.assignment}/{self.notebook}"))

    def nbgrader_config(self) -> Config:
        """nbgrader's settings for this course (as nbgrader_config.py says, without reading it)."""
        return nbgrader_config(self.root)


#: nbconvert's template filters replaced in the pages nbgrader renders for this course (formulas
#: as MathML, which reads without a network: grader/workflow/mathml.py).
MARKDOWN_FILTERS = {"markdown2html": "grader.workflow.mathml.markdown2html"}


def nbgrader_config(root: Path) -> Config:
    """nbgrader's settings for a course folder `root` (its gradebook inside it): what
    nbgrader_config.py says, for the APIs that take a Config (a throw-away course too)."""
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = Course(Path(root)).db_url
    config.Application.log_level = "WARN"
    config.HTMLExporter.filters = dict(MARKDOWN_FILTERS)
    return config
