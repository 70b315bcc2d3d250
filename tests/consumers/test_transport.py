"""The confluent source's handling of librdkafka's error events (no broker: a stub client)."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import OffsetOutOfRangeError

from consumers.transport import ConfluentSource, topic_id_text
from tests.conftest import require_module

ck = require_module("confluent_kafka")


class _Message:
    def __init__(self, offset: int, error: Any = None, headers: Any = None) -> None:
        self._offset, self._error, self._headers = offset, error, headers

    def error(self) -> Any:
        return self._error

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v%d" % self._offset

    def headers(self) -> Any:
        if isinstance(self._headers, Exception):
            raise self._headers
        return self._headers


class _Client:
    def __init__(self, messages: list[_Message]) -> None:
        self.messages = messages

    def consume(self, num_messages: int, timeout: float) -> list[_Message]:
        return self.messages


def _source(messages: list[_Message]) -> ConfluentSource:
    source = ConfluentSource.__new__(ConfluentSource)
    source._ck = ck
    source._consumer = _Client(messages)
    return source


def test_a_passing_error_keeps_the_records_around_it() -> None:
    """Raising would drop the batch while librdkafka's position moved past it: records lost."""
    for code in (ck.KafkaError._TRANSPORT, ck.KafkaError._ALL_BROKERS_DOWN):
        polled = _source([_Message(0), _Message(-1, ck.KafkaError(code)), _Message(1)]).poll(0, 9)
        assert [r.offset for r in polled] == [0, 1]
        assert all(r.unreadable is None for r in polled)


def test_a_position_out_of_range_stops_the_batch() -> None:
    error = ck.KafkaError(ck.KafkaError._AUTO_OFFSET_RESET)
    with pytest.raises(OffsetOutOfRangeError):
        _source([_Message(0), _Message(-1, error)]).poll(0, 9)


def test_unreadable_headers_and_bad_records_are_refused_not_raised() -> None:
    bad_headers = _Message(3, headers=SystemError("returned a result with an exception set"))
    bad_msg = _Message(4, ck.KafkaError(ck.KafkaError._BAD_MSG))
    polled = _source([_Message(2, headers=[("ce_id", None)]), bad_headers, bad_msg]).poll(0, 9)
    assert [(r.offset, r.unreadable is None) for r in polled] == [(2, True), (3, False), (4, False)]
    assert polled[0].headers == (("ce_id", b""),)
    assert polled[1].value is None and polled[2].value is None


def test_topic_ids_are_spelled_as_kafka_python_spells_them() -> None:
    assert topic_id_text("AaJRoofoelKG2foOaHw0EA") == "01a251a2-87e8-7a52-86d9-fa0e687c3410"
