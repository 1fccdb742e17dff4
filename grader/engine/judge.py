"""Step 4 of grading a submission: judge the probes and the records, and write the verdicts.

Runs in the grader's own process, which never runs student code: it compares plain data (the
probe's tensors, the kernel's records) with the reference's, using the assignment's judges
(`grading.py`). Each test cell of the autograded notebook then gets the verdict as its only
outputs: what passed, what failed with what was expected and the likely mistake, and the
score as the cell's result, which nbgrader's own `SaveAutoGrades` reads as partial credit.
No line of the judges or of the reference is ever written to the notebook.

The judges of the results share three small tools kept here, beside `tensor_close`: whether a
recorded number lies in its band (`within_band`), how the feedback shows a number that may be
missing (`shown_number`), and the band that `make_bands` centres on a reference run
(`centred_band`). The last one makes bands rather than judging them, but the bands exist only
for these judges, and grading.py imports this module in every probe process: the verb that makes
the bands (grader/workflow/bands.py) would bring nbformat and the executor along.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from grader.engine.result import Check, Verdict  # Check: the judges of grading.py import it from here
from vaelab_core.records import read_records

__all__ = ["Check", "Verdict", "centred_band", "feedback_text", "judge_tests", "shown_number", "step",
           "tensor_close", "within_band", "write_verdicts"]


def tensor_close(mine, ref, rtol: float = 1e-4, atol: float = 1e-4) -> bool:
    """Same shape and values within tolerance; False for anything that is not a finite tensor."""
    if not isinstance(mine, torch.Tensor) or not isinstance(ref, torch.Tensor) or mine.shape != ref.shape:
        return False
    mine, ref = mine.detach().double(), ref.detach().double()
    return bool(torch.isfinite(mine).all()) and bool(torch.allclose(mine, ref, rtol=rtol, atol=atol))


def within_band(value, band) -> bool:
    """Whether `value` is a finite number in `band` ([low, high], both ends included); False for
    anything else a record may hold instead (None when it is missing, NaN, a string)."""
    return isinstance(value, (int, float)) and math.isfinite(value) and band[0] <= value <= band[1]


def shown_number(value, format_spec: str = ".3f") -> str:
    """`value` as the feedback shows it, formatted with `format_spec` (".3f": three decimals,
    ".3g": three significant digits), or "nothing" when no number was recorded."""
    return "nothing" if not isinstance(value, (int, float)) else f"{value:{format_spec}}"


def centred_band(values, floor: float) -> list[float]:
    """A band [low, high] centred on a reference run. `values`: the runs' numbers, (S,) with the
    reference run first and the same run with other seeds after it; the half-width is the
    distance to the farthest seed plus max(3 std over the runs, `floor`). Centred, because a
    correct run on another machine is another seed and may fall on either side of the
    reference; `floor` keeps the band open when there is one run only, or runs that agree."""
    values = np.asarray(values, dtype=float)
    width = float(np.abs(values - values[0]).max()) + max(3 * float(values.std()), floor)
    return [float(values[0]) - width, float(values[0]) + width]


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
