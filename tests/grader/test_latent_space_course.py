"""The second lab, latent_space, through the same instructor's workflow: init (which makes the
sweeps in the course), release with bands, intake of its example submissions, autograde two at
a time in real kernels, feedback and export; each example gets exactly its expected scores.

This proves the grader is not tied to one notebook: nothing below names a vae_speech part.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from nbgrader.api import Gradebook

from grader.workflow import autograde, export
from grader.workflow.bands import StaleBandsError, load_bands
from grader.kit.example_submissions import expected_scores
from tests.grader.course_helpers import assert_feedback_shows_no_solution_line, copy_course, exported_scores
from tests.grader.band_margins import scores_with_moved_bands
from vaelab_core.errors import VaelabError

pytestmark = [pytest.mark.slow, pytest.mark.courses]


@pytest.fixture(scope="module")
def graded(graded_latent_space):
    return graded_latent_space  # graded once for the session (conftest.py)


def test_the_course_holds_the_sweeps_and_tells_the_kernel_where(graded):
    course = graded["course"]
    sweeps = course.data_paths["VAELAB_SWEEPS"]
    assert sorted(p.name for p in sweeps.glob("*.npz")) == [f"sweep_{f}.npz" for f in ("f0", "f1", "f2", "f3")]
    assert sweeps.is_relative_to(course.root)
    assert course.kernel_data()["VAELAB_SWEEPS"] == str(sweeps)


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


def test_a_mistake_costs_its_own_function_and_says_why(graded):
    tests = graded["results"]["additive"].tests
    assert tests["test_move_factor"].score == 0
    assert "old coordinates" in json.dumps(tests["test_move_factor"].as_dict())
    assert tests["test_lerp"].full_points  # not touched by this student
    blank = graded["results"]["blank"].tests
    assert sum(t.score for t in blank.values()) == 0


def test_feedback_shows_no_solution_line(graded):
    # what those students wrote is theirs to see
    assert_feedback_shows_no_solution_line(graded, own=("correct", "variants"))


def test_changed_sweeps_make_the_bands_stale(graded, tmp_path):
    course = graded["course"]
    sweep = course.data_paths["VAELAB_SWEEPS"] / "sweep_f0.npz"
    original = sweep.read_bytes()
    try:
        sweep.write_bytes(original + b"\0")
        with pytest.raises(StaleBandsError, match="VAELAB_SWEEPS/sweep_f0.npz"):
            load_bands(course)
    finally:
        sweep.write_bytes(original)
    load_bands(course)


def test_the_class_report_covers_every_test_of_the_lab(graded):
    text = graded["report"].read_text()
    for test in expected_scores(graded["course"])["correct"]:
        assert test in text


def test_a_dask_cluster_grades_exactly_as_the_local_pool_and_survives_a_lost_worker(graded, tmp_path):
    """Two single-thread workers that cannot see the course folder (nor its sweeps: they come
    with the grading inputs) grade two of the class again (`student=`: blank, which takes
    seconds, and correct, a full run); once blank is saved, the worker grading correct is killed
    and a new one joins: every grade equals the local run's, and the gradebook holds each
    submission once."""
    from distributed import Client

    from grader.workflow.cluster import TASK_GROUP
    from tests.grader.dask_cluster import Cluster

    course = copy_course(graded["course"].root, tmp_path / "course")
    local = {student: result.tests for student, result in graded["results"].items()}
    regraded = ["blank", "correct"]
    cluster = Cluster(tmp_path / "cluster", hidden=course.root)
    try:
        cluster.add_worker("w1")
        cluster.add_worker("w2")
        with Client(cluster.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            seen = client.run(lambda: os.path.exists(course.root / "gradebook.db"))
            assert not any(seen.values()), "the workers must not see the course folder"
            found = {}
            grading = threading.Thread(target=lambda: found.update(
                autograde.main(course.root, force=True, scheduler=cluster.address, student=regraded)))
            grading.start()
            killed, tasks = None, {"w1": [], "w2": []}  # the tasks each worker was seen grading, in order
            deadline = time.monotonic() + 600
            while killed is None and time.monotonic() < deadline and grading.is_alive():
                names = {address: info["name"] for address, info in client.scheduler_info()["workers"].items()}
                busy = set()
                for address, keys in client.processing().items():
                    for key in keys:
                        name = names.get(address)
                        if name in tasks and isinstance(key, tuple) and key[0] == TASK_GROUP:  # not the inputs'
                            busy.add(name)
                            if key not in tasks[name]:
                                tasks[name].append(key)
                saved = sum(1 for s in regraded if '"saved": true' in _text(course.result_path(s)))
                # once a submission is saved, kill a worker that grades: the one that started its
                # second submission if seen (the batch loses seconds of work), else any busy one
                victim = next((n for n in sorted(busy) if len(tasks[n]) >= 2), next(iter(sorted(busy)), None))
                if saved >= 1 and victim is not None:
                    time.sleep(3)
                    cluster.kill(victim)
                    killed = victim
                    cluster.add_worker("w3")
                time.sleep(0.5)
            grading.join(timeout=900)
    finally:
        cluster.close()
    assert killed is not None, "the test did not manage to kill a worker mid-task"
    assert set(found) == set(regraded)
    assert {s: r.tests for s, r in found.items()} == {s: local[s] for s in regraded}
    assert {r.worker.split(":")[0] for r in found.values()} == {"tcp"}  # graded on workers, not here
    with Gradebook(course.db_url) as gradebook:
        submissions = gradebook.find_assignment(course.assignment).submissions
        assert sorted(s.student.id for s in submissions) == sorted(local)
    assert exported_scores(export.main(course.root), expected_scores(course)) == expected_scores(course)


def test_autograde_refuses_a_student_who_did_not_hand_in(graded):
    """`--student`: an unknown id is refused with the class's ids, before anything is graded (the
    Dask test above regrades three students named this way)."""
    before = graded["course"].result_path("blank").read_text()
    with pytest.raises(VaelabError, match="no submission from 'nobody'.*the students who handed in are additive"):
        autograde.main(graded["course"].root, force=True, student=["blank", "nobody"])
    assert graded["course"].result_path("blank").read_text() == before


def _text(path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
