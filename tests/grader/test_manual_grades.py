"""Grades given by hand in formgrader survive the autograder (grader/workflow/manual_grades.py),
on the small kernel-free course of gradebook_fixture.py: save_grades is called as `vaelab grade
autograde` calls it after each worker, with the autograded notebook a worker would leave.

The end-to-end version, through a real browser and real kernels, is test_formgrader_browser.py.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.course import Course
from grader.engine.result import GradingResult, Verdict
from grader.kit.example_submissions import write_report_pdf
from grader.workflow import export
from grader.workflow.manual_grades import LINK_MARK, REPORT
from grader.workflow.save_grades import save_grades
from tests.grader.gradebook_fixture import ASSIGNMENT, NOTEBOOK, copy_course, source_notebook

STUDENT = "ada"  # answer_2_4 graded by hand (3.5 of 4), every test autograded


@pytest.fixture
def course(tmp_path_factory, tmp_path) -> Course:
    course = Course.load(copy_course(tmp_path_factory, tmp_path / "course"))
    submitted = course.submitted_notebook(STUDENT)
    submitted.parent.mkdir(parents=True)
    nbformat.write(source_notebook(), submitted)
    write_report_pdf(submitted.parent / REPORT, STUDENT)
    return course


def autograded(course: Course, sha256: str) -> GradingResult:
    """What a worker leaves for the student: the notebook (every test passes) and its result."""
    nbformat.write(source_notebook(), course.autograded_dir(STUDENT) / NOTEBOOK)
    return GradingResult(student=STUDENT, assignment=ASSIGNMENT, submission_sha256=sha256,
                         tests={"test_build": Verdict("test_build", 2, 2)})


def answer(course: Course) -> tuple[float | None, bool]:
    with Gradebook(course.db_url) as gradebook:
        grade = gradebook.find_grade("answer_2_4", NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT, STUDENT)
        return grade.manual_score, grade.needs_manual_grade


def status(course: Course) -> str:
    return next(row for row in export.class_table(course.root).rows if row.student_id == STUDENT).status


def test_the_same_notebook_graded_again_keeps_the_hand_grading_final(course):
    save_grades(course, autograded(course, "aaa"))  # first save: no record of the notebook yet
    with Gradebook(course.db_url) as gradebook:  # the instructor resolves it in formgrader
        gradebook.find_grade("answer_2_4", "vae_speech", ASSIGNMENT, STUDENT).needs_manual_grade = False
        gradebook.db.commit()
    result = autograded(course, "aaa")
    save_grades(course, result)
    assert answer(course) == (3.5, False) and result.flags == []
    assert status(course) == "graded"


def test_a_new_notebook_keeps_the_hand_grading_for_review_and_says_so(course):
    save_grades(course, autograded(course, "aaa"))
    result = autograded(course, "bbb")
    save_grades(course, result)
    assert answer(course) == (3.5, True)
    assert result.flags == ["graded by hand for an earlier submission (answer_2_4): the points and "
                               "comments are kept, to review in formgrader (Resolve)"]
    assert status(course).startswith("pending manual grading (answer_2_4)")


def test_the_autograded_notebook_links_the_report_once(course):
    result = autograded(course, "aaa")
    for _ in range(2):  # the second save finds the link already there
        save_grades(course, copy.deepcopy(result))
    notebook = nbformat.read(course.autograded_dir(STUDENT) / NOTEBOOK, as_version=4)
    links = [cell for cell in notebook.cells if cell.metadata.get("vaelab", {}).get(LINK_MARK)]
    assert len(links) == 1 and notebook.cells[0] is links[0] and f'href="{REPORT}"' in links[0].source
    copied = course.autograded_dir(STUDENT) / REPORT
    assert copied.read_bytes() == (course.submitted_notebook(STUDENT).parent / REPORT).read_bytes()
