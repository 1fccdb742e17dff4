"""The CLI convention: a verb's options take their defaults, types and "required" from main()."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vaelab_core.cli import Option, add_verb


def work(out: Path, epochs: int = 7, lr: float = 0.5, name: str | None = None,
         force: bool = False, command: str | None = None) -> dict:
    return {"out": out, "epochs": epochs, "lr": lr, "name": name, "force": force, "command": command}


def parser_for(main, options) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vaelab")
    add_verb(parser.add_subparsers(), "work", main, "do the work", options)
    return parser


OPTIONS = [Option("--out", "output"), Option("--epochs", "epochs"), Option("--lr", "rate"),
           Option("--name", "a name"), Option("--force", "replace")]


def run(argv: list[str]) -> dict:
    """The values the verb would pass to main() for `argv`."""
    args = parser_for(work, OPTIONS).parse_args(argv)
    return {o.dest: getattr(args, o.dest) for o in OPTIONS}


def test_defaults_and_types_come_from_the_signature():
    values = run(["work", "--out", "x"])
    assert values == {"out": Path("x"), "epochs": 7, "lr": 0.5, "name": None, "force": False}
    values = run(["work", "--out", "x", "--epochs", "3", "--lr", "1e-3", "--name", "n", "--force"])
    assert values == {"out": Path("x"), "epochs": 3, "lr": 1e-3, "name": "n", "force": True}


def test_a_parameter_without_default_is_required(capsys):
    with pytest.raises(SystemExit):
        run(["work"])
    assert "--out" in capsys.readouterr().err


def test_help_shows_the_functions_defaults(capsys):
    with pytest.raises(SystemExit):
        parser_for(work, OPTIONS).parse_args(["work", "--help"])
    text = capsys.readouterr().out
    assert "(default: 7)" in text and "(default: 0.5)" in text


def test_the_verb_calls_main_with_the_values_and_the_command_line():
    captured = {}
    parser = argparse.ArgumentParser(prog="vaelab")
    add_verb(parser.add_subparsers(), "work", work, "do the work", OPTIONS,
             call=lambda main, **kw: captured.update(main(**kw)))
    args = parser.parse_args(["work", "--out", "o", "--epochs", "2"])
    args.command_line = "vaelab work --out o --epochs 2"
    args.run(args)
    assert captured["epochs"] == 2 and captured["out"] == Path("o")
    assert captured["command"] == "vaelab work --out o --epochs 2"


def test_an_option_naming_no_parameter_is_a_programming_error():
    with pytest.raises(TypeError, match="no parameter 'speed'"):
        parser_for(work, [Option("--speed", "how fast")])


def test_every_installed_verb_builds():
    from vaelab_core.cli import build_parser

    parser = build_parser()
    assert {"data", "demo", "labs", "pretrain"} <= set(parser._subparsers._group_actions[0].choices)
