"""``dumps_indented`` writes exactly the text of ``json.dumps(..., indent=2,
ensure_ascii=False)``: for an audit's JSON and for every kind of value and key JSON has."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest

from ledger.audit.ip import Scope, audit_json, run_audit
from ledger.audit.model import LedgerView
from ledger.reports.jsontext import dumps_indented
from ledger.store import open_store
from tests.ledger.index.index_factory import fill, init


class Level(IntEnum):
    HIGH = 3


def _standard(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


VALUES: list[Any] = [
    {},
    [],
    (),
    "plain",
    0,
    None,
    {"a": [], "b": {}, "c": [[]], "d": [{}]},
    {"text": 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f \u2028 é 語 😀'},
    [1, -2, 2.5, -0.0, 1e16, 1e-7, 10**30, float("nan"), float("inf"), -float("inf")],
    [True, False, None, Level.HIGH, (1, (2, [3]))],
    {2: "int", 2.5: "float", True: "true", False: "false", None: "null", Level.HIGH: "enum"},
    {"deep": [[[[[{"x": [1, {"y": []}]}]]]]]},
    [[1] * 3] * 3,
]


@pytest.mark.parametrize("value", VALUES)
def test_the_text_is_json_dumps_text(value: Any) -> None:
    assert dumps_indented(value) == _standard(value)


def test_what_json_refuses_it_refuses_alike() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for bad in ({(1, 2): "tuple key"}, {"set": {1}}, circular):
        with pytest.raises((TypeError, ValueError)) as standard:
            _standard(bad)
        with pytest.raises(type(standard.value)):
            dumps_indented(bad)


def test_nesting_deeper_than_its_limit_is_still_json_dumps_text() -> None:
    deep: Any = "leaf"
    for _ in range(300):
        deep = [deep]
    assert dumps_indented(deep) == _standard(deep)


def test_an_audit_with_receipts_is_the_same_text(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "ledger.db"))
    fill(store, init(store))
    result = run_audit(LedgerView.open(store), Scope(), as_of=datetime(2026, 12, 1, tzinfo=UTC))
    data = audit_json(result)
    assert data["findings"] and any(e["receipt"] for f in data["findings"] for e in f["evidence"])
    assert dumps_indented(data) == _standard(data)
    store.close()
