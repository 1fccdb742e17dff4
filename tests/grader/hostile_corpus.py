"""Hostile and broken submissions, each with the scores and the reason the grader must give it.

Test data for tests/grader/test_hostile_submissions.py. Most are the blank release notebook
with one cell added (quick to grade: nothing trains); those that must show that parts graded
before a crash keep their points start from the correct solution. No cell of the corpus needs
more than seconds, except the endless loop: the suite grades it with a 30 s cell limit.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.kit.example_submissions import write_report_pdf

METHODS = ("test_build", "test_generation_x", "test_reparametrization", "test_inference", "test_get_loss")
RESULTS = ("test_training", "test_seeds", "test_finetune", "test_cross")
POINTS = {"test_build": 2, "test_generation_x": 2, "test_reparametrization": 3, "test_inference": 3,
          "test_get_loss": 4, "test_training": 3, "test_seeds": 3, "test_finetune": 3, "test_cross": 2}
ZERO = dict.fromkeys(POINTS, 0.0)
#: Added after the config cell: the training of vae_speech's "shortened" example.
SHORT_TRAINING = "EPOCHS = 3\nFINETUNE_EPOCHS = 2\nSEEDS = range(2)"
FULL = {test: float(p) for test, p in POINTS.items()}


@dataclass
class Case:
    """One submission: how it is made, what intake says, the scores and the status words."""

    name: str
    base: str = "blank"  # "blank" (the release notebook) or "correct" (the solution filled in)
    cell: str | None = None  # a code cell the student added ...
    after: str = "config"  # ... after the cell with this nbgrader id
    edit: str | None = None  # "delete:<grade_id>" or "edit:<grade_id>" of a locked cell
    model: str | None = None  # the model cell's source instead of the base's
    zip_kind: str = "normal"  # how the ZIP itself is made (intake cases)
    intake: str = "accepted"  # the intake status expected
    intake_reason: str = ""  # words of the rejection reason
    scores: dict = field(default_factory=lambda: dict(ZERO))
    status: str = ""  # words expected in the export's status column ("" = a clean "graded"/"pending")
    cuts: tuple[str, ...] = ()  # the limits (grader.engine.result.Cut values) that must be named as cutting the run


def kill_after_training() -> dict:
    """The correct solution's scores when the kernel dies right after the first training's check:
    the methods and the training keep their points, the later parts get none."""
    return {**FULL, "test_seeds": 0.0, "test_finetune": 0.0, "test_cross": 0.0}


def cases(paths: dict[str, str], solution: str) -> list[Case]:
    """The corpus; `paths` names what student code must not reach: solutions, gradebook, bands;
    `solution` is a correct model cell."""
    SOLUTION = solution  # noqa: N806 (read as a constant below)
    return [
        Case("loop", cell="while True:\n    pass", after="imports", status="interrupted", cuts=("probe time", "cell time")),
        Case("osexit", base="correct", cell="import os\nos._exit(1)", after="test_training",
             scores=kill_after_training(), status="kernel died", cuts=("kernel death",)),
        Case("sysexit", cell="import sys\nsys.exit(3)"),
        Case("importerror", model="import no_such_module_anywhere\n\nclass SpeechVAE(SpeechVAEBase):\n    pass\n"),
        Case("memory", cell="hog = bytearray(40 * 2**30)", status="ran out of memory", cuts=("memory",)),
        Case("forks", cell="import os\nwhile True:\n    os.fork()", status="processes", cuts=("process count",)),
        Case("network", cell="import urllib.request\nurllib.request.urlopen('http://pypi.org', timeout=5)"),
        Case("readsolutions", cell=f"print(open({paths['solution']!r}).read())"),
        Case("readgradebook", cell=f"print(open({paths['gradebook']!r}, 'rb').read()[:100])"),
        Case("readbands", cell=f"print(open({paths['bands']!r}).read())"),
        Case("readothers", cell=f"print(open({paths['other']!r}).read())"),
        Case("writeoutside", cell=f"open({paths['gradebook']!r}, 'w').write('gone')\n"
                                  f"open({paths['planted']!r}, 'w').write('planted')"),
        Case("allclose", cell="import numpy as np, torch\nnp.allclose = lambda *a, **k: True\n"
                              "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True"),
        Case("testing", cell="import torch.testing\ntorch.testing.assert_close = lambda *a, **k: None"),
        Case("print", cell="import builtins\nbuiltins.print = lambda *a, **k: None"),
        # the correct model with the training shortened (seconds, not a minute): the restored
        # test_build must run and give its points; the results miss their bands as "shortened" does
        Case("deletedtest", base="correct", cell=SHORT_TRAINING, edit="delete:test_build", status="deleted",
             scores={**FULL, "test_training": 0.0, "test_seeds": 0.0, "test_finetune": 1.0, "test_cross": 0.0}),
        Case("editedtest", edit="edit:test_get_loss", status="edited"),
        Case("segfault", cell="import ctypes\nctypes.string_at(0)", status="kernel died", cuts=("kernel death",)),
        Case("flood", cell="while True:\n    print('x' * 1_000_000)", status="output limit", cuts=("output cap",)),
        Case("longcell", cell="\n".join(f"v{i} = {i}" for i in range(20_000))),
        # a NaN loss: the method tests judge the terms (the loss itself fails), training stops
        Case("nanloss", model=SOLUTION.replace("return recon + kl, recon, kl",
                                               "return (recon + kl) * float('nan'), recon, kl"),
             scores={**FULL, "test_get_loss": 3.0, **dict.fromkeys(RESULTS, 0.0)}),
        # eta of the wrong width: generation_x fails both its checks, nothing trains
        Case("shapes", model=SOLUTION.replace("return self.gen_logvar(self.mlp_z_x(z))",
                                              "return self.gen_logvar(self.mlp_z_x(z))[..., :128]"),
             scores={**FULL, "test_generation_x": 0.0, **dict.fromkeys(RESULTS, 0.0)}),
        Case("nonutf8", zip_kind="nonutf8", intake="rejected", intake_reason="not UTF-8"),
        Case("corruptjson", zip_kind="corrupt", intake="rejected", intake_reason="not valid JSON"),
        Case("otherlab", zip_kind="other", intake="rejected", intake_reason="for assignment 'latent_space'"),
        Case("zipbomb", zip_kind="bomb", intake="rejected", intake_reason="ZIP bomb"),
        Case("traversal", zip_kind="traversal", intake="rejected", intake_reason="'..' part"),
        Case("nopdf", zip_kind="nopdf", intake="rejected", intake_reason="no PDF report"),
        Case("tenpages", zip_kind="tenpages", intake="rejected", intake_reason="report has 10 pages"),
        Case("empty", zip_kind="empty", intake="rejected", intake_reason="does not look like"),
        Case("twice", zip_kind="twice"),
    ]


def make_notebook(release: nbformat.NotebookNode, solution_model: str, case: Case) -> nbformat.NotebookNode:
    notebook = nbformat.from_dict(json.loads(json.dumps(release)))
    cells = []
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id == "model":
            cell.source = case.model if case.model is not None else (solution_model if case.base == "correct" else cell.source)
        if case.edit == f"delete:{grade_id}":
            continue
        if case.edit == f"edit:{grade_id}":
            cell.source = "print('all tests passed')"
        cells.append(cell)
        if case.cell is not None and grade_id == case.after:
            added = nbformat.v4.new_code_cell(case.cell)
            added["id"] = f"hostile-{case.name}"
            cells.append(added)
    notebook.cells = cells
    return notebook


def write_zip(folder: Path, case: Case, notebook: nbformat.NotebookNode, notebook_name: str, when: float) -> Path:
    """The case's ZIP, as the student would send it (or as a hostile one would make it)."""
    import os

    path = folder / f"{case.name}.zip"
    pdf = write_report_pdf(folder / f".{case.name}.pdf", case.name, pages=10 if case.zip_kind == "tenpages" else 1)
    text = nbformat.writes(notebook)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if case.zip_kind == "nonutf8":
            archive.writestr(notebook_name, text.encode("utf-8").replace(b"SpeechVAE", b"Speech\xff\xfeVAE", 1))
        elif case.zip_kind == "corrupt":
            archive.writestr(notebook_name, text[: len(text) // 2])
        elif case.zip_kind == "other":
            other = nbformat.from_dict(json.loads(text))
            other.metadata["vaelab"] = {"assignment": "latent_space"}
            archive.writestr(notebook_name, nbformat.writes(other))
        elif case.zip_kind == "empty":
            archive.writestr(notebook_name, nbformat.writes(nbformat.v4.new_notebook()))
        elif case.zip_kind == "traversal":
            archive.writestr(f"../../{notebook_name}", text)
        elif case.zip_kind == "bomb":
            archive.writestr(notebook_name, text)
            with archive.open("padding.bin", "w", force_zip64=True) as member:
                chunk = bytes(2 ** 20)
                for _ in range(300):
                    member.write(chunk)
        else:
            archive.writestr(notebook_name, text)
        if case.zip_kind != "nopdf":
            archive.write(pdf, "report.pdf")
    pdf.unlink()
    os.utime(path, (when, when))
    return path
