"""The consumer quarantines a record naming a show "." or ".." (red team, issue 19): the rule of
the emitter, at the consumer, through a real Kafka-protocol broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.events import kafka as k
from ledger.store import LedgerStore, open_store
from tests.conftest import FreshTopic
from tests.consumers.test_poison import _event, consume, forged, good, send
from tests.support.kafka_tools import header_map, read_topic

pytestmark = pytest.mark.broker


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    with open_store(str(tmp_path / "ledger.db")) as opened:
        yield opened


@pytest.mark.parametrize("show", [".", ".."])
def test_a_show_named_as_a_path_step_is_quarantined(
    show: str, fresh_topic: FreshTopic, store: LedgerStore
) -> None:
    event = _event(7)
    event["production"] = dict(event["production"], show=show)
    pill, after = forged(event), good(8)
    send(fresh_topic, [pill, after])

    consume(store, fresh_topic)

    assert [e.event_id for e in store.entries()] == [after.event_id]
    [q] = store.quarantine()
    assert q.reason == "invalid_show_name" and "cannot name a show" in q.detail
    [dead] = read_topic(fresh_topic.bootstrap, fresh_topic.dlt, expected=1)
    assert header_map(dead)[k.DLT_REASON] == "invalid_show_name"
