"""`vaelab labs`: generate the student notebooks in labs/ from the solution notebooks.

solutions/ is the only place where the lab is edited. First, every given cell of solutions/ (a
later lab's locked copy of an earlier lab's cell, grader/kit/given_cells.py) is brought up to
date from its origin, so that the notebooks generated next give what the origin holds now. Then
nbgrader's generate_assignment turns each source notebook into the student version (solution
regions replaced by stubs, hidden tests removed, outputs cleared, checksums computed); this
module runs it in a throw-away course folder, stamps the result as generated, and writes it to
labs/. `check=True` writes nothing: it fails when a given cell differs from its origin, else
regenerates into memory and reports whether labs/ is out of date.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.apps.api import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from grader.assignment import default_solutions
from grader.course import Course
from grader.engine.environment import nbgrader_tools
from grader.kit import given_cells
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError

STAMP = ("> **Generated file, do not edit.** This student notebook is generated from "
         "`solutions/{assignment}/{notebook}` by `vaelab labs`; edit the source and regenerate.")


class StaleLabsError(VaelabError):
    """labs/ does not match what solutions/ generates."""


def generate_assignment(course: Course) -> Path:
    """Run nbgrader's generate_assignment on the course's assignment, from its source folder (it
    also fills the course's gradebook); returns the release folder it wrote."""
    config = course.nbgrader_config()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    with nbgrader_tools():
        result = api.generate_assignment(course.assignment)
    if not result["success"]:
        raise VaelabError(f"nbgrader could not generate {course.assignment}:\n{result['log']}\n"
                          f"{result.get('error', '')}")
    return course.release_dir


def stamp(notebook: nbformat.NotebookNode, assignment: str, name: str) -> nbformat.NotebookNode:
    """Mark a generated student notebook as generated, and with the assignment it belongs to."""
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell(STAMP.format(assignment=assignment, notebook=name)))
    notebook.cells[0]["id"] = "vaelab-generated"  # fixed, so regeneration is byte-stable
    # The assignment travels with the notebook: intake knows which assignment a submission is for.
    notebook.metadata["vaelab"] = {"assignment": assignment, "generated_from": f"solutions/{assignment}/{name}"}
    return notebook


def _generate(source_dir: Path, assignment: str) -> dict[str, nbformat.NotebookNode]:
    """The student notebooks of one assignment folder, generated in a throw-away course."""
    with tempfile.TemporaryDirectory(prefix="vaelab-labs-") as folder:
        course = Course(Path(folder), {"assignment": assignment})  # its layout; no notebook named
        shutil.copytree(source_dir, course.source_dir, ignore=shutil.ignore_patterns("grading.py", "__pycache__"))
        release = generate_assignment(course)
        return {path.name: stamp(nbformat.read(path, as_version=4), assignment, path.name)
                for path in sorted(release.glob("*.ipynb"))}


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def main(solutions: str | Path | None = None, labs: str | Path | None = None,
         check: bool = False) -> list[Path]:
    """Bring the given cells of solutions/ up to date, then regenerate labs/ from solutions/ (or,
    with `check`, verify both). Returns the paths of labs/ written."""
    solutions = Path(solutions or default_solutions())
    labs = Path(labs or solutions.parent / "labs")
    assignments = sorted(p for p in solutions.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) \
        if solutions.is_dir() else []
    if not assignments:
        raise VaelabError(f"no assignment folders with notebooks in {solutions}.")
    if check:
        drifted = given_cells.drifted(solutions)
        if drifted:
            raise StaleLabsError("given cells of solutions/ differ from their origin:\n  " + "\n  ".join(drifted)
                                 + "\nRun `vaelab labs` (it copies each origin into its given cells) and commit "
                                 "the result.")
    else:
        given_cells.update(solutions)
    written, stale = [], []
    for source_dir in assignments:
        for name, notebook in _generate(source_dir, source_dir.name).items():
            target = labs / source_dir.name / name
            text = notebook_text(notebook)
            if check:
                if not target.is_file() or target.read_text() != text:
                    stale.append(target)
                continue
            with atomic_path(target) as tmp:
                tmp.write_text(text)
            written.append(target)
            print(f"wrote {target}")
    if stale:
        raise StaleLabsError(f"labs/ is out of date with solutions/: {', '.join(map(str, stale))}. "
                             "Run `vaelab labs` and commit the result.")
    if check:
        print(f"{labs} is up to date with {solutions}")
    return written
