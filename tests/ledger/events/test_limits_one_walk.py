"""The bytes walk and the decoded-value check are one set of rules (issue 19 §11).

A schema may name a type once and use it again by name: records (also inside themselves),
enums and fixed types.  Both checks must accept such a schema and judge every value alike,
with the same error and message, field by field.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import fastavro
import pytest

from ledger.errors import AssetLedgerError
from ledger.events import limits
from ledger.events.encoding import SchemaVersion

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Node",
    "namespace": "io.test",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "other_kind", "type": "Kind"},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "digests", "type": {"type": "array", "items": "io.test.Digest"}},
        {"name": "labels", "type": {"type": "map", "values": "string"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "next", "type": ["null", "Node"], "default": None},
    ],
}


def version(schema: dict[str, Any]) -> SchemaVersion:
    text = json.dumps(schema)
    parsed = fastavro.parse_schema(json.loads(text))
    return SchemaVersion(
        record="test_node",
        version=1,
        full_name="io.test.Node",
        parsed=parsed,
        canonical=text,
        fingerprint=hashlib.sha256(text.encode()).digest()[:8],
        text=text,
        reading=parsed,
    )


def node(name: str = "n", depth: int = 2, **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "name": name,
        "kind": "A",
        "other_kind": "B",
        "digest": b"abcd",
        "digests": [b"wxyz"],
        "labels": {"k": "v"},
        "note": None,
        "next": node(name + "-next", depth - 1) if depth > 1 else None,
    }
    value.update(changes)
    return value


def outcome_of_both(schema: SchemaVersion, value: dict[str, Any]) -> tuple[str, str]:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, value)
    data = buffer.getvalue()
    results = []
    for check in (
        lambda: limits.check_datum(schema, data),
        lambda: limits.check_value(schema, value),
    ):
        try:
            check()
            results.append("ok")
        except AssetLedgerError as exc:
            results.append(f"{type(exc).__name__}: {exc.message}")
    return results[0], results[1]


CASES = {
    "valid": node(),
    "control character deep inside": node(next=node("x\x1b[2J", 1)),
    "control character in a map key": node(labels={"k\x00": "v"}),
    "control character in a map value": node(next=node(labels={"k": "v\n"}, depth=1)),
    "too long a name, one level down": node(next=node("y" * 1025, 1)),
    "too many labels": node(labels={str(i): "v" for i in range(257)}),
    "too many digests, one level down": node(next=node(digests=[b"abcd"] * 257, depth=1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_bytes_and_the_decoded_value_are_judged_alike(case: str) -> None:
    schema = version(SCHEMA)
    datum, value = outcome_of_both(schema, CASES[case])
    assert datum == value
    assert (datum == "ok") == (case == "valid")


def test_types_used_again_by_name_are_understood() -> None:
    """An enum and a fixed type used by name after their definition (a KeyError before)."""
    schema = version(SCHEMA)
    assert outcome_of_both(schema, node(depth=3)) == ("ok", "ok")
