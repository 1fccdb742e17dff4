"""The student wheel and bundle: what the notebook needs, and nothing of the instructor's.

Oracle for "no solution": every line (stripped, at least 20 characters) inside the solution and
hidden-test regions of the instructor's notebook; no shipped file may contain one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from grader.kit.student_bundle import _runtime_dependencies, build_bundle, build_student_wheel
from vaelab_core import __version__
from vaelab_core.errors import VaelabError

REPO = Path(__file__).resolve().parents[2]
STUDENT = REPO / "labs" / "vae_speech" / "vae_speech.ipynb"
SOURCE = REPO / "solutions" / "vae_speech" / "vae_speech.ipynb"
WHEEL_NAME = f"vaelab_core-{__version__}-py3-none-any.whl"


def _region_lines(source: str, begin: str, end: str) -> set[str]:
    lines, inside = set(), False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(begin):
            inside = True
        elif stripped.startswith(end):
            inside = False
        elif inside and len(stripped) >= 20:
            lines.add(stripped)
    return lines


SECRET_LINES = set()
for _source in sorted((REPO / "solutions").glob("*/*.ipynb")):  # every lab's: the wheel holds all their checks
    for _cell in nbformat.read(_source, as_version=4).cells:
        SECRET_LINES |= _region_lines(_cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
        SECRET_LINES |= _region_lines(_cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def _members(archive_path: Path, prefix: str = "") -> dict[str, bytes]:
    """{name: bytes} of a ZIP, with wheels inside it opened too (named `outer.whl!inner`)."""
    out = {}
    with zipfile.ZipFile(archive_path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            out[prefix + name] = data
            if name.endswith(".whl"):
                inner = archive_path.parent / f".{Path(name).name}.inner"
                inner.write_bytes(data)
                out |= _members(inner, prefix=f"{prefix}{name}!")
                inner.unlink()
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_student_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle([STUDENT], tmp_path_factory.mktemp("bundle") / "vae_speech_student_bundle.zip",
                        "vae_speech")


def test_secret_lines_are_found():
    assert len(SECRET_LINES) >= 10, "the oracle found almost no solution lines: did the markers change?"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["wheel", "bundle"])
def test_nothing_of_the_instructor_is_shipped(which, request):
    members = _members(request.getfixturevalue(which))
    for name, data in members.items():
        parts = PurePosixPath(name.replace("!", "/")).parts
        assert "grader" not in parts and "solutions" not in parts, f"{name}: instructor code shipped"
        assert parts[-1] not in ("grading.py", "bands.json"), f"{name}: grading material shipped"
        text = data.decode("utf-8", errors="ignore")
        leaked = sorted(line for line in SECRET_LINES if line in text)
        assert not leaked, f"{name} contains solution/hidden-test lines: {leaked[:3]}"


@pytest.mark.slow
def test_wheel_holds_the_notebook_packages_and_pins(wheel):
    assert wheel.name == WHEEL_NAME
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"vaelab_core-{__version__}.dist-info/METADATA").decode()
        entry_points = next((archive.read(n).decode() for n in names if n.endswith("entry_points.txt")), "")
    assert "vaelab_core/model.py" in names
    assert "vaelab_core/checking.py" in names and "vaelab_core/labs/vae_speech/method_checks.py" in names
    for init in (REPO / "vaelab_core").rglob("__init__.py"):  # the labs' checks are subpackages
        assert init.relative_to(REPO).as_posix() in names
    assert any(re.fullmatch(r"vaelab_core/pretrained/[^/]+\.pt", n) for n in names), \
        "the pre-trained checkpoint (package data) is missing"
    # Every package and subpackage of data_prep in the repository, found the same way a build must.
    for init in (REPO / "data_prep").rglob("__init__.py"):
        assert init.relative_to(REPO).as_posix() in names
    assert "data_prep/preprocess.py" in names
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, flags=re.MULTILINE)
    assert "torch==2.11.0" in requires and "torchaudio==2.11.0" in requires, requires  # the exact tested pair
    assert not any(r.startswith(("nbgrader", "pypdf", "nbclient", "nbconvert")) for r in requires), requires
    assert "Name: vaelab-core" in metadata and f"Version: {__version__}" in metadata
    assert "grader" not in entry_points and "console_scripts" not in entry_points, entry_points


@pytest.mark.slow
def test_wheel_code_imports_from_the_wheel(wheel, tmp_path):
    """With the extracted wheel first on sys.path (ahead of the dev venv's editable finder), the
    notebook's modules import, and from the wheel's copy."""
    extracted = tmp_path / "extracted"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(extracted)
    code = ("import vaelab_core.model, vaelab_core.labs.vae_speech.method_checks, vaelab_core.checkpoints, "
            "data_prep.preprocess, data_prep.defaults\n"
            "from pathlib import Path\n"
            "for m in (vaelab_core.model, data_prep.preprocess, data_prep.defaults):\n"
            f"    assert Path(m.__file__).is_relative_to({str(extracted)!r}), m.__file__\n"
            "assert vaelab_core.checkpoints.pretrained_path().is_file()\n")
    env = {**os.environ, "PYTHONPATH": str(extracted)}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.slow
def test_wheel_installs_alone_without_grader(wheel, tmp_path):
    """In a fresh venv (no dev site-packages, so no editable `vaelab`), the wheel installs with no
    index, brings its files and no `vaelab` command, and `grader` does not exist."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "-q", str(wheel)], check=True, env=env, cwd=tmp_path)
    show = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "show", "-f", "vaelab-core"],
                          check=True, env=env, cwd=tmp_path, capture_output=True, text=True).stdout
    assert "vaelab_core/model.py" in show and "data_prep/preprocess.py" in show
    assert re.search(r"vaelab_core/pretrained/\S+\.pt", show)
    # vaelab_core/__init__ and errors need no torch: a cheap proof that the installed copy is used.
    code = ("import vaelab_core, vaelab_core.errors, data_prep, sys\n"
            "assert vaelab_core.__file__.startswith(sys.prefix), vaelab_core.__file__\n"
            "try:\n    import grader\nexcept ModuleNotFoundError:\n    pass\n"
            "else:\n    raise SystemExit(f'grader importable from {grader.__file__}')\n")
    run = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr + run.stdout
    assert not (venv / "bin" / "vaelab").exists()


@pytest.mark.slow
def test_bundle_layout_and_install_notes(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = sorted(archive.namelist())
        install = archive.read("vae_speech/INSTALL.md").decode()
        notebook = archive.read("vae_speech/vae_speech.ipynb")
        lock = archive.read("vae_speech/requirements.lock")
    assert names == sorted(["vae_speech/INSTALL.md", "vae_speech/vae_speech.ipynb", f"vae_speech/{WHEEL_NAME}",
                           "vae_speech/requirements.lock"])
    assert notebook == STUDENT.read_bytes()
    assert lock == (REPO / "requirements.lock").read_bytes()
    for needed in ("python3 -m venv .venv", f".venv/bin/pip install -c requirements.lock {WHEEL_NAME} jupyterlab",
                   "data_prep.defaults", "VAELAB_SPEAKER_A", "VAELAB_SPEAKER_B",
                   "jupyter lab vae_speech.ipynb", "3 pages", "PDF", "ZIP"):
        assert needed in install, f"INSTALL.md does not mention {needed!r}"
    assert "pip install -e" not in install


@pytest.mark.slow
def test_bundle_install_resolves_to_the_locked_versions(bundle, tmp_path):
    """INSTALL.md's own pip command, run as a dry run in a fresh venv: every package it would install
    is in the shipped lock, at the locked version (the registry's newer releases are not taken)."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / "vae_speech"
    install = (folder / "INSTALL.md").read_text()
    (command,) = re.findall(r"^\.venv/bin/pip (install .+)$", install, flags=re.MULTILINE)
    subprocess.run([sys.executable, "-m", "venv", str(folder / ".venv")], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    run = subprocess.run([str(folder / ".venv" / "bin" / "pip"), *command.split(), "--dry-run", "-q",
                          "--report", str(tmp_path / "report.json")],
                         cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    chosen = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
              for item in json.loads((tmp_path / "report.json").read_text())["install"]}
    # The lock's entries for this platform and Python (the venv runs the Python running the tests).
    lines = [Requirement(line) for line in (folder / "requirements.lock").read_text().splitlines()
             if line.strip() and not line.startswith((" ", "#"))]
    locked = {canonicalize_name(r.name): next(iter(r.specifier)).version for r in lines
              if r.marker is None or r.marker.evaluate()}
    assert chosen.pop("vaelab-core") == __version__
    assert {"torch", "torchaudio", "jupyterlab"} <= set(chosen)
    unlocked = sorted(set(chosen) - set(locked))
    assert not unlocked, f"the student install takes packages the lock does not pin: {unlocked}"
    off = {name: (version, locked[name]) for name, version in chosen.items() if version != locked[name]}
    assert not off, f"the student install leaves the lock (chosen, locked): {off}"
    assert "nbgrader" not in chosen, "the lock is a constraint for students, not a list to install"


def test_bundle_refuses_the_instructors_notebook(tmp_path):
    out = tmp_path / "bundle.zip"
    with pytest.raises(VaelabError, match="instructor's source notebook"):
        build_bundle([SOURCE], out, "vae_speech")
    assert not out.exists()


def test_shipped_code_importing_grader_is_refused(tmp_path):
    (tmp_path / "data_prep").mkdir()
    (tmp_path / "data_prep" / "leaky.py").write_text("def f():\n    from grader.assignment import x\n")
    with pytest.raises(VaelabError, match=r"grader in data_prep/leaky\.py"):
        _runtime_dependencies(tmp_path, ["torch==2.11.*"])


def test_dependencies_keep_the_root_pins_and_refuse_undeclared_libraries(tmp_path):
    (tmp_path / "vaelab_core").mkdir()
    (tmp_path / "vaelab_core" / "a.py").write_text("import torchaudio\nimport torch.nn\nfrom IPython import display\n")
    root = ["torch==2.11.*", "torchaudio==2.11.*", "nbgrader>=0.9.5", "ipython>=8.20"]
    assert _runtime_dependencies(tmp_path, root) == ["torch==2.11.*", "torchaudio==2.11.*", "ipython>=8.20"]
    (tmp_path / "vaelab_core" / "b.py").write_text("import some_unlisted_library\n")
    with pytest.raises(VaelabError, match="some_unlisted_library"):
        _runtime_dependencies(tmp_path, root)


def test_a_library_that_only_a_lab_notebook_imports_is_required_too(tmp_path):
    (tmp_path / "vaelab_core").mkdir()
    (tmp_path / "vaelab_core" / "a.py").write_text("import torch\n")
    notebook = tmp_path / "labs" / "lab" / "lab.ipynb"
    notebook.parent.mkdir(parents=True)
    cells = [nbformat.v4.new_code_cell("import librosa.feature.spectral\nimport scipy.stats"),
             nbformat.v4.new_code_cell("%matplotlib inline"), nbformat.v4.new_code_cell("def f(:\n    pass")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    root = ["torch==2.11.*", "librosa>=0.11", "scipy>=1.11", "nbgrader>=0.9.5"]
    assert _runtime_dependencies(tmp_path, root, [notebook]) == ["torch==2.11.*", "librosa>=0.11", "scipy>=1.11"]
    with pytest.raises(VaelabError, match=r"scipy \(in lab/lab.ipynb cell 0\)"):
        _runtime_dependencies(tmp_path, root[:2], [notebook])
