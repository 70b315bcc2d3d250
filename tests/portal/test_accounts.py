"""The accounts file: Argon2 hashes, hashed tokens, disabling, and hostile input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ledger.errors import ConfigurationError
from portal.accounts import AccountStore, default_path, read_password_file
from portal.demo import DEMO_GUILD, DEMO_MEMBERS, demo_accounts

PW = "a long enough passphrase"


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    return AccountStore(tmp_path / "accounts.db")


def test_passwords_are_stored_as_argon2id_hashes(store: AccountStore, tmp_path: Path) -> None:
    store.add("kim", "counsel", ["Fallen Tower"], PW)
    raw = (tmp_path / "accounts.db").read_bytes()
    assert PW.encode() not in raw
    row = sqlite3.connect(tmp_path / "accounts.db").execute("SELECT password_hash FROM accounts")
    assert row.fetchone()[0].startswith("$argon2id$")
    assert store.authenticate("kim", PW) is not None
    assert store.authenticate("kim", PW + "x") is None
    assert store.authenticate("nobody", PW) is None


def test_the_accounts_file_is_readable_by_its_owner_only(
    store: AccountStore, tmp_path: Path
) -> None:
    store.add("kim", "counsel", ["Fallen Tower"], PW)
    for name in ("accounts.db", "accounts.db-wal"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name


def test_tokens_are_stored_hashed_and_die_with_the_account(
    store: AccountStore, tmp_path: Path
) -> None:
    store.add("kim", "auditor", [], PW)
    token = store.new_token("kim", "ci")
    assert token.startswith("alp_") and len(token) > 40
    assert token.encode() not in (tmp_path / "accounts.db").read_bytes()
    assert store.token_account(token) is not None
    assert store.token_account(token[:-1]) is None
    sid, _ = store.new_session(store.get("kim"))  # type: ignore[arg-type]
    store.disable("kim")
    assert store.token_account(token) is None
    assert store.session(sid) is None
    assert store.authenticate("kim", PW) is None


@pytest.mark.parametrize(
    ("name", "role", "productions", "guild", "password", "message"),
    [
        ("Kim", "counsel", ["FT"], None, PW, "bad account name"),
        ("kim/../x", "counsel", ["FT"], None, PW, "bad account name"),
        ("k" * 65, "counsel", ["FT"], None, PW, "bad account name"),
        ("", "counsel", ["FT"], None, PW, "bad account name"),
        ("kim", "root", ["FT"], None, PW, "unknown role"),
        ("kim", "counsel", [], None, PW, "needs at least one --production"),
        ("kim", "guild", ["FT"], None, PW, "needs --guild"),
        ("kim", "counsel", ["FT"], "WGA", PW, "only for guild accounts"),
        ("kim", "counsel", ["FT\x00"], None, PW, "bad production"),
        ("kim", "counsel", ["x" * 201], None, PW, "bad production"),
        ("kim", "counsel", ["   "], None, PW, "bad production"),
        ("kim", "counsel", ["FT"], None, "short", "too short"),
        ("kim", "counsel", ["FT"], None, "x" * 2000, "longer than"),
    ],
)
def test_bad_accounts_are_refused_with_a_reason(
    store: AccountStore,
    name: str,
    role: str,
    productions: list[str],
    guild: str | None,
    password: str,
    message: str,
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        store.add(name, role, productions, password, guild)
    assert store.all() == []


def test_a_name_is_taken_once(store: AccountStore) -> None:
    store.add("kim", "admin", [], PW)
    with pytest.raises(ConfigurationError, match="exists"):
        store.add("kim", "admin", [], PW)


def test_password_file_is_one_line(tmp_path: Path) -> None:
    good = tmp_path / "pw"
    good.write_text(PW + "\n")
    assert read_password_file(good) == PW
    two = tmp_path / "two"
    two.write_text(PW + "\nsecond\n")
    with pytest.raises(ConfigurationError, match="one line"):
        read_password_file(two)
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe" * 10)
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        read_password_file(binary)
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_password_file(tmp_path / "missing")


def test_accounts_live_beside_a_sqlite_ledger_and_postgres_needs_a_path() -> None:
    assert default_path("demo-work/ledger.db") == Path("demo-work/ledger.db.accounts.db")
    with pytest.raises(ConfigurationError, match="--accounts"):
        default_path("postgresql://127.0.0.1/test")


def test_demo_accounts_get_new_passwords_on_each_start(store: AccountStore) -> None:
    first = {a.name: a.password for a in demo_accounts(store, "Fallen Tower")}
    assert set(first) == {"counsel", "guild-rep", "auditor", "admin", "performer"}
    again = {a.name: a.password for a in demo_accounts(store, "Fallen Tower")}
    for name in first:
        assert first[name] != again[name]
        assert store.authenticate(name, first[name]) is None
        assert store.authenticate(name, again[name]) is not None
    guild = store.get("guild-rep")
    assert guild is not None and guild.guild == DEMO_GUILD
    assert store.members(DEMO_GUILD) == frozenset(DEMO_MEMBERS)
    performer = store.get("performer")
    assert performer is not None and performer.parties == ("performer:dana-whitfield",)
    assert performer.productions == ()
