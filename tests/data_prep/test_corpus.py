"""Finding recordings and their readers: LibriSpeech trees, flat folders, plain folders, errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from data_prep.corpus import CorpusError, find_recordings, list_ids, natural_key, select_speaker


def touch(root, *names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # content is not read here


def readers(recordings):
    return {r.relative: r.reader for r in recordings}


def test_a_librispeech_tree_takes_readers_from_the_names(tmp_path):
    touch(tmp_path, "1998/15444/1998-15444-0003.flac", "1998/15444/1998-15444-0000.flac",
          "1998/15444/1998-15444.trans.txt", "2033/164914/2033-164914-0001.flac")
    assert readers(find_recordings(tmp_path)) == {
        "1998/15444/1998-15444-0000.flac": "1998",
        "1998/15444/1998-15444-0003.flac": "1998",
        "2033/164914/2033-164914-0001.flac": "2033",
    }


def test_a_flat_folder_of_librispeech_names_and_alphanumeric_readers(tmp_path):
    touch(tmp_path, "103-1240-0000.flac", "A-0-0007.wav", "A-0-0001.wav", "B-0-0000.WAV",
          "A-0-0001.labels.npz", "manifest.json")
    assert readers(find_recordings(tmp_path)) == {
        "103-1240-0000.flac": "103", "A-0-0001.wav": "A", "A-0-0007.wav": "A", "B-0-0000.WAV": "B"}


def test_extensions_are_matched_in_any_letter_case(tmp_path):
    touch(tmp_path, "x-1-1.Flac", "x-1-2.WAV", "x-1-3.mp3", "x-1-4.wav.txt")
    assert sorted(readers(find_recordings(tmp_path))) == ["x-1-1.Flac", "x-1-2.WAV"]


def test_a_plain_folder_is_one_speaker_named_by_speaker_or_by_the_folder(tmp_path):
    voice = tmp_path / "alice"
    touch(voice, "take one.wav", "take2.flac", "notes.txt")
    assert set(readers(find_recordings(voice)).values()) == {"alice"}
    assert set(readers(find_recordings(voice, speaker="Speaker A")).values()) == {"Speaker A"}
    chosen = select_speaker(find_recordings(voice, speaker="Speaker A"), "Speaker A", voice)
    assert len(chosen) == 2
    # a single plain folder one level down is still one voice
    assert set(readers(find_recordings(tmp_path, speaker="A")).values()) == {"A"}


def test_several_plain_folders_are_one_reader_each(tmp_path):
    touch(tmp_path, "alice/a.wav", "alice/b.wav", "bob/x.flac")
    found = find_recordings(tmp_path, speaker="bob")
    assert readers(found) == {"alice/a.wav": "alice", "alice/b.wav": "alice", "bob/x.flac": "bob"}
    assert [r.relative for r in select_speaker(found, "bob", tmp_path)] == ["bob/x.flac"]


def test_all_or_none_keeps_every_reader(tmp_path):
    touch(tmp_path, "1-1-1.wav", "2-1-1.wav")
    found = find_recordings(tmp_path)
    assert select_speaker(found, None, tmp_path) == found == select_speaker(found, "all", tmp_path)


def test_an_unknown_speaker_lists_the_ids_found_in_order(tmp_path):
    touch(tmp_path, "1998/1998-1-1.flac", "2033/2033-1-1.flac", "367/367-1-1.flac")
    found = find_recordings(tmp_path, speaker="1989")
    with pytest.raises(CorpusError, match=r"speaker '1989'.*found \(3\): 367, 1998, 2033\. Pass one"):
        select_speaker(found, "1989", tmp_path)


def test_long_id_lists_are_cut():
    ids = [str(i) for i in range(100, 160)]
    text = list_ids(ids)
    assert text.startswith("100, 101, ") and text.endswith("... and 40 more")
    assert sorted(["19", "103", "A", "2"], key=natural_key) == ["2", "19", "103", "A"]


def test_a_missing_corpus(tmp_path):
    with pytest.raises(CorpusError, match=r"nowhere: no such folder.*--corpus"):
        find_recordings(tmp_path / "nowhere")


def test_a_corpus_that_is_a_file(tmp_path):
    touch(tmp_path, "one.wav")
    with pytest.raises(CorpusError, match="one.wav is a file, not a folder"):
        find_recordings(tmp_path / "one.wav")


def test_an_empty_corpus(tmp_path):
    with pytest.raises(CorpusError, match="no audio files found.*it is empty"):
        find_recordings(tmp_path)


def test_a_corpus_without_audio_names_what_it_found(tmp_path):
    touch(tmp_path, "1998/1998-1.trans.txt", "song.mp3")
    with pytest.raises(CorpusError, match=r"no audio files found.*2 other file\(s\), e.g. 1998/1998-1.trans.txt"):
        find_recordings(tmp_path)


def test_hidden_files_are_not_recordings(tmp_path):
    from data_prep.corpus import find_recordings

    folder = tmp_path / "voice"
    folder.mkdir()
    good = np.sin(np.linspace(0, 2000, 48_000)).astype(np.float32)
    soundfile.write(folder / "1-2-0000.wav", good, 16_000)
    (folder / ".1-2-0001.abc.partial.wav").write_bytes(b"half")  # an interrupted synth
    (folder / "._1-2-0000.wav").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource fork
    assert [r.path.name for r in find_recordings(tmp_path)] == ["1-2-0000.wav"]
