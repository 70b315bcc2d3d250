"""A synthetic production of any size, built from the demo production's events.

Event ``i`` is template ``i % T`` of :func:`demo.story.production` in *block* ``i // T``:
its asset ids (and its ingredients' ids) gain the suffix ``/b<block>``, so each block is a
copy of the demo's lineage (plates → roto → AI elements → comps → finals, with the demo's
missing ingredient and hash mismatch kept), and blocks are grouped into episodes of about
``EPISODE_EVENTS`` events.  Every event is valid, signed by its own signer's key, and unique
(fresh event id, producer sequence), so every signature in a benchmark ledger is distinct.

Keys are derived from their names, so worker processes rebuild them without pickling keys.
"""

from __future__ import annotations

import hashlib
import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from demo.story import content_hash, production
from ledger.events import kafka as ek
from ledger.events.base import format_time
from ledger.events.encoding import SingleObjectFraming
from ledger.events.kinds import prepare
from ledger.events.provenance import PROVENANCE
from ledger.trust import dsse
from ledger.trust.keys import KeyPair
from producers.emitter import _SEQUENCE, Message, build_message, fill_producer

EPISODE_EVENTS = 10_000
SOURCE = "/assetledger/bench"


@dataclass(frozen=True)
class Built:
    """One signed record plus what a ledger entry needs (so nothing is decoded twice)."""

    message: Message
    signer_keyid: str
    event_time: datetime
    refs: tuple[tuple[str, str], ...]


@cache
def templates() -> list[tuple[str, dict[str, Any]]]:
    return production()


@cache
def _pickled() -> list[tuple[str, bytes]]:
    """Templates as pickles: unpickling is a much cheaper deep copy than copy.deepcopy."""
    return [(name, pickle.dumps(e)) for name, e in templates()]


def signer(name: str) -> KeyPair:
    """A deterministic key per signer name (bench only: never do this with real keys)."""
    seed = hashlib.sha256(f"asset-ledger bench signer {name}".encode()).digest()
    return KeyPair(name, Ed25519PrivateKey.from_private_bytes(seed))


@cache
def signers() -> dict[str, KeyPair]:
    return {name: signer(name) for name in sorted({n for n, _ in templates()})}


def blocks_per_episode() -> int:
    return max(1, EPISODE_EVENTS // len(templates()))


def episode_of(block: int) -> str:
    return str(101 + block // blocks_per_episode())


def _renamed(asset_id: str, block: int) -> str:
    return f"{asset_id}/b{block}"


def _ingredient(ing: dict[str, Any], block: int) -> dict[str, Any]:
    renamed = _renamed(ing["asset_id"], block)
    faithful = ing["content_sha256"] == content_hash(ing["asset_id"], ing["version"])
    sha = content_hash(renamed, ing["version"]) if faithful else ing["content_sha256"]
    return {**ing, "asset_id": renamed, "content_sha256": sha}


def event(i: int) -> tuple[str, dict[str, Any]]:
    """Signer name and event JSON of synthetic event ``i``."""
    names = _pickled()
    name, template = names[i % len(names)]
    block = i // len(names)
    e = pickle.loads(template)
    asset = e["asset"]
    asset["asset_id"] = _renamed(asset["asset_id"], block)
    asset["content_sha256"] = content_hash(asset["asset_id"], asset["version"])
    e["ingredients"] = [_ingredient(ing, block) for ing in e["ingredients"]]
    e["production"] = {**e["production"], "episode": episode_of(block)}
    return name, e


def build(
    i: int,
    event_id: str | None = None,
    event_time: datetime | None = None,
    producer_seq: int | None = None,
) -> Built:
    """Synthetic event ``i`` signed and framed exactly as the product's emitter does.

    Id, time and producer sequence are fresh unless given (a test compares builders)."""
    name, e = event(i)
    e["event_id"] = event_id or str(uuid.uuid4())
    e["event_time"] = event_time or datetime.now(UTC)
    if producer_seq is not None:
        e["producer_seq"] = producer_seq
    pair = signers()[name]
    message = build_message(e, pair, source=SOURCE)
    return Built(message, pair.key_id, e["event_time"], tuple(PROVENANCE.refs(e)))


@cache
def _prepared() -> list[tuple[str, bytes]]:
    """Each template checked once by the emitter's own path, then kept in its Avro form
    (``prepare``: times and bytes converted, producer id filled), pickled."""
    out = []
    for i, (name, template) in enumerate(_pickled()):
        build(i)  # the emitter's validation and limits, once per template
        e = pickle.loads(template)
        e["event_id"] = str(uuid.uuid4())
        e["event_time"] = datetime.now(UTC)
        record = prepare(PROVENANCE, fill_producer(e, PROVENANCE, SOURCE))
        out.append((name, pickle.dumps(record)))
    return out


def build_fast(
    i: int,
    event_id: str | None = None,
    event_time: datetime | None = None,
    producer_seq: int | None = None,
) -> Built:
    """The same record as :func:`build`, byte for byte, at about half the CPU.

    Each template was validated and converted to its Avro form once (:func:`_prepared`);
    per event only its block's ids, hashes and episode, the event id, time and producer
    sequence change (values of kinds the template already had), so the per-event
    conversion, re-decoding and validation of ``build_message`` are skipped.  The encoding,
    the signature and the framing are the product's own."""
    name, template = _prepared()[i % len(templates())]
    block = i // len(templates())
    record = pickle.loads(template)
    asset = record["asset"]
    asset["asset_id"] = _renamed(asset["asset_id"], block)
    asset["content_sha256"] = content_hash(asset["asset_id"], asset["version"])
    record["ingredients"] = [_ingredient(ing, block) for ing in record["ingredients"]]
    record["production"] = {**record["production"], "episode": episode_of(block)}
    record["event_id"] = event_id or str(uuid.uuid4())
    record["event_time"] = event_time or datetime.now(UTC)
    record["producer_seq"] = producer_seq if producer_seq is not None else _SEQUENCE.next()
    pair = signers()[name]
    framing = _framing()
    payload = framing.encode(PROVENANCE.record, record)
    value = dsse.sign(PROVENANCE.payload_type, payload, pair).encode(framing)
    subject = PROVENANCE.subject(record)
    headers = [
        (ek.H_SPECVERSION, ek.CE_SPECVERSION.encode()),
        (ek.H_ID, record["event_id"].encode()),
        (ek.H_SOURCE, SOURCE.encode()),
        (ek.H_TYPE, PROVENANCE.ce_type.encode()),
        (ek.H_TIME, format_time(record["event_time"]).encode()),
        (ek.H_SUBJECT, subject.encode()),
        (ek.H_CONTENT_TYPE, dsse.ENVELOPE_CONTENT_TYPE.encode()),
    ]
    message = Message(record["event_id"], subject.encode(), value, headers)
    return Built(message, pair.key_id, record["event_time"], tuple(PROVENANCE.refs(record)))


@cache
def _framing() -> SingleObjectFraming:
    return SingleObjectFraming()


def build_range(start: int, stop: int, fast: bool = False) -> list[Built]:
    """Events ``start..stop-1``, built and signed (runs in worker processes)."""
    one = build_fast if fast else build
    return [one(i) for i in range(start, stop)]


def final_ids(count: int) -> Iterator[str]:
    """Asset ids of the published finals (editorial events) among the first ``count``."""
    names = templates()
    finals = [(i, e["asset"]["asset_id"]) for i, (n, e) in enumerate(names) if n == "editorial"]
    for block in range(-(-count // len(names))):
        for index, asset_id in finals:
            if block * len(names) + index < count:
                yield _renamed(asset_id, block)
