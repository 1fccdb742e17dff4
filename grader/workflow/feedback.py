"""`vaelab grade feedback`: one HTML page per student, made by nbgrader's generate_feedback.

The autograded notebooks hold no hidden-test code (the tests are judged outside the kernel and
their cells show only the verdict), and nbgrader removes any hidden-test region that a notebook
might still carry. As a last guard, every page is searched for the lines of the assignment's
grading rules, with the HTML markup stripped (syntax highlighting splits a line into spans):
a page that holds one is deleted and reported, never sent.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from grader.course import Course
from grader.engine.environment import nbgrader_tools
from grader.engine.result import RESULT_FILE
from vaelab_core.errors import VaelabError

#: Lines shorter than this are too common to mean anything when found in a page.
MIN_LINE = 25


def visible_text(page: str) -> str:
    """The text of an HTML page as a reader sees it: tags removed, entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def secret_lines(course: Course) -> set[str]:
    """Lines that must never reach a student: those of the assignment's grading rules, but for
    lines that the released student notebook shows anyway (imports of the kit, for instance)."""
    import nbformat

    lines = {line.strip() for line in course.task.grading_path.read_text().splitlines()}
    public = {line.strip() for cell in nbformat.read(course.release_notebook, as_version=4).cells
              for line in cell.source.splitlines()}
    return {line for line in lines - public if len(line) >= MIN_LINE and not line.startswith("#")}


def leaked_lines(text: str, secrets: set[str]) -> list[str]:
    lines = {line.strip() for line in text.splitlines()}
    return sorted(lines & secrets)


def main(course: str | Path = ".") -> list[Path]:
    """Write feedback/<student>/<assignment>/<notebook>.html for every graded submission."""
    course = Course.load(course)
    students = [s for s in course.students() if course.autograded_notebook(s).is_file()]
    if not students:
        raise VaelabError(f"{course.root}: nothing autograded yet; run `vaelab grade autograde --course {course.root}`.")
    config = course.nbgrader_config()
    # nbgrader copies the other files of autograded/<student>/<assignment>/ beside the page (the
    # student's report.pdf, which the page links), but not the autograder's record: it holds the
    # bands and the text of every check, which are the instructor's.
    config.CourseDirectory.ignore = [*CourseDirectory().ignore, RESULT_FILE]
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    secrets = secret_lines(course)
    written, withheld = [], []
    for student in students:
        with nbgrader_tools():
            outcome = api.generate_feedback(course.assignment, student, force=True)
        page = course.feedback_page(student)
        if not outcome["success"] or not page.is_file():
            withheld.append(f"{student}: nbgrader could not make the page ({outcome.get('error', '')[-200:]})")
            continue
        if leaked_lines(visible_text(page.read_text(encoding="utf-8")), secrets):
            page.unlink()
            withheld.append(f"{student}: the page held lines of the grading rules and was deleted")
            continue
        written.append(page)
    print(f"feedback: {len(written)} pages in {course.feedback_dir}")
    for line in withheld:
        print(f"  withheld {line}")
    print(f"next: vaelab grade export --course {course.root}")
    return written
