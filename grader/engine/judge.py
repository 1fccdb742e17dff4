"""Step 4 of grading a submission: judge the probes and the records, and write the verdicts.

Runs in the grader's own process, which never runs student code: it compares plain data (the
probe's tensors, the kernel's records) with the reference's, using the assignment's judges
(`grading.py`). Each test cell of the autograded notebook then gets the verdict as its only
outputs: what passed, what failed with what was expected and the likely mistake, and the
score as the cell's result, which nbgrader's own `SaveAutoGrades` reads as partial credit.
No line of the judges or of the reference is ever written to the notebook.
"""

from __future__ import annotations

import math
import time

import torch

from grader.engine.result import Check, Verdict  # Check: the judges of grading.py import it from here
from vaelab_core.records import read_records

__all__ = ["Check", "Verdict", "feedback_text", "judge_tests", "step", "tensor_close", "write_verdicts"]


def tensor_close(mine, ref, rtol: float = 1e-4, atol: float = 1e-4) -> bool:
    """Same shape and values within tolerance; False for anything that is not a finite tensor."""
    if not isinstance(mine, torch.Tensor) or not isinstance(ref, torch.Tensor) or mine.shape != ref.shape:
        return False
    mine, ref = mine.detach().double(), ref.detach().double()
    return bool(torch.isfinite(mine).all()) and bool(torch.allclose(mine, ref, rtol=rtol, atol=atol))


def judge_tests(rules, points: dict[str, float], probes: dict[str, dict], reference_probes: dict[str, dict],
                records: dict[str, dict], bands: dict) -> dict[str, Verdict]:
    """A verdict per test of `points` ({test id: max points}), with the assignment's judges."""
    verdicts = {}
    for test, max_points in points.items():
        judge = rules.JUDGES.get(test)
        checks, error = [], None
        try:
            if judge is None:
                error = "this test has no judge in the assignment's grading rules (instructor: see grading.py)."
            elif test in rules.METHOD_TESTS:
                probe = probes.get(test, {"error": "the method could not be probed."})
                if "error" in probe:
                    error = probe["error"]
                else:
                    checks = judge(probe, reference_probes[test])
            else:
                checks = judge(records.get(test), bands[test])
        except Exception as err:  # a judge tripping over malformed data is the submission's loss
            error = f"the results could not be judged ({type(err).__name__}); see the cell's output above it."
        checks = tuple(checks)
        total = sum(c.points for c in checks)
        if error is None and not math.isclose(total, max_points):
            raise AssertionError(f"grading.py: the checks of {test} add up to {total} points, the notebook "
                                 f"gives it {max_points}: make them agree.")
        verdicts[test] = Verdict.judged(test, max_points, checks, error)
    return verdicts


def feedback_text(verdict: Verdict) -> str:
    """The verdict as the student reads it in the feedback."""
    lines = [f"{verdict.test}: {verdict.score:g} / {verdict.max_points:g} points (judged by the grader)"]
    if verdict.error is not None:
        lines.append(f"  ✗ could not be graded: {verdict.error}")
    for check in verdict.checks:
        mark = "✓" if check.passed else "✗"
        text = check.passed_text if check.passed else check.failed_text
        lines.append(f"  {mark} [{check.points:g}] {text}")
    return "\n".join(lines) + "\n"


def write_verdicts(notebook, verdicts: dict[str, Verdict]) -> None:
    """Replace each judged test cell's outputs by its verdict and its score (nbgrader reads a
    numeric result as partial credit). The kernel's own output of the cell is kept above it as
    plain text, without tracebacks' code frames. `notebook`: an nbformat NotebookNode (nbformat is
    imported here, not above: grading.py imports this module in every probe process, which needs
    no nbformat and would pay about 1.5 s to import it)."""
    import nbformat

    for cell in notebook.cells:
        test = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or test not in verdicts:
            continue
        shown = _kernel_text(cell.get("outputs", []))
        outputs = []
        if shown:
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=shown))
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=feedback_text(verdicts[test])))
        outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": f"{verdicts[test].score:g}"},
                                              execution_count=cell.get("execution_count")))
        cell.outputs = outputs


def _kernel_text(outputs: list) -> str:
    """What the public check printed or raised, as text (an error shows its name and message
    only: a traceback would show the public check's source, which says nothing more)."""
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            parts.append(output.get("text", ""))
        elif output.get("output_type") == "error":
            parts.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n")
    text = "".join(parts)
    return text[-2000:]


def step(run) -> None:
    """The engine's step 4 (grader/engine/grade.py): judge the probes and the records in this
    process (no student code runs here) and write the verdicts into the test cells."""
    started = time.perf_counter()
    points = {cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
              for cell in run.notebook.cells if cell.cell_type == "code"
              and cell.get("metadata", {}).get("nbgrader", {}).get("grade")}
    run.records = read_records(run.notebook)
    run.verdicts = judge_tests(run.rules, points, run.probes, run.reference_probes, run.records, run.inputs.bands)
    write_verdicts(run.notebook, run.verdicts)
    run.seconds["tests"] += time.perf_counter() - started
