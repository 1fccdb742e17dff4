"""Fixtures of the grader's tests.

A graded course costs minutes on 2 cores, so each lab's course is graded once per test session
(`graded_vae_speech`, `graded_latent_space`) and shared by the modules that read it:
test_course_workflow.py, test_latent_space_course.py, test_flows_course.py, test_synth_course.py
and test_formgrader_browser.py. A test that
changes a course (grades by hand, regrades) works on a copy (course_helpers.copy_course).
The released vae_speech course (bands made) is made once too (`released_vae_speech`): the graded
course and the hostile submissions' course are copies of it.
"""

from __future__ import annotations

import os
import shutil
import zipfile

import pytest

from grader.kit.example_submissions import write_example_zips
from grader.workflow import autograde, export, feedback, intake, release, report
from grader.workflow import init as course_verb
from tests.grader.course_helpers import copy_course


def _data_home(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAELAB_HOME", str(tmp_path_factory.getbasetemp() / "vaelab_home"))
        patch.delenv("VAELAB_SWEEPS", raising=False)
        yield


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory):
    """VAELAB_HOME for a module-scoped course fixture (the suite's autouse one is set per test,
    after module fixtures have run): the built-in data goes to the test run's folder."""
    yield from _data_home(tmp_path_factory)


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory):
    """module_home for the session's courses (the same folder)."""
    yield from _data_home(tmp_path_factory)


@pytest.fixture(scope="session")
def released_vae_speech(tmp_path_factory, session_home):
    """A vae_speech course after `init` and `release` (student bundle, bands: minutes on 2 cores);
    modules grade in their own copy (course_helpers.copy_course)."""
    course = course_verb.main(tmp_path_factory.mktemp("released") / "vae_speech-course")
    release.main(course.root, threads=2)
    return course.root


@pytest.fixture(scope="session")
def graded_vae_speech(tmp_path_factory, session_home, released_vae_speech):
    """A vae_speech course whose example submissions went through intake, autograde (two at a
    time, real kernels), feedback, export and report (about five minutes on 2 cores)."""
    root = tmp_path_factory.mktemp("course")
    course = copy_course(released_vae_speech, root / "vaelab-course")
    zips = root / "inbox"
    write_example_zips(course, zips)
    # one student sent twice: the earlier ZIP is a duplicate, the latest is graded
    write_example_zips(course, root / "early", names=["correct"], arrived=1_763_000_000.0)
    shutil.copy(root / "early" / "correct.zip", zips / "correct (first try).zip")
    os.utime(zips / "correct (first try).zip", (1_763_000_000.0, 1_763_000_000.0))
    # a ZIP without its PDF report is refused
    with zipfile.ZipFile(zips / "nopdf.zip", "w") as archive:
        archive.writestr(course.notebook, course.release_notebook.read_text())
    rows = intake.main(zips, course.root)
    results = autograde.main(course.root, jobs=2)
    pages = feedback.main(course.root)
    grades = export.main(course.root)
    page = report.main(course.root)
    return {"course": course, "rows": rows, "results": results, "pages": pages, "grades": grades,
            "report": page}


def _graded_course(root, assignment: str, jobs: int = 2) -> dict:
    """A course of `assignment` taken through the whole workflow: init (which makes the data its
    grading.py's course_data asks for), release with bands, intake of the example ZIPs,
    autograde `jobs` at a time (one thread each on 2 cores), feedback, export, report."""
    course = course_verb.main(root / "course", assignment_name=assignment)
    release.main(course.root, threads=2)
    write_example_zips(course, root / "inbox")
    intake.main(root / "inbox", course.root)
    results = autograde.main(course.root, jobs=jobs)
    pages = feedback.main(course.root)
    grades = export.main(course.root)
    page = report.main(course.root)
    return {"course": course, "results": results, "pages": pages, "grades": grades, "report": page}


@pytest.fixture(scope="session")
def graded_latent_space(tmp_path_factory, session_home):
    """The same for latent_space (its sweeps made by init)."""
    return _graded_course(tmp_path_factory.mktemp("latent"), "latent_space")


@pytest.fixture(scope="session")
def graded_flows(tmp_path_factory, session_home):
    """The same for flows, four at a time. Its seven examples that run the whole notebook take
    the same time each: two at a time, the seventh runs alone while a core waits; four at a time
    (one thread each, so the numbers are those of two at a time) keep both cores busy to the end.
    Measured on the 2-core VM, autograde in two alternated pairs: 160.8 s against 170.9 s, and
    172.2 s against 192.2 s."""
    return _graded_course(tmp_path_factory.mktemp("flows"), "flows", jobs=4)


@pytest.fixture(scope="session")
def graded_synth(tmp_path_factory, session_home):
    """The same for synth (its built-in notes made by init)."""
    return _graded_course(tmp_path_factory.mktemp("synth"), "synth")
