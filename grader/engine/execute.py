"""Running a notebook headless in a real Jupyter kernel (nbclient), and saving it as .ipynb and HTML."""

from __future__ import annotations

import atexit
import dataclasses
import datetime
import json
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

from grader.engine.probe import setup_cells
from grader.engine.result import Cut, Problem
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError


class NotebookFailed(VaelabError):
    """A notebook stopped with an error; the message has the failing cell's error."""


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


@dataclass
class KernelRun:
    """What running a notebook in a kernel gave: the run notebook and what stopped or cut it."""

    notebook: nbformat.NotebookNode
    failure: Exception | None = None  # the error that stopped the run (nbclient's), or None
    truncated_cell: int | None = None  # the cell whose output passed the output limit
    stopped: str | None = None  # why the process watchdog stopped the kernel

    @property
    def kernel_died(self) -> bool:
        return isinstance(self.failure, DeadKernelError)


def run_kernel(notebook: nbformat.NotebookNode, workdir: Path, env: dict[str, str], timeout: int,
               sandbox=None, keep_going: bool = False, output_limit: int = OUTPUT_LIMIT) -> KernelRun:
    """Execute `notebook` (in place) top to bottom in a kernel with `workdir` as its current
    folder and `env` as its whole environment (grader/engine/environment.py).

    sandbox: a grader.engine.sandbox.Sandbox for student code (the kernel's sockets folder is
    added to what it may write). keep_going (grading): a failing or overrunning cell (it is
    interrupted) leaves its error in its outputs and the next cells run; only a dead kernel
    stops the run. Otherwise the first failing or overrunning cell stops it. Either way the
    failure is returned, not raised.
    """
    with (sandbox.tempdir("vaelab-kernel-") if sandbox is not None else
          tempfile.TemporaryDirectory(prefix="vaelab-kernel-")) as sockets, tempfile.TemporaryDirectory() as private:
        # The kernel talks over Unix sockets in a private folder rather than TCP ports on
        # localhost: nothing else on the machine can connect to it.
        report = Path(private) / "stopped.txt"  # why a warm run's supervisor stopped the kernel
        if sandbox is not None:
            sandbox = dataclasses.replace(sandbox, writable=[*sandbox.writable, Path(sockets)], report=report)
        kernel = SandboxedKernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"),
                                        connection_file=str(Path(sockets) / "kernel.json"),
                                        sandbox=sandbox, workdir=Path(workdir))
        if sandbox is not None:
            kernel.kernel_spec.interrupt_mode = "message"  # signals do not cross into the sandbox
        client = LimitedOutputClient(notebook, km=kernel, timeout=timeout, allow_errors=keep_going,
                                     interrupt_on_timeout=keep_going, record_timing=True,
                                     resources={"metadata": {"path": str(workdir)}}, output_limit=output_limit)
        watchdog = ProcessWatchdog(kernel, sandbox.limits.processes // 4) if sandbox is not None else None
        if watchdog is not None:
            watchdog.start()
        run = KernelRun(notebook)
        try:
            client.execute(env=env)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            run.failure = err
        except RuntimeError as err:  # the kernel did not start ("Kernel died before replying to kernel_info")
            if any(cell.get("execution_count") for cell in notebook.cells):
                raise
            run.failure = err
        finally:
            if watchdog is not None:
                watchdog.done.set()
                run.stopped = watchdog.reason
            run.truncated_cell = client.truncated_cell
            # nbclient leaves its exit hook registered when the kernel died at its start: it would
            # fail at the grader's exit, the kernel being cleaned up already
            atexit.unregister(client._cleanup_kernel)
            # a kernel manager we made is ours to shut down; one that died at its start was
            # cleaned up by nbclient already (its sockets closed: an interrupt would fail)
            if kernel.has_kernel and run_sync(kernel.is_alive)():
                run_sync(kernel.shutdown_kernel)(now=True)
            if report.is_file():  # the warm supervisor's watchdog stopped it
                run.stopped = report.read_text(encoding="utf-8")
    return run


def execute_notebook(source: Path | nbformat.NotebookNode, workdir: Path, env: dict[str, str],
                     timeout: int = 900) -> nbformat.NotebookNode:
    """Run a trusted notebook (the reference, a lab in the demo) to the end; returns it run.
    Raises NotebookFailed, with the notebook as far as it ran in `.notebook`, when a cell fails,
    overruns `timeout` seconds or the kernel dies."""
    notebook = source if isinstance(source, nbformat.NotebookNode) else nbformat.read(source, as_version=4)
    run = run_kernel(notebook, workdir, env, timeout)
    if run.failure is not None:
        failure = NotebookFailed(f"{getattr(source, 'name', 'the notebook')} stopped: "
                                 f"{str(run.failure).strip()[-2000:]}")
        failure.notebook = run.notebook
        raise failure from run.failure
    return run.notebook


def _cell_name(notebook: nbformat.NotebookNode, index: int) -> str:
    if index >= len(notebook.cells):
        return "end"
    return notebook.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade_id", "code")


def cuts(run: KernelRun, cell_timeout: int, memory_bytes: int) -> list[Problem]:
    """The limits that stopped or cut a graded kernel run, one Problem each."""
    notebook, problems = run.notebook, []
    if run.kernel_died:
        ran = [i for i, c in enumerate(notebook.cells) if c.get("execution_count")]  # the last one started
        last = ran[-1] if ran else 0
        problems.append(Problem(Cut.KERNEL_DEATH, f"the kernel died in cell {last} ({_cell_name(notebook, last)}); "
                                                  "later cells did not run"))
    elif run.failure is not None:  # nbclient gave up for another reason
        problems.append(Problem(Cut.KERNEL_DEATH, f"the kernel stopped: {str(run.failure).strip()[:300]}"))
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            where = f"cell {index} ({_cell_name(notebook, index)})"
            if output.get("ename") == "KeyboardInterrupt" and index != run.truncated_cell:
                problems.append(Problem(Cut.CELL_TIME, f"{where} ran longer than {cell_timeout} s and was interrupted"))
            elif output.get("ename") == "MemoryError":
                problems.append(Problem(Cut.MEMORY, f"{where} ran out of memory (the limit is "
                                                    f"{memory_bytes / 2 ** 30:.0f} GiB)"))
    if run.truncated_cell is not None:
        problems.append(Problem(Cut.OUTPUT_CAP, f"cell {run.truncated_cell} printed more than the output limit "
                                                f"({OUTPUT_LIMIT // 2 ** 20} MB); its output was cut and the cell interrupted"))
    if run.stopped:
        problems.append(Problem(Cut.PROCESSES, run.stopped))
    return problems


def _when(text: str | None) -> float | None:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return None


def cell_seconds(notebook: nbformat.NotebookNode, training_cells: tuple[str, ...], started: float) -> dict[str, float]:
    """Seconds of the run by kind, from nbclient's timing metadata: kernel start (until the first
    cell), training (the cells named in `training_cells`), tests (check cells), imports and data
    (everything else)."""
    seconds = {"kernel start": 0.0, "imports and data": 0.0, "training": 0.0, "tests": 0.0}
    first = None
    for cell in notebook.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        begin, end = _when(timing.get("iopub.status.busy")), _when(timing.get("iopub.status.idle"))
        if begin is None or end is None:
            continue
        first = begin if first is None else min(first, begin)
        nbgrader = cell.metadata.get("nbgrader", {})
        kind = ("tests" if nbgrader.get("grade") and not nbgrader.get("solution") else
                "training" if nbgrader.get("grade_id") in training_cells else "imports and data")
        seconds[kind] += end - begin
    if first is not None:
        seconds["kernel start"] = max(0.0, first - started)
    return seconds


def grader_failure(run: KernelRun) -> str | None:
    """Why a graded kernel failed before the student's first cell ran, or None: it did not start,
    or a locked setup cell (the instructor's code, restored) raised. Then the environment, not the
    submission, is at fault (grader/engine/grade.py grades it again cold)."""
    cells = run.notebook.cells
    setup = setup_cells(cells)
    if run.failure is not None and not any(cell.get("execution_count") for cell in cells[setup:]):
        return f"the kernel stopped before the student's first cell: {str(run.failure).strip()[-300:]}"
    for index, cell in enumerate(cells[:setup]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return (f"setup cell {index} ({_cell_name(run.notebook, index)}) raised "
                        f"{output.get('ename')}: {str(output.get('evalue'))[:300]}")
    return None


def step(run) -> None:
    """The engine's step 3 (grader/engine/grade.py): the whole restored notebook in a sandboxed
    kernel, on the course's data; overrunning and failing cells do not stop it."""
    started = time.time()
    kernel = run_kernel(run.notebook, run.workdir, run.environment, run.options.cell_timeout,
                        sandbox=run.sandbox, keep_going=True)
    run.notebook = kernel.notebook
    run.grader_failure = run.grader_failure or grader_failure(kernel)
    run.problems += cuts(kernel, run.options.cell_timeout, run.sandbox.limits.data_bytes)
    for kind, seconds in cell_seconds(kernel.notebook, run.rules.TRAINING_CELLS, started).items():
        run.seconds[kind] += seconds
