"""`vaelab demo`: run the whole lab once, headless, on Speakers A and B.

Builds the built-in speaker sets if they are missing, executes the solution notebook in a real
Jupyter kernel, and writes to OUT: the executed notebook (.ipynb and .html), the figures as PNG,
and results.json (keys documented in vaelab_core/results.py and the README); then prints a
short summary. Then it grades the assignment's example submissions as an instructor would (a
course in OUT/course: init, release with bands, intake of their ZIPs, autograde, feedback,
export) and prints the grade table next to the scores each example should get.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from grader.reference import DEFAULT_ASSIGNMENT, assignment, default_solutions
from grader.execute import NotebookFailed, execute_notebook, save_notebook
from vaelab_core.datasets import load_dataset
from vaelab_core.errors import VaelabError


def _summary(results: dict) -> str:
    def row(name: str, a: float, b: float) -> str:
        return f"  {name:<34}{a:>10.2f}{b:>10.2f}"

    cross = results["cross"]
    lines = [
        "negative ELBO per frame on the eval splits (lower is better)",
        f"  {'':<34}{'Speaker A':>10}{'Speaker B':>10}",
        row("scratch, 30 epochs on A+B", results["scratch"]["eval_loss"]["A"], results["scratch"]["eval_loss"]["B"]),
        row("pre-trained, no fine-tuning", results["pretrained"]["A"], results["pretrained"]["B"]),
        row("Model A (fine-tuned on A)", cross["A"]["A"], cross["A"]["B"]),
        row("Model B (fine-tuned on B)", cross["B"]["A"], cross["B"]["B"]),
        f"  five seeds, final train loss: {results['seeds']['total_mean'][-1]:.2f} ± "
        f"{results['seeds']['total_std'][-1]:.2f}",
        f"  notebook time: {results['seconds']:.0f} s",
    ]
    return "\n".join(lines)


def main(out: str | Path = "demo_out", speaker_a: str | Path | None = None,
         speaker_b: str | Path | None = None, solutions: str | Path | None = None,
         timeout: int = 1800, skip_grading: bool = False, jobs: int | None = None) -> dict:
    """Run the lab end to end, then grade the example submissions; returns the results dict.

    skip_grading: only run the lab; jobs: submissions graded at once (default: one per core).
    """
    started = time.perf_counter()
    if (speaker_a is None) != (speaker_b is None):
        raise VaelabError("give both --speaker-a and --speaker-b, or neither (the built-in speakers).")
    if speaker_a is None:
        from data_prep.defaults import main as build_defaults
        speaker_a, speaker_b = build_defaults()
    for path in (speaker_a, speaker_b):
        load_dataset(path)  # fail here, with the dataset's own message, not inside the kernel
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = assignment(solutions or default_solutions(), DEFAULT_ASSIGNMENT).notebook_path
    executed = out / source.name
    print(f"running {source} on A = {speaker_a}, B = {speaker_b} ...")
    env = {"VAELAB_SPEAKER_A": str(Path(speaker_a).resolve()),
           "VAELAB_SPEAKER_B": str(Path(speaker_b).resolve()),
           "VAELAB_OUT": str(out), "TQDM_DISABLE": "1"}
    try:
        notebook = execute_notebook(source, out, env=env, timeout=timeout)
    except NotebookFailed as failure:
        save_notebook(failure.notebook, executed)
        raise NotebookFailed(f"{failure}\nThe notebook as far as it ran: {executed}") from None
    save_notebook(notebook, executed)
    results = json.loads((out / "results.json").read_text())
    print(_summary(results))
    figures = sorted((out / "figures").glob("*.png"))
    print(f"wrote {executed} (+ .html), {out / 'results.json'}, {len(figures)} figures in "
          f"{out / 'figures'} ({time.perf_counter() - started:.0f} s so far)")
    if not skip_grading:
        grade_examples(out / "course", speaker_a, speaker_b, solutions, jobs or os.cpu_count() or 1)
        print(f"demo done in {time.perf_counter() - started:.0f} s")
    return results


def grade_examples(root: Path, speaker_a: Path, speaker_b: Path, solutions: Path | None, jobs: int) -> dict:
    """The instructor's workflow on the example submissions; prints and returns the grade table."""
    from grader import autograde, course as course_verb, export, feedback, intake, release
    from grader.example_submissions import expected_scores, write_example_zips

    print(f"\ngrading the example submissions in {root} ...")
    course = course_verb.main(root, speaker_a, speaker_b, solutions, force=True)
    release.main(course.root)
    write_example_zips(course, course.root / "inbox")
    intake.main(course.root / "inbox", course.root)
    results = autograde.main(course.root, jobs=jobs, force=True)
    feedback.main(course.root)
    export.main(course.root)
    expected = expected_scores(course)
    tests = list(next(iter(expected.values())))
    print(f"\n{'student':<12}" + "".join(f"{t.removeprefix('test_')[:8]:>9}" for t in tests) + "   total  as expected")
    for student in sorted(results):
        scores = {t: v["score"] for t, v in (results[student]["tests"] or {}).items()}
        mark = "yes" if scores == expected.get(student) else "NO"
        print(f"{student:<12}" + "".join(f"{scores.get(t, 0):>9g}" for t in tests)
              + f"{sum(scores.values()):>8g}  {mark}")
    return results
