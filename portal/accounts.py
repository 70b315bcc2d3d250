"""Portal accounts: people, roles, grants, API tokens, sessions and the access log.

Accounts are not evidence, so they live outside the hash chain, in a SQLite file of their own
beside the ledger (``<ledger>.accounts.db`` by default).  The ledger itself may be read-only.

Passwords are hashed with Argon2id (argon2-cffi).  API tokens and session ids are 256-bit random
strings; only their SHA-256 is stored, so a copy of this file opens no session.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ledger.errors import ConfigurationError, StoreError

ROLES = ("counsel", "guild", "auditor", "admin", "performer", "agent")
PARTY_ROLES = ("performer", "agent")  # see the uses of their parties' likeness, nothing else
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_GRANT = 200
SESSION_SECONDS = 8 * 3600
TOKEN_PREFIX = "alp_"

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, productions TEXT NOT NULL, guild TEXT,
    password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
    parties TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES accounts(name),
    label TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_hash TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES accounts(name),
    csrf TEXT NOT NULL, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS guild_members (
    guild TEXT NOT NULL, party_id TEXT NOT NULL, PRIMARY KEY (guild, party_id)
);
CREATE TABLE IF NOT EXISTS access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, resource TEXT NOT NULL, outcome TEXT NOT NULL, client TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    productions: tuple[str, ...]
    guild: str | None
    disabled: bool
    parties: tuple[str, ...] = ()  # a performer's own party id; the performers an agent represents

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "productions": list(self.productions),
            "guild": self.guild,
            "disabled": self.disabled,
            "parties": list(self.parties),
        }


@dataclass(frozen=True)
class Session:
    account: Account
    csrf: str


@dataclass(frozen=True)
class AccessRecord:
    at: int
    actor: str
    action: str
    resource: str
    outcome: str
    client: str

    def to_json(self) -> dict[str, object]:
        return self.__dict__.copy()


def default_path(ledger_url: str) -> Path:
    """``<ledger>.accounts.db`` beside a SQLite ledger; a PostgreSQL ledger needs ``--accounts``."""
    if ledger_url.startswith(("postgresql://", "postgres://")):
        raise ConfigurationError(
            "a PostgreSQL ledger has no folder to keep portal accounts beside it",
            hint="pass --accounts PATH (a SQLite file) or set ASSETLEDGER_ACCOUNTS",
        )
    return Path(ledger_url.removeprefix("sqlite:///") + ".accounts.db")


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ConfigurationError(
            f"bad account name {name!r}",
            hint="use 1-64 characters: lower-case letters, digits, '.', '_' or '-'",
        )
    return name


def check_grant(value: str, what: str) -> str:
    if (
        not value.strip()
        or len(value) > MAX_GRANT
        or any(ord(c) < 32 or c == "\x7f" for c in value)
    ):
        raise ConfigurationError(
            f"bad {what} {value!r}", hint=f"a {what} is 1-{MAX_GRANT} printable characters"
        )
    return value


def check_parties(role: str, parties: Sequence[str], grants: Sequence[str]) -> tuple[str, ...]:
    """A performer names exactly one party (their own id), an agent one or more; no one else
    names any.  Their pages follow the party, not a production, so they hold no production."""
    represented = tuple(sorted({check_grant(p, "party id") for p in parties}))
    if role not in PARTY_ROLES:
        if represented:
            raise ConfigurationError("--party is only for performer and agent accounts")
        return represented
    if grants:
        raise ConfigurationError(
            f"a {role} account holds no --production",
            hint="it sees the uses of its --party in every production that recorded one",
        )
    if role == "performer" and len(represented) != 1:
        raise ConfigurationError(
            "a performer account needs exactly one --party: the performer's own id",
            hint="e.g. --party performer:dana-whitfield (as the ledger's likeness records name it)",
        )
    if not represented:
        raise ConfigurationError(
            "an agent account needs at least one --party (repeat for each performer represented)"
        )
    return represented


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigurationError(
            f"the password is too short ({len(password)} characters)",
            hint=f"use at least {MIN_PASSWORD} characters (a passphrase is best)",
        )
    if len(password) > MAX_PASSWORD:
        raise ConfigurationError(f"the password is longer than {MAX_PASSWORD} characters")
    return password


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


P = ParamSpec("P")
R = TypeVar("R")


def _locked(
    method: Callable[Concatenate[AccountStore, P], R],
) -> Callable[Concatenate[AccountStore, P], R]:
    """Run a method holding the store's lock: one statement sequence at a time per connection."""

    def run(store: AccountStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with store.lock:
            return method(store, *args, **kwargs)

    return run


class AccountStore:
    """The accounts file.  One connection, used from the portal's worker threads in turn."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self.hasher = PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        try:
            _create_private(self.path)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
            _add_parties_column(self.db)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the accounts file {self.path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AccountStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- accounts -------------------------------------------------------------------------
    @_locked
    def add(
        self,
        name: str,
        role: str,
        productions: Sequence[str],
        password: str,
        guild: str | None = None,
        parties: Sequence[str] = (),
    ) -> Account:
        check_name(name)
        if role not in ROLES:
            raise ConfigurationError(f"unknown role {role!r}", hint="one of " + ", ".join(ROLES))
        grants = tuple(sorted({check_grant(p, "production") for p in productions}))
        represented = check_parties(role, parties, grants)
        if role in ("counsel", "guild") and not grants:
            raise ConfigurationError(f"a {role} account needs at least one --production")
        if role == "guild" and not guild:
            raise ConfigurationError("a guild account needs --guild (e.g. SAG-AFTRA)")
        if role != "guild" and guild:
            raise ConfigurationError("--guild is only for guild accounts")
        if guild is not None:
            check_grant(guild, "guild")
        hashed = self.hasher.hash(check_password(password))
        try:
            self.db.execute(
                "INSERT INTO accounts (name, role, productions, guild, password_hash, disabled,"
                " created_at, parties) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (name, role, json.dumps(grants), guild, hashed, int(time.time()),
                 json.dumps(represented)),
            )  # fmt: skip
        except sqlite3.IntegrityError:
            raise ConfigurationError(
                f"account {name!r} exists", hint="pick another name, or disable the old one"
            ) from None
        return Account(name, role, grants, guild, False, represented)

    @_locked
    def get(self, name: str) -> Account | None:
        row = self.db.execute(
            "SELECT name, role, productions, guild, disabled, parties FROM accounts WHERE name = ?",
            (name,),
        ).fetchone()
        return None if row is None else _account(row)

    @_locked
    def all(self) -> list[Account]:
        rows = self.db.execute(
            "SELECT name, role, productions, guild, disabled, parties FROM accounts ORDER BY name"
        )
        return [_account(r) for r in rows]

    @_locked
    def disable(self, name: str) -> None:
        cursor = self.db.execute("UPDATE accounts SET disabled = 1 WHERE name = ?", (name,))
        if cursor.rowcount == 0:
            raise ConfigurationError(f"no account {name!r}", hint="see assetledger users list")
        self.db.execute("DELETE FROM sessions WHERE name = ?", (name,))
        self.db.execute("DELETE FROM tokens WHERE name = ?", (name,))

    @_locked
    def set_password(self, name: str, password: str) -> None:
        hashed = self.hasher.hash(check_password(password))
        cursor = self.db.execute(
            "UPDATE accounts SET password_hash = ?, disabled = 0 WHERE name = ?", (hashed, name)
        )
        if cursor.rowcount == 0:
            raise ConfigurationError(f"no account {name!r}", hint="see assetledger users list")
        self.db.execute("DELETE FROM sessions WHERE name = ?", (name,))

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account when the password matches and it is enabled; None otherwise.

        An unknown name costs the same Argon2 work as a wrong password (no user enumeration).
        The hashing runs without the store's lock, so sign-ins do not queue behind each other.
        """
        with self.lock:
            row = self.db.execute(
                "SELECT name, role, productions, guild, disabled, password_hash, parties"
                " FROM accounts WHERE name = ?",
                (name,),
            ).fetchone()
        stored = self._dummy_hash if row is None else row[5]
        try:
            self.hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row[4]:
            return None
        if self.hasher.check_needs_rehash(stored):
            rehashed = self.hasher.hash(password)
            with self.lock:
                self.db.execute(
                    "UPDATE accounts SET password_hash = ? WHERE name = ?", (rehashed, name)
                )
        return _account((*row[:5], row[6]))

    # --- API tokens -----------------------------------------------------------------------
    @_locked
    def new_token(self, name: str, label: str = "") -> str:
        account = self.get(name)
        if account is None or account.disabled:
            raise ConfigurationError(f"no enabled account {name!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.db.execute(
            "INSERT INTO tokens VALUES (?, ?, ?, ?)",
            (digest(token), name, check_grant(label or "api", "token label"), int(time.time())),
        )
        return token

    @_locked
    def token_account(self, token: str) -> Account | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        row = self.db.execute(
            "SELECT a.name, a.role, a.productions, a.guild, a.disabled, a.parties FROM tokens t"
            " JOIN accounts a ON a.name = t.name WHERE t.token_hash = ?",
            (digest(token),),
        ).fetchone()
        if row is None or row[4]:
            return None
        return _account(row)

    # --- sessions -------------------------------------------------------------------------
    @_locked
    def new_session(self, account: Account) -> tuple[str, str]:
        """A fresh session id (for the cookie) and its CSRF token."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = int(time.time())
        self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
        self.db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?)",
            (digest(sid), account.name, csrf, now + SESSION_SECONDS),
        )
        return sid, csrf

    @_locked
    def session(self, sid: str) -> Session | None:
        if len(sid) > 100:
            return None
        row = self.db.execute(
            "SELECT a.name, a.role, a.productions, a.guild, a.disabled, a.parties, s.csrf"
            " FROM sessions s"
            " JOIN accounts a ON a.name = s.name WHERE s.session_hash = ? AND s.expires_at >= ?",
            (digest(sid), int(time.time())),
        ).fetchone()
        if row is None or row[4]:
            return None
        return Session(_account(row[:6]), row[6])

    @_locked
    def end_session(self, sid: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE session_hash = ?", (digest(sid),))

    # --- guild rosters --------------------------------------------------------------------
    @_locked
    def add_members(self, guild: str, party_ids: Sequence[str]) -> None:
        check_grant(guild, "guild")
        self.db.executemany(
            "INSERT OR IGNORE INTO guild_members VALUES (?, ?)",
            [(guild, check_grant(p, "member id")) for p in party_ids],
        )

    @_locked
    def members(self, guild: str) -> frozenset[str]:
        rows = self.db.execute("SELECT party_id FROM guild_members WHERE guild = ?", (guild,))
        return frozenset(r[0] for r in rows)

    # --- access log -----------------------------------------------------------------------
    @_locked
    def log_access(self, record: AccessRecord) -> None:
        self.db.execute(
            "INSERT INTO access_log (at, actor, action, resource, outcome, client)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (record.at, record.actor, record.action, record.resource, record.outcome,
             record.client),
        )  # fmt: skip

    @_locked
    def access_log(self, limit: int = 200) -> list[AccessRecord]:
        rows = self.db.execute(
            "SELECT at, actor, action, resource, outcome, client FROM access_log"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AccessRecord(*r) for r in rows]

    @_locked
    def access_records(self, match: AccessFilter, offset: int, limit: int) -> AccessPage:
        """The access log's records that ``match`` selects, newest first, one page of them."""
        where, args = match.sql()
        total = self.db.execute(f"SELECT count(*) FROM access_log{where}", args).fetchone()[0]
        rows = self.db.execute(
            "SELECT at, actor, action, resource, outcome, client FROM access_log"
            f"{where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        actors = self.db.execute("SELECT DISTINCT actor FROM access_log ORDER BY actor LIMIT 500")
        return AccessPage([AccessRecord(*r) for r in rows], int(total), [a[0] for a in actors])


@dataclass(frozen=True)
class AccessFilter:
    """Which access-log records to show: each field that is set must hold (times in seconds)."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: int | None = None  # at >= since
    before: int | None = None  # at < before

    def sql(self) -> tuple[str, tuple[object, ...]]:
        tests: list[str] = []
        args: list[object] = []
        for column, value in (("actor", self.actor), ("action", self.action)):
            if value is not None:
                tests.append(f"{column} = ?")
                args.append(value)
        if self.outcome == "refused":  # every outcome but allowed: denials, failed sign-ins
            tests.append("outcome <> 'allowed'")
        elif self.outcome is not None:
            tests.append("outcome = ?")
            args.append(self.outcome)
        if self.since is not None:
            tests.append("at >= ?")
            args.append(self.since)
        if self.before is not None:
            tests.append("at < ?")
            args.append(self.before)
        return (" WHERE " + " AND ".join(tests) if tests else ""), tuple(args)


@dataclass(frozen=True)
class AccessPage:
    records: list[AccessRecord]
    total: int  # records that match, on every page
    actors: list[str]  # every account name the log holds (for the filter's choices)


def _create_private(path: Path) -> None:
    """A new accounts file is ``0600``: its password hashes are for no other local user.

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _account(row: Sequence[object]) -> Account:
    name, role, productions, guild, disabled, parties = row
    return Account(
        str(name),
        str(role),
        tuple(json.loads(str(productions))),
        None if guild is None else str(guild),
        bool(disabled),
        tuple(json.loads(str(parties or "[]"))),
    )


def _add_parties_column(db: sqlite3.Connection) -> None:
    """Accounts files made before performer accounts get the ``parties`` column (empty)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(accounts)")}
    if "parties" not in columns:
        db.execute("ALTER TABLE accounts ADD COLUMN parties TEXT NOT NULL DEFAULT '[]'")


def read_password_file(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read password file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigurationError(f"password file {path} is not UTF-8 text") from None
    if "\n" in text or "\x00" in text:
        raise ConfigurationError(f"password file {path} must hold one line")
    return check_password(text)
