"""A torchaudio that cannot be loaded is explained in one sentence, by `vaelab` and by the notebooks.

The broken install is made for real where Python looks first: a `torchaudio` package (with its
own dist-info saying 2.11.1) whose import fails the way a mismatched registry build fails, with
an OSError from loading its C++ library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from vaelab_core import installation

REPO = Path(__file__).resolve().parents[2]
#: Every lab of the kit: a folder of labs/ with its generated notebook.
LABS = sorted(p.name for p in (REPO / "labs").iterdir() if (p / f"{p.name}.ipynb").is_file())
SYMBOL = "torch_exception_get_what_without_backtrace"


@pytest.fixture(scope="module")
def broken_torchaudio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder to put first on PYTHONPATH: torchaudio 2.11.1 that fails to load its library."""
    root = tmp_path_factory.mktemp("broken_torchaudio")
    package = root / "torchaudio"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import torch\n"
        f"raise OSError('{package}/lib/libtorchaudio.so: undefined symbol: {SYMBOL}')\n")
    info = root / "torchaudio-2.11.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torchaudio\nVersion: 2.11.1\n")
    return root


def _env(broken: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(broken), os.environ.get("PYTHONPATH", "")])}


def _assert_one_sentence(text: str) -> None:
    text = text.strip()
    assert len(text.splitlines()) == 1, f"expected one line, got:\n{text}"
    assert "torchaudio 2.11.1 cannot be loaded beside torch 2.11.0" in text, text
    assert f"undefined symbol: {SYMBOL}" in text, text
    assert 'pip install "torch==2.11.0" "torchaudio==2.11.0"' in text, text
    assert "Traceback" not in text


def test_the_tested_pair_is_read_from_the_installed_project():
    assert installation.tested_pins() == {"torch": "2.11.0", "torchaudio": "2.11.0"}
    assert installation.check_installation().startswith("torch 2.11.0")


def test_explain_names_versions_and_fix():
    error = installation.explain(OSError(f"/x/libtorchaudio.so: undefined symbol: {SYMBOL}"))
    assert isinstance(error, installation.InstallError)
    assert f"undefined symbol: {SYMBOL}" in str(error)
    assert sys.executable in str(error) and "Kernel > Restart" in str(error)
    assert error._render_traceback_() == [f"InstallError: {error}"]


def test_a_missing_torchaudio_is_named(monkeypatch):
    real = installation.installed_version
    monkeypatch.setattr(installation, "installed_version",
                        lambda name: "not installed" if name == "torchaudio" else real(name))
    message = str(installation.explain(ModuleNotFoundError("No module named 'torchaudio'")))
    assert message.startswith("torchaudio is not installed beside torch 2.11.0;"), message


def test_vaelab_command_says_it_in_one_sentence(broken_torchaudio, tmp_path):
    vaelab = shutil.which("vaelab", path=str(Path(sys.executable).parent))
    assert vaelab, "the vaelab command is not installed beside this Python"
    run = subprocess.run([vaelab, "data", "defaults"], cwd=tmp_path, env=_env(broken_torchaudio),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("vaelab: error: ")
    _assert_one_sentence(run.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_notebook_first_cell_says_it_in_one_sentence(lab, broken_torchaudio, tmp_path):
    notebook = nbformat.read(REPO / "labs" / lab / f"{lab}.ipynb", as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    notebook.cells = [first]
    client = NotebookClient(notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError):
        client.execute(env=_env(broken_torchaudio))
    (error,) = [out for out in notebook.cells[0].outputs if out.output_type == "error"]
    assert error.ename == "InstallError"
    _assert_one_sentence("\n".join(error.traceback))
