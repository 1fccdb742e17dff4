"""`vaelab demo`: the solution notebook runs end to end, headless, in a real kernel.

Slow, but not a course test (marker `courses`): it shares no course, so tests/side_by_side.py
runs it with the rest of the suite, beside the course tests, where its kernels take the cores
those leave idle instead of adding its three minutes to theirs."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader.assignment import default_solutions
from grader.kit.demo import lab_names
from vaelab_core.cli import main as cli
from vaelab_core.errors import VaelabError


@pytest.fixture(scope="module")
def demo_two_labs(tmp_path_factory, module_home):
    """`vaelab demo` on two labs side by side (on 2 cores: one thread each), grading synth's three
    demo examples (its notebook is the quickest to grade): run once for the tests below (about
    two minutes on 2 cores). The grading is the same code for every lab; the handout's lab is
    graded in full by its course test."""
    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli(["demo", "--out", str(out), "--lab", "vae_speech", "--lab", "synth", "--grade", "synth",
                    "--jobs", "2"])
    return {"code": code, "out": out, "printed": printed.getvalue()}


@pytest.mark.slow
def test_demo_runs_the_solution_notebook_and_writes_its_results(demo_two_labs):
    assert demo_two_labs["code"] == 0
    out = demo_two_labs["out"] / "vae_speech"
    printed = demo_two_labs["printed"]
    assert "Model A (fine-tuned on A)" in printed  # the lab's summary, printed as it finished
    assert not (out / "course").exists()  # one lab graded: the one --grade names
    timing = printed[printed.index("demo done: where the time went"):]
    assert "notebooks, 2 side by side: vae_speech" in timing and "total" in timing

    results = json.loads((out / "results.json").read_text())
    for split in ("train", "eval"):
        for term in ("total", "recon", "kl"):
            values = results["scratch"]["history"][split][term]
            assert len(values) == 30 and all(np.isfinite(values))
    history = results["scratch"]["history"]["train"]
    assert np.allclose(np.add(history["recon"], history["kl"]), history["total"], rtol=1e-4, atol=1e-2)
    assert history["total"][-1] < history["total"][0]  # 30 epochs train for real
    assert len(results["seeds"]["total_mean"]) == 30 and len(results["seeds"]["total_std"]) == 30
    assert min(results["seeds"]["total_std"][1:]) > 0  # five different seeds, not one run five times
    for key in ("A", "B"):
        assert np.isfinite(results["scratch"]["eval_loss"][key])
        assert np.isfinite(results["pretrained"][key])
        assert set(results["cross"][key]) == {"A", "B"}
        # fine-tuning on a speaker improves on the pre-trained model for that speaker
        assert results["cross"][key][key] < results["pretrained"][key]
    assert results["steps_per_epoch"] >= 10
    assert results["seconds"] > 0

    assert (out / "vae_speech.ipynb").is_file() and (out / "vae_speech.html").is_file()
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"losses.png", "seeds.png", "cross.png", "reconstruction.png"} <= figures
    html = (out / "vae_speech.html").read_text()
    assert "<audio" in html  # the listening cell produced players


@pytest.mark.slow
def test_demo_grades_three_examples_end_to_end_with_bands_from_its_own_run(demo_two_labs):
    assert demo_two_labs["code"] == 0
    out = demo_two_labs["out"] / "synth"
    printed = demo_two_labs["printed"]
    assert "bands: the records of the reference run of synth.ipynb already made" in printed
    table = printed[printed.index("as expected"):]
    for student in ("correct", "power", "encoderonly"):
        row = next(line for line in table.splitlines() if line.startswith(student))
        assert row.endswith("yes"), row
        assert (out / "course" / "feedback" / student).is_dir()
    assert "every autograded part in full" in printed  # correct
    assert "test_descriptors: 0 of" in printed  # power: what its feedback says
    assert "synth: bands" in printed[printed.index("demo done: where the time went"):]

    results = json.loads((out / "results.json").read_text())
    assert results["notes"]["count"] > 0 and results["epochs"] > 0
    assert set(results["models"]) == {"VAE", "WAE", "CVAE"}
    assert set(results["generation"]) == {"VAE recon", "VAE prior", "WAE recon", "WAE prior"}
    assert all(np.isfinite(row["mean"]) for row in results["generation"].values())
    assert set(results["smoothness"]) == {"line", "circle", "spiral", "random walk", "note path"}
    assert all(np.isfinite(row["centroid"]) for row in results["smoothness"].values())
    assert np.isfinite(results["pitch"]["CVAE"]["all"]["median_semitones"])
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"descriptors.png", "paths.png", "pitch.png", "latent_VAE.png", "latent_WAE.png"} <= figures
    assert "<audio" in (out / "synth.html").read_text()  # the decoded paths are playable


def test_demo_names_the_labs_when_one_is_unknown(tmp_path, capsys):
    assert cli(["demo", "--out", str(tmp_path), "--lab", "nosuchlab"]) == 2
    assert ", ".join(lab_names(default_solutions())) in capsys.readouterr().err


def test_demo_needs_both_speakers_or_neither(tmp_path, capsys):
    assert cli(["demo", "--out", str(tmp_path), "--speaker-a", str(tmp_path / "a.npz")]) == 2
    assert "both --speaker-a and --speaker-b" in capsys.readouterr().err


def test_demo_reports_a_missing_dataset_before_starting_a_kernel(tmp_path, capsys):
    missing = tmp_path / "nowhere.npz"
    assert cli(["demo", "--out", str(tmp_path / "out"), "--speaker-a", str(missing),
                "--speaker-b", str(missing)]) == 2
    assert "no such dataset file" in capsys.readouterr().err


def test_bands_refuse_a_run_of_other_code():
    from grader.workflow.bands import _check_same_code

    source = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# lab"),
                                             nbformat.v4.new_code_cell("x = 1")])
    _check_same_code(copy.deepcopy(source), source, Path("lab.ipynb"))  # the same code: accepted
    other = copy.deepcopy(source)
    other.cells[1].source = "x = 2"
    with pytest.raises(VaelabError, match="is not a run of lab.ipynb"):
        _check_same_code(other, source, Path("lab.ipynb"))


def test_demo_refuses_to_grade_a_lab_it_does_not_run(tmp_path, capsys):
    assert cli(["demo", "--out", str(tmp_path), "--lab", "flows", "--grade", "vae_speech"]) == 2
    assert "--grade vae_speech grades a lab the demo runs" in capsys.readouterr().err


def test_demo_grades_the_first_lab_asked_for_unless_the_handouts_runs():
    """Which lab the quick demo grades, without running any (demo.graded_lab)."""
    from grader.kit.demo import graded_lab

    assert graded_lab(["flows", "synth"], None) == "flows"
    assert graded_lab(["synth", "vae_speech"], None) == "vae_speech"
    assert graded_lab(["flows", "synth"], "synth") == "synth"
