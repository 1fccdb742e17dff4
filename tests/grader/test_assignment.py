"""The assignment plug-in: what grading.py must define is checked when it is loaded."""

from __future__ import annotations

import shutil
import tomllib

import pytest

from grader.assignment import RULES_OPTIONAL, RULES_REQUIRED, ReferenceError, assignment, default_solutions


def _copy(tmp_path, name="vae_speech"):
    shutil.copytree(default_solutions() / name, tmp_path / name)
    return assignment(tmp_path, name)


def _labs() -> list[str]:
    """Every lab of solutions/: its folders that hold a notebook (as `vaelab labs` finds them)."""
    return sorted(p.name for p in default_solutions().iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def test_every_lab_implements_the_plug_in():
    assert {"vae_speech", "latent_space"} <= set(_labs())
    for name in _labs():
        rules = assignment(default_solutions(), name).rules()
        assert all(hasattr(rules, required) for required in RULES_REQUIRED), name


def test_every_example_id_survives_intake():
    """Intake reads a student id from a ZIP's name up to its first separator: an example called
    no_prior would be graded as student 'no' (solutions/README.md)."""
    import re

    for name in _labs():
        for student in assignment(default_solutions(), name).examples().EXAMPLES:
            assert re.fullmatch(r"[A-Za-z0-9]+", student), f"{name}: example id {student!r}"


def test_every_lab_has_its_public_checks_installed():
    """A lab's self-checks are the package vaelab_core/labs/<name>/, and pyproject.toml lists it
    (a package missing from [tool.setuptools] packages imports in an editable checkout only)."""
    repo = default_solutions().parent
    packages = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for name in _labs():
        assert (repo / "vaelab_core" / "labs" / name / "__init__.py").is_file(), \
            f"lab {name} has no public checks in vaelab_core/labs/{name}/ (solutions/README.md)"
        assert f"vaelab_core.labs.{name}" in packages, \
            f"pyproject.toml's [tool.setuptools] packages should name vaelab_core.labs.{name}"


def test_a_missing_name_is_a_clear_error_naming_it(tmp_path):
    task = _copy(tmp_path)
    source = task.grading_path.read_text()
    task.grading_path.write_text(source.replace("\nJUDGES = {", "\nJUDGES_MISNAMED = {"))
    with pytest.raises(ReferenceError, match=r"does not define: JUDGES \(\{test grade id"):
        task.rules()


def test_the_rules_are_loaded_once_per_content(tmp_path):
    task = _copy(tmp_path)
    assert task.rules() is task.rules()
    task.grading_path.write_text(task.grading_path.read_text() + "\nCHANGED = True\n")
    assert task.rules().CHANGED


def test_a_lab_of_functions_needs_no_model_class(tmp_path):
    task = _copy(tmp_path)
    source = task.grading_path.read_text()
    task.grading_path.write_text(source.replace('\nMODEL_CLASS = "SpeechVAE"', "\n"))
    assert task.rules().MODEL_CLASS is None


def test_the_optional_names_get_their_defaults_when_loaded(tmp_path):
    task = _copy(tmp_path)  # vae_speech's rules name no STUDENT_WORK and no course_data
    source = task.grading_path.read_text()
    for line, kept in (('\nMODEL_CLASS = "SpeechVAE"', "\n"),
                       ('\nTRAINING_CELLS = ("train_scratch", "seeds", "pretrained", "finetune", "cross")', "\n"),
                       ("\ndef spread_runs(", "\ndef unused_spread_runs(")):
        assert line in source
        source = source.replace(line, kept)
    task.grading_path.write_text(source)
    rules = task.rules()
    assert (rules.MODEL_CLASS, rules.TRAINING_CELLS, rules.STUDENT_WORK) == (None, (), None)
    assert rules.course_data(tmp_path / "data") == {}
    assert {name: getattr(rules, name) for name in RULES_OPTIONAL} == \
        {name: default for name, (default, _) in RULES_OPTIONAL.items()}


def test_a_defined_optional_name_is_kept():
    rules = assignment(default_solutions(), "vae_speech").rules()
    assert rules.MODEL_CLASS == "SpeechVAE" and rules.TRAINING_CELLS


def test_the_reference_cells_are_read_as_nbformat_reads_them(tmp_path):
    import nbformat

    from grader.assignment import notebook_cells

    task = assignment(default_solutions(), "vae_speech")
    read = nbformat.read(task.notebook_path, as_version=4)
    cells = notebook_cells(task.notebook_path)
    assert [(c["cell_type"], c["source"], c["metadata"]) for c in cells] == \
        [(c.cell_type, c.source, c.metadata) for c in read.cells]
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    with pytest.raises(ReferenceError, match="broken.ipynb: not a readable notebook"):
        notebook_cells(broken)
