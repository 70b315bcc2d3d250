"""Audits of an episode, a production or an asset read through the authenticated index:
the same findings as after the linear guard, and an index row edited in the database is a
named failure of the audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo.story import EPISODE, SHOW
from ledger.audit.ip import Scope, audit_json, run_audit, with_receipts
from ledger.audit.keys import registry_verdicts
from ledger.audit.model import LedgerView, check_state
from ledger.errors import VerificationFailure
from ledger.events.encoding import reader_framing
from ledger.index import production_key, smt
from ledger.index.lookup import VerifiedIndex
from ledger.log.receipt import make_receipt
from ledger.store import LedgerStore, open_store
from ledger.store.index_tables import decode_page, encode_page, page_of
from ledger.trust.dsse import Envelope
from tests.ledger.index.index_factory import (
    count_decodings,
    fill,
    init,
    insider_sql,
    leaf_position,
    set_node,
    set_rows,
)

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
SCOPES = [
    Scope(SHOW, EPISODE),
    Scope(SHOW),
    Scope(asset="fallen-tower/ep101/sq040/sh030/final"),
]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    url = str(tmp_path / "ledger.db")
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_dsn")
    s = open_store(url)
    fill(s, init(s))
    yield s
    s.close()


def _linear(store: LedgerStore) -> LedgerView:
    view = LedgerView.open(store, check=False)
    check_state(store, view.state)
    return view


def _audit(view: LedgerView, scope: Scope) -> dict[str, object]:
    return audit_json(run_audit(view, scope, as_of=AS_OF), receipts=False)


@pytest.mark.parametrize("scope", SCOPES, ids=["episode", "production", "asset"])
def test_the_indexed_audit_finds_what_the_linear_one_finds(
    store: LedgerStore, scope: Scope
) -> None:
    view = LedgerView.open(store)
    assert view.index is not None  # read through the index: no linear pass
    indexed = _audit(view, scope)
    assert indexed["findings"]
    assert indexed == _audit(_linear(store), scope)


def test_each_entry_is_decoded_once_and_no_reader_changes_the_shared_record(
    store: LedgerStore,
) -> None:
    view = LedgerView.open(store)
    with_receipts(view, run_audit(view, Scope(SHOW), as_of=AS_OF).findings)
    assert len(view._records) > 10
    for seq, (envelope, _, record) in view._records.items():
        entry = view.entry(seq)
        assert view.decode(entry) is record  # the view's one decoding, shared
        fresh = reader_framing().decode(Envelope.decode(envelope, reader_framing()).payload)[1]
        assert record == fresh, f"entry {seq}'s shared decoded record was changed by a reader"


def test_many_receipts_are_the_single_ones(store: LedgerStore) -> None:
    view = LedgerView.open(store)
    findings = with_receipts(view, run_audit(view, Scope(SHOW), as_of=AS_OF).findings)
    size = view.state.size
    evidence = {e.seq: e.receipt for f in findings for e in f.evidence}
    assert len(evidence) > 10 and all(r is not None for r in evidence.values())
    for seq, receipt in evidence.items():
        proof = store.tree(size).inclusion_proof(seq, size)
        assert view.state.note is not None
        assert receipt == make_receipt(view.entry(seq).envelope, seq, proof, view.state.note)


def _sql(store: LedgerStore, sql: str, *args: object) -> None:
    if hasattr(store, "db"):
        store.db.execute(sql.replace("%s", "?"), args)
    else:
        store.conn.execute(sql, args)  # type: ignore[attr-defined]
        store.conn.commit()  # type: ignore[attr-defined]


@pytest.mark.parametrize("edit", ["deleted", "added", "repointed"])
def test_an_index_row_edited_in_the_database_fails_the_audit(store: LedgerStore, edit: str) -> None:
    k = smt.key_hash(production_key(SHOW, EPISODE))
    seqs = store.index_tables().rows(k)
    outside = next(s for s in range(store.head().size) if s not in seqs)
    if edit == "deleted":
        set_rows(store, k, seqs[:-1])
    elif edit == "added":
        set_rows(store, k, sorted([*seqs, outside]))
    else:
        set_rows(store, k, sorted([outside, *seqs[1:]]))
    view = LedgerView.open(store)
    with pytest.raises(VerificationFailure, match="index_row_mismatch"):
        run_audit(view, Scope(SHOW, EPISODE), as_of=AS_OF)


def test_an_entry_rewritten_in_the_database_fails_the_audit(store: LedgerStore) -> None:
    seqs = store.index_tables().rows(smt.key_hash(production_key(SHOW, EPISODE)))
    other = store.entry(seqs[1])
    assert other is not None
    _sql(store, "UPDATE entries SET envelope = %s WHERE seq = %s", other.envelope, seqs[0])
    view = LedgerView.open(store)
    with pytest.raises(VerificationFailure, match="not the one the signed checkpoint"):
        run_audit(view, Scope(SHOW, EPISODE), as_of=AS_OF)


def test_an_event_id_column_swapped_in_the_database_fails_the_audit(store: LedgerStore) -> None:
    """Audits read event ids and kinds from the entry's columns: they must be its envelope's."""
    seqs = store.index_tables().rows(smt.key_hash(production_key(SHOW, EPISODE)))
    a, b = store.entry(seqs[0]), store.entry(seqs[1])
    assert a is not None and b is not None
    _sql(store, "UPDATE entries SET event_id = %s WHERE seq = %s", "swap", a.seq)
    _sql(store, "UPDATE entries SET event_id = %s WHERE seq = %s", a.event_id, b.seq)
    _sql(store, "UPDATE entries SET event_id = %s WHERE seq = %s", b.event_id, a.seq)
    with pytest.raises(VerificationFailure, match="event_id_mismatch"):
        run_audit(LedgerView.open(store), Scope(SHOW, EPISODE), as_of=AS_OF)


def test_a_batch_with_one_rewritten_entry_names_that_entry(store: LedgerStore) -> None:
    """Entries are checked many at a time against the signed root; the failure still names
    the one entry that is not the signed one."""
    seqs = store.index_tables().rows(smt.key_hash(production_key(SHOW, EPISODE)))
    other = store.entry(seqs[1])
    assert other is not None
    _sql(store, "UPDATE entries SET envelope = %s WHERE seq = %s", other.envelope, seqs[3])
    view = LedgerView.open(store)
    assert view.index is not None
    with pytest.raises(VerificationFailure, match=f"entry {seqs[3]} is not the one"):
        view.index.check_entries(seqs)


def test_a_log_tree_node_edited_in_the_database_fails_the_audit(store: LedgerStore) -> None:
    """The batch check reads sibling hashes from the node table: an edited one cannot pass."""
    seqs = store.index_tables().rows(smt.key_hash(production_key(SHOW, EPISODE)))
    outside = next(s for s in range(store.head().size) if s not in seqs and s ^ 1 in seqs)
    _sql(store, "UPDATE merkle_nodes SET hash = %s WHERE level = 0 AND idx = %s",
         bytes(32), outside)  # fmt: skip
    view = LedgerView.open(store)
    assert view.index is not None
    with pytest.raises(VerificationFailure, match=f"entry {outside ^ 1} is not the one"):
        view.index.check_entries([outside ^ 1])


def test_a_licence_event_id_column_swapped_fails_the_audit(store: LedgerStore) -> None:
    """A licence is found by its event id column, then checked: a swapped column fails."""
    from ledger.events.kinds import LICENCE

    size = store.head().size
    entries = [store.entry(s) for s in range(size)]
    licence = next(e for e in entries if e is not None and e.kind == LICENCE.record)
    uses = store.index_tables().rows(smt.key_hash(f"licence:{licence.event_id}"))
    other = store.entry(next(s for s in uses if s != licence.seq))
    assert other is not None and len(uses) > 1
    _sql(store, "UPDATE entries SET event_id = %s WHERE seq = %s", "swap", licence.seq)
    _sql(store, "UPDATE entries SET event_id = %s WHERE seq = %s", licence.event_id, other.seq)
    _sql(store, "UPDATE entries SET event_id = %s WHERE seq = %s", other.event_id, licence.seq)
    view = LedgerView.open(store)
    with pytest.raises(VerificationFailure, match="event_id_mismatch"):
        view.by_event_id(licence.event_id, f"licence:{licence.event_id}")


def _all_keys(store: LedgerStore) -> list[str]:
    return [key for _, key, _, _ in store.index_tables().all_keys()]


def test_keys_read_together_are_the_keys_read_alone(store: LedgerStore) -> None:
    """The multi-key read (rows in one query, paths a few depths at a time for all keys)
    answers each key as its own path does, present and absent keys alike."""
    keys = _all_keys(store) + [f"finding:absent-{n}" for n in range(20)]
    together = LedgerView.open(store).index
    alone = LedgerView.open(store).index
    assert together is not None and alone is not None
    together.read_keys(keys)
    assert all(together.key(k) == alone.key(k) for k in keys)
    assert sum(map(len, (together.key(k) for k in keys))) > len(keys) // 2


@pytest.mark.parametrize("edit", ["deleted", "added", "repointed"])
def test_one_edited_row_in_a_batch_of_keys_fails_and_names_its_key(
    store: LedgerStore, edit: str
) -> None:
    keys = sorted(_all_keys(store))
    victim = next(k for k in keys if k.startswith("version:") and len(
        store.index_tables().rows(smt.key_hash(k))) > 1)  # fmt: skip
    k = smt.key_hash(victim)
    seqs = store.index_tables().rows(k)
    outside = next(s for s in range(store.head().size) if s not in seqs)
    if edit == "deleted":
        set_rows(store, k, seqs[:-1])
    elif edit == "added":
        set_rows(store, k, sorted([*seqs, outside]))
    else:
        set_rows(store, k, sorted([outside, *seqs[1:]]))
    index = LedgerView.open(store).index
    assert index is not None
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        index.read_keys(keys)


def test_lookups_answered_together_are_the_ones_answered_alone(store: LedgerStore) -> None:
    lookups = [("asset_version", k[len("version:") :]) for k in _all_keys(store)
               if k.startswith("version:")] + [("finding", "no-such-finding")]  # fmt: skip
    together = LedgerView.open(store)
    together.prefetch(lookups)
    alone = LedgerView.open(store)
    assert all(together.seqs(*q) == alone.seqs(*q) for q in lookups)
    assert any(together.seqs(*q) for q in lookups)


def test_inclusion_proofs_from_proven_nodes_are_the_stored_tree_ones(store: LedgerStore) -> None:
    index = LedgerView.open(store).index
    assert index is not None
    seqs = store.index_tables().rows(smt.key_hash(production_key(SHOW, EPISODE)))
    proofs, proven = index.inclusion_proofs(seqs)
    assert proven  # every node came from the entries' own check against the signed root
    assert proofs == store.tree(index.size).inclusion_proofs(seqs, index.size)


def test_signed_event_ids_are_the_decoded_ones(store: LedgerStore) -> None:
    """The scan reads event ids from the front of the signed bytes: each is the one a whole
    decoding gives, for every kind of entry."""
    index = LedgerView.open(store).index
    assert index is not None
    seqs = list(range(index.size))
    framing = reader_framing()
    signed = index.signed_event_ids(seqs)
    for seq in seqs:
        entry = store.entry(seq)
        assert entry is not None
        record = framing.decode(Envelope.decode(entry.envelope, framing).payload)[1]
        assert signed[seq] == record["event_id"]


def test_a_licence_hidden_by_its_event_id_column_is_still_found(store: LedgerStore) -> None:
    """A licence record whose event id column was changed is not missed: the key's signed
    list is read for the event ids the envelopes hold, and the record then fails its check."""
    from ledger.events.kinds import LICENCE

    entries = [store.entry(s) for s in range(store.head().size)]
    licence = next(e for e in entries if e is not None and e.kind == LICENCE.record)
    _sql(store, "UPDATE entries SET event_id = %s WHERE seq = %s", "hidden", licence.seq)
    view = LedgerView.open(store)
    with pytest.raises(VerificationFailure, match="event_id_mismatch"):
        view.by_event_id(licence.event_id, f"licence:{licence.event_id}")
    assert view.by_event_id("no-such-licence", "licence:no-such-licence") is None


def test_entries_at_and_rows_of_read_many_as_one_does(store: LedgerStore) -> None:
    """The store reads the audits' batches use: entries by index list, rows of many keys."""
    size = store.head().size
    wanted = [0, 2, 3, size - 1, size + 5]  # the last one does not exist
    got = store.entries_at(wanted)
    assert [e.seq for e in got] == [0, 2, 3, size - 1]
    assert got == [store.entry(s) for s in (0, 2, 3, size - 1)]
    keys = [smt.key_hash(k) for k in _all_keys(store)[:50]] + [smt.key_hash("asset:none")]
    tables = store.index_tables()
    assert tables.rows_of(keys) == {k: tables.rows(k) for k in keys}


def test_the_signer_rule_decodes_no_event_the_index_decoded(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the signer verdicts (as ``assetledger audit ip`` runs it), each event read is
    decoded once: the index's check hands its decoding to the verdicts."""
    seen = count_decodings(monkeypatch)
    verdicts = registry_verdicts(store)
    assert verdicts is not None
    view = LedgerView.open(store)
    result = run_audit(view, Scope(SHOW, EPISODE), signer_verdicts=verdicts, as_of=AS_OF)
    assert result.findings and len(seen) >= len(result.steps)
    assert max(seen.values()) == 1


# --- the keys of a batch checked as one multiproof (read_keys) --------------------------------


def _keys(store: LedgerStore) -> list[str]:
    return sorted(_all_keys(store))


def _victim(store: LedgerStore) -> tuple[str, bytes]:
    """A key listing more than one entry, and its key hash."""
    tables = store.index_tables()
    key = next(k for k in _keys(store) if k.startswith("version:") and len(
        tables.rows(smt.key_hash(k))) > 1)  # fmt: skip
    return key, smt.key_hash(key)


def _index(store: LedgerStore) -> VerifiedIndex:
    index = LedgerView.open(store).index
    assert index is not None
    return index


def _node(store: LedgerStore, position: bytes) -> tuple[bytes, bytes | None]:
    found = store.index_tables().get_nodes([position])
    return found[position]


def test_a_key_relabelled_as_another_keys_leaf_is_not_proven_absent(store: LedgerStore) -> None:
    """The leaf at the end of a key's path relabelled with another key's hash, the key's rows
    deleted: the stored leaf hash still hashes up to the root, but a leaf ending another key's
    path is hashed from that key's own value, so the key cannot pass for absent."""
    victim, k = _victim(store)
    other = smt.key_hash(next(key for key in _keys(store) if key != victim))
    position = leaf_position(store, k)
    set_node(store, position, (_node(store, position)[0], other))
    set_rows(store, k, [])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([victim])


def test_an_inner_node_relabelled_as_a_leaf_hides_no_key_below_it(store: LedgerStore) -> None:
    """The node above a key's leaf (its parent, an inner node) relabelled as another key's
    leaf with the inner node's hash: the key's path would end there with the right hash."""
    victim, k = _victim(store)
    depth = int.from_bytes(leaf_position(store, k)[:2], "big") - 1
    parent = smt.node_id(k, depth)
    other = smt.key_hash(next(key for key in _keys(store) if key != victim))
    set_node(store, parent, (_node(store, parent)[0], other))
    set_rows(store, k, [])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([victim])


@pytest.mark.parametrize("edit", ["deleted", "added", "repointed"])
def test_a_key_read_after_others_proved_the_upper_nodes_is_still_checked(
    store: LedgerStore, edit: str
) -> None:
    """A later batch hashes only up to the nodes an earlier one proved: an edited row in it
    fails there, named, and the earlier batch's keys stay as they were read."""
    victim, k = _victim(store)
    seqs = store.index_tables().rows(k)
    outside = next(s for s in range(store.head().size) if s not in seqs)
    rows = {"deleted": seqs[:-1], "added": sorted([*seqs, outside])}
    set_rows(store, k, rows.get(edit, sorted([outside, *seqs[1:]])))
    others = [key for key in _keys(store) if key != victim]
    index = _index(store)
    index.read_keys(others[: len(others) // 2])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        index.read_keys([*others[len(others) // 2 :], victim])
    assert index.key(others[0]) == store.index_tables().rows(smt.key_hash(others[0]))


def test_rows_given_to_an_absent_key_fail_in_a_batch(store: LedgerStore) -> None:
    victim = "finding:no-such-finding"
    set_rows(store, smt.key_hash(victim), [1])
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([*_keys(store), victim])


def test_a_sibling_hash_edited_beside_a_path_fails_the_key(store: LedgerStore) -> None:
    """Subtrees beside the paths are read from the pages, never trusted: an edited one
    makes the batch miss the root."""
    victim, k = _victim(store)
    position = leaf_position(store, k)
    sibling = smt.sibling_id(k, int.from_bytes(position[:2], "big"))
    found = store.index_tables().get_nodes([sibling]).get(sibling)
    set_node(store, sibling, (bytes(32) if found is None else bytes(31) + b"\x01", None))
    with pytest.raises(VerificationFailure, match=f"index_row_mismatch.*{victim}"):
        _index(store).read_keys([victim])


def test_batches_of_any_split_read_what_one_key_at_a_time_reads(store: LedgerStore) -> None:
    keys = [*_keys(store), *(f"finding:absent-{n}" for n in range(40))]
    alone = _index(store)
    expected = {key: alone.key(key) for key in keys}
    for size in (3, 17, len(keys)):
        index = _index(store)
        for start in range(0, len(keys), size):
            index.read_keys(keys[start : start + size])
        assert {key: index.key(key) for key in keys} == expected


@pytest.fixture
def shallow_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first page (depths 0-7) read when a view opens, so that the small test map's
    deeper pages are read as a big map's are: whole on a path, the top node alone beside it."""
    from ledger.index import lookup
    from ledger.store.index_tables import page_of

    monkeypatch.setattr(lookup, "PRELOAD_DEPTH", 8)
    monkeypatch.setattr(lookup, "PRELOADED_PAGES", page_of(smt.node_id(smt.EMPTY, 8)))


@pytest.mark.usefixtures("shallow_preload")
def test_pages_read_on_the_way_give_what_one_key_at_a_time_reads(store: LedgerStore) -> None:
    test_batches_of_any_split_read_what_one_key_at_a_time_reads(store)
    index = _index(store)
    index.read_keys(_keys(store))
    assert index.nodes.pages and index.nodes.tops  # pages read whole, and top nodes alone


@pytest.mark.usefixtures("shallow_preload")
def test_a_page_top_read_alone_is_still_checked(store: LedgerStore) -> None:
    """A subtree beside a path whose page only its top node was read from: an edited hash
    there fails the batch as anywhere else."""
    keys = _keys(store)[::4]  # the other keys' subtrees lie beside their paths
    index = _index(store)
    index.read_keys(keys)
    top = sorted(index.nodes.tops - index.nodes.empty - index.nodes.pages)[0]
    set_node(store, top, (bytes(31) + b"\x01", None))
    with pytest.raises(VerificationFailure, match="index_row_mismatch"):
        _index(store).read_keys(keys)


def test_a_leaf_key_hash_cut_short_cannot_pass_for_another_keys_leaf(store: LedgerStore) -> None:
    """A leaf's stored key hash cut to 16 bytes (the page's last record) and a key row under
    those 16 bytes valued with the rest: SHA-256(0x00 || k[:16] || k[16:] + v) is the real
    leaf's hash, and for a key whose leaf lies at depth d below d zero bits the 16 bytes pass
    a prefix test by integers; the key's rows deleted, it read as absent.  (A page read whole
    now refuses the cut record; a page's top read alone is not decoded, and the leaf's end is
    checked for 32-byte key hash and value as well.)"""
    tables = store.index_tables()
    found = [
        (n, leaf)
        for n, _, leaf in tables.all_nodes()
        if leaf is not None and int.from_bytes(leaf, "big") >> (256 - int.from_bytes(n[:2])) == 0
    ]
    position, k = found[0]
    victim = tables.keys([k])[k][0]
    value = tables.keys([k])[k][2]
    assert tables.rows(k)
    page_id = page_of(position)
    page = decode_page(bytes(insider_sql(store, "SELECT nodes FROM index_pages WHERE page_id = %s",
                                         page_id)[0][0]))  # fmt: skip
    leaf = page.pop(position)[0]
    cut = bytes((len(position),)) + position + leaf + b"\x01" + k[:16]  # the last record
    insider_sql(
        store,
        "UPDATE index_pages SET nodes = %s WHERE page_id = %s",
        encode_page(page) + cut,
        page_id,
    )
    insider_sql(
        store,
        "INSERT INTO index_keys (key_hash, key, count, value) VALUES (%s, %s, %s, %s)",
        k[:16],
        "finding:cut",
        0,
        k[16:] + value,
    )
    set_rows(store, k, [])
    with pytest.raises(
        VerificationFailure, match=f"index_page_damaged|index_row_mismatch.*{victim}"
    ):
        _index(store).read_keys([victim])
