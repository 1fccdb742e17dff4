"""The reference implementation, loaded from the instructor's solution notebook at run time.

`solutions/vae_speech/vae_speech.ipynb` is the one source of the reference model: no installed
module contains it. Tools that need it (pre-training here, the grader later) read the notebook,
take the code of two cells identified by their nbgrader ids (`imports`, `model`) and run them
in a fresh module namespace. A student who has the installed package has no solutions/ folder,
so has no reference either.
"""

from __future__ import annotations

import contextlib
import io
import types
from pathlib import Path

import nbformat

from vaelab_core.errors import VaelabError
from vaelab_core.model import SpeechVAEBase

#: nbgrader grade ids of the cells that define the reference, in execution order.
REFERENCE_CELLS = ("imports", "model")
NOTEBOOK = Path("vae_speech") / "vae_speech.ipynb"
CLASS_NAME = "SpeechVAE"


class ReferenceError(VaelabError):
    """The solution notebook is missing or does not define the reference model."""


def find_solutions(solutions: str | Path | None = None) -> Path:
    """The solutions/ folder: `solutions` if given, else the checkout this package runs from,
    else ./solutions."""
    candidates = [Path(solutions)] if solutions else [
        Path(__file__).resolve().parents[1] / "solutions", Path.cwd() / "solutions"]
    for candidate in candidates:
        if (candidate / NOTEBOOK).is_file():
            return candidate
    raise ReferenceError(
        f"no solution notebook found (looked for {NOTEBOOK} in: "
        f"{', '.join(str(c) for c in candidates)}). The reference lives in the instructor's "
        "checkout of vaelab: run from there or pass --solutions DIR."
    )


def reference_source(solutions: str | Path | None = None) -> str:
    """The Python source of the reference cells, joined in order."""
    path = find_solutions(solutions) / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    by_id = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in notebook.cells}
    missing = [grade_id for grade_id in REFERENCE_CELLS if grade_id not in by_id]
    if missing:
        raise ReferenceError(f"{path}: no cells with nbgrader ids {missing}; the reference "
                             f"needs cells {list(REFERENCE_CELLS)}.")
    return "\n\n".join(by_id[grade_id].source for grade_id in REFERENCE_CELLS)


def load_reference(solutions: str | Path | None = None) -> type[SpeechVAEBase]:
    """The reference model class `SpeechVAE`, built from the solution notebook."""
    source = reference_source(solutions)
    module = types.ModuleType("vaelab_reference")
    module.__file__ = str(find_solutions(solutions) / NOTEBOOK)
    with contextlib.redirect_stdout(io.StringIO()):  # the cells' own prints are for the notebook
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # trusted: the instructor's notebook
    model_class = module.__dict__.get(CLASS_NAME)
    if not (isinstance(model_class, type) and issubclass(model_class, SpeechVAEBase)):
        raise ReferenceError(f"{module.__file__}: the model cell does not define "
                             f"{CLASS_NAME}(SpeechVAEBase).")
    return model_class
