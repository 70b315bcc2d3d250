"""Data the portal reads beside the ledger: consumer lag from the consumer's real metrics."""

from __future__ import annotations

from pathlib import Path

from consumers.metrics import ConsumerMetrics, MetricsServer
from portal.data import PortalLedger, parse_lag
from tests.portal.portal_factory import build_ledger


def test_consumer_lag_comes_from_the_consumers_metrics_endpoint(tmp_path: Path) -> None:
    build_ledger(str(tmp_path / "ledger.db"))
    metrics = ConsumerMetrics()
    metrics.set_lag({("events", 0): 7, ("events", 2): 5})
    with MetricsServer(metrics, 0, host="127.0.0.1") as server:
        url = f"http://127.0.0.1:{server.port}/metrics"
        ledger = PortalLedger.open(str(tmp_path / "ledger.db"), metrics_url=url)
        try:
            lag = ledger.consumer_lag()
        finally:
            ledger.close()
    assert lag is not None and lag["total"] == 12
    assert len(lag["partitions"]) == 2


def test_unreachable_metrics_are_reported_not_raised(tmp_path: Path) -> None:
    build_ledger(str(tmp_path / "ledger.db"))
    ledger = PortalLedger.open(str(tmp_path / "ledger.db"), metrics_url="http://127.0.0.1:9/m")
    try:
        lag = ledger.consumer_lag()
    finally:
        ledger.close()
    assert lag is not None and "metrics unavailable" in lag["error"]


def test_parse_lag_ignores_other_and_malformed_lines() -> None:
    text = (
        "# HELP assetledger_consumer_lag Records behind.\n"
        'assetledger_consumer_lag{topic="t",partition="0"} 3\n'
        'assetledger_consumer_lag{topic="t",partition="1"} NaNx\n'
        'assetledger_consumer_lag{topic="t",partition="2"} +Inf\n'
        'assetledger_consumer_lag{topic="t",partition="3"} NaN\n'
        "assetledger_records_total 99\n"
    )
    assert parse_lag(text) == {"total": 3, "partitions": {'{topic="t",partition="0"}': 3}}
