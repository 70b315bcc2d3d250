"""The consumer's Kafka transports: the key broker tests run over both (consumers.transport)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import under_ci

TRANSPORT_PARAMS = [
    "kafka-python",
    pytest.param(
        "confluent",
        marks=pytest.mark.skipif(
            # under CI=true (which installs dev, kafka-fast included) a missing client fails
            importlib.util.find_spec("confluent_kafka") is None and not under_ci(),
            reason="confluent-kafka (the kafka-fast extra) is not installed",
        ),
    ),
]


@pytest.fixture(params=TRANSPORT_PARAMS)
def transport(request: pytest.FixtureRequest) -> str:
    """The events topic's client, ``consume --transport``."""
    name: str = request.param
    return name
