"""Every ``assetledger …`` command a message, hint or help text names exists, with its options.

An outside reader follows a hint literally: a hint naming a command that does not exist (or an
option the command does not have) sends them nowhere.  This reads every string literal of the
product's code (f-strings with their fixed parts), finds each ``assetledger WORD …`` in it and
checks it against the click command tree: the words up to the first that is not a subcommand
name a command, and each ``--option`` in the same clause is one of that command's options.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click

from cli.main import cli

ROOT = Path(__file__).parents[2]
PACKAGES = ("cli", "consumers", "demo", "ledger", "portal", "producers")

NOT_COMMANDS = {
    # labels and lock names that start with the product's name, not commands
    "assetledger finding v1",  # the text a finding id hashes
    "assetledger replica usage register",  # a report's name
    "assetledger delivery disclosure",  # a report's name
    "assetledger ddl",  # a PostgreSQL advisory lock name
    "assetledger index ddl",  # a PostgreSQL advisory lock name
}
CLAUSE_END = re.compile(r"[,;()`\n]| or | and | then |\. ")


def _texts(node: ast.AST) -> Iterator[str]:
    """The string constants of one module; an f-string's fixed parts joined by ``X``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.JoinedStr):
            yield "".join(v.value if isinstance(v, ast.Constant) else "X" for v in sub.values)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def mentions(before: int = 0) -> Iterator[tuple[str, str]]:
    """(file and text, the clause from ``assetledger`` on) for every mention in the code;
    with ``before``, the clause starts that many characters before the mention."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for text in _texts(tree):
                for m in re.finditer(r"(?<![\w.-])assetledger ", text):
                    clause = CLAUSE_END.split(text[m.start() :], maxsplit=1)[0]
                    lead = text[max(0, m.start() - before) : m.start()]
                    yield f"{path.relative_to(ROOT)}: {text[:60]!r}", lead + clause


def resolve(words: list[str]) -> tuple[click.Command, list[str]] | None:
    """The command the words name (with the words that follow it), None when the first word
    after ``assetledger`` is no command."""
    command: click.Command = cli
    rest = list(words)
    depth = 0
    while rest and isinstance(command, click.Group):
        found = command.get_command(click.Context(command), rest[0].split("|")[0])
        if found is None:
            break
        for alternative in rest[0].split("|"):  # "finding clear|waive": each must exist
            assert command.get_command(click.Context(command), alternative), alternative
        command, rest, depth = found, rest[1:], depth + 1
    return (command, rest) if depth else None


def options_of(command: click.Command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)}


def test_every_named_command_and_option_exists() -> None:
    wrong = []
    seen = 0
    for where, clause in mentions():
        words = clause.split()
        if " ".join(words) in NOT_COMMANDS or any(
            clause.startswith(label) for label in NOT_COMMANDS
        ):
            continue
        found = resolve(words[1:])
        if found is None:
            wrong.append(f"{where}: {clause!r} names no assetledger command")
            continue
        seen += 1
        command, rest = found
        known = options_of(command)
        for word in rest:
            option = word.split("=")[0].rstrip(".:")
            if option.startswith("--") and option not in known:
                wrong.append(f"{where}: {clause!r}: {command.name} has no option {option}")
    assert seen > 50, "the scan no longer finds the product's hints"
    assert not wrong, "\n".join(wrong)


def test_the_scan_catches_a_command_that_does_not_exist() -> None:
    assert resolve(["checkpoint", "sign"]) is not None  # the command exists; "sign" is text
    assert resolve(["index", "ddl"]) is None
    command, rest = resolve(["packet", "verify", "--quorum", "2"]) or (cli, [])
    assert rest == ["--quorum", "2"]
    assert command.name == "verify" and "--quorum" in options_of(command)
    checkpoint, _ = resolve(["checkpoint"]) or (cli, [])
    assert "--log-key" not in options_of(checkpoint)  # it prints a checkpoint, signs none


def test_a_hint_to_sign_a_checkpoint_names_a_command_that_can() -> None:
    """Only a command holding the log key signs a checkpoint: ``assetledger checkpoint``
    prints the latest one.  A hint saying "sign one (assetledger checkpoint …)" sent the
    reader to a command that signs nothing."""
    wrong = []
    for where, text in mentions(before=40):
        lead, _, clause = text.partition("assetledger ")
        if not re.search(r"\bsign", lead) or "checkpoint" not in lead + clause:
            continue
        found = resolve(clause.split())
        if found is not None and "--log-key" not in options_of(found[0]):
            wrong.append(f"{where}: {text!r}: {found[0].name} cannot sign a checkpoint")
    assert not wrong, "\n".join(wrong)
