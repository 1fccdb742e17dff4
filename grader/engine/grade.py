"""Grading one submission: `grade(submission, inputs, options) -> (graded notebook, GradingResult)`.

A function of its arguments only: no course folder, no global state, nothing written to
os.environ. It runs wherever its inputs are, in the instructor's local pool
(grader/workflow/autograde.py) or on a Dask worker (grader/workflow/cluster.py), and gives
the same result in both. The steps, each `step(run)` on one `Run`, in this order:

  1. restore_cells  (restore_cells.py) nbgrader's sanitising: locked and test cells back to the
                    released ones, deleted ones put back; tampering becomes flags. First, so
                    that everything after sees only the cells the student may write.
  2. probe          (probe.py) the student's methods called on fixed inputs, in a sandboxed
                    process of their own, from the restored code up to the model cell. Before
                    the kernel: it needs no training, and a notebook that later dies still has
                    its methods graded.
  3. execute        (execute.py) the whole notebook in a sandboxed kernel on the course's data;
                    errors and overrunning cells do not stop it; the check cells record results.
  4. judge          (judge.py) the probes against the reference's, the records against the
                    bands, in this process (which runs no student code); the verdicts become
                    the test cells' outputs, which nbgrader reads as partial credit.
  5. record         (here) the GradingResult: scores, flags, every limit that cut the run, timings.

Writing the graded notebook and the record, and the gradebook, is the caller's: only the
instructor's process writes the course.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.engine import execute, judge, probe, restore_cells, warm
from grader.engine.environment import kernel_environment
from grader.engine.inputs import GradingInputs
from grader.engine.probe import PROBE_SECONDS
from grader.engine.result import GradingResult, Problem, Verdict
from grader.engine.sandbox import Sandbox
from grader.engine.warm import Zygote

#: Seconds one cell may run before it is interrupted (the lab's longest, five seeds, takes ~30 s).
CELL_TIMEOUT = 600


@dataclass(frozen=True)
class Submission:
    """One student's submitted notebook, as intake filed it."""

    student: str
    notebook: str               # the notebook's JSON text, as submitted
    timestamp: str | None = None  # when it arrived (intake's timestamp.txt)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.notebook.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class GradingOptions:
    """How to grade: the same for every submission of a batch (named fields only: several are
    numbers, and `unsafe` must never be set by position)."""

    threads: int = 1                 # torch and BLAS threads of the kernel and the probe
    cell_timeout: int = CELL_TIMEOUT  # seconds per cell before it is interrupted
    probe_timeout: int = PROBE_SECONDS  # seconds per probed method (the code before them: 4 times that)
    unsafe: bool = False             # no sandbox namespaces (resource limits only): the instructor's explicit choice
    warm: bool = True                # start the probe and the kernel from a zygote (grader/engine/warm.py)


@dataclass
class Run:
    """One submission on its way through the steps: what each step reads and leaves.

    restore_cells  reads notebook                     writes notebook (restored), flags
    probe          reads the restored notebook         writes probes, problems, grader_failure (a ProbeOutcome)
    execute        reads notebook                     writes notebook (run), problems, seconds, grader_failure
    judge          reads notebook, probes             writes records, verdicts, notebook (verdicts in its test cells)
    """

    submission: Submission
    inputs: GradingInputs
    options: GradingOptions
    folder: Path                     # the inputs, materialized (GradingInputs.materialize)
    workdir: Path                    # this run's private folder: the notebook's current folder
    notebook: nbformat.NotebookNode  # the notebook as the steps leave it
    sandbox: Sandbox
    flags: list[str] = field(default_factory=list)       # tampering found and repaired
    problems: list[Problem] = field(default_factory=list)  # limits that cut the run
    probes: dict[str, dict] = field(default_factory=dict)  # method test -> the probe's answers, or {"error": why}
    records: dict[str, dict] = field(default_factory=dict)  # result test -> the numbers the notebook recorded
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("kernel start", "imports and data", "training", "tests"), 0.0))
    grader_failure: str | None = None  # why the probe or kernel failed before the student's first cell
    cold_retry: str | None = None      # why this is a second run, cold (the first one's grader_failure)

    @property
    def task(self):
        return self.inputs.task(self.folder)

    @property
    def rules(self):
        return self.task.rules()  # loaded once per process (grader/assignment.py)

    @property
    def reference_probes(self) -> dict:
        return _reference_probes(self.inputs)

    @property
    def restored_path(self) -> Path:
        return self.workdir / self.inputs.notebook

    @property
    def environment(self) -> dict[str, str]:
        return kernel_environment(self.inputs.data(self.folder), self.workdir / "outputs", self.options.threads)


#: The chain, in order (the module docstring says why this order).
STEPS = (restore_cells.step, probe.step, execute.step, judge.step)

_probes_cache: dict[str, dict] = {}


def _reference_probes(inputs: GradingInputs) -> dict:
    if inputs.digest not in _probes_cache:
        _probes_cache[inputs.digest] = inputs.probes()
    return _probes_cache[inputs.digest]


def record(run: Run, started: float) -> GradingResult:
    """Step 5: the run's record."""
    return GradingResult(
        student=run.submission.student, assignment=run.inputs.assignment,
        submission_sha256=run.submission.sha256, timestamp=run.submission.timestamp, flags=run.flags,
        problems=run.problems, tests=dict(run.verdicts),
        records=run.records, threads=run.options.threads, cold_retry=run.cold_retry,
        seconds={**{k: round(v, 2) for k, v in run.seconds.items()}, "total": round(time.perf_counter() - started, 2)})


def zygote_for(inputs: GradingInputs, folder: Path, options: GradingOptions, private: bool = False) -> Zygote | None:
    """The one place that decides whether a submission's probe and kernel start warm: None (cold)
    when the options say so (--cold, or --unsafe: no sandbox to fork into) or a zygote cannot
    run here; else this process's zygote for the inputs (started on first use, then kept), or
    with `private` one of its own for a batch, which the caller closes. A process that the
    zygote cannot show its view to still starts cold (warm.Zygote.serves)."""
    if options.unsafe or not options.warm:
        return None
    data = folder / "data"
    return warm.open_zygote([data], kernel_environment(inputs.data(folder), data, options.threads), options.threads,
                            private=private, preload=tuple(inputs.task(folder).rules().PRELOAD))


def _run_steps(submission: Submission, inputs: GradingInputs, options: GradingOptions, folder: Path,
               zygote: Zygote | None) -> Run:
    sandbox = Sandbox(read_only=[folder / "data"], unsafe=options.unsafe, warm=zygote)
    with sandbox.tempdir(f"vaelab-grade-{submission.student}-") as tmp:
        workdir = Path(tmp)
        (workdir / "outputs").mkdir()
        sandbox.writable = [workdir]
        run = Run(submission, inputs, options, folder, workdir, nbformat.reads(submission.notebook, as_version=4),
                  sandbox)
        assert run.task.name == inputs.assignment
        for step in STEPS:
            step(run)
    return run


def grade(submission: Submission, inputs: GradingInputs, options: GradingOptions = GradingOptions(),
          cache: Path | None = None, zygote: Zygote | None = None) -> tuple[nbformat.NotebookNode, GradingResult]:
    """Grade one submission; returns the graded notebook and its record.

    cache: where the inputs are materialized (default: the system's temporary folder).
    zygote: where the probe and the kernel start from (default: `zygote_for` decides).

    A warm run that failed for a reason of the grader's, before the student's first cell ran
    (the environment not visible in the fork, the zygote gone), is graded again cold, once; the
    record says so (GradingResult.cold_retry). Nothing of the student's code has run when those
    failures happen, and the zygote is out of its reach; the most a submission can do (delete
    the probe's marker of its first cell, then crash) is to be graded a second time, cold.
    """
    started = time.perf_counter()
    folder = inputs.materialize(cache)
    if zygote is None:
        zygote = zygote_for(inputs, folder, options)
    run = _run_steps(submission, inputs, options, folder, zygote)
    reason = run.grader_failure
    if zygote is not None and reason is None and not zygote.alive:
        reason = "the warm sandbox stopped while this submission was graded"
    if zygote is not None and reason is not None:
        run = _run_steps(submission, inputs, options, folder, None)
        run.cold_retry = reason
    return run.notebook, record(run, started)
