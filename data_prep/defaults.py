"""`vaelab data defaults`: the built-in Speaker A and Speaker B datasets and the built-in notes,
made once, reused after.

The lab notebook loads Speaker A and Speaker B from `vaelab_core.datasets.default_speaker_path`.
Students have no recordings, so the built-in speakers are the synthetic voices A and B of
`data_prep.synth` (2 minutes each, seed 0), turned into datasets by the very pipeline a TA uses
for recordings (`data_prep.build`: trim, cut into 150-frame sequences, split by utterance).
Students have no soundfont renders either, so the synthesizer lab's built-in notes are the kit's
own synthetic notes (`data_prep.notes.synthetic`, seed 0), written by the same writer as
`vaelab data notes`.

  HOME/synth/A/*.wav, B/*.wav (+ labels)   the synthetic recordings (kept: labels for analysis)
  HOME/datasets/speaker_A.npz, speaker_B.npz
  HOME/datasets/notes.npz                  the built-in notes (vaelab_core.notes.default_notes_path)

HOME is $VAELAB_HOME or ~/.cache/vaelab. Every step is deterministic, so the same HOME gives the
same bytes, and every file is written atomically, so an interrupted run leaves nothing half
made: running again finishes the job.
"""

from __future__ import annotations

import time
from pathlib import Path

from data_prep import build, synth
from data_prep.notes import synthetic as builtin_notes
from vaelab_core import spec
from vaelab_core.datasets import DatasetError, data_home, default_speaker_path, load_dataset
from vaelab_core.notes import default_notes_path, load_notes

#: The built-in speakers, their minutes of synthetic speech, and the seed of synthesis and split.
SPEAKERS = ("A", "B")
MINUTES = 2.0
SEED = 0
EVAL_FRACTION = 0.2

#: Recorded as the command in the datasets' manifests, whichever way this was run (CLI or the
#: Python API): the manifest, and so the bytes, must not depend on how it was called.
COMMAND = "vaelab data defaults"


def dataset_paths(home: str | Path | None = None) -> dict[str, Path]:
    """{"A": .../speaker_A.npz, "B": ...}: the lab's default paths, or those under `home`."""
    return {s: default_speaker_path(s, home) for s in SPEAKERS}


def _usable(path: Path, load=load_dataset) -> bool:
    """True when `path` holds a dataset (or, with `load=load_notes`, a note file) that loads and
    passes the lab's checks."""
    try:
        load(path)
    except DatasetError:
        return False
    return True


def _current_notes(path: Path) -> bool:
    """True when `path` holds built-in notes made by this kit's recipe: notes of an older recipe
    (before the noise floor, say) are made again, so that every student's set is the same."""
    try:
        made = load_notes(path).manifest.get("synthesis", {}).get("recipe")
    except DatasetError:
        return False
    return made == builtin_notes.RECIPE


def main(home: str | Path | None = None) -> tuple[Path, Path]:
    """Make the Speaker A and B datasets and the built-in notes if they are missing or unreadable;
    returns the datasets' paths (the notes are at `vaelab_core.notes.default_notes_path(home)`).

    `home`: data folder; None means `vaelab_core.datasets.data_home()` ($VAELAB_HOME or
    ~/.cache/vaelab), whose datasets are exactly `default_speaker_path("A")` and ("B").
    """
    started = time.perf_counter()
    paths = dataset_paths(home)
    notes = default_notes_path(home)
    home = data_home() if home is None else Path(home)

    todo = [s for s in SPEAKERS if not _usable(paths[s])]
    notes_todo = not _current_notes(notes)
    if not todo and not notes_todo:
        print(f"defaults: Speaker A and B datasets and the built-in notes are already built, nothing to do "
              f"({paths['A']}, {paths['B']}, {notes}).")
        return paths["A"], paths["B"]
    for path in [paths[s] for s in todo] + ([notes] if notes_todo else []):
        if path.exists():
            print(f"defaults: {path} does not load{' or is of an older recipe' if path == notes else ''}; "
                  "making it again.")

    if todo:
        # The corpus folder is this function's own scratch space: replacing it is always safe, and
        # synthesis is deterministic, so an earlier (or interrupted) corpus is simply made again.
        corpus = home / "synth"
        synth.main(corpus, speakers=list(SPEAKERS), minutes=MINUTES, seed=SEED, force=True)
        for s in todo:
            build.main(corpus / s, paths[s], speaker=s, eval_fraction=EVAL_FRACTION, seed=SEED,
                       force=paths[s].exists(), command=COMMAND, quiet=True)
    if notes_todo:  # after the speakers: the speech labs need those first
        builtin_notes.main(notes, seed=SEED, force=notes.exists(), command=COMMAND, quiet=True)

    print(f"defaults: built-in speakers and notes ready in {time.perf_counter() - started:.1f} s "
          f"({MINUTES:g} min of synthetic speech each, synthetic notes; seed {SEED}):")
    for s in SPEAKERS:
        dataset = load_dataset(paths[s])
        n_train, n_eval = len(dataset.train), len(dataset.eval)
        state = "made" if s in todo else "kept"
        print(f"  Speaker {s}: {n_train} train / {n_eval} eval sequences "
              f"({(n_train + n_eval) * spec.SEQUENCE_SECONDS / 60:.1f} min), {state}: {paths[s]}")
    print(f"  Notes: {load_notes(notes).describe()}, {'made' if notes_todo else 'kept'}: {notes}")
    return paths["A"], paths["B"]


if __name__ == "__main__":  # `python -m data_prep.defaults`: the students' way, without the vaelab command
    main()
