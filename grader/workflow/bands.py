"""`vaelab grade bands`: the numeric bands of the result tests, from reference runs on this
course's data, on this machine.

The same code and data give the same numbers run after run on one machine, but not across
machines; so the bands are made where the grading happens, and their widths come from the
spread of reference runs (seeds), not from a guessed tolerance. The reference notebook runs
exactly as a student's does (same kernel, same locked cells, same records); then the
assignment's `make_bands(records, reference namespace, speakers)` adds the runs it needs for the spread.
An assignment whose spread runs do not need the reference's records (other seeds of the same
training) names them `spread_runs(reference namespace, speakers)`: they run in this process
beside the reference notebook's kernel, the cores shared between the two, and their result goes
to `make_bands` as a fourth argument. On 2 cores that made the flows lab's bands in 44 s, where
the reference and then its spread runs took 63 s.

The file (COURSE/grading/bands.json) is the instructor's: never in release/, the wheel or the
feedback. It records the checksums of what it was made from; autograde refuses it when the
speaker data, the source notebook or the grading rules have changed since.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from grader.course import Course
from grader.engine.environment import kernel_environment, torch_threads
from grader.engine.execute import execute_notebook
from grader.engine.probe import reference_probes
from grader.stored_bands import StaleBandsError, fingerprint, load_bands, save
from vaelab_core.datasets import load_dataset
from vaelab_core.errors import VaelabError
from vaelab_core.lanes import lanes_setting
from vaelab_core.provenance import package_versions
from vaelab_core.records import read_records

#: The verb's Python API: `main` makes the bands; `load_bands` reads them back, checked current
#: (grader/stored_bands.py, where the engine reads them too).
__all__ = ["StaleBandsError", "load_bands", "main"]


def main(course: str | Path = ".", threads: int | None = None, timeout: int = 1800,
         executed: nbformat.NotebookNode | None = None) -> dict:
    """Run the reference notebook on the course's data and store the bands; returns them.

    threads: the cores the bands may use (default: all). The reference run's kernel takes them
    all, or half of them when the assignment's `spread_runs` run beside it (the rest).
    executed: the reference notebook already run on the course's data (`vaelab demo` has just
    run it): its records are used instead of running it again; its code must be the course's.
    """
    course = Course.load(course)
    started = time.perf_counter()
    task = course.task
    rules = task.rules()
    speakers = {s: load_dataset(p) for s, p in course.speakers.items()}
    namespace = task.reference_namespace()
    cores = threads or os.cpu_count() or 1
    spread = None
    if executed is not None:
        _check_same_code(executed, nbformat.read(task.notebook_path, as_version=4), task.notebook_path)
        notebook = executed
        print(f"bands: the records of the reference run of {task.notebook_path.name} already made ...")
        if rules.spread_runs is not None:
            print("bands: runs with other seeds for the spread ...")
            with torch_threads(cores), lanes_setting(cores):
                spread = rules.spread_runs(namespace, speakers)
    elif rules.spread_runs is not None and cores >= 2:
        kernel_threads = cores // 2
        print(f"bands: running the reference notebook {task.notebook_path.name} on the course's data "
              f"({kernel_threads} thread(s)), and beside it runs with other seeds for the spread "
              f"(up to {cores} at a time) ...")
        with ThreadPoolExecutor(max_workers=1) as beside:
            reference = beside.submit(_run_reference, course, kernel_threads, timeout)
            # The spread's independent runs (training.train_runs) may go as many side by side as
            # there are cores: while the kernel runs, Linux shares the cores between its session and
            # this process's (whose runs share their half), and once it ends the runs left take them
            # all, where a run at a time on this process's threads left the kernel's cores idle.
            with torch_threads(cores - kernel_threads), lanes_setting(cores):
                spread = rules.spread_runs(namespace, speakers)
            notebook = reference.result()
    else:
        print(f"bands: running the reference notebook {task.notebook_path.name} on the course's data ...")
        notebook = _run_reference(course, threads, timeout)
        if rules.spread_runs is not None:
            print("bands: runs with other seeds for the spread ...")
            with torch_threads(cores), lanes_setting(cores):
                spread = rules.spread_runs(namespace, speakers)
    records = read_records(notebook)
    missing = [t for t in rules.RESULT_TESTS if t not in records]
    if missing:
        raise VaelabError(f"{task.notebook_path}: the reference run recorded nothing for {missing}; "
                          "every result test cell must call its result check, which records the numbers "
                          f"(vaelab_core.labs.{task.name}.result_checks).")
    if rules.spread_runs is None:
        print("bands: repeating runs with other seeds for the spread ...")
        with torch_threads(cores), lanes_setting(cores):
            bands = rules.make_bands(records, namespace, speakers)
    else:
        bands = rules.make_bands(records, namespace, speakers, spread)
    stored = {"fingerprint": fingerprint(course), "bands": bands, "reference_records": records,
              "machine": {"node": platform.node(), "cores": os.cpu_count(), "processor": platform.processor()},
              "versions": package_versions(), "seconds": round(time.perf_counter() - started, 1)}
    # the reference's probes, once per course: every submission is judged against them
    save(course, stored, reference_probes(task))
    print(f"bands: wrote {course.bands_path} in {stored['seconds']:.0f} s")
    for test in rules.RESULT_TESTS:
        print(f"  {test}: {json.dumps(bands[test])[:160]}")
    print(f"next: students hand in; then vaelab grade intake ZIP_DIR --course {course.root}")
    return bands


def _check_same_code(executed: nbformat.NotebookNode, source: nbformat.NotebookNode, path: Path) -> None:
    """Refuse a run whose code cells are not those of the course's reference notebook `source`."""
    def code(notebook):
        return [cell.source for cell in notebook.cells if cell.cell_type == "code"]

    if code(executed) != code(source):
        raise VaelabError(f"the executed notebook given for the bands is not a run of {path}: its code cells "
                          "differ. Make the bands from the reference itself: vaelab grade bands --course COURSE.")


def _run_reference(course: Course, threads: int | None, timeout: int) -> nbformat.NotebookNode:
    """The course's reference notebook executed on its data in a kernel with `threads` threads."""
    with tempfile.TemporaryDirectory(prefix="vaelab-bands-") as out:
        env = kernel_environment(course.kernel_data(), Path(out), threads)
        return execute_notebook(nbformat.read(course.task.notebook_path, as_version=4), Path(out), env, timeout)
