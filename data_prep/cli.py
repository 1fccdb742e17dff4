"""`vaelab data ...` and `vaelab pretrain`: argument parsing only; the work is in each verb's main()."""

from __future__ import annotations

import argparse
from pathlib import Path


def register_data(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="TA tools: build, synthesise and check speaker datasets")
    verbs = data.add_subparsers(title="data commands", metavar="VERB", required=True)

    build = verbs.add_parser("build", help="recordings -> one speaker dataset (.npz)")
    build.add_argument("--corpus", required=True, type=Path, help="folder of wav/flac files (searched recursively)")
    build.add_argument("--speaker", default=None,
                       help="reader id to keep; omit or 'all' for a multi-speaker set; for a plain "
                            "folder of one voice, the name to record")
    build.add_argument("--out", required=True, type=Path, help="output FILE.npz")
    build.add_argument("--eval-fraction", type=float, default=0.2, help="share of utterances held out (default 0.2)")
    build.add_argument("--seed", type=int, default=0, help="seed of the train/eval split (default 0)")
    build.add_argument("--force", action="store_true", help="replace an existing output file")

    def run_build(args: argparse.Namespace) -> None:
        from data_prep.build import main
        main(args.corpus, args.out, speaker=args.speaker, eval_fraction=args.eval_fraction,
             seed=args.seed, force=args.force, command=args.command_line)

    build.set_defaults(run=run_build)

    synth = verbs.add_parser("synth", help="write synthetic source-filter speech (audio + per-frame labels)")
    synth.add_argument("--out", required=True, type=Path, help="output folder")
    who = synth.add_mutually_exclusive_group()
    who.add_argument("--speakers", default=None, help="comma-separated built-in voices, e.g. A,B (default)")
    who.add_argument("--count", type=int, default=None, help="make N varied voices instead (a pre-training corpus)")
    synth.add_argument("--minutes", type=float, default=2.0, help="minutes of speech per speaker (default 2)")
    synth.add_argument("--seed", type=int, default=0, help="seed (same seed, same bytes)")
    synth.add_argument("--force", action="store_true", help="replace existing files")

    def run_synth(args: argparse.Namespace) -> None:
        from data_prep.synth import main
        speakers = args.speakers.split(",") if args.speakers else (None if args.count else ["A", "B"])
        main(args.out, speakers=speakers, count=args.count, minutes=args.minutes, seed=args.seed,
             force=args.force)

    synth.set_defaults(run=run_synth)

    check = verbs.add_parser("check", help="validate and summarise a dataset")
    check.add_argument("dataset", type=Path, help="FILE.npz")
    check.add_argument("--plot", type=Path, default=None, help="also draw the mean spectrum and examples to PNG")

    def run_check(args: argparse.Namespace) -> None:
        from data_prep.check import main
        main(args.dataset, plot=args.plot)

    check.set_defaults(run=run_check)

    defaults = verbs.add_parser("defaults", help="build the built-in Speaker A and B sets (once; reused afterwards)")
    defaults.add_argument("--home", type=Path, default=None, help="data folder (default: $VAELAB_HOME or ~/.cache/vaelab)")

    def run_defaults(args: argparse.Namespace) -> None:
        from data_prep.defaults import main
        main(home=args.home)

    defaults.set_defaults(run=run_defaults)


def register_pretrain(subparsers: argparse._SubParsersAction) -> None:
    pretrain = subparsers.add_parser("pretrain", help="pre-train the reference VAE on a multi-speaker set")
    pretrain.add_argument("--corpus", required=True, type=Path, help="multi-speaker DATASET.npz")
    pretrain.add_argument("--out", required=True, type=Path, help="output CHECKPOINT (.pt)")
    pretrain.add_argument("--epochs", type=int, default=200, help="most epochs to run (default 200)")
    pretrain.add_argument("--patience", type=int, default=15, help="stop after this many epochs without a better eval loss")
    pretrain.add_argument("--batch-size", type=int, default=8, help="sequences of 150 frames per batch (default 8)")
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.add_argument("--solutions", type=Path, default=None, help="solutions/ folder holding the reference notebook")
    pretrain.add_argument("--force", action="store_true", help="replace an existing checkpoint")

    def run_pretrain(args: argparse.Namespace) -> None:
        from data_prep.pretrain import main
        main(args.corpus, args.out, epochs=args.epochs, patience=args.patience,
             batch_size=args.batch_size, seed=args.seed, solutions=args.solutions,
             force=args.force, command=args.command_line)

    pretrain.set_defaults(run=run_pretrain)
