"""Helpers that build real signed ledger content for tests (no broker needed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consumers.inspect import RawRecord, inspect
from demo.story import production
from ledger.events.encoding import SingleObjectFraming
from ledger.store import Batch, LedgerStore, PendingEntry
from ledger.trust.keys import KeyPair
from ledger.trust.policy import FolderTrust
from producers.emitter import build_message


def signed_entries(
    signer: KeyPair, count: int, *, topic: str = "events", partition: int = 0, first_offset: int = 0
) -> list[PendingEntry]:
    """``count`` valid pending entries from the demo production, signed by ``signer``."""
    trust = FolderTrust({signer.key_id: signer.public})
    framing = SingleObjectFraming()
    events = production()
    out: list[PendingEntry] = []
    for i in range(count):
        event: dict[str, Any] = dict(events[i % len(events)][1], producer_id="t", producer_seq=i)
        m = build_message(event, signer, source="/test")
        raw = RawRecord(topic, partition, first_offset + i, m.key, m.value, tuple(m.headers))
        outcome = inspect(raw, trust, framing)
        assert isinstance(outcome, PendingEntry)
        out.append(outcome)
    return out


def append_all(store: LedgerStore, entries: Iterable[PendingEntry], group: str = "g") -> None:
    entries = list(entries)
    offsets: dict[tuple[str, int], int] = {}
    for e in entries:
        tp = (e.origin.topic, e.origin.partition)
        offsets[tp] = max(offsets.get(tp, 0), e.origin.offset + 1)
    store.append(Batch(entries, [], offsets, group))
