"""The zygote: the process that warm starts fork from (the grader's side is grader/engine/warm.py).

`python -m grader.engine.zygote SPOOL [--show=FOLDER]... [--preload=MODULE]...` runs inside the sandbox of
grader/engine/sandbox.py; the folders it is told to show are the Python environment
(grader/engine/view.py), which every run sees read-only. It imports what a lab's notebook, its
kernel and the probe import (PRELOAD), checks with a trial fork that it can make namespaces of
its own and that a run there sees the environment (it imports modules the zygote has not),
says `ready`, and then forks one child per connection on its Unix socket in the spool. That
child, the run's supervisor:

1. reads the client's request (grader/engine/warm_client.py) and its standard streams;
2. enters new user, mount, PID, IPC and network namespaces where only the run's own folders of
   the spool are there, with a fresh /tmp and /dev/shm and a read-only /dev, and the folders of
   the environment that the fresh /tmp covered brought back read-only (`_isolate`);
3. forks the run's init (PID 1 of the new namespace, as bubblewrap is in a cold sandbox), which
   locks the mounts with a second user namespace and forks the run itself (`_init`, `_become`:
   `python -m MODULE ARGS` or `python -c CODE` with runpy, in the client's folder and environment);
4. stops the run when the client leaves or when its processes pass the limit, and tells the
   client how it ended (`_supervise`).

The zygote itself never runs student code and is not dumpable: a run cannot read its memory,
and nothing a run does flows back into it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import pkgutil
import random
import runpy
import select
import signal
import socket
import sys
import threading
from pathlib import Path

from grader.engine.sandbox import count_processes
from grader.engine.view import HOLDERS, SANDBOX_ENVIRONMENT, STUDENT_PACKAGES

#: What the zygote imports once: the libraries of a lab's notebook, its kernel and the probe.
PRELOAD = ("torch", "torchaudio", "numpy", "matplotlib", "matplotlib.pyplot", "IPython",
           "IPython.core.inputtransformer2", "ipykernel.kernelapp", "grader.engine.probe")
#: Packages whose every module the zygote imports (the kit's student packages).
PRELOAD_PACKAGES = ("vaelab_core",)
SOCKET_NAME = "zygote.sock"

_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWIPC, _CLONE_NEWNET = (0x00020000, 0x10000000, 0x20000000,
                                                                          0x08000000, 0x40000000)
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
#: A mount's flags that a remount inside a user namespace must keep ({statvfs flag: mount flag}).
_KEPT_FLAGS = {os.ST_NOSUID: _MS_NOSUID, os.ST_NODEV: _MS_NODEV, os.ST_NOEXEC: _MS_NOEXEC,
               os.ST_NOATIME: 1024, os.ST_NODIRATIME: 2048, os.ST_RELATIME: 1 << 21}
_PR_SET_DUMPABLE = 4



class Unavailable(Exception):
    """This zygote cannot serve here (said to the grader, which then starts processes cold)."""


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}")


def _map_ids(uid: int, gid: int) -> None:
    """In a new user namespace: the same user and group as outside, and nothing else."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)


def _set_dumpable(value: bool) -> None:
    _check(_libc.prctl(_PR_SET_DUMPABLE, int(value), 0, 0, 0), "prctl")


def _isolate(spool: Path, writable: list[str], read_only: list[str], hidden: list[str],
             environment: list[str]) -> None:
    """Make this process's view: its own user, mount, PID (for its children), IPC and network
    namespaces; a fresh /tmp and /dev/shm, a read-only /dev; of the spool, only `writable`; of
    the zygote's extra read-only folders, only `read_only` (`hidden` ones covered by empty
    folders); the Python `environment`, read-only, wherever it is (under /tmp too)."""
    uid, gid = os.getuid(), os.getgid()
    # a network namespace of its own too: no abstract socket shared with runs beside it
    _unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWNET)
    _map_ids(uid, gid)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    for path in writable:
        if not Path(path).resolve().is_relative_to(spool) or Path(path).resolve() == spool:
            raise ValueError(f"{path} is not a run's folder in the spool")
    # what /tmp (and the spool) will cover waits in a holder, and comes back on top
    covered = [path for path in (*environment, *read_only)
               if Path(path).is_relative_to("/tmp") or Path(path).is_relative_to(spool)]
    kept = [(path, False) for path in writable] + [(path, True) for path in covered]
    holders = []
    for index, (path, _) in enumerate(kept):
        holder = f"{HOLDERS}/{os.getpid()}-{index}"
        os.mkdir(holder)
        _mount(path, holder, None, _MS_BIND | _MS_REC)
        holders.append(holder)
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    if not spool.is_relative_to("/tmp"):
        _mount("tmpfs", str(spool), "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755")
    for holder, (path, _) in zip(holders, kept):
        os.makedirs(path, exist_ok=True)
        _mount(holder, path, None, _MS_BIND | _MS_REC)  # a read-only folder's copy stays read-only
    for path in hidden:
        if os.path.isdir(path):  # (one under /tmp is gone already)
            _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY, "mode=0755")
    _mount("tmpfs", HOLDERS, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_RDONLY, "mode=0755")
    # the zygote's /dev is shared by its runs: a fresh /dev/shm, and nothing new in /dev
    _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    kept = sum(flag for st_flag, flag in _KEPT_FLAGS.items() if os.statvfs("/dev").f_flag & st_flag)
    _mount(None, "/dev", None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | kept)


def _init(request: dict, fds: list[int], status_pipe: int) -> None:
    """PID 1 of the run's namespace, as bubblewrap is in a cold sandbox: it drops what it could
    change of the mounts (a second user namespace: they become locked), starts the run, reaps
    the orphans the run leaves, and writes the run's wait status to `status_pipe`. When it ends,
    the kernel ends every process of the namespace. Never returns."""
    try:
        _unshare(_CLONE_NEWUSER)
        _map_ids(os.getuid(), os.getgid())
        run = os.fork()
    except BaseException:  # noqa: BLE001
        os._exit(70)
    if run == 0:
        os.close(status_pipe)
        _become(request, fds)
    for fd in fds:
        os.close(fd)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(70)
        if pid == run:
            os.write(status_pipe, str(status).encode())
            os._exit(0)


def _become(request: dict, fds: list[int]) -> None:
    """The run's process (PID 2 of its namespace): the client's streams, folder and environment,
    then `python -m MODULE ARGS`. Never returns."""
    code = 0
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**request["env"], **SANDBOX_ENVIRONMENT})
        os.environ.pop("JPY_PARENT_PID", None)
        for folder in ("/tmp/matplotlib", "/tmp/ipython", "/tmp/jupyter"):
            os.makedirs(folder, exist_ok=True)
        random.seed()  # a fresh interpreter's random state, not the zygote's
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        argv = request["argv"]
        if argv[1:2] not in (["-m"], ["-c"]) or len(argv) < 3:
            raise ValueError(f"a warm run is `python -m MODULE ...` or `python -c CODE ...`, not {argv[:3]}")
        sys.path[0] = request["cwd"] if argv[1] == "-m" else ""
        if argv[1] == "-c":
            sys.argv = ["-c", *argv[3:]]
            exec(compile(argv[2], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        else:
            sys.argv = [argv[2], *argv[3:]]
            sys.modules.pop(argv[2], None)  # preloaded: run afresh as __main__, as `python -m` would
            runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001  (the run's own error: reported like a fresh interpreter's)
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _send(connection: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        connection.sendall(json.dumps(message).encode() + b"\n")


def _supervise(connection: socket.socket, child: int, limit: int, status_pipe: int) -> None:
    """Wait for the run's namespace (`child`, its PID 1); stop it when the client leaves or its
    processes pass `limit`; tell the client how the run ended."""
    stopped = None
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            break
        readable, _, _ = select.select([connection], [], [], 0.2)
        if readable and not connection.recv(1):  # the client is gone: so is the run
            os.kill(child, signal.SIGKILL)
        if stopped is None and count_processes(child) > limit:
            stopped = f"the notebook started more than {limit} processes; its kernel was stopped"
            os.kill(child, signal.SIGKILL)  # PID 1 of its namespace: every process in it goes too
    with os.fdopen(status_pipe, "rb") as pipe:
        written = pipe.read()
    if written and stopped is None:  # the run ended by itself: its own status
        status = int(written)
    _send(connection, {"exit": os.waitstatus_to_exitcode(status), "stopped": stopped})


def _run(connection: socket.socket, spool: Path, environment: list[str]) -> None:
    """A forked child of the zygote: one run, from the client's request to its end."""
    try:
        data, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
        while not data.endswith(b"\n"):
            more = connection.recv(1 << 20)
            if not more:
                os._exit(0)
            data += more
        request = json.loads(data)
        if len(fds) != 3:
            raise ValueError("the client sent no standard streams")
        _isolate(spool, request["writable"], request["read_only"], request["hidden"], environment)
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:
            connection.close()
            os.close(reader)
            _init(request, fds, writer)
        os.close(writer)
        for fd in fds:
            os.close(fd)
        _supervise(connection, child, int(request["processes"]), reader)
    except BaseException as err:  # noqa: BLE001  (told to the client, which fails the run)
        _send(connection, {"error": f"{type(err).__name__}: {err}"})
    os._exit(0)


def _preload(extra: tuple[str, ...] = ()) -> None:
    """Import PRELOAD, then `extra` (the assignment's own, its grading.py's PRELOAD), then every
    module of PRELOAD_PACKAGES."""
    for name in (*PRELOAD, *extra):
        importlib.import_module(name)
    for package in PRELOAD_PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            with contextlib.suppress(Exception):
                importlib.import_module(info.name)


def _unimported_modules(environment: list[str]) -> list[str]:
    """Modules that the zygote has not imported, one from each folder of the environment on the
    import path (a plain module, the first by name) and the kit's student packages: what a run
    must be able to import on its own, as a student's `import scipy` or numpy's lazy submodules."""
    names = [name for name in STUDENT_PACKAGES if name not in sys.modules]
    for entry in dict.fromkeys(str(Path(entry).resolve()) for entry in sys.path if entry):
        if not os.path.isdir(entry) or not any(Path(entry).is_relative_to(folder) for folder in environment):
            continue
        found = sorted(info.name for info in pkgutil.iter_modules([entry])
                       if not info.ispkg and not info.name.startswith("_") and info.name not in sys.modules
                       and info.name not in ("antigravity", "this"))
        names += found[:1]
    return names


def _trial(spool: Path, environment: list[str]) -> None:
    """Fork a run that makes its namespaces, lists the environment's folders and imports modules
    not imported yet, then exits: raise Unavailable, saying why, where a run could not."""
    listed = {folder: sorted(os.listdir(folder)) for folder in environment if os.path.isdir(folder)}
    modules = _unimported_modules(environment)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        try:
            _isolate(spool, [], [], [], environment)
            inner = os.fork()
            if inner == 0:
                try:
                    _unshare(_CLONE_NEWUSER)
                    _map_ids(os.getuid(), os.getgid())
                    for folder, names in listed.items():
                        if sorted(os.listdir(folder)) != names:
                            raise Unavailable(f"a run does not see the environment's folder {folder}")
                    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), \
                            contextlib.redirect_stderr(quiet):
                        for name in modules:
                            try:
                                importlib.import_module(name)
                            except ImportError as err:  # only what a missing folder causes
                                raise Unavailable(f"a run cannot import {name} ({type(err).__name__}: {err})") from err
                            except Exception:  # noqa: BLE001  (a module that fails anywhere: not our concern)
                                pass
                    os._exit(0)
                except BaseException as err:  # noqa: BLE001
                    os.write(writer, str(err).encode())
                    os._exit(1)
            os._exit(os.waitstatus_to_exitcode(os.waitpid(inner, 0)[1]))
        except BaseException as err:  # noqa: BLE001
            os.write(writer, str(err).encode())
            os._exit(1)
    os.close(writer)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(reader, "rb") as handle:
        said = handle.read().decode(errors="replace")
    if status != 0:
        raise Unavailable(f"a warm run could not be started in the sandbox here ({said or status})")


def serve(spool: Path, environment: list[str], preload: tuple[str, ...] = ()) -> None:
    """The zygote: import (PRELOAD and the assignment's `preload`), check, say `ready`, then fork
    one run per connection, forever."""
    _preload(preload)
    if threading.active_count() != 1:
        raise Unavailable("an import started a thread; forking would copy it broken")
    _set_dumpable(False)  # runs of the same user cannot read or write this process's memory
    _trial(spool, environment)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(spool / SOCKET_NAME))
    listener.listen(64)
    print("ready", flush=True)
    with open(os.devnull, "w") as quiet:
        os.dup2(quiet.fileno(), 1)
        os.dup2(quiet.fileno(), 2)
    while True:
        readable, _, _ = select.select([listener], [], [], 1.0)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        if not readable:
            continue
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            _run(connection, spool, environment)
        connection.close()


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    spool = Path(argv[0]).resolve()
    environment = [arg.removeprefix("--show=") for arg in argv[1:] if arg.startswith("--show=")]
    preload = tuple(arg.removeprefix("--preload=") for arg in argv[1:] if arg.startswith("--preload="))
    try:
        serve(spool, environment, preload)
    except Exception as err:  # noqa: BLE001  (said to the grader, which starts processes cold)
        print(f"{type(err).__name__}: {err}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
