"""grades.csv: one row per student, a column per graded part, totals and a status that says
what is left to do; written through nbgrader's export-plugin interface."""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from grader.course import CONFIG_NAME
from grader.engine.result import RESULT_FILE
from grader.workflow.export import class_table, main
from tests.grader.gradebook_fixture import (ASSIGNMENT, FLAG, HOSTILE, MAX_TOTAL, NOTEBOOK, PARTS,
                                            STUDENTS, TIMEOUT, copy_course)
from vaelab_core.errors import VaelabError

HEADER = ["student_id", "test_build", "test_get_loss", "answer_2_4", "test_training",
          "total", "max_total", "status"]


@pytest.fixture
def course(tmp_path_factory, tmp_path):
    return copy_course(tmp_path_factory, tmp_path / "course")


def _read(path) -> tuple[list[str], dict[str, dict]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = {row["student_id"]: row for row in reader}
        return reader.fieldnames, rows


def test_header_rows_and_statuses(course, capsys):
    path = main(course)
    assert path == course / "grades.csv"
    header, rows = _read(path)
    assert header == HEADER
    assert list(rows) == sorted(STUDENTS), "one row per gradebook student, sorted by id"

    ada, bob, cy, dee = rows["ada"], rows["bob"], rows["cy"], rows["dee"]
    assert [ada[p] for p, _, _ in PARTS] == ["2", "4", "3.5", "3"]  # the manual score of the answer
    assert (ada["total"], ada["max_total"], ada["status"]) == ("12.5", "13", "graded")

    assert [bob[p] for p, _, _ in PARTS] == ["2", "0", "", "3"]     # answer not graded: empty
    assert bob["total"] == "5"
    assert bob["status"] == f"pending manual grading (answer_2_4); {FLAG}"

    assert [cy[p] for p, _, _ in PARTS] == ["2", "0", "", ""]
    assert cy["status"] == (f"could not be fully graded: {TIMEOUT}; "
                            "pending manual grading (answer_2_4, test_training)")

    assert [dee[p] for p, _, _ in PARTS] == ["", "", "", ""]
    assert (dee["total"], dee["max_total"], dee["status"]) == ("0", "13", "no submission")

    out = capsys.readouterr().out
    assert str(path) in out and "5 students: 1 graded, 3 pending manual grading, 1 without submission" in out
    assert "2 with autograder problems or flags" in out and "vaelab grade report" in out


def test_totals_are_the_sum_of_the_parts(course):
    _, rows = _read(main(course))
    for row in rows.values():
        parts = [float(row[p]) for p, _, _ in PARTS if row[p]]
        assert float(row["total"]) == pytest.approx(sum(parts)), row["student_id"]
        assert float(row["max_total"]) == MAX_TOTAL == sum(points for _, points, _ in PARTS)


def test_csv_is_plain_utf8_with_numbers_only(course, tmp_path):
    path = main(course, out=tmp_path / "exports" / "lms.csv")
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM: LMS imports would read it into the first header"
    text = raw.decode("utf-8")
    assert HOSTILE in text  # the id goes through unchanged (csv quotes what needs quoting)
    _, rows = _read(path)
    for row in rows.values():
        for column in HEADER[1:-1]:
            assert row[column] == "" or float(row[column]) >= 0, (row["student_id"], column, row[column])
    assert sorted(p.name for p in path.parent.iterdir()) == ["lms.csv"], "no partial file left behind"


def test_columns_follow_the_source_notebook(course):
    source = course / "source" / ASSIGNMENT / NOTEBOOK
    notebook = nbformat.read(source, as_version=4)
    answer = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_2_4")
    notebook.cells.remove(answer)
    notebook.cells.insert(1, answer)
    nbformat.write(notebook, source)
    header, rows = _read(main(course))
    assert header[1:5] == ["answer_2_4", "test_build", "test_get_loss", "test_training"]
    assert rows["ada"]["answer_2_4"] == "3.5"


def test_class_table_matches_the_gradebook(course):
    table = class_table(course)
    assert (table.assignment, table.notebook) == (ASSIGNMENT, NOTEBOOK)
    assert [(p.grade_id, p.max_score, p.autograded) for p in table.parts] == \
        [(grade_id, points, kind == "code") for grade_id, points, kind in PARTS]
    rows = {row.student_id: row for row in table.rows}
    assert [p.text for p in rows["cy"].result.problems] == [TIMEOUT] and rows["cy"].pending == ["answer_2_4", "test_training"]
    assert rows["dee"].result is None and not rows["dee"].submitted


def test_an_unreadable_autograder_record_is_reported_not_fatal(course):
    (course / "autograded" / "ada" / ASSIGNMENT / RESULT_FILE).write_text("{not json")
    _, rows = _read(main(course))
    assert rows["ada"]["status"].startswith(f"could not be fully graded: unreadable {RESULT_FILE}")
    assert "rerun the autograder" in rows["ada"]["status"]
    assert rows["ada"]["total"] == "12.5", "the gradebook's scores still count"
    (course / "autograded" / "bob" / ASSIGNMENT / RESULT_FILE).write_text(
        json.dumps({"status": "graded", "tests": {}, "flags": "edited"}))
    _, rows = _read(main(course))
    assert "flags should be a list of texts" in rows["bob"]["status"]


def test_a_folder_that_is_not_a_course_says_how_to_make_one(tmp_path, course):
    with pytest.raises(VaelabError, match=r"no vaelab_course\.json.*vaelab grade init"):
        main(tmp_path / "empty")
    (course / "gradebook.db").unlink()
    with pytest.raises(VaelabError, match=r"no nbgrader gradebook \(gradebook\.db\); run `vaelab grade init"):
        main(course)
    assert not (course / "gradebook.db").exists(), "asking must not create an empty gradebook"
    assert not (course / "grades.csv").exists()


def test_an_unreleased_assignment_says_to_release_it(course):
    (course / CONFIG_NAME).write_text(json.dumps({"assignment": "latent_space", "notebook": "latent.ipynb"}))
    with pytest.raises(VaelabError, match=r"no assignment 'latent_space'.*vaelab grade release"):
        main(course)
    (course / CONFIG_NAME).write_text("{}")
    with pytest.raises(VaelabError, match=r"names no 'assignment'.*vaelab grade init"):
        main(course)


def test_nbgrader_export_runs_the_plugin(course, monkeypatch):
    from nbgrader.apps.exportapp import ExportApp

    monkeypatch.chdir(course)
    app = ExportApp()
    app.initialize(["--exporter=grader.workflow.export.PerPartCsvExportPlugin", "--to=from_nbgrader.csv",
                    "--student", "ada", "--student", "cy", "--log-level=WARN"])
    app.start()
    header, rows = _read(course / "from_nbgrader.csv")
    assert header == HEADER and list(rows) == ["ada", "cy"]
    main(course)
    _, full = _read(course / "grades.csv")
    assert rows["cy"] == full["cy"], "nbgrader's path and `vaelab grade export` write the same rows"


def test_a_roster_id_that_looks_like_a_formula_is_written_as_text(course, tmp_path):
    from dataclasses import replace

    from grader.workflow.export import write_csv

    table = class_table(course)
    row = replace(table.rows[0], student_id="=HYPERLINK(\"http://x\")")
    out = write_csv(replace(table, rows=[row]), tmp_path / "grades.csv")
    with open(out, newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))[0]
    assert written["student_id"] == "'=HYPERLINK(\"http://x\")"
