"""Step 1 of grading a submission: restore what the student may not change, and say what was.

nbgrader's own sanitising preprocessors do the work, as `nbgrader autograde` runs them: clear
outputs, de-duplicate cell ids, reset the kernelspec, overwrite locked and test cells from the
gradebook's copy of the source, check the cell metadata. Deleted locked cells are put back
first, from the released notebook, each after the nearest cell before it that is still there
(nbgrader's own re-insertion covers grade cells only, and fails when the cell before a deleted
one is a locked cell that is not graded). What nbgrader only logs, vaelab reports once per
submission: which locked cells were edited or deleted and are restored.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells,
                                    OverwriteKernelspec)

#: In nbgrader autograde's order: outputs and duplicate ids go before cells are matched to the
#: source by id; the metadata check runs last, on the restored cells.
PREPROCESSORS = (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata)


def _locked_sources(notebook: nbformat.NotebookNode) -> dict[str, str]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in notebook.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("locked")
            and cell.metadata["nbgrader"].get("grade_id")}


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def put_back_deleted(notebook: nbformat.NotebookNode, release: nbformat.NotebookNode) -> None:
    """Insert the released notebook's locked cells that `notebook` lacks, in release order."""
    present = {_grade_id(cell) for cell in notebook.cells} - {None}
    for index, cell in enumerate(release.cells):
        grade_id = _grade_id(cell)
        if grade_id is None or grade_id in present or not cell.metadata["nbgrader"].get("locked"):
            continue
        earlier = [_grade_id(c) for c in release.cells[:index] if _grade_id(c) in present]
        where = 0 if not earlier else 1 + next(i for i, c in enumerate(notebook.cells) if _grade_id(c) == earlier[-1])
        restored = nbformat.from_dict(dict(cell))
        restored["id"] = f"restored-{grade_id}".replace("_", "-")
        notebook.cells.insert(where, restored)
        present.add(grade_id)


def restore_cells(notebook: nbformat.NotebookNode, resources: dict,
                  release: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """Sanitise `notebook` in place of a submission; returns it and the flags (tampering found).

    resources: {"nbgrader": {"notebook": name without .ipynb, "assignment", "student", "db_url"}};
    release: the released student notebook (where deleted locked cells are copied from).
    """
    before = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in notebook.cells
              if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    put_back_deleted(notebook, release)
    for preprocessor in PREPROCESSORS:
        notebook, resources = preprocessor().preprocess(notebook, resources)
    flags = []
    for grade_id, source in _locked_sources(notebook).items():
        if grade_id not in before:
            flags.append(f"locked cell {grade_id} was deleted; restored from the assignment")
        elif before[grade_id] != source:
            flags.append(f"locked cell {grade_id} was edited; restored from the assignment")
    return notebook, flags


def step(run) -> None:
    """The engine's step 1 (grader/engine/grade.py): restore locked cells from the released
    notebook's (kept in the inputs' cells gradebook); the tampering found becomes flags."""
    cells = run.workdir / "cells.db"  # a private copy: nbgrader may write to the gradebook it opens
    shutil.copyfile(run.folder / "cells.db", cells)
    resources = {"nbgrader": {"notebook": Path(run.inputs.notebook).stem, "assignment": run.inputs.assignment,
                              "student": run.submission.student, "db_url": f"sqlite:///{cells}"}}
    release = nbformat.read(run.folder / "release.ipynb", as_version=4)
    run.notebook, run.flags = restore_cells(run.notebook, resources, release)
    nbformat.write(run.notebook, run.restored_path)
