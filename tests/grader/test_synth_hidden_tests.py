"""The hidden tests of synth's functions, tested without kernels: each example submission's code
(solutions/synth/examples.py) is run in this process on the reference's setup cells, probed and
judged as the grader does. Each mistake costs its own part and says why; the variants and the
reference get full marks; the points agree with the notebook."""

from __future__ import annotations

import nbformat
import pytest

from grader.assignment import assignment, default_solutions
from grader.engine.judge import judge_tests
from grader.engine.probe import call_probes, reference_probes

TASK = assignment(default_solutions(), "synth")
RULES = TASK.rules()
EXAMPLES = TASK.examples()
METHOD_POINTS = {t: p for t, p in EXAMPLES.POINTS.items() if t in RULES.METHOD_TESTS}
#: The cells given before the student's, run as the notebook runs them.
SETUP = ("imports", "lab1_model", "lab2_beta_elbo", "lab2_mmd", "lab2_wae")


@pytest.fixture(scope="module")
def reference_results() -> dict:
    return reference_probes(TASK)


def namespace_of(example) -> dict:
    """The namespace a submission's code cells leave: the setup cells, then each student cell
    (the example's own source where it has one, else the solution's)."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
             for c in nbformat.read(TASK.notebook_path, as_version=4).cells}
    namespace = {"__name__": "submission"}
    for grade_id in SETUP:
        exec(compile(cells[grade_id], grade_id, "exec"), namespace)
    for grade_id in EXAMPLES.CELLS:
        source = example.cells.get(grade_id, EXAMPLES.SOLUTION[grade_id])
        exec(compile(source, grade_id, "exec"), namespace)
    return namespace


def grade(namespace: dict, reference_results: dict):
    probes = call_probes(RULES, dict(namespace), TASK.reference_namespace())
    return judge_tests(RULES, METHOD_POINTS, probes, reference_results, {}, {})


def test_the_points_agree_with_the_notebook():
    notebook = nbformat.read(TASK.notebook_path, as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert points == EXAMPLES.POINTS


@pytest.mark.parametrize("name", ["correct", "variants", "power", "diameter", "encoderonly", "sampled"])
def test_each_example_gets_its_expected_method_scores(name, reference_results):
    example = EXAMPLES.EXAMPLES[name]
    found = {t: v.score for t, v in grade(namespace_of(example), reference_results).items()}
    assert found == {t: example.expected[t] for t in METHOD_POINTS}


def test_a_mistake_says_what_it_is(reference_results):
    power = grade(namespace_of(EXAMPLES.EXAMPLES["power"]), reference_results)["test_descriptors"]
    assert any("power spectrum" in m for m in power.messages)
    diameter = grade(namespace_of(EXAMPLES.EXAMPLES["diameter"]), reference_results)["test_paths"]
    assert any("0.850 from the centre" in m for m in diameter.messages)
    encoder = grade(namespace_of(EXAMPLES.EXAMPLES["encoderonly"]), reference_results)["test_conditional_vae"]
    assert any("encoder only" in m for m in encoder.messages)
    sampled = grade(namespace_of(EXAMPLES.EXAMPLES["sampled"]), reference_results)["test_note_path"]
    assert any("posterior samples" in m for m in sampled.messages)
