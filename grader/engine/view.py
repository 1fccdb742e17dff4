"""What a sandboxed process sees of the machine: one definition for cold and warm starts.

A graded kernel or probe sees, read-only, what a student's own installation has: the system's
libraries (SYSTEM_READ_ONLY) and the Python environment the grader runs in (`environment`:
the interpreter, its standard library, site-packages, every folder on the import path, the
kit's student packages, an editable checkout's included). Those may live anywhere: under
`/tmp` (a CI runner's clone, a JupyterHub image), under a home folder, beside a course. A cold
sandbox (grader/engine/sandbox.py) binds them into its fresh `/tmp`; a warm run
(grader/engine/zygote.py) brings back the ones that its own fresh `/tmp` covers.

What a run must not see (the course: its solutions, gradebook, bands, other students' work;
the kit's `solutions/`) is never bound. Where the two meet (a course inside the environment's
folder), grading refuses with `check_hidden`, naming what to move: showing the environment
would show the course.
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from pathlib import Path

from vaelab_core.errors import VaelabError

#: Folders of the system that student code may read (when they exist).
SYSTEM_READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/alternatives",
                    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                    "/etc/ssl", "/etc/fonts", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf")
#: Packages of the kit a student's notebook imports (what the student wheel holds).
STUDENT_PACKAGES = ("vaelab_core", "data_prep")
#: Where sandboxed code keeps its caches and settings: its own /tmp (nothing of the grader's home).
SANDBOX_ENVIRONMENT = {"HOME": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
                       "JUPYTER_RUNTIME_DIR": "/tmp/jupyter"}
#: A tmpfs of the zygote's sandbox where a run's folders wait while its /tmp is replaced.
HOLDERS = "/.vaelab-holders"
#: The grader package (shown to the probe, never to a kernel) and the kit's solutions folder
#: (never shown: it sits beside the grader in a checkout, and is not installed).
GRADER_DIR = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = GRADER_DIR.parent / "solutions"


class ViewError(VaelabError):
    """What a run must not see lies inside what it must see; the message says what to move."""


def package_dir(name: str) -> Path:
    """The folder of the installed package `name` (an editable checkout's own folder)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ViewError(f"the package {name} is not installed: reinstall the kit (pip install -e .)")
    return Path(spec.origin).resolve().parent


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _outermost(paths: set[Path]) -> list[Path]:
    """`paths` without those inside another one of them (binding the outer one shows them)."""
    return sorted(p for p in paths if not any(q != p and p.is_relative_to(q) for q in paths))


def environment_roots() -> list[Path]:
    """The folders the Python environment cannot work without: the interpreter's prefixes, its
    standard library, site-packages and the student packages (resolved, existing)."""
    paths = sysconfig.get_paths()
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, paths["stdlib"], paths["platstdlib"],
             paths["purelib"], paths["platlib"], str(Path(sys.executable).resolve().parent.parent)}
    roots = {Path(p).resolve() for p in found if p and Path(p).exists()}
    return sorted(roots | {package_dir(name) for name in STUDENT_PACKAGES})


def environment(hidden: list[Path] = ()) -> list[Path]:
    """Every folder of the Python environment a run must see (see the module docstring): the
    roots, plus each folder that PYTHONPATH or a .pth file puts on the import path, unless it
    holds something of `hidden`, of the kit's solutions or of a home folder (a PYTHONPATH of
    `~` must not show the grader's home). The import path's first entry is the grader's own
    script folder or current folder, not the environment's: a fresh interpreter has its own."""
    secret = [Path(p).resolve() for p in (*hidden, SOLUTIONS_DIR, Path.home())]
    found = set(environment_roots())
    for entry in sys.path[0 if sys.flags.safe_path else 1:]:
        path = Path(entry or ".").resolve()
        if path.is_dir() and not any(_inside(s, path) for s in secret):
            found.add(path)
    return _outermost(found)


def check_hidden(hidden: list[Path]) -> None:
    """Raise ViewError when one of `hidden` (a course folder) lies inside a folder that every run
    must see: a sandbox cannot show the one and hide the other."""
    roots = environment_roots()
    for secret in (Path(p).resolve() for p in hidden):
        for root in roots:
            if _inside(secret, root):
                raise ViewError(f"the course folder {secret} is inside {root}, which the Python environment "
                                "needs and every graded notebook sees read-only: move the course folder out "
                                f"of {root} (for example beside it) and grade from there.")
