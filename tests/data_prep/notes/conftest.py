"""Fixtures of the note tests: FluidSynth and FluidR3_GM when this machine has them, tiny soundfonts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.data_prep.notes.tiny_soundfont import write_soundfont

FLUID_R3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@pytest.fixture(scope="session")
def fluidsynth() -> str:
    """The fluidsynth program, or a skip when it is not installed."""
    program = shutil.which("fluidsynth")
    if program is None:
        pytest.skip("fluidsynth is not installed (Debian: apt install fluidsynth; .ci/run installs it)")
    return program


@pytest.fixture(scope="session")
def fluid_r3() -> Path:
    """Debian's FluidR3_GM.sf2, or a skip when it is not installed."""
    if not FLUID_R3.is_file():
        pytest.skip(f"{FLUID_R3} is not installed (Debian: apt install fluid-soundfont-gm; .ci/run installs it)")
    return FLUID_R3


@pytest.fixture
def tiny_font(tmp_path: Path) -> Path:
    """A soundfont with presets for the keyboard (program 1) and bass (program 34) families only,
    sounding on MIDI keys 48-72 and silent elsewhere."""
    return write_soundfont(tmp_path / "tiny.sf2", {0: "Test Piano", 33: "Test Bass"}, keys=(48, 72))
