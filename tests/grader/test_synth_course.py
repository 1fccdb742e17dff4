"""The fourth lab, synth, through the instructor's workflow: init (which makes the course's notes),
release with bands, intake of its example submissions, autograde two at a time in real kernels,
feedback, export and the class report (the session's `graded_synth`, conftest.py). Each example
gets exactly its expected scores, also with every band moved by half its half-width
(band_margins.py); a mistake costs its own part and says why; the feedback shows no solution line.

Nothing of this lab is in the grader: it is a plug-in of solutions/ and vaelab_core/labs/.
"""

from __future__ import annotations

import pytest

from grader.kit.example_submissions import expected_scores
from tests.grader.band_margins import scores_with_moved_bands
from tests.grader.course_helpers import assert_feedback_shows_no_solution_line, exported_scores

pytestmark = [pytest.mark.slow, pytest.mark.courses]


@pytest.fixture(scope="module")
def graded(graded_synth):
    return graded_synth  # graded once for the session (conftest.py)


def test_every_example_gets_its_expected_score_per_part_on_any_machine(graded):
    expected = expected_scores(graded["course"])
    assert exported_scores(graded["grades"], expected) == expected
    for share in (-0.5, 0.5):  # a reference run elsewhere: the bands move, the scores must not
        found, wanted = scores_with_moved_bands(graded, share)
        assert found == wanted


def test_a_mistake_costs_its_own_part_and_says_why(graded):
    power = graded["results"]["power"].tests
    assert power["test_descriptors"].score == 0 and power["test_paths"].full_points
    assert any("power spectrum" in message for message in power["test_descriptors"].messages)
    encoder = graded["results"]["encoderonly"].tests
    assert encoder["test_conditional_vae"].score == 1 and encoder["test_note_path"].full_points
    assert any("encoder only" in message for message in encoder["test_conditional_vae"].messages)
    sampled = graded["results"]["sampled"].tests
    assert sampled["test_note_path"].score == 0
    assert any("posterior samples" in message for message in sampled["test_note_path"].messages)


def test_feedback_shows_no_solution_line_and_the_report_every_test(graded):
    # what those students wrote is theirs to see
    assert_feedback_shows_no_solution_line(graded, own=("correct", "variants"))
    report = graded["report"].read_text()
    assert all(test in report for test in expected_scores(graded["course"])["correct"])
