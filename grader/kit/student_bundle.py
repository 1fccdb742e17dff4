"""What a student receives: a wheel of the notebook's packages and a ZIP bundle around it.

The repository's own project (`vaelab`) also installs `grader` and sits beside `solutions/`, so
a student must not install it. Instead:

  build_student_wheel(OUT_DIR)   -> OUT_DIR/vaelab_core-<version>-py3-none-any.whl
      the distribution `vaelab-core`: the packages the lab notebook imports (`vaelab_core` with
      its shipped pre-trained checkpoint, `data_prep` and its subpackages), staged as copies in
      a temporary folder beside a generated pyproject.toml and built with `pip wheel`. Its
      dependencies are the root pyproject's requirements (same pins) of the libraries those
      packages import; no console script, no `vaelab.commands` entry point.
  build_bundle(NOTEBOOKS, OUT, ASSIGNMENT) -> OUT (a ZIP)
      ASSIGNMENT/<notebook>.ipynb ...   the student notebooks (from labs/)
      ASSIGNMENT/vaelab_core-<version>-py3-none-any.whl
      ASSIGNMENT/requirements.lock      the repository's lock: the exact versions the kit was tested with
      ASSIGNMENT/INSTALL.md             set up without the repository, run, hand in

Safety checks made while building (each raises VaelabError, saying what to fix): a shipped
module importing `grader` or `solutions`, or a library missing from the root dependencies; a
notebook still holding nbgrader solution or hidden-test markers (the instructor's source).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

from grader.engine.view import STUDENT_PACKAGES
from grader.workflow.zip_checks import MAX_PAGES
from vaelab_core.atomic_files import atomic_path
from vaelab_core.errors import VaelabError
from vaelab_core.installation import pair_pins

ROOT = Path(__file__).resolve().parents[2]

#: The packages the student notebook imports (cells `from vaelab_core ...` and
#: `from data_prep import preprocess`), with every subpackage found below them.

#: Package data: the pre-trained checkpoint that `vaelab_core.checkpoints.load_pretrained` reads.
PACKAGE_DATA = {"vaelab_core": ["pretrained/*.pt"]}

#: Top-level modules that must never be imported by what a student installs: they hold the reference
#: and the hidden tests, and a student who has the whole wheel must still have neither.
FORBIDDEN_IMPORTS = ("grader", "solutions")

#: Markers of nbgrader's source notebooks: a released student notebook has none of them.
SOURCE_MARKERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")

DISTRIBUTION = "vaelab-core"

#: The lock of the whole tested environment (README, "Installing and the lock"). Students install
#: through it as pip constraints: the wheel and JupyterLab at exactly the tested versions, and
#: none of the instructor's libraries.
LOCK = ROOT / "requirements.lock"

#: Lines of pip's output quoted in the error when the build fails.
PIP_TAIL_LINES = 25


def _canonical(name: str) -> str:
    """PEP 503 normalised distribution name: `Jupyter_Client` -> `jupyter-client`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    """`torch==2.11.*` -> `torch` (the name before any extra, version, marker or space)."""
    return _canonical(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1))


def _version() -> str:
    """vaelab_core.__version__, read from the source that is being shipped (not an installed copy)."""
    tree = ast.parse((ROOT / "vaelab_core" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise VaelabError(f"{ROOT / 'vaelab_core' / '__init__.py'} sets no __version__; the student wheel "
                      "takes its version from there.")


def _copy_packages(stage: Path) -> list[str]:
    """Copy STUDENT_PACKAGES (no __pycache__) into `stage`; returns the dotted package names found
    by walking for __init__.py (so a new subpackage such as data_prep/synth/ is included)."""
    packages = []
    for name in STUDENT_PACKAGES:
        shutil.copytree(ROOT / name, stage / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        packages += sorted(".".join(init.parent.relative_to(stage).parts)
                           for init in (stage / name).rglob("__init__.py"))
    return packages


def lab_notebooks() -> list[Path]:
    """The student notebooks of labs/, whose imports the wheel must satisfy too."""
    return sorted((ROOT / "labs").glob("*/*.ipynb"))


def _sources(stage: Path, notebooks: list[Path]) -> list[tuple[str, str]]:
    """(name, Python source) of every .py file in `stage`, and of every code cell of `notebooks`
    (the student notebooks): a library a lab's notebook imports (LibROSA in synth) is one the
    wheel must bring, though no shipped module imports it."""
    sources = [(str(path.relative_to(stage)), path.read_text(encoding="utf-8")) for path in sorted(stage.rglob("*.py"))]
    for notebook in notebooks:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
        for index, cell in enumerate(cells):
            if cell.get("cell_type") == "code":
                source = "".join(cell.get("source", []))
                if not source.lstrip().startswith(("%", "!")):
                    sources.append((f"{notebook.parent.name}/{notebook.name} cell {index}", source))
    return sources


def _imported_modules(stage: Path, notebooks: list[Path] = ()) -> dict[str, set[str]]:
    """{top-level module: {files importing it}} over `_sources(stage, notebooks)` (absolute
    imports, including those inside functions)."""
    found: dict[str, set[str]] = {}
    for name, source in _sources(stage, list(notebooks)):
        try:
            tree = ast.parse(source, filename=name)
        except SyntaxError:  # a student stub or a magic inside a cell: not the wheel's concern
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for imported in names:
                found.setdefault(imported.split(".")[0], set()).add(name)
    return found


def _runtime_dependencies(stage: Path, root_requirements: list[str], notebooks: list[Path] = ()) -> list[str]:
    """The root pyproject's requirements (pins as written) of the libraries the staged code and
    the student `notebooks` import.

    Raises VaelabError if a shipped module imports `grader`/`solutions`, or a library that the
    root project does not declare (the wheel would install without it).
    """
    imported = _imported_modules(stage, notebooks)
    leaks = {name: files for name, files in imported.items() if name in FORBIDDEN_IMPORTS}
    if leaks:
        where = "; ".join(f"{name} in {', '.join(sorted(files))}" for name, files in sorted(leaks.items()))
        raise VaelabError(f"the student wheel must not depend on instructor code, but {where} imports it. "
                          "Move what the student side needs into vaelab_core, which imports neither.")
    by_name = {_requirement_name(req): req for req in root_requirements}
    import_to_dists = packages_distributions()  # e.g. {"IPython": ["ipython"], "yaml": ["PyYAML"]}
    third_party = sorted(set(imported) - set(STUDENT_PACKAGES) - set(sys.stdlib_module_names))
    chosen, missing = {}, []
    for module in third_party:
        dists = [_canonical(d) for d in import_to_dists.get(module, [])] or [_canonical(module)]
        declared = [d for d in dists if d in by_name]
        if not declared:
            missing.append(f"{module} (in {', '.join(sorted(imported[module]))})")
        for dist in declared:
            chosen[dist] = by_name[dist]
    if missing:
        raise VaelabError(f"the student packages import {', '.join(missing)}, which the root pyproject.toml "
                          "does not list in [project] dependencies; add it there (with its pin) so the "
                          "student wheel requires it too.")
    # Keep the root's order (torch and torchaudio stay together, as pinned there).
    return [req for req in root_requirements if _requirement_name(req) in chosen]


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"  # JSON strings are TOML basic strings


def _pyproject(root_project: dict, build_system: dict, version: str, packages: list[str],
               dependencies: list[str], license_files: list[str]) -> str:
    """The staged project's pyproject.toml: setuptools, explicit packages, no scripts or entry points."""
    lines = [
        "[build-system]",
        f"requires = {_toml_list(build_system.get('requires', ['setuptools>=77']))}",
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f"name = {json.dumps(DISTRIBUTION)}",
        f"version = {json.dumps(version)}",
        "description = " + json.dumps("vaelab's student side: what the lab notebook imports "
                                      "(vaelab_core with the pre-trained model, data_prep)."),
        f"requires-python = {json.dumps(root_project.get('requires-python', '>=3.11'))}",
        f"dependencies = {_toml_list(dependencies)}",
    ]
    if isinstance(root_project.get("license"), str):
        lines.append(f"license = {json.dumps(root_project['license'])}")
    if license_files:
        lines.append(f"license-files = {_toml_list(license_files)}")
    lines += [
        "",
        "[tool.setuptools]",
        f"packages = {_toml_list(packages)}",
        "include-package-data = false",  # only the package data listed below, nothing else
        "",
        "[tool.setuptools.package-data]",
        *(f"{json.dumps(pkg)} = {_toml_list(globs)}" for pkg, globs in PACKAGE_DATA.items()),
        "",
    ]
    return "\n".join(lines)


def build_student_wheel(out_dir: Path) -> Path:
    """Build the `vaelab-core` wheel for students into `out_dir`; returns the wheel's path.

    Needs pip, and setuptools from the registry or pip's cache (build isolation). Raises
    VaelabError when the packages import instructor code or undeclared libraries, or when pip
    fails (with the end of pip's output).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root_config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    root_project = root_config["project"]
    version = _version()
    with tempfile.TemporaryDirectory(prefix="vaelab_student_wheel_") as tmp:
        stage = Path(tmp) / "vaelab_core_dist"
        stage.mkdir()
        packages = _copy_packages(stage)
        dependencies = _runtime_dependencies(stage, root_project.get("dependencies", []), lab_notebooks())
        license_files = []
        for name in root_project.get("license-files", []):
            if (ROOT / name).is_file():
                shutil.copy2(ROOT / name, stage / name)
                license_files.append(name)
        (stage / "pyproject.toml").write_text(
            _pyproject(root_project, root_config.get("build-system", {}), version, packages,
                       dependencies, license_files), encoding="utf-8")
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                   "-w", str(out_dir), str(stage)]
        run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            tail = "\n".join(run.stdout.splitlines()[-PIP_TAIL_LINES:])
            raise VaelabError(f"pip could not build the student wheel (exit status {run.returncode}); "
                              f"the end of its output:\n{tail}\nIs the registry or pip's cache reachable "
                              "(pip fetches setuptools for the build)?")
    wheel = out_dir / f"{DISTRIBUTION.replace('-', '_')}-{version}-py3-none-any.whl"
    if not wheel.is_file():
        raise VaelabError(f"pip reported success but {wheel} is not there; found: "
                          f"{sorted(p.name for p in out_dir.glob('*.whl'))}.")
    print(f"student wheel: {wheel} ({wheel.stat().st_size / 1e6:.1f} MB; packages {', '.join(packages)}; "
          f"requires {', '.join(dependencies)})")
    return wheel


def _pair_text() -> str:
    """"PyTorch 2.11.0 and torchaudio 2.11.0", from the root pyproject's exact pins."""
    pins = pair_pins(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"])
    return f"PyTorch {pins.get('torch', '(unpinned)')} and torchaudio {pins.get('torchaudio', '(unpinned)')}"


#: How a student builds the built-in speakers without the `vaelab` command (data_prep/defaults.py's __main__).
DEFAULTS_COMMAND = "python -m data_prep.defaults"


#: What the student does in the notebook, unless the assignment's grading.py says (STUDENT_WORK).
DEFAULT_WORK = """Fill in the cells marked `YOUR CODE HERE`, and run the notebook from top to bottom. Each
self-check cell stops with an explanation until the code above it is right."""


def install_text(assignment: str, wheel_name: str, notebooks: list[str], work: str = DEFAULT_WORK) -> str:
    """INSTALL.md of the bundle: set up, get the data, run, hand in."""
    first = notebooks[0]
    listed = ", ".join(f"`{name}`" for name in notebooks)
    return f"""# {assignment}: setting up and handing in

This folder is all you need: the lab notebook ({listed}), the wheel `{wheel_name}` (the
`vaelab_core` package that the notebook imports, with the pre-trained model, and `data_prep`,
the kit's data tools, whose code the lab may ask you to read), and this file. You do not need the course
repository. You need Python 3.11 or newer.

## 1. Install (once)

Open a terminal in this folder and run:

```bash
python3 -m venv .venv
.venv/bin/pip install -c {LOCK.name} {wheel_name} jupyterlab
```

(On Windows: `py -m venv .venv`, then `.venv\\Scripts\\pip install -c {LOCK.name} {wheel_name} jupyterlab`,
and use `.venv\\Scripts\\python` wherever `.venv/bin/python` appears below.)

`-c {LOCK.name}` installs every package at the exact version the kit was tested with, so a
release published since then cannot break your install. Keep it: without it pip takes the newest
releases. The install brings {_pair_text()}: a few GB of downloads the first time. Everything
runs on the CPU; a GPU is not needed. If the notebook's first cell says that torchaudio cannot be
loaded, run the command it prints, then restart the kernel.

## 2. Speaker data

The notebook's configuration cell loads Speaker A and Speaker B.

- **Built-in speakers** (synthetic voices): make them once, about 20 seconds:

  ```bash
  .venv/bin/{DEFAULTS_COMMAND}
  ```

  They are written to `~/.cache/vaelab/datasets/` (or to `$VAELAB_HOME/datasets/` if you set
  `VAELAB_HOME`) and reused afterwards; running the command again does nothing. If the notebook
  tells you to run `vaelab data defaults`, this command is the same thing: the `vaelab` command
  belongs to the instructors' kit and is not part of your install.

- **Speaker files from your instructor** (`.npz`): point the notebook to them before starting
  Jupyter, for example

  ```bash
  export VAELAB_SPEAKER_A=/path/to/speaker_A.npz
  export VAELAB_SPEAKER_B=/path/to/speaker_B.npz
  ```

  When these are set, the built-in speakers are not used (and need not be made).

## 3. Work on the lab

```bash
.venv/bin/jupyter lab {first}
```

{work} Figures and `results.json`
are written to `outputs/` (or to `$VAELAB_OUT` if you set it).

## 4. Hand in

Send one ZIP file whose name starts with your student id (for example `jdoe42_{assignment}.zip`),
holding exactly:

- the notebook, run from top to bottom with its outputs saved (keep its file name; do not copy
  cells into a new notebook: the grader recognises the lab by its cells), and
- your report as one PDF of **at most {MAX_PAGES} pages**.

Nothing else is needed; the figures and `results.json` are in the notebook's outputs already.
"""


def build_bundle(notebooks: list[Path], out: Path, assignment: str, work: str | None = None) -> Path:
    """Write the student bundle ZIP at `out` (atomically); returns `out`.

    notebooks: the released student notebooks (labs/...), stored under `assignment/` by file name.
    Raises VaelabError for an instructor's source notebook, a missing notebook or two notebooks
    with one name.
    """
    notebooks = [Path(nb) for nb in notebooks]
    out = Path(out)
    if not LOCK.is_file():
        raise VaelabError(f"{LOCK} is missing: the bundle ships the lock that students install through. "
                          "Make it as the README says (Installing and the lock), then bundle again.")
    if not notebooks:
        raise VaelabError("build_bundle needs at least one student notebook (e.g. labs/vae_speech/vae_speech.ipynb).")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", assignment):
        raise VaelabError(f"assignment {assignment!r} names the bundle's top folder: use letters, digits, "
                          "'.', '_' or '-' only.")
    names = [nb.name for nb in notebooks]
    if len(set(names)) != len(names):
        raise VaelabError(f"two notebooks share a file name ({names}); the bundle keeps one folder.")
    for nb in notebooks:
        if not nb.is_file():
            raise VaelabError(f"{nb}: no such notebook; pass the released student notebook(s) in labs/.")
        text = nb.read_text(encoding="utf-8")
        marker = next((m for m in SOURCE_MARKERS if m in text), None)
        if marker:
            raise VaelabError(f"{nb} contains {marker!r}: it is an instructor's source notebook, with "
                              "solutions or hidden tests. Bundle the generated student notebook from labs/ "
                              "(`vaelab labs` writes it).")

    with tempfile.TemporaryDirectory(prefix="vaelab_bundle_") as tmp:
        wheel = build_student_wheel(Path(tmp))
        members = [(f"{assignment}/{nb.name}", nb.read_bytes()) for nb in notebooks]
        members.append((f"{assignment}/{wheel.name}", wheel.read_bytes()))
        members.append((f"{assignment}/{LOCK.name}", LOCK.read_bytes()))
        members.append((f"{assignment}/INSTALL.md",
                        install_text(assignment, wheel.name, names, work or DEFAULT_WORK).encode("utf-8")))
        with atomic_path(out) as partial, zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)

    print(f"student bundle: {out}")
    for name, data in members:
        print(f"  {name} ({len(data):,} bytes)")
    return out
