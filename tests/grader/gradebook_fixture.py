"""A small real nbgrader course for the export and report tests, built without any kernel.

nbgrader's own generate_assignment fills the gradebook from a source notebook (assignment,
notebook, grade cells with points and types); students, submissions and grades then go in
through nbgrader's gradebook API, and the autograder's records are written as
vaelab_result.json, as `vaelab grade` does. Building takes a few seconds (nbgrader asks
alembic for the schema version of a new gradebook), so it happens once per test session and
each test gets a copy.

The class, by design one case each:
  ada      everything graded                          -> graded, 12.5 of 13
  bob      written answer not graded yet, a test      -> pending manual grading (answer_2_4); flag
           failed, a test cell was tampered with
  cy       timed out in training: test_training never -> could not be fully graded: timeout ...;
           ran, written answer not graded                pending manual grading (answer_2_4, test_training)
  dee      no submission                              -> no submission
  HOSTILE  an id and a failure message made to break HTML
"""

from __future__ import annotations

import functools
import json
import shutil
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from grader.course import COURSE_ID, CONFIG_NAME
from grader.engine.result import GRADED, RESULT_FILE, Cut, GradingResult, Problem, Verdict
from grader.engine.environment import nbgrader_tools

ASSIGNMENT = "vae_speech"
NOTEBOOK = "vae_speech.ipynb"
# (grade_id, points, kind) in notebook order; the answer sits between tests on purpose, so that
# neither alphabetical nor grouped-by-type order is the right one.
PARTS = [("test_build", 2, "code"), ("test_get_loss", 4, "code"),
         ("answer_2_4", 4, "markdown"), ("test_training", 3, "code")]
MAX_TOTAL = 13
HOSTILE = "<img src=x onerror=alert(1)>"  # no "/" in it: it is also a folder name
LOSS_MESSAGE = ("get_loss: expected recon = 12.31, got 6.15 (half of it): is the factor 1/2 "
                "of a real Gaussian in there? p(x|z) is a complex Gaussian")
HOSTILE_MESSAGE = "build: got </script><script>alert('pwned')</script>"
TIMEOUT = "timeout after 600 s in cell 21 (train_scratch)"
FLAG = "test cell test_build was edited; restored"


def _grade_meta(grade_id: str, points: int | None, grade: bool, solution: bool) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook() -> nbformat.NotebookNode:
    """A miniature of the lab: a solution cell, three test cells and a written answer."""
    cells = [new_markdown_cell("# VAE on speech (test course)"),
             new_code_cell("class VAE:\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION",
                           metadata=_grade_meta("model", None, grade=False, solution=True))]
    for grade_id, points, kind in PARTS:
        if kind == "code":
            cells.append(new_code_cell("assert True", metadata=_grade_meta(grade_id, points, True, False)))
        else:
            cells.append(new_markdown_cell("### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                                           metadata=_grade_meta(grade_id, points, True, True)))
    return new_notebook(cells=cells)


def _result(status: str, scores: dict[str, float], messages: dict[str, list[str]],
            flags: list[str] = ()) -> dict:
    points = {grade_id: p for grade_id, p, kind in PARTS if kind == "code"}
    tests = {grade_id: Verdict(grade_id, score, points[grade_id], tuple(messages.get(grade_id, ())))
             for grade_id, score in scores.items()}
    problems = [] if status == GRADED else [Problem(Cut.SUBMISSION_TIME, status)]
    return GradingResult(student="", assignment=ASSIGNMENT, submission_sha256="0" * 64, flags=list(flags),
                         problems=problems, tests=tests).as_dict()


# student -> {grade_id: (auto_score, manual_score, needs_manual_grade)}, and the autograder's record
SUBMISSIONS = {
    "ada": ({"test_build": (2, None, False), "test_get_loss": (4, None, False),
             "answer_2_4": (None, 3.5, False), "test_training": (3, None, False)},
            _result("graded", {"test_build": 2, "test_get_loss": 4, "test_training": 3}, {})),
    "bob": ({"test_build": (2, None, False), "test_get_loss": (0, None, False),
             "answer_2_4": (None, None, True), "test_training": (3, None, False)},
            _result("graded", {"test_build": 2, "test_get_loss": 0, "test_training": 3},
                    {"test_get_loss": [LOSS_MESSAGE]}, flags=[FLAG])),
    "cy": ({"test_build": (2, None, False), "test_get_loss": (0, None, False),
            "answer_2_4": (None, None, True), "test_training": (None, None, True)},
           _result(TIMEOUT, {"test_build": 2, "test_get_loss": 0},
                   {"test_get_loss": [LOSS_MESSAGE, "get_loss: kl is negative (-0.4); KL is >= 0"]})),
    HOSTILE: ({"test_build": (0, None, False), "test_get_loss": (0, None, False),
               "answer_2_4": (None, None, True), "test_training": (3, None, False)},
              _result("graded", {"test_build": 0, "test_get_loss": 0, "test_training": 3},
                      {"test_build": [HOSTILE_MESSAGE], "test_get_loss": [LOSS_MESSAGE]})),
}
STUDENTS = sorted([*SUBMISSIONS, "dee"])


def build_course(root: Path) -> Path:
    """Create the course described in the module docstring in folder `root`; returns it."""
    source = root / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    nbformat.write(source_notebook(), source / NOTEBOOK)
    (root / CONFIG_NAME).write_text(json.dumps({"assignment": ASSIGNMENT, "notebook": NOTEBOOK}))

    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.Application.log_level = "WARN"
    with nbgrader_tools():
        generated = NbGraderAPI(CourseDirectory(config=config), config=config).generate_assignment(ASSIGNMENT)
    assert generated["success"], generated["log"] + str(generated.get("error"))

    with nbgrader_tools(), Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE_ID) as gradebook, \
            warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are its own.
        warnings.simplefilter("ignore", category=Warning)
        for student in STUDENTS:
            gradebook.add_student(student)
        for student, (grades, record) in SUBMISSIONS.items():
            gradebook.add_submission(ASSIGNMENT, student)
            for grade_id, (auto, manual, needs_manual) in grades.items():
                grade = gradebook.find_grade(grade_id, NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT, student)
                grade.auto_score, grade.manual_score, grade.needs_manual_grade = auto, manual, needs_manual
            gradebook.db.commit()
            folder = root / "autograded" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            (folder / RESULT_FILE).write_text(json.dumps(record))
    return root


@functools.cache
def _template(base: Path) -> Path:
    return build_course(base / "course_template")


def copy_course(tmp_path_factory: pytest.TempPathFactory, dest: Path) -> Path:
    """A fresh copy of the session's course at `dest` (built on first use)."""
    shutil.copytree(_template(tmp_path_factory.getbasetemp()), dest)
    return dest
