"""Issue 10 §3 to §5 through a real broker, on SQLite and PostgreSQL.

A ledger is built by the real consumer (key registry, signed checkpoints).  A key is revoked
for compromise; a record signed with it that arrives afterwards is refused whatever time it
claims, and verify's registry replay agrees with every decision.  Then an insider edits the
database directly (sqlite3 / psycopg), one attack at a time, each undone after: verify must name
each piece of damage by its own kind, root cause first; prove, show and the audits must refuse
to vouch for what the tampered rows say.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from consumers.runner import ConsumerConfig, IngestStats, LedgerConsumer
from demo.story import SHOW, production
from ledger.audit.credits import credit_report
from ledger.audit.ip import Scope, run_audit
from ledger.audit.keys import registry_verdicts
from ledger.audit.model import LedgerView
from ledger.errors import VerificationFailure
from ledger.events.base import EventKind, now_utc
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.provenance import PROVENANCE
from ledger.log import operator
from ledger.log.merkle import leaf_hash
from ledger.log.verdicts import ledger_verdicts, verdicts_for_event
from ledger.log.verify import verify_ledger
from ledger.store import LedgerStore, open_store
from ledger.store.base import chain_hash
from ledger.trust import dsse, keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import RegistryTrust
from ledger.trust.records import enroll_event, revoke_event, rotate_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_grace, set_roots
from producers.emitter import Emitter, Message, build_message
from tests.conftest import FreshTopic
from tests.ledger.index.index_factory import delete_rows_at

pytestmark = pytest.mark.broker

ROOT = keys.generate("root")
ARTIST = keys.generate("artist")
ORIGIN = "holes.example/ledger"
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)
GRACE = timedelta(seconds=30)


def signed(event: dict[str, Any], signer: KeyPair, kind: EventKind = KEY_REGISTRY) -> Message:
    return build_message(event, signer, kind=kind, source="/test")


def work(when: datetime, index: int) -> Message:
    """Demo provenance event ``index`` signed by the artist at ``when``, with a fresh id."""
    event = dict(production()[index][1], producer_id="t", producer_seq=index, event_time=when)
    event["event_id"] = str(uuid.uuid4())
    return signed(event, ARTIST, PROVENANCE)


class RawDb:
    """The insider: plain SQL on the ledger's own database, behind asset-ledger's back."""

    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgresql://")
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(url, autocommit=True)
        else:
            import sqlite3

            self.conn = sqlite3.connect(url, isolation_level=None)

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(sql.replace("?", "%s") if self.pg else sql, params)
        return list(cursor.fetchall()) if cursor.description else []

    def close(self) -> None:
        self.conn.close()


@dataclass
class Built:
    url: str
    store: LedgerStore
    db: RawDb
    work_ids: list[str]  # the artist's accepted events, in ledger order
    window: str  # accepted before the revocation, but anchored only after the compromise
    backdated: str  # quarantine detail of the record that claimed a time before the compromise


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    dsn: str = request.getfixturevalue("pg_schema_dsn")
    return dsn


def phase(
    store: LedgerStore,
    topic: FreshTopic,
    log: KeyPair,
    messages: Sequence[Message],
    clock: Callable[[], datetime] | None = None,
) -> IngestStats:
    with Emitter(topic.bootstrap, ROOT, topic=topic.name) as emitter:
        for m in messages:
            emitter.send_raw(m)
    config = ConsumerConfig(
        topic.bootstrap, topic=topic.name, session_timeout_ms=6000, heartbeat_interval_ms=1000
    )
    checkpointer = operator.Checkpointer(store, log)
    consumer = LedgerConsumer(store, RegistryTrust.from_store(store), config,
                              checkpointer=checkpointer, clock=clock)  # fmt: skip
    return consumer.run(until_caught_up=True)


@pytest.fixture
def built(ledger_url: str, fresh_topic: FreshTopic, tmp_path: Path) -> Iterator[Built]:
    log = keys.generate("log")
    store = open_store(ledger_url)
    set_roots(store, [RootKey("root", ROOT.public)])
    operator.init_ledger(store, ORIGIN, log)
    base = now_utc() - timedelta(hours=2)
    enrol = enroll_event("person:mira-keller", "human", "Mira", ARTIST.public, valid_from=base)
    assert phase(store, fresh_topic, log, [signed(enrol, ROOT)]).appended == 1
    first = [work(base + timedelta(minutes=i), i) for i in range(4)]
    assert phase(store, fresh_topic, log, first).appended == 4
    anchored = store.latest_checkpoint()
    assert anchored is not None and anchored.size == 5
    # The thief signs with the stolen key, claiming a time before the compromise is dated.
    window = work(anchored.created_at + timedelta(milliseconds=1), 4)
    assert phase(store, fresh_topic, log, [window]).appended == 1
    compromised_at = anchored.created_at + timedelta(milliseconds=2)  # after entry 4's anchor
    revocation = revoke_event("person:mira-keller", ARTIST.key_id,
                              effective_time=compromised_at, reason="key_compromise")  # fmt: skip
    assert phase(store, fresh_topic, log, [signed(revocation, ROOT)]).appended == 1
    backdated = work(compromised_at - timedelta(minutes=30), 5)  # arrives after the revocation
    later = work(compromised_at + timedelta(minutes=1), 5)
    stats = phase(store, fresh_topic, log, [backdated, later])
    assert (stats.appended, stats.quarantined) == (0, 2)
    refused = {q.event_id: q for q in store.quarantine()}
    assert refused[later.event_id].reason == "key_revoked"
    assert refused[backdated.event_id].reason == "key_revoked"
    db = RawDb(ledger_url)
    ids = [e.event_id for e in store.entries(1, 5)]  # ledger order is the consumer's
    try:
        yield Built(ledger_url, store, db, ids, window.event_id, refused[backdated.event_id].detail)
    finally:
        db.close()
        store.close()


def first_damage(store: LedgerStore) -> tuple[str, int | None]:
    report = verify_ledger(store, workers=1)
    assert not report.ok
    first = report.first
    assert first is not None
    return first.kind, first.seq


def kinds(store: LedgerStore) -> set[tuple[str, int | None]]:
    return {(d.kind, d.seq) for d in verify_ledger(store, workers=1).damage}


def check_a_stolen_key_cannot_write_into_the_past(built: Built) -> None:
    store = built.store
    # signed with the compromised key, arrived after its revocation: refused, whatever its time
    assert "key_compromise" in built.backdated and "arrived after it" in built.backdated
    # verify's registry replay reaches every decision the consumer made, from the ledger alone
    report = verify_ledger(store, workers=1)
    assert report.ok, report.damage
    assert all(v.admitted_at_append for v in ledger_verdicts(store))
    # the entry that entered before the revocation keeps verdict (d), saying so
    window = verdicts_for_event(store, built.window)
    assert window.ok and window.anchored.status == "ok"
    assert "entered the ledger before the key's compromise revocation" in window.anchored.reason
    assert window.compromised is not None
    # audit ip cites it: signed by a compromised key and not anchored before the compromise
    view = LedgerView.open(store)
    result = run_audit(view, Scope(), signer_verdicts=registry_verdicts(store))
    cited = {e.event_id for f in result.findings if f.rule == "compromised-key-unanchored"
             for e in f.evidence}  # fmt: skip
    assert cited == {built.window}  # the earlier work is anchored before the compromise


def undoable(db: RawDb, table: str, where: str, *params: Any) -> Callable[[], None]:
    """Remember rows, return a function that puts them back exactly."""
    rows = db.run(f"SELECT * FROM {table} WHERE {where}", *params)

    def undo() -> None:
        db.run(f"DELETE FROM {table} WHERE {where}", *params)
        for row in rows:
            marks = ", ".join("?" for _ in row)
            db.run(f"INSERT INTO {table} VALUES ({marks})", *row)

    return undo


def check_an_altered_event_id_index_is_found_and_never_handed_out(built: Built) -> None:
    store, db = built.store, built.db
    a, b = built.work_ids[0], built.work_ids[1]  # entries 1 and 2
    db.run("UPDATE entries SET event_id = ? WHERE event_id = ?", "swap", a)
    db.run("UPDATE entries SET event_id = ? WHERE event_id = ?", a, b)
    db.run("UPDATE entries SET event_id = ? WHERE event_id = ?", b, "swap")
    assert first_damage(store) == ("event_id_mismatch", 1)
    assert {("event_id_mismatch", 1), ("event_id_mismatch", 2)} <= kinds(store)
    with pytest.raises(VerificationFailure, match="event-id index"):
        operator.prove(store, a)  # would be a receipt for event b
    shown = CliRunner().invoke(cli, ["show", a, "--ledger", built.url])
    assert shown.exit_code == 1 and b not in shown.stdout
    with pytest.raises(VerificationFailure, match="event_id_mismatch"):
        credit_report(LedgerView.open(store), SHOW, "101")
    db.run("UPDATE entries SET event_id = ? WHERE event_id = ?", "swap", a)
    db.run("UPDATE entries SET event_id = ? WHERE event_id = ?", a, b)
    db.run("UPDATE entries SET event_id = ? WHERE event_id = ?", b, "swap")
    assert verify_ledger(store, workers=1).ok


def check_deleted_index_rows_are_found_and_credits_refuse_the_checkpoint(built: Built) -> None:
    store, db = built.store, built.db
    undo = undoable(db, "refs", "seq = ?", 2)
    db.run("DELETE FROM refs WHERE seq = ? AND ref_kind IN ('show', 'episode')", 2)
    assert first_damage(store) == ("reference_index_mismatch", 2)
    # At the signed checkpoint, credits read through the authenticated index, which the
    # deleted query index rows do not reach: all five events are still credited.
    indexed = LedgerView.open(store)
    assert indexed.index is not None
    assert len(indexed.steps("episode", f"{SHOW}/101")) == 5
    # Without the index (the unsigned head), the linear guard refuses the checkpoint.
    with pytest.raises(VerificationFailure, match="reference_index_mismatch at entry 2"):
        credit_report(LedgerView.open(store, at_head=True), SHOW, "101")
    unchecked = LedgerView.open(store, check=False)
    assert len(unchecked.steps("episode", f"{SHOW}/101")) == 4  # what credits would have read
    undo()
    undo_rows = undoable(db, "index_lists", "1 = 1")
    delete_rows_at(store, 2)
    with pytest.raises(VerificationFailure, match="index_row_mismatch"):
        credit_report(LedgerView.open(store), SHOW, "101")  # would credit one event fewer
    undo_rows()
    assert verify_ledger(store, workers=1).ok
    assert len(LedgerView.open(store).steps("episode", f"{SHOW}/101")) == 5
    assert credit_report(LedgerView.open(store), SHOW, "101").lines


def check_an_overwritten_merkle_node_is_found(built: Built) -> None:
    store, db = built.store, built.db
    undo = undoable(db, "merkle_nodes", "level = ? AND idx = ?", 2, 0)
    db.run("UPDATE merkle_nodes SET hash = ? WHERE level = ? AND idx = ?", bytes(32), 2, 0)
    assert first_damage(store) == ("merkle_node_mismatch", 3)
    with pytest.raises(VerificationFailure):
        operator.prove(store, built.window)  # entry 6's proof runs through node (2, 0)
    with pytest.raises(VerificationFailure, match="does not match the ledger head"):
        LedgerView.open(store, at_head=True)  # the head's root comes from the stored nodes
    undo()
    assert verify_ledger(store, workers=1).ok


def check_the_root_cause_is_named_before_the_checkpoint_mismatch(built: Built) -> None:
    """Entry 4 is the last one the checkpoint of size 5 covers."""
    store, db = built.store, built.db
    # reordered: entries 4 and 5 swapped by an insider
    db.run("UPDATE entries SET seq = -1 WHERE seq = 4")
    db.run("UPDATE entries SET seq = 4 WHERE seq = 5")
    db.run("UPDATE entries SET seq = 5 WHERE seq = -1")
    assert first_damage(store) == ("reordered", 4)
    db.run("UPDATE entries SET seq = -1 WHERE seq = 4")
    db.run("UPDATE entries SET seq = 4 WHERE seq = 5")
    db.run("UPDATE entries SET seq = 5 WHERE seq = -1")
    assert verify_ledger(store, workers=1).ok
    # forged: entry 4's payload changed, every leaf and chain hash after it recomputed
    undo = undoable(db, "entries", "seq >= ?", 4)
    undo_head = undoable(db, "head", "id = ?", 1)
    rows = db.run("SELECT seq, envelope FROM entries WHERE seq >= 3 ORDER BY seq")
    envelope = dsse.Envelope.decode(bytes(rows[1][1]))
    payload = envelope.payload.replace(b"fallen-tower", b"fallen-towex")
    assert payload != envelope.payload
    forged = dsse.Envelope(envelope.payload_type, payload, envelope.signatures).encode()
    previous = bytes(db.run("SELECT chain_hash FROM entries WHERE seq = 3")[0][0])
    for seq, blob in rows[1:]:
        data = forged if seq == 4 else bytes(blob)
        previous = chain_hash(previous, leaf_hash(data))
        db.run("UPDATE entries SET envelope = ?, leaf_hash = ?, chain_hash = ? WHERE seq = ?",
               data, leaf_hash(data), previous, seq)  # fmt: skip
    db.run("UPDATE head SET chain_hash = ? WHERE id = 1", previous)
    report = verify_ledger(store, workers=1)
    assert report.first is not None
    assert (report.first.kind, report.first.seq) == ("forged_signature", 4)
    mismatch = next(d for d in report.damage if d.kind == "checkpoint_mismatch")
    assert "a consequence of the forged_signature at entry 4" in mismatch.detail
    undo()
    undo_head()
    assert verify_ledger(store, workers=1).ok


def test_trust_holes_are_closed(built: Built) -> None:
    """One ledger per backend (building it through the broker is the slow part)."""
    check_a_stolen_key_cannot_write_into_the_past(built)
    check_an_altered_event_id_index_is_found_and_never_handed_out(built)
    check_deleted_index_rows_are_found_and_credits_refuse_the_checkpoint(built)
    check_an_overwritten_merkle_node_is_found(built)
    check_the_root_cause_is_named_before_the_checkpoint_mismatch(built)


def test_a_rotated_out_key_has_a_grace_window_that_verify_replays_exactly(
    ledger_url: str, fresh_topic: FreshTopic
) -> None:
    """A late delivery soon after the rotation passes; one after the grace window is refused.

    The consumer's clock says when each phase's records arrive: the rotation and the in-time
    record (which may come in different batches) at one instant, the late one just past the
    window, whatever the broker's delays."""
    log = keys.generate("log")
    old, new = keys.generate("old"), keys.generate("new")
    store = open_store(ledger_url)
    try:
        set_roots(store, [RootKey("root", ROOT.public)])
        set_grace(store, GRACE)
        operator.init_ledger(store, ORIGIN, log)
        base = now_utc() - timedelta(hours=2)
        enrol = enroll_event("person:a", "human", "A", old.public, valid_from=base)
        assert phase(store, fresh_topic, log, [signed(enrol, ROOT)]).appended == 1
        swap = rotate_event("person:a", old.key_id, new.public, valid_from=base + HOUR)
        in_time = signed(dict(production()[2][1], event_time=base + MINUTE), old, PROVENANCE)
        arrival = now_utc()
        stats = phase(store, fresh_topic, log, [signed(swap, ROOT), in_time], lambda: arrival)
        assert stats.appended == 2, store.quarantine()  # within the grace window
        rotated = max(e.ingested_at for e in store.entries())
        assert rotated == arrival
        late = signed(dict(production()[3][1], event_time=base + MINUTE), old, PROVENANCE)
        after = rotated + GRACE + timedelta(seconds=1)
        assert phase(store, fresh_topic, log, [late], lambda: after).quarantined == 1
        (refused,) = [q for q in store.quarantine() if q.event_id == late.event_id]
        assert refused.reason == "key_expired" and "grace window" in refused.detail
        report = verify_ledger(store, workers=1)  # the stored arrival times give the same answers
        assert report.ok, report.damage
        assert all(v.admitted_at_append for v in ledger_verdicts(store))
    finally:
        store.close()
