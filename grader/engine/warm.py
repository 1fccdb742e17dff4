"""Warm starts, the grader's side: a sandboxed interpreter that has imported the lab's libraries
once (the zygote, grader/engine/zygote.py), and each submission's probe and kernel forked from
it into a sandbox of their own.

Without it, every submission starts two fresh interpreters in the sandbox (the probe and the
kernel), and each imports torch, matplotlib and IPython again: about 3 of the 5-6 seconds a
submission costs outside its training. With it:

- `Zygote.start(...)` starts `python -m grader.engine.zygote SPOOL` in the sandbox of
  grader/engine/sandbox.py (the same read-only view of the machine, no network, its own PID
  namespace, the resource limits), with one writable folder, the spool, where the runs' private
  folders are made; it answers `ready` once it has imported and checked that it can make
  namespaces of its own.
- `Zygote.command(...)` (what `Sandbox.command` returns when the sandbox is warm) is the warm
  client, `python -I -S grader/engine/warm_client.py ...`: it asks the zygote for one run, hands
  it its standard streams, environment and folder, and ends as the run ended, so that
  jupyter_client and subprocess see a kernel or a probe process as before. Stopping the client
  stops the run.

When the machine does not allow namespaces inside the sandbox, `Zygote.start` raises
WarmUnavailable and grading starts each process cold, as before. A zygote closed with its
grader removes its spool; one whose grader was killed leaves it, and the next zygote started
on the machine sweeps it away (`sweep_stale_spools`).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.engine import view
from grader.engine.sandbox import Limits, Sandbox, SandboxError
from grader.engine.zygote import SOCKET_NAME
from vaelab_core.errors import VaelabError

#: The client, a script of the standard library only (it starts in milliseconds).
CLIENT = Path(__file__).with_name("warm_client.py")
#: Seconds the zygote may take to import and get ready.
START_SECONDS = 180
#: How each zygote's spool is named in the temporary folder.
SPOOL_PREFIX = "vaelab-warm-"


class WarmUnavailable(VaelabError):
    """The zygote cannot run here; grading starts each process cold."""


@dataclass
class Zygote:
    """A running zygote (ours when `process` is set; else one that another process started)."""

    spool: Path
    read_only: tuple[Path, ...] = ()  # what its sandbox shows besides the machine's libraries
    process: subprocess.Popen | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def socket(self) -> Path:
        return self.spool / SOCKET_NAME

    @classmethod
    def start(cls, read_only: list[Path], env: dict[str, str], limits=None, preload: tuple[str, ...] = ()) -> Zygote:
        """Start a zygote whose sandbox shows `read_only` (the course's data, the grader for the
        probe) with the base environment `env`, importing `preload` (the assignment's own slow
        imports) besides the kit's; raise WarmUnavailable when it cannot run here."""
        sweep_stale_spools()
        spool = Path(tempfile.mkdtemp(prefix=SPOOL_PREFIX))
        grader_dir = view.GRADER_DIR
        read_only = tuple(Path(p).resolve() for p in read_only)
        sandbox = Sandbox(read_only=[*read_only, grader_dir], writable=[spool], limits=limits or Limits())
        try:
            shown = [f"--show={path}" for path in view.environment()]
            command = sandbox.command([sys.executable, "-m", "grader.engine.zygote", str(spool), *shown,
                                       *(f"--preload={name}" for name in preload)], spool, zygote=True)
        except (SandboxError, view.ViewError) as err:
            shutil.rmtree(spool, ignore_errors=True)
            raise WarmUnavailable(str(err)) from err
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        said = []  # what it printed before `ready` (warnings of its imports, or why it failed)
        deadline = time.monotonic() + START_SECONDS
        while not said or said[-1] != "ready":
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = process.stdout.readline() if ready else b""
            if not line:  # it ended, or took too long
                process.kill()
                process.wait()
                shutil.rmtree(spool, ignore_errors=True)
                raise WarmUnavailable(f"the warm sandbox did not start: {' '.join(said).strip()[-400:] or 'no answer'}")
            said.append(line.decode(errors="replace").strip())
        process.stdout.close()
        return cls(spool, (*read_only, grader_dir), process)

    @classmethod
    def attach(cls, spool: Path) -> Zygote:
        """The zygote that another process (autograde's) started with its spool at `spool`."""
        spool = Path(spool)
        read_only = json.loads((spool / "view.json").read_text()) if (spool / "view.json").is_file() else []
        return cls(spool, tuple(Path(p) for p in read_only))

    def write_view(self) -> None:
        """Leave the zygote's read-only view in the spool, for `attach`."""
        (self.spool / "view.json").write_text(json.dumps([str(p) for p in self.read_only]))

    @property
    def alive(self) -> bool:
        """Whether it still takes runs (for one started elsewhere: whether its socket answers)."""
        if self.process is not None:
            return self.process.poll() is None
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as trial:
            try:
                trial.connect(str(self.socket))  # (the zygote forks a run that reads nothing and ends)
            except OSError:
                return False
        return True

    def tempdir(self, prefix: str) -> tempfile.TemporaryDirectory:
        """A private folder for a run, in the spool (where the zygote's runs can have it)."""
        return tempfile.TemporaryDirectory(prefix=prefix, dir=self.spool)

    def serves(self, read_only: list[Path], writable: list[Path]) -> bool:
        """Whether a run with this view can start here (else it starts cold)."""
        spool = self.spool.resolve()
        return (self.alive and all(Path(p).resolve() in self.read_only for p in read_only)
                and all(Path(p).resolve().is_relative_to(spool) and Path(p).resolve() != spool for p in writable))

    def command(self, argv: list[str], workdir: Path, read_only: list[Path], writable: list[Path],
                processes: int, report: Path | None = None) -> list[str]:
        """The command that runs `argv` (`python -m MODULE ...`) as a warm run, in `workdir`."""
        shown = {Path(p).resolve() for p in read_only}
        options = ([f"--writable={Path(p).resolve()}" for p in writable] +
                   [f"--{'read-only' if p in shown else 'hidden'}={p}" for p in self.read_only])
        if report is not None:
            options.append(f"--report={report}")
        return [sys.executable, "-I", "-S", str(CLIENT), str(self.socket), f"--cwd={Path(workdir).resolve()}",
                f"--processes={processes}", *options, "--", *argv]

    def close(self) -> None:
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process is not None:
                shutil.rmtree(self.spool, ignore_errors=True)


def sweep_stale_spools(folder: Path | None = None) -> list[Path]:
    """Remove the spools that this user's zygotes left in `folder` (the temporary folder) when
    their grader was killed: a Dask worker stopped by a signal never reaches `close_shared`, and
    its zygote dies with it (the sandbox's --die-with-parent) but cannot remove the spool it has
    mounted. A spool is stale when it is older than a zygote's start and no zygote answers on its
    socket; a live one, another grader's included, always answers. Returns what it removed."""
    folder = Path(folder or tempfile.gettempdir())
    removed = []
    for spool in folder.glob(f"{SPOOL_PREFIX}*"):
        try:
            stat = spool.lstat()
        except OSError:
            continue  # removed meanwhile
        if (not spool.is_dir() or spool.is_symlink() or stat.st_uid != os.getuid()
                or time.time() - stat.st_mtime < START_SECONDS or Zygote(spool).alive):
            continue
        shutil.rmtree(spool, ignore_errors=True)
        removed.append(spool)
    return removed


_shared: dict[tuple, Zygote] = {}
_unavailable: dict[tuple, str] = {}  # views whose zygote could not start here, and why
_shared_lock = threading.Lock()


def open_zygote(read_only: list[Path], env: dict[str, str], threads: int, limits=None,
                private: bool = False, preload: tuple[str, ...] = ()) -> Zygote | None:
    """The one way to a zygote whose sandbox shows `read_only` (the course's data) with the base
    environment `env`: this process's own for the view and number of threads, started on first
    use and kept (a Dask worker grades many submissions of a course with one), or with
    `private` a new one that the caller closes (a batch of the local pool). None when it cannot
    run here: said once on stderr, and grading goes on cold."""
    key = (tuple(sorted(str(Path(p).resolve()) for p in read_only)), threads, limits, tuple(preload))
    with _shared_lock:
        if key in _unavailable:
            return None
        if not private and key in _shared:
            if _shared[key].alive:
                return _shared[key]
            _shared.pop(key).close()  # it died (a run may kill it): its spool goes with it
        try:
            zygote = Zygote.start(read_only, env, limits, tuple(preload))
        except WarmUnavailable as err:
            _unavailable[key] = str(err)
            print(f"vaelab: {err}; each submission starts its own interpreters", file=sys.stderr)
            return None
        if not private:
            _shared[key] = zygote
        return zygote


def close_shared() -> None:
    with _shared_lock:
        for zygote in _shared.values():
            zygote.close()
        _shared.clear()
        _unavailable.clear()


atexit.register(close_shared)
