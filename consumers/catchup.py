"""``consume --until-caught-up``: stop once the ledger holds what the topics held at the start.

At the start the consumer reads the end offset of every partition of the events topic and of
the key-registry topic (``TOPIC.keys``).  It is caught up when, for every partition assigned
to it, the next offset committed with the ledger has reached that partition's end offset, the
registry topic's reading has reached its own, and a whole poll after that brought nothing.

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from ledger.errors import BrokerError

END_OFFSETS_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class CatchUpTarget:
    """The offsets to reach: per events partition, and the registry topic's partition 0."""

    events: Mapping[tuple[str, int], int]
    registry: int

    def behind(
        self,
        assigned: Iterable[tuple[str, int]],
        positions: Mapping[tuple[str, int], int],
        registry_position: int,
    ) -> dict[str, int]:
        """What is still to read, as ``topic/partition`` → records short of the target."""
        short = {
            f"{topic}/{partition}": self.events.get((topic, partition), 0) - position
            for topic, partition in assigned
            if (position := positions.get((topic, partition), 0))
            < self.events.get((topic, partition), 0)
        }
        if registry_position < self.registry:
            short["registry"] = self.registry - registry_position
        return short


def read_target(consumer: Any, topic: str, registry_topic: str) -> CatchUpTarget:
    """End offsets of every partition of ``topic`` and of ``registry_topic`` now.

    An empty partition (its beginning offset at its end: never written, or every record
    deleted by retention) has nothing to read, so its target is 0.
    """
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    registry = TopicPartition(registry_topic, 0)
    wanted = [*partitions, registry]
    try:
        ends = consumer.end_offsets(wanted, timeout_ms=END_OFFSETS_TIMEOUT_MS)
        starts = consumer.beginning_offsets(wanted, timeout_ms=END_OFFSETS_TIMEOUT_MS)
    except KafkaError as exc:
        raise BrokerError(
            f"cannot read the end offsets of {topic} and {registry_topic}: {exc}",
            hint="--until-caught-up needs them at the start; check the broker, or use"
            " --until-idle SECONDS",
        ) from exc
    targets = {tp: ends[tp] if ends[tp] > starts[tp] else 0 for tp in wanted}
    return CatchUpTarget(
        events={(tp.topic, tp.partition): targets[tp] for tp in partitions},
        registry=targets[registry],
    )
