"""`vaelab demo`: every lab run once, headless, on Speakers A and B, and grading shown end to end.

Builds the built-in data if it is missing, then executes every lab's solution notebook (or the
one named by --lab) in real Jupyter kernels, side by side (one per core, each kernel with its
share of the cores' threads), and writes to OUT/<lab>/: the executed notebook (.ipynb and .html),
the figures as PNG and results.json (keys documented in the README); it prints each lab's summary
(its grading.py's `summary`) as the lab finishes.

Then it grades as an instructor would, in a course in OUT/<lab>/course (init, release, bands,
intake of the example ZIPs, autograde, feedback, export), and prints the grade table next to the
scores each example should get. By default one lab (`--grade`, else vae_speech) and three of its
examples (its examples.py's DEMO_EXAMPLES: a correct one and two telling mistakes, with what their
feedback says). The bands take the records of the reference run just made instead of running the
reference again. `--full` grades every lab's every example. At the end it prints where its time
went.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from grader.assignment import assignment, default_solutions
from grader.engine.environment import kernel_environment
from grader.engine.execute import NotebookFailed, execute_notebook, save_notebook
from vaelab_core.datasets import load_dataset
from vaelab_core.errors import VaelabError

#: The lab graded by default: the handout's.
DEFAULT_GRADED_LAB = "vae_speech"


def lab_names(solutions: Path) -> list[str]:
    """The labs of a solutions folder: its subfolders that hold a notebook, sorted."""
    return sorted(p.name for p in solutions.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def graded_lab(chosen: list[str], grade: str | None) -> str:
    """The lab the quick demo grades among the labs it runs: `grade`, else the handout's lab if it
    runs, else the first one asked for."""
    return grade or (DEFAULT_GRADED_LAB if DEFAULT_GRADED_LAB in chosen else chosen[0])


class Clock:
    """Where the demo's time went: named phases, in the order they ended."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.phases.append((name, now - since))
        return now

    def report(self, heading: str) -> str:
        total = time.perf_counter() - self.started
        width = max(len(name) for name, _ in [*self.phases, ("total", 0)])
        lines = [heading] + [f"  {name:<{width}}  {seconds:6.1f} s" for name, seconds in self.phases]
        return "\n".join([*lines, f"  {'total':<{width}}  {total:6.1f} s"])


def main(out: str | Path = "demo_out", lab: list[str] | str | None = None, speaker_a: str | Path | None = None,
         speaker_b: str | Path | None = None, solutions: str | Path | None = None,
         timeout: int = 1800, skip_grading: bool = False, jobs: int | None = None,
         grade: str | None = None, full: bool = False, threads: int | None = None) -> dict:
    """Run the labs, then grade; returns {lab: results.json of its run}.

    lab: run only this lab, or these labs, of solutions/ (default: all of them); skip_grading: only
    run the labs; jobs: notebooks run, and submissions graded, at once (default: one per core);
    grade: the lab whose examples are graded (default: vae_speech if it runs, else the first lab
    run); full: grade every example of every lab run, not only the three of one lab; threads:
    torch threads per kernel and per graded submission (default: the cores shared out among the
    kernels running at once).
    """
    clock = Clock()
    if (speaker_a is None) != (speaker_b is None):
        raise VaelabError("give both --speaker-a and --speaker-b, or neither (the built-in speakers).")
    solutions = Path(solutions or default_solutions()).resolve()
    labs = lab_names(solutions)
    requested = [lab] if isinstance(lab, str) else list(dict.fromkeys(lab or ()))
    for name in [*requested, grade]:
        if name is not None and name not in labs:
            raise VaelabError(f"no lab {name!r} in {solutions}; the labs are {', '.join(labs)}.")
    chosen = requested or labs
    if grade is not None and grade not in chosen:
        raise VaelabError(f"--grade {grade} grades a lab the demo runs: leave out --lab, or add --lab {grade}.")
    graded = chosen if full else [graded_lab(chosen, grade)]
    cores = os.cpu_count() or 1
    jobs = max(1, jobs or cores)
    since = clock.started
    if speaker_a is None:
        from data_prep.defaults import main as build_defaults
        speaker_a, speaker_b = build_defaults()
    for path in (speaker_a, speaker_b):
        load_dataset(path)  # fail here, with the dataset's own message, not inside the kernel
    since = clock.lap("data: built-in sets checked (or built)", since)
    out = Path(out).resolve()
    speakers = (Path(speaker_a), Path(speaker_b))

    lanes = min(jobs, len(chosen))
    kernel_threads = threads or max(1, cores // lanes)
    print(f"running {len(chosen)} lab(s), {lanes} at a time, {kernel_threads} thread(s) per kernel ...")
    everything, runs = {}, {}
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        started = {pool.submit(run_lab, name, out / name, *speakers, solutions, timeout, kernel_threads): name
                   for name in chosen}
        for future in as_completed(started):
            name = started[future]
            everything[name], runs[name] = future.result()
            print(f"({time.perf_counter() - clock.started:.0f} s so far)")
    since = clock.lap(f"notebooks, {lanes} side by side: "
                      + ", ".join(f"{n} {runs[n]['seconds']:.0f} s" for n in chosen), since)

    if not skip_grading:
        for name in graded:
            grade_examples(out / name / "course", name, *speakers, solutions, jobs, clock,
                           executed=runs[name]["notebook"], examples=None if full else "demo", threads=threads)
    print(clock.report(f"demo done: where the time went ({cores} cores)"))
    return everything


def run_lab(name: str, out: Path, speaker_a: Path, speaker_b: Path, solutions: Path, timeout: int,
            threads: int | None = None) -> tuple[dict, dict]:
    """Execute lab `name`'s solution notebook into `out` with `threads` torch threads; print its
    summary; return its results.json and {"notebook": the executed notebook, "seconds": wall time}."""
    task = assignment(solutions, name)
    out.mkdir(parents=True, exist_ok=True)
    source = task.notebook_path
    executed = out / source.name
    print(f"running {source} on A = {speaker_a}, B = {speaker_b} ...")
    rules = task.rules()
    # the lab's own data (latent_space's sweeps) made in the demo's folder, as a course would
    made = rules.course_data(out / "data")
    data = {"VAELAB_SPEAKER_A": str(speaker_a.resolve()), "VAELAB_SPEAKER_B": str(speaker_b.resolve()),
            **{variable: str(path) for variable, path in made.items()}}
    started = time.perf_counter()
    try:
        notebook = execute_notebook(source, out, kernel_environment(data, out, threads), timeout)
    except NotebookFailed as failure:
        save_notebook(failure.notebook, executed)
        raise NotebookFailed(f"{failure}\nThe notebook as far as it ran: {executed}") from None
    seconds = time.perf_counter() - started
    save_notebook(notebook, executed)
    results = json.loads((out / "results.json").read_text())
    figures = sorted((out / "figures").glob("*.png"))
    print(f"\n== {name}: ran in {seconds:.0f} s ==\n{rules.summary(results)}")
    print(f"wrote {executed} (+ .html), {out / 'results.json'}, {len(figures)} figures in {out / 'figures'}")
    return results, {"notebook": notebook, "seconds": seconds}


def grade_examples(root: Path, name: str, speaker_a: Path, speaker_b: Path, solutions: Path | None,
                   jobs: int, clock: Clock | None = None, executed: nbformat.NotebookNode | None = None,
                   examples: str | None = None, threads: int | None = None) -> dict:
    """The instructor's workflow on lab `name`'s example submissions; prints and returns the grades.

    executed: the reference notebook already run on these speakers (its records make the bands);
    examples: "demo" grades the lab's DEMO_EXAMPLES only (default: every example); threads: of
    the bands' runs and of each graded submission (default: all cores, and autograde's share)."""
    from grader.workflow import init as course_verb
    from grader.workflow import autograde, export, feedback, intake, release
    from grader.workflow import bands as grading_bands
    from grader.kit.example_submissions import expected_scores, write_example_zips

    clock = clock or Clock()
    since = time.perf_counter()
    course = course_verb.main(root, speaker_a, speaker_b, solutions, assignment_name=name, force=True)
    chosen = demo_examples(course.task.examples()) if examples == "demo" else None
    print(f"\ngrading {'the examples ' + ', '.join(chosen) if chosen else 'every example'} of {name} "
          f"in {root} ...")
    release.main(course.root, skip_bands=True)
    since = clock.lap(f"{name}: course made, notebook and bundle released", since)
    grading_bands.main(course.root, threads=threads or os.cpu_count(), executed=executed)
    since = clock.lap(f"{name}: bands (the reference's records and its extra seeds)", since)
    write_example_zips(course, course.root / "inbox", names=chosen)
    intake.main(course.root / "inbox", course.root)
    # the demo's three at once, one thread each: on 2 cores that ends sooner than two, then one alone
    at_once = max(jobs, len(chosen)) if chosen else jobs
    results = autograde.main(course.root, jobs=at_once, force=True, threads=threads)
    since = clock.lap(f"{name}: {len(results)} submissions autograded, {min(at_once, len(results))} at a time", since)
    pages = feedback.main(course.root)
    export.main(course.root)
    since = clock.lap(f"{name}: feedback pages and grades.csv", since)
    expected = expected_scores(course)
    tests = list(next(iter(expected.values())))
    width = max(9, *(len(t.removeprefix("test_")[:10]) + 1 for t in tests))
    print(f"\n{'student':<12}" + "".join(f"{t.removeprefix('test_')[:10]:>{width}}" for t in tests)
          + "   total  as expected")
    for student in sorted(results):
        scores = {t: v.score for t, v in (results[student].tests or {}).items()}
        mark = "yes" if scores == expected.get(student) else "NO"
        print(f"{student:<12}" + "".join(f"{scores.get(t, 0):>{width}g}" for t in tests)
              + f"{sum(scores.values()):>8g}  {mark}")
    if chosen:
        print_feedback(results, pages, course.task.examples())
    return results


def demo_examples(examples) -> list[str]:
    """The examples the quick demo grades: examples.py's DEMO_EXAMPLES, else its first three."""
    chosen = list(examples.DEMO_EXAMPLES or list(examples.EXAMPLES)[:3])
    unknown = [n for n in chosen if n not in examples.EXAMPLES]
    if unknown:
        raise VaelabError(f"DEMO_EXAMPLES names {unknown}, which EXAMPLES does not hold: name examples of "
                          f"{', '.join(examples.EXAMPLES)}.")
    return chosen


def print_feedback(results: dict, pages: list[Path], examples) -> None:
    """What each graded example is and what its feedback tells the student, test by test."""
    for student in sorted(results):
        page = next((p for p in pages if student in p.parts), None)
        print(f"\n{student}: {examples.EXAMPLES[student].description}" if student in examples.EXAMPLES
              else f"\n{student}:")
        for test, verdict in (results[student].tests or {}).items():
            if not verdict.full_points:
                said = verdict.messages[0] if verdict.messages else "(no message)"
                print(f"  {test}: {verdict.score:g} of {verdict.max_points:g}: {said[:300]}")
        if results[student].tests and all(v.full_points for v in results[student].tests.values()):
            print("  every autograded part in full")
        if page is not None:
            print(f"  feedback page: {page}")
