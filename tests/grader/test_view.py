"""What a sandboxed run sees of the Python environment (grader/engine/view.py), wherever it is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from grader.engine import sandbox, view


def test_the_environment_holds_the_interpreter_site_packages_and_the_student_packages():
    shown = view.environment()
    for needed in (Path(sys.prefix).resolve(), view.package_dir("vaelab_core"), view.package_dir("data_prep")):
        assert any(needed == p or needed.is_relative_to(p) for p in shown), needed
    assert not any(p.is_relative_to(q) for p in shown for q in shown if p != q)  # outermost folders only


def test_the_import_path_is_shown_but_not_a_folder_holding_the_solutions_or_a_home(tmp_path, monkeypatch):
    extra = tmp_path / "site"
    extra.mkdir()
    home = tmp_path / "home"
    (home / "lib").mkdir(parents=True)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    monkeypatch.setattr(sys, "path", [*sys.path, str(extra), str(home), str(view.SOLUTIONS_DIR.parent)])
    shown = view.environment()
    assert extra.resolve() in shown  # a PYTHONPATH folder under /tmp: a run must import from it
    assert home.resolve() not in shown  # PYTHONPATH=~ would show the grader's home
    assert all(not view.SOLUTIONS_DIR.is_relative_to(p) for p in shown)  # a checkout's root is not shown
    assert view.environment(hidden=[extra / "course"]) == [p for p in shown if p != extra.resolve()]


def test_a_course_inside_the_environment_is_refused_with_what_to_move(tmp_path):
    course = Path(sys.prefix) / "a-course"
    with pytest.raises(view.ViewError, match="move the course folder out of"):
        view.check_hidden([course])
    view.check_hidden([tmp_path / "course"])  # beside it: fine
    with pytest.raises(sandbox.SandboxError, match=str(Path(sys.prefix).resolve())):
        sandbox.check_available(hidden=[course])
