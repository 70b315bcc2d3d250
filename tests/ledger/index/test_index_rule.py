"""The index rule, fixed per ledger: v1 ledgers (made before v2) keep their keys and roots;
v2 ledgers file ``licence-record:`` keys and their checkpoints say ``index/v2``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.index import ProofFailure, prove_about, smt, verify_about
from ledger.index.maintain import (
    META_INDEX_RULE,
    extension_line,
    index_rule,
    root_in,
    rule_in,
    update_index,
)
from ledger.index.replay import INDEX_RULE_MISMATCH, monitor
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.verify import verify_ledger
from ledger.store import LedgerStore, StoredCheckpoint, open_store
from ledger.trust.keys import KeyPair, generate
from tests.ledger.index.index_factory import ORIGIN, SIGNER, demo_events, init, pending
from tests.ledger.ledger_factory import append_all

KEYS = {SIGNER.key_id: SIGNER.public}
# The index root of the demo events (26 entries) computed by main's code at 10d12d0, before
# index rules existed: a v1 ledger must keep giving it.
V1_DEMO_ROOT = "f0f42b130f9b695fcacb8477fc102179f644c42988e465cfbfecc998c001fc10"
LICENCE_ID = "182f2376-0a94-5840-bd28-831cc0b4a43a"  # a demo licence the production uses


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    url = str(tmp_path / "ledger.db")
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_dsn")
    s = open_store(url)
    yield s
    s.close()


def _old_init(store: LedgerStore) -> KeyPair:
    """A ledger initialised as before index rules: origin and log key, no ``index_rule``."""
    log_key = generate("log")
    identity = operator.LogIdentity(ORIGIN, log_key.public)
    store.set_meta(operator.META_ORIGIN, ORIGIN)
    store.set_meta(operator.META_LOG_VKEY, identity.vkey)
    return log_key


def _fill(store: LedgerStore, log_key: KeyPair, rule: str, sign_last: bool = True) -> None:
    """The demo events in two batches, a checkpoint after each (the last: ``sign_last``)."""
    checkpointer = operator.Checkpointer(store, log_key)
    events = pending(demo_events(), rule=rule)
    half = len(events) // 2
    for i, batch in enumerate((events[:half], events[half:])):
        append_all(store, batch)
        if sign_last or i == 0:
            assert checkpointer.checkpoint() is not None


def _lines(store: LedgerStore) -> list[tuple[str, ...]]:
    identity = operator.require_identity(store)
    return [
        cp.open_checkpoint(c.note, identity.origin, identity.public_key).extensions
        for c in store.checkpoints()
    ]


def _resign(store: LedgerStore, log_key: KeyPair, line: str) -> None:
    """The log signs a checkpoint at the head with ``line`` as its index line."""
    size = store.head().size
    body = cp.Checkpoint(ORIGIN, size, store.tree().root(), (line,))
    note = cp.signed_checkpoint(body, ORIGIN, log_key.private)
    store.add_checkpoint(StoredCheckpoint(size, body.root_hash, note, datetime.now(UTC)))


def test_a_v1_ledger_keeps_its_keys_roots_and_lines(store: LedgerStore) -> None:
    log_key = _old_init(store)
    assert index_rule(store) == "v1"
    _fill(store, log_key, "v1")
    assert store.index_tables().head()[1].hex() == V1_DEMO_ROOT
    lines = _lines(store)
    assert [rule_in(x) for x in lines] == ["v1", "v1"]
    assert lines[-1] == (extension_line(bytes.fromhex(V1_DEMO_ROOT)),)
    assert lines[-1][0].startswith("index/v1 ")
    assert store.index_tables().rows(smt.key_hash(f"licence-record:{LICENCE_ID}")) == []
    assert verify_ledger(store, KEYS.get, workers=1).ok
    assert monitor(store).ok
    with pytest.raises(Exception, match="index rule v1 files no entry"):
        prove_about(store, f"licence-record:{LICENCE_ID}")
    # init_ledger on a ledger that has entries does not change its rule
    operator.init_ledger(store, ORIGIN, log_key)
    assert index_rule(store) == "v1" and store.get_meta(META_INDEX_RULE) is None


def test_a_v2_ledger_files_licence_record_keys_and_says_v2(store: LedgerStore) -> None:
    log_key = init(store)
    assert store.get_meta(META_INDEX_RULE) == "v2"
    _fill(store, log_key, "v2")
    root = store.index_tables().head()[1]
    assert root.hex() != V1_DEMO_ROOT  # the licence-record keys change the root
    lines = _lines(store)
    assert [rule_in(x) for x in lines] == ["v2", "v2"]
    assert lines[-1] == (extension_line(root, "v2"),) and root_in(lines[-1]) == root
    (licence_seq,) = store.index_tables().rows(smt.key_hash(f"licence-record:{LICENCE_ID}"))
    uses = store.index_tables().rows(smt.key_hash(f"licence:{LICENCE_ID}"))
    assert licence_seq in uses and len(uses) > 1  # licence: lists the record and its uses
    report = verify_ledger(store, KEYS.get, workers=1)
    assert report.ok and report.index_roots_checked == 2
    assert monitor(store).ok


def test_licence_record_proofs_verify_offline_and_not_as_v1(store: LedgerStore) -> None:
    log_key = init(store)
    _fill(store, log_key, "v2")
    vkey = operator.require_identity(store).vkey
    present = prove_about(store, f"licence-record:{LICENCE_ID}")
    verdict = verify_about(present, vkey)
    assert verdict.event_ids == (LICENCE_ID,)
    absent = prove_about(store, "licence-record:no-such-licence")
    assert verify_about(absent, vkey).indices == ()
    # the same signed root, its line naming v1: refused (v1 files nothing under the kind)
    for text in (present, absent):
        head, note = text.split("\n\n", 1)
        opened = cp.open_checkpoint(note, ORIGIN, operator.require_identity(store).public_key)
        v1_line = extension_line(root_in(opened.extensions) or b"", "v1")
        body = cp.Checkpoint(ORIGIN, opened.size, opened.root_hash, (v1_line,))
        swapped = head + "\n\n" + cp.signed_checkpoint(body, ORIGIN, log_key.private)
        with pytest.raises(ProofFailure) as caught:
            verify_about(swapped, vkey)
        assert caught.value.reason == "malformed"


def test_a_use_filed_under_licence_record_is_not_about_the_key(store: LedgerStore) -> None:
    """The offline verifier derives each entry's keys under the rule the line names (v2): a
    lying operator's map filing a use of the licence under licence-record: is caught."""
    from ledger.index.maintain import MemoryMap, entry_keys

    log_key = init(store)
    _fill(store, log_key, "v2")
    key = f"licence-record:{LICENCE_ID}"
    uses = store.index_tables().rows(smt.key_hash(f"licence:{LICENCE_ID}"))
    (record,) = store.index_tables().rows(smt.key_hash(key))
    use = next(seq for seq in uses if seq != record)
    lying = MemoryMap()
    for e in store.entries():
        lying.add(e.seq, [*entry_keys(e.envelope, rule="v2"), *([key] if e.seq == use else [])])
    root = lying.commit()
    body = cp.Checkpoint(
        ORIGIN, store.head().size, store.tree().root(), (extension_line(root, "v2"),)
    )
    note = cp.signed_checkpoint(body, ORIGIN, log_key.private)
    path = smt.path(lying, smt.key_hash(key))
    size = store.head().size
    lines = [
        "asset-ledger/index-proof@v1",
        f"key {cp.b64encode(key.encode())}",
        f"path {len(path.siblings)}",
        *[cp.b64encode(h) for h in path.siblings],
        "end present",
        "entries 2",
    ]
    for seq in sorted([record, use]):
        entry = store.entry(seq)
        assert entry is not None
        proof = store.tree(size).inclusion_proof(seq, size)
        lines.append(f"entry {seq} {len(proof)} {cp.b64encode(entry.envelope)}")
        lines += [cp.b64encode(h) for h in proof]
    with pytest.raises(ProofFailure) as caught:
        verify_about("\n".join(lines) + "\n\n" + note, operator.require_identity(store).vkey)
    assert caught.value.reason == "entry_not_about_key"


def test_replay_names_a_checkpoint_whose_line_names_another_rule(store: LedgerStore) -> None:
    log_key = init(store)
    _fill(store, log_key, "v2", sign_last=False)
    assert verify_ledger(store, KEYS.get, workers=1).ok
    root = update_index(store).root
    _resign(store, log_key, extension_line(root, "v1"))  # the right root, the wrong rule
    report = verify_ledger(store, KEYS.get, workers=1)
    assert [d.kind for d in report.damage] == [INDEX_RULE_MISMATCH]
    assert "names index rule v1; the ledger's index rule is v2" in report.damage[0].detail
    assert [f.kind for f in monitor(store).findings] == [INDEX_RULE_MISMATCH]


def test_a_v1_ledger_whose_checkpoint_says_v2_is_named(store: LedgerStore) -> None:
    log_key = _old_init(store)
    _fill(store, log_key, "v1", sign_last=False)
    root = update_index(store).root
    _resign(store, log_key, extension_line(root, "v2"))
    kinds = [d.kind for d in verify_ledger(store, KEYS.get, workers=1).damage]
    assert kinds == [INDEX_RULE_MISMATCH]


@pytest.mark.parametrize("ledger_rule", ["v1", "v2"])
def test_keys_carried_under_another_rule_do_not_make_the_map_wrong(
    store: LedgerStore, ledger_rule: str
) -> None:
    """A consumer that derived its entries' keys under another rule than the ledger's: the
    store derives a licence record's keys itself (the only kind whose keys differ), so the map
    and its signed roots are still the ledger rule's, and the replay agrees."""
    log_key = init(store) if ledger_rule == "v2" else _old_init(store)
    _fill(store, log_key, "v1" if ledger_rule == "v2" else "v2")
    assert verify_ledger(store, KEYS.get, workers=1).ok
    assert monitor(store).ok
    licence_record = store.index_tables().rows(smt.key_hash(f"licence-record:{LICENCE_ID}"))
    assert len(licence_record) == (1 if ledger_rule == "v2" else 0)
    if ledger_rule == "v1":
        assert store.index_tables().head()[1].hex() == V1_DEMO_ROOT


MISSING = "0b5e2c1e-9c4f-5a55-8c1d-7a1f00000000"  # a licence no record of the ledger holds


def _citing_missing(count: int) -> list[dict[str, object]]:
    """``count`` AI steps citing licence MISSING (a ledger where it has many uses)."""
    import copy
    import uuid

    from demo.story import production

    use = next(e for _, e in production() if (e.get("model") or {}).get("licence_ref"))
    out = []
    for i in range(count):
        event = copy.deepcopy(use)
        event["event_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"indexv2/use/{i}"))
        event["model"]["licence_ref"] = MISSING
        out.append(event)
    return out


def _entries_read(store: LedgerStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter of the entries the store hands out from now on (every read path)."""
    read: list[int] = []
    for name in ("entries", "entries_at", "entry", "entry_by_event_id"):
        method = getattr(store, name)

        def counted(*args: object, _method=method, **kwargs: object):  # type: ignore[no-untyped-def]
            found = _method(*args, **kwargs)
            if found is None:
                return None
            if hasattr(found, "seq"):
                read.append(found.seq)
                return found
            got = list(found)
            read.extend(e.seq for e in got)
            return got

        monkeypatch.setattr(store, name, counted)
    return read


@pytest.mark.parametrize("rule", ["v1", "v2"])
def test_an_unrecorded_licence_is_proven_absent_reading_no_use_on_v2(
    store: LedgerStore, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's licence lookup: on a v2 ledger one map path (licence-record:), however many
    uses cite the licence; on a v1 ledger (unchanged) every use citing it is read."""
    from ledger.audit.model import LedgerView

    uses = 40
    log_key = init(store) if rule == "v2" else _old_init(store)
    append_all(store, pending([*demo_events(), *_citing_missing(uses)], rule=rule))
    assert operator.Checkpointer(store, log_key).checkpoint() is not None
    view = LedgerView.open(store)
    assert view.index is not None and view.index.rule == rule
    read = _entries_read(store, monkeypatch)
    assert view.licence(MISSING) is None
    if rule == "v2":
        assert len(read) <= 1  # at most the event id column's lookup: no use is read
        assert set(read).isdisjoint(view.index.key(f"licence:{MISSING}"))
    else:
        assert len(set(read)) >= uses  # v1: every use citing the licence
    read.clear()
    assert view.licence(LICENCE_ID) is not None  # a recorded licence is still found
    if rule == "v2":  # reading only the record itself
        (record,) = store.index_tables().rows(smt.key_hash(f"licence-record:{LICENCE_ID}"))
        assert set(read) == {record}
