"""`vaelab data ...`: which function each verb runs, and its options.

The work, the defaults and the checks are in each verb's `main()` (vaelab_core.cli.add_verb
reads the defaults from its signature); nothing here restates them.
"""

from __future__ import annotations

import argparse

from vaelab_core.cli import Option, add_verb


def register_data(subparsers: argparse._SubParsersAction) -> None:
    from data_prep import build, check, defaults, notes, sweep, synth

    data = subparsers.add_parser("data", help="TA tools: build, synthesise and check speaker datasets")
    verbs = data.add_subparsers(title="data commands", metavar="VERB", required=True)
    add_verb(verbs, "build", build.main, "recordings -> one speaker dataset (.npz)", [
        Option("--corpus", "folder of wav/flac files (searched recursively)"),
        Option("--out", "output FILE.npz"),
        Option("--speaker", "reader id to keep; omit or 'all' for a multi-speaker set; for a plain "
                            "folder of one voice, the name to record"),
        Option("--eval-fraction", "share of each reader's utterances held out for evaluation"),
        Option("--seed", "seed of the train/eval split"),
        Option("--force", "replace an existing output file"),
    ])
    add_verb(verbs, "synth", synth.main, "write synthetic source-filter speech (audio + per-frame labels)", [
        Option("--out", "output folder"),
        Option("--speakers", "comma-separated built-in voices, e.g. A,B (default: A,B)",
               parse=lambda text: text.split(",")),
        Option("--count", "make N varied voices instead of built-in ones (a pre-training corpus)"),
        Option("--minutes", "minutes of speech per speaker"),
        Option("--seed", "seed (same seed, same bytes)"),
        Option("--force", "replace existing files"),
    ])
    add_verb(verbs, "check", check.main, "validate and summarise a dataset", [
        Option("dataset", "FILE.npz"),
        Option("--plot", "also draw the mean spectrum and examples to this PNG"),
    ])
    add_verb(verbs, "defaults", defaults.main,
             "build the built-in Speaker A and B sets and the built-in notes (once; reused afterwards)", [
                 Option("--home", "data folder (default: $VAELAB_HOME or ~/.cache/vaelab)"),
             ])
    add_verb(verbs, "sweep", sweep.main, "labelled sustained-vowel datasets, one factor varying (second lab)", [
        Option("--factor", "f0, f1, f2, f3 or all"),
        Option("--out", "output folder (default: $VAELAB_HOME/sweeps)"),
        Option("--sequences", "sequences per factor, each sweeping the whole range once"),
        Option("--seed", "seed of the held factors and the noise (same seed, same arrays)"),
        Option("--force", "replace sweep files made with other settings"),
    ])
    add_verb(verbs, "notes", notes.main, "single notes of six instrument families from a General MIDI "
                                         "soundfont, rendered by FluidSynth (the synthesizer lab)", [
        Option("--soundfont", "a General MIDI .sf2 file (default: FluidR3_GM.sf2 where Debian, Fedora or "
                              "Arch install it)"),
        Option("--out", "output FILE.npz"),
        Option("--seed", "which pitch of every five is held out for evaluation"),
        Option("--force", "replace an existing output file"),
    ])
