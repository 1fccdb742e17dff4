"""The record of one graded submission: `GradingResult`, the only way results are written and read.

The engine returns one (grader/engine/grade.py); the course workflow stores it beside the
autograded notebook as COURSE/autograded/<student>/<assignment>/vaelab_result.json, saves it in
the gradebook, and reads it back for the export, the class report and the next autograde run.

A run that a limit stopped or cut carries a `Problem` per cut, typed by `Cut`: the status says
"could not be fully graded: ..." with every reason, the progress bar counts it, the class
report lists it. A zero in grades.csv is then never without its explanation.

Each test cell's outcome is a `Verdict` (its score, its points, the judged `Check`s and the
messages of the failed ones), made by the judge step (grader/engine/judge.py) and read by
attribute everywhere after it: the export, the class report, `vaelab demo`, the benchmarks.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vaelab_core.atomic_files import atomic_path

#: File name of the record in a submission's autograded folder.
RESULT_FILE = "vaelab_result.json"
#: The status of a submission graded to the end, with nothing cut.
GRADED = "graded"
#: The status's prefix when a limit cut the run (the parts graded before the cut keep their points).
CUT_SHORT = "could not be fully graded"
#: The status's prefix when no part could be graded at all (the grading process itself failed).
NOT_GRADED = "could not be graded"


class Cut(enum.Enum):
    """Each limit that can stop or cut a run (its value is the name shown in the class report)."""

    PROBE_TIME = "probe time"            # the methods' probe overran (the code up to the model cell, or a method)
    CELL_TIME = "cell time"              # a notebook cell overran --cell-timeout and was interrupted
    OUTPUT_CAP = "output cap"            # the notebook printed more than the output limit
    MEMORY = "memory"                    # a cell hit the sandbox's memory limit (MemoryError)
    PROCESSES = "process count"          # the notebook started more processes than allowed
    KERNEL_DEATH = "kernel death"        # the kernel died (a crash, os._exit, a signal)
    SUBMISSION_TIME = "submission time"  # the whole submission overran autograde's --timeout
    GRADER = "grader failure"            # the grading process itself failed (retried next run)


@dataclass(frozen=True)
class Problem:
    """One cut of a run: which limit, and what happened, in a sentence for the instructor."""

    cut: Cut
    text: str

    def as_dict(self) -> dict:
        return {"cut": self.cut.value, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict) -> Problem:
        return cls(Cut(data["cut"]), str(data["text"]))


_NUMBER = (int, float)  # a JSON number


def _checked(value, kind, what: str, where: str):
    """`value` if it is a `kind`, else a TypeError saying where, what was expected and what came
    (true and false are not numbers here, though Python counts them as ints)."""
    if not isinstance(value, kind) or (kind is _NUMBER and isinstance(value, bool)):
        raise TypeError(f"{where} should be {what}, not {type(value).__name__} {str(value)[:60]!r}")
    return value


@dataclass(frozen=True)
class Check:
    """One judged property of a test: its points, whether it passed, and the text shown."""

    points: float
    passed: bool
    passed_text: str  # shown when it passed
    failed_text: str  # shown when it failed: what was expected, what came, the likely cause

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))  # numpy and torch booleans too
        object.__setattr__(self, "points", float(self.points))

    def as_dict(self) -> dict:
        return {"points": self.points, "passed": self.passed, "passed_text": self.passed_text,
                "failed_text": self.failed_text}

    @classmethod
    def from_dict(cls, data: dict, where: str = "check") -> Check:
        """The check from its JSON form; raises TypeError naming the malformed field."""
        _checked(data, dict, "a mapping of points, passed, passed_text and failed_text", where)
        missing = [name for name in ("points", "passed", "passed_text", "failed_text") if name not in data]
        if missing:
            raise TypeError(f"{where} lacks {', '.join(missing)}")
        return cls(_checked(data["points"], _NUMBER, "a number of points", f"{where}.points"),
                   _checked(data["passed"], bool, "true or false", f"{where}.passed"),
                   _checked(data["passed_text"], str, "a text", f"{where}.passed_text"),
                   _checked(data["failed_text"], str, "a text", f"{where}.failed_text"))


@dataclass(frozen=True)
class Verdict:
    """The outcome of one test cell (grade id `test`): `score` of `max_points`, the checks that
    were judged, and the messages of the failed ones (or the one error that stopped the judging).

    The judge step makes it with `Verdict.judged`; a record read back from its file keeps the
    stored score and messages (files written before the checks were recorded have none)."""

    test: str
    score: float
    max_points: float
    messages: tuple[str, ...] = ()    # the failures, one line each (the export, the report, the feedback)
    checks: tuple[Check, ...] = ()
    error: str | None = None          # the test could not be run (the probe or the judge failed)

    @classmethod
    def judged(cls, test: str, max_points: float, checks=(), error: str | None = None) -> Verdict:
        """The verdict of `checks` (or of `error`, which scores 0): the passed checks' points, and
        the failed ones' texts as messages."""
        checks = tuple(checks)
        if error is not None:
            return cls(test, 0.0, float(max_points), (error,), checks, error)
        return cls(test, float(sum(c.points for c in checks if c.passed)), float(max_points),
                   tuple(c.failed_text for c in checks if not c.passed), checks)

    @property
    def full_points(self) -> bool:
        """The test got all its points (up to rounding)."""
        return self.score >= self.max_points - 1e-9

    def as_dict(self) -> dict:
        """The JSON form, without the test id (the key it is stored under)."""
        return {"score": self.score, "max": self.max_points, "messages": list(self.messages),
                "checks": [check.as_dict() for check in self.checks], "error": self.error}

    @classmethod
    def from_dict(cls, test: str, data: dict) -> Verdict:
        """The verdict of test `test` from its JSON form; raises TypeError naming the malformed field."""
        where = f"tests[{test!r}]"
        _checked(data, dict, "a verdict (a mapping with score, max, messages)", where)
        missing = [name for name in ("score", "max") if name not in data]
        if missing:
            raise TypeError(f"{where} lacks {' and '.join(missing)}")
        messages = _checked(data.get("messages", []), list, "a list of texts", f"{where}.messages")
        for message in messages:
            _checked(message, str, "a list of texts", f"{where}.messages")
        checks = _checked(data.get("checks", []), list, "a list of checks", f"{where}.checks")
        error = data.get("error")
        return cls(test, float(_checked(data["score"], _NUMBER, "a number", f"{where}.score")),
                   float(_checked(data["max"], _NUMBER, "a number", f"{where}.max")), tuple(messages),
                   tuple(Check.from_dict(check, f"{where}.checks[{i}]") for i, check in enumerate(checks)),
                   None if error is None else _checked(error, str, "a text or null", f"{where}.error"))


@dataclass
class GradingResult:
    """What grading one submission found (see the module docstring)."""

    student: str
    assignment: str
    submission_sha256: str               # the notebook that was graded (a changed one is graded again)
    timestamp: str | None = None         # when the submission arrived (intake's timestamp.txt)
    flags: list[str] = field(default_factory=list)         # tampering found and repaired
    problems: list[Problem] = field(default_factory=list)  # limits that cut the run
    tests: dict[str, Verdict] | None = None  # grade_id -> its verdict; None: not graded
    records: dict = field(default_factory=dict)            # the notebook's own numbers, as judged
    seconds: dict[str, float] = field(default_factory=dict)  # kernel start, imports and data, training, tests, total
    threads: int = 1
    worker: str | None = None            # where it ran (a Dask worker's address), for the audit
    saved: bool = False                  # in the gradebook
    retry: bool = False                  # the grader failed, not the submission: grade it again next run
    cold_retry: str | None = None        # a warm run failed for the grader's reason (this one): graded again cold

    def __post_init__(self) -> None:
        for test, verdict in (self.tests or {}).items():
            if not isinstance(verdict, Verdict):
                raise TypeError(f"tests[{test!r}] should be a Verdict, not {type(verdict).__name__}: build "
                                "verdicts with Verdict.judged, or read a stored record with GradingResult.from_dict")

    @property
    def status(self) -> str:
        """`graded`, or why not, every reason in one line."""
        if not self.problems:
            return GRADED
        prefix = NOT_GRADED if self.tests is None else CUT_SHORT
        return " ".join(f"{prefix}: {'; '.join(problem.text for problem in self.problems)}".split())  # one line: a CSV cell

    @property
    def cut(self) -> bool:
        """A limit stopped or cut the run (the export, the bar and the report count it)."""
        return bool(self.problems)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["problems"] = [problem.as_dict() for problem in self.problems]
        data["tests"] = None if self.tests is None else {test: v.as_dict() for test, v in self.tests.items()}
        data["status"] = self.status  # for a person reading the file; derived, never read back
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GradingResult:
        """The record from its JSON form (as written by `as_dict`, today's or an older one); raises
        TypeError, ValueError or KeyError naming what is malformed."""
        for name, kind, what in (("flags", list, "a list of texts"), ("problems", list, "a list of problems"),
                                 ("tests", (dict, type(None)), "a mapping of test ids to verdicts")):
            if name in data and not isinstance(data[name], kind):
                raise TypeError(f"{name} should be {what}, not {type(data[name]).__name__}")
        if not all(isinstance(flag, str) for flag in data.get("flags", [])):
            raise TypeError("flags should be a list of texts")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["problems"] = [Problem.from_dict(p) for p in data.get("problems", [])]
        if data.get("tests") is not None:
            known["tests"] = {test: Verdict.from_dict(test, verdict) for test, verdict in data["tests"].items()}
        return cls(**known)

    def save(self, path: Path) -> None:
        """Write the record atomically: a result file exists only for a finished run."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.as_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> GradingResult:
        """The record at `path`; raises OSError, ValueError, KeyError or TypeError when it is unreadable."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
