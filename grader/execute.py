"""Running a notebook headless in a real Jupyter kernel (nbclient), and saving it as .ipynb and HTML."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
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


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (the kernel inherits them), then restore."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def save_notebook(notebook: nbformat.NotebookNode, path: Path, html: bool = True) -> None:
    """Write `notebook` to `path` (and `path` with .html), atomically."""
    with atomic_path(path) as tmp:
        nbformat.write(notebook, tmp)
    if html:
        body, _ = HTMLExporter().from_notebook_node(notebook)
        with atomic_path(path.with_suffix(".html")) as tmp:
            tmp.write_text(body, encoding="utf-8")


def execute_notebook(source: Path, workdir: Path, env: dict[str, str] | None = None,
                     timeout: int = 900) -> nbformat.NotebookNode:
    """Execute `source` top to bottom with `workdir` as the current folder; returns the run notebook.

    Raises NotebookFailed (with the executed notebook in `.notebook`) when a cell fails, the
    kernel dies or a cell runs longer than `timeout` seconds.
    """
    notebook = nbformat.read(source, as_version=4)
    with environment(env or {}), tempfile.TemporaryDirectory(prefix="vaelab-kernel-") as sockets:
        # The kernel talks over Unix sockets in a private folder rather than TCP ports on
        # localhost: nothing else on the machine can connect to it.
        kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(notebook, km=kernel, timeout=timeout,
                                resources={"metadata": {"path": str(workdir)}})
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            failure = NotebookFailed(f"{source.name} stopped: {str(err).strip()[-2000:]}")
            failure.notebook = notebook
            raise failure from err
        finally:
            if kernel.has_kernel:  # a kernel manager we made is ours to shut down
                kernel.shutdown_kernel(now=True)
    return notebook
