"""The local pool's fork server: grading processes forked from an interpreter that has imported
the engine once.

A fresh interpreter spends about 3.8 s importing torch, nbformat and the engine before it can
grade (measured on the 2-core VM); in a pool that is on every submission's path. The server is
`python -m grader.workflow.fork_server PARENT`, started once per batch by the pool: it imports
`PRELOAD`, answers `ready`, then reads one request per line on its standard input (JSON: the
arguments of `local_pool.main`, the file for the process's stderr, its thread count). For each it
forks a grading process, answers `started PID`, and when that process ends, `ended PID STATUS`
(STATUS as `subprocess` gives it: the exit code, or minus the signal that killed it).

A grading process is the child of the server, not of the pool: it starts a session of its own
(a timeout kills it with what it started), its stdin and stdout are /dev/null, its stderr the
file named, and it dies with the server, which dies with the pool's process (PARENT) or when its
standard input closes. The server itself starts no thread, so that forking it is safe.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import traceback

#: What the server imports once, so that each grading process starts with it loaded.
PRELOAD = ("torch", "nbformat", "grader.engine.grade", "grader.engine.inputs", "grader.engine.warm",
           "grader.workflow.local_pool")
#: Seconds the server may take to import PRELOAD, and to answer a request.
START_SECONDS, ANSWER_SECONDS = 120, 60


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the one that started it dies (a grader killed with
    SIGKILL must not leave processes that go on grading), and check it has not died already."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the process outlives its parent, as before
        return
    if os.getppid() != parent:
        os._exit(1)


class ForkServer:
    """The pool's side: start the server (it imports while the caller goes on), have it fork
    grading processes, learn how they ended."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "grader.workflow.fork_server", str(os.getpid())],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._started: queue.Queue[int] = queue.Queue()
        self._ended: dict[int, int] = {}
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True, name="fork server answers").start()

    @staticmethod
    def available() -> bool:
        """Whether this system can fork (not Windows)."""
        return hasattr(os, "fork")

    def _read(self) -> None:
        for line in self.process.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "ready":
                self._ready.set()
            elif kind == "started":
                self._started.put(int(rest))
            elif kind == "ended":
                pid, status = map(int, rest.split())
                self._ended[pid] = status
        self._ready.set()  # the server has ended: nothing to wait for (start() says so)

    def start(self, argv: list[str], errors: str, threads: int) -> int:
        """Fork a grading process running `local_pool.main(argv)`; returns its pid. The first call
        waits for the server to have imported PRELOAD."""
        if not self._ready.wait(START_SECONDS):
            raise RuntimeError(f"the local pool's fork server did not get ready in {START_SECONDS} s")
        if self.process.poll() is not None:
            raise RuntimeError(f"the local pool's fork server has ended (status {self.process.returncode})")
        self.process.stdin.write(json.dumps({"argv": argv, "errors": errors, "threads": threads}) + "\n")
        self.process.stdin.flush()
        return self._started.get(timeout=ANSWER_SECONDS)

    def status(self, pid: int) -> int | None:
        """How process `pid` ended (as `Popen.returncode`), or None while it runs. If the server is
        gone, so are its processes (they die with it): killed."""
        if pid in self._ended:
            return self._ended[pid]
        if self.process.poll() is not None:
            return self._ended.get(pid, -signal.SIGKILL)
        return None

    def close(self) -> None:
        """End the server (its standard input closes); a process still running dies with it."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def _grading_process(request: dict) -> None:
    """In the forked child: become a grading process, run it, exit with its status. Never returns."""
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a fresh interpreter
        os.setsid()
        threads = str(request["threads"])
        os.environ.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
        for target, path, mode in ((0, os.devnull, os.O_RDONLY), (1, os.devnull, os.O_WRONLY),
                                   (2, request["errors"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)):
            fd = os.open(path, mode, 0o600)
            os.dup2(fd, target)
            os.close(fd)
        die_with_parent(os.getppid())
        from grader.workflow.local_pool import main

        status = main(request["argv"])
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the traceback's last line is what the pool reports
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def serve(parent: int) -> None:
    """The server's loop (see the module docstring)."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pool's to handle; the server ends with it
    for name in PRELOAD:
        importlib.import_module(name)
    print("ready", flush=True)
    children: set[int] = set()
    pending = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.2)
        if readable:
            chunk = os.read(0, 65536)
            if not chunk:
                break  # the pool is done (or gone): what still runs dies with this process
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                pid = os.fork()
                if pid == 0:
                    _grading_process(json.loads(line))
                children.add(pid)
                print(f"started {pid}", flush=True)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                print(f"ended {pid} {code}", flush=True)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
