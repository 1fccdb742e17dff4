"""`vaelab demo`: run every lab once, headless, on Speakers A and B, then grade its examples.

Builds the built-in speaker sets if they are missing and, for each lab of solutions/ (or the
one named by --lab), executes its solution notebook in a real Jupyter kernel and writes to
OUT/<lab>/: the executed notebook (.ipynb and .html), the figures as PNG and results.json
(keys documented in the README); then prints the lab's summary (its grading.py's `summary`).
Then it grades the lab's example submissions as an instructor would (a course in
OUT/<lab>/course: init, release with bands, intake of their ZIPs, autograde, feedback, export)
and prints the grade table next to the scores each example should get.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from grader.assignment import assignment, default_solutions
from grader.engine.environment import kernel_environment
from grader.engine.execute import NotebookFailed, execute_notebook, save_notebook
from vaelab_core.datasets import load_dataset
from vaelab_core.errors import VaelabError


def lab_names(solutions: Path) -> list[str]:
    """The labs of a solutions folder: its subfolders that hold a notebook, sorted."""
    return sorted(p.name for p in solutions.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def main(out: str | Path = "demo_out", lab: str | None = None, speaker_a: str | Path | None = None,
         speaker_b: str | Path | None = None, solutions: str | Path | None = None,
         timeout: int = 1800, skip_grading: bool = False, jobs: int | None = None) -> dict:
    """Run each lab end to end, then grade its example submissions; returns {lab: results}.

    lab: one lab of solutions/ (default: all of them); skip_grading: only run the labs;
    jobs: submissions graded at once (default: one per core).
    """
    started = time.perf_counter()
    if (speaker_a is None) != (speaker_b is None):
        raise VaelabError("give both --speaker-a and --speaker-b, or neither (the built-in speakers).")
    solutions = Path(solutions or default_solutions()).resolve()
    labs = lab_names(solutions)
    if lab is not None and lab not in labs:
        raise VaelabError(f"no lab {lab!r} in {solutions}; the labs are {', '.join(labs)}.")
    if speaker_a is None:
        from data_prep.defaults import main as build_defaults
        speaker_a, speaker_b = build_defaults()
    for path in (speaker_a, speaker_b):
        load_dataset(path)  # fail here, with the dataset's own message, not inside the kernel
    out = Path(out).resolve()
    everything = {}
    for name in [lab] if lab else labs:
        everything[name] = run_lab(name, out / name, Path(speaker_a), Path(speaker_b), solutions, timeout)
        print(f"({time.perf_counter() - started:.0f} s so far)")
        if not skip_grading:
            grade_examples(out / name / "course", name, speaker_a, speaker_b, solutions, jobs or os.cpu_count() or 1)
    print(f"demo done in {time.perf_counter() - started:.0f} s")
    return everything


def run_lab(name: str, out: Path, speaker_a: Path, speaker_b: Path, solutions: Path, timeout: int) -> dict:
    """Execute lab `name`'s solution notebook into `out`; print its summary; return results.json."""
    task = assignment(solutions, name)
    out.mkdir(parents=True, exist_ok=True)
    source = task.notebook_path
    executed = out / source.name
    print(f"running {source} on A = {speaker_a}, B = {speaker_b} ...")
    rules = task.rules()
    # the lab's own data (latent_space's sweeps) made in the demo's folder, as a course would
    made = rules.course_data(out / "data")
    data = {"VAELAB_SPEAKER_A": str(speaker_a.resolve()), "VAELAB_SPEAKER_B": str(speaker_b.resolve()),
            **{name: str(path) for name, path in made.items()}}
    try:
        notebook = execute_notebook(source, out, kernel_environment(data, out), timeout)
    except NotebookFailed as failure:
        save_notebook(failure.notebook, executed)
        raise NotebookFailed(f"{failure}\nThe notebook as far as it ran: {executed}") from None
    save_notebook(notebook, executed)
    results = json.loads((out / "results.json").read_text())
    print(rules.summary(results))
    figures = sorted((out / "figures").glob("*.png"))
    print(f"wrote {executed} (+ .html), {out / 'results.json'}, {len(figures)} figures in {out / 'figures'}")
    return results


def grade_examples(root: Path, name: str, speaker_a: Path, speaker_b: Path, solutions: Path | None,
                   jobs: int) -> dict:
    """The instructor's workflow on lab `name`'s example submissions; prints and returns the grades."""
    from grader.workflow import init as course_verb
    from grader.workflow import autograde, export, feedback, intake, release
    from grader.kit.example_submissions import expected_scores, write_example_zips

    print(f"\ngrading the example submissions of {name} in {root} ...")
    course = course_verb.main(root, speaker_a, speaker_b, solutions, assignment_name=name, force=True)
    release.main(course.root)
    write_example_zips(course, course.root / "inbox")
    intake.main(course.root / "inbox", course.root)
    results = autograde.main(course.root, jobs=jobs, force=True)
    feedback.main(course.root)
    export.main(course.root)
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
    return results
