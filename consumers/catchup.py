"""``consume --until-caught-up``: stop once the ledger holds what the topics held at the start.

At the start the consumer reads the end offset of every partition of the events topic and of
the key-registry topic (``TOPIC.keys``).  It is caught up when, for every one of them, the next
offset committed with the ledger (by this process or another of its group: a partition held by
a member that died is read once the group gives it to a live one) has reached that end offset,
and a whole poll after that brought nothing.

End offsets are a lower bound only: a broker may report them short of the real end (Tansu's
"latest" offset is the base offset of the partition's last record batch plus one, not the
offset after its last record).  The records past such an offset belong to that last batch; a
fetch returns whole batches, so once the consumer has read the record just before the end
offset, the rest of that batch is already in the client's buffer and the next poll returns it
at once, from memory.  Hence the last condition: caught up means the offsets were reached *and*
one more full poll returned nothing.  Records written after the start are read if they arrive
before that, but never waited for.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from ledger.errors import BrokerError

END_OFFSETS_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class CatchUpTarget:
    """The offsets to reach: per partition of the events topic, and the registry topic's."""

    events: Mapping[int, int]
    registry: int

    def behind(self, events: Mapping[int, int], registry: int) -> dict[str, int]:
        """What is still to read, given the next offsets the ledger holds: ``partition`` (or
        ``registry``) → how many offsets short of the target."""
        short = {
            str(partition): end - events.get(partition, 0)
            for partition, end in sorted(self.events.items())
            if events.get(partition, 0) < end
        }
        if registry < self.registry:
            short["registry"] = self.registry - registry
        return short


def read_target(consumer: Any, topic: str, registry_topic: str) -> CatchUpTarget:
    """End offsets of every partition of ``topic`` and of ``registry_topic`` now.

    An empty partition (its beginning offset at its end: never written, or every record
    deleted by retention) has nothing to read, so its target is 0.  A topic the client has
    no metadata for yet (the registry topic, just created) is asked for again until
    :data:`END_OFFSETS_TIMEOUT_MS` has passed: kafka-python answers such a request with a
    ``KeyError``.
    """
    deadline = time.monotonic() + END_OFFSETS_TIMEOUT_MS / 1000
    while True:
        try:
            return _target(consumer, topic, registry_topic)
        except (KafkaError, KeyError) as exc:
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"cannot read the end offsets of {topic} and {registry_topic}: {exc!r}",
                    hint="--until-caught-up needs them at the start; check the broker, or use"
                    " --until-idle SECONDS",
                ) from exc
            time.sleep(0.2)


def _target(consumer: Any, topic: str, registry_topic: str) -> CatchUpTarget:
    numbers = consumer.partitions_for_topic(topic) or set()
    if not consumer.partitions_for_topic(registry_topic):  # also fetches its metadata
        raise KeyError(f"no metadata for {registry_topic} yet")
    partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
    registry = TopicPartition(registry_topic, 0)
    wanted = [*partitions, registry]
    left_ms = END_OFFSETS_TIMEOUT_MS
    ends = consumer.end_offsets(wanted, timeout_ms=left_ms)
    starts = consumer.beginning_offsets(wanted, timeout_ms=left_ms)
    targets = {tp: ends[tp] if ends[tp] > starts[tp] else 0 for tp in wanted}
    return CatchUpTarget(
        events={tp.partition: targets[tp] for tp in partitions}, registry=targets[registry]
    )
