"""The key-registry topic exists with exactly one partition before anyone writes or reads it.

Brokers that create topics on first use (Kafka's ``auto.create.topics.enable``, Tansu) would
give ``TOPIC.keys`` their default partition count, and several partitions have no order
between them: the one property the registry topic is there for.  So producers of registry
records and the consumer both call :func:`ensure_registry_topic` first.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ledger.errors import BrokerError, ConfigurationError
from ledger.events import kafka as k

WAIT_S = 30.0
# Client settings an admin client shares with a producer or consumer (security, identity).
_SHARED_PREFIXES = ("security_", "sasl_", "ssl_", "client_id", "api_version")


def ensure_registry_topic(
    bootstrap_servers: str,
    topic: str,
    settings: Mapping[str, Any] | None = None,
    *,
    timeout: float = WAIT_S,
) -> str:
    """Create ``TOPIC.keys`` with one partition if it is missing; return its name.

    Raises :class:`ConfigurationError` when it exists with more than one partition, and
    :class:`BrokerError` when the broker cannot be reached or refuses to create it.
    """
    name = k.registry_topic(topic)
    shared = {key: v for key, v in (settings or {}).items() if key.startswith(_SHARED_PREFIXES)}
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout * 1000), **shared
        )
    except KafkaError as exc:
        raise BrokerError(f"cannot connect to Kafka at {bootstrap_servers}: {exc}") from exc
    try:
        if name not in admin.list_topics():
            _create(admin, name)
        count = _partition_count(admin, name, time.monotonic() + timeout)
    except KafkaError as exc:
        raise BrokerError(
            f"could not create or describe the key-registry topic {name}: {exc}",
            hint=f"create it yourself with one partition: kafka-topics --create --topic {name}"
            " --partitions 1 --config retention.ms=-1",
        ) from exc
    finally:
        admin.close()
    if count != 1:
        raise ConfigurationError(
            f"the key-registry topic {name} has {count} partitions; it must have exactly one,"
            " or an enrolment and the events it authorises could be read in either order",
            hint=f"a broker that creates topics on first use may have made it (Tansu does so"
            f" even for a read); if {name} holds no registry events, delete it and it is"
            " recreated with one partition; otherwise recreate it with one partition and send"
            " its registry events again (they are signed; repeats are refused as duplicates)",
        )
    return name


def _create(admin: Any, name: str) -> None:
    try:
        admin.create_topics(
            [NewTopic(name, 1, 1, topic_configs={"retention.ms": "-1", "cleanup.policy": "delete"})]
        )
    except TopicAlreadyExistsError:  # created meanwhile by another client
        return


def _partition_count(admin: Any, name: str, deadline: float) -> int:
    """The topic's partition count once metadata shows it with a leader for each."""
    while True:
        for described in admin.describe_topics([name]):
            partitions = described.get("partitions") or []
            ready = described.get("error_code", 0) == 0 and partitions
            if ready and all(p.get("leader_id", -1) >= 0 for p in partitions):
                return len(partitions)
        if time.monotonic() >= deadline:
            raise BrokerError(f"the key-registry topic {name} is not visible in broker metadata")
        time.sleep(0.1)
