"""Example submissions of a lab whose students write whole cells (functions, a class): what each
such lab's `examples.py` shares (latent_space, flows).

An example is the solution notebook's cells with some edited the way a student gets them wrong,
written into the released student notebook. The solution is read from the notebook beside the
lab's `examples.py`, so the examples follow it when it changes; the expected scores stay the
lab's own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.kit.given_cells import filled_in


@dataclass(frozen=True)
class Example:
    """One example submission: its cells (the solution's unless given), its expected scores."""

    description: str
    cells: dict[str, str]          # grade id -> source of the cells the example writes its own way
    expected: dict[str, float]     # test -> the score the grader must give
    answers: bool = True           # the written answers are filled in (graded by hand later)


class SolutionCells:
    """The cells a student writes (`names`, grade ids) as the solution notebook has them, and the
    lab's points per autograded test."""

    def __init__(self, notebook: Path, names: tuple[str, ...], points: dict[str, float]) -> None:
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
                 for c in nbformat.read(notebook, as_version=4).cells}
        self.names, self.points = tuple(names), dict(points)
        #: grade id -> the solution's source, solution markers dropped
        self.solution = {name: filled_in(cells[name]) for name in names}

    def full(self, **lost: float) -> dict[str, float]:
        """The expected scores: full points except where given."""
        return {test: lost.get(test, points) for test, points in self.points.items()}

    def edit(self, cell: str, old: str, new: str) -> dict[str, str]:
        """{cell: the solution's source with `old` replaced by `new`} (`old` must be there)."""
        source = self.solution[cell]
        assert old in source, (cell, old)
        return {cell: source.replace(old, new)}

    def fill(self, release: nbformat.NotebookNode, example: Example) -> nbformat.NotebookNode:
        """The released student notebook with the example's cells written in: its own where it
        has them, the solution's elsewhere; written answers a few sentences long unless the
        example leaves them out; nothing at all for a blank example."""
        notebook = copy.deepcopy(release)
        blank = not example.answers and not example.cells
        for cell in notebook.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if blank or not meta.get("solution"):
                continue
            if grade_id in self.names:
                cell.source = example.cells.get(grade_id, self.solution[grade_id])
            elif example.answers:
                cell.source = f"My answer to {grade_id}: a few sentences of the student's own."
        for index, cell in enumerate(notebook.cells):  # cells need ids of their own
            cell.setdefault("id", f"example-{index}")
        return notebook
