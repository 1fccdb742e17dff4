"""Hostile and broken submissions, end to end through intake, autograde (sandboxed, two at a
time), feedback and export: each gets its expected scores and reason, nothing escapes the
sandbox, nothing hidden leaks, and the batch always goes on. The corpus is hostile_corpus.py.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook


from grader.workflow import autograde, export, feedback, intake
from grader.workflow.feedback import visible_text
from grader.engine.sandbox import bwrap_binary
from tests.grader.course_helpers import copy_course
from tests.grader.hostile_corpus import Case, cases, make_notebook, write_zip

pytestmark = [pytest.mark.slow, pytest.mark.courses,
              pytest.mark.skipif(not sys.platform.startswith("linux") or bwrap_binary() is None,
                                 reason="the sandbox needs Linux and bubblewrap")]

ARRIVED = 1_764_000_000.0


def hidden_lines(course) -> set[str]:
    """Every line a student must never see: the grading rules' and the solution notebook's,
    save those the released notebook shows anyway; at least 20 characters, code only."""
    from grader.workflow.feedback import secret_lines

    solution = nbformat.read(course.task.notebook_path, as_version=4)
    public = {line.strip() for cell in nbformat.read(course.release_notebook, as_version=4).cells
              for line in cell.source.splitlines()}
    solved = {line.strip() for cell in solution.cells if cell.cell_type == "code"
              for line in cell.source.splitlines()} - public
    return secret_lines(course) | {line for line in solved if len(line) >= 20}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, module_home, released_vae_speech):
    root = tmp_path_factory.mktemp("hostile")
    course = copy_course(released_vae_speech, root / "course")
    solution = course.task.examples().SOLUTION
    planted = course.task.solutions / "planted_by_a_student.txt"
    paths = {"solution": str(course.task.notebook_path), "gradebook": str(course.root / "gradebook.db"),
             "bands": str(course.bands_path),
             "other": str(course.submitted_notebook("deletedtest")), "planted": str(planted)}
    corpus = {case.name: case for case in cases(paths, solution)}
    release_nb = nbformat.read(course.release_notebook, as_version=4)
    inbox = root / "inbox"
    inbox.mkdir()
    for case in corpus.values():
        write_zip(inbox, case, make_notebook(release_nb, solution, case), course.notebook, ARRIVED)
    # the same student twice: the later ZIP counts
    later = write_zip(inbox, Case("twice (resent)"), make_notebook(release_nb, solution, Case("x")),
                      course.notebook, ARRIVED + 60)
    gradebook_before = (course.root / "gradebook.db").stat().st_size
    rows = {row.file: row for row in intake.main(inbox, course.root)}
    # 5 s per probed method (20 s for the code before them) rather than 20 s, and 30 s per cell:
    # the endless loop overruns both, and this suite waits for it. The longest cell that must
    # finish (osexit's 30 epochs of training) takes about 10 s on one thread.
    results = autograde.main(course.root, jobs=2, cell_timeout=30, probe_timeout=5)
    pages = feedback.main(course.root)
    grades = export.main(course.root)
    with open(grades, newline="", encoding="utf-8") as handle:
        table = {row["student_id"]: row for row in csv.DictReader(handle)}
    yield {"course": course, "corpus": corpus, "rows": rows, "results": results, "pages": pages,
           "table": table, "planted": planted, "later": later.name, "gradebook_before": gradebook_before}


def test_the_corpus_is_large_enough(graded):
    assert len(graded["corpus"]) >= 25


def test_intake_accepts_or_rejects_each_zip_with_its_reason(graded):
    rows = graded["rows"]
    for name, case in graded["corpus"].items():
        row = rows[f"{name}.zip"]
        if name == "twice":
            assert row.status == "duplicate" and graded["later"] in row.reason
            continue
        assert row.status == case.intake, (name, row.reason)
        assert case.intake_reason in row.reason, (name, row.reason)
        if case.intake == "rejected":
            assert not (graded["course"].root / "submitted" / name).exists()


def test_every_submission_gets_its_expected_scores_and_reason(graded):
    table = graded["table"]
    for name, case in graded["corpus"].items():
        if case.intake != "accepted":
            continue
        row = table[name]
        got = {test: float(row[test] or 0) for test in case.scores}
        assert got == case.scores, (name, got, row["status"])
        if case.status:
            assert case.status in row["status"], (name, row["status"])
        else:
            assert not row["status"].startswith("could not"), (name, row["status"])


def test_every_limit_that_cut_a_run_is_named_in_its_record_and_status(graded):
    named = set()
    for name, case in graded["corpus"].items():
        if case.intake != "accepted":
            continue
        result = graded["results"][name]
        cuts = {problem.cut.value for problem in result.problems}
        assert set(case.cuts) <= cuts, (name, result.status)
        named |= cuts
        if case.cuts:
            assert graded["table"][name]["status"].startswith("could not be fully graded: "), name
        else:
            assert not cuts, (name, result.status)
    assert named >= {"probe time", "cell time", "output cap", "memory", "process count", "kernel death"}


def test_the_sandbox_kept_the_course_and_the_solutions_out_of_reach(graded):
    course = graded["course"]
    assert not graded["planted"].exists()
    with Gradebook(course.db_url) as gradebook:  # still a working gradebook, every row in place
        assert len(gradebook.students) == len(graded["results"])
    autograded = {name: nbformat.read(course.autograded_dir(name) / course.notebook, as_version=4)
                  for name in ("readsolutions", "readgradebook", "readbands", "readothers", "writeoutside",
                               "network")}
    for name, notebook in autograded.items():
        added = next(c for c in notebook.cells if c.get("id") == f"hostile-{name}")
        errors = [o for o in added.outputs if o.output_type == "error"]
        assert errors, f"{name}: the cell should have failed"
        assert errors[0].ename in {"FileNotFoundError", "OSError", "PermissionError", "URLError"}, errors[0].ename


def test_a_crash_keeps_the_points_graded_before_it(graded):
    result = graded["results"]["osexit"]
    assert "kernel died" in result.status
    assert result.tests["test_training"].score == 3 and result.tests["test_seeds"].score == 0


def test_no_produced_file_holds_a_hidden_line(graded):
    course = graded["course"]
    secrets = hidden_lines(course)
    assert len(secrets) > 100
    produced = [*course.root.glob("feedback/**/*.html"), *course.root.glob("autograded/**/*.ipynb"),
                *course.root.glob("autograded/**/*.json"), course.root / "grades.csv", course.root / "intake.csv"]
    for path in produced:
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".html":
            text = visible_text(text)
        own = set()
        parts = path.relative_to(course.root).parts
        student = parts[1] if len(parts) >= 3 else None
        if student:
            submitted = course.submitted_notebook(student)
            if submitted.is_file():  # a student's own lines are theirs to see, whatever they are
                own = {line.strip() for line in submitted.read_text(errors="replace").splitlines()}
                own |= {line.strip() for cell in nbformat.read(submitted, as_version=4).cells
                        for line in cell.source.splitlines()}
        found = {line.strip() for line in re.split(r"\\n|\n", text)} & (secrets - own)
        assert not found, f"{path}: {sorted(found)[:3]}"


#: Quick submissions (nothing trains, nothing overruns) that the kill test grades again.
REGRADED = ("sysexit", "importerror", "network", "readsolutions", "allclose", "print")


def test_killing_the_grader_mid_batch_grades_each_submission_exactly_once(graded, request):
    course = graded["course"]
    accepted = sorted(graded["results"])
    regraded = [s for s in REGRADED if s in accepted]
    assert len(regraded) == len(REGRADED)
    for student in regraded:  # forget their grading: the run below grades them from nothing
        course.result_path(student).unlink()
    command = [sys.executable, "-m", "vaelab_core.cli", "grade", "autograde", "--course", str(course.root),
               "--jobs", "2", "--cell-timeout", "60"]
    # a run killed with -9 cannot remove its scratch folders: give it a temporary folder of its
    # own (short: the warm start's socket lives there), removed below
    scratch = Path(tempfile.mkdtemp(prefix="vaelab-killed-"))
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until a few results are saved, then kill -9
        saved = [s for s in regraded if course.result_path(s).is_file()
                 and '"saved": true' in course.result_path(s).read_text()]
        if len(saved) >= 2:
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    results = autograde.main(course.root, jobs=2, cell_timeout=60)
    assert 0 < len(results) < len(regraded)  # only what the killed run had not saved
    assert set(results) <= set(regraded)
    with Gradebook(course.db_url) as gradebook:
        submissions = gradebook.find_assignment(course.assignment).submissions
        assert sorted(s.student.id for s in submissions) == accepted
    export.main(course.root)
    with open(course.root / "grades.csv", newline="", encoding="utf-8") as handle:
        ids = [row["student_id"] for row in csv.DictReader(handle)]
    assert sorted(ids) == sorted(set(ids)) and set(accepted) <= set(ids)
