"""The assignment plug-in: what grading.py must define is checked when it is loaded."""

from __future__ import annotations

import shutil

import pytest

from grader.assignment import RULES_REQUIRED, ReferenceError, assignment, default_solutions


def _copy(tmp_path, name="vae_speech"):
    shutil.copytree(default_solutions() / name, tmp_path / name)
    return assignment(tmp_path, name)


def test_both_labs_implement_the_plug_in():
    for name in ("vae_speech", "latent_space"):
        rules = assignment(default_solutions(), name).rules()
        assert all(hasattr(rules, required) for required in RULES_REQUIRED), name


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
    assert not hasattr(task.rules(), "MODEL_CLASS")


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
