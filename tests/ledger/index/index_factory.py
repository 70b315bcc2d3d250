"""A signed ledger holding the demo's consents, licences and production work, checkpointed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from consumers.inspect import RawRecord, inspect
from demo.story import consents, licences, production
from ledger.events.encoding import SingleObjectFraming
from ledger.events.kinds import KIND_FIELD, kind_named
from ledger.events.provenance import PROVENANCE
from ledger.log import operator
from ledger.store import LedgerStore, PendingEntry
from ledger.trust.keys import KeyPair, generate
from ledger.trust.policy import FolderTrust
from producers.emitter import build_message
from tests.ledger.ledger_factory import append_all

SIGNER = generate("clearances")
ORIGIN = "fallen-tower.example/ledger"
DANA = "party:performer:dana-whitfield"


def demo_events() -> list[dict[str, Any]]:
    return [e for _, e in [*consents(), *licences(), *production()]]


def pending(
    events: Iterable[dict[str, Any]], first_offset: int = 0, rule: str = "v2"
) -> list[PendingEntry]:
    """The events inspected as a consumer of a ledger of index rule ``rule`` would (``v2``:
    a ledger made by :func:`init` today)."""
    trust = FolderTrust({SIGNER.key_id: SIGNER.public})
    framing = SingleObjectFraming()
    out = []
    for i, event in enumerate(events):
        stated = event.get(KIND_FIELD)
        kind = kind_named(str(stated)) if stated else PROVENANCE
        m = build_message(event, SIGNER, kind=kind, source="/test")
        raw = RawRecord("events", 0, first_offset + i, m.key, m.value, tuple(m.headers))
        outcome = inspect(raw, trust, framing, index_rule=rule)
        assert isinstance(outcome, PendingEntry), outcome
        out.append(outcome)
    return out


def init(store: LedgerStore) -> KeyPair:
    log_key = generate("log")
    operator.init_ledger(store, ORIGIN, log_key)
    return log_key


def fill(store: LedgerStore, log_key: KeyPair, batches: int = 2) -> operator.Checkpointer:
    """The demo events appended in ``batches`` batches, a checkpoint signed after each."""
    events = pending(demo_events())
    checkpointer = operator.Checkpointer(store, log_key)
    step = -(-len(events) // batches)
    for start in range(0, len(events), step):
        append_all(store, events[start : start + step])
        assert checkpointer.checkpoint() is not None
    return checkpointer
