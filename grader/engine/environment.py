"""The environment of a graded kernel: one function, used by the engine, the bands and the demo.

A notebook of the kit learns where its data are and where to write from environment variables
(vaelab_core.datasets reads them); a graded or reference run also turns off progress bars and
interactive plotting, and gets its own number of threads. Each kernel gets its own dictionary:
nothing is set in os.environ, so kernels started side by side never see each other's settings.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

#: Variables that set how many threads a process's numeric libraries start.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def kernel_environment(data: dict[str, str], out: Path, threads: int | None = None) -> dict[str, str]:
    """This process's environment plus `data` ({variable: path}, e.g. VAELAB_SPEAKER_A), the
    output folder `out` (VAELAB_OUT), no progress bars, a non-interactive matplotlib, and (when
    given) `threads` threads for torch and BLAS."""
    env = {**os.environ, **data, "VAELAB_OUT": str(out), "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    return env


@contextlib.contextmanager
def nbgrader_tools():
    """While the block runs, the folder of this interpreter's scripts is first on PATH: nbgrader
    runs the `alembic` command of its environment by name to make a new gradebook, and the
    virtual environment may not be activated. PATH is restored after the block."""
    scripts = str(Path(sys.executable).parent)
    before = os.environ.get("PATH")
    if scripts not in (before or "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + (before or "")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = before
