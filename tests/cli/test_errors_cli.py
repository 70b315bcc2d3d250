"""Errors a user can hit on the command line: each says what was wrong and what to do, and
exits 2 (usage or environment), never with a traceback (issue: outside-reader pass)."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import common
from cli.main import cli
from ledger.errors import BrokerError, ConfigurationError
from ledger.log import checkpoint as cp
from ledger.trust import keys as keyfiles
from ledger.trust.registry import Registry, RootKey, TrustRoot
from tests.conftest import require_module
from tests.ledger.audit.audit_factory import demo_signers, demo_store

BINARY = bytes(range(256)) * 4


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("errors") / "ledger.db"
    demo_store(path, demo_signers()).close()
    return str(path)


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    path = tmp_path / "random.bin"
    path.write_bytes(BINARY)
    return path


def fails(*args: str, code: int = 2) -> str:
    """Run ``assetledger ARGS``: it exits ``code`` with a message, not an exception."""
    result = CliRunner().invoke(cli, list(args))
    assert isinstance(result.exception, SystemExit) or result.exception is None, result
    assert result.exit_code == code, (args, result.output)
    assert "Traceback" not in result.output
    return " ".join(result.stderr.split())


def test_a_binary_file_where_text_is_expected(ledger: str, binary: Path, tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    out = fails("emit", "--key", str(key), "--event", str(binary))
    assert f"event file {binary} is not UTF-8 text (byte 128)" in out
    assert "hint: pass the events file itself" in out
    out = fails("consistency", str(binary), "--ledger", ledger)
    assert f"checkpoint file {binary} is not UTF-8 text" in out


def test_a_folder_or_a_file_that_is_no_ledger(ledger: str, tmp_path: Path) -> None:
    folder = tmp_path / "ledgers"
    folder.mkdir()
    for args in (("verify",), ("log",), ("audit", "ip"), ("init", "--origin", "x.example/l")):
        out = fails(*args, "--ledger", str(folder))
        assert f"error: {folder} is a folder, not a ledger file" in out, args
        assert f"hint: pass the ledger's file, e.g. --ledger {folder / 'ledger.db'}" in out
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # an SQLite file without a ledger's tables
    (tmp_path / "notes.db").write_bytes(BINARY)
    for path in (empty, tmp_path / "notes.db"):
        out = fails("verify", "--ledger", str(path))
        assert f"SQLite ledger {path}" in out and f"hint: {common.LEDGER_HINT}" in out


def test_numbers_out_of_range_are_usage_errors(ledger: str) -> None:
    for args in (
        ("log", "--limit", "-1"),
        ("log", "--start", "-5"),
        ("quarantine", "--limit", "-1"),
        ("verify", "--workers", "-1"),
    ):
        result = CliRunner().invoke(cli, [*args, "--ledger", ledger])
        assert result.exit_code == 2 and "is not in the range x>=0" in result.output, args


def test_what_is_not_in_the_ledger_is_named_with_where_to_look(ledger: str) -> None:
    for args in (("prove", "no-such-event"), ("show", "no-such-event")):
        out = fails(*args, "--ledger", ledger)
        assert "error: event no-such-event is not in the ledger" in out, args
        assert "hint: assetledger log lists the event ids the ledger holds" in out, args
    root = TrustRoot((RootKey("root", keyfiles.generate("root").public),))
    with pytest.raises(ConfigurationError) as raised:  # what keys show says
        Registry(root).actor_view("person:nobody", datetime.now(UTC))
    assert raised.value.message == "actor person:nobody is not in the key registry"
    assert raised.value.hint == "assetledger keys list shows every actor enrolled"


def test_a_time_that_is_not_iso_8601_shows_one_that_is(ledger: str) -> None:
    out = fails("keys", "list", "--at", "yesterday", "--ledger", ledger)
    assert "--at 'yesterday' is not an ISO 8601 time" in out
    assert "hint: e.g. --at 2026-03-01T00:00:00Z" in out


def test_commands_without_a_spool_do_not_offer_one() -> None:
    """The emitter's connection hint offers --spool, which only emit and spool flush take."""
    with pytest.raises(BrokerError) as raised, common.broker_hint():
        raise BrokerError("cannot connect", hint="… with --spool DIR events wait …")
    assert raised.value.message == "cannot connect"
    assert raised.value.hint == common.BROKER_HINT and "--spool" not in common.BROKER_HINT


def test_keys_enroll_with_no_broker_offers_out_and_publish(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for name in ("root", "artist"):
        CliRunner().invoke(cli, ["keys", "generate", name, "--out", str(root)])
    out = fails(
        "keys", "enroll", "person:a", "--kind", "human", "--name", "A",
        "--public-key", str(root / "artist.pub"), "--signer-key", str(root / "root.key"),
        "--bootstrap-servers", "127.0.0.1:1",
    )  # fmt: skip
    assert "error: cannot connect to Kafka at 127.0.0.1:1" in out
    assert "--spool" not in out and "keys publish" in out
    assert os.access(root / "root.key", os.R_OK)


def test_a_verifier_key_that_is_no_key_says_what_one_is(tmp_path: Path, binary: Path) -> None:
    receipt = tmp_path / "r.receipt"
    receipt.write_text("not a receipt\n")
    folder = tmp_path / "keys"
    folder.mkdir()
    text = tmp_path / "log.vkey"
    text.write_text("hello\n")
    for given, said in (
        (str(folder), f"verifier key {folder} is a folder"),
        ("garbage", "verifier key 'garbage' is not <name>+<key id>+<key>"),
        (str(text), f"verifier key 'hello' is not <name>+<key id>+<key> (in {text})"),
        (str(binary), f"verifier key file {binary} is not UTF-8 text"),
    ):
        out = fails("verify-receipt", str(receipt), "--log-key", given)
        assert f"error: {said}" in out, out
        assert "hint:" in out and ("log_vkey" in out or "file itself" in out), out


def test_serve_names_a_tls_certificate_it_cannot_load(ledger: str, binary: Path) -> None:
    require_module("uvicorn")
    out = fails("serve", "--ledger", ledger, "--tls-cert", str(binary), "--tls-key", str(binary))
    assert f"cannot serve HTTPS with --tls-cert {binary} and --tls-key {binary}" in out
    assert "hint: give a PEM certificate (chain) and its unencrypted PEM private key" in out


def test_users_refuse_a_ledger_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    out = fails("users", "list", "--ledger", str(missing))
    assert f"no ledger at {missing}, so no accounts file {missing}.accounts.db beside it" in out
    assert not list(tmp_path.iterdir())  # no accounts file of its own was started


def test_audit_report_refuses_an_unknown_production_before_auditing(ledger: str) -> None:
    out = fails("audit", "report", "--production", "Fallen tower", "--ledger", ledger)
    assert "error: no provenance events for 'Fallen tower'" in out
    assert "auditing" not in out and "0 finding(s)" not in out


def test_a_public_key_where_a_private_one_belongs_and_back(tmp_path: Path) -> None:
    pair = keyfiles.generate("artist")
    private, public = keyfiles.write_key_pair(pair, tmp_path, None)
    enrol = ("keys", "enroll", "person:a", "--kind", "human", "--name", "A")
    out = fails(*enrol, "--public-key", str(public), "--signer-key", str(public),
                "--out", str(tmp_path / "r.json"))  # fmt: skip
    assert f"error: {public} holds a public key, not a private key" in out
    assert "hint: sign with the private half, artist.key" in out
    out = fails(*enrol, "--public-key", str(private), "--signer-key", str(private),
                "--out", str(tmp_path / "r.json"))  # fmt: skip
    assert f"error: {private} holds a private key, not a public key" in out
    assert "hint: give its public half, artist.pub" in out
    body = "".join(private.read_text().strip().splitlines()[1:-1])
    assert body[:40] not in out.replace(" ", "")  # a key is named, never shown


def test_a_witness_key_that_is_no_key_says_what_one_is(tmp_path: Path) -> None:
    receipt = tmp_path / "r.receipt"
    receipt.write_text("x\n")
    vkey = cp.vkey("log.example/l", keyfiles.generate("log").public)
    out = fails("verify-receipt", str(receipt), "--log-key", vkey, "--witness-key", "garbage")
    assert "error: verifier key 'garbage' is not <name>+<key id>+<key>" in out
    assert "hint: give the witness's verifier key (assetledger witness init prints it" in out
