"""The `vaelab` command: a thin layer over each verb's `main(...)`.

Verbs are found through the `vaelab.commands` entry-point group, so each package registers
its own role's commands (data_prep: `data`, `pretrain`; grader: `demo`, later `grade`) and this
package never imports the others (DESIGN.md: directions between packages).
Each entry point is a function `register(subparsers)` that adds a parser and sets `run`, a
callable taking the parsed namespace.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from importlib.metadata import entry_points

from vaelab_core.errors import VaelabError

ENTRY_POINT_GROUP = "vaelab.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaelab", description="vaelab: a graded lab kit on variational autoencoders for speech."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        entry.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["vaelab", *argv])  # recorded in manifests and checkpoints
    try:
        args.run(args)
    except VaelabError as err:
        print(f"vaelab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vaelab: interrupted; no partial output was kept.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
