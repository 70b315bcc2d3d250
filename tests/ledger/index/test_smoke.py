from __future__ import annotations

from pathlib import Path

from ledger.index import prove_about, verify_about
from ledger.log.operator import require_identity
from ledger.store.sqlite import SqliteStore
from tests.ledger.index.index_factory import DANA, fill, init


def test_smoke(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "l.db")
    key = init(store)
    fill(store, key)
    text = prove_about(store, DANA)
    v = verify_about(text, require_identity(store).vkey)
    print(v.indices, v.event_ids)
    assert v.indices
    absent = verify_about(prove_about(store, "party:nobody"), require_identity(store).vkey)
    assert absent.indices == ()
    print(store.checkpoints()[-1].note)
