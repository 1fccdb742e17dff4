"""What the instructor and the students see in a browser, in a real headless Chromium
(headless_browser.py): nbgrader's formgrader on a course that `vaelab grade` graded, the class
report and one feedback page of each lab.

Formgrader: on a copy of the session's graded vae_speech course (conftest.py), `jupyter lab`
runs in the course folder, as the README tells instructors, on a free loopback port with a
token. The browser opens one submission, reads each autograded part's points and messages,
opens the PDF report from the page, grades every written answer (points and a comment) and
overrides one autograded score. Then `vaelab grade export` must show those parts graded, the
status `graded` and the totals with the hand-given points, `vaelab grade feedback` the comments,
and autograding the same notebook again must keep all of it.

The screenshots of every page visited are kept in the folder the test prints (set
$VAELAB_BROWSER_ARTIFACTS to keep them after the run).
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from grader.assignment import default_solutions
from grader.course import Course
from grader.kit.demo import lab_names
from grader.workflow import autograde, export, feedback
from grader.workflow.feedback import visible_text
from tests.grader.course_helpers import copy_course
from tests.grader.headless_browser import Browser, artifacts_folder, chromium, require_chromium

pytestmark = [pytest.mark.slow, pytest.mark.courses]

#: The example whose written answers are graded through the page: a correct model whose notebook
#: shortens the training, so its autograded parts show points and failures, and regrading it
#: (below) takes seconds.
STUDENT = "shortened"
#: TeX of the labs' formulas, as it would show if a formula were not drawn.
TEX = re.compile(r"\\(?:mathbf|mathcal|boldsymbol|frac|sum|log|mu|sigma|theta|phi|mathrm|operatorname)\b")
OVERRIDE = ("test_cross", 1)  # the autograded part the instructor overrides, and the points given
SERVER_START = 120            # seconds for `jupyter lab` to answer (2 busy cores)


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Browser]:
    require_chromium()
    with chromium(artifacts_folder(tmp_path_factory, "browser")) as opened:
        yield opened


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def jupyter_lab(course: Course, folder: Path) -> Iterator[tuple[str, str]]:
    """`jupyter lab` in the course folder on 127.0.0.1, a free port and a fresh token, with a
    Jupyter configuration folder of its own (the user's cannot change what is tested);
    yields (base URL, token). Its log is folder/jupyter_lab.log."""
    port, token = _free_port(), secrets.token_hex(16)
    config = folder / "jupyter_config"
    config.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={course.root}", *(["--allow-root"] if os.geteuid() == 0 else [])]  # CI is root
    log = open(folder / "jupyter_lab.log", "w")
    server = subprocess.Popen(command, cwd=course.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab stopped (exit {server.returncode}): "
                            f"{(folder / 'jupyter_lab.log').read_text()[-2000:]}")
            try:
                request = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {base} within {SERVER_START} s")
                time.sleep(0.5)
        yield base, token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def wait_for(condition, what: str, timeout: float = 30.0):
    """condition()'s first true value, polled; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.25)


def submission_grades(course: Course, student: str) -> dict[str, dict]:
    """{grade_id: grade and comment fields} of the student's notebook in the gradebook."""
    with Gradebook(course.db_url) as gradebook:
        notebook = gradebook.find_submission_notebook(Path(course.notebook).stem, course.assignment, student)
        comments = {comment.name: comment.manual_comment for comment in notebook.comments}
        return {grade.name: {"auto": grade.auto_score, "manual": grade.manual_score, "max": grade.max_score,
                             "needs_manual": grade.needs_manual_grade, "type": grade.cell_type,
                             "comment": comments.get(grade.name)} for grade in notebook.grades}


def csv_row(path: Path, student: str) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(row for row in csv.DictReader(handle) if row["student_id"] == student)


@pytest.fixture(scope="module")
def hand_graded(graded_vae_speech, browser, tmp_path_factory):
    """The copy of the course, the grades entered through formgrader and what the page showed."""
    course = copy_course(graded_vae_speech["course"].root, tmp_path_factory.mktemp("formgrader") / "course")
    before = submission_grades(course, STUDENT)
    written = {name: grade for name, grade in before.items() if grade["type"] == "markdown"}
    assert written and all(g["needs_manual"] and g["manual"] is None for g in written.values())
    # points and comments the instructor gives: one below full marks each, so none is a default
    given = {name: (grade["max"] - 1, f"{name}: graded in the browser; the sign of the KL term is right")
             for name, grade in written.items()}
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    seen = {}
    with jupyter_lab(course, course.root.parent) as (base, token):
        # JupyterLab, as the README says, with nbgrader's menu (Nbgrader > Formgrader opens the pages below)
        browser.open(f"{base}/lab?token={token}")  # the token logs the browser in (a cookie)
        seen["menus"] = wait_for(lambda: browser.driver.execute_script(
            "return [...document.querySelectorAll('.lm-MenuBar-itemLabel')].map(e => e.textContent)"
            ".filter(t => t === 'Nbgrader')"), "JupyterLab's Nbgrader menu", timeout=SERVER_START)
        browser.screenshot("formgrader_0_jupyterlab")
        browser.open(f"{base}/formgrader")
        wait_for(lambda: "manage_assignments" in browser.driver.current_url, "formgrader's first page")
        wait_for(lambda: course.assignment in browser.driver.find_element(By.TAG_NAME, "body").text,
                 f"the assignment {course.assignment} in Manage Assignments")
        browser.screenshot("formgrader_1_manage_assignments")

        # Manual Grading > vae_speech > vae_speech: the submissions, each a link
        browser.open(f"{base}/formgrader/gradebook/{course.assignment}/{Path(course.notebook).stem}")
        link = wait_for(lambda: browser.driver.execute_script(
            "return [...document.querySelectorAll('a.name-shown')].filter(a => a.textContent.trim() === arguments[0])"
            ".map(a => a.href)[0]", STUDENT), f"the link to {STUDENT}'s submission")
        browser.screenshot("formgrader_2_submissions")

        browser.open(link)
        first_test = next(name for name, grade in before.items() if grade["type"] == "code")
        wait_for(lambda: browser.driver.find_element(By.ID, first_test).get_attribute("placeholder"),
                 "the autograded scores in the page (its grades API)")
        browser.screenshot("formgrader_3_submission")
        page = browser.driver.current_url
        # the lab's formulas, drawn without MathJax from the internet (grader/workflow/mathml.py)
        seen["formulas"] = browser.driver.execute_script(
            "return [...document.querySelectorAll('#notebook math')].map(m => m.getBoundingClientRect().width)")
        seen["notebook_text"] = browser.driver.find_element(By.ID, "notebook").text
        # each autograded part: its points (the score box's placeholder) and its cell's text
        seen["auto"] = {name: browser.driver.find_element(By.ID, name).get_attribute("placeholder")
                        for name, grade in before.items() if grade["type"] == "code"}
        seen["cell_text"] = {name: browser.driver.execute_script(
            "return document.getElementById(arguments[0]).closest('div.cell').innerText", name)
            for name in seen["auto"]}

        # the PDF report, linked from the first cell, served beside the notebook
        report = browser.driver.find_element(By.CSS_SELECTOR, "#notebook a[href='report.pdf']")
        seen["report_url"] = report.get_property("href")
        seen["report"] = browser.driver.execute_async_script(
            "const done = arguments[1]; fetch(arguments[0]).then(async r => done([r.status, "
            "r.headers.get('content-type'), new TextDecoder().decode((await r.arrayBuffer()).slice(0, 5))]))",
            seen["report_url"])

        # grade: points (typed, then Tab: formgrader saves on change) and a comment per answer
        for name, (points, comment) in given.items():
            box = browser.driver.find_element(By.ID, name)
            box.clear()
            box.send_keys(f"{points:g}", Keys.TAB)
            text = browser.driver.find_element(By.ID, f"{name}-comment")
            text.clear()
            text.send_keys(comment, Keys.TAB)
        override = browser.driver.find_element(By.ID, OVERRIDE[0])
        override.clear()
        override.send_keys(str(OVERRIDE[1]), Keys.TAB)
        wait_for(lambda: all(submission_grades(course, STUDENT)[name]["manual"] == points
                             and submission_grades(course, STUDENT)[name]["comment"] == comment
                             for name, (points, comment) in given.items())
                 and submission_grades(course, STUDENT)[OVERRIDE[0]]["manual"] == OVERRIDE[1],
                 "formgrader to save every grade and comment in the gradebook")

        browser.open(page)  # read back as the instructor would see them tomorrow
        wait_for(lambda: browser.driver.find_element(By.ID, first_test).get_attribute("placeholder"),
                 "the graded submission to load")
        seen["reloaded"] = {name: browser.driver.find_element(By.ID, name).get_attribute("value")
                            for name in [*given, OVERRIDE[0]]}
        seen["reloaded_comments"] = {name: browser.driver.find_element(By.ID, f"{name}-comment").get_attribute("value")
                                     for name in given}
        browser.screenshot("formgrader_4_graded")
        browser.screenshot_of(next(iter(given)), "formgrader_4_graded_first_answer")
        browser.screenshot_of(OVERRIDE[0], "formgrader_4_graded_override")
        browser.open(seen["report_url"])
        time.sleep(3)  # Chromium's PDF viewer draws its page after the load event
        browser.screenshot("formgrader_5_report_pdf")
    return {"course": course, "before": before, "given": given, "seen": seen,
            "result": graded_vae_speech["results"][STUDENT]}


def test_formgrader_shows_each_autograded_part_with_its_points_and_messages(hand_graded):
    seen, result = hand_graded["seen"], hand_graded["result"]
    for name, grade in hand_graded["before"].items():
        if grade["type"] != "code":
            continue
        assert float(seen["auto"][name]) == grade["auto"] == result.tests[name].score, name
        for message in result.tests[name].messages:
            assert message.strip() in seen["cell_text"][name], (name, message)


def test_formgrader_draws_the_formulas_without_a_network(hand_graded):
    widths = hand_graded["seen"]["formulas"]
    assert len(widths) > 10 and min(widths) > 0
    assert not TEX.findall(hand_graded["seen"]["notebook_text"])


def test_the_pdf_report_opens_from_the_grading_page(hand_graded):
    status, kind, start = hand_graded["seen"]["report"]
    assert (status, kind, start) == (200, "application/pdf", "%PDF-"), hand_graded["seen"]["report_url"]


def test_grades_entered_in_the_page_are_in_the_gradebook_and_shown_again(hand_graded):
    seen, given = hand_graded["seen"], hand_graded["given"]
    grades = submission_grades(hand_graded["course"], STUDENT)
    for name, (points, comment) in given.items():
        assert (grades[name]["manual"], grades[name]["comment"], grades[name]["needs_manual"]) == (points, comment, False)
        assert float(seen["reloaded"][name]) == points and seen["reloaded_comments"][name] == comment
    assert grades[OVERRIDE[0]]["manual"] == OVERRIDE[1] and float(seen["reloaded"][OVERRIDE[0]]) == OVERRIDE[1]


def expected_row(hand_graded) -> dict[str, float]:
    """Per part: the autograder's points, the overridden one replaced, the hand-given points."""
    parts = {name: grade["auto"] for name, grade in hand_graded["before"].items() if grade["type"] == "code"}
    parts[OVERRIDE[0]] = OVERRIDE[1]
    parts.update({name: points for name, (points, _) in hand_graded["given"].items()})
    return parts


def test_export_and_feedback_show_the_hand_grading(hand_graded):
    course = hand_graded["course"]
    row = csv_row(export.main(course.root), STUDENT)
    parts = expected_row(hand_graded)
    assert {name: float(row[name]) for name in parts} == parts
    assert float(row["total"]) == pytest.approx(sum(parts.values()))
    assert row["status"] == "graded"
    pages = {page.parent.parent.name: page for page in feedback.main(course.root)}
    text = visible_text(pages[STUDENT].read_text(encoding="utf-8"))
    for name, (points, comment) in hand_graded["given"].items():
        assert comment in text, name
    # beside the page: the student's report, which it links, and not the autograder's record
    assert sorted(p.name for p in pages[STUDENT].parent.iterdir()) == ["report.pdf", pages[STUDENT].name]


def test_autograding_the_same_notebook_again_keeps_the_hand_grading(hand_graded, capsys):
    course = hand_graded["course"]
    # As `autograde --force` does for every submission: here for one, whose record is removed.
    course.result_path(STUDENT).unlink()
    # one thread, as the course was graded: the same numbers again, to the last digit, on this machine
    results = autograde.main(course.root, jobs=1, threads=1)
    assert list(results) == [STUDENT] and results[STUDENT].status == "graded"
    assert not results[STUDENT].flags
    grades = submission_grades(course, STUDENT)
    for name, (points, comment) in hand_graded["given"].items():
        assert (grades[name]["manual"], grades[name]["comment"], grades[name]["needs_manual"]) == (points, comment, False)
    row = csv_row(export.main(course.root), STUDENT)
    parts = expected_row(hand_graded)
    assert {name: float(row[name]) for name in parts} == parts and row["status"] == "graded"


def test_jupyter_lab_in_the_course_folder_has_nbgrader_s_menu(hand_graded):
    assert hand_graded["seen"]["menus"] == ["Nbgrader"]


@pytest.mark.parametrize("lab", lab_names(default_solutions()))
def test_the_class_report_and_a_feedback_page_read_well_at_1280x800(lab, request, browser):
    graded = request.getfixturevalue(f"graded_{lab}")
    feedback_page = next(page for page in graded["pages"] if page.parent.parent.name == "correct")
    for name, page, images in (("report", graded["report"], 2), ("feedback", feedback_page, 0)):
        browser.open(page.as_uri())
        problems = browser.reading_problems()
        browser.screenshot(f"{lab}_{name}")
        assert not problems, f"{page}: {problems}"
        assert browser.driver.execute_script("return document.images.length") >= images, page
    # the formulas drawn as MathML, none left as TeX (no MathJax without a network)
    widths = browser.driver.execute_script(
        "return [...document.querySelectorAll('math')].map(m => m.getBoundingClientRect().width)")
    assert len(widths) > 10 and min(widths) > 0, feedback_page
    assert not TEX.findall(browser.driver.find_element("tag name", "body").text), feedback_page
