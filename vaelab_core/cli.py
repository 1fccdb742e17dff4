"""The `vaelab` command: a thin layer over each verb's `main(...)`.

Verbs are found through the `vaelab.commands` entry-point group, so each package registers
its own role's commands (data_prep: `data`; grader: `labs`, `demo`, `pretrain`, `grade`) and
this package never imports the others (data_prep and grader build on vaelab_core, never the reverse).

One convention for every package: a package's `cli.py` declares its verbs with `add_verb`,
naming the function that does the work and its options. The function is also the Python API;
the option defaults, types and "required" come from its signature, so the command line never
restates them (and cannot drift from them).
"""

from __future__ import annotations

import argparse
import inspect
import shlex
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from vaelab_core.errors import VaelabError

ENTRY_POINT_GROUP = "vaelab.commands"


@dataclass
class Option:
    """One command-line option (or positional argument) of a verb, set from `main`'s parameter."""

    flag: str  # "--epochs" or, without dashes, a positional argument "dataset"
    help: str
    param: str = ""  # the parameter of main() it sets; default: the flag without dashes, - -> _
    parse: Callable[[str], object] | None = None  # text -> value; default: from the annotation
    extra: dict = field(default_factory=dict)  # more argparse keywords (choices, metavar ...)

    @property
    def dest(self) -> str:
        return self.param or self.flag.lstrip("-").replace("-", "_")


def _value_type(annotation: object) -> Callable[[str], object] | None:
    """The type to parse text into, from an annotation such as `str | Path | None`."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    options = [t for t in options if t is not type(None)]
    for wanted in (Path, int, float, str):
        if wanted in options:
            return wanted
    return None


def add_verb(subparsers: argparse._SubParsersAction, name: str, main: Callable, help: str,
             options: list[Option], *, call: Callable | None = None) -> argparse.ArgumentParser:
    """Add the verb `name` that runs `main(**options)`; returns its parser.

    Each option's default is `main`'s default for that parameter (shown in --help); a parameter
    without a default becomes a required option. A bool parameter defaulting to False is a
    switch. If `main` takes `command`, it receives the command line as typed (for provenance).
    `call(main, **values)` replaces the plain call where the verb prints or combines results.
    """
    parser = subparsers.add_parser(name, help=help, description=help)
    signature = inspect.signature(main)
    hints = typing.get_type_hints(main)
    for option in options:
        parameter = signature.parameters.get(option.dest)
        if parameter is None and call is None:
            raise TypeError(f"{main.__module__}.{main.__name__} has no parameter {option.dest!r}")
        kwargs = dict(option.extra)
        # An option that `call` consumes itself (not a parameter of main) defaults to None.
        default = parameter.default if parameter is not None else None
        positional = not option.flag.startswith("-")
        if default is False and hints.get(option.dest) is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = option.parse or _value_type(hints.get(option.dest))
        help_text = option.help
        if default is inspect.Parameter.empty:
            if not positional:
                kwargs["required"] = True
        else:
            kwargs["default"] = default
            if positional:
                kwargs["nargs"] = "?"
            if default is not None and default is not False:
                help_text += f" (default: {default})"
        if not positional:
            kwargs["dest"] = option.dest
        parser.add_argument(option.flag, help=help_text, **kwargs)

    takes_command = "command" in signature.parameters

    def run(args: argparse.Namespace) -> None:
        values = {option.dest: getattr(args, option.dest) for option in options}
        if takes_command:
            values["command"] = args.command_line
        (call or (lambda f, **kw: f(**kw)))(main, **values)

    parser.set_defaults(run=run)
    return parser


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
    try:
        parser = build_parser()  # loads each package's verbs: a broken torchaudio shows up here
    except VaelabError as err:
        print(f"vaelab: error: {err}", file=sys.stderr)
        return 2
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
