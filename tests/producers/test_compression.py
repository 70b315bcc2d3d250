"""Compressed batches: a plain install reads lz4, zstd and snappy as well as gzip.

kafka-python decompresses a batch only when the codec package is installed; the package's
dependencies name kafka-python's ``lz4``, ``snappy`` and ``zstd`` extras so that it always is.
The batches below are compressed by the producer, stored by the real broker and read back by the
ledger consumer.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from kafka import codec
from kafka.errors import UnsupportedCodecError

from demo.story import production
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from producers.emitter import Emitter
from tests.conftest import FreshTopic
from tests.support.kafka_tools import consume_once, read_topic

ARTIST = keys.generate("artist")
ROOT = Path(__file__).parents[2]


def test_the_codec_extras_are_dependencies_and_installed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    [kafka] = [d for d in project["dependencies"] if d.startswith("kafka-python")]
    extras = set(kafka.split("[", 1)[1].split("]", 1)[0].split(","))
    assert {"lz4", "snappy", "zstd"} <= extras
    assert codec.has_lz4() and codec.has_zstd() and codec.has_snappy() and codec.has_gzip()


@pytest.mark.broker
@pytest.mark.parametrize("compression", ["lz4", "zstd", "snappy", "gzip"])
def test_consumer_reads_compressed_batches(
    compression: str, fresh_topic: FreshTopic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [dict(e) for _, e in production()] * 3
    with Emitter(
        fresh_topic.bootstrap,
        ARTIST,
        topic=fresh_topic.name,
        compression_type=compression,
        linger_ms=50,  # several records per batch, so the batch really is compressed
    ) as emitter:
        ids = emitter.emit_many(events)
    with SqliteStore(tmp_path / "l.db") as store:
        stats = consume_once(store, [ARTIST], fresh_topic.bootstrap, fresh_topic.name)
        assert stats.appended == len(ids) and stats.quarantined == 0
        assert sorted(e.event_id for e in store.entries()) == sorted(ids)
    # The broker really holds compressed batches: without the codec they cannot be read.
    monkeypatch.setattr(codec, f"has_{compression}", lambda: False)
    with pytest.raises(UnsupportedCodecError, match=compression):
        read_topic(fresh_topic.bootstrap, fresh_topic.name, expected=len(ids), timeout=10)
