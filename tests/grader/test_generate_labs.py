"""labs/ is generated from solutions/, up to date, and holds no solution or hidden test."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

import re

from grader.engine.environment import kernel_environment
from grader.engine.execute import NotebookFailed, execute_notebook
from grader.kit.demo import lab_names
from grader.kit.generate_labs import StaleLabsError, main

REPO = Path(__file__).resolve().parents[2]
STUDENT = REPO / "labs" / "vae_speech" / "vae_speech.ipynb"

SOURCE = REPO / "solutions" / "vae_speech" / "vae_speech.ipynb"
# Every line inside a solution region of the source notebook (stripped of indentation).
ANSWER_LINES = [line.strip()
                for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION",
                                         "\n".join(c.source for c in nbformat.read(SOURCE, as_version=4).cells),
                                         flags=re.DOTALL)
                for line in region.splitlines() if len(line.strip()) > 12]


def test_labs_are_up_to_date_with_solutions():
    main(check=True)  # raises StaleLabsError when labs/ differs from a fresh generation


def test_a_changed_source_makes_labs_stale(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(REPO / "solutions", solutions)
    source = solutions / "vae_speech" / "vae_speech.ipynb"
    notebook = nbformat.read(source, as_version=4)
    notebook.cells[0].source += "\n\nA sentence added by the instructor."
    # and a line in a solution region of lab 1's model, which later labs are given
    model = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "model")
    model.source = model.source.replace("        return self.gen_logvar(self.mlp_z_x(z))\n",
                                        "        # the decoder's log-variance head\n"
                                        "        return self.gen_logvar(self.mlp_z_x(z))\n", 1)
    assert "# the decoder's log-variance head" in model.source
    nbformat.write(notebook, source)
    with pytest.raises(StaleLabsError, match="vaelab labs") as stale:
        main(solutions=solutions, check=True)
    assert "solutions/latent_space/latent_space.ipynb, cell model differs from its origin vae_speech/model" in str(stale.value)
    written = {path.parent.name: path for path in main(solutions=solutions, labs=tmp_path / "labs")}
    assert set(written) == set(lab_names(solutions))  # every lab of solutions/ is generated
    assert "added by the instructor" in written["vae_speech"].read_text()
    assert all("added by the instructor" not in path.read_text() for lab, path in written.items() if lab != "vae_speech")
    # the given cells followed their origin, in solutions/ and in the students' notebooks
    assert "decoder's log-variance head" not in written["vae_speech"].read_text()  # a solution line, stubbed
    for lab in ("latent_space", "flows"):
        assert "decoder's log-variance head" in (solutions / lab / f"{lab}.ipynb").read_text()
        assert "decoder's log-variance head" in written[lab].read_text()


def test_student_notebook_has_no_solution_and_no_hidden_test():
    text = STUDENT.read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert ANSWER_LINES, "the reference should have answer lines to look for"
    leaked = [line for line in ANSWER_LINES if line in text]
    assert not leaked, f"solution lines in the student notebook: {leaked}"
    notebook = nbformat.read(STUDENT, as_version=4)
    model = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "model")
    assert model.source.count("raise NotImplementedError()") == 5
    assert notebook.metadata["vaelab"]["generated_from"] == "solutions/vae_speech/vae_speech.ipynb"
    assert "Generated file, do not edit" in notebook.cells[0].source


def test_installed_packages_hold_no_solution_code():
    sources = "\n".join(p.read_text() for pkg in ("vaelab_core", "data_prep", "grader")
                        for p in (REPO / pkg).rglob("*.py"))
    leaked = [line for line in ANSWER_LINES if line in sources]
    assert not leaked, f"solution lines in the installed packages: {leaked}"


@pytest.mark.slow
def test_student_notebook_run_top_to_bottom_stops_at_the_first_self_check(tmp_path):
    with pytest.raises(NotebookFailed) as failure:
        execute_notebook(STUDENT, tmp_path, kernel_environment({}, tmp_path), timeout=300)
    message = str(failure.value)
    assert "build() failed" in message or "check of build()" in message
    assert "not implemented yet" in message
    executed = failure.value.notebook
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if o.get("output_type") == "error"]
    assert len(outputs) == 1  # execution stopped at the first failing check
    assert "Traceback" not in "".join(outputs[0]["traceback"])  # the friendly message only


def test_latent_space_student_notebook_has_no_solution():
    source = REPO / "solutions" / "latent_space" / "latent_space.ipynb"
    student = REPO / "labs" / "latent_space" / "latent_space.ipynb"
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION",
                         "\n".join(c.source for c in nbformat.read(source, as_version=4).cells), flags=re.DOTALL)
    # Lab 1's model is given in a locked cell: its loss lines may appear there (beta_elbo reuses them).
    given = {line.strip() for c in nbformat.read(source, as_version=4).cells
             if not c.metadata.get("nbgrader", {}).get("solution") for line in c.source.splitlines()}
    answers = [line.strip() for region in regions for line in region.splitlines()
               if len(line.strip()) > 12 and line.strip() not in given]
    assert len(answers) > 20
    text = student.read_text()
    assert "BEGIN SOLUTION" not in text
    assert not [line for line in answers if line in text]
    notebook = nbformat.read(student, as_version=4)
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells
             if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    assert set(stubs) == {"latent_subspace", "subspace_alignment", "fit_factor_path", "move_factor", "beta_elbo",
                          "mmd", "lerp", "slerp"}
    assert all("raise NotImplementedError()" in s for s in stubs.values())


@pytest.mark.slow
def test_latent_space_student_notebook_stops_at_its_first_self_check(tmp_path):
    student = REPO / "labs" / "latent_space" / "latent_space.ipynb"
    with pytest.raises(NotebookFailed) as failure:
        execute_notebook(student, tmp_path, kernel_environment({}, tmp_path), timeout=300)
    message = str(failure.value)
    assert "latent_subspace" in message and "not implemented yet" in message
    errors = [o for c in failure.value.notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert len(errors) == 1 and "Traceback" not in "".join(errors[0]["traceback"])
