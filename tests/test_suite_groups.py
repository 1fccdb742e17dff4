"""The suite's own plumbing: each lab's course tests are grouped for one test worker."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import course_of


def _item(*fixtures: str, **params) -> SimpleNamespace:
    item = SimpleNamespace(fixturenames=list(fixtures), nodeid="tests/x.py::test_x")
    if params:
        item.callspec = SimpleNamespace(params=params)
    return item


def test_a_test_of_one_course_is_grouped_with_that_lab():
    assert course_of(_item("tmp_path", "graded_flows")) == "flows"
    assert course_of(_item("released_vae_speech", "graded_vae_speech", "hand_graded")) == "vae_speech"
    assert course_of(_item("request", "browser", lab="synth")) == "synth"  # asks for graded_synth by name
    assert course_of(_item("tmp_path", "speech_dir")) is None
    assert course_of(_item("tmp_path", lab="synth")) is None  # a `lab` parameter alone reads no course


def test_a_test_of_two_courses_is_refused():
    with pytest.raises(pytest.UsageError, match="uses the courses of"):
        course_of(_item("graded_flows", "graded_synth"))
