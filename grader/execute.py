"""Running a notebook headless in a real Jupyter kernel (nbclient), and saving it as .ipynb and HTML."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError


class NotebookFailed(VaelabError):
    """A notebook stopped with an error; the message has the failing cell's error."""


#: Variables that set how many threads a process's numeric libraries start.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def kernel_environment(values: dict[str, str], threads: int | None = None) -> dict[str, str]:
    """The environment of one kernel: this process's, with `values` and (when given) `threads`
    threads for torch and BLAS. Each kernel gets its own: nothing is set in os.environ, so
    kernels started side by side do not see each other's settings."""
    env = {**os.environ, **values}
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    return env


def save_notebook(notebook: nbformat.NotebookNode, path: Path, html: bool = True) -> None:
    """Write `notebook` to `path` (and `path` with .html), atomically."""
    with atomic_path(path) as tmp:
        nbformat.write(notebook, tmp)
    if html:
        body, _ = HTMLExporter().from_notebook_node(notebook)
        with atomic_path(path.with_suffix(".html")) as tmp:
            tmp.write_text(body, encoding="utf-8")


def execute_notebook(source: Path | nbformat.NotebookNode, workdir: Path, env: dict[str, str] | None = None,
                     timeout: int = 900, threads: int | None = None,
                     allow_errors: bool = False) -> nbformat.NotebookNode:
    """Execute a notebook (a path or a NotebookNode) top to bottom with `workdir` as the current
    folder, in a kernel whose environment is this process's plus `env` (and `threads`, see
    kernel_environment); returns the run notebook.

    allow_errors=False: raises NotebookFailed (with the executed notebook in `.notebook`) when a
    cell fails, the kernel dies or a cell runs longer than `timeout` seconds. allow_errors=True
    (grading): a failing or overrunning cell (it is interrupted) leaves its error in its outputs
    and the next cells run; only a dead kernel stops the run, with NotebookFailed.
    """
    notebook = source if isinstance(source, nbformat.NotebookNode) else nbformat.read(source, as_version=4)
    name = getattr(source, "name", "the notebook")
    with tempfile.TemporaryDirectory(prefix="vaelab-kernel-") as sockets:
        # The kernel talks over Unix sockets in a private folder rather than TCP ports on
        # localhost: nothing else on the machine can connect to it.
        kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(notebook, km=kernel, timeout=timeout, allow_errors=allow_errors,
                                interrupt_on_timeout=allow_errors, record_timing=True,
                                resources={"metadata": {"path": str(workdir)}})
        try:
            client.execute(env=kernel_environment(env or {}, threads))
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            failure = NotebookFailed(f"{name} stopped: {str(err).strip()[-2000:]}")
            failure.notebook = notebook
            failure.kernel_died = isinstance(err, DeadKernelError)
            raise failure from err
        finally:
            if kernel.has_kernel:  # a kernel manager we made is ours to shut down
                kernel.shutdown_kernel(now=True)
    return notebook
