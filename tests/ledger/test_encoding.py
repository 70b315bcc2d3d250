"""Avro framing: single-object encoding, Confluent wire format, schema evolution."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ledger.encoding import (
    ConfluentFraming,
    SchemaCatalog,
    SchemaVersion,
    SingleObjectFraming,
    decode_any,
    default_catalog,
    write_datum,
)
from ledger.errors import DecodeError, UnknownSchemaError
from schemas import schema_files

EXAMPLE = Path(__file__).parents[2] / "examples" / "events" / "01-sh010-plate-v001.json"


def _v1_event() -> dict[str, object]:
    from datetime import UTC, datetime

    event = json.loads(EXAMPLE.read_text())
    event.update(
        event_id="6f1c1c8e-0a53-4d55-9a43-3f7c2c1f0b11",
        event_time=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        producer_id="nuke-ws-12",
        producer_seq=7,
    )
    return event


def test_avro_crc64_fingerprint_matches_spec_vector() -> None:
    # Avro spec: the CRC-64-AVRO fingerprint of the canonical form "int" is 0x7275d51a3f395c8f,
    # written little-endian in single-object encoding.
    from fastavro.schema import fingerprint

    assert fingerprint('"int"', "CRC-64-AVRO") == "8f5c393f1ad57572"


def test_single_object_header_is_magic_plus_fingerprint() -> None:
    framing = SingleObjectFraming()
    data = framing.encode("provenance_event", _v1_event())
    current = default_catalog().current("provenance_event")
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == current.fingerprint
    schema, decoded = framing.decode(data)
    assert schema is current
    assert decoded["asset"]["asset_id"] == "fallen-tower/ep101/sq040/sh010/plate"
    assert decoded["event_id"] == "6f1c1c8e-0a53-4d55-9a43-3f7c2c1f0b11"


def test_every_released_version_is_in_the_catalog() -> None:
    names = [p.name for p in schema_files()]
    assert "provenance_event.v1.avsc" in names
    assert "provenance_event.v2.avsc" in names
    versions = default_catalog().versions("provenance_event")
    assert [v.version for v in versions] == sorted(v.version for v in versions)
    assert len({v.fingerprint for v in versions}) == len(versions)


def test_v1_event_decodes_with_current_reader() -> None:
    """Events written with an older released schema still decode, with defaults filled."""
    catalog = default_catalog()
    v1 = catalog.versions("provenance_event")[0]
    assert v1.version == 1
    event = _v1_event()
    data = b"\xc3\x01" + v1.fingerprint + write_datum(v1, event)
    schema, decoded = SingleObjectFraming(catalog).decode(data)
    assert schema.version == catalog.current("provenance_event").version
    assert decoded["directed_by"] == []
    assert decoded["likeness"] == []
    assert decoded["rights"]["training_mining"] == []
    assert decoded["asset"]["content_sha256"] == event["asset"]["content_sha256"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\xc3\x01\x00", "too short"),
        (b"\xc4\x01" + bytes(20), "bad magic"),
    ],
)
def test_malformed_single_object_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        SingleObjectFraming().decode(data)


def test_unknown_fingerprint_is_a_specific_error() -> None:
    with pytest.raises(UnknownSchemaError, match="unknown Avro schema fingerprint"):
        SingleObjectFraming().decode(b"\xc3\x01" + bytes(8) + b"\x02")


def test_truncated_datum_is_refused() -> None:
    data = SingleObjectFraming().encode("provenance_event", _v1_event())
    with pytest.raises(DecodeError, match=r"truncated|corrupt"):
        SingleObjectFraming().decode(data[:-20])


def test_trailing_bytes_are_refused() -> None:
    data = SingleObjectFraming().encode("provenance_event", _v1_event())
    with pytest.raises(DecodeError, match="trailing"):
        SingleObjectFraming().decode(data + b"\x00")


class _Ids:
    """A fixed id table standing in for a Schema Registry's id assignment (pure framing test)."""

    def __init__(self, catalog: SchemaCatalog) -> None:
        self.by_id = {100 + i: v for i, v in enumerate(catalog.versions("provenance_event"))}

    def id_for(self, schema: SchemaVersion) -> int:
        return next(i for i, v in self.by_id.items() if v is schema)

    def schema_for(self, schema_id: int) -> SchemaVersion:
        if schema_id not in self.by_id:
            raise UnknownSchemaError(f"schema id {schema_id} unknown")
        return self.by_id[schema_id]


def test_confluent_wire_format_round_trip() -> None:
    catalog = default_catalog()
    framing = ConfluentFraming(_Ids(catalog), catalog)
    data = framing.encode("provenance_event", _v1_event())
    assert data[0] == 0
    (schema_id,) = struct.unpack(">I", data[1:5])
    assert schema_id == 101
    _, decoded = framing.decode(data)
    assert decoded["producer_seq"] == 7
    with pytest.raises(DecodeError, match="bad magic byte"):
        framing.decode(b"\x01" + data[1:])
    with pytest.raises(UnknownSchemaError):
        framing.decode(b"\x00" + struct.pack(">I", 7) + data[5:])


def test_decode_any_dispatches_on_magic() -> None:
    catalog = default_catalog()
    soe, confluent = SingleObjectFraming(catalog), ConfluentFraming(_Ids(catalog), catalog)
    event = _v1_event()
    for framing in (soe, confluent):
        _, decoded = decode_any(framing.encode("provenance_event", event), [soe, confluent])
        assert decoded["producer_id"] == "nuke-ws-12"
    with pytest.raises(DecodeError, match="unrecognised framing"):
        decode_any(b"{json}", [soe, confluent])
