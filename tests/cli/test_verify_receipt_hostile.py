"""`verify-receipt` asked for more than the file can show: it checks it or says so, never
passes it by silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from demo.story import CONSENT_DANA
from ledger.trust.keys import generate, public_pem
from tests.cli.test_index_cli import _ledger, run
from tests.ledger.index.index_factory import DANA, SIGNER


def _about(tmp_path: Path) -> tuple[Path, str]:
    path, vkey = _ledger(tmp_path)
    proof = tmp_path / "dana.index-proof"
    made = run("prove", "--about", DANA, "--out", str(proof), "--ledger", str(path))
    assert made.returncode == 0, made.stderr
    return proof, vkey


def _keys(tmp_path: Path, name: str, public: Ed25519PublicKey) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.pub").write_bytes(public_pem(public))
    return folder


def test_a_proof_about_a_key_is_checked_for_the_event_id_asked(tmp_path: Path) -> None:
    proof, vkey = _about(tmp_path)
    other = run("verify-receipt", str(proof), "--log-key", vkey, "--event-id", "not-this-event")
    assert other.returncode == 1, other.stdout
    assert "not-this-event" in other.stderr
    listed = run(
        "verify-receipt", str(proof), "--log-key", vkey, "--event-id", CONSENT_DANA,
        "--format", "json",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["event_id_required"] == CONSENT_DANA


def test_a_proof_about_a_key_checks_the_producer_signatures_asked_for(tmp_path: Path) -> None:
    proof, vkey = _about(tmp_path)
    stranger = _keys(tmp_path, "stranger", generate("stranger").public)
    bad = run("verify-receipt", str(proof), "--log-key", vkey, "--trusted-keys", str(stranger))
    assert bad.returncode == 1, bad.stdout
    assert "producer signature" in bad.stderr
    good_keys = _keys(tmp_path, "clearances", SIGNER.public)
    good = run(
        "verify-receipt", str(proof), "--log-key", vkey, "--trusted-keys", str(good_keys),
        "--format", "json",
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["producer_signatures"] == "valid"
    text = run("verify-receipt", str(proof), "--log-key", vkey, "--trusted-keys", str(good_keys))
    assert "producer signatures: valid" in text.stdout


def test_text_and_json_say_the_same_of_what_was_not_checked(tmp_path: Path) -> None:
    proof, vkey = _about(tmp_path)
    text = run("verify-receipt", str(proof), "--log-key", vkey)
    data = json.loads(
        run("verify-receipt", str(proof), "--log-key", vkey, "--format", "json").stdout
    )
    assert "witnesses: not checked" in text.stdout and data["witnesses"] == "not checked"
    assert "producer signatures: not checked" in text.stdout
    assert data["producer_signatures"] == "not checked"


def test_control_characters_in_a_proven_entry_are_not_sent_to_the_terminal(
    tmp_path: Path,
) -> None:
    """The entry comes from the file: a log that took an event id with terminal escapes (no
    producer's validation binds an outside reader) must not clear the reader's screen."""
    from click.testing import CliRunner

    from cli.main import cli
    from demo.story import production
    from ledger.events.encoding import SingleObjectFraming
    from ledger.events.kinds import prepare
    from ledger.events.provenance import PROVENANCE
    from ledger.log.checkpoint import vkey
    from ledger.trust import dsse
    from producers.emitter import fill_producer
    from tests.ledger.log.test_receipt import LOG_NAME, SIZE, make_log

    framing = SingleObjectFraming()
    event = dict(production()[0][1], producer_id="t", producer_seq=0)
    record = prepare(PROVENANCE, fill_producer(event, PROVENANCE, "/t"))
    record["event_id"] = "e\x1b[2J\x1b]0;owned\x07"
    payload = framing.encode(PROVENANCE.record, record)
    entry = dsse.sign(PROVENANCE.payload_type, payload, generate("p")).encode(framing)
    log = make_log([entry])
    path = tmp_path / "hostile.tlog-proof"
    path.write_text(log.receipt(SIZE), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["verify-receipt", str(path), "--log-key", vkey(LOG_NAME, log.log_public)]
    )
    assert result.exit_code == 0, result.output
    assert "proves: event e\\x1b[2J" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_a_failing_receipt_gives_a_json_verdict_too(tmp_path: Path) -> None:
    """``--format json`` prints a verdict when verification fails, as ``packet verify`` does:
    a script reading stdout must not get nothing."""
    from ledger.log.checkpoint import vkey
    from tests.ledger.log.test_receipt import LOG_NAME, SIZE, make_log

    log = make_log([b"entry"])
    path = tmp_path / "e.tlog-proof"
    path.write_text(log.receipt(SIZE), encoding="utf-8")
    good = vkey(LOG_NAME, log.log_public)
    other = vkey(LOG_NAME, generate("other").public)
    for args, reason in (
        (["--log-key", other], "checkpoint"),
        (["--log-key", good, "--event-id", "e-1"], "event_id"),
    ):
        result = run("verify-receipt", str(path), *args, "--format", "json")
        assert result.returncode == 1, result.stderr
        data = json.loads(result.stdout)
        assert data["ok"] is False and data["reason"] == reason, data
        assert data["message"] and data["file"] == str(path)
    proof, vkey_text = _about(tmp_path)
    lying = run(
        "verify-receipt", str(proof), "--log-key", vkey_text, "--event-id", "nope",
        "--format", "json",
    )  # fmt: skip
    assert lying.returncode == 1
    assert json.loads(lying.stdout)["reason"] == "event_id"


def test_a_receipt_file_is_read_as_bytes_bounded_and_utf8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CRLF line endings are not what the log signed: refused (exit 1), not silently turned
    into LF; a too-large or non-UTF-8 file is a usage error (exit 2) that says so."""
    from click.testing import CliRunner

    from cli import proofs
    from cli.main import cli

    proof, vkey_text = _about(tmp_path)
    crlf = tmp_path / "crlf.index-proof"
    crlf.write_bytes(proof.read_bytes().replace(b"\n", b"\r\n"))
    result = run("verify-receipt", str(crlf), "--log-key", vkey_text, "--format", "json")
    assert result.returncode == 1, result.stdout
    assert "CRLF" in json.loads(result.stdout)["message"]

    binary = tmp_path / "latin1.tlog-proof"
    binary.write_bytes(b"c2sp.org/tlog-proof@v1\nextra \xe9\n")
    result = run("verify-receipt", str(binary), "--log-key", vkey_text)
    assert result.returncode == 2, result.stderr
    assert "not UTF-8" in result.stderr

    monkeypatch.setattr(proofs, "MAX_PROOF_FILE_BYTES", 100)
    big = CliRunner().invoke(cli, ["verify-receipt", str(proof), "--log-key", vkey_text])
    assert big.exit_code == 2, big.output
    assert "larger than 100 bytes" in big.stderr
    assert "key file" not in big.stderr


def test_docs_name_every_field_of_the_json_verdict_on_a_proof(tmp_path: Path) -> None:
    """docs/proofs.md §10.5 lists the JSON fields `verify-receipt` prints for a proof about a
    key, and says `witnesses` is a list (it once said the witnesses were counted)."""
    import re

    proof, vkey_text = _about(tmp_path)
    data = json.loads(
        run("verify-receipt", str(proof), "--log-key", vkey_text, "--format", "json").stdout
    )
    doc = (Path(__file__).parents[2] / "docs" / "proofs.md").read_text(encoding="utf-8")
    section = doc[doc.index("### 10.5") : doc.index("### 10.6")]
    paragraph = section[section.index("With `--format json`") :]
    named = set(re.findall(r"`([a-z_]+)`", paragraph))
    assert set(data) <= named, set(data) - named
    assert "a **list** of the names" in paragraph
    assert data["witnesses"] == "not checked"  # no --witness-key: as the paragraph says
