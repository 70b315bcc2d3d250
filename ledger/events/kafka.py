"""Kafka conventions shared by producers and consumers: topics, headers, client settings."""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_TOPIC = "provenance.events"
DEFAULT_GROUP = "assetledger-ledger"

DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a broker connection (env ASSETLEDGER_CONNECT_TIMEOUT in the CLI); here,
not in producers.emitter, so that the CLI reads it without loading the Kafka client."""


def default_group(topic: str) -> str:
    """The consumer group of a ledger fed by ``topic``: one group per events topic."""
    return f"{DEFAULT_GROUP}.{topic}"


DLT_SUFFIX = ".dlt"
CHECKPOINT_SUFFIX = ".checkpoints"
# Key-registry records travel on their own single-partition topic, TOPIC.keys, so they form
# one total order that every consumer can read to a known point (docs/keys.md §3).
REGISTRY_SUFFIX = ".keys"
CE_SPECVERSION = "1.0"

# CloudEvents Kafka protocol binding, binary content mode.
H_SPECVERSION = "ce_specversion"
H_ID = "ce_id"
H_SOURCE = "ce_source"
H_TYPE = "ce_type"
H_TIME = "ce_time"
H_SUBJECT = "ce_subject"
H_CONTENT_TYPE = "content-type"

# Dead-letter headers, named as Kafka Connect names them, plus our stable reason code.
DLT_TOPIC = "__connect.errors.topic"
DLT_PARTITION = "__connect.errors.partition"
DLT_OFFSET = "__connect.errors.offset"
DLT_EXC_CLASS = "__connect.errors.exception.class.name"
DLT_EXC_MESSAGE = "__connect.errors.exception.message"
DLT_REASON = "assetledger.reject.reason"

# A consumer's sync marker on the registry topic (docs/protocol.md): skipped, never ingested.
H_CONTROL = "assetledger.control"
CONTROL_SYNC = "sync"

Headers = Sequence[tuple[str, bytes]]


def dlt_topic(topic: str) -> str:
    return topic + DLT_SUFFIX


def checkpoint_topic(topic: str) -> str:
    return topic + CHECKPOINT_SUFFIX


def registry_topic(topic: str) -> str:
    """The key-registry topic of the events topic ``topic``: one partition, never compacted."""
    return topic + REGISTRY_SUFFIX


def header(headers: Headers | None, name: str) -> str | None:
    """The last value of a header as text, or None (undecodable bytes count as absent)."""
    for key, value in reversed(headers or ()):
        if key == name:
            try:
                return value.decode("utf-8")
            except (UnicodeDecodeError, AttributeError):
                return None
    return None
