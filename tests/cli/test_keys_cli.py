"""``assetledger keys`` and ``show`` offline: signed record files, key hygiene, reading back.

Records written with ``--out`` are ingested through the consumer's own inspection into a real
SQLite ledger, then read back with ``keys list``, ``keys show`` and ``show``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.keys import message_from_json
from cli.main import cli
from consumers.inspect import RawRecord, inspect
from demo.story import production
from ledger.events.encoding import SingleObjectFraming
from ledger.log import operator
from ledger.store import PendingEntry, Quarantined
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys as keyfiles
from ledger.trust.dsse import Envelope, verify_signature
from ledger.trust.keys import KeyPair
from ledger.trust.policy import RegistryTrust
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from producers.emitter import Message, build_message
from tests.ledger.ledger_factory import append_all

FRAMING = SingleObjectFraming()


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    for name in ("root", "root2", "artist", "artist2"):
        run("keys", "generate", name, "--out", str(folder))
    return folder


def _record(path: Path) -> Message:
    return message_from_json(json.loads(path.read_text()), str(path))


def _payload_event(message: Message) -> dict[str, Any]:
    _, event = FRAMING.decode(Envelope.decode(message.value).payload)
    return event


def test_enroll_writes_a_signed_record_and_no_secret(key_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "enrol.json"
    result = run(
        "keys", "enroll", "person:mira-keller", "--kind", "human", "--name", "Mira Keller",
        "--public-key", str(key_dir / "artist.pub"), "--signer-key", str(key_dir / "root.key"),
        "--production", "Fallen Tower", "--source-type", "digitalCreation",
        "--for-actor", "person:mira-keller", "--action", "c2pa.edited",
        "--valid-from", "2025-03-01T00:00:00Z", "--valid-until", "2026-03-01T00:00:00Z",
        "--out", str(out),
    )  # fmt: skip
    message = _record(out)
    assert result.stdout.strip() == message.event_id
    root = keyfiles.load_private(key_dir / "root.key")
    artist = keyfiles.load_public(key_dir / "artist.pub")
    envelope = Envelope.decode(message.value)
    verify_signature(envelope, root.key_id, root.public)
    event = _payload_event(message)
    assert event["operation"] == "enroll"
    assert event["key_id"] == keyfiles.key_id(artist)
    assert event["valid_from"] == datetime(2025, 3, 1, tzinfo=UTC)
    assert event["valid_until"] == datetime(2026, 3, 1, tzinfo=UTC)
    assert event["scope"]["productions"] == ["Fallen Tower"]
    assert event["scope"]["actors"] == ["person:mira-keller"]
    assert event["scope"]["actions"] == ["c2pa.edited"]
    assert event["scope"]["digital_source_types"] == [
        "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCreation"
    ]
    assert message.key == b"person:mira-keller"
    _assert_no_private_material(out.read_text() + result.output, key_dir)


def _assert_no_private_material(text: str, key_dir: Path) -> None:
    for path in key_dir.glob("*.key"):
        pem = path.read_text()
        body = "".join(pem.strip().splitlines()[1:-1])
        assert body not in text
        pair = keyfiles.load_private(path)
        raw = pair.private.private_bytes_raw()
        assert base64.b64encode(raw).decode() not in text
        assert raw.hex() not in text


def test_private_keys_are_0600_and_passphrases_work(tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse\n")
    folder = tmp_path / "k"
    run("keys", "generate", "root", "--out", str(folder), "--encrypt",
        "--passphrase-file", str(secret))  # fmt: skip
    run("keys", "generate", "artist", "--out", str(folder))
    assert (folder / "root.key").stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED" in (folder / "root.key").read_bytes()
    base = ["keys", "enroll", "person:a", "--kind", "human", "--name", "A",
            "--public-key", str(folder / "artist.pub"), "--signer-key", str(folder / "root.key"),
            "--out", str(tmp_path / "r.json")]  # fmt: skip
    locked = run(*base, code=2)
    assert "encrypted with a passphrase" in locked.output
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("battery staple\n")
    assert "wrong passphrase" in run(*base, "--passphrase-file", str(wrong), code=2).output
    run(*base, "--passphrase-file", str(secret))
    assert (tmp_path / "r.json").exists()


def test_bad_key_files_get_clear_errors(key_dir: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.key"
    truncated.write_bytes((key_dir / "root.key").read_bytes()[:50])
    base = ["keys", "revoke", "person:a", "--key", "ab" * 32, "--out", str(tmp_path / "r.json")]
    cut = run(*base, "--signer-key", str(truncated), code=2)
    assert "truncated or corrupt" in cut.output
    as_private = run(*base, "--signer-key", str(key_dir / "root.pub"), code=2)
    assert "root.pub holds a public key, not a private key" in as_private.output
    missing = run(*base, "--signer-key", str(tmp_path / "nope.key"), code=2)
    assert "does not exist" in missing.output
    bad_time = run(*base, "--signer-key", str(key_dir / "root.key"), "--effective", "yesterday",
                   code=2)  # fmt: skip
    assert "not an ISO 8601 time" in bad_time.output


def test_several_signer_keys_cosign_for_a_threshold(key_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    run("keys", "delegate", "org:kestrel", "--may-enrol-kind", "ai_model",
        "--production", "Fallen Tower", "--signer-key", str(key_dir / "root.key"),
        "--signer-key", str(key_dir / "root2.key"), "--out", str(out))  # fmt: skip
    envelope = Envelope.decode(_record(out).value)
    signers = {s.keyid for s in envelope.signatures}
    roots = [keyfiles.load_private(key_dir / f"{n}.key") for n in ("root", "root2")]
    assert signers == {r.key_id for r in roots}
    for r in roots:
        verify_signature(envelope, r.key_id, r.public)
    assert _payload_event(_record(out))["delegation"]["actor_kinds"] == ["ai_model"]


# --- reading a ledger built from the records ---------------------------------------------------


def _ingest(store: SqliteStore, messages: list[Message]) -> list[PendingEntry | Quarantined]:
    trust = RegistryTrust.from_store(store)
    offset = store.head().size
    outcomes = []
    for i, m in enumerate(messages):
        raw = RawRecord("events", 0, offset + i, m.key, m.value, tuple(m.headers))
        outcome = inspect(raw, trust, FRAMING)
        if isinstance(outcome, PendingEntry):
            append_all(store, [outcome])
        outcomes.append(outcome)
    return outcomes


def _work(signer: KeyPair, when: str) -> Message:
    event = dict(production()[2][1], producer_id="t", producer_seq=1, event_time=when)
    return build_message(event, signer, source="/ws")


@pytest.fixture
def ledger(key_dir: Path, tmp_path: Path) -> tuple[str, dict[str, Message]]:
    """A ledger where Mira enrols, works, rotates, and her old key is revoked."""
    root = keyfiles.load_private(key_dir / "root.key")
    artist = keyfiles.load_private(key_dir / "artist.key")
    artist2 = keyfiles.load_private(key_dir / "artist2.key")
    signer = ["--signer-key", str(key_dir / "root.key")]
    files = {name: tmp_path / f"{name}.json" for name in ("enrol", "rotate", "revoke")}
    run("keys", "enroll", "person:mira-keller", "--kind", "human", "--name", "Mira Keller",
        "--public-key", str(key_dir / "artist.pub"), "--valid-from", "2025-03-01T00:00:00Z",
        *signer, "--out", str(files["enrol"]))  # fmt: skip
    run("keys", "rotate", "person:mira-keller", "--previous-key", artist.key_id,
        "--public-key", str(key_dir / "artist2.pub"), "--valid-from", "2025-03-10T00:00:00Z",
        *signer, "--out", str(files["rotate"]))  # fmt: skip
    run("keys", "revoke", "person:mira-keller", "--key", artist.key_id,
        "--effective", "2025-03-05T00:00:00Z", "--reason", "key_compromise",
        *signer, "--out", str(files["revoke"]))  # fmt: skip
    messages = {
        "enrol": _record(files["enrol"]),
        "before": _work(artist, "2025-03-02T10:00:00Z"),
        "rotate": _record(files["rotate"]),
        "revoke": _record(files["revoke"]),
        "after": _work(artist, "2025-03-06T10:00:00Z"),
        "new_key": _work(artist2, "2025-03-11T10:00:00Z"),
    }
    url = str(tmp_path / "ledger.db")
    with SqliteStore(url) as store:
        set_roots(store, [RootKey("root", root.public)])
        operator.init_ledger(store, "cli.example/ledger", keyfiles.generate("log"))
        outcomes = _ingest(store, list(messages.values()))
    reasons = [o.reason if isinstance(o, Quarantined) else "ok" for o in outcomes]
    assert reasons == ["ok", "ok", "ok", "ok", "key_revoked", "ok"]
    return url, messages


def test_keys_list_shows_windows_as_of_a_time(
    ledger: tuple[str, dict[str, Message]], key_dir: Path
) -> None:
    url, _ = ledger
    artist = keyfiles.load_private(key_dir / "artist.key").key_id
    artist2 = keyfiles.load_private(key_dir / "artist2.key").key_id

    def statuses(at: str) -> dict[str, str]:
        out = run("keys", "list", "--ledger", url, "--format", "json", "--at", at).stdout
        return {r["key_id"]: r["status"] for r in json.loads(out)["keys"]}

    assert statuses("2025-03-02T00:00:00Z")[artist] == "valid"
    assert statuses("2025-03-02T00:00:00Z")[artist2] == "not_yet_valid"
    assert statuses("2025-03-06T00:00:00Z")[artist] == "revoked"
    assert statuses("2025-03-11T00:00:00Z")[artist2] == "valid"
    table = run("keys", "list", "--ledger", url, "--at", "2025-03-02T00:00:00Z").stdout
    assert table.splitlines()[0].split()[:4] == ["ACTOR_ID", "KIND", "KEY", "STATUS"]
    assert any(line.startswith("root:root") for line in table.splitlines())
    assert any(artist[:16] in line and "valid" in line for line in table.splitlines())


def test_keys_show_gives_actor_keys_and_history(ledger: tuple[str, dict[str, Message]]) -> None:
    url, _ = ledger
    view = json.loads(
        run("keys", "show", "person:mira-keller", "--ledger", url, "--format", "json").stdout
    )
    assert view["kind"] == "human" and view["display_name"] == "Mira Keller"
    assert [h["operation"] for h in view["history"]] == ["enroll", "rotate", "revoke"]
    assert [h["seq"] for h in view["history"]] == [0, 2, 3]
    assert view["keys"][0]["revocation_reason"] == "key_compromise"
    text = run("keys", "show", "person:mira-keller", "--ledger", url).stdout
    assert "history:" in text and "revoke" in text
    unknown = run("keys", "show", "person:nobody", "--ledger", url, code=2)
    assert "not in the key registry" in unknown.output


def test_show_prints_the_event_and_four_separate_verdicts(
    ledger: tuple[str, dict[str, Message]],
) -> None:
    url, messages = ledger
    before = messages["before"].event_id
    result = run("show", before, "--ledger", url, "--format", "json", code=1)  # not anchored yet
    data = json.loads(result.stdout)
    assert data["event"]["actor"]["actor_id"] == "person:mira-keller"
    statuses = {k: v["status"] for k, v in data["verdicts"].items()}
    assert statuses == {
        "signature": "ok",
        "signer_trusted": "ok",
        "key_valid": "ok",
        "anchored": "failed",
    }
    assert data["verdicts"]["anchored"]["code"] == "not_anchored"
    text = run("show", before, "--ledger", url, code=1).stdout
    assert "(a) signature valid" in text and "(d) anchored in a signed checkpoint" in text
    assert "FAILED [not_anchored]" in text
    assert "not in the ledger" in run("show", "nope", "--ledger", url, code=2).output


def test_generate_refuses_a_planted_dangling_link_with_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    out.mkdir()
    target = tmp_path / "stolen.key"
    (out / "artist.key").symlink_to(target)
    result = run("keys", "generate", "artist", "--out", str(out), code=2)
    assert "is a symbolic link" in result.output
    assert not target.exists()


def test_emit_with_a_device_as_key_says_so(tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_text("{}")
    result = run("emit", "--key", "/dev/zero", "--event", str(event), code=2)
    assert "not a regular file" in result.output
    assert "MemoryError" not in result.output


def test_a_device_as_passphrase_file_says_so(tmp_path: Path) -> None:
    result = run(
        "keys", "generate", "a", "--out", str(tmp_path), "--encrypt",
        "--passphrase-file", "/dev/zero", code=2,
    )  # fmt: skip
    assert "not a regular file" in result.output
