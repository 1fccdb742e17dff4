"""Numbers a notebook hands to the grader: training histories, seed runs, fine-tuning losses.

A locked check cell calls `record(part, ...)` with the notebook's own results. The record is a
display output of its own MIME type: it travels in the executed notebook, beside the cell that
made it, and HTML renderings (the student's feedback included) show only its one-line text
form. The grader reads the record of a part from that part's cell only (`read_records`), and
judges it outside the kernel.
"""

from __future__ import annotations

import math

import numpy as np

#: MIME type of a record in a notebook's outputs.
MIME = "application/vnd.vaelab.record+json"


def plain(value):
    """Tensors, arrays and numpy scalars -> lists and floats (JSON), recursively; NaN stays NaN."""
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 0:  # a 0-d tensor, e.g. a loss's .mean()
        return value.item()
    if isinstance(value, (list, tuple, range, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def record(part: str, **values) -> None:
    """Display `values` as the record of `part` (a graded cell's nbgrader id)."""
    from IPython.display import display

    display({MIME: {"part": part, "values": plain(values)},
             "text/plain": f"(results of {part} recorded for grading)"}, raw=True)


def read_records(notebook) -> dict[str, dict]:
    """{part: values} from an executed notebook, each taken from the cell whose nbgrader id is
    that part (a record shown by any other cell is ignored)."""
    found = {}
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {}).get(MIME)
            if isinstance(data, dict) and data.get("part") == grade_id and isinstance(data.get("values"), dict):
                found[grade_id] = data["values"]
    return found


def finite_numbers(values, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """`values` as a float array if it is numeric, finite and (when given) of `shape`; else None."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None
    if shape is not None and array.shape != shape:
        return None
    if not all(math.isfinite(v) for v in array.ravel()):
        return None
    return array
