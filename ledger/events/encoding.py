"""Avro framing: single-object encoding (default) and the Confluent wire format.

Single-object encoding (Avro spec 1.10+): ``C3 01`` + 8-byte little-endian CRC-64-AVRO
fingerprint of the writer schema's Parsing Canonical Form + the binary datum.  It needs no
registry, only a catalog of every schema version ever released, which ``schemas/`` is.

Confluent wire format: ``00`` + 4-byte big-endian Schema Registry id + the binary datum.  The
id is resolved through a :class:`SchemaIds`
(``ledger.events.schema_registry.SchemaRegistryClient``), and the schema it names must be one
of the catalog's, by fingerprint.

:class:`MultiFraming` encodes with one framing and decodes whichever the first byte announces.
An unknown fingerprint or schema id is an :class:`UnknownSchemaError`, an unknown first byte a
:class:`DecodeError`: the framing never guesses a schema.

Strings with ``logicalType: uuid`` (``event_id``) are read as the exact text that was written,
never as a :class:`uuid.UUID`: the text is signed, and the event rules (``ledger.events.base``)
decide whether it is an acceptable UUID.
"""

from __future__ import annotations

import io
import json
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from ledger.errors import DecodeError, UnknownSchemaError
from ledger.events import avro_read, avro_write
from ledger.events.avro_compile import Unsupported
from schemas import schema_files

SOE_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_FILE_NAME = re.compile(r"(?P<record>[a-z0-9_]+)\.v(?P<version>\d+)\.avsc")  # fullmatch


@dataclass(frozen=True)
class SchemaVersion:
    """One released version of one record schema."""

    record: str  # file stem without version, e.g. "provenance_event"
    version: int
    full_name: str  # Avro full name, e.g. "io.assetledger.ProvenanceEvent"
    parsed: Any
    canonical: str
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as written on the wire
    text: str = field(default="", repr=False)  # the released schema JSON, as in schemas/
    reading: Any = field(default=None, repr=False)  # ``parsed`` with uuid strings read as text

    @property
    def label(self) -> str:
        return f"{self.record}.v{self.version}"


def _load(path: Path) -> SchemaVersion:
    match = _FILE_NAME.fullmatch(path.name)
    if match is None:
        raise ValueError(f"schema file name {path.name!r} is not <record>.v<N>.avsc")
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    parsed = fastavro.parse_schema(raw)
    canonical = to_parsing_canonical_form(parsed)
    return SchemaVersion(
        record=match["record"],
        version=int(match["version"]),
        full_name=f"{raw.get('namespace', '')}.{raw['name']}".lstrip("."),
        parsed=parsed,
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        text=text,
        reading=fastavro.parse_schema(_uuid_as_text(raw)),
    )


def _uuid_as_text(schema: Any) -> Any:
    """A copy of a schema's JSON without ``logicalType: uuid`` (same canonical form)."""
    if isinstance(schema, list):
        return [_uuid_as_text(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {k: _uuid_as_text(v) for k, v in schema.items()}
    if copy.get("logicalType") == "uuid":
        del copy["logicalType"]
    return copy


def schema_fingerprint(schema_json: str) -> bytes:
    """The wire fingerprint (8 bytes, little-endian CRC-64-AVRO) of a schema given as JSON.

    Raises :class:`ValueError` when the text is not an Avro schema.
    """
    try:
        parsed = fastavro.parse_schema(json.loads(schema_json))
    except Exception as exc:  # json and fastavro raise assorted errors on bad schemas
        raise ValueError(f"not an Avro schema: {exc}") from exc
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class SchemaCatalog:
    """Every schema version, by fingerprint and by record; the newest is the writer schema."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._by_fingerprint = {v.fingerprint: v for v in versions}
        self._by_record: dict[str, list[SchemaVersion]] = {}
        for v in sorted(versions, key=lambda v: v.version):
            self._by_record.setdefault(v.record, []).append(v)

    @classmethod
    def from_files(cls, paths: list[Path]) -> SchemaCatalog:
        return cls([_load(p) for p in paths])

    def current(self, record: str) -> SchemaVersion:
        try:
            return self._by_record[record][-1]
        except KeyError:
            raise UnknownSchemaError(f"no schema named {record!r} in the catalog") from None

    def versions(self, record: str) -> list[SchemaVersion]:
        return list(self._by_record.get(record, []))

    def by_fingerprint(self, fp: bytes) -> SchemaVersion:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise UnknownSchemaError(
                f"unknown Avro schema fingerprint {fp.hex()}: not a released asset-ledger schema",
                hint="upgrade asset-ledger, or check the producer writes a released schema",
            ) from None


@cache
def default_catalog() -> SchemaCatalog:
    """The catalog of the schemas shipped in ``schemas/``."""
    return SchemaCatalog.from_files(schema_files())


def write_datum(schema: SchemaVersion, record: Mapping[str, Any]) -> bytes:
    """The binary datum of ``record``: fastavro's bytes, from a writer compiled for the schema
    (:mod:`ledger.events.avro_write`); fastavro itself writes what that writer does not take."""
    datum = record if type(record) is dict else dict(record)
    writer = _compiled(schema.parsed)
    if writer is not None:
        try:
            return avro_write.write(writer, datum)
        except Unsupported:
            pass
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed, dict(datum))
    return buf.getvalue()


_COMPILED: dict[tuple[str, int], tuple[Any, Any]] = {}  # (what, id(parsed)) -> (it, function)


def _compiled_once(what: str, parsed: Any, compile: Callable[[Any], Any]) -> Any:
    """``compile(parsed)`` once per parsed schema (None: a schema it does not cover)."""
    known = _COMPILED.get((what, id(parsed)))
    if known is None or known[0] is not parsed:
        try:
            function = compile(parsed)
        except Unsupported:
            function = None
        known = _COMPILED[(what, id(parsed))] = (parsed, function)
    return known[1]


def _compiled(parsed: Any) -> avro_write.Writer | None:
    """The compiled writer of a parsed schema (None: one it does not cover)."""
    writer: avro_write.Writer | None = _compiled_once("write", parsed, avro_write.compile_writer)
    return writer


def _compiled_reader(parsed: Any) -> avro_read.Reader | None:
    """The compiled reader of a parsed schema (None: one it does not cover)."""
    reader: avro_read.Reader | None = _compiled_once("read", parsed, avro_read.compile_reader)
    return reader


def read_datum(data: bytes, writer: SchemaVersion, reader: SchemaVersion) -> dict[str, Any]:
    """Decode one binary datum, resolving writer→reader evolution; reject trailing bytes.

    ``uuid`` strings come back as the exact text written (see the module docstring).  Data
    written with the reader's own schema is read by a reader compiled for it
    (:mod:`ledger.events.avro_read`); fastavro reads (or refuses) whatever that does not.
    """
    if reader is writer:
        compiled = _compiled_reader(writer.reading)
        if compiled is not None:
            try:
                return avro_read.read(compiled, data, 0)
            except Unsupported:
                pass
    buf = io.BytesIO(data)
    try:
        value = fastavro.schemaless_reader(
            buf, writer.reading, reader.reading if reader is not writer else None
        )
    except (EOFError, StopIteration, struct.error) as exc:
        raise DecodeError(f"truncated {writer.label} datum ({len(data)} bytes)") from exc
    except Exception as exc:  # fastavro raises assorted errors on corrupt input
        raise DecodeError(f"corrupt {writer.label} datum: {exc}") from exc
    if buf.tell() != len(data):
        raise DecodeError(
            f"{len(data) - buf.tell()} unexpected trailing bytes after the {writer.label} datum"
        )
    if not isinstance(value, dict):
        raise DecodeError(f"{writer.label} datum is not a record")
    return value


class Framing(Protocol):
    """How a datum is framed on the wire (single-object or Confluent)."""

    def encode(self, record_name: str, record: Mapping[str, Any]) -> bytes: ...

    def decode(self, data: bytes) -> tuple[SchemaVersion, dict[str, Any]]: ...

    def locate(self, data: bytes) -> tuple[SchemaVersion, int]: ...


class SingleObjectFraming:
    """Avro single-object encoding: needs only the catalog."""

    def __init__(self, catalog: SchemaCatalog | None = None) -> None:
        self.catalog = catalog or default_catalog()

    def encode(self, record_name: str, record: Mapping[str, Any]) -> bytes:
        schema = self.catalog.current(record_name)
        return SOE_MAGIC + schema.fingerprint + write_datum(schema, record)

    def decode(self, data: bytes) -> tuple[SchemaVersion, dict[str, Any]]:
        """Decode with the writer schema named by the fingerprint, read as the current one."""
        writer, start = self.locate(data)
        reader = self.catalog.current(writer.record)
        return reader, read_datum(data[start:], writer, reader)

    def locate(self, data: bytes) -> tuple[SchemaVersion, int]:
        """The writer schema of framed ``data`` and where its binary datum starts."""
        if len(data) < 10:
            raise DecodeError(f"{len(data)} bytes is too short for an Avro single object")
        if data[:2] != SOE_MAGIC:
            raise DecodeError(
                f"bad magic {data[:2].hex()}: not Avro single-object encoding (want c301)"
                + (
                    "; a first byte 00 is the Confluent wire format, which needs a Schema"
                    " Registry (--schema-registry)"
                    if data[:1] == CONFLUENT_MAGIC
                    else ""
                )
            )
        return self.catalog.by_fingerprint(data[2:10]), 10


class SchemaIds(Protocol):
    """The part of a Confluent Schema Registry the framing needs."""

    def id_for(self, schema: SchemaVersion) -> int: ...

    def schema_for(self, schema_id: int) -> SchemaVersion: ...


class ConfluentFraming:
    """Confluent wire format: magic 0, 4-byte big-endian schema id, binary datum."""

    def __init__(self, registry: SchemaIds, catalog: SchemaCatalog | None = None) -> None:
        self.registry = registry
        self.catalog = catalog or default_catalog()

    def encode(self, record_name: str, record: Mapping[str, Any]) -> bytes:
        schema = self.catalog.current(record_name)
        header = CONFLUENT_MAGIC + struct.pack(">I", self.registry.id_for(schema))
        return header + write_datum(schema, record)

    def decode(self, data: bytes) -> tuple[SchemaVersion, dict[str, Any]]:
        writer, start = self.locate(data)
        reader = self.catalog.current(writer.record)
        return reader, read_datum(data[start:], writer, reader)

    def locate(self, data: bytes) -> tuple[SchemaVersion, int]:
        """The writer schema of framed ``data`` and where its binary datum starts."""
        if len(data) < 5:
            raise DecodeError(f"{len(data)} bytes is too short for the Confluent wire format")
        if data[:1] != CONFLUENT_MAGIC:
            raise DecodeError(f"bad magic byte {data[:1].hex()}: not Confluent wire format")
        (schema_id,) = struct.unpack(">I", data[1:5])
        return self.registry.schema_for(schema_id), 5


def writer_schema(framing: SingleObjectFraming, data: bytes) -> SchemaVersion:
    """The schema version ``data`` was written with (single-object or Confluent framing)."""
    if data[:2] == SOE_MAGIC and len(data) >= 10:
        return framing.catalog.by_fingerprint(data[2:10])
    registry = getattr(framing, "registry", None)
    if data[:1] == CONFLUENT_MAGIC and len(data) >= 5 and registry is not None:
        return registry.schema_for(struct.unpack(">I", data[1:5])[0])  # type: ignore[no-any-return]
    raise DecodeError(f"cannot tell the writer schema of {len(data)} bytes")


class MultiFraming(SingleObjectFraming):
    """Encode with one framing; decode single-object (``C3 01``) or Confluent (``00``) data.

    With a ``registry``, :meth:`encode` writes the Confluent wire format, otherwise single-object
    encoding.  :meth:`decode` follows the first byte: ``C3`` is single-object encoding (the
    catalog alone decodes it), ``00`` the Confluent wire format (the registry resolves the id;
    without a registry such data is refused as undecodable, naming the id).  Any other first
    byte is undecodable.

    It subclasses :class:`SingleObjectFraming` so that every reader typed for the default
    framing accepts it; it decodes everything that class decodes.
    """

    def __init__(
        self, catalog: SchemaCatalog | None = None, registry: SchemaIds | None = None
    ) -> None:
        super().__init__(catalog)
        self.registry = registry
        self.confluent = None if registry is None else ConfluentFraming(registry, self.catalog)

    @property
    def writes(self) -> str:
        """The framing :meth:`encode` writes: ``"confluent"`` or ``"single-object"``."""
        return "single-object" if self.confluent is None else "confluent"

    def encode(self, record_name: str, record: Mapping[str, Any]) -> bytes:
        if self.confluent is not None:
            return self.confluent.encode(record_name, record)
        return super().encode(record_name, record)

    def decode(self, data: bytes) -> tuple[SchemaVersion, dict[str, Any]]:
        first = data[:1]
        if first == SOE_MAGIC[:1]:
            return super().decode(data)
        return self._confluent(data).decode(data)

    def locate(self, data: bytes) -> tuple[SchemaVersion, int]:
        if data[:1] == SOE_MAGIC[:1]:
            return super().locate(data)
        return self._confluent(data).locate(data)

    def _confluent(self, data: bytes) -> ConfluentFraming:
        """The Confluent framing for ``data``, or why ``data`` is undecodable."""
        first = data[:1]
        if first == CONFLUENT_MAGIC:
            if self.confluent is None:
                shown = (
                    f"schema id {struct.unpack('>I', data[1:5])[0]}"
                    if len(data) >= 5
                    else f"{len(data)} bytes"
                )
                raise DecodeError(
                    f"Confluent wire format ({shown}), but no Schema Registry is configured",
                    hint="pass --schema-registry URL (env ASSETLEDGER_SCHEMA_REGISTRY_URL)",
                )
            return self.confluent
        head = data[:2].hex() or "(empty)"
        raise DecodeError(
            f"unrecognised framing (first bytes {head}): neither Avro single-object encoding"
            " (c301) nor the Confluent wire format (00)"
        )


class LearnedSchemaIds:
    """Confluent schema ids a ledger has recorded (id → fingerprint), resolved offline.

    The consumer records each id its Schema Registry resolves in the ledger itself, so every
    reader of the ledger (verify, log, audits, the key registry replay) decodes Confluent-framed
    entries without a registry.  It never registers anything.
    """

    def __init__(self, catalog: SchemaCatalog | None = None) -> None:
        self.catalog = catalog or default_catalog()
        self.fingerprints: dict[int, bytes] = {}

    def learn(self, ids: Mapping[int, bytes]) -> None:
        self.fingerprints.update(ids)

    def id_for(self, schema: SchemaVersion) -> int:
        for schema_id, fp in self.fingerprints.items():
            if fp == schema.fingerprint:
                return schema_id
        raise UnknownSchemaError(f"no recorded schema id for {schema.label}")

    def schema_for(self, schema_id: int) -> SchemaVersion:
        fp = self.fingerprints.get(schema_id)
        if fp is None:
            raise UnknownSchemaError(
                f"Confluent schema id {schema_id} was never recorded in this ledger",
                hint="entries framed by a Schema Registry are readable once a consumer stored them",
            )
        return self.catalog.by_fingerprint(fp)


LEARNED_SCHEMA_IDS = LearnedSchemaIds()


@cache
def reader_framing() -> MultiFraming:
    """How stored ledger entries are read: single-object, or Confluent with recorded ids."""
    return MultiFraming(registry=LEARNED_SCHEMA_IDS)
