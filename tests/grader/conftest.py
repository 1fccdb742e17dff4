"""Fixtures of the grader's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory):
    """VAELAB_HOME for a module-scoped course fixture (the suite's autouse one is set per test,
    after module fixtures have run): the built-in data goes to the test run's folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAELAB_HOME", str(tmp_path_factory.getbasetemp() / "vaelab_home"))
        patch.delenv("VAELAB_SWEEPS", raising=False)
        yield


@pytest.fixture(scope="session")
def released_vae_speech(tmp_path_factory: pytest.TempPathFactory):
    """A vae_speech course after `init` and `release` (student bundle, bands: minutes on 2 cores),
    made once per test session; each module grades in its own copy (`copy_course`)."""
    from grader.workflow import init, release

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAELAB_HOME", str(tmp_path_factory.getbasetemp() / "vaelab_home"))
        patch.delenv("VAELAB_SWEEPS", raising=False)
        course = init.main(tmp_path_factory.mktemp("released") / "vae_speech-course")
        release.main(course.root, threads=2)
    return course.root
