"""The index tables' layout: pages of nodes, packed lists, and ledgers of the old layout."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import ledger.store.index_tables as index_tables
from ledger.errors import StoreError, VerificationFailure
from ledger.index import prove_about, smt
from ledger.index.maintain import update_index
from ledger.index.replay import monitor
from ledger.log import operator
from ledger.log.verify import verify_ledger
from ledger.store import open_store
from ledger.store.index_tables import (
    POSTGRES_SCHEMA,
    decode_page,
    encode_page,
    migrate_postgres,
    page_of,
    unpack,
)
from tests.ledger.index.index_factory import (
    DANA,
    SIGNER,
    demo_events,
    fill,
    init,
    insider_sql,
    pending,
    set_node,
    to_old_layout,
)
from tests.ledger.ledger_factory import append_all


def test_a_page_holds_eight_depths_under_its_top_node() -> None:
    k = bytes(range(32))
    assert page_of(b"\x00\x00") == b"\x00\x00"
    assert page_of(b"\x00\x07" + b"\x02") == b"\x00\x00"
    assert page_of(b"\x00\x08" + k[:1]) == b"\x00\x08" + k[:1]
    assert page_of(b"\x00\x11" + k[:3]) == b"\x00\x10" + k[:2]
    assert page_of(b"\x01\x00" + k) == b"\x01\x00" + k
    nodes = {b"\x00\x08\x01": (b"h" * 32, None), b"\x00\x09\x01\x80": (b"g" * 32, b"k" * 32)}
    assert decode_page(encode_page(nodes)) == nodes


def test_a_page_cut_inside_a_record_is_refused_by_name() -> None:
    """A page cut short inside its last record (a leaf of 67 bytes): IndexError when the cut
    fell in a hash, and a shorter key hash when it fell in the leaf's, before."""
    nodes = {b"\x00\x08\x01": (b"h" * 32, None), b"\x00\x09\x01\x80": (b"g" * 32, b"k" * 32)}
    packed = encode_page(nodes)
    assert decode_page(packed[:37]) == {b"\x00\x08\x01": (b"h" * 32, None)}  # a record less
    for cut in range(1, 67):
        with pytest.raises(VerificationFailure, match="index_page_damaged"):
            decode_page(packed[:-cut])


def test_a_page_top_read_alone_refuses_a_leaf_cut_short(store_url: str) -> None:
    """A page's top read without decoding the rest (page_tops, _top_nodes): a leaf record
    cut inside its key hash is refused as a page read whole refuses it (page_tops returned
    the 16 bytes as the leaf's key hash)."""
    with open_store(store_url) as store:
        fill(store, init(store))
        position = b"\x00\x10" + bytes(2)
        cut = bytes((len(position),)) + position + b"h" * 32 + b"\x01" + b"k" * 16
        insider_sql(
            store, "INSERT INTO index_pages (page_id, nodes) VALUES (%s, %s)", position, cut
        )
        tables = store.index_tables()
        with pytest.raises(VerificationFailure, match="index_page_damaged"):
            tables.page_tops([position])
        with pytest.raises(VerificationFailure, match="index_page_damaged"):
            tables.page_nodes([position])


def test_an_old_layout_is_refused_read_only_and_converted_writable(store_url: str) -> None:
    with open_store(store_url) as store:
        fill(store, init(store))
        tables = store.index_tables()
        head, rows, keys = tables.head(), list(tables.all_rows()), list(tables.all_keys())
        nodes = sorted(tables.all_nodes())
        proof = prove_about(store, DANA)
        to_old_layout(store)
    with (
        open_store(store_url, read_only=True) as store,
        pytest.raises(StoreError, match="old table layout") as refused,
    ):
        store.index_tables()
    assert "assetledger migrate-index" in (refused.value.hint or "")
    with open_store(store_url) as store:
        tables = store.index_tables()  # converted here
        assert (tables.head(), list(tables.all_rows()), list(tables.all_keys())) == (
            head,
            rows,
            keys,
        )
        assert sorted(tables.all_nodes()) == nodes
        assert prove_about(store, DANA) == proof
        assert verify_ledger(store, {SIGNER.key_id: SIGNER.public}.get, workers=1).ok
    with open_store(store_url, read_only=True) as store:
        assert store.index_tables().head() == head


@pytest.fixture(params=["top pages kept", "every page kept by its bytes"])
def kept(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The demo's map lies in the top pages; with the second param none counts as a top page,
    so every page goes through the decoded pages kept between updates (checked by bytes)."""
    if request.param != "top pages kept":
        monkeypatch.setattr(index_tables, "_KEPT_BELOW", b"\x00\x00")
        monkeypatch.setattr(index_tables.IndexTables, "decoded_budget", 100_000)
    return str(request.param)


def test_a_writer_keeps_its_top_pages_only_while_no_other_writer_moved_the_map(
    store_url: str, kept: str
) -> None:
    """The top pages a store keeps between its updates are dropped once another store has
    extended the map, and a page kept decoded is used again only while its bytes are the
    stored ones: every root is still the log's (the replay agrees with each one)."""
    events = pending(demo_events())
    with open_store(store_url) as first, open_store(store_url) as second:
        log_key = init(first)
        signers = [operator.Checkpointer(s, log_key) for s in (first, second)]
        turns = [0, 0, 1, 0, 0, 1, 1, 0, 0]  # twice in a row (kept pages used), then the other
        step = -(-len(events) // len(turns))
        for turn, start in zip(turns, range(0, len(events), step), strict=True):
            append_all((first, second)[turn], events[start : start + step], group=f"g{turn}")
            assert signers[turn].checkpoint() is not None
        report = monitor(first)
        assert report.ok and report.roots_checked == len(turns)


def test_a_page_changed_behind_the_kept_pages_is_read_as_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An insider edits stored leaves after a store kept their pages decoded: its next update
    reads the pages as they are stored now (the root it writes is the one a store keeping
    nothing computes over the same rows), so the replay still finds the signed root wrong."""
    monkeypatch.setattr(index_tables, "_KEPT_BELOW", b"\x00\x00")
    monkeypatch.setattr(index_tables.IndexTables, "decoded_budget", 100_000)
    events = pending(demo_events())
    half = len(events) // 2
    with open_store(str(tmp_path / "ledger.db")) as store:
        log_key = init(store)
        append_all(store, events[:half])
        assert operator.Checkpointer(store, log_key).checkpoint() is not None
        assert store.index_tables()._decoded  # the pages it read and wrote, kept
        for n, h, leaf in list(store.index_tables().all_nodes()):
            if leaf is not None:
                set_node(store, n, (smt.node_hash(h, h), leaf))
        append_all(store, events[half:])
        store.db.execute(f"VACUUM INTO '{tmp_path / 'copy.db'}'")  # type: ignore[attr-defined]
        with open_store(str(tmp_path / "copy.db")) as fresh:
            expected = update_index(fresh).root
        assert operator.Checkpointer(store, log_key).checkpoint() is not None
        assert store.index_tables().head()[1] == expected
        assert not monitor(store).ok


def test_paths_read_by_pages_fold_as_paths_read_by_depth(store_url: str) -> None:
    """:meth:`IndexTables.read_paths` (a page level a read, sibling pages by their top node)
    gives the fold what reading each depth's nodes gives: the same root and writes."""
    with open_store(store_url) as store:
        fill(store, init(store), batches=3)
        tables = store.index_tables()
        keys = sorted({smt.key_hash(f"k:{i}") for i in range(50)} | {smt.key_hash(DANA)})
        values = [smt.leaf_hash(k, k) for k in keys]
        by_pages = smt.fold_tree(dict(tables.read_paths(keys)), keys, values)
        by_depth = smt.fold_tree(smt._prefetch(tables, keys), keys, values)
        assert by_pages.root == by_depth.root and by_pages.writes == by_depth.writes


def test_a_postgres_migration_reads_the_old_rows_in_bounded_memory(pg_schema_dsn: str) -> None:
    """``migrate-index`` on PostgreSQL streams the old rows (a server-side cursor, bounded
    batches) instead of fetching a whole table: at 1M entries ``index_rows`` holds tens of
    millions of rows.  Measured as the Python memory it allocates at its peak (tracemalloc),
    against what the 300,000 rows here took when fetched whole (63 MB)."""
    import tracemalloc

    import psycopg

    rows, keys, nodes = 200_000, 50_000, 100_000
    with psycopg.connect(pg_schema_dsn) as conn:
        for statement in POSTGRES_SCHEMA:
            conn.execute(statement)
        conn.execute(
            "CREATE TABLE index_rows (key_hash BYTEA, seq BIGINT, PRIMARY KEY (key_hash, seq))"
        )
        conn.execute(
            "CREATE TABLE index_nodes (node_id BYTEA PRIMARY KEY, hash BYTEA, leaf_key BYTEA)"
        )
        conn.execute(
            "INSERT INTO index_rows SELECT sha256(int4send(i %% %s)), i"
            " FROM generate_series(0, %s) i",
            (keys, rows - 1),
        )
        # depth-24 nodes (each the top of a page of its own)
        conn.execute(
            "INSERT INTO index_nodes SELECT '\\x0018'::bytea || substring(int4send(i) from 2),"
            " sha256(int4send(i)), NULL FROM generate_series(0, %s) i",
            (nodes - 1,),
        )
        conn.commit()
        with conn.transaction():
            tracemalloc.start()
            try:
                migrate_postgres(conn)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        listed = conn.execute("SELECT key_hash, first, seqs FROM index_lists").fetchall()
        pages = conn.execute("SELECT count(*) FROM index_pages").fetchone()
    assert peak < 8 * 2**20, f"the migration held {peak / 2**20:.1f} MB of Python objects"
    assert len(listed) == keys and pages == (nodes,)
    for key_hash, first, seqs in listed[:50]:
        decoded = unpack(bytes(seqs))
        assert decoded[0] == first and len(decoded) == rows // keys
        assert all(seq % keys == decoded[0] for seq in decoded)
        assert bytes(key_hash) == hashlib.sha256(first.to_bytes(4, "big")).digest()
