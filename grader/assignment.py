"""The reference implementation and the grading rules of an assignment, read from solutions/.

An assignment is a folder `SOLUTIONS/<name>/` holding the instructor's nbgrader notebook and
`grading.py`, the assignment's grading rules (which cells define the reference, the probes run
on a submission's code, the judges, the bands). Nothing installed contains either: the grader
loads them by path, from a solutions folder it is given explicitly (a course records its own in
`vaelab_course.json`). A student has the installed `vaelab_core` but no solutions folder, so
no reference and no hidden test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from vaelab_core.errors import VaelabError

#: The assignment graded by default (the handout's lab).
DEFAULT_ASSIGNMENT = "vae_speech"


class ReferenceError(VaelabError):
    """The solutions folder, its notebook or its grading rules are missing or broken."""


#: The plug-in an assignment implements: the names its grading.py must define, and what each is.
#: A third lab copies one of solutions/*/grading.py and keeps these (solutions/README.md).
RULES_REQUIRED = {
    "REFERENCE_CELLS": "tuple of nbgrader grade ids: the source notebook's cells that define the reference",
    "STUDENT_CODE_UNTIL": "grade id of the last cell the probe runs (the student's code ends there)",
    "METHOD_TESTS": "grade ids of the test cells judged on probes of the student's code",
    "RESULT_TESTS": "grade ids of the test cells judged on the notebook's recorded results, against bands",
    "JUDGES": "{test grade id: judge(probe or record, reference probe or band) -> list[Check]}",
    "probe": "probe(student namespace, reference namespace) -> {test: callable returning plain data}",
    "make_bands": "make_bands(records, reference namespace, speakers) -> {result test: band}",
    "summary": "summary(results.json of a run) -> text printed by vaelab demo",
}


def _no_course_data(folder: Path) -> dict[str, Path]:
    """The default `course_data`: the lab needs no data beyond the two speaker sets."""
    return {}


#: Names grading.py may define: {name: (its value when grading.py does not define it, what it is)}.
#: Loading the rules sets each missing one to its default, so that callers read `rules.NAME`.
RULES_OPTIONAL = {
    "MODEL_CLASS": (None, "name of the class the notebook must define before it is probed (None: a lab of "
                    "functions)"),
    "TRAINING_CELLS": ((), "grade ids of the cells counted as training in the timings (none: no training)"),
    "PROBE_SKIPS": ((), "grade ids of locked cells before STUDENT_CODE_UNTIL that the probe leaves out: the "
                        "notebook's runs (fits, figures), which define nothing the probed code needs"),
    "STUDENT_WORK": (None, "what the student fills in, as the student bundle's INSTALL.md says it (None: "
                     "grader/kit/student_bundle.py's DEFAULT_WORK)"),
    "PRELOAD": ((), "modules a warm start imports once before its first fork, besides the kit's (grader/engine/"
                "zygote.py's PRELOAD): a library of the lab's notebook whose first import is slow (default: none)"),
    "course_data": (_no_course_data, "course_data(data folder) -> {environment variable: path}: data made for "
                    "the course (default: none)"),
    "spread_runs": (None, "spread_runs(reference namespace, speakers) -> what make_bands takes as its fourth "
                    "argument: the runs for the bands' spread that need no record of the reference run, made "
                    "beside it (default: none; make_bands makes its runs itself)"),
}
#: examples.py, the assignment's example submissions, must define these.
EXAMPLES_REQUIRED = {
    "EXAMPLES": "{student id: example (what it shows, its code, {test: expected score})}: the example corpus",
    "make_submission": "make_submission(release notebook, example) -> the submitted notebook",
}
EXAMPLES_OPTIONAL = {
    "DEMO_EXAMPLES": ((), "the examples `vaelab demo` grades when it grades this lab, a correct one and two "
                          "telling mistakes (none: the first three of EXAMPLES)"),
}

_loaded: dict[tuple[str, str], types.ModuleType] = {}


def default_solutions() -> Path:
    """The solutions/ folder of the checkout this grader runs from (an instructor's clone).

    Used only as the default of `--solutions`; every loader below takes the folder explicitly.
    """
    candidate = Path(__file__).resolve().parents[1] / "solutions"
    if not candidate.is_dir():
        raise ReferenceError(
            f"no solutions folder beside this installation ({candidate}). The reference lives in the "
            "instructor's clone of vaelab: install from it (pip install -e CLONE) or pass "
            "--solutions DIR.")
    return candidate


@dataclass(frozen=True)
class Assignment:
    """One assignment of a solutions folder: its notebook and its grading rules."""

    solutions: Path
    name: str

    @property
    def folder(self) -> Path:
        return self.solutions / self.name

    @property
    def notebook_path(self) -> Path:
        """The instructor's source notebook (the one `.ipynb` of the folder)."""
        notebooks = sorted(self.folder.glob("*.ipynb"))
        if len(notebooks) != 1:
            raise ReferenceError(f"{self.folder}: expected exactly one source notebook, found "
                                 f"{[p.name for p in notebooks] or 'none'}.")
        return notebooks[0]

    @property
    def grading_path(self) -> Path:
        return self.folder / "grading.py"

    def rules(self) -> types.ModuleType:
        """The assignment's `grading.py`, loaded as a module (trusted: the instructor's file)."""
        if not self.grading_path.is_file():
            raise ReferenceError(f"{self.grading_path}: missing. Each assignment folder holds its grading "
                                 "rules (grading.py: reference cells, probes, judges, bands).")
        return _load_checked(self.grading_path, f"vaelab_grading_{self.name}", RULES_REQUIRED, RULES_OPTIONAL)

    def examples(self) -> types.ModuleType:
        """The assignment's example submissions (`examples.py`: EXAMPLES, make_submission)."""
        path = self.folder / "examples.py"
        if not path.is_file():
            raise ReferenceError(f"{path}: missing; the assignment has no example submissions.")
        return _load_checked(path, f"vaelab_examples_{self.name}", EXAMPLES_REQUIRED, EXAMPLES_OPTIONAL)

    def reference_source(self) -> str:
        """The Python source of the cells that define the reference, joined in order."""
        cells = self.rules().REFERENCE_CELLS
        by_id = {cell["metadata"].get("nbgrader", {}).get("grade_id"): cell for cell in notebook_cells(self.notebook_path)}
        missing = [grade_id for grade_id in cells if grade_id not in by_id]
        if missing:
            raise ReferenceError(f"{self.notebook_path}: no cells with nbgrader ids {missing}; the "
                                 f"reference is made of cells {list(cells)}.")
        return "\n\n".join(by_id[grade_id]["source"] for grade_id in cells)

    def reference_namespace(self) -> dict:
        """Run the reference cells in a fresh namespace and return it (their prints are dropped)."""
        namespace = {"__name__": f"vaelab_reference_{self.name}"}
        with contextlib.redirect_stdout(io.StringIO()):  # the cells' own prints are for the notebook
            exec(compile(self.reference_source(), str(self.notebook_path), "exec"), namespace)
        return namespace


def notebook_cells(path: Path) -> list[dict]:
    """The cells of the notebook at `path` as plain dictionaries, each `source` one string.

    Read as JSON, not through nbformat: importing nbformat (its schema validator) takes about
    1.5 s, which every probe process would pay for two cell sources. The notebooks read here were
    written by nbformat (the instructor's, or a submission the grader has already restored).
    """
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReferenceError(f"{path}: not a readable notebook ({error}).") from None
    for cell in cells:
        cell.setdefault("metadata", {})
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return cells


def _load_checked(path: Path, name: str, required: dict[str, str],
                  optional: dict[str, tuple[object, str]] | None = None) -> types.ModuleType:
    """`path` loaded as module `name`, once per process and content (a changed file is loaded
    again); raises ReferenceError naming each required name it lacks, and what that name is.
    Each `optional` name it lacks is set to its default ({name: (default, what it is)})."""
    import hashlib

    key = (name, hashlib.sha256(path.read_bytes()).hexdigest())
    if key not in _loaded:
        module = _load_module(path, name)
        missing = [f"{n} ({what})" for n, what in required.items() if not hasattr(module, n)]
        if missing:
            raise ReferenceError(f"{path} does not define: " + "; ".join(missing)
                                 + ". See solutions/README.md for the assignment plug-in.")
        for optional_name, (default, _) in (optional or {}).items():
            if not hasattr(module, optional_name):
                setattr(module, optional_name, default)
        _loaded[key] = module
    return _loaded[key]


def _load_module(path: Path, name: str) -> types.ModuleType:
    """Load the Python file `path` as the module `name` (registered, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def assignment(solutions: str | Path, name: str = DEFAULT_ASSIGNMENT) -> Assignment:
    """The assignment `name` of the solutions folder `solutions` (checked to exist)."""
    found = Assignment(Path(solutions).resolve(), name)
    if not found.folder.is_dir():
        raise ReferenceError(f"{found.folder}: no such assignment folder (solutions folder: {solutions}).")
    return found


def load_reference(solutions: str | Path, name: str = DEFAULT_ASSIGNMENT) -> type:
    """The reference model class of assignment `name` (the class its grading rules name)."""
    task = assignment(solutions, name)
    class_name = task.rules().MODEL_CLASS
    model_class = task.reference_namespace().get(class_name)
    if not isinstance(model_class, type):
        raise ReferenceError(f"{task.notebook_path}: the reference cells do not define {class_name}.")
    return model_class
