"""The authenticated index on real ledgers (SQLite and PostgreSQL): proofs about keys verify
offline, tampering is named, the replay finds a lying root, and DB row edits are caught."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.story import CONSENT_DANA
from ledger.index import ProofFailure, production_key, prove_about, smt, verify_about
from ledger.index.maintain import (
    MemoryMap,
    entry_keys,
    extension_line,
    index_rule,
    update_index,
)
from ledger.index.proof import parse_about
from ledger.index.replay import INDEX_ROOT_MISMATCH, INDEX_ROW_MISMATCH, ReplayMap, monitor
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.verify import verify_ledger
from ledger.store import LedgerStore, StoredCheckpoint, StoredCosignature, open_store
from ledger.witness.cosignature import add_cosignatures, verify_cosignatures
from ledger.witness.witness import Witness, init_witness
from tests.ledger.index.index_factory import (
    DANA,
    SIGNER,
    demo_events,
    fill,
    init,
    leaf_position,
    pending,
    set_node,
    set_rows,
)
from tests.ledger.ledger_factory import append_all

KEYS = {SIGNER.key_id: SIGNER.public}


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    url = str(tmp_path / "ledger.db")
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_dsn")
    s = open_store(url)
    yield s
    s.close()


def _vkey(store: LedgerStore) -> str:
    return operator.require_identity(store).vkey


def _execute(store: LedgerStore, sql: str, *args: object) -> None:
    """An insider's edit, straight in the database."""
    if hasattr(store, "db"):
        store.db.execute(sql.replace("%s", "?"), args)
    else:
        store.conn.execute(sql, args)  # type: ignore[attr-defined]
        store.conn.commit()  # type: ignore[attr-defined]


def _every_kind_of_key() -> list[str]:
    return [
        DANA,
        "asset:fallen-tower/ep101/sq040/sh010/plate",
        "version:fallen-tower/ep101/sq040/sh010/plate@v001",
        "performer:performer:dana-whitfield",
        f"consent:{CONSENT_DANA}",
        production_key("Fallen Tower"),
        production_key("Fallen Tower", "101"),
    ]


def test_every_kind_of_key_proves_complete_offline(store: LedgerStore) -> None:
    fill(store, init(store))
    for key in _every_kind_of_key():
        verdict = verify_about(prove_about(store, key), _vkey(store))
        assert verdict.key == key
        assert verdict.indices, key
        assert verdict.size == store.head().size
    dana = verify_about(prove_about(store, DANA), _vkey(store))
    assert dana.event_ids == (CONSENT_DANA,)


def test_keys_match_a_scan_of_the_log(store: LedgerStore) -> None:
    """Every key's proven list is exactly the entries whose event files it there."""
    from ledger.index.maintain import entry_keys

    fill(store, init(store))
    expected: dict[str, list[int]] = {}
    for e in store.entries():
        for key in entry_keys(e.envelope):
            expected.setdefault(key, []).append(e.seq)
    assert any(k.startswith("model:") for k in expected)
    assert any(k.startswith("licence:") for k in expected)
    for key, seqs in sorted(expected.items())[:40]:
        assert list(verify_about(prove_about(store, key), _vkey(store)).indices) == seqs


def test_an_absent_key_proves_absent(store: LedgerStore) -> None:
    fill(store, init(store))
    for key in ("party:nobody", "asset:no-such-asset", production_key("Other Show", "1")):
        verdict = verify_about(prove_about(store, key), _vkey(store))
        assert verdict.indices == () and not verdict.present


def test_paths_read_together_are_the_paths_read_one_by_one(store: LedgerStore) -> None:
    fill(store, init(store))
    tables = store.index_tables()
    present = [k for k, _, _, _ in tables.all_keys()]
    absent = [smt.key_hash(f"party:nobody-{i}") for i in range(50)]
    assert len(present) > 20
    together = smt.paths(tables, present + absent)
    assert together == {k: smt.path(tables, k) for k in present + absent}
    assert smt.paths(tables, []) == {}


def _drop_entry(text: str) -> str:
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    count = int(lines[at].split(" ")[2])
    del lines[at : at + 1 + count]
    n = next(i for i, line in enumerate(lines) if line.startswith("entries "))
    lines[n] = f"entries {int(lines[n].split(' ')[1]) - 1}"
    return "\n".join(lines)


def test_tampered_proofs_fail_with_named_reasons(store: LedgerStore) -> None:
    log_key = init(store)
    fill(store, log_key)
    vkey = _vkey(store)
    key = production_key("Fallen Tower", "101")
    text = prove_about(store, key)
    assert len(parse_about(text).entries) > 2
    with pytest.raises(ProofFailure) as dropped:
        verify_about(_drop_entry(text), vkey)
    assert dropped.value.reason == "map_mismatch"
    # an entry that does not belong: Dana's consent, spliced into the episode's proof
    dana = prove_about(store, DANA)
    extra_lines = [ln for ln in dana.split("\n\n")[0].split("\n") if ln.startswith("entry ")]
    at = dana.split("\n").index(extra_lines[0])
    block = dana.split("\n")[at : at + 1 + int(extra_lines[0].split(" ")[2])]
    lines = text.split("\n")
    first = next(i for i, ln in enumerate(lines) if ln.startswith("entry "))
    n = next(i for i, ln in enumerate(lines) if ln.startswith("entries "))
    lines[n] = f"entries {int(lines[n].split(' ')[1]) + 1}"
    with pytest.raises(ProofFailure) as added:
        verify_about("\n".join(lines[:first] + block + lines[first:]), vkey)
    assert added.value.reason == "map_mismatch"
    # the checkpoint swapped for an older one (fewer entries, another root)
    older = store.checkpoints()[0].note
    with pytest.raises(ProofFailure) as swapped:
        verify_about(text.split("\n\n")[0] + "\n\n" + older, vkey)
    assert swapped.value.reason == "map_mismatch"
    # and a checkpoint edited after signing
    forged = text.replace("index/v2 ", "index/v2 A", 1)
    with pytest.raises(ProofFailure) as edited:
        verify_about(forged, vkey)
    assert edited.value.reason in ("checkpoint", "malformed")


def test_a_root_the_log_does_not_give_is_found_by_replay(store: LedgerStore) -> None:
    """The operator signs a checkpoint whose index root leaves out an entry."""
    log_key = init(store)
    events = pending(demo_events())
    append_all(store, events)
    size = store.head().size
    honest = MemoryMap()
    from ledger.index.maintain import entry_keys

    for e in store.entries():
        honest.add(e.seq, [] if e.seq == 3 else entry_keys(e.envelope, rule="v2"))
    lying = honest.commit()
    body = cp.Checkpoint(
        operator.require_identity(store).origin,
        size,
        store.tree().root(),
        (extension_line(lying, "v2"),),
    )
    note = cp.signed_checkpoint(body, body.origin, log_key.private)
    store.add_checkpoint(StoredCheckpoint(size, body.root_hash, note, _now()))
    report = verify_ledger(store, KEYS.get, workers=1)
    assert [d.kind for d in report.damage] == [INDEX_ROOT_MISMATCH]
    assert f"checkpoint of size {size}" in report.damage[0].detail
    assert [f.kind for f in monitor(store).findings] == [INDEX_ROOT_MISMATCH]


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.mark.parametrize("edit", ["deleted", "added", "repointed"])
def test_an_index_row_edited_in_the_database_is_named(store: LedgerStore, edit: str) -> None:
    fill(store, init(store))
    assert verify_ledger(store, KEYS.get, workers=1).ok
    k = smt.key_hash(DANA)
    (seq,) = store.index_tables().rows(k)
    if edit == "deleted":
        set_rows(store, k, [])
    elif edit == "added":
        set_rows(store, k, [seq, seq + 5])
    else:
        set_rows(store, k, [seq + 5])
    report = verify_ledger(store, KEYS.get, workers=1)
    assert [d.kind for d in report.damage] == [INDEX_ROW_MISMATCH]
    assert DANA in report.damage[0].detail and edit in report.damage[0].detail
    assert [f.kind for f in monitor(store).findings] == [INDEX_ROW_MISMATCH]
    with pytest.raises(Exception, match="map_mismatch"):
        prove_about(store, DANA)


def test_witnesses_cosign_the_index_root(store: LedgerStore, tmp_path: Path) -> None:
    fill(store, init(store))
    vkey = _vkey(store)
    witnesses = []
    for n in (1, 2):
        identity = init_witness(f"witness.example/w{n}", tmp_path / f"w{n}")
        core = Witness(identity, [cp.parse_vkey(vkey)], tmp_path / f"w{n}.db")
        latest = store.latest_checkpoint()
        assert latest is not None
        response = core.add_checkpoint(f"old 0\n\n{latest.note}".encode())
        assert response.status == 200, response.body
        line = response.body.decode()
        (cosig,) = verify_cosignatures(add_cosignatures(latest.note, [line]), [identity.key])
        store.add_cosignature(
            StoredCosignature(
                latest.size, identity.name, identity.key.key_id, cosig.timestamp, line
            )
        )
        witnesses.append(identity.key.vkey)
        core.close()
    verdict = verify_about(prove_about(store, DANA), vkey, witnesses, 2)
    assert len(verdict.cosigners) == 2
    with pytest.raises(ProofFailure) as missing:
        verify_about(prove_about(store, DANA), vkey, [*witnesses, _third(tmp_path)], 3)
    assert missing.value.reason == "witnesses"


def _third(tmp_path: Path) -> str:
    return init_witness("witness.example/w3", tmp_path / "w3").key.vkey


def test_two_consumers_append_to_one_postgres_ledger(pg_schema_dsn: str) -> None:
    first, second = open_store(pg_schema_dsn), open_store(pg_schema_dsn)
    try:
        log_key = init(first)
        events = pending(demo_events())
        checkpointers = [operator.Checkpointer(s, log_key) for s in (first, second)]
        for i in range(0, len(events), 4):
            who = (i // 4) % 2
            append_all((first, second)[who], events[i : i + 4], group=f"g{who}")
            checkpointers[1 - who].checkpoint()  # the other consumer checkpoints
        assert verify_ledger(first, KEYS.get, workers=1).ok
        assert monitor(second).ok
        verdict = verify_about(prove_about(second, DANA), _vkey(first))
        assert verdict.event_ids == (CONSENT_DANA,)
    finally:
        first.close()
        second.close()


def test_incremental_updates_give_the_root_of_one_build() -> None:
    """Folding keys in many small batches gives the root of folding them all at once, and
    of the definition computed from scratch."""
    rng = random.Random(7)
    keys = [f"asset:{rng.randrange(60)}" for _ in range(300)]
    batched, whole = MemoryMap(), MemoryMap()
    for seq, key in enumerate(keys):
        batched.add(seq, [key])
        whole.add(seq, [key])
        if rng.random() < 0.2:
            batched.commit()
    assert batched.commit() == whole.commit() == _reference_root(keys)


def _reference_root(keys: list[str]) -> bytes:
    lists: dict[bytes, list[int]] = {}
    for seq, key in enumerate(keys):
        lists.setdefault(smt.key_hash(key), []).append(seq)
    leaves = {k: smt.leaf_hash(k, smt.value_of(v)) for k, v in lists.items()}

    def subtree(depth: int, items: list[bytes]) -> bytes:
        if not items:
            return smt.EMPTY
        if len(items) == 1:
            return leaves[items[0]]
        left = [k for k in items if not smt.bit(k, depth)]
        right = [k for k in items if smt.bit(k, depth)]
        return smt.node_hash(subtree(depth + 1, left), subtree(depth + 1, right))

    return subtree(0, sorted(leaves))


def test_the_stored_index_is_the_replayed_one(store: LedgerStore) -> None:
    fill(store, init(store), batches=5)
    report = verify_ledger(store, KEYS.get, workers=1)
    assert report.ok and report.index_roots_checked == 5
    assert update_index(store).size == store.head().size


def test_a_tree_node_edited_in_the_database_is_named(store: LedgerStore) -> None:
    fill(store, init(store))
    set_node(store, smt.ROOT_ID, (bytes(32), None))
    report = verify_ledger(store, KEYS.get, workers=1)
    assert [d.kind for d in report.damage] == [INDEX_ROW_MISMATCH]
    assert "1 stored index tree node(s) differ" in report.damage[0].detail


def test_the_worked_example_of_docs_proofs_md() -> None:
    """docs/proofs.md §10.8 states these values; a verifier built from it gets the same."""
    example = MemoryMap()
    example.add(0, ["party:p1", "asset:a"])
    example.add(1, ["asset:a"])
    example.add(2, ["party:p1", "finding:f"])
    root = example.commit()
    assert root.hex() == "94fc0407002604cc8251c18d5953db8c5c0a9bbf8e3893fc94c73df141d9e674"
    assert extension_line(root) == "index/v1 lPwEBwAmBMyCUcGNWVPbjFwKm7+OOJP8lMc98UHZ5nQ="
    p1 = smt.path(example, smt.key_hash("party:p1"))
    assert [s.hex()[:8] for s in p1.siblings] == ["22e8f276"]
    leaf = smt.leaf_hash(smt.key_hash("party:p1"), smt.value_of([0, 2]))
    assert leaf.hex().startswith("983dfe03") and p1.leaf == (smt.key_hash("party:p1"), leaf)
    p2 = smt.path(example, smt.key_hash("party:p2"))
    assert [s.hex()[:8] for s in p2.siblings] == ["983dfe03", *["00000000"] * 3, "65dcda64"]
    assert p2.leaf is None
    assert smt.root_from(smt.key_hash("party:p2"), p2.siblings, smt.EMPTY) == root


def test_a_consent_is_filed_under_the_episodes_it_covers(store: LedgerStore) -> None:
    fill(store, init(store))
    (dana,) = verify_about(prove_about(store, DANA), _vkey(store)).indices
    ep101 = verify_about(prove_about(store, production_key("Fallen Tower", "101")), _vkey(store))
    ep102 = verify_about(prove_about(store, production_key("Fallen Tower", "102")), _vkey(store))
    assert dana in ep101.indices and dana not in ep102.indices


def test_a_damaged_inclusion_proof_or_syntax_is_named(store: LedgerStore) -> None:
    fill(store, init(store))
    text = prove_about(store, DANA)
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("entry "))
    assert int(lines[at].split(" ")[2]) > 0
    lines[at + 1] = cp.b64encode(bytes(32))  # the first inclusion proof hash zeroed
    with pytest.raises(ProofFailure) as inclusion:
        verify_about("\n".join(lines), _vkey(store))
    assert inclusion.value.reason == "inclusion"
    for broken in (text.replace("path ", "path x", 1), text.replace("\n\n", "\n", 1), "x"):
        with pytest.raises(ProofFailure) as malformed:
            verify_about(broken, _vkey(store))
        assert malformed.value.reason == "malformed"


def test_an_entry_the_signed_map_lists_but_which_does_not_belong_is_named(
    store: LedgerStore,
) -> None:
    """A lying operator files entry 0 under Dana's key too, and signs that map: the proof's
    map checks pass, the entry's own event does not name her."""
    from ledger.index.maintain import entry_keys

    log_key = init(store)
    append_all(store, pending(demo_events()))
    lying = MemoryMap()
    dana_seq = next(e.seq for e in store.entries() if DANA in entry_keys(e.envelope))
    intruder = next(e.seq for e in store.entries() if DANA not in entry_keys(e.envelope))
    for e in store.entries():
        lying.add(e.seq, [*entry_keys(e.envelope), *([DANA] if e.seq == intruder else [])])
    root = lying.commit()
    size = store.head().size
    origin = operator.require_identity(store).origin
    body = cp.Checkpoint(origin, size, store.tree().root(), (extension_line(root),))
    note = cp.signed_checkpoint(body, origin, log_key.private)
    path = smt.path(lying, smt.key_hash(DANA))
    indices = sorted([dana_seq, intruder])
    lines = [
        "asset-ledger/index-proof@v1",
        f"key {cp.b64encode(DANA.encode())}",
        f"path {len(path.siblings)}",
        *[cp.b64encode(h) for h in path.siblings],
        "end present",
        f"entries {len(indices)}",
    ]
    for index in indices:
        entry = store.entry(index)
        assert entry is not None
        proof = store.tree(size).inclusion_proof(index, size)
        lines.append(f"entry {index} {len(proof)} {cp.b64encode(entry.envelope)}")
        lines += [cp.b64encode(h) for h in proof]
    with pytest.raises(ProofFailure) as caught:
        verify_about("\n".join(lines) + "\n\n" + note, _vkey(store))
    assert caught.value.reason == "entry_not_about_key"
    assert f"entry {intruder}" in str(caught.value)


def test_the_monitor_recomputes_the_latest_log_root(store: LedgerStore) -> None:
    fill(store, init(store))
    assert monitor(store).ok
    last = store.entry(store.head().size - 1)
    assert last is not None
    other = store.entry(0)
    assert other is not None
    _execute(store, "UPDATE entries SET envelope = %s WHERE seq = %s", other.envelope, last.seq)
    kinds = [f.kind for f in monitor(store).findings]
    assert kinds[0] == "checkpoint_mismatch"


def test_entries_missing_under_the_head_is_a_damaged_ledger_not_a_refused_record(
    tmp_path: Path,
) -> None:
    """Extending the index over a gap in the entries fails as damage to the ledger, never as an
    input refusal: no record is refused, and no refusal reason is made up for it."""
    from ledger.errors import RejectedInput, StoreError

    store = open_store(str(tmp_path / "ledger.db"))
    init(store)
    append_all(store, pending(demo_events()))
    _execute(store, "DELETE FROM entries WHERE seq = %s", 1)
    with pytest.raises(StoreError, match="not all there") as failure:
        update_index(store)
    assert not isinstance(failure.value, RejectedInput)
    assert "assetledger verify" in (failure.value.hint or "")
    store.close()


def test_many_keys_in_uneven_batches_give_the_reference_root() -> None:
    """Thousands of keys, several per entry, folded in batches of every size: the tree's cuts
    (a binary search on the sorted key hashes) and shared paths give the definition's root."""
    rng = random.Random(20)
    entries = [
        [f"k:{rng.randrange(4000)}" for _ in range(rng.randrange(1, 6))] for _ in range(3000)
    ]
    entries = [sorted(set(keys)) for keys in entries]
    batched = MemoryMap()
    for seq, keys in enumerate(entries):
        batched.add(seq, keys)
        if rng.random() < 0.01 or seq < 40:
            batched.commit()
    flat = [(seq, key) for seq, keys in enumerate(entries) for key in keys]
    assert batched.commit() == _reference_root_of(flat)


def _reference_root_of(rows: list[tuple[int, str]]) -> bytes:
    lists: dict[bytes, list[int]] = {}
    for seq, key in rows:
        lists.setdefault(smt.key_hash(key), []).append(seq)
    leaves = {k: smt.leaf_hash(k, smt.value_of(v)) for k, v in lists.items()}

    def subtree(depth: int, items: list[bytes]) -> bytes:
        if not items:
            return smt.EMPTY
        if len(items) == 1:
            return leaves[items[0]]
        left = [k for k in items if not smt.bit(k, depth)]
        right = [k for k in items if smt.bit(k, depth)]
        return smt.node_hash(subtree(depth + 1, left), subtree(depth + 1, right))

    return subtree(0, sorted(leaves))


def test_the_update_takes_the_consumers_keys_without_decoding_again(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries appended with the keys the consumer derived (PendingEntry.index_keys) are folded
    without decoding their envelopes; the root is the one the envelopes give."""
    import ledger.index.maintain as maintain

    events = pending(demo_events())
    assert all(e.index_keys == tuple(maintain.entry_keys(e.envelope, rule="v2")) for e in events)
    init(store)
    append_all(store, events)

    derive = maintain.entry_keys
    licences = {e.envelope for e in events if e.kind == "licence_event"}
    decoded: list[bytes] = []

    def licences_only(envelope: bytes, *args: object, **kwargs: object) -> list[str]:
        # a licence record's keys depend on the index rule: derived by the update itself
        assert envelope in licences, "the index update decoded a non-licence envelope again"
        decoded.append(envelope)
        return derive(envelope, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(maintain, "entry_keys", licences_only)
    head = update_index(store)
    monkeypatch.undo()
    assert sorted(decoded) == sorted(licences) and licences
    replayed = MemoryMap()
    for e in store.entries():
        replayed.add(e.seq, maintain.entry_keys(e.envelope, rule="v2"))
    assert (head.size, head.root) == (len(events), replayed.commit())
    assert monitor(store).ok


def test_kept_and_derived_keys_mix_to_the_same_map(store: LedgerStore, tmp_path: Path) -> None:
    """Entries appended without keys (another path, another process) are decoded; those with
    keys are not; the stored map is the replayed one either way."""
    import dataclasses

    events = pending(demo_events())
    log_key = init(store)
    checkpointer = operator.Checkpointer(store, log_key)
    third = len(events) // 3
    append_all(store, [dataclasses.replace(e, index_keys=None) for e in events[:third]])
    append_all(store, events[third : 2 * third])
    assert checkpointer.checkpoint() is not None
    append_all(store, events[2 * third :])
    store.take_index_keys(0, 2 * third + 3)  # as if another process appended some of them
    assert checkpointer.checkpoint() is not None
    report = monitor(store)
    assert report.ok, report.findings
    assert report.roots_checked == 2


@pytest.mark.parametrize("spill_at", [10**9, 50, 1])
def test_the_replay_fold_gives_the_maps_rows_values_and_tree(spill_at: int) -> None:
    """verify's ReplayMap (its own fold, each key hashed once, packed rows and nodes, spilled
    to its temporary SQLite file past ``spill_at``) keeps the same key rows, nodes and roots
    as MemoryMap, commit after commit."""
    rng = random.Random(11)
    replayed, reference = ReplayMap(spill_at), MemoryMap()
    for seq in range(400):
        keys = sorted({f"asset:{rng.randrange(80)}" for _ in range(rng.randrange(4))})
        replayed.add(seq, keys)
        reference.add(seq, keys)
        if rng.random() < 0.1:
            assert replayed.commit() == reference.commit()
    assert replayed.commit() == reference.commit()
    assert (replayed.db is not None) == (spill_at < 10**9)
    assert list(replayed.all_keys()) == sorted(
        (k, (count, value)) for k, (_, count, value) in reference.keys.items()
    )
    assert replayed.get_nodes(sorted(reference.nodes)) == reference.nodes
    assert replayed.node_count() == len(reference.nodes)
    assert replayed.get_nodes([b"\xff" * 5]) == {}
    replayed.close()


def test_the_replays_value_of_is_the_maps() -> None:
    from ledger.index.replay import _value_of

    for seqs in ([], [0], [3, 17, 2**40]):
        assert _value_of(seqs) == smt.value_of(seqs)


@pytest.mark.parametrize("spill_at", [10**9, 1])
@pytest.mark.parametrize(
    "edit, named",
    [
        ("row deleted", "deleted from its rows"),
        ("key row count", "(count, value) is not the log's"),
        ("key row text", "(count, value) is not the log's"),
        ("key row deleted", "is missing"),
        ("node deleted", "1 missing"),
        ("node edited", "1 stored index tree node(s) differ"),
    ],
)
def test_the_replay_names_every_edit_in_memory_or_spilled(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch, spill_at: int, edit: str, named: str
) -> None:
    """The replay's map in memory or spilled to its SQLite file (``SPILL_AT``) finds the same
    edits of the stored rows, key rows and nodes; a deleted key row was not found before."""
    import ledger.index.replay as replay

    monkeypatch.setattr(replay, "SPILL_AT", spill_at)
    fill(store, init(store), batches=3)
    assert monitor(store).ok and verify_ledger(store, KEYS.get, workers=1).ok
    k = smt.key_hash(DANA)
    if edit == "row deleted":
        set_rows(store, k, [])
    elif edit == "key row count":
        _execute(store, "UPDATE index_keys SET count = count + 1 WHERE key_hash = %s", k)
    elif edit == "key row text":
        _execute(store, "UPDATE index_keys SET key = %s WHERE key_hash = %s", "party:other", k)
    elif edit == "key row deleted":
        _execute(store, "DELETE FROM index_keys WHERE key_hash = %s", k)
    elif edit == "node deleted":
        set_node(store, leaf_position(store, k), None)
    else:
        set_node(store, leaf_position(store, k), (bytes(32), k))
    findings = monitor(store).findings
    assert [f.kind for f in findings] == [INDEX_ROW_MISMATCH], findings
    assert named in findings[0].detail
    report = verify_ledger(store, KEYS.get, workers=1)
    assert [d.kind for d in report.damage] == [INDEX_ROW_MISMATCH]


@pytest.mark.parametrize("group", [1, 3, 50])
def test_an_update_applied_in_groups_of_keys_stores_the_one_pass_map(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch, group: int
) -> None:
    """The update applies its keys a group at a time (bounded memory), each group written
    before the next is read: the roots, the stored nodes and proofs are those of one pass
    (the replay's)."""
    import ledger.index.maintain as maintain

    monkeypatch.setattr(maintain, "UPDATE_GROUP", group)
    fill(store, init(store), batches=3)
    report = verify_ledger(store, KEYS.get, workers=1)
    assert report.ok and report.index_roots_checked == 3
    assert monitor(store).ok
    reference = MemoryMap()
    for e in store.entries():
        reference.add(e.seq, entry_keys(e.envelope, rule=index_rule(store)))
    assert reference.commit() == store.index_tables().head()[1]
    nodes = sorted(store.index_tables().all_nodes())
    assert {n: (h, leaf) for n, h, leaf in nodes} == reference.nodes
