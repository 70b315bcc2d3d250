"""``verify_ledger`` finds and locates every kind of damage (SQLite, edited behind its back)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from ledger.errors import ConfigurationError
from ledger.log.merkle import leaf_hash
from ledger.log.verify import (
    ALTERED,
    CHECKPOINT_MISMATCH,
    CHECKPOINT_ROW_MISMATCH,
    DELETED,
    ENTRY_FIELD_MISMATCH,
    EVENT_ID_MISMATCH,
    FORGED_SIGNATURE,
    MERKLE_NODE_MISMATCH,
    REFERENCE_INDEX_MISMATCH,
    REORDERED,
    TRUNCATED,
    UNKNOWN_SIGNER,
    Damage,
    check_prefix,
    is_consequence,
    verify_ledger,
)
from ledger.store.sqlite import SqliteStore
from ledger.trust import dsse, keys
from tests.ledger.ledger_factory import append_all, signed_entries

SIGNER = keys.generate("artist")
LOOKUP = {SIGNER.key_id: SIGNER.public}.get


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[SqliteStore, sqlite3.Connection]]:
    store = SqliteStore(tmp_path / "ledger.db")
    append_all(store, signed_entries(SIGNER, 20))
    raw = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    yield store, raw
    raw.close()
    store.close()


def test_a_verify_refused_at_the_start_leaves_no_scan_of_the_store_open(
    ledger: tuple[SqliteStore, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key registry and no keys given: refused before any entry is read, and the scan of
    the index rows is not left open (it failed later, when the garbage collector ended it after
    the store had been closed: "Cannot operate on a closed database", seen in the portal)."""
    store, _ = ledger
    scans: list[Iterator[tuple[int, str, str]]] = []
    all_refs = store.all_refs

    def tracked() -> Iterator[tuple[int, str, str]]:
        scans.append(all_refs())
        return scans[-1]

    monkeypatch.setattr(store, "all_refs", tracked)
    with pytest.raises(ConfigurationError, match="no key registry"):
        verify_ledger(store, None, workers=1)
    assert [scan for scan in scans if getattr(scan, "gi_frame", None) is not None] == []


def _first(store: SqliteStore) -> tuple[str, int | None]:
    report = verify_ledger(store, LOOKUP, workers=1)
    assert not report.ok
    first = report.first
    assert first is not None
    return first.kind, first.seq


def test_intact_ledger_verifies(ledger: tuple[SqliteStore, sqlite3.Connection]) -> None:
    store, _ = ledger
    report = verify_ledger(store, LOOKUP, workers=2)
    assert report.ok
    assert (report.checked, report.signatures_checked) == (20, 20)


def test_one_altered_byte_is_found_and_located(
    ledger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    store, raw = ledger
    (envelope,) = raw.execute("SELECT envelope FROM entries WHERE seq = 7").fetchone()
    altered = bytearray(envelope)
    altered[len(altered) // 2] ^= 0x01
    raw.execute("UPDATE entries SET envelope = ? WHERE seq = 7", (bytes(altered),))
    assert _first(store) == (ALTERED, 7)


def test_deleted_entry(ledger: tuple[SqliteStore, sqlite3.Connection]) -> None:
    store, raw = ledger
    raw.execute("DELETE FROM entries WHERE seq = 11")
    assert _first(store) == (DELETED, 11)


def test_reordered_entries(ledger: tuple[SqliteStore, sqlite3.Connection]) -> None:
    store, raw = ledger
    raw.execute("UPDATE entries SET seq = -1 WHERE seq = 4")
    raw.execute("UPDATE entries SET seq = 4 WHERE seq = 5")
    raw.execute("UPDATE entries SET seq = 5 WHERE seq = -1")
    assert _first(store) == (REORDERED, 4)


def test_out_of_order_sequence(ledger: tuple[SqliteStore, sqlite3.Connection]) -> None:
    store, raw = ledger
    raw.execute("UPDATE entries SET seq = 100 WHERE seq = 3")
    report = verify_ledger(store, LOOKUP, workers=1)
    kinds = {(d.kind, d.seq) for d in report.damage}
    assert (DELETED, 3) in kinds


def test_truncated_ledger(ledger: tuple[SqliteStore, sqlite3.Connection]) -> None:
    store, raw = ledger
    raw.execute("DELETE FROM entries WHERE seq >= 15")
    assert _first(store) == (TRUNCATED, 15)


def test_forged_signature_with_rehashed_chain(
    ledger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """An attacker who rewrites an entry *and* recomputes leaf and chain hashes is still caught."""
    from ledger.log.merkle import leaf_hash
    from ledger.store.base import chain_hash

    store, raw = ledger
    (envelope,) = raw.execute("SELECT envelope FROM entries WHERE seq = 9").fetchone()
    env = dsse.Envelope.decode(envelope)
    payload = env.payload.replace(b"Tanaka", b"Tanaku")
    assert payload != env.payload
    forged = dsse.Envelope(env.payload_type, payload, env.signatures)
    data = forged.encode()
    rows = raw.execute("SELECT seq, envelope FROM entries ORDER BY seq").fetchall()
    previous = bytes(32)
    for seq, blob in rows:
        blob = data if seq == 9 else blob
        leaf = leaf_hash(blob)
        previous = chain_hash(previous, leaf)
        raw.execute(
            "UPDATE entries SET envelope = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?",
            (blob, leaf, previous, seq),
        )
    raw.execute("UPDATE head SET chain_hash = ?", (previous,))
    report = verify_ledger(store, LOOKUP, workers=1)
    # the stored tree still holds the original leaf: a consequence, named after the cause
    assert [(d.kind, d.seq) for d in report.damage] == [
        (FORGED_SIGNATURE, 9),
        (MERKLE_NODE_MISMATCH, 9),
    ]


def test_unknown_signer(ledger: tuple[SqliteStore, sqlite3.Connection]) -> None:
    store, _ = ledger
    report = verify_ledger(store, {}.get, workers=1)
    assert {d.kind for d in report.damage} == {UNKNOWN_SIGNER}
    assert report.first is not None and report.first.seq == 0


def test_reported_first_is_lowest_seq(ledger: tuple[SqliteStore, sqlite3.Connection]) -> None:
    store, raw = ledger
    raw.execute("DELETE FROM entries WHERE seq = 13")
    raw.execute("UPDATE entries SET envelope = x'00' WHERE seq = 6")
    kind, seq = _first(store)
    assert (kind, seq) == (ALTERED, 6)


def test_registry_replay_finds_an_entry_the_consumer_would_have_refused(tmp_path: Path) -> None:
    """verify re-derives the key registry and agrees with the consumer's admission rule."""
    from consumers.inspect import RawRecord, inspect
    from ledger.events.encoding import SingleObjectFraming
    from ledger.events.keyregistry import KEY_REGISTRY
    from ledger.log.verify import UNTRUSTED_SIGNER
    from ledger.store import PendingEntry
    from ledger.trust.policy import RegistryTrust
    from ledger.trust.records import enroll_event
    from ledger.trust.registry import RootKey
    from ledger.trust.replay import set_roots
    from producers.emitter import build_message

    root, artist, outsider = keys.generate("root"), keys.generate("artist"), keys.generate("x")
    store = SqliteStore(tmp_path / "registry.db")
    set_roots(store, [RootKey("root", root.public)])
    registry_trust = RegistryTrust.from_store(store)
    enrol = build_message(
        enroll_event("person:mira-keller", "human", "Mira Keller", artist.public),
        root, kind=KEY_REGISTRY, source="/root",
    )  # fmt: skip
    raw = RawRecord("events", 0, 0, enrol.key, enrol.value, tuple(enrol.headers))
    enrolled = inspect(raw, registry_trust, SingleObjectFraming())
    assert isinstance(enrolled, PendingEntry)
    by_artist = signed_entries(artist, 2, first_offset=1)
    by_outsider = signed_entries(outsider, 1, first_offset=3)  # admitted by a folder policy only
    append_all(store, [enrolled, *by_artist, *by_outsider])
    report = verify_ledger(store, workers=1)
    # not admissible when appended, and its key is nowhere in the registry to check it with
    assert {(d.kind, d.seq) for d in report.damage} == {(UNTRUSTED_SIGNER, 3), (UNKNOWN_SIGNER, 3)}
    assert report.verdicts.signature_valid == 3
    assert (report.verdicts.signer_trusted, report.verdicts.key_valid) == (3, 3)
    store.close()


# ---------------------------------------------------------------------------------------------
# Derived rows, and the root cause named before its consequences (issue 10 §3, §4)


@pytest.fixture
def checkpointed(tmp_path: Path) -> Iterator[tuple[SqliteStore, sqlite3.Connection]]:
    """20 entries; a signed checkpoint of size 10 (entry 9 is the last it covers) and of 20."""
    from ledger.log import operator

    store = SqliteStore(tmp_path / "cp.db")
    log_key = keys.generate("log")
    operator.init_ledger(store, "verify.example/ledger", log_key)
    entries = signed_entries(SIGNER, 20)
    append_all(store, entries[:10])
    operator.Checkpointer(store, log_key).checkpoint()
    append_all(store, entries[10:])
    operator.Checkpointer(store, log_key).checkpoint()
    raw = sqlite3.connect(tmp_path / "cp.db", isolation_level=None)
    yield store, raw
    raw.close()
    store.close()


def test_reordered_last_covered_entry_is_named_before_the_checkpoint(
    checkpointed: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    store, raw = checkpointed
    raw.execute("UPDATE entries SET seq = -1 WHERE seq = 9")
    raw.execute("UPDATE entries SET seq = 9 WHERE seq = 10")
    raw.execute("UPDATE entries SET seq = 10 WHERE seq = -1")
    report = verify_ledger(store, LOOKUP, workers=1)
    assert (report.damage[0].kind, report.damage[0].seq) == (REORDERED, 9)
    assert (REORDERED, 10) in {(d.kind, d.seq) for d in report.damage}
    at_nine = [d for d in report.damage if d.seq == 9][1:]  # the index rows, leaf, checkpoint
    assert at_nine and all(is_consequence(d) for d in at_nine)
    mismatch = next(d for d in report.damage if d.kind == CHECKPOINT_MISMATCH)
    assert mismatch.seq == 9 and "a consequence of the reordered at entry 9" in mismatch.detail


def test_rewritten_last_covered_entry_with_its_chain_is_altered_not_a_checkpoint_problem(
    checkpointed: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """Another validly signed entry put in its place, leaf and chain hashes recomputed."""
    from ledger.log.merkle import leaf_hash
    from ledger.store.base import chain_hash

    store, raw = checkpointed
    other = signed_entries(SIGNER, 1, first_offset=99)[0].envelope
    rows = raw.execute("SELECT seq, envelope FROM entries ORDER BY seq").fetchall()
    previous = bytes(32)
    for seq, blob in rows:
        blob = other if seq == 9 else blob
        previous = chain_hash(previous, leaf_hash(blob))
        raw.execute(
            "UPDATE entries SET envelope = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?",
            (blob, leaf_hash(blob), previous, seq),
        )
    raw.execute("UPDATE head SET chain_hash = ?", (previous,))
    report = verify_ledger(store, LOOKUP, workers=1)
    first = report.first
    assert first is not None and (first.kind, first.seq) == (ALTERED, 9)
    assert "signed checkpoint of size 10 commits to" in first.detail


def test_each_derived_row_has_its_own_damage_kind(
    checkpointed: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    store, raw = checkpointed
    raw.execute("UPDATE entries SET event_time = event_time + 1 WHERE seq = 3")
    raw.execute("INSERT INTO refs VALUES ('show', 'Invented Show', 5)")
    raw.execute("INSERT INTO refs VALUES ('show', 'Nowhere', 400)")
    raw.execute("INSERT INTO merkle_nodes VALUES (0, 20, zeroblob(32))")
    raw.execute("UPDATE checkpoints SET root_hash = zeroblob(32) WHERE size = 20")
    found = {(d.kind, d.seq) for d in verify_ledger(store, LOOKUP, workers=1).damage}
    assert found == {
        (ENTRY_FIELD_MISMATCH, 3),
        (REFERENCE_INDEX_MISMATCH, 5),
        (REFERENCE_INDEX_MISMATCH, 400),
        (MERKLE_NODE_MISMATCH, None),
        (CHECKPOINT_ROW_MISMATCH, 19),
    }


# --- one pass: the facts derived in worker processes (issue 21) ------------------------------


@pytest.fixture
def larger(tmp_path: Path) -> Iterator[tuple[SqliteStore, sqlite3.Connection]]:
    """A ledger large enough that the pass hands its chunks to worker processes."""
    store = SqliteStore(tmp_path / "ledger.db")
    append_all(store, signed_entries(SIGNER, 300))
    raw = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    yield store, raw
    raw.close()
    store.close()


def _damage_kinds(damage: Iterable[Damage]) -> set[tuple[str, int | None]]:
    return {(d.kind, d.seq) for d in damage}


def test_the_pass_in_workers_finds_what_the_pass_in_process_finds(
    larger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    store, raw = larger
    raw.execute("UPDATE entries SET event_time = event_time + 1 WHERE seq = 120")
    raw.execute("DELETE FROM refs WHERE seq = 170")
    (envelope,) = raw.execute("SELECT envelope FROM entries WHERE seq = 230").fetchone()
    forged = bytearray(envelope)
    forged[-10] ^= 0x01  # inside the signature: decodes, no longer verifies
    leaf = leaf_hash(bytes(forged))
    raw.execute("UPDATE entries SET envelope = ?, leaf_hash = ? WHERE seq = 230", (forged, leaf))
    in_process = verify_ledger(store, LOOKUP, workers=1, chunk_size=100)
    pooled = verify_ledger(store, LOOKUP, workers=2, chunk_size=100)
    found = _damage_kinds(pooled.damage)
    assert found == _damage_kinds(in_process.damage)
    assert {(ENTRY_FIELD_MISMATCH, 120), (REFERENCE_INDEX_MISMATCH, 170)} <= found
    assert (FORGED_SIGNATURE, 230) in found
    assert pooled.signatures_checked == in_process.signatures_checked == 300
    assert pooled.verdicts.signature_valid == 299


def test_the_guard_in_workers_finds_index_rows_that_differ(
    larger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    store, raw = larger
    root = store.tree(300).root()
    assert check_prefix(store, 300, root, workers=2).ok
    raw.execute("DELETE FROM refs WHERE seq = 170")
    raw.execute("UPDATE entries SET event_id = 'not-the-signed-id' WHERE seq = 260")
    report = check_prefix(store, 300, root, workers=2)
    assert _damage_kinds(report.damage) == {
        (REFERENCE_INDEX_MISMATCH, 170),
        (EVENT_ID_MISMATCH, 260),
    }
    assert report.checked == 300


def test_the_guard_starts_its_workers_safely_beside_other_threads(
    larger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """A threaded caller (the portal) gets workers from a fork server, not a fork of itself."""
    store, raw = larger
    root = store.tree(300).root()
    raw.execute("DELETE FROM refs WHERE seq = 42")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        report = check_prefix(store, 300, root, workers=2)
    finally:
        release.set()
        other.join()
    assert _damage_kinds(report.damage) == {(REFERENCE_INDEX_MISMATCH, 42)}


@pytest.mark.parametrize("chunk_size", [7, 100, 4096])
def test_index_rows_are_compared_a_chunk_at_a_time_entry_by_entry_when_they_differ(
    larger: tuple[SqliteStore, sqlite3.Connection], chunk_size: int
) -> None:
    """The chunk's one set comparison still names each entry whose rows differ, rows moved
    to another entry (both ends), and rows at a position that has no entry; chunk borders
    (7 does not divide 300) change nothing."""
    store, raw = larger
    (kind, key) = raw.execute("SELECT ref_kind, ref_key FROM refs WHERE seq = 13").fetchone()
    raw.execute("UPDATE refs SET seq = 14 WHERE seq = 13 AND ref_kind = ? AND ref_key = ?",
                (kind, key))  # fmt: skip
    raw.execute("INSERT INTO refs VALUES ('show', 'Invented', 96)")
    raw.execute("DELETE FROM refs WHERE seq = 299")
    raw.execute("DELETE FROM entries WHERE seq = 150")  # its rows now point nowhere
    report = verify_ledger(store, LOOKUP, workers=1, chunk_size=chunk_size)
    refs = {d.seq for d in report.damage if d.kind == REFERENCE_INDEX_MISMATCH}
    assert refs == {13, 14, 96, 150, 299}
    (at_150,) = [d for d in report.damage if d.kind == REFERENCE_INDEX_MISMATCH and d.seq == 150]
    assert "not in the ledger" in at_150.detail
    (at_14,) = [d for d in report.damage if d.kind == REFERENCE_INDEX_MISMATCH and d.seq == 14]
    assert "not in the event" in at_14.detail


def test_the_guard_compares_the_rows_of_the_entries_before_a_missing_one(
    larger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """The guard stops at a missing entry; the rows of the entries it read are compared."""
    store, raw = larger
    root = store.tree(300).root()
    raw.execute("DELETE FROM refs WHERE seq = 30")
    raw.execute("DELETE FROM entries WHERE seq = 40")
    report = check_prefix(store, 300, root, workers=1)
    assert _damage_kinds(report.damage) == {(REFERENCE_INDEX_MISMATCH, 30), (DELETED, 40)}


def test_index_rows_in_another_order_within_an_entry_are_compared_as_sets(
    larger: tuple[SqliteStore, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that gives an entry's rows in another order than the facts' (sorted) still
    verifies, and a row it lacks is still named."""
    store, _ = larger
    rows = sorted(store.all_refs(), key=lambda r: (r[0], r[2]))  # within an entry: by key
    assert rows != list(store.all_refs())  # the order differs somewhere
    monkeypatch.setattr(store, "all_refs", lambda: iter(rows))
    assert verify_ledger(store, LOOKUP, workers=1, chunk_size=64).ok
    rows.remove(next(r for r in rows if r[0] == 77))
    report = verify_ledger(store, LOOKUP, workers=1, chunk_size=64)
    assert _damage_kinds(report.damage) == {(REFERENCE_INDEX_MISMATCH, 77)}


def _rewrite(raw: sqlite3.Connection, seq: int, data: bytes) -> None:
    """Entry ``seq``'s envelope replaced by ``data``, every leaf and chain hash recomputed."""
    from ledger.store.base import chain_hash

    rows = raw.execute("SELECT seq, envelope FROM entries ORDER BY seq").fetchall()
    previous = bytes(32)
    for at, blob in rows:
        blob = data if at == seq else blob
        previous = chain_hash(previous, leaf_hash(blob))
        raw.execute(
            "UPDATE entries SET envelope = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?",
            (blob, leaf_hash(blob), previous, at),
        )
    raw.execute("UPDATE head SET chain_hash = ?", (previous,))


def _skipped_text(payload: bytes) -> bytes:
    """The asset's content hash in a provenance payload: a field verify's reading skips."""
    from ledger.events.encoding import SingleObjectFraming

    _, event = SingleObjectFraming().decode(payload)
    text = event["asset"]["content_sha256"].encode()
    assert payload.count(text) == 1
    return text


def test_a_field_verify_does_not_read_changed_is_a_forged_signature(
    ledger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """verify reads of a provenance event only what its rows and keys need (PROVENANCE_READ);
    a change anywhere else, leaf and chain rehashed, is still caught by the signature."""
    store, raw = ledger
    (envelope,) = raw.execute("SELECT envelope FROM entries WHERE seq = 9").fetchone()
    env = dsse.Envelope.decode(envelope)
    text = _skipped_text(env.payload)
    payload = env.payload.replace(text, text[:-1] + (b"0" if text[-1:] != b"0" else b"1"))
    _rewrite(raw, 9, dsse.Envelope(env.payload_type, payload, env.signatures).encode())
    report = verify_ledger(store, LOOKUP, workers=1)
    assert [(d.kind, d.seq) for d in report.damage] == [
        (FORGED_SIGNATURE, 9),
        (MERKLE_NODE_MISMATCH, 9),
    ]


def test_a_signed_event_whose_unread_field_is_not_text_still_does_not_decode(
    ledger: tuple[SqliteStore, sqlite3.Connection],
) -> None:
    """Bytes that are not UTF-8 in a field verify skips, signed by the signer itself: the
    skipped field is still checked, so the event does not decode, as when read whole."""
    store, raw = ledger
    (envelope,) = raw.execute("SELECT envelope FROM entries WHERE seq = 9").fetchone()
    env = dsse.Envelope.decode(envelope)
    text = _skipped_text(env.payload)
    payload = env.payload.replace(text, b"\xff" + text[1:])
    _rewrite(raw, 9, dsse.sign(env.payload_type, payload, SIGNER).encode())
    report = verify_ledger(store, LOOKUP, workers=1)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == (ALTERED, 9)
    assert "stored event no longer decodes" in report.first.detail
    assert report.signatures_checked == 20 and report.verdicts.signature_valid == 20
