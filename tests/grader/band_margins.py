"""Do the examples' result scores hold on another machine? (issue: machine-independent verdicts)

A reference run on another machine (another BLAS, another thread count) lands somewhere else
inside the spread its band was made for. `moved_bands` moves every interval of a course's bands
by a share of its own half-width, as if the reference had landed there: a result check that
tells a mistake from the reference only by chance (its number just outside the band on this
machine) changes its score, and `rejudged_scores` shows it. Nothing is run again: the examples'
recorded numbers are judged anew with the lab's own judges.
"""

from __future__ import annotations

import math

from grader.engine.judge import judge_tests
from grader.kit.example_submissions import expected_scores
from grader.stored_bands import load_bands

#: Band entries that are not intervals: matrices compared with a tolerance, sizes, the spreads
#: that made the bands (kept for the instructor), and numbers of epochs.
NOT_INTERVALS = ("alignment", "alignment_atol", "dims", "spread", "epochs", "reference_correlation")


def _is_interval(value) -> bool:
    return (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and all(math.isfinite(v) for v in value) and value[0] <= value[1])


def moved_bands(bands, share: float):
    """`bands` with each interval [lo, hi] moved by `share` of its half-width (share 0.5: a
    quarter of the band's width up)."""
    if _is_interval(bands):
        shift = share * (bands[1] - bands[0]) / 2
        return [bands[0] + shift, bands[1] + shift]
    if isinstance(bands, dict):
        return {key: value if key in NOT_INTERVALS else moved_bands(value, share) for key, value in bands.items()}
    return bands


def rejudged_scores(course, results: dict, bands: dict, expected: dict) -> dict[str, dict[str, float]]:
    """{student: {result test: score}} of the examples' recorded numbers judged against `bands`,
    for the result tests that `expected` names."""
    rules = course.task.rules()
    scores = {}
    for student, wanted in expected.items():
        result = results[student]
        points = {test: result.tests[test].max_points for test in rules.RESULT_TESTS if test in wanted}
        verdicts = judge_tests(rules, points, {}, {}, result.records, bands)
        scores[student] = {test: verdict.score for test, verdict in verdicts.items()}
    return scores


def result_expectations(course, expected: dict) -> dict[str, dict[str, float]]:
    rules = course.task.rules()
    return {student: {test: score for test, score in wanted.items() if test in rules.RESULT_TESTS}
            for student, wanted in expected.items()}


def scores_with_moved_bands(graded: dict, share: float) -> tuple[dict, dict]:
    """(the examples' result scores judged against the graded course's bands moved by `share`,
    the scores they must have): equal when every result check tells them apart by a margin."""
    course = graded["course"]
    wanted = result_expectations(course, expected_scores(course))
    return rejudged_scores(course, graded["results"], moved_bands(load_bands(course), share), wanted), wanted
