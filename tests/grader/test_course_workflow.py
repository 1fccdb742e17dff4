"""The instructor's whole workflow on a real course, end to end: init, release (student bundle
and bands), intake of the example submissions as ZIPs, autograde two at a time with real
kernels, feedback, export and report; each example gets exactly its expected per-part scores.

One course is graded once for the module (about five minutes on 2 cores); the tests read it.
"""

from __future__ import annotations

import csv
import os
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from grader.workflow import autograde, bands
from grader.workflow.bands import StaleBandsError
from grader.kit.example_submissions import expected_scores
from grader.workflow.feedback import secret_lines, visible_text
from tests.grader.course_helpers import exported_scores
from tests.grader.band_margins import scores_with_moved_bands

pytestmark = [pytest.mark.slow, pytest.mark.courses]


@pytest.fixture(scope="module")
def graded(graded_vae_speech):
    """A course whose example submissions went through intake, autograde, feedback, export
    (graded once for the session: conftest.py)."""
    return graded_vae_speech


def test_intake_files_the_latest_zip_and_refuses_one_without_a_report(graded):
    by_file = {row.file: row for row in graded["rows"]}
    assert by_file["correct (first try).zip"].status == "duplicate"
    assert by_file["correct.zip"].status == "accepted"
    assert by_file["nopdf.zip"].status == "rejected" and "PDF" in by_file["nopdf.zip"].reason
    assert not (graded["course"].root / "submitted" / "nopdf").exists()


def test_every_example_gets_its_expected_score_per_part(graded):
    expected = expected_scores(graded["course"])
    assert exported_scores(graded["grades"], expected) == expected


@pytest.mark.parametrize("share", [-0.5, 0.5])
def test_each_result_check_tells_the_examples_by_a_margin(graded, share):
    """The examples' result scores hold with every band moved by half its half-width either way,
    as a reference run on another machine would move it: no mistake passes, and no correct
    number fails, by a chance of the machine (band_margins.py)."""
    found, wanted = scores_with_moved_bands(graded, share)
    assert found == wanted


def test_the_export_has_every_part_totals_and_a_status(graded):
    with open(graded["grades"], newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames
        rows = list(reader)
    assert header[0] == "student_id" and header[-3:] == ["total", "max_total", "status"]
    for part in ("test_build", "test_get_loss", "test_training", "test_seeds", "test_finetune", "test_cross",
                 "answer_2_2_1", "answer_2_4", "answer_2_5"):
        assert part in header
    for row in rows:
        # written answers wait for the formgrader; the blank notebook's unchanged ones score 0
        pending = row["student_id"] != "blank"
        assert row["status"].startswith("pending manual grading (answer_2_2_1") == pending, row
        assert float(row["max_total"]) == 45


def test_the_gradebook_has_every_row_despite_two_writers_at_once(graded):
    course = graded["course"]
    with Gradebook(course.db_url) as gradebook:
        for student in expected_scores(course):
            submission = gradebook.find_submission_notebook("vae_speech", course.assignment, student)
            code = [g for g in submission.grades if g.cell_type == "code"]
            assert len(code) == 9 and all(g.auto_score is not None for g in code), student


def test_results_record_timings_and_the_worker_threads(graded):
    for result in graded["results"].values():
        assert result.threads == 1  # 2 cores shared by 2 jobs
        assert set(result.seconds) >= {"kernel start", "imports and data", "training", "tests", "total"}


def test_feedback_teaches_and_holds_no_line_of_the_grading_rules(graded):
    course = graded["course"]
    secrets = secret_lines(course)
    assert len(secrets) > 100
    texts = {page.parent.parent.name: visible_text(page.read_text(encoding="utf-8")) for page in graded["pages"]}
    assert set(texts) == set(expected_scores(course))
    for student, text in texts.items():
        assert not {line.strip() for line in text.splitlines()} & secrets, student
        assert "BEGIN HIDDEN TESTS" not in text
    # formulas as MathML, readable without MathJax from the internet (grader/workflow/mathml.py)
    assert all(page.read_text(encoding="utf-8").count("<math ") > 10 for page in graded["pages"])
    assert not [student for student, text in texts.items() if "\\mathcal{" in text]
    assert "log(pi)" in texts["nologpi"]
    assert "exp(logvar / 2)" in texts["variance"]
    assert "not implemented" in texts["blank"]


def test_the_class_report_lists_failures_and_pending_manual_grading(graded):
    html = graded["report"].read_text(encoding="utf-8")
    assert "histogram.png" in html and (graded["report"].parent / "histogram.png").is_file()
    assert "nologpi" in html  # waiting for manual grading, like everyone


def test_a_second_run_grades_nothing_new(graded, capsys):
    assert autograde.main(graded["course"].root, jobs=2) == {}
    assert "0 of 11 submissions to grade" in capsys.readouterr().out


def test_autograde_refuses_bands_made_from_other_data(graded, tmp_path):
    course = graded["course"]
    data = course.speakers["A"]
    kept = tmp_path / "speaker_A.npz"
    shutil.copy(data, kept)
    try:
        with open(data, "ab") as handle:
            handle.write(b"\0")
        with pytest.raises(StaleBandsError, match="speaker_A changed.*vaelab grade bands"):
            autograde.main(course.root)
    finally:
        shutil.copy(kept, data)
    bands.load_bands(course)  # fresh again


def test_the_released_notebook_matches_labs_and_holds_no_solution(graded):
    from grader.assignment import default_solutions

    course = graded["course"]
    released = course.release_notebook.read_text()
    labs = (default_solutions().parent / "labs" / "vae_speech" / "vae_speech.ipynb").read_text()
    assert nbformat.reads(released, as_version=4).cells[1:] == nbformat.reads(labs, as_version=4).cells[1:]
    assert "BEGIN SOLUTION" not in released and "grading" not in os.listdir(course.release_notebook.parent)
