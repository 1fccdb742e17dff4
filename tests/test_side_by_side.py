"""The README's test command (tests/side_by_side.py): two pytest processes, one exit status."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.side_by_side import NO_TESTS, combined_status, split_markers

REPO = Path(__file__).resolve().parents[1]


def test_the_status_is_the_first_failure_and_an_empty_selection_passes():
    assert combined_status(0, 0) == 0
    assert combined_status(NO_TESTS, 0) == 0 and combined_status(0, NO_TESTS) == 0
    assert combined_status(1, 0) == 1 and combined_status(0, 1) == 1
    assert combined_status(2, 1) == 2  # the course tests' failure first
    assert combined_status(NO_TESTS, NO_TESTS) == NO_TESTS


def test_a_marker_expression_given_narrows_both_selections():
    assert split_markers(["-q", "-m", "not slow", "tests/grader"]) == (["-q", "tests/grader"], "not slow")
    assert split_markers(["-mspeech"]) == ([], "speech")
    assert split_markers(["-x"]) == (["-x"], None)


def test_both_processes_run_and_a_failure_beside_the_courses_fails_the_run(tmp_path):
    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_two.py").write_text(textwrap.dedent('''
        import os
        import subprocess
        import sys
        import pytest
        from pathlib import Path

        GROUP = Path("/proc/self/autogroup")

        @pytest.mark.courses
        def test_a_course():
            pass

        def test_beside_on_one_thread_at_a_lower_priority():
            assert os.environ["OMP_NUM_THREADS"] == "1"
            assert os.nice(0) >= 10
            if GROUP.exists():  # Linux: the session's autogroup is niced, and so is a session it starts
                assert GROUP.read_text().split()[-1] == "10"
                kernel = subprocess.run([sys.executable, "-c", "import time; time.sleep(2.5); "
                                         "print(open('/proc/self/autogroup').read())"], start_new_session=True,
                                        capture_output=True, text=True)
                assert kernel.stdout.split()[-1] == "10", kernel.stdout
            assert False, "the failure beside the courses"
    '''))
    run = subprocess.run([sys.executable, str(REPO / "tests" / "side_by_side.py"), str(tmp_path), "-q",
                          "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-o", "markers=courses: x"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed" in run.stdout  # the course test, printed first
    assert "the failure beside the courses" in run.stdout  # the rest's report, after
    assert run.stdout.index("1 passed") < run.stdout.index("the rest of the suite, run beside")
