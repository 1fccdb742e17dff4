"""The class report: figures beside an HTML page that shows scores, pass rates, frequent
failures and the manual grading left, with every student-provided text escaped."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from grader.workflow.export import class_table
from grader.workflow.report import TOP_MESSAGES, failure_messages, main, pass_rates
from nbgrader.api import Gradebook

from tests.grader.gradebook_fixture import (HOSTILE, HOSTILE_MESSAGE, LOSS_MESSAGE, STUDENTS,
                                            SUBMISSIONS, TIMEOUT, copy_course)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def course(tmp_path_factory, tmp_path):
    return copy_course(tmp_path_factory, tmp_path / "course")


class _Tags(HTMLParser):
    """Collects the tags of a page, to check that no student text became markup."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_and_figures_are_written(course, capsys):
    path = main(course)
    assert path == course / "reports" / "report.html"
    for figure in ("histogram.png", "pass_rate.png"):
        assert (path.parent / figure).read_bytes().startswith(PNG), figure
    page = path.read_text(encoding="utf-8")
    assert '<img src="histogram.png"' in page and '<img src="pass_rate.png"' in page
    assert "<script" not in page.lower() and "http" not in page, "self-contained, no scripts or remote files"
    assert sorted(p.name for p in path.parent.iterdir()) == ["histogram.png", "pass_rate.png", "report.html"]
    assert str(path) in capsys.readouterr().out


def test_top_failure_message_with_its_count(course):
    page = main(course).read_text(encoding="utf-8")
    # Lost points on test_get_loss for bob, cy and HOSTILE; ada passed it.
    expected = html.escape(LOSS_MESSAGE)
    row = re.search(r"<tr><td class=\"n\">(\d+)</td><td>([^<]*)</td><td class=\"msg\">([^<]*)</td></tr>", page)
    assert row is not None, "the failure table should have rows"
    assert row.groups() == ("3", "test_get_loss", expected), "the most frequent message comes first"


def test_failure_messages_match_a_direct_count(course):
    table = class_table(course)
    # Oracle: every message of every losing test in the fixture's records, counted by hand.
    counted = {}
    for _, record in SUBMISSIONS.values():
        for test in record["tests"].values():
            if test["score"] < test["max"]:
                for message in test["messages"]:
                    counted[message] = counted.get(message, 0) + 1
    top = failure_messages(table)
    assert {message: count for message, count, _ in top} == counted
    assert [count for _, count, _ in top] == sorted(counted.values(), reverse=True)
    assert failure_messages(table, top=1)[0][:2] == (LOSS_MESSAGE, 3)
    assert len(failure_messages(table)) <= TOP_MESSAGES


def test_pass_rates_count_graded_submissions_with_full_points(course):
    rates = {r.part.grade_id: r for r in pass_rates(class_table(course))}
    assert list(rates) == ["test_build", "test_get_loss", "test_training"], "code cells only, notebook order"
    assert (rates["test_build"].passed, rates["test_build"].graded) == (3, 4)
    assert (rates["test_get_loss"].passed, rates["test_get_loss"].graded) == (1, 4)
    # cy timed out before test_training: not graded, so not in the denominator.
    assert (rates["test_training"].passed, rates["test_training"].graded) == (3, 3)


def test_pending_students_and_problems_are_listed(course):
    page = main(course).read_text(encoding="utf-8")
    pending = page.split("Waiting for manual grading", 1)[1].split("<h2>", 1)[0]
    assert "(3)" in pending
    assert "<tr><td>bob</td><td>answer_2_4</td></tr>" in pending
    assert "<tr><td>cy</td><td>answer_2_4, test_training</td></tr>" in pending
    assert "ada" not in pending and "dee" not in pending, "graded and absent students wait for nothing"
    assert html.escape(TIMEOUT) in page


def test_hostile_id_and_message_are_escaped(course):
    page = main(course).read_text(encoding="utf-8")
    assert HOSTILE not in page and HOSTILE_MESSAGE not in page
    assert html.escape(HOSTILE) in page and html.escape(HOSTILE_MESSAGE) in page
    parser = _Tags()
    parser.feed(page)
    assert not [tag for tag, attrs in parser.tags if tag == "script" or "onerror" in attrs]
    assert {attrs.get("src") for tag, attrs in parser.tags if tag == "img"} == {"histogram.png", "pass_rate.png"}


def test_custom_output_path_gets_the_figures_beside_it(course, tmp_path):
    path = main(course, out=tmp_path / "share" / "class.html")
    assert sorted(p.name for p in path.parent.iterdir()) == ["class.html", "histogram.png", "pass_rate.png"]


def test_a_class_without_submissions_still_gets_a_report(course):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in STUDENTS:
            gradebook.remove_student(student)
    page = main(course).read_text(encoding="utf-8")
    assert "0 students" in page and "None." in page
    assert (course / "reports" / "histogram.png").read_bytes().startswith(PNG)


def test_runs_cut_short_are_counted_by_limit(course):
    page = main(course).read_text(encoding="utf-8")
    section = page.split("Runs cut short by a limit (1)</h2>", 1)[1].split("<h2>", 1)[0]
    assert "submission time" in section  # cy's run overran (gradebook_fixture.TIMEOUT)
