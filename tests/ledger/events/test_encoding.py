"""Avro framing: single-object encoding, Confluent wire format, schema evolution."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ledger.errors import DecodeError, UnknownSchemaError
from ledger.events.encoding import (
    ConfluentFraming,
    MultiFraming,
    SchemaCatalog,
    SchemaVersion,
    SingleObjectFraming,
    default_catalog,
    schema_fingerprint,
    write_datum,
)
from schemas import schema_files

EXAMPLE = Path(__file__).parents[3] / "examples" / "events" / "01-sh010-plate-v001.json"


def _v1_event() -> dict[str, object]:
    from datetime import UTC, datetime

    event: dict[str, object] = json.loads(EXAMPLE.read_text())
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
    assert schema_id == 100 + len(catalog.versions("provenance_event")) - 1  # the current one
    _, decoded = framing.decode(data)
    assert decoded["producer_seq"] == 7
    with pytest.raises(DecodeError, match="bad magic byte"):
        framing.decode(b"\x01" + data[1:])
    with pytest.raises(UnknownSchemaError):
        framing.decode(b"\x00" + struct.pack(">I", 7) + data[5:])


def test_multi_framing_decodes_whichever_framing_the_first_byte_announces() -> None:
    catalog = default_catalog()
    ids = _Ids(catalog)
    soe, confluent = SingleObjectFraming(catalog), ConfluentFraming(ids, catalog)
    multi = MultiFraming(catalog, registry=ids)
    event = _v1_event()
    for framing in (soe, confluent):
        schema, decoded = multi.decode(framing.encode("provenance_event", event))
        assert schema is catalog.current("provenance_event")
        assert decoded["producer_id"] == "nuke-ws-12"
    with pytest.raises(DecodeError, match="unrecognised framing"):
        multi.decode(b"{json}")
    with pytest.raises(DecodeError, match=r"unrecognised framing \(first bytes \(empty\)"):
        multi.decode(b"")
    with pytest.raises(UnknownSchemaError, match="schema id 7 unknown"):
        multi.decode(b"\x00" + struct.pack(">I", 7) + b"\x02")
    with pytest.raises(UnknownSchemaError, match="unknown Avro schema fingerprint"):
        multi.decode(b"\xc3\x01" + bytes(8) + b"\x02")
    with pytest.raises(DecodeError, match="bad magic c302"):
        multi.decode(b"\xc3\x02" + bytes(8) + b"\x02")


def test_multi_framing_encodes_with_its_one_framing() -> None:
    catalog = default_catalog()
    ids = _Ids(catalog)
    event = _v1_event()
    with_registry = MultiFraming(catalog, registry=ids)
    assert with_registry.writes == "confluent"
    assert with_registry.encode("provenance_event", event) == ConfluentFraming(ids, catalog).encode(
        "provenance_event", event
    )
    without = MultiFraming(catalog)
    assert without.writes == "single-object"
    assert without.encode("provenance_event", event) == SingleObjectFraming(catalog).encode(
        "provenance_event", event
    )


def test_confluent_data_without_a_registry_is_refused_naming_the_id() -> None:
    data = b"\x00" + struct.pack(">I", 42) + b"\x02"
    with pytest.raises(DecodeError, match=r"Confluent wire format \(schema id 42\)") as caught:
        MultiFraming().decode(data)
    assert type(caught.value) is DecodeError  # undecodable: this reader cannot resolve ids
    with pytest.raises(DecodeError, match="Confluent wire format, which needs a Schema Registry"):
        SingleObjectFraming().decode(data + bytes(8))


def test_uuid_strings_are_read_as_the_exact_text_written() -> None:
    """The signed text of event_id comes back unchanged, whatever it is (the rules judge it)."""
    framing = SingleObjectFraming()
    for text in (
        "6F1C1C8E-0A53-4D55-9A43-3F7C2C1F0B11",
        "{6f1c1c8e-0a53-4d55-9a43-3f7c2c1f0b11}",
        "urn:uuid:6f1c1c8e-0a53-4d55-9a43-3f7c2c1f0b11",
        "not a uuid",
    ):
        _, decoded = framing.decode(
            framing.encode("provenance_event", dict(_v1_event(), event_id=text))
        )
        assert decoded["event_id"] == text


def test_reading_schema_keeps_the_fingerprint() -> None:
    """Reading uuid strings as text changes nothing on the wire: same canonical form."""
    for version in default_catalog().versions("provenance_event"):
        assert schema_fingerprint(version.text) == version.fingerprint
    with pytest.raises(ValueError, match="not an Avro schema"):
        schema_fingerprint('{"type": "nonsense"}')


def test_schema_file_names_must_match_entirely(tmp_path: Path) -> None:
    bad = tmp_path / "provenance_event.v3.avsc\n"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"is not <record>\.v<N>\.avsc"):
        SchemaCatalog.from_files([bad])


def test_every_released_version_reads_as_the_current_one() -> None:
    """Compatible evolution: data of any released version resolves to the current schema,
    new fields taking their defaults (a ledger written years ago stays readable)."""
    from fastavro.utils import generate_many

    catalog = default_catalog()
    for record in {"provenance_event", "consent_event", "key_registry_event", "licence_event",
                   "disposition_event", "approval_event"}:  # fmt: skip
        current = catalog.current(record)
        new_fields = {f["name"] for f in current.parsed["fields"]}
        for version in catalog.versions(record):
            for datum in generate_many(version.parsed, 5):
                read = SingleObjectFraming(catalog).decode(
                    b"\xc3\x01" + version.fingerprint + write_datum(version, datum)
                )[1]
                assert set(read) == new_fields, version.label
