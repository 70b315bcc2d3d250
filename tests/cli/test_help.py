"""What ``assetledger --help`` and every subcommand's help tell an outside reader."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from cli.main import cli

README = Path(__file__).parents[2] / "README.md"


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def help_of(*path: str) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, (path, result.output)
    return result.output


def test_top_level_help_states_the_exit_codes_the_readme_documents() -> None:
    text = " ".join(help_of().split())
    assert "Exit codes: 0 ok; 1 a verification or audit failure was found" in text
    assert "2 a usage or environment error" in text
    readme = " ".join(README.read_text(encoding="utf-8").split())
    assert "`1` means a verification or audit failure was found" in readme
    assert "`2` means a usage or environment error" in readme


def test_every_option_of_every_command_says_what_it_is_for() -> None:
    bare = []
    for path in commands():
        ctx = click.Context(cli)
        command: click.Command | None = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.get_command(ctx, name)
        assert command is not None
        for param in command.params:
            if isinstance(param, click.Option) and not param.help:
                bare.append(f"{' '.join(path)} {param.opts[0]}")
    assert len(list(commands())) > 40
    assert not bare, bare


def test_options_read_in_their_natural_order() -> None:
    """click lists the decorator applied last first: shared option groups must not come out
    reversed (--valid-until before --valid-from, a finding's --schema-registry before --key)."""
    for path in (("keys", "enroll"), ("keys", "rotate")):
        text = help_of(*path)
        order = [text.index(o) for o in ("--valid-from", "--valid-until", "--signer-key")]
        assert order == sorted(order), path
        order = [text.index(o) for o in ("--production", "--for-actor", "--source-type")]
        assert order == sorted(order), path
    for decision in ("clear", "waive", "remediate", "reopen"):
        text = help_of("finding", decision)
        options = re.findall(r"^  (--[a-z-]+)", text, re.MULTILINE)
        assert options[:3] == ["--key", "--reason", "--role"], (decision, options)
