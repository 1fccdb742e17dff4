"""Grading one real submission where the Python environment lies under a temporary folder, as
on a CI runner or a JupyterHub image: warm, from a zygote that shows it; and, when a warm run
fails before the student's first cell for a reason of the grader's (here the zygote is gone),
graded again cold, once, with the record saying why (grader/engine/grade.py).

The student's model cell imports a module from a folder on PYTHONPATH under the test's
temporary folder: a run that could not see it would lose every method's points.
"""

from __future__ import annotations

import dataclasses
import sys

import nbformat
import pytest

from grader.course import Course
from grader.engine import warm
from grader.engine.grade import GradingOptions, Submission, grade, zygote_for
from grader.engine.inputs import GradingInputs
from grader.engine.sandbox import bwrap_binary
from grader.engine.view import GRADER_DIR

pytestmark = [pytest.mark.slow, pytest.mark.courses,
              pytest.mark.skipif(not sys.platform.startswith("linux") or bwrap_binary() is None,
                                 reason="the sandbox needs Linux and bubblewrap")]


class GoneZygote(warm.Zygote):
    """A zygote that says it is alive but no longer answers (it died after the check)."""

    alive = True


@pytest.fixture(scope="module")
def setting(tmp_path_factory, released_vae_speech):
    root = tmp_path_factory.mktemp("anywhere")
    site = root / "site"
    site.mkdir()
    (site / "vaelab_tmp_student_module.py").write_text("HIDDEN = 16\n")
    course = Course.load(released_vae_speech)
    examples = course.task.examples()
    shortened = examples.EXAMPLES["shortened"]  # correct methods, a short training: seconds
    example = dataclasses.replace(shortened, model_cell="import vaelab_tmp_student_module\n" + shortened.model_cell)
    notebook = examples.make_submission(nbformat.read(course.release_notebook, as_version=4), example)
    inputs = GradingInputs.from_course(course)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "path", [*sys.path, str(site)])
        patch.setenv("PYTHONPATH", str(site))
        yield {"root": root, "inputs": inputs, "folder": inputs.materialize(root / "cache"),
               "submission": Submission("anywhere", nbformat.writes(notebook)), "expected": example.expected}


def _scores(result) -> dict[str, float]:
    return {test: verdict.score for test, verdict in result.tests.items()}


def _expected(setting, result) -> dict[str, float]:
    return {test: score for test, score in setting["expected"].items() if test in result.tests}


def test_a_submission_is_graded_warm_from_an_environment_under_tmp(setting):
    zygote = zygote_for(setting["inputs"], setting["folder"], GradingOptions(), private=True)
    assert zygote is not None, "warm starts must work on the test machine"
    try:
        _, result = grade(setting["submission"], setting["inputs"], cache=setting["root"] / "cache", zygote=zygote)
    finally:
        zygote.close()
    assert result.cold_retry is None and not result.problems, result.status
    assert _scores(result) == _expected(setting, result)


def test_a_warm_failure_before_the_students_code_is_graded_again_cold(setting):
    gone = GoneZygote(setting["root"] / "spool", (setting["folder"] / "data", GRADER_DIR))
    gone.spool.mkdir(exist_ok=True)
    _, result = grade(setting["submission"], setting["inputs"], cache=setting["root"] / "cache", zygote=gone)
    assert "before the student's code ran" in result.cold_retry and "did not answer" in result.cold_retry
    assert not result.problems, result.status
    assert _scores(result) == _expected(setting, result)
