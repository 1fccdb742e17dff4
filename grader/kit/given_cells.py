"""Given cells: a later lab's locked copy of a cell of an earlier lab's solution notebook.

A later lab builds on an earlier lab's code (flows' FlowVAE on lab 1's SpeechVAE; a lab of
synthesis on latent_space's beta_elbo, mmd and WAE). `vaelab_core` holds no solution code, so a
function or class that students wrote in an earlier lab reaches a later lab only inside the later
lab's notebook: given to its students in a locked cell, once the earlier lab's deadline has
passed. Copied by hand, such a cell drifts from the code it copies; a given cell is authored once,
in its origin, and copied by `vaelab labs`.

A code cell of a solution notebook is given when its metadata holds

    "vaelab": {"given": "<lab>/<grade_id>"}        e.g. "vae_speech/model"

naming its origin: the code cell with that nbgrader grade_id in the notebook of solutions/<lab>/.
Its source is the origin's with the solution regions filled in (the `### BEGIN SOLUTION` and
`### END SOLUTION` lines removed, the code between them kept with its indentation), and it is a
locked cell of nbgrader (locked, no solution, not graded) under a grade_id of its own. The copy
lives in the solution notebook itself, so that everything that reads that notebook (nbgrader's
generate_assignment and its checksums, the grader's reference cells and probes, the restore of
locked cells from the release) sees an ordinary locked cell and needs to know nothing of this.

- `update(solutions)` (the first thing `vaelab labs` does) copies each origin into its given cells,
  rewriting a notebook (atomically) only when one of its cells changed, and says which.
- `drifted(solutions)` (`vaelab labs --check`) lists the given cells that differ from their origin.

The rules, each broken one reported by a GivenCellError naming the notebook, the cell and the fix:
- the origin is a code cell of another lab (a cell given from its own lab would hand that lab's
  students their answer);
- the origin is not itself a given cell: a given cell names the cell where the code is written,
  so that the source of truth is never a copy (and no chain can loop);
- the given cell is a code cell with a grade_id of its own (a locked cell is restored by it),
  not a solution or a graded cell (making one given is the instructor's decision, taken by hand).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from grader.assignment import Assignment, ReferenceError
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError

#: Where a cell's metadata names its origin: cell.metadata[KEY][GIVEN] = "<lab>/<grade_id>".
KEY, GIVEN = "vaelab", "given"
#: The lines of nbgrader's solution regions that filling in removes.
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
#: The nbgrader metadata of a given cell besides its grade_id: locked, not a solution, not graded.
LOCKED = {"grade": False, "locked": True, "schema_version": 3, "solution": False}
EXAMPLE = "vae_speech/model"


class GivenCellError(VaelabError):
    """A given cell that names no usable origin, or that cannot be a locked cell."""


def filled_in(source: str) -> str:
    """`source` with its solution regions filled in: the marker lines removed, the code between
    them kept as it is (indentation included)."""
    return "\n".join(line for line in source.split("\n") if line.strip() not in MARKERS)


def origin_of(cell) -> str | None:
    """The origin a cell is given from ("<lab>/<grade_id>"), None for a cell that is not given."""
    mark = cell.get("metadata", {}).get(KEY)
    return mark.get(GIVEN) if isinstance(mark, dict) else None


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


class _Origins:
    """The solution notebooks of a solutions folder, each read once, as the origins of given cells."""

    def __init__(self, solutions: Path) -> None:
        self.solutions = solutions
        self._notebooks: dict[str, tuple[Path, list]] = {}

    def show(self, path: Path) -> str:
        """`path` as the instructor knows it (solutions/<lab>/<lab>.ipynb)."""
        try:
            return str(path.relative_to(self.solutions.parent))
        except ValueError:
            return str(path)

    def notebook(self, lab: str) -> tuple[Path, list]:
        """The path and the cells of lab `lab`'s solution notebook."""
        if lab not in self._notebooks:
            path = Assignment(self.solutions, lab).notebook_path  # exactly one notebook, else an error
            self._notebooks[lab] = path, nbformat.read(path, as_version=4).cells
        return self._notebooks[lab]

    def labs(self) -> list[str]:
        return sorted(p.parent.name for p in self.solutions.glob("*/*.ipynb"))

    def source(self, origin, lab: str, where: str) -> tuple[str, str]:
        """(the filled-in source, the notebook) of `origin`, named by a given cell of lab `lab`
        (`where`: that notebook and cell, for the errors)."""
        def wrong(problem: str, fix: str):
            return GivenCellError(f"{where} is given from {origin!r}, but {problem}. {fix}")

        name_it = (f'Name the lab folder and the grade_id of the code cell to give, e.g. '
                   f'"vaelab": {{"given": "{EXAMPLE}"}}.')
        if not isinstance(origin, str) or origin.count("/") != 1 or "" in origin.split("/"):
            raise wrong('that is not "<lab>/<grade_id>"', name_it)
        origin_lab, grade_id = origin.split("/")
        if origin_lab == lab:
            raise wrong("that is a cell of the same lab: its locked copy would give the students the answer",
                        "Give a cell of an earlier lab, or leave this one out.")
        try:
            path, cells = self.notebook(origin_lab)
        except ReferenceError:
            raise wrong(f"{self.show(self.solutions)}/ has no lab {origin_lab!r} (a folder with one notebook; "
                        f"its labs: {', '.join(self.labs()) or 'none'})", name_it) from None
        found = [cell for cell in cells if _grade_id(cell) == grade_id]
        if not found or found[0].cell_type != "code":
            code = [_grade_id(c) for c in cells if c.cell_type == "code" and _grade_id(c) and not origin_of(c)]
            raise wrong(f"{self.show(path)} has no code cell with grade_id {grade_id!r} (its code cells: "
                        f"{', '.join(code)})", name_it)
        again = origin_of(found[0])
        if again:
            raise wrong(f"that cell is itself given, from {again!r}",
                        f'Give the cell where the code is written: "vaelab": {{"given": "{again}"}}.')
        return filled_in(found[0].source), self.show(path)


def _where(origins: _Origins, path: Path, cell, index: int) -> str:
    return f"{origins.show(path)}, cell {_grade_id(cell) or f'number {index}'}"


def _bring_up_to_date(notebook, path: Path, origins: _Origins) -> list[tuple[str, str, str]]:
    """Copy each origin into the given cells of `notebook` (read from `path`; changed in place).
    Returns (the notebook and cell, the origin, the origin's notebook) of each cell that changed."""
    changed = []
    lab = path.parent.name
    for index, cell in enumerate(notebook.cells):
        origin = origin_of(cell)
        if origin is None:
            continue
        where = _where(origins, path, cell, index)
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code":
            raise GivenCellError(f"{where} is a {cell.cell_type} cell with \"vaelab\": {{\"given\": ...}}: only a "
                                 "code cell is given. Make it a code cell, or remove the mark.")
        if not nbgrader.get("grade_id"):
            raise GivenCellError(f"{where} is given from {origin!r} but has no nbgrader grade_id: give it one of "
                                 "its own (a locked cell is restored from the release by its grade_id).")
        if nbgrader.get("solution") or nbgrader.get("grade"):
            raise GivenCellError(f"{where} is given from {origin!r} but is a "
                                 f"{'solution' if nbgrader.get('solution') else 'graded'} cell: a given cell is "
                                 "locked and not graded. Set its nbgrader \"solution\" and \"grade\" to false, or "
                                 "remove the mark.")
        source, origin_path = origins.source(origin, lab, where)
        if cell.source != source or any(nbgrader.get(k) != v for k, v in LOCKED.items()):
            cell.source = source
            nbgrader.update(LOCKED)
            cell.metadata["nbgrader"] = nbgrader
            changed.append((where, origin, origin_path))
    return changed


def _reviewed(solutions: Path) -> list[tuple[Path, nbformat.NotebookNode, list[tuple[str, str, str]]]]:
    """Each solution notebook of `solutions` with its given cells brought up to date (in memory),
    and what changed in it."""
    origins = _Origins(Path(solutions))
    reviewed = []
    for path in sorted(Path(solutions).glob("*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        reviewed.append((path, notebook, _bring_up_to_date(notebook, path, origins)))
    return reviewed


def drifted(solutions: str | Path) -> list[str]:
    """The given cells of `solutions` that differ from their origin, one sentence each."""
    return [f"{where} differs from its origin {origin} ({origin_path})"
            for _, _, changes in _reviewed(Path(solutions)) for where, origin, origin_path in changes]


def update(solutions: str | Path) -> list[Path]:
    """Bring every given cell of `solutions` up to date from its origin; rewrite (atomically) only
    the notebooks in which a cell changed, and return them."""
    written = []
    for path, notebook, changes in _reviewed(Path(solutions)):
        if not changes:
            continue
        for where, origin, origin_path in changes:
            print(f"{where}: copied from its origin {origin} ({origin_path})")
        with atomic_path(path) as tmp:
            tmp.write_text(nbformat.writes(notebook) + "\n")
        written.append(path)
    return written
