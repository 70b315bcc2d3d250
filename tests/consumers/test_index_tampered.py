"""A consumer over a ledger whose index head an insider set back: signing the next checkpoint
is refused by name (exit 1, as ``verify`` names index damage), the entries it appended stay
once, and a restart refuses again rather than signing or appending twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.index.lookup import IndexMismatch
from ledger.log import operator
from ledger.store import open_store
from ledger.trust import keys
from tests.conftest import FreshTopic
from tests.consumers.test_until_caught_up import consumer, emit
from tests.ledger.index.index_factory import insider_sql

pytestmark = pytest.mark.broker


def test_a_consumer_stops_by_name_on_an_index_set_back(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    log = keys.generate("log")
    store = open_store(str(tmp_path / "ledger.db"))
    try:
        operator.init_ledger(store, "tampered.example/ledger", log)
        emit(fresh_topic, 5)
        consumer(store, fresh_topic, checkpointer=operator.Checkpointer(store, log)).run(
            until_caught_up=True
        )
        signed = store.latest_checkpoint()
        assert signed is not None and signed.size == 5
        insider_sql(store, "UPDATE index_head SET size = 0")
        emit(fresh_topic, 3)
        for _ in range(2):  # the second run: at its start, over the entries left unanchored
            with pytest.raises(IndexMismatch) as caught:
                consumer(store, fresh_topic, checkpointer=operator.Checkpointer(store, log)).run(
                    until_caught_up=True
                )
            assert caught.value.exit_code == 1 and "assetledger verify" in str(caught.value)
            latest = store.latest_checkpoint()
            assert store.head().size == 8 and latest is not None and latest.size == 5
            assert store.index_tables().head()[0] == 0
    finally:
        store.close()
