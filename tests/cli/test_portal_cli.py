"""``assetledger users`` and ``serve``'s checks, on a real signed SQLite ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.common import LedgerGroup
from cli.portal import COMMANDS
from portal.accounts import AccountStore
from tests.ledger.audit.audit_factory import demo_signers, demo_store


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    path = tmp_path / "ledger.db"
    demo_store(path, demo_signers()).close()
    return str(path)


@pytest.fixture
def password(tmp_path: Path) -> Path:
    path = tmp_path / "pw"
    path.write_text("a long enough passphrase\n")
    return path


def run(*args: str) -> tuple[int, str, str]:
    group = LedgerGroup()
    for command in COMMANDS:
        group.add_command(command)
    result = CliRunner().invoke(group, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_users_add_list_token_disable(ledger: str, password: Path) -> None:
    add = ["users", "add", "rosa", "--role", "guild", "--production", "Fallen Tower"]
    code, _, err = run(*add, "--guild", "SAG-AFTRA", "--password-file", str(password),
                       "--ledger", ledger)  # fmt: skip
    assert code == 0, err
    assert Path(ledger + ".accounts.db").is_file()  # beside the ledger, not in it
    code, out, _ = run("users", "list", "--format", "json", "--ledger", ledger)
    assert json.loads(out) == [
        {"name": "rosa", "role": "guild", "productions": ["Fallen Tower"], "guild": "SAG-AFTRA",
         "disabled": False, "parties": []}
    ]  # fmt: skip
    code, out, _ = run("users", "token", "rosa", "--ledger", ledger)
    token = out.strip()
    assert code == 0 and token.startswith("alp_")
    with AccountStore(ledger + ".accounts.db") as store:
        assert store.token_account(token) is not None
    code, _, err = run("users", "disable", "rosa", "--ledger", ledger)
    assert code == 0 and "revoked" in err
    code, out, _ = run("users", "list", "--ledger", ledger)
    assert "disabled" in out
    with AccountStore(ledger + ".accounts.db") as store:
        assert store.token_account(token) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "counsel"], "needs at least one --production"),
        (["--role", "guild", "--production", "FT"], "needs --guild"),
        (["--role", "admin", "--production", "FT\x07"], "bad production"),
    ],
)
def test_users_add_refuses_bad_input_with_exit_2(
    ledger: str, password: Path, args: list[str], message: str
) -> None:
    code, _, err = run("users", "add", "kim", *args, "--password-file", str(password),
                       "--ledger", ledger)  # fmt: skip
    assert code == 2
    assert message in err


def test_users_add_refuses_a_short_password(ledger: str, tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    code, _, err = run("users", "add", "kim", "--role", "admin", "--password-file", str(short),
                       "--ledger", ledger)  # fmt: skip
    assert code == 2 and "too short" in err and "at least 12" in err


def test_users_disable_unknown_account(ledger: str) -> None:
    code, _, err = run("users", "disable", "nobody", "--ledger", ledger)
    assert code == 2 and "no account 'nobody'" in err


def test_serve_refuses_a_missing_ledger_and_half_tls(tmp_path: Path, ledger: str) -> None:
    code, _, err = run("serve", "--ledger", str(tmp_path / "none.db"))
    assert code == 2 and "no ledger at" in err
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    code, _, err = run("serve", "--ledger", ledger, "--tls-cert", str(cert))
    assert code == 2 and "--tls-key" in err


def test_postgres_ledger_needs_an_accounts_path() -> None:
    code, _, err = run("users", "list", "--ledger", "postgresql://127.0.0.1/test")
    assert code == 2 and "--accounts" in err


@pytest.mark.parametrize(
    ("name", "args", "said"),
    [
        ("audra", ["--role", "auditor"], "added audra (auditor): ledger-wide"),
        ("adam", ["--role", "admin"], "added adam (admin): ledger-wide"),
        ("dana", ["--role", "performer", "--party", "performer:dana-whitfield"],
         "added dana (performer): the uses of performer:dana-whitfield's own likeness"),
        ("ag", ["--role", "agent", "--party", "performer:a", "--party", "performer:b"],
         "added ag (agent): the uses of the likeness and voice of performer:a, performer:b"),
        ("cal", ["--role", "counsel", "--production", "Fallen Tower"],
         "added cal (counsel): production(s) Fallen Tower"),
        ("rosa", ["--role", "guild", "--production", "FT", "--guild", "SAG-AFTRA"],
         "added rosa (guild): guild SAG-AFTRA, production(s) FT"),
    ],
)  # fmt: skip
def test_users_add_says_what_the_account_sees(
    ledger: str, password: Path, name: str, args: list[str], said: str
) -> None:
    """Not "for -": an auditor or admin is ledger-wide, a performer or agent follows parties."""
    code, _, err = run("users", "add", name, *args, "--password-file", str(password),
                       "--ledger", ledger)  # fmt: skip
    assert code == 0, err
    assert said in err and " for -" not in err
