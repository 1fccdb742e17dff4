"""Warm starts (grader/engine/warm.py): a run forked from the zygote gets a sandbox of its own.

Each test starts real runs from one real zygote (bubblewrap, namespaces, the warm client), the
way the engine starts a submission's probe and kernel, and checks what the run can and cannot
reach. The lab's own grading through warm starts is tested by the course, hostile and Dask tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.engine import warm
from grader.engine.environment import kernel_environment
from grader.engine.sandbox import Limits, Sandbox, bwrap_binary

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux") or bwrap_binary() is None,
                                 reason="warm starts need Linux and bubblewrap")]

GRADER = Path(warm.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    data = tmp_path_factory.mktemp("warm-data")
    (data / "speaker.txt").write_text("the course's data")
    try:
        started = warm.Zygote.start([data], kernel_environment({}, data, threads=1),
                                    Limits(processes=48))  # the watchdog's limit: 12 processes
    except warm.WarmUnavailable as err:
        pytest.fail(f"warm starts must work on the test machine: {err}")
    yield started, data
    started.close()
    assert not started.spool.exists()


def run(zygote, code: str, read_only=(), report: Path | None = None, timeout: float = 120):
    """Run `python -c code` warm in a private folder; (the finished process, the folder's files)."""
    started, _ = zygote
    sandbox = Sandbox(read_only=list(read_only), warm=started, report=report, limits=Limits(processes=48))
    with sandbox.tempdir("vaelab-test-") as folder:
        sandbox.writable = [Path(folder)]
        command = sandbox.command([sys.executable, "-c", code], Path(folder))
        assert str(warm.CLIENT) in command  # warm, not a cold bubblewrap start
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=folder,
                              env=kernel_environment({}, Path(folder), threads=1))
        return done, {p.name: p.read_text() for p in Path(folder).iterdir() if p.is_file()}, Path(folder)


def test_a_run_starts_warm_with_its_folder_streams_and_environment(zygote):
    done, files, folder = run(zygote, "import os, sys, torch\n"
                                      "print(os.getcwd(), os.environ['VAELAB_OUT'], os.environ['HOME'])\n"
                                      "print('to stderr', file=sys.stderr)\n"
                                      "open('made.txt', 'w').write(str(torch.ones(2).sum().item()))\n"
                                      "print(sorted(m for m in ('torch', 'matplotlib.pyplot', 'IPython') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{folder} {folder} /tmp"
    assert lines[1] == "['IPython', 'matplotlib.pyplot', 'torch']"  # imported once, by the zygote
    assert "to stderr" in done.stderr and files == {"made.txt": "2.0"}


def test_a_run_sees_only_its_own_folder_and_a_fresh_tmp(zygote):
    started, data = zygote
    first, _, first_folder = run(zygote, "open('/tmp/left-behind', 'w').write('x')\nopen('mine', 'w').write('x')")
    assert first.returncode == 0, first.stderr
    with started.tempdir("vaelab-other-") as other:
        (Path(other) / "secret").write_text("another run's file")
        done, _, folder = run(zygote, "import os, sys\n"
                                      f"print(os.path.exists('/tmp/left-behind'), os.path.exists({other!r}))\n"
                                      f"print(sorted(os.listdir({str(started.spool)!r})))\n"
                                      f"print(os.path.isdir({str(GRADER)!r}) and os.listdir({str(GRADER)!r}))\n"
                                      f"print(open({str(data / 'speaker.txt')!r}).read())\n"
                                      f"try:\n    open({str(data / 'new')!r}, 'w')\nexcept OSError as err:\n"
                                      "    print(type(err).__name__)\n", read_only=[data])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "False False"  # nothing of the earlier run, nor of another run's folder
    assert lines[1] == f"[{folder.name!r}]"  # of the spool: its own folder; not the zygote's socket
    # the grader is not there for a kernel: an empty folder over it, or (a checkout under /tmp) no folder
    assert lines[2] in ("[]", "False")
    assert lines[3] == "the course's data" and lines[4] == "OSError"  # the data: read-only
    probe, _, _ = run(zygote, f"import os\nprint(len(os.listdir({str(GRADER)!r})) > 0)", read_only=[GRADER])
    assert probe.stdout.strip() == "True"  # the probe's view has it


def test_runs_share_nothing_through_dev_or_an_abstract_socket(zygote):
    started, _ = zygote
    # run 1 stays up with an abstract Unix socket bound and files left in /dev/shm
    first = Sandbox(warm=started)
    with first.tempdir("vaelab-test-") as folder:
        first.writable = [Path(folder)]
        command = first.command([sys.executable, "-c",
                                 "import socket, sys, time\n"
                                 "open('/dev/shm/left', 'w').write('x')\n"
                                 "try:\n    open('/dev/planted', 'w')\nexcept OSError:\n    print('dev is read-only')\n"
                                 "s = socket.socket(socket.AF_UNIX)\ns.bind('\\0vaelab-test-channel')\ns.listen()\n"
                                 "print('bound', flush=True)\ntime.sleep(60)"], Path(folder))
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=folder,
                              env=kernel_environment({}, Path(folder), threads=1)) as beside:
            assert beside.stdout.readline() == "dev is read-only\n" and beside.stdout.readline() == "bound\n"
            done, _, _ = run(zygote, "import os, socket\n"
                                     "print(os.listdir('/dev/shm'), os.path.exists('/dev/planted'))\n"
                                     "s = socket.socket(socket.AF_UNIX)\n"
                                     "try:\n    s.connect('\\0vaelab-test-channel')\n    print('connected')\n"
                                     "except OSError:\n    print('alone')\n")
            beside.kill()
    assert done.stdout.splitlines() == ["[] False", "alone"], done.stderr


def test_a_run_cannot_reach_the_zygote_nor_undo_its_view(zygote):
    started, _ = zygote
    done, _, _ = run(zygote, "import ctypes, json, os, signal\n"
                             "me = int(os.readlink('/proc/self'))  # in the numbering of the /proc it sees\n"
                             "init = int(open('/proc/self/stat').read().rsplit(')', 1)[1].split()[1])\n"
                             "others = [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) not in (me, init)]\n"
                             "read = []\n"
                             "for pid in others:\n"
                             "    for name in ('mem', 'environ', 'cwd/.'):\n"
                             "        try:\n            os.stat(f'/proc/{pid}/{name}') if name == 'cwd/.' else "
                             "open(f'/proc/{pid}/{name}', 'rb').read(1); read.append([pid, name])\n"
                             "        except OSError:\n            pass\n"
                             "    if pid > 2:  # 1 and 2 are this run's own init and itself in its numbering\n"
                             "        try:\n            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n"
                             "libc = ctypes.CDLL(None, use_errno=True)\n"
                             f"undone = [p for p in ('/tmp', {str(started.spool)!r}, '/') if libc.umount2(p.encode(), 2) == 0]\n"
                             "print(json.dumps([os.getpid(), len(others), read, undone]))")
    assert done.returncode == 0, done.stderr
    pid, others, read, undone = json.loads(done.stdout)
    assert pid == 2 and others >= 2  # it sees the zygote and its supervisor in /proc...
    assert read == [] and undone == []  # ...but cannot read their memory, environment or folder
    assert started.alive and run(zygote, "print('next')")[0].stdout == "next\n"  # nor kill them


def test_the_exit_status_and_a_signal_death_pass_through_the_client(zygote):
    assert run(zygote, "import os\nos._exit(3)")[0].returncode == 3
    assert run(zygote, "raise SystemExit(4)")[0].returncode == 4
    assert run(zygote, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)")[0].returncode == -15
    failed = run(zygote, "raise ValueError('broken')")[0]
    assert failed.returncode == 1 and "ValueError: broken" in failed.stderr


def test_processes_a_run_leaves_behind_end_with_it(zygote):
    done, _, _ = run(zygote, "import subprocess\nsubprocess.Popen(['sleep', '417'], start_new_session=True)")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _sleepers("417"):
        time.sleep(0.2)
    assert not _sleepers("417")


def test_the_watchdog_stops_a_run_that_starts_too_many_processes(zygote, tmp_path):
    report = tmp_path / "stopped.txt"
    done, _, _ = run(zygote, "import subprocess, time\n"
                             "children = [subprocess.Popen(['sleep', '418']) for _ in range(30)]\n"
                             "time.sleep(60)", report=report, timeout=50)
    assert done.returncode == -9
    assert report.read_text() == "the notebook started more than 12 processes; its kernel was stopped"
    assert not _sleepers("418")


def test_a_view_the_zygote_cannot_show_starts_cold(zygote, tmp_path):
    started, _ = zygote
    sandbox = Sandbox(read_only=[tmp_path], writable=[tmp_path], warm=started)
    command = sandbox.command([sys.executable, "-c", "pass"], tmp_path)
    assert str(warm.CLIENT) not in command and bwrap_binary() in command
    # a zygote that no longer answers (its process died): cold too, not a run that cannot start
    (tmp_path / "spool").mkdir()
    gone = warm.Zygote.attach(tmp_path / "spool")
    assert not gone.alive and attached_to(started).alive
    with started.tempdir("vaelab-test-") as folder:
        command = Sandbox(writable=[Path(folder)], warm=gone).command([sys.executable, "-c", "pass"], Path(folder))
    assert str(warm.CLIENT) not in command and bwrap_binary() in command


def attached_to(started):
    """The zygote as a grading process of the local pool sees it (through its spool)."""
    started.write_view()
    return warm.Zygote.attach(started.spool)


def _sleepers(argument: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and Path(f"/proc/{entry.name}/cmdline").read_bytes() == f"sleep\0{argument}\0".encode():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def test_a_zygote_that_cannot_start_leaves_grading_cold_and_says_why(tmp_path, capsys):
    missing = tmp_path / "no-such-data"
    spools = set(Path(tempfile.gettempdir()).glob("vaelab-warm-*"))
    with pytest.raises(warm.WarmUnavailable, match="did not start"):
        warm.Zygote.start([missing], kernel_environment({}, tmp_path, threads=1))
    assert warm.open_zygote([missing], kernel_environment({}, tmp_path, threads=1), threads=1) is None
    assert "each submission starts its own interpreters" in capsys.readouterr().err
    assert set(Path(tempfile.gettempdir()).glob("vaelab-warm-*")) <= spools  # no spool left behind


def test_a_shared_zygote_that_died_is_replaced_and_its_spool_removed(tmp_path):
    """A Dask worker keeps its zygote for the course; one that died (a run killed it) is started
    again on the next submission, and the dead one's folder does not stay in the temporary folder."""
    data = tmp_path / "data"
    data.mkdir()
    env = kernel_environment({}, data, threads=1)
    first = warm.open_zygote([data], env, threads=1)
    try:
        first.process.kill()
        first.process.wait()
        second = warm.open_zygote([data], env, threads=1)
        assert second is not first and second.alive
        assert not first.spool.exists()
    finally:
        warm.close_shared()
    assert not second.spool.exists()


def test_the_spool_of_a_grader_killed_by_a_signal_is_swept_by_the_next_zygote(tmp_path, monkeypatch):
    """A grader killed with SIGKILL (a Dask worker stopped by its nanny) never closes its zygote:
    the zygote dies with it, its spool stays. The next zygote started on the machine removes it,
    and leaves alone a live zygote's spool and one whose zygote may still be starting."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    grader = ("import sys, time\nfrom pathlib import Path\nfrom grader.engine import warm\n"
              "from grader.engine.environment import kernel_environment\n"
              "data = Path(sys.argv[1])\n"
              "z = warm.open_zygote([data], kernel_environment({}, data, threads=1), threads=1)\n"
              "print(z.spool, flush=True)\ntime.sleep(600)\n")
    killed = []
    for _ in range(2):
        process = subprocess.Popen([sys.executable, "-c", grader, str(data)], stdout=subprocess.PIPE, text=True,
                                   cwd=GRADER.parent, env={**os.environ, "TMPDIR": str(folder)})
        killed.append(Path(process.stdout.readline().strip()))
        process.kill()
        process.wait()
    deadline = time.monotonic() + 30
    while any(warm.Zygote(spool).alive for spool in killed) and time.monotonic() < deadline:
        time.sleep(0.1)  # the zygotes die with their grader
    old, recent = killed
    os.utime(old, (time.time() - warm.START_SECONDS - 60,) * 2)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    live = warm.Zygote.start([data], kernel_environment({}, data, threads=1))
    try:
        os.utime(live.spool, (time.time() - warm.START_SECONDS - 60,) * 2)
        assert not old.exists()  # swept by the start of `live`
        assert recent.exists()  # too young to tell from a zygote still importing
        assert warm.sweep_stale_spools(folder) == [] and live.spool.exists() and live.alive
    finally:
        live.close()
    os.utime(recent, (time.time() - warm.START_SECONDS - 60,) * 2)
    assert warm.sweep_stale_spools(folder) == [recent] and not any(folder.iterdir())


def test_runs_import_from_an_environment_under_a_temporary_folder(tmp_path, monkeypatch):
    """A virtual environment, a clone or a PYTHONPATH folder under /tmp: warm and cold runs both
    import from it (a warm run's fresh /tmp used to hide it: every submission failed)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "vaelab_tmp_module.py").write_text("VALUE = 'found under tmp'\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    monkeypatch.setenv("PYTHONPATH", str(site))
    data = tmp_path / "data"
    data.mkdir()
    started = warm.Zygote.start([data], kernel_environment({}, data, threads=1))
    try:
        code = "import json, numpy.polynomial, vaelab_tmp_module\nprint(vaelab_tmp_module.VALUE)"
        for sandbox in (Sandbox(warm=started), Sandbox()):
            with sandbox.tempdir("vaelab-test-") as folder:
                sandbox.writable = [Path(folder)]
                command = sandbox.command([sys.executable, "-c", code], Path(folder))
                assert (str(warm.CLIENT) in command) == (sandbox.warm is not None)
                done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=folder,
                                      env=kernel_environment({}, Path(folder), threads=1))
            assert (done.returncode, done.stdout) == (0, "found under tmp\n"), done.stderr
    finally:
        started.close()


def test_a_zygote_whose_runs_cannot_see_the_environment_is_not_ready(tmp_path):
    """The trial fork imports what the zygote has not: with the environment's folder under /tmp
    left out of a run's view (as before it was brought back), the zygote refuses to serve."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "vaelab_tmp_module.py").write_text("VALUE = 1\n")
    spool = tmp_path / "spool"
    spool.mkdir()
    script = ("import sys\nfrom pathlib import Path\nfrom grader.engine import zygote\n"
              f"sys.path.append({str(site)!r})\n"
              "isolate = zygote._isolate\n"
              "zygote._isolate = lambda spool, writable, read_only, hidden, environment: isolate(spool, writable, read_only, hidden, [])\n"
              f"try:\n    zygote._trial(Path({str(spool)!r}), [{str(site)!r}])\n"
              "except zygote.Unavailable as err:\n    print('refused:', err)\nelse:\n    print('ready')\n")
    sandbox = Sandbox(read_only=[site, GRADER], writable=[spool])
    command = sandbox.command([sys.executable, "-c", script], spool, zygote=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=kernel_environment({}, spool, threads=1))
    assert done.stdout.startswith("refused:") and str(site) in done.stdout, (done.stdout, done.stderr)


def test_an_assignment_s_own_slow_imports_are_made_once_by_the_zygote(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    started = warm.Zygote.start([data], kernel_environment({}, data, threads=1), Limits(processes=48),
                                preload=("xml.dom.minidom",))
    try:
        done, _, _ = run((started, data), "import sys; print('xml.dom.minidom' in sys.modules)")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "True"  # imported by the zygote, before the fork
    finally:
        started.close()


def test_the_kit_s_zygote_does_not_import_what_one_assignment_needs(zygote):
    done, _, _ = run(zygote, "import sys; print('xml.dom.minidom' in sys.modules, 'librosa' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False False"
