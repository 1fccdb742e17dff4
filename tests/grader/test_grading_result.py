"""GradingResult: the one record of a graded submission, written and read back the same."""

from __future__ import annotations

import json

import pytest

from grader.engine.result import CUT_SHORT, GRADED, NOT_GRADED, Check, Cut, GradingResult, Problem, Verdict


BUILD = Verdict.judged("test_build", 2, [Check(1, True, "five layers", "expected five layers"),
                                         Check(1, False, "tanh between them", "expected tanh; found relu")])


def _result(**changes) -> GradingResult:
    values = dict(student="ada", assignment="vae_speech", submission_sha256="ab" * 32, timestamp="2026-11-30",
                  flags=["locked cell imports was edited; restored from the assignment"],
                  tests={"test_build": BUILD}, records={"x": 1.5},
                  seconds={"total": 3.0}, threads=1)
    values.update(changes)
    return GradingResult(**values)


def test_a_run_with_nothing_cut_is_graded():
    assert _result().status == GRADED and not _result().cut


def test_every_cut_is_named_in_the_status_in_order():
    result = _result(problems=[Problem(Cut.PROBE_TIME, "the probe overran"),
                               Problem(Cut.CELL_TIME, "cell 4 (seeds) ran longer than\n600 s")])
    assert result.cut
    assert result.status == f"{CUT_SHORT}: the probe overran; cell 4 (seeds) ran longer than 600 s"


def test_a_run_that_graded_nothing_says_so():
    result = _result(tests=None, problems=[Problem(Cut.SUBMISSION_TIME, "it ran longer than 1800 s")])
    assert result.status.startswith(f"{NOT_GRADED}: it ran longer")


def test_save_and_load_give_the_same_record(tmp_path):
    result = _result(problems=[Problem(Cut.MEMORY, "cell 9 ran out of memory")], worker="tcp://10.0.0.2:4000")
    result.save(tmp_path / "r.json")
    assert GradingResult.load(tmp_path / "r.json") == result
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk["status"] == result.status  # for a person reading the file
    assert on_disk["problems"] == [{"cut": "memory", "text": "cell 9 ran out of memory"}]


@pytest.mark.parametrize("field, value, words", [
    ("flags", "edited", "flags should be a list of texts"),
    ("flags", [3], "flags should be a list of texts"),
    ("problems", {"cut": "memory"}, "problems should be a list"),
    ("tests", [], "tests should be a mapping"),
    ("tests", {"test_build": 2}, r"tests\['test_build'\] should be a verdict"),
    ("tests", {"test_build": {"max": 2}}, r"tests\['test_build'\] lacks score"),
    ("tests", {"test_build": {"score": "2", "max": 2}}, r"tests\['test_build'\].score should be a number, not str"),
    ("tests", {"test_build": {"score": True, "max": 2}}, r"tests\['test_build'\].score should be a number, not bool"),
    ("tests", {"test_build": {"score": 2, "max": 2, "messages": "wrong"}}, r"\.messages should be a list of texts"),
    ("tests", {"test_build": {"score": 2, "max": 2, "checks": [{"points": 1}]}},
     r"tests\['test_build'\].checks\[0\] lacks passed, passed_text, failed_text"),
])
def test_a_malformed_record_is_refused_with_what_is_wrong(field, value, words):
    data = _result().as_dict()
    data[field] = value
    with pytest.raises(TypeError, match=words):
        GradingResult.from_dict(data)


def test_a_verdict_scores_its_passed_checks_and_says_what_failed():
    assert (BUILD.score, BUILD.max_points, BUILD.messages) == (1.0, 2.0, ("expected tanh; found relu",))
    assert not BUILD.full_points
    unjudged = Verdict.judged("test_build", 2, error="the method could not be probed.")
    assert (unjudged.score, unjudged.messages) == (0.0, ("the method could not be probed.",))


def test_verdicts_are_read_back_by_attribute_and_keep_the_file_format(tmp_path):
    result = _result()
    result.save(tmp_path / "r.json")
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk["tests"]["test_build"] == {
        "score": 1.0, "max": 2.0, "messages": ["expected tanh; found relu"], "error": None,
        "checks": [{"points": 1.0, "passed": True, "passed_text": "five layers", "failed_text": "expected five layers"},
                   {"points": 1.0, "passed": False, "passed_text": "tanh between them",
                    "failed_text": "expected tanh; found relu"}]}
    loaded = GradingResult.load(tmp_path / "r.json").tests["test_build"]
    assert loaded == BUILD and loaded.checks[1].failed_text == "expected tanh; found relu"


def test_a_record_written_before_checks_were_recorded_still_loads():
    data = _result().as_dict()
    data["tests"] = {"test_build": {"score": 2, "max": 2, "messages": []},
                     "test_get_loss": {"score": 0, "max": 4, "messages": ["the KL term has the wrong sign"]}}
    tests = GradingResult.from_dict(data).tests
    assert tests["test_build"] == Verdict("test_build", 2.0, 2.0) and tests["test_build"].full_points
    assert tests["test_get_loss"].messages == ("the KL term has the wrong sign",)
    assert tests["test_get_loss"].checks == () and tests["test_get_loss"].error is None


def test_a_verdict_given_as_a_plain_mapping_is_refused():
    with pytest.raises(TypeError, match=r"tests\['test_build'\] should be a Verdict, not dict"):
        _result(tests={"test_build": {"score": 2.0, "max": 2.0, "messages": []}})


def test_an_unknown_limit_is_refused():
    data = _result().as_dict()
    data["problems"] = [{"cut": "gremlins", "text": "?"}]
    with pytest.raises(ValueError, match="gremlins"):
        GradingResult.from_dict(data)


def test_grading_options_are_named_never_positional():
    from grader.engine.grade import GradingOptions

    with pytest.raises(TypeError):
        GradingOptions(1, 60, 5, True)  # the mistake this guards against
    options = GradingOptions(threads=1, cell_timeout=60, probe_timeout=5, unsafe=False)
    assert (options.probe_timeout, options.unsafe) == (5, False)
