"""The third lab, flows, through the instructor's workflow: init, release with bands, intake of
its example submissions, autograde four at a time in real kernels, feedback, export and the class
report (the session's `graded_flows`, conftest.py). Each example gets exactly its expected
scores, also with every band moved by half its half-width (band_margins.py); a mistake costs its
own part and says why; the feedback shows no solution line.

Nothing of this lab is in the grader: it is a plug-in of solutions/ and vaelab_core/labs/.
"""

from __future__ import annotations

import pytest

from grader.kit.example_submissions import expected_scores
from tests.grader.band_margins import scores_with_moved_bands
from tests.grader.course_helpers import assert_feedback_shows_no_solution_line, exported_scores

pytestmark = [pytest.mark.slow, pytest.mark.courses]


@pytest.fixture(scope="module")
def graded(graded_flows):
    return graded_flows  # graded once for the session (conftest.py)


def test_every_example_gets_its_expected_score_per_part_on_any_machine(graded):
    expected = expected_scores(graded["course"])
    assert exported_scores(graded["grades"], expected) == expected
    for share in (-0.5, 0.5):  # a reference run elsewhere: the bands move, the scores must not
        found, wanted = scores_with_moved_bands(graded, share)
        assert found == wanted


def test_a_mistake_costs_its_own_part_and_says_why(graded):
    sign = graded["results"]["sign"].tests
    assert sign["test_flow_chain"].score == 1 and sign["test_planar_flow"].full_points
    assert any("subtracted" in message for message in sign["test_flow_chain"].messages)
    derivative = graded["results"]["derivative"].tests
    assert derivative["test_planar_flow"].score == 1 and derivative["test_flow_chain"].full_points
    assert any("1 - tanh^2" in message for message in derivative["test_planar_flow"].messages)
    no_prior = graded["results"]["noprior"].tests
    assert no_prior["test_flow_loss"].score == 1 and no_prior["test_flow_inference"].full_points
    assert any("prior" in message for message in no_prior["test_flow_loss"].messages)


def test_feedback_shows_no_solution_line_and_the_report_every_test(graded):
    # what those students wrote is theirs to see
    assert_feedback_shows_no_solution_line(graded, own=("correct", "variants"))
    report = graded["report"].read_text()
    assert all(test in report for test in expected_scores(graded["course"])["correct"])
