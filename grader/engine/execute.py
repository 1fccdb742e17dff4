"""Running a notebook headless in a real Jupyter kernel (nbclient), and saving it as .ipynb and HTML."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
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


#: Most bytes of output a graded notebook may send (gigabytes of prints would exhaust the grader).
OUTPUT_LIMIT = 20 * 2 ** 20
TRUNCATED = "[vaelab: output stopped here: the notebook printed more than {mb} MB; the cell was interrupted]\n"


class LimitedOutputClient(NotebookClient):
    """A notebook client that keeps at most `output_limit` bytes of outputs: past it, outputs are
    dropped and the running cell is interrupted (once), so one cell's flood cannot take the
    grader's memory or time."""

    def __init__(self, *args, output_limit: int = OUTPUT_LIMIT, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.output_limit = output_limit
        self.output_bytes = 0
        self.truncated_cell: int | None = None

    def output(self, outs, msg, display_id, cell_index):
        self.output_bytes += len(json.dumps(msg.get("content", {})))
        if self.output_bytes <= self.output_limit:
            return super().output(outs, msg, display_id, cell_index)
        if self.truncated_cell is None:
            self.truncated_cell = cell_index
            outs.append(nbformat.v4.new_output("stream", name="stdout",
                                               text=TRUNCATED.format(mb=self.output_limit // 2 ** 20)))
            # interrupt over the control channel (works across the sandbox's namespaces)
            self.kc.control_channel.send(self.kc.session.msg("interrupt_request", content={}))
        return None


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts inside `sandbox` (grader/engine/sandbox.py). Asynchronous,
    as nbclient expects: with the blocking manager, interrupting a cell that overran hangs."""

    def __init__(self, *args, sandbox=None, workdir: Path | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sandbox, self.workdir = sandbox, workdir

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        return self.sandbox.command(command, self.workdir) if self.sandbox is not None else command


class ProcessWatchdog(threading.Thread):
    """Stops a kernel whose process tree grows past `limit` (a fork loop): Linux does not apply
    RLIMIT_NPROC to root, and even where it does, a flood of processes slows the whole machine.
    Killing the kernel's outer process ends its PID namespace, and with it every process in it."""

    def __init__(self, kernel: AsyncKernelManager, limit: int) -> None:
        super().__init__(daemon=True)
        self.kernel, self.limit = kernel, limit
        self.done = threading.Event()
        self.reason: str | None = None

    def run(self) -> None:
        from grader.engine.sandbox import count_processes

        while not self.done.wait(0.2):
            process = getattr(getattr(self.kernel, "provisioner", None), "process", None)
            if process is None or process.poll() is not None:
                continue
            if count_processes(process.pid) > self.limit:
                self.reason = f"the notebook started more than {self.limit} processes; its kernel was stopped"
                process.kill()
                return


def execute_notebook(source: Path | nbformat.NotebookNode, workdir: Path, env: dict[str, str] | None = None,
                     timeout: int = 900, threads: int | None = None, allow_errors: bool = False,
                     sandbox=None, output_limit: int = OUTPUT_LIMIT, run_info: dict | None = None) -> nbformat.NotebookNode:
    """Execute a notebook (a path or a NotebookNode) top to bottom with `workdir` as the current
    folder, in a kernel whose environment is this process's plus `env` (and `threads`, see
    kernel_environment); returns the run notebook. `run_info`, when given, receives
    "truncated_cell": the index of the cell whose output passed `output_limit`, or None.

    sandbox: a grader.engine.sandbox.Sandbox for student code (the kernel's sockets folder is added to
    what it may write). allow_errors=False: raises NotebookFailed (with the executed notebook in
    `.notebook`) when a cell fails, the kernel dies or a cell runs longer than `timeout` seconds.
    allow_errors=True (grading): a failing or overrunning cell (it is interrupted) leaves its
    error in its outputs and the next cells run; only a dead kernel stops the run.
    """
    notebook = source if isinstance(source, nbformat.NotebookNode) else nbformat.read(source, as_version=4)
    name = getattr(source, "name", "the notebook")
    with tempfile.TemporaryDirectory(prefix="vaelab-kernel-") as sockets:
        # The kernel talks over Unix sockets in a private folder rather than TCP ports on
        # localhost: nothing else on the machine can connect to it.
        if sandbox is not None:
            sandbox = dataclasses.replace(sandbox, writable=[*sandbox.writable, Path(sockets)])
        kernel = SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"),
                                        connection_file=str(Path(sockets) / "kernel.json"),
                                        sandbox=sandbox, workdir=Path(workdir))
        if sandbox is not None:
            kernel.kernel_spec.interrupt_mode = "message"  # signals do not cross into the sandbox
        client = LimitedOutputClient(notebook, km=kernel, timeout=timeout, allow_errors=allow_errors,
                                     interrupt_on_timeout=allow_errors, record_timing=True,
                                     resources={"metadata": {"path": str(workdir)}}, output_limit=output_limit)
        watchdog = ProcessWatchdog(kernel, sandbox.limits.processes // 4) if sandbox is not None else None
        if watchdog is not None:
            watchdog.start()
        try:
            client.execute(env=kernel_environment(env or {}, threads))
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            failure = NotebookFailed(f"{name} stopped: {str(err).strip()[-2000:]}")
            failure.notebook = notebook
            failure.kernel_died = isinstance(err, DeadKernelError)
            raise failure from err
        finally:
            if watchdog is not None:
                watchdog.done.set()
            if run_info is not None:
                run_info["truncated_cell"] = client.truncated_cell
                run_info["stopped"] = watchdog.reason if watchdog is not None else None
            if kernel.has_kernel:  # a kernel manager we made is ours to shut down
                run_sync(kernel.shutdown_kernel)(now=True)
    return notebook
