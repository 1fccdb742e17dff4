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
