"""Real signed ledgers for audit tests: demo events signed, inspected and appended to SQLite.

Event ids and times are fixed (derived from the position), so the same keys give the same
ledger bytes, which is what report-determinism tests need.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ledger.events.consent  # noqa: F401  (registers the consent_event kind)
from consumers.inspect import RawRecord, inspect
from demo import story
from ledger.events import limits
from ledger.events.base import EventKind
from ledger.events.consent import CONSENT
from ledger.events.disposition import DISPOSITION, disposition_event
from ledger.events.encoding import SchemaCatalog, SingleObjectFraming, default_catalog
from ledger.events.kinds import all_kinds
from ledger.events.licence import LICENCE
from ledger.events.provenance import PROVENANCE
from ledger.store import Batch, LedgerStore, PendingEntry, open_store
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from ledger.trust.policy import FolderTrust
from producers.emitter import build_message

BASE_TIME = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

Item = tuple[str, EventKind, dict[str, Any]]  # signer name, kind, event JSON


def demo_items() -> list[Item]:
    """The demo production (consents and licences first), with fixed ids and times."""
    items: list[Item] = [(s, CONSENT, dict(e)) for s, e in story.consents()]
    items += [(s, LICENCE, dict(e)) for s, e in story.licences()]
    items += [(s, PROVENANCE, dict(e)) for s, e in story.production()]
    return items


def demo_signers() -> dict[str, KeyPair]:
    return {s.name: keys.generate(s.name) for s in story.SIGNERS}


def fixed(items: Iterable[Item]) -> list[Item]:
    """Give every event a stable id (unless it has one) and a time one minute apart."""
    out = []
    for i, (signer, kind, event) in enumerate(items):
        event = dict(event)
        event.setdefault("event_id", story.fixed_id(f"test-event:{i}"))
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
        event = dict(event)
        writing = writer_framing(event)
        m = build_message(
            event, signers[signer], kind=kind, source=f"/test/{signer}", framing=writing
        )
        raw = RawRecord("events", 0, offset, m.key, m.value, tuple(m.headers))
        result = inspect(raw, trust, framing)
        assert isinstance(result, PendingEntry), result
        out.append(result)
    return out


@contextlib.contextmanager
def before_text_rules() -> Iterator[None]:
    """Sign and inspect as asset-ledger did before the limits and text rules of issue 10.

    Ledgers written then may hold names with control characters (ESC, CR, BEL …): the ledger
    never judges its entries again, so every output must still show them safely.
    """
    names = ("check_value", "check_datum", "check_text", "check_record")
    saved = {name: getattr(limits, name) for name in names}
    try:
        for name in names:
            setattr(limits, name, lambda *args, **kwargs: None)
        yield
    finally:
        for name, function in saved.items():
            setattr(limits, name, function)


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


# --- small hand-made productions -------------------------------------------------------------

HUMAN = {
    "actor_id": "person:kim",
    "kind": "human",
    "display_name": "Kim Lee",
    "role": "cawg.creator",
}
GOOD_LICENCE_ID = story.fixed_id("test-licence:goodgen")
LICENSED_MODEL = {
    "name": "GoodGen",
    "version": "1",
    "provider": "Good AI",
    "licence": "Good AI commercial licence",
    "training_data": "https://good.example/datasheet",
    "licence_ref": GOOD_LICENCE_ID,
}
# The key of an event's JSON that makes the factory write it with an older schema version.
WRITER = "_writer"


def licence_item(**changes: Any) -> Item:
    """A licence record for GoodGen (all versions), commercial, worldwide, 2025-2028."""
    event: dict[str, Any] = {
        "event_id": GOOD_LICENCE_ID,
        "licensor": {"party_id": "org:good-ai", "display_name": "Good AI"},
        "licensee": "Fallen Tower Productions LLC",
        "subject": "model",
        "models": [{"name": "GoodGen", "version": None, "provider": "Good AI"}],
        "assets": [],
        "licence_id": None,
        "url": "https://good.example/licence",
        "commercial_use": True,
        "territories": ["WORLD"],
        "valid_from": "2025-01-01T00:00:00Z",
        "valid_until": "2028-01-01T00:00:00Z",
        "ai_terms": [],
        "document_sha256": "ab" * 32,
        "document": None,
        "recorded_by": "person:rosa-mendes",
    }
    event.update(changes)
    return ("clearances", LICENCE, event)


def writer_framing(event: dict[str, Any]) -> SingleObjectFraming:
    """The default framing, or one whose writer schema is the older version the event asks."""
    label = event.pop(WRITER, None)
    if label is None:
        return SingleObjectFraming()
    catalog = default_catalog()
    record, _, version = label.rpartition(".v")
    kept = [v for v in catalog.versions(record) if v.version <= int(version)]
    others = [v for k in all_kinds() if k.record != record for v in catalog.versions(k.record)]
    envelope = catalog.versions("dsse_envelope")
    return SingleObjectFraming(SchemaCatalog([*kept, *others, *envelope]))


def ingredient(asset_id: str, version: str, relationship: str = "componentOf") -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "version": version,
        "content_sha256": story.content_hash(asset_id, version),
        "relationship": relationship,
    }


def provenance(
    asset_id: str,
    version: str = "v001",
    *,
    ai: bool = False,
    model: dict[str, Any] | None = None,
    source_type: str | None = None,
    action: str = "c2pa.created",
    episode: str = "101",
    **extra: Any,
) -> Item:
    """One provenance event by a human (or, with ``ai``, by a model) in Fallen Tower."""
    event: dict[str, Any] = {
        "production": {"show": story.SHOW, "episode": episode, "sequence": None, "shot": "sh900"},
        "asset": {
            "asset_id": asset_id,
            "version": version,
            "content_sha256": story.content_hash(asset_id, version),
            "media_type": "image/x-exr",
            "location": None,
        },
        "actor": HUMAN,
        "action": action,
        "digital_source_type": source_type or "digitalCreation",
        "ingredients": [],
        "rights": {"licence": None},
    }
    if ai:
        used = model or LICENSED_MODEL
        event["actor"] = {
            "actor_id": "model:" + used["name"].lower(),
            "kind": "ai_model",
            "display_name": used["name"],
            "role": "cawg.contributor",
        }
        event["model"] = used
        event["digital_source_type"] = source_type or "trainedAlgorithmicMedia"
        event["directed_by"] = ["person:kim"]
    event.update(extra)
    return ("onset-dit", PROVENANCE, event)


def consent_item(**changes: Any) -> Item:
    event = dict(story.consents()[0][1])
    event.update(changes)
    return ("clearances", CONSENT, event)


# --- consents narrower than their use (issue 19, item 1) -------------------------------------

CONSENT_AR = story.fixed_id("test-consent:territory-ar")
CONSENT_SH020 = story.fixed_id("test-consent:shot-sh020")
WORLDWIDE = {"commercial": True, "territories": ["WORLD"], "media": ["streaming"]}


def _replica(asset_id: str, shot: str, performer: str, consent_ref: str) -> Item:
    return provenance(
        asset_id,
        ai=True,
        production={"show": story.SHOW, "episode": "101", "sequence": None, "shot": shot},
        rights={"licence": None, "distribution": WORLDWIDE},
        likeness=[
            {"performer_id": performer, "use": "digital_replica", "consent_ref": consent_ref}
        ],
    )


def narrow_consent_items() -> list[Item]:
    """Two likeness uses their consents do not cover, in an episode streamed worldwide: one
    consent is limited to Argentina, the other names shot sh020 and is used in sh050."""
    performer = {"kind": "performer"}
    return [
        licence_item(),
        consent_item(
            event_id=CONSENT_AR,
            grantor={**performer, "party_id": "performer:ana-ar", "display_name": "Ana AR"},
            territories=["AR"],
            media=["all_media"],
        ),
        consent_item(
            event_id=CONSENT_SH020,
            grantor={**performer, "party_id": "performer:bo-shot", "display_name": "Bo Shot"},
            territories=["WORLD"],
            media=["all_media"],
            shots=["sh020"],
        ),
        _replica("ep101/sh010/ar_replica", "sh010", "performer:ana-ar", CONSENT_AR),
        _replica("ep101/sh050/bo_replica", "sh050", "performer:bo-shot", CONSENT_SH020),
    ]


# --- a disposition naming a finding that does not exist (issue 19, item 2) -------------------

FORGED_FINDING = "ab" * 32


def dangling_items() -> list[Item]:
    """An unlicensed AI output, and counsel's clearance of a finding id no audit gives."""
    event = disposition_event(
        "cleared",
        finding_id=FORGED_FINDING,
        rule="ai-model-undeclared",
        asset="gen@v001",
        show=story.SHOW,
        actor=story.COUNSEL,
        reason="cleared by side letter",
        document_sha256="cd" * 32,
    )
    return [provenance("gen", ai=True), ("counsel", DISPOSITION, event)]
