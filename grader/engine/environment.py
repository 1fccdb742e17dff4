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

from vaelab_core.lanes import LANES_ENV

#: Variables that set how many threads a process's numeric libraries start.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: How the names of the C allocator's tuning variables start. The process that runs the grader
#: may have its own (a Dask nanny gives its workers MALLOC_TRIM_THRESHOLD_=65536): passed on to
#: a kernel, that one made the lab's training 60% slower (33.5 s -> 53.5 s, `correct` example).
#: A kernel gets the allocator's defaults, as on a student's laptop.
ALLOCATOR_PREFIXES = ("MALLOC_", "GLIBC_TUNABLES")


def kernel_environment(data: dict[str, str], out: Path, threads: int | None = None) -> dict[str, str]:
    """This process's environment (without its allocator tuning: ALLOCATOR_PREFIXES) plus `data`
    ({variable: path}, e.g. VAELAB_SPEAKER_A), the output folder `out` (VAELAB_OUT), no progress
    bars, a non-interactive matplotlib, and (when given) `threads` threads for torch and BLAS, and
    as many runs side by side at most (VAELAB_LANES, vaelab_core.lanes): a kernel stays within
    its share of the cores, whatever the grader's own environment says."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(ALLOCATOR_PREFIXES)}
    env = {**inherited, **data, "VAELAB_OUT": str(out), "TQDM_DISABLE": "1", "MPLBACKEND": "Agg"}
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
        env[LANES_ENV] = str(threads)
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


@contextlib.contextmanager
def torch_threads(count: int):
    """torch's thread count in this process set to `count` while the block runs, then restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
