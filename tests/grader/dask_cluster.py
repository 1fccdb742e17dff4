"""A real dask.distributed cluster for the tests: a scheduler and single-thread worker
processes started from the command line (`dask scheduler`, `dask worker`), in a folder of their
own, each worker inside a mount namespace where a given folder (the course) is an empty tmpfs:
the workers cannot read the course, as on machines that do not share it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from grader.engine.sandbox import bwrap_binary
from grader.workflow.cluster import SCHEDULER_SETTINGS


class Cluster:
    """Start with `Cluster(folder, hidden)`; `add_worker()`, `kill(name)`, `close()`."""

    def __init__(self, folder: Path, hidden: Path) -> None:
        self.folder, self.hidden = folder, hidden
        folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = folder / "scheduler.json"
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
                    **SCHEDULER_SETTINGS}
        self.scheduler = self._start("scheduler", [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1",
                                                   "--port", "0", "--no-dashboard",
                                                   "--scheduler-file", str(self.scheduler_file)])
        deadline = time.monotonic() + 60
        while not self.scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        self.workers: dict[str, subprocess.Popen] = {}

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        return subprocess.Popen(argv, cwd=self.folder, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def add_worker(self, name: str) -> None:
        """A worker process (no nanny: killed, it stays dead) that cannot see `hidden`."""
        hide = [bwrap_binary(), "--dev-bind", "/", "/", "--tmpfs", str(self.hidden), "--"]
        work = self.folder / name
        work.mkdir(exist_ok=True)
        self.workers[name] = self._start(name, [*hide, sys.executable, "-m", "dask", "worker", self.address,
                                                "--nthreads", "1", "--no-nanny", "--name", name,
                                                "--local-directory", str(work), "--no-dashboard"])

    def kill(self, name: str) -> None:
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def close(self) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
