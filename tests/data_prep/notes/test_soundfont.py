"""Reading a soundfont's header and presets, and refusing what is not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.notes.families import FAMILIES
from data_prep.notes.soundfont import SoundfontError, read_soundfont


def test_the_tiny_soundfont_lists_its_presets(tiny_font: Path):
    font = read_soundfont(tiny_font)
    assert font.name == "vaelab test"
    assert [(p.name, p.bank, p.program) for p in font.presets] == [("Test Piano", 0, 0), ("Test Bass", 0, 33)]
    assert font.preset(0).name == "Test Piano" and font.preset(33).name == "Test Bass"
    assert font.preset(56) is None and font.preset(0, bank=1) is None


def test_fluid_r3_has_a_preset_for_every_family(fluid_r3: Path):
    font = read_soundfont(fluid_r3)
    assert font.name == "Fluid R3 GM" and len(font.presets) > 128
    names = {f.name: font.preset(f.program - 1).name for f in FAMILIES}
    assert names == {"bass": "Fingered Bass", "brass": "Trumpet", "flute": "Flute",
                     "guitar": "Nylon String Guitar", "keyboard": "Yamaha Grand Piano", "vocal": "Ahh Choir"}


@pytest.mark.parametrize("content, phrase", [
    (b"this is a text file, not a soundfont\n", "not a SoundFont 2 file"),
    (b"RIFF\x04\x00\x00\x00WAVE", "not a SoundFont 2 file"),  # a RIFF file of another form
    (b"", "not a SoundFont 2 file"),
    (b"RIFF\x10\x00\x00\x00sfbkLIST\x04\x00\x00\x00INFO", "no preset list"),  # no pdta part
    (b"RIFF\x20\x00\x00\x00sfbkLIST\x10\x00\x00\x00INFOifil", "truncated or damaged"),  # cut short
])
def test_what_is_not_a_soundfont_is_refused_with_the_reason(tmp_path: Path, content: bytes, phrase: str):
    path = tmp_path / "font.sf2"
    path.write_bytes(content)
    with pytest.raises(SoundfontError, match=phrase) as caught:
        read_soundfont(path)
    assert str(path) in str(caught.value)


def test_a_missing_soundfont_says_where_one_comes_from(tmp_path: Path):
    with pytest.raises(SoundfontError, match="does not exist.*fluid-soundfont-gm"):
        read_soundfont(tmp_path / "nowhere.sf2")
    with pytest.raises(SoundfontError, match="is a folder"):
        read_soundfont(tmp_path)
