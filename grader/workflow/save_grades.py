"""The one writer of the gradebook during autograding.

nbgrader's SQLite gradebook is not made for several writers at once (nbgrader issue 174), so
the processes and cluster workers that grade submissions never open it: each hands back its
graded notebook and GradingResult, and `vaelab grade autograde`'s own process saves them here,
one submission at a time, through nbgrader's API and its own SaveAutoGrades (which reads the
judged test cells' scores as partial credit, and marks written answers for manual grading).
"""

from __future__ import annotations

import warnings

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades
from sqlalchemy.exc import SAWarning

from grader.course import Course
from grader.engine.result import GradingResult
from grader.workflow.manual_grades import keep_manual_grades, link_report, saved_submission


def save_grades(course: Course, result: GradingResult) -> None:
    """Record a graded submission in the gradebook, from its autograded notebook.

    A submission whose run left no autograded notebook (killed, timed out) gets 0 for every
    autograded cell and keeps its written answers waiting for manual grading; `result.status`
    says why, in the export. Grades given by hand in formgrader stay final when the notebook is
    the one they were given on; the autograded notebook links the PDF report (manual_grades.py).
    """
    student = result.student
    before = saved_submission(course, student)
    with Gradebook(course.db_url) as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission trips an SQLAlchemy autoflush warning; the rows are right
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_student(student)
        extra = {"timestamp": result.timestamp} if result.timestamp else {}
        gradebook.update_or_create_submission(course.assignment, student, **extra)
    notebook_path = course.autograded_dir(student) / course.notebook
    name = notebook_path.stem
    if result.tests is not None and notebook_path.is_file():
        link_report(course, student)
        notebook = nbformat.read(notebook_path, as_version=4)
        resources = {"nbgrader": {"notebook": name, "assignment": course.assignment, "student": student,
                                  "db_url": course.db_url}}
        SaveAutoGrades().preprocess(notebook, resources)
        keep_manual_grades(course, student, result, before)
        return
    with Gradebook(course.db_url) as gradebook:
        submission = gradebook.find_submission_notebook(name, course.assignment, student)
        for grade in submission.grades:
            if grade.cell_type == "code":
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gradebook.db.commit()
    keep_manual_grades(course, student, result, before)
