"""Step 1 of grading a submission: restore what the student may not change, and say what was.

nbgrader's own sanitising preprocessors do the work, as `nbgrader autograde` runs them: clear
outputs, de-duplicate cell ids, reset the kernelspec, overwrite locked and test cells (and put
back deleted ones) from the gradebook's copy of the source, check the cell metadata. What
nbgrader only logs, vaelab reports once per submission: which locked cells were edited or
deleted and are restored.
"""

from __future__ import annotations

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


def restore_cells(notebook: nbformat.NotebookNode, resources: dict) -> tuple[nbformat.NotebookNode, list[str]]:
    """Sanitise `notebook` in place of a submission; returns it and the flags (tampering found).

    resources: {"nbgrader": {"notebook": name without .ipynb, "assignment", "student", "db_url"}}.
    """
    before = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in notebook.cells
              if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    for preprocessor in PREPROCESSORS:
        notebook, resources = preprocessor().preprocess(notebook, resources)
    flags = []
    for grade_id, source in _locked_sources(notebook).items():
        if grade_id not in before:
            flags.append(f"locked cell {grade_id} was deleted; restored from the assignment")
        elif before[grade_id] != source:
            flags.append(f"locked cell {grade_id} was edited; restored from the assignment")
    return notebook, flags
