"""A production name (or a party) no event records is refused (exit 2), never reported as all clear.

Found by an outside review: ``audit ip``, ``audit register`` and ``audit impact`` given a
mistyped show ("Fallen tower") answered "no findings", an empty register and "no consent is
revoked" with exit 0 (as did ``audit impact --party`` for a mistyped party id), while
``audit report`` and ``credits`` refused it.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.ledger.audit.audit_factory import build_store, demo_items, demo_signers


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("unknown") / "ledger.db"
    build_store(path, demo_items(), demo_signers()).close()
    return str(path)


@pytest.mark.parametrize(
    "args",
    [
        ("audit", "ip", "--production", "Fallen tower"),
        ("audit", "ip", "--production", "Fallen Tower", "--episode", "999"),
        ("audit", "register", "--production", "Fallen tower"),
        ("audit", "impact", "--production", "Fallen Tower "),
        ("audit", "impact", "--party", "performer:dana-whitfeld"),
    ],
)
def test_an_unknown_production_is_refused_with_a_hint(ledger: str, args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*args, "--ledger", ledger])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "no provenance events for" in result.stderr or "no consent given by" in result.stderr
    assert "case sensitive" in result.stderr or "party ids are exact" in result.stderr


def test_the_real_name_still_answers(ledger: str) -> None:
    result = CliRunner().invoke(
        cli, ["audit", "register", "--production", "Fallen Tower", "--ledger", ledger]
    )
    assert result.exit_code == 0 and "performer:dana-whitfield" in result.stdout
