"""A signed ledger holding the demo's consents, licences and production work, checkpointed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from consumers.inspect import RawRecord, inspect
from demo.story import consents, licences, production
from ledger.events.encoding import SingleObjectFraming, reader_framing
from ledger.events.kinds import KIND_FIELD, kind_named
from ledger.events.provenance import PROVENANCE
from ledger.log import operator
from ledger.store import LedgerStore, PendingEntry
from ledger.store.index_tables import decode_page, encode_page, pack, page_of, unpack
from ledger.trust.keys import KeyPair, generate
from ledger.trust.policy import FolderTrust
from producers.emitter import build_message
from tests.ledger.ledger_factory import append_all

SIGNER = generate("clearances")
ORIGIN = "fallen-tower.example/ledger"
DANA = "party:performer:dana-whitfield"


def demo_events() -> list[dict[str, Any]]:
    return [e for _, e in [*consents(), *licences(), *production()]]


def pending(
    events: Iterable[dict[str, Any]], first_offset: int = 0, rule: str = "v2"
) -> list[PendingEntry]:
    """The events inspected as a consumer of a ledger of index rule ``rule`` would (``v2``:
    a ledger made by :func:`init` today)."""
    trust = FolderTrust({SIGNER.key_id: SIGNER.public})
    framing = SingleObjectFraming()
    out = []
    for i, event in enumerate(events):
        stated = event.get(KIND_FIELD)
        kind = kind_named(str(stated)) if stated else PROVENANCE
        m = build_message(event, SIGNER, kind=kind, source="/test")
        raw = RawRecord("events", 0, first_offset + i, m.key, m.value, tuple(m.headers))
        outcome = inspect(raw, trust, framing, index_rule=rule)
        assert isinstance(outcome, PendingEntry), outcome
        out.append(outcome)
    return out


def init(store: LedgerStore) -> KeyPair:
    log_key = generate("log")
    operator.init_ledger(store, ORIGIN, log_key)
    return log_key


def fill(store: LedgerStore, log_key: KeyPair, batches: int = 2) -> operator.Checkpointer:
    """The demo events appended in ``batches`` batches, a checkpoint signed after each."""
    events = pending(demo_events())
    checkpointer = operator.Checkpointer(store, log_key)
    step = -(-len(events) // batches)
    for start in range(0, len(events), step):
        append_all(store, events[start : start + step])
        assert checkpointer.checkpoint() is not None
    return checkpointer


# --- an insider's edits, straight in the database (the index tables' own layout) -------------


def insider_sql(store: LedgerStore, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``%s`` marks) straight in the database, committed; its rows."""
    if hasattr(store, "db"):
        return list(store.db.execute(sql.replace("%s", "?"), args))
    conn = store.conn  # type: ignore[attr-defined]
    cur = conn.execute(sql, args)
    rows = cur.fetchall() if cur.description else []
    conn.commit()
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]


def set_rows(store: LedgerStore, key_hash: bytes, seqs: list[int]) -> None:
    """Replace the ledger indices stored for a key (none: the key's rows deleted)."""
    insider_sql(store, "DELETE FROM index_lists WHERE key_hash = %s", key_hash)
    if seqs:
        insider_sql(
            store,
            "INSERT INTO index_lists (key_hash, first, seqs) VALUES (%s, %s, %s)",
            key_hash,
            seqs[0],
            pack(seqs),
        )


def delete_rows_at(store: LedgerStore, seq: int) -> None:
    """Delete entry ``seq`` from every key's stored indices."""
    for k, first, packed in insider_sql(store, "SELECT key_hash, first, seqs FROM index_lists"):
        seqs = unpack(bytes(packed))
        if seq in seqs:
            insider_sql(
                store, "DELETE FROM index_lists WHERE key_hash = %s AND first = %s", k, first
            )
            rest = [s for s in seqs if s != seq]
            if rest:
                insider_sql(
                    store,
                    "INSERT INTO index_lists (key_hash, first, seqs) VALUES (%s, %s, %s)",
                    k,
                    rest[0],
                    pack(rest),
                )


def set_node(store: LedgerStore, position: bytes, node: tuple[bytes, bytes | None] | None) -> None:
    """Overwrite (or, with None, delete) the stored index tree node at ``position``."""
    page_id = page_of(position)
    found = insider_sql(store, "SELECT nodes FROM index_pages WHERE page_id = %s", page_id)
    page = decode_page(bytes(found[0][0])) if found else {}
    if node is None:
        page.pop(position, None)
    else:
        page[position] = node
    insider_sql(
        store, "UPDATE index_pages SET nodes = %s WHERE page_id = %s", encode_page(page), page_id
    )


def leaf_position(store: LedgerStore, key_hash: bytes) -> bytes:
    """Where the index tree stores the leaf of a key."""
    (found,) = [n for n, _, leaf in store.index_tables().all_nodes() if leaf == key_hash]
    return found


def to_old_layout(store: LedgerStore) -> None:
    """Rewrite the index as a ledger made before the paged layout stored it: one row per key
    and index (``index_rows``), one per node (``index_nodes``)."""
    tables = store.index_tables()
    rows, nodes = list(tables.all_rows()), list(tables.all_nodes())
    insider_sql(
        store, "CREATE TABLE index_rows (key_hash BYTEA, seq BIGINT, PRIMARY KEY (key_hash, seq))"
    )
    insider_sql(
        store, "CREATE TABLE index_nodes (node_id BYTEA PRIMARY KEY, hash BYTEA, leaf_key BYTEA)"
    )
    for k, seq in rows:
        insider_sql(store, "INSERT INTO index_rows VALUES (%s, %s)", k, seq)
    for n, h, leaf in nodes:
        insider_sql(store, "INSERT INTO index_nodes VALUES (%s, %s, %s)", n, h, leaf)
    insider_sql(store, "DROP TABLE index_lists")
    insider_sql(store, "DROP TABLE index_pages")


def count_decodings(monkeypatch: Any) -> Counter[bytes]:
    """How many times each event payload is decoded by the reader framing from now on."""
    framing = type(reader_framing())
    decode = framing.decode
    seen: Counter[bytes] = Counter()

    def counted(self: Any, payload: bytes, *args: Any, **kwargs: Any) -> Any:
        seen[payload] += 1
        return decode(self, payload, *args, **kwargs)

    monkeypatch.setattr(framing, "decode", counted)
    return seen
