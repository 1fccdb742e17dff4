"""Given cells (grader/kit/given_cells.py): a later lab's locked copy of an earlier lab's cell is
filled in from its origin, kept up to date by `vaelab labs`, checked by `vaelab labs --check`,
refused with a teaching error when its origin cannot be used, and handed out and restored like
any locked cell."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from grader.engine.inputs import _save_cells
from grader.engine.restore_cells import restore_cells
from grader.kit import given_cells
from grader.kit.generate_labs import StaleLabsError, main
from grader.kit.given_cells import GivenCellError, drifted, filled_in, update

REPO = Path(__file__).resolve().parents[2]

ORIGIN = '''class Model:
    # x: (..., F)

    def build(self):
        ### BEGIN SOLUTION
        self.layer = 2
        if self.layer:
            self.layer += 1
        ### END SOLUTION

    def double(self, x):
        ### BEGIN SOLUTION
        return 2 * x
        ### END SOLUTION'''
#: ORIGIN filled in: the marker lines gone, the code between them kept at its indentation.
FILLED = '''class Model:
    # x: (..., F)

    def build(self):
        self.layer = 2
        if self.layer:
            self.layer += 1

    def double(self, x):
        return 2 * x'''


def _cell(source: str, grade_id: str | None, kind: str = "code", **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id is not None:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, **nbgrader}
    return cell


def _notebook(path: Path, cells: list) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.cells = cells
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def _given(origin, grade_id: str | None = "given_model", kind: str = "code", **nbgrader) -> nbformat.NotebookNode:
    cell = _cell("", grade_id, kind, **nbgrader)
    cell.metadata["vaelab"] = {"given": origin}
    return cell


@pytest.fixture
def solutions(tmp_path: Path) -> Path:
    """Two labs: `first` writes a class in solution regions, `second` is given it (not filled yet)."""
    folder = tmp_path / "solutions"
    _notebook(folder / "first" / "first.ipynb", [
        _cell("import math", "imports", grade=False, locked=True, solution=False),
        _cell(ORIGIN, "model", grade=False, locked=False, solution=True),
        _cell("assert Model().double(2) == 4", "test_model", grade=True, locked=True, solution=False, points=1)])
    _notebook(folder / "second" / "second.ipynb", [
        _cell("import math", "imports", grade=False, locked=True, solution=False),
        _given("first/model"),
        _cell("class Bigger(Model):\n    pass", "bigger", grade=False, locked=True, solution=False)])
    return folder


def _cells(path: Path) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(path, as_version=4).cells}


def test_filling_in_removes_the_marker_lines_and_keeps_the_code():
    assert filled_in(ORIGIN) == FILLED
    assert filled_in("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n") == "x = 1\n"
    assert filled_in(FILLED) == FILLED


def test_a_given_cell_is_filled_from_its_origin_as_a_locked_cell(solutions, capsys):
    second = solutions / "second" / "second.ipynb"
    assert drifted(solutions) == [
        ("solutions/second/second.ipynb, cell given_model differs from its origin first/model "
        "(solutions/first/first.ipynb)")]
    assert update(solutions) == [second]
    assert "solutions/second/second.ipynb, cell given_model: copied from its origin first/model" in capsys.readouterr().out
    given = _cells(second)["given_model"]
    assert given.source == FILLED
    assert given.metadata["nbgrader"] == {"grade_id": "given_model", "grade": False, "locked": True,
                                          "schema_version": 3, "solution": False}
    assert given.metadata["vaelab"] == {"given": "first/model"}
    assert _cells(second)["bigger"].source == "class Bigger(Model):\n    pass"  # the other cells as they were
    # up to date now: nothing is rewritten, nothing drifted
    written = second.read_bytes()
    assert update(solutions) == [] and drifted(solutions) == []
    assert second.read_bytes() == written == (nbformat.writes(nbformat.read(second, as_version=4)) + "\n").encode()
    assert _cells(solutions / "first" / "first.ipynb")["model"].source == ORIGIN  # the origin untouched


def test_check_fails_on_a_drifted_given_cell_and_names_it(solutions):
    update(solutions)
    origin = solutions / "first" / "first.ipynb"
    notebook = nbformat.read(origin, as_version=4)
    notebook.cells[1].source = notebook.cells[1].source.replace("return 2 * x", "return x + x")
    nbformat.write(notebook, origin)
    with pytest.raises(StaleLabsError) as stale:
        main(solutions=solutions, labs=solutions.parent / "labs", check=True)
    message = str(stale.value)
    assert "solutions/second/second.ipynb, cell given_model differs from its origin first/model" in message
    assert "Run `vaelab labs`" in message
    assert not (solutions.parent / "labs").exists()  # the check writes nothing
    # a given cell edited by hand is drifted too, and so is one unlocked
    update(solutions)
    second = solutions / "second" / "second.ipynb"
    for edit in ("source", "locked"):
        notebook = nbformat.read(second, as_version=4)
        if edit == "source":
            notebook.cells[1].source += "\n# a line added here rather than in the origin"
        else:
            notebook.cells[1].metadata["nbgrader"]["locked"] = False
        nbformat.write(notebook, second)
        assert drifted(solutions) == [("solutions/second/second.ipynb, cell given_model differs from its origin "
                                      "first/model (solutions/first/first.ipynb)")]
        update(solutions)


@pytest.mark.parametrize("cell, error", [
    (_given("nolab/model"), (r"cell given_model is given from 'nolab/model', but solutions/ has no lab 'nolab' \(a "
                            r"folder with one notebook; its labs: first, second, third\)\. Name the lab folder")),
    (_given("first/modle"), (r"solutions/first/first\.ipynb has no code cell with grade_id 'modle' \(its code cells: "
                            r"imports, model, test_model\)")),
    (_given("first"), r"given from 'first', but that is not \"<lab>/<grade_id>\"\. .*\"vae_speech/model\""),
    (_given(["first", "model"]), r"not \"<lab>/<grade_id>\""),
    (_given("second/bigger"), r"a cell of the same lab: its locked copy would give the students the answer"),
    (_given("third/model"), (r"that cell is itself given, from 'first/model'\. Give the cell where the code is "
                            r"written: \"vaelab\": \{\"given\": \"first/model\"\}")),
    (_given("first/model", kind="markdown"), r"cell given_model is a markdown cell .*only a code cell is given"),
    (_given("first/model", grade_id=None), (r"second\.ipynb, cell number 1 is given from 'first/model' but has no "
                                           r"nbgrader grade_id")),
    (_given("first/model", solution=True), r"is a solution cell: a given cell is locked and not graded"),
    (_given("first/model", grade=True, points=2), r"is a graded cell: a given cell is locked and not graded"),
], ids=["unknown-lab", "unknown-cell", "no-slash", "not-text", "same-lab", "given-from-a-given-cell", "markdown",
        "no-grade-id", "solution-cell", "graded-cell"])
def test_a_bad_given_cell_is_refused_with_a_teaching_error(solutions, cell, error):
    _notebook(solutions / "third" / "third.ipynb", [_given("first/model", grade_id="model")])
    second = solutions / "second" / "second.ipynb"
    notebook = nbformat.read(second, as_version=4)
    notebook.cells[1] = cell
    notebook.cells[1]["id"] = "cell-1"
    nbformat.write(notebook, second)
    before = second.read_bytes()
    for run in (lambda: update(solutions), lambda: main(solutions=solutions, labs=solutions.parent / "labs"),
                lambda: main(solutions=solutions, check=True)):
        with pytest.raises(GivenCellError, match=error) as refused:
            run()
        assert "solutions/second/second.ipynb, cell " in str(refused.value)
    assert second.read_bytes() == before and not (solutions.parent / "labs").exists()


def test_a_given_cell_is_handed_out_locked_and_restored_like_any_locked_cell(solutions, tmp_path):
    written = {path.parent.name: path for path in main(solutions=solutions, labs=tmp_path / "labs")}
    release = nbformat.read(written["second"], as_version=4)
    given = next(c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "given_model")
    assert given.source == FILLED  # handed out whole, unlike the origin's stubs
    assert given.metadata["editable"] is False and given.metadata["deletable"] is False
    assert given.metadata["nbgrader"]["locked"] and given.metadata["nbgrader"]["checksum"]
    assert "return 2 * x" not in written["first"].read_text()  # the first lab's students still write it
    # a student edits the given cell of the second lab: grading restores it from the release
    _save_cells(release, "second", "second", tmp_path / "cells.db")
    submitted = copy.deepcopy(release)
    submitted.cells[2].source = FILLED.replace("return 2 * x", "return 3 * x")
    resources = {"nbgrader": {"notebook": "second", "assignment": "second", "student": "someone",
                              "db_url": f"sqlite:///{tmp_path / 'cells.db'}"}}
    restored, flags = restore_cells(submitted, resources, release)
    assert restored.cells[2].source == FILLED
    assert flags == ["locked cell given_model was edited; restored from the assignment"]


def test_the_labs_given_cells_are_their_origins():
    """What `vaelab labs --check` (test_labs_are_up_to_date_with_solutions) checks, on the cells the
    labs are given."""
    solutions = REPO / "solutions"
    given = {(path.parent.name, c.metadata["nbgrader"]["grade_id"]): given_cells.origin_of(c)
             for path in sorted(solutions.glob("*/*.ipynb")) for c in nbformat.read(path, as_version=4).cells
             if given_cells.origin_of(c)}
    assert {("latent_space", "model"): "vae_speech/model", ("flows", "speech_model"): "vae_speech/model"}.items() \
        <= given.items()
    assert drifted(solutions) == []
