"""What a grading run hands back to `vaelab grade autograde`, wherever it ran: `Outcome`."""

from __future__ import annotations

from dataclasses import dataclass

from grader.engine.result import Cut, GradingResult, Problem


@dataclass(frozen=True)
class Outcome:
    """One submission's graded notebook (None when its run did not finish) and its record."""

    student: str
    notebook: str | None  # JSON text of the graded notebook
    result: GradingResult


def failed(course, student: str, problem: Problem) -> Outcome:
    """The outcome of a submission whose run did not finish: no part graded, the reason recorded.
    A failure of the grader, not of the submission, is graded again next run."""
    submission = course.submission(student)
    result = GradingResult(student=student, assignment=course.assignment, submission_sha256=submission.sha256,
                           timestamp=submission.timestamp, problems=[problem], tests=None,
                           retry=problem.cut is Cut.GRADER)
    return Outcome(student, None, result)
