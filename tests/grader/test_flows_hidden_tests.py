"""The hidden tests of flows' four functions and two methods, tested: each typical mistake of the
self-checks' catalogue fails its own part and only it, correct variants get full marks, the
points agree with the notebook. Probes run in this process here (the grader runs them in another)."""

from __future__ import annotations

import nbformat
import pytest

from grader.assignment import assignment, default_solutions
from grader.engine.judge import judge_tests
from grader.engine.probe import call_probes, reference_probes
from tests.vaelab_core.labs.flows import test_flow_checks as oracle
from tests.vaelab_core.labs.flows.test_flow_checks import MISTAKES

TASK = assignment(default_solutions(), "flows")
RULES = TASK.rules()
POINTS = {"test_planar_flow": 3, "test_constrain_u": 2, "test_flow_chain": 3, "test_free_energy": 1,
          "test_flow_inference": 3, "test_flow_loss": 2}
#: The test of each name of the self-checks' catalogue (the methods are FlowVAE's).
TEST_OF = {"planar_flow": "test_planar_flow", "constrain_u": "test_constrain_u", "flow_chain": "test_flow_chain",
           "free_energy": "test_free_energy", "inference": "test_flow_inference", "get_loss": "test_flow_loss"}
#: Mistakes that only the self-check sees, and why the hidden test's inputs give the right values.
SELF_CHECK_ONLY = {}


def correct_namespace() -> dict:
    return {"planar_flow": oracle.planar_flow, "constrain_u": oracle.constrain_u, "flow_chain": oracle.flow_chain,
            "free_energy": oracle.free_energy, "FlowVAEBase": oracle.FlowVAEBase, "FlowVAE": oracle.FlowVAE}


@pytest.fixture(scope="module")
def reference_results() -> dict:
    return reference_probes(TASK)


def grade(namespace: dict, reference_results: dict) -> dict[str, float]:
    probes = call_probes(RULES, dict(namespace), TASK.reference_namespace())
    return judge_tests(RULES, POINTS, probes, reference_results, {}, {})


def test_the_points_agree_with_the_notebook():
    notebook = nbformat.read(TASK.notebook_path, as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") in POINTS}
    assert points == POINTS


def test_correct_code_written_other_ways_gets_full_marks(reference_results):
    another = {"planar_flow": oracle.planar_flow_another_way, "constrain_u": oracle.constrain_u_another_way,
               "flow_chain": oracle.flow_chain_modules, "free_energy": oracle.free_energy_another_way,
               "FlowVAE": oracle.FlowVAEAnotherWay}
    for namespace in (correct_namespace(), {**correct_namespace(), **another}):
        assert {t: v.score for t, v in grade(namespace, reference_results).items()} == POINTS


@pytest.mark.parametrize("name, fn, hint", MISTAKES, ids=[f"{m[0]}-{m[1].__name__}" for m in MISTAKES])
def test_each_typical_mistake_loses_points_in_its_own_part_only(name, fn, hint, reference_results):
    namespace = correct_namespace()
    namespace["FlowVAE" if name in ("inference", "get_loss") else name] = fn
    verdicts = grade(namespace, reference_results)
    own = TEST_OF[name]
    assert {t: v.score for t, v in verdicts.items() if t != own} == {t: p for t, p in POINTS.items() if t != own}
    if fn.__name__ in SELF_CHECK_ONLY:
        assert verdicts[own].score == POINTS[own]
    else:
        assert verdicts[own].score < POINTS[own], verdicts[own].checks
        assert verdicts[own].messages, "a lost point must say why"


def test_a_missing_class_costs_the_methods_only(reference_results):
    namespace = {k: v for k, v in correct_namespace().items() if k != "FlowVAE"}
    verdicts = grade(namespace, reference_results)
    assert verdicts["test_flow_inference"].score == verdicts["test_flow_loss"].score == 0
    assert {t: v.score for t, v in verdicts.items() if t not in ("test_flow_inference", "test_flow_loss")} == {
        t: p for t, p in POINTS.items() if t not in ("test_flow_inference", "test_flow_loss")}


def test_the_probe_leaves_out_part_1s_fits_but_never_a_students_cell(tmp_path):
    """Part 1's fits come before the model cell and take half the notebook: the probe leaves them
    out (PROBE_SKIPS), so that a busy grader does not run past the probe's budget before the
    methods; a cell of the student's own with a skipped name still runs."""
    from grader.engine.probe import _student_namespace

    rules = assignment(default_solutions(), "flows").rules()
    assert set(rules.PROBE_SKIPS) == {"densities", "density_figure"}

    def cell(source, grade_id, locked):
        made = nbformat.v4.new_code_cell(source)
        made.metadata["nbgrader"] = {"grade_id": grade_id, "locked": locked, "grade": False, "solution": not locked}
        return made

    cells = [cell("ran = ['imports']", "imports", True),
             cell("raise RuntimeError('the fits ran')", "densities", True),
             cell("ran.append('mine')", "density_figure", False),  # unlocked: the student's
             cell("ran.append('model')", "flow_model", False)]
    namespace, errors, _ = _student_namespace(cells, "flow_model", skip=rules.PROBE_SKIPS)
    assert errors == [] and namespace["ran"] == ["imports", "mine", "model"]
    namespace, errors, _ = _student_namespace(cells, "flow_model")  # nothing skipped
    assert any("the fits ran" in e for e in errors)
