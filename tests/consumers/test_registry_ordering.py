"""An enrolment and the events it authorises, read in one batch across partitions.

Which partition a poll returns first is up to the client, so the broker test below cannot force
the bad order every time; the unit test pins the rule that makes any order safe.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.inspect import RawRecord
from consumers.runner import ConsumerConfig, LedgerConsumer, registry_first
from demo.story import production
from ledger.events import kafka as k
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from ledger.trust.policy import RegistryTrust
from ledger.trust.records import enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from producers.emitter import Emitter, build_message
from tests.conftest import FreshTopic


def _raw(offset: int, ce_type: str) -> RawRecord:
    return RawRecord("t", offset % 3, offset, b"k", b"v", ((k.H_TYPE, ce_type.encode()),))


def test_registry_records_come_early_but_each_partition_keeps_its_order() -> None:
    reg = "io.assetledger.keyregistry.v1"
    # offsets 0..5 on partitions 0, 1, 2, 0, 1, 2 (offset % 3)
    types = ["p", reg, "p", "p", reg, reg]
    ordered = registry_first([_raw(i, t) for i, t in enumerate(types)])
    # partition 1 (registry head) first; then partition 2 up to its registry record; then rest
    assert [r.offset for r in ordered] == [1, 4, 2, 5, 0, 3]
    for p in range(3):
        offsets = [r.offset for r in ordered if r.partition == p]
        assert offsets == sorted(offsets)


@pytest.mark.broker
def test_events_right_after_their_enrolment_are_admitted(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    root, artist = keys.generate("root"), keys.generate("artist")
    enrol = enroll_event("person:mira-keller", "human", "Mira Keller", artist.public)
    work = [dict(e, asset=dict(e["asset"], asset_id=f"a/{i}")) for i, (_, e) in
            enumerate(production()[2:4] * 4)]  # fmt: skip
    with Emitter(fresh_topic.bootstrap, None, topic=fresh_topic.name) as emitter:
        emitter.send_raw(build_message(enrol, root, kind=KEY_REGISTRY, source="/root"))
        for event in work:  # eight assets: spread over the topic's partitions
            emitter.send_raw(build_message(event, artist, source="/ws"))
    with SqliteStore(tmp_path / "ledger.db") as store:
        set_roots(store, [RootKey("root", root.public)])
        config = ConsumerConfig(fresh_topic.bootstrap, topic=fresh_topic.name,
                                session_timeout_ms=6000, heartbeat_interval_ms=1000)  # fmt: skip
        stats = LedgerConsumer(store, RegistryTrust.from_store(store), config).run(until_idle=5)
        partitions = {e.origin.partition for e in store.entries()}
        assert stats.quarantined == 0, store.quarantine()
        assert stats.appended == 1 + len(work)
        assert len(partitions) > 1  # the enrolment and the work really crossed partitions
