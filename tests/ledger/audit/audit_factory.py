"""Real signed ledgers for audit tests: demo events signed, inspected and appended to SQLite.

Event ids and times are fixed (derived from the position), so the same keys give the same
ledger bytes, which is what report-determinism tests need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ledger.consent  # noqa: F401  (registers the consent_event kind)
from consumers.inspect import RawRecord, inspect
from ledger import keys
from ledger.consent import CONSENT
from ledger.encoding import SingleObjectFraming
from ledger.events import PROVENANCE, EventKind
from ledger.keys import KeyPair
from ledger.store import Batch, LedgerStore, PendingEntry, open_store
from ledger.trust import FolderTrust
from producers import demo
from producers.emitter import build_message

BASE_TIME = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

Item = tuple[str, EventKind, dict[str, Any]]  # signer name, kind, event JSON


def demo_items() -> list[Item]:
    """The demo production (consents first), with fixed ids and times."""
    items: list[Item] = [(s, CONSENT, dict(e)) for s, e in demo.consents()]
    items += [(s, PROVENANCE, dict(e)) for s, e in demo.production()]
    return items


def demo_signers() -> dict[str, KeyPair]:
    return {s.name: keys.generate(s.name) for s in demo.SIGNERS}


def fixed(items: Iterable[Item]) -> list[Item]:
    """Give every event a stable id (unless it has one) and a time one minute apart."""
    out = []
    for i, (signer, kind, event) in enumerate(items):
        event = dict(event)
        event.setdefault("event_id", demo.fixed_id(f"test-event:{i}"))
        event.setdefault("event_time", (BASE_TIME + timedelta(minutes=i)).isoformat())
        if kind is PROVENANCE:
            event.setdefault("producer_id", f"/test/{signer}")
            event.setdefault("producer_seq", i)
        out.append((signer, kind, event))
    return out


def pending(items: Iterable[Item], signers: Mapping[str, KeyPair]) -> list[PendingEntry]:
    """Sign each event and pass it through the consumer's own inspection."""
    trust = FolderTrust({k.key_id: k.public for k in signers.values()})
    framing = SingleObjectFraming()
    out = []
    for offset, (signer, kind, event) in enumerate(items):
        m = build_message(event, signers[signer], kind=kind, source=f"/test/{signer}")
        raw = RawRecord("events", 0, offset, m.key, m.value, tuple(m.headers))
        result = inspect(raw, trust, framing)
        assert isinstance(result, PendingEntry), result
        out.append(result)
    return out


def build_store(
    path: Path, items: Iterable[Item], signers: Mapping[str, KeyPair] | None = None
) -> LedgerStore:
    items = fixed(items)
    signers = signers or demo_signers()
    entries = pending(items, signers)
    store = open_store(str(path))
    store.append(Batch(entries, [], {("events", 0): len(entries)}, "test"))
    return store


def demo_store(path: Path, signers: Mapping[str, KeyPair] | None = None) -> LedgerStore:
    return build_store(path, demo_items(), signers)
