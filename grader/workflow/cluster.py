"""Grading on a Dask cluster: `vaelab grade autograde --scheduler ADDRESS`.

Each submission becomes one task, `grade_task(submission, inputs, options)`, which calls the
engine (grader/engine/grade.py) on the worker: the sandbox, the kernel and the probe run there.
A task carries everything it reads, so workers need the kit installed (the same lock) and
bubblewrap, but no shared folder with the course:

- the submission's notebook travels with its task;
- the course's grading inputs (released notebook, grading rules, reference cells, bands,
  reference probes, speaker data) are one `GradingInputs`, the result of one task that every
  grading task depends on: each worker fetches it once from a worker that has it, and writes it
  to a folder named after its SHA-256 the first time a task there needs it. A task, not
  scattered data: Dask cannot recover scattered data whose workers all died (a broadcast is not
  guaranteed to have reached every worker), while it runs a lost task again.

The results come back to this process, which alone writes the autograded notebooks and the
gradebook, as each task finishes. A worker lost mid-task: the scheduler runs its task again
on another worker, and its result is saved once (a task's key names the submission's checksum
and the inputs' digest). Workers must run one task per thread and one thread each (`dask
worker --nthreads 1`): the kernel's torch threads come from --threads.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from grader.engine.grade import GradingOptions, Submission
from grader.engine.inputs import GradingInputs
from grader.engine.result import Cut, GradingResult, Problem
from grader.workflow.outcome import Outcome, failed
from vaelab_core.errors import VaelabError

#: The scheduler's settings for grading (as environment variables of `dask scheduler`): hand a
#: one-thread worker one submission at a time (Dask's default, 1.1, queues a second one on it,
#: which can leave it busy with two while another worker idles at the end of the batch).
SCHEDULER_SETTINGS = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}
#: The first part of every grading task's key, its Dask task group: one group for the whole batch,
#: so that the scheduler learns the tasks' duration from the first one and hands them out one per
#: free worker. With one group per student (a key "vaelab-grade-<student>-..."), each task's
#: duration stayed unknown and they were all placed at once beside the grading inputs: one worker
#: of two sat idle 33 s while three submissions waited on the other.
TASK_GROUP = "vaelab-grade"
#: Seconds to wait for the scheduler to answer before giving up.
CONNECT_SECONDS = 30


def _inputs(inputs: GradingInputs) -> GradingInputs:
    """The task whose result is the course's grading inputs (see the module docstring)."""
    return inputs


def grade_task(submission: Submission, inputs: GradingInputs, options: GradingOptions) -> tuple[str, GradingResult]:
    """Run on a worker: grade one submission; returns the graded notebook's JSON and its record."""
    import nbformat
    import torch
    from distributed import get_worker

    from grader.engine.grade import grade

    torch.set_num_threads(options.threads)  # the judge's share; the kernel's comes from options
    notebook, result = grade(submission, inputs, options)
    result.worker = get_worker().address
    return nbformat.writes(notebook), result


def grade_on_cluster(course, students: list[str], options: GradingOptions, address: str) -> Iterator[Outcome]:
    """Grade `students` of `course` on the Dask cluster whose scheduler is at `address`; yields
    each outcome as it finishes (in the order they finish)."""
    try:
        from distributed import Client, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError as err:  # pragma: no cover - distributed is a dependency of the kit
        raise VaelabError(f"grading on a cluster needs dask.distributed ({err}): pip install distributed") from None
    inputs = GradingInputs.from_course(course)
    try:
        client = Client(address, timeout=CONNECT_SECONDS)
    except OSError as err:
        raise VaelabError(f"no Dask scheduler answered at {address} ({err}). Start one with `dask scheduler` "
                          "and workers with `dask worker ADDRESS --nthreads 1` (README: grading on a cluster).") from None
    with client:
        workers = len(client.scheduler_info().get("workers", {}))
        print(f"autograde: Dask scheduler {address}, {workers} worker(s); sending the course's grading inputs "
              f"({inputs.size / 2 ** 20:.1f} MB, {inputs.digest[:12]}) to each worker once")
        with warnings.catch_warnings():  # "large object in the task graph": sent once, on purpose
            warnings.simplefilter("ignore", UserWarning)
            shared = client.submit(_inputs, inputs, key=f"vaelab-grading-inputs-{inputs.digest[:12]}", pure=False)
        futures = {}
        for student in students:
            submission = course.submission(student)
            key = (TASK_GROUP, student, submission.sha256[:12], inputs.digest[:12])
            futures[client.submit(grade_task, submission, shared, options, key=key, pure=False)] = student
        for future in as_completed(futures):
            student = futures.pop(future)
            try:
                notebook, result = future.result()
                future.release()  # the cluster may forget it: a worker lost later need not redo it
            except KilledWorker as err:
                yield failed(course, student, Problem(Cut.GRADER, f"the workers grading it died ({err}); "
                                                                  "it is retried next run"))
                continue
            except Exception as err:  # the grader failed on the worker: say so, grade it again next run
                yield failed(course, student, Problem(Cut.GRADER, f"grading failed on the cluster "
                                                                  f"({type(err).__name__}: {str(err)[:200]}); "
                                                                  "it is retried next run"))
                continue
            yield Outcome(student, notebook, _checked(result, student))


def _checked(result: GradingResult, student: str) -> GradingResult:
    if not isinstance(result, GradingResult) or result.student != student:
        raise VaelabError(f"the cluster returned a result for {getattr(result, 'student', '?')} in place of {student}")
    return result
