"""The record of one graded submission: `GradingResult`, the only way results are written and read.

The engine returns one (grader/engine/grade.py); the course workflow stores it beside the
autograded notebook as COURSE/autograded/<student>/<assignment>/vaelab_result.json, saves it in
the gradebook, and reads it back for the export, the class report and the next autograde run.

A run that a limit stopped or cut carries a `Problem` per cut, typed by `Cut`: the status says
"could not be fully graded: ..." with every reason, the progress bar counts it, the class
report lists it. A zero in grades.csv is then never without its explanation.
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


@dataclass
class GradingResult:
    """What grading one submission found (see the module docstring)."""

    student: str
    assignment: str
    submission_sha256: str               # the notebook that was graded (a changed one is graded again)
    timestamp: str | None = None         # when the submission arrived (intake's timestamp.txt)
    flags: list[str] = field(default_factory=list)         # tampering found and repaired
    problems: list[Problem] = field(default_factory=list)  # limits that cut the run
    tests: dict[str, dict] | None = None  # grade_id -> verdict (score, max, messages, checks); None: not graded
    records: dict = field(default_factory=dict)            # the notebook's own numbers, as judged
    seconds: dict[str, float] = field(default_factory=dict)  # kernel start, imports and data, training, tests, total
    threads: int = 1
    worker: str | None = None            # where it ran (a Dask worker's address), for the audit
    saved: bool = False                  # in the gradebook
    retry: bool = False                  # the grader failed, not the submission: grade it again next run

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
        data["status"] = self.status  # for a person reading the file; derived, never read back
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GradingResult:
        """The record from its JSON form; raises TypeError or KeyError naming what is malformed."""
        for name, kind, what in (("flags", list, "a list of texts"), ("problems", list, "a list of problems"),
                                 ("tests", (dict, type(None)), "a mapping of test ids to verdicts")):
            if name in data and not isinstance(data[name], kind):
                raise TypeError(f"{name} should be {what}, not {type(data[name]).__name__}")
        if not all(isinstance(flag, str) for flag in data.get("flags", [])):
            raise TypeError("flags should be a list of texts")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["problems"] = [Problem.from_dict(p) for p in data.get("problems", [])]
        return cls(**known)

    def save(self, path: Path) -> None:
        """Write the record atomically: a result file exists only for a finished run."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.as_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> GradingResult:
        """The record at `path`; raises OSError, ValueError, KeyError or TypeError when it is unreadable."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
