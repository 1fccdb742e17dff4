"""What grading needs of a course, as one value that can travel: `GradingInputs`.

A submission is graded from its notebook and these inputs alone, never from the course folder,
so that a worker with no access to it (a Dask worker on another machine) grades exactly as the
instructor's machine does. The inputs hold:

- the released notebook (locked cells are restored from it) and the assignment's notebook file
  name;
- the assignment's plug-in: its grading.py and the reference cells of its source notebook (the
  rest of the solution is not needed, so it does not travel);
- the bands and the reference's probes (computed once per course by `vaelab grade bands`);
- the course's data (Speaker A and B, the assignment's own data), each with the environment
  variable that tells the notebook where it is.

They are content-addressed: `digest` is the SHA-256 of all of it. A worker writes them to a
folder named after the digest once (`materialize`), and every submission of the batch reuses it;
other inputs (another course, new bands) get another folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat

from grader.assignment import Assignment
from grader.stored_bands import load_bands, load_reference_probes

#: The folder, under the system's temporary one, where workers keep materialized inputs.
CACHE_NAME = "vaelab-grading-inputs"


@dataclass(frozen=True)
class GradingInputs:
    """Everything of a course that grading a submission reads (see the module docstring)."""

    assignment: str                 # the assignment's name, e.g. vae_speech
    notebook: str                   # its notebook's file name, e.g. vae_speech.ipynb
    release: str                    # the released student notebook (JSON text)
    grading_rules: str              # the assignment's grading.py
    reference: str                  # the source notebook reduced to its reference cells (JSON text)
    bands: dict                     # the bands of the result tests (grader/stored_bands.py)
    reference_probes: bytes         # the reference's probes (torch.save of plain tensors and numbers)
    cells: bytes = b""              # an nbgrader gradebook (SQLite) holding only the released notebook's cells
    files: dict[str, bytes] = field(default_factory=dict)     # data path (relative) -> content
    variables: dict[str, str] = field(default_factory=dict)   # environment variable -> data path (relative)

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the whole inputs: the name of their folder on a worker."""
        hasher = hashlib.sha256()
        for text in (self.assignment, self.notebook, self.release, self.grading_rules, self.reference,
                     json.dumps(self.bands, sort_keys=True), json.dumps(self.variables, sort_keys=True)):
            hasher.update(hashlib.sha256(text.encode()).digest())
        hasher.update(hashlib.sha256(self.reference_probes).digest())
        hasher.update(hashlib.sha256(self.cells).digest())
        for name in sorted(self.files):
            hasher.update(hashlib.sha256(name.encode() + b"\0" + self.files[name]).digest())
        return hasher.hexdigest()

    @property
    def size(self) -> int:
        """Bytes sent to each worker (for the benchmark and the progress line)."""
        return sum(len(v) for v in self.files.values()) + len(self.reference_probes) + len(self.release) \
            + len(self.reference) + len(self.grading_rules) + len(self.cells)

    @classmethod
    def from_course(cls, course) -> GradingInputs:
        """The inputs of `course` (a grader.course.Course) as they are now; bands must be current
        (raises grader.stored_bands.StaleBandsError otherwise)."""
        task: Assignment = course.task
        rules_cells = set(course.rules.REFERENCE_CELLS)
        source = nbformat.read(task.notebook_path, as_version=4)
        source.cells = [c for c in source.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                        in rules_cells]
        files, variables = {}, {}
        for variable, path in course.kernel_data_paths().items():
            relative = Path(variable.lower())
            members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for member in members:
                name = relative / member.relative_to(path) if path.is_dir() else relative / path.name
                files[name.as_posix()] = member.read_bytes()
            variables[variable] = (relative if path.is_dir() else relative / path.name).as_posix()
        release = course.release_notebook.read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory(prefix="vaelab-cells-") as tmp:
            _save_cells(nbformat.reads(release, as_version=4), course.assignment, Path(course.notebook).stem,
                        Path(tmp) / "cells.db")
            cells = (Path(tmp) / "cells.db").read_bytes()
        return cls(assignment=course.assignment, notebook=course.notebook, release=release, cells=cells,
                   grading_rules=task.grading_path.read_text(encoding="utf-8"),
                   reference=nbformat.writes(source), bands=load_bands(course),
                   reference_probes=load_reference_probes(course), files=files, variables=variables)

    # --- on the worker --------------------------------------------------------------------------

    def materialize(self, cache: Path | None = None) -> Path:
        """The folder holding these inputs as files, written once per machine (atomically: a folder
        with this digest's name is always complete). Layout:

            data/...                  the course's data
            assignment/<name>/        grading.py and the reference notebook
            release.ipynb             the released notebook
            cells.db                  an nbgrader gradebook of the released notebook's cells only
                                      (what nbgrader's OverwriteCells restores locked cells from)
            reference_probes.pt       the reference's probes
            inputs.json               the names, the bands and the data's variables
        """
        cache = Path(cache or Path(tempfile.gettempdir()) / CACHE_NAME)
        folder = cache / self.digest
        if folder.is_dir():
            return folder
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.digest[:12]}-", dir=cache))
        try:
            for name, content in self.files.items():
                target = staging / "data" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            rules = staging / "assignment" / self.assignment
            rules.mkdir(parents=True)
            (rules / "grading.py").write_text(self.grading_rules, encoding="utf-8")
            (rules / self.notebook).write_text(self.reference, encoding="utf-8")
            (staging / "release.ipynb").write_text(self.release, encoding="utf-8")
            (staging / "cells.db").write_bytes(self.cells)
            (staging / "reference_probes.pt").write_bytes(self.reference_probes)
            (staging / "inputs.json").write_text(json.dumps(
                {"assignment": self.assignment, "notebook": self.notebook, "bands": self.bands,
                 "variables": self.variables, "files": sorted(self.files)}, indent=1) + "\n")
            os.rename(staging, folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not folder.is_dir():  # another process did not win the race either
                raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return folder

    @classmethod
    def from_folder(cls, folder: Path) -> GradingInputs:
        """The inputs materialized in `folder`, read back (a local pool's process gets them so:
        made once by autograde, never from the course). Raises ValueError when the folder does
        not hold what its name says."""
        folder = Path(folder)
        meta = json.loads((folder / "inputs.json").read_text())
        rules = folder / "assignment" / meta["assignment"]
        inputs = cls(assignment=meta["assignment"], notebook=meta["notebook"],
                     release=(folder / "release.ipynb").read_text(encoding="utf-8"),
                     grading_rules=(rules / "grading.py").read_text(encoding="utf-8"),
                     reference=(rules / meta["notebook"]).read_text(encoding="utf-8"), bands=meta["bands"],
                     reference_probes=(folder / "reference_probes.pt").read_bytes(),
                     cells=(folder / "cells.db").read_bytes(),
                     files={name: (folder / "data" / name).read_bytes() for name in meta["files"]},
                     variables=meta["variables"])
        if inputs.digest != folder.name:
            raise ValueError(f"{folder}: its files do not match its name (changed after it was written?)")
        return inputs

    def task(self, folder: Path) -> Assignment:
        """The assignment as materialized in `folder`."""
        return Assignment(folder / "assignment", self.assignment)

    def data(self, folder: Path) -> dict[str, str]:
        """{environment variable: absolute path} of the data materialized in `folder`."""
        return {variable: str(folder / "data" / path) for variable, path in self.variables.items()}

    def probes(self) -> dict[str, dict]:
        import torch

        return torch.load(io.BytesIO(self.reference_probes), weights_only=True)


def _save_cells(release: nbformat.NotebookNode, assignment: str, notebook: str, path: Path) -> None:
    """A gradebook holding only the released notebook's cells (no student, no grade). Made in the
    instructor's process: nbgrader runs a command to make a new gradebook, which workers need not."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import SaveCells
    from sqlalchemy.exc import SAWarning

    from grader.engine.environment import nbgrader_tools

    db_url = f"sqlite:///{path}"
    with nbgrader_tools(), Gradebook(db_url) as gradebook:
        gradebook.update_or_create_assignment(assignment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        SaveCells().preprocess(release, {"nbgrader": {"db_url": db_url, "assignment": assignment,
                                                      "notebook": notebook}})
