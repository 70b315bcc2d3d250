"""docs/protocol.md is enough to write an emitter: an independent one, built from the doc alone.

The emitter below does not import ``ledger.events.encoding``, ``ledger.trust.dsse``,
``ledger.trust.keys`` or the SDK.  It reads the schema JSON from ``schemas/``, computes the Parsing
Canonical Form and the CRC-64-AVRO fingerprint with its own code (Avro specification, "Schema
Fingerprints"), encodes with ``fastavro``, builds the DSSE PAE by hand, signs with
``cryptography``'s Ed25519 and builds the Kafka key and headers by hand.  The consumer's own
inspection must accept the result, and the worked example printed in the doc must come out byte for
byte (Ed25519 is deterministic)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "protocol.md"
SCHEMA_DIR = ROOT / "schemas"

TOPIC = "provenance.events"
PAYLOAD_TYPE = "application/vnd.assetledger.provenance-event+avro"
CE_TYPE = "io.assetledger.provenance.v1"
CONTENT_TYPE = "application/vnd.assetledger.dsse+avro"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# RFC 8032 section 7.1, TEST 1.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


# --- the independent emitter ---------------------------------------------------------------

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_CRC64_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> int:
    """The Avro specification's 64-bit Rabin fingerprint (CRC-64-AVRO)."""
    fp = _CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _CRC64_TABLE[(fp ^ byte) & 0xFF]
    return fp


def _fullname(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def canonical_form(schema: Any, namespace: str = "") -> str:
    """Avro Parsing Canonical Form: [PRIMITIVES] [FULLNAMES] [STRIP] [ORDER] [WHITESPACE]."""

    def s(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    if isinstance(schema, str):
        return s(schema if schema in _PRIMITIVES else _fullname(schema, namespace))
    if isinstance(schema, list):
        return "[" + ",".join(canonical_form(branch, namespace) for branch in schema) + "]"
    kind = schema["type"]
    if kind in _PRIMITIVES:  # {"type": "string", "logicalType": "uuid"} -> "string"
        return s(kind)
    if kind == "array":
        return '{"type":"array","items":' + canonical_form(schema["items"], namespace) + "}"
    if kind == "map":
        return '{"type":"map","values":' + canonical_form(schema["values"], namespace) + "}"
    name = _fullname(schema["name"], schema.get("namespace", namespace))
    inner = name.rpartition(".")[0]
    head = '{"name":' + s(name) + ',"type":' + s(kind)
    if kind == "record":
        fields = ",".join(
            '{"name":' + s(f["name"]) + ',"type":' + canonical_form(f["type"], inner) + "}"
            for f in schema["fields"]
        )
        return head + ',"fields":[' + fields + "]}"
    if kind == "enum":
        return head + ',"symbols":[' + ",".join(s(x) for x in schema["symbols"]) + "]}"
    if kind == "fixed":
        return head + ',"size":' + str(int(schema["size"])) + "}"
    raise ValueError(f"unsupported schema type {kind!r}")


@dataclass(frozen=True)
class Schema:
    label: str  # e.g. provenance_event.v2
    json: dict[str, Any]

    @property
    def canonical(self) -> str:
        return canonical_form(self.json)

    @property
    def fingerprint(self) -> bytes:
        """As written after C3 01: the 64-bit fingerprint, little-endian."""
        return struct.pack("<Q", crc64_avro(self.canonical.encode("utf-8")))

    def binary(self, datum: Mapping[str, Any]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, fastavro.parse_schema(self.json), dict(datum))
        return buf.getvalue()

    def single_object(self, datum: Mapping[str, Any]) -> bytes:
        return b"\xc3\x01" + self.fingerprint + self.binary(datum)

    def confluent(self, schema_id: int, datum: Mapping[str, Any]) -> bytes:
        """§11: magic 00, the registry's id as 4 bytes big-endian, the binary datum."""
        return b"\x00" + struct.pack(">I", schema_id) + self.binary(datum)


def schema(label: str) -> Schema:
    return Schema(label, json.loads((SCHEMA_DIR / f"{label}.avsc").read_text(encoding="utf-8")))


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b" ".join([b"DSSEv1", str(len(t)).encode(), t, str(len(payload)).encode(), payload])


def key_id(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()


def micros(when: datetime) -> int:
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ce_time(when: datetime) -> str:
    w = when.astimezone(UTC)
    return (
        f"{w.year:04d}-{w.month:02d}-{w.day:02d}T{w.hour:02d}:{w.minute:02d}:{w.second:02d}"
        f".{w.microsecond:06d}Z"
    )


@dataclass(frozen=True)
class Built:
    payload: bytes
    pae: bytes
    signature: bytes
    keyid: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def emit(
    event: Mapping[str, Any],
    when: datetime,
    private: Ed25519PrivateKey,
    source: str,
    *,
    writer: str = "provenance_event.v4",
    confluent_ids: tuple[int, int] | None = None,
) -> Built:
    """Everything the doc says goes on the wire for one provenance event.

    ``confluent_ids`` = (envelope schema id, event schema id): write §11's Confluent wire format.
    """
    datum = {**event, "event_time": micros(when)}
    if confluent_ids is None:
        payload = schema(writer).single_object(datum)
    else:
        payload = schema(writer).confluent(confluent_ids[1], datum)
    message = pae(PAYLOAD_TYPE, payload)
    signature = private.sign(message)
    kid = key_id(private)
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": payload,
        "signatures": [{"keyid": kid, "sig": signature}],
    }
    if confluent_ids is None:
        value = schema("dsse_envelope.v1").single_object(envelope)
    else:
        value = schema("dsse_envelope.v1").confluent(confluent_ids[0], envelope)
    subject = event["asset"]["asset_id"]
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event["event_id"].encode()),
        ("ce_source", source.encode()),
        ("ce_type", CE_TYPE.encode()),
        ("ce_time", ce_time(when).encode()),
        ("ce_subject", subject.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    return Built(payload, message, signature, kid, subject.encode(), value, headers)


# --- the worked example of the doc ---------------------------------------------------------

EXAMPLE_TIME = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
EXAMPLE_SOURCE = "/studio/silhouette/ws12"
EXAMPLE_EVENT: dict[str, Any] = {
    "event_id": "7d4c1e9a-2b3f-4c5d-8e6f-0a1b2c3d4e5f",
    "producer_id": "/studio/silhouette/ws12",
    "producer_seq": 1741944413589793,
    "production": {"show": "Fallen Tower", "episode": "101", "sequence": "sq040", "shot": "sh010"},
    "asset": {
        "asset_id": "fallen-tower/ep101/sq040/sh010/roto",
        "version": "v001",
        "content_sha256": "b4555690e4c7d07989bc2ab3a1a8eb282b528d2cd549b811f57a62524fefd9bc",
        "media_type": "image/x-exr",
        "location": "s3://fallen-tower/ep101/sq040/sh010/roto/v001",
    },
    "actor": {
        "actor_id": "person:mira-keller",
        "kind": "human",
        "display_name": "Mira Keller",
        "role": "cawg.editor",
        "job_title": "Roto Artist",
    },
    "tool": {"name": "Silhouette", "version": "2024.5", "vendor": "Boris FX"},
    "model": None,
    "action": "studio.roto",
    "digital_source_type": IPTC + "digitalCreation",
    "ingredients": [
        {
            "asset_id": "fallen-tower/ep101/sq040/sh010/plate",
            "version": "v001",
            "content_sha256": "0c831b1e6fbcb4647059e9e6fc64bb0bd7615e6a9b0700b45d6cb50d0413e9a3",
            "relationship": "inputTo",
        }
    ],
    "rights": {
        "licence": "work for hire",
        "licence_ref": None,
        "consent_refs": [],
        "training_mining": [],
        "distribution": None,
    },
    "directed_by": [],
    "likeness": [],
    "writing": None,
    "description": "Roto mattes for the tower silhouette",
    "c2pa": None,
}


def rfc8032_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)


def example() -> Built:
    return emit(EXAMPLE_EVENT, EXAMPLE_TIME, rfc8032_key(), EXAMPLE_SOURCE)


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def doc_block(name: str) -> str:
    """The text between ``<!-- name -->`` and ``<!-- /name -->`` in the doc."""
    match = re.search(rf"<!-- {name} -->\n(.*?)<!-- /{name} -->", _doc(), re.S)
    assert match, f"docs/protocol.md has no <!-- {name} --> block"
    return match.group(1)


def doc_values(name: str) -> dict[str, str]:
    """``name: value`` lines of a block; continuation lines (indented hex) are appended."""
    values: dict[str, str] = {}
    last = ""
    for line in doc_block(name).splitlines():
        if line.startswith("```") or not line.strip():
            continue
        if line.startswith(" ") and last:
            values[last] += line.strip()
            continue
        field, _, value = line.partition(":")
        last = field.strip()
        values[last] = value.strip()
    return values


def expected_doc_values(b: Built) -> dict[str, str]:
    return {
        "keyid": b.keyid,
        "public key": RFC8032_PUBLIC,
        "payload fingerprint": b.payload[2:10].hex(),
        "payload length": str(len(b.payload)),
        "payload first 32 bytes": b.payload[:32].hex(),
        "payload sha256": hashlib.sha256(b.payload).hexdigest(),
        "payload": b.payload.hex(),
        "pae prefix": b.pae[: len(b.pae) - len(b.payload)].decode("ascii").replace(" ", "␠"),
        "pae length": str(len(b.pae)),
        "pae sha256": hashlib.sha256(b.pae).hexdigest(),
        "signature": b.signature.hex(),
        "value length": str(len(b.value)),
        "value first 32 bytes": b.value[:32].hex(),
        "value sha256": hashlib.sha256(b.value).hexdigest(),
        "value": b.value.hex(),
        "key": b.key.decode(),
        **{f"header {name}": v.decode() for name, v in b.headers},
    }


# --- tests: the algorithms against published vectors ---------------------------------------


def test_crc64_avro_reproduces_the_avro_test_vectors() -> None:
    # apache/avro share/test/data/schema-tests.txt (as signed 64-bit integers).
    vectors = {
        '"null"': 7195948357588979594,
        '"int"': 8247732601305521295,
        '"string"': -8142146995180207161,
        '{"name":"foo","type":"record","fields":[]}': -4824392279771201922,
    }
    for text, signed in vectors.items():
        assert crc64_avro(text.encode()) == signed % (1 << 64), text
    # The single-object header of schema "int" (the Avro Ruby test suite).
    assert Schema("int", {"type": "int"}).fingerprint.hex() == "8f5c393f1ad57572"


def test_own_canonical_form_agrees_with_fastavro_for_every_schema_file() -> None:
    from fastavro.schema import to_parsing_canonical_form

    files = sorted(SCHEMA_DIR.glob("*.avsc"))
    assert files
    for path in files:
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert canonical_form(raw) == to_parsing_canonical_form(fastavro.parse_schema(raw)), path


def test_canonical_form_strips_logical_types_and_docs() -> None:
    canonical = schema("provenance_event.v2").canonical
    assert canonical.startswith('{"name":"io.assetledger.ProvenanceEvent","type":"record"')
    assert '{"name":"event_id","type":"string"}' in canonical
    assert '{"name":"event_time","type":"long"}' in canonical
    assert "logicalType" not in canonical and "doc" not in canonical and " " not in canonical


def test_rfc8032_key_and_key_id() -> None:
    key = rfc8032_key()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw.hex() == RFC8032_PUBLIC
    # RFC 8032 TEST 1: the signature of the empty message.
    assert key.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert key_id(key) == hashlib.sha256(bytes.fromhex(RFC8032_PUBLIC)).hexdigest()


# --- tests: the doc's numbers ----------------------------------------------------------------

_FINGERPRINT_ROW = re.compile(
    r"^\| `(?P<label>[a-z0-9_]+\.v\d+)` \|.*\| `(?P<fp>[0-9a-f]{16})` \|$"
)


def documented_fingerprints() -> dict[str, str]:
    rows = {
        m["label"]: m["fp"]
        for line in doc_block("fingerprints").splitlines()
        if (m := _FINGERPRINT_ROW.match(line.strip()))
    }
    assert rows, "no fingerprint rows found in the doc"
    return rows


def test_documented_fingerprints_equal_own_computation_and_the_codes_catalog() -> None:
    from ledger.events.encoding import default_catalog

    catalog = default_catalog()
    documented = documented_fingerprints()
    for label, fp in documented.items():
        record, _, version = label.rpartition(".v")
        (code,) = [v for v in catalog.versions(record) if v.version == int(version)]
        assert schema(label).fingerprint.hex() == fp, label
        assert code.fingerprint.hex() == fp, label
    # Every released version of each documented record is listed (a new version needs a row).
    for record in {label.rpartition(".v")[0] for label in documented}:
        assert {v.label for v in catalog.versions(record)} <= set(documented), record
    assert {
        "dsse_envelope.v1",
        "provenance_event.v1",
        "provenance_event.v2",
        "provenance_event.v3",
        "provenance_event.v4",
    } <= set(documented)


def test_documented_canonical_forms_and_envelope_schema() -> None:
    forms = doc_values("canonical-forms")
    assert {"dsse_envelope.v1", "provenance_event.v4"} <= set(forms)
    for label, text in forms.items():
        assert schema(label).canonical == text, label
    body = doc_block("envelope-schema").split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(body) == schema("dsse_envelope.v1").json


def test_documented_current_writer_schema_is_the_codes_current_one() -> None:
    from ledger.events.encoding import default_catalog

    current = default_catalog().current("provenance_event")
    assert current.label == "provenance_event.v4"
    assert f"current writer schema is `{current.label}`" in _doc()


def test_worked_example_is_reproduced_byte_for_byte() -> None:
    documented = doc_values("worked-example")
    expected = expected_doc_values(example())
    assert set(documented) == set(expected)
    for name, value in expected.items():
        assert documented[name] == value, name


def test_worked_example_event_in_the_doc_is_the_one_signed() -> None:
    block = doc_block("worked-example-event")
    body = block.split("```json\n", 1)[1].split("```", 1)[0]
    documented = json.loads(body)
    assert documented.pop("event_time") == ce_time(EXAMPLE_TIME)
    assert documented == EXAMPLE_EVENT


def test_worked_example_event_time_in_micros() -> None:
    assert micros(EXAMPLE_TIME) == 1741944413589793
    assert f"`{micros(EXAMPLE_TIME)}`" in _doc()


# --- tests: the consumer accepts it ----------------------------------------------------------


def _raw(b: Built, **changes: Any) -> Any:
    from consumers.inspect import RawRecord

    fields: dict[str, Any] = {
        "topic": TOPIC,
        "partition": 0,
        "offset": 7,
        "key": b.key,
        "value": b.value,
        "headers": tuple(b.headers),
    }
    fields.update(changes)
    return RawRecord(**fields)


def _inspect(b: Built, trusted: Ed25519PrivateKey | None = None, **changes: Any) -> Any:
    from consumers.inspect import inspect
    from ledger.events.encoding import SingleObjectFraming
    from ledger.trust.policy import FolderTrust

    signer = trusted or rfc8032_key()
    trust = FolderTrust({key_id(signer): signer.public_key()})
    return inspect(_raw(b, **changes), trust, SingleObjectFraming())


def test_the_independent_emitters_record_is_accepted_by_the_consumer() -> None:
    from ledger.store import PendingEntry

    built = example()
    outcome = _inspect(built)
    assert isinstance(outcome, PendingEntry), outcome
    assert outcome.event_id == EXAMPLE_EVENT["event_id"]
    assert outcome.signer_keyid == built.keyid
    assert outcome.envelope == built.value
    assert outcome.event_time == EXAMPLE_TIME
    assert outcome.kind == "provenance_event"
    assert ("asset_version", "fallen-tower/ep101/sq040/sh010/roto@v001") in outcome.refs
    assert ("ingredient", "fallen-tower/ep101/sq040/sh010/plate@v001") in outcome.refs


def test_a_fresh_key_and_event_are_accepted_too() -> None:
    from ledger.store import PendingEntry

    key = Ed25519PrivateKey.generate()
    event = dict(EXAMPLE_EVENT, event_id="0b9a3f4e-5c6d-4e7f-8a9b-0c1d2e3f4a5b", producer_seq=2)
    outcome = _inspect(emit(event, datetime.now(UTC), key, "/x"), trusted=key)
    assert isinstance(outcome, PendingEntry), outcome


def test_every_released_provenance_schema_is_accepted() -> None:
    from ledger.store import PendingEntry

    v1_event = {k: v for k, v in EXAMPLE_EVENT.items() if k not in {"directed_by", "likeness"}} | {
        "rights": {"licence": "work for hire", "consent_refs": []}
    }
    built = emit(v1_event, EXAMPLE_TIME, rfc8032_key(), "/x", writer="provenance_event.v1")
    assert built.payload[2:10] == schema("provenance_event.v1").fingerprint
    assert isinstance(_inspect(built), PendingEntry)


def test_the_sdk_builds_exactly_the_worked_example() -> None:
    """The project's own emitter and the doc agree on every byte of key, value and headers."""
    from ledger.trust.keys import KeyPair
    from producers.emitter import build_message

    event = dict(EXAMPLE_EVENT, event_time=EXAMPLE_TIME)
    sdk = build_message(event, KeyPair("rfc8032", rfc8032_key()), source=EXAMPLE_SOURCE)
    built = example()
    assert sdk.key == built.key
    assert sdk.value == built.value
    assert sdk.headers == built.headers


# --- tests: the Confluent wire format of §11 ---------------------------------------------------

CONFLUENT_IDS = (7, 8)  # the ids of the doc's example: envelope, provenance_event.v4


class _FixedIds:
    """A registry's answers fixed in advance (the doc's ids), for byte-exact comparisons."""

    def __init__(self) -> None:
        from ledger.events.encoding import default_catalog

        catalog = default_catalog()
        self.by_id = {
            CONFLUENT_IDS[0]: catalog.current("dsse_envelope"),
            CONFLUENT_IDS[1]: catalog.current("provenance_event"),
        }

    def id_for(self, s: Any) -> int:
        return next(i for i, v in self.by_id.items() if v is s)

    def schema_for(self, schema_id: int) -> Any:
        from ledger.errors import UnknownSchemaError

        if schema_id not in self.by_id:
            raise UnknownSchemaError(f"schema id {schema_id} is not registered")
        return self.by_id[schema_id]


def confluent_example() -> Built:
    return emit(
        EXAMPLE_EVENT, EXAMPLE_TIME, rfc8032_key(), EXAMPLE_SOURCE, confluent_ids=CONFLUENT_IDS
    )


def test_confluent_worked_example_is_reproduced_byte_for_byte() -> None:
    b = confluent_example()
    expected = {
        "envelope schema id": str(CONFLUENT_IDS[0]),
        "event schema id": str(CONFLUENT_IDS[1]),
        "payload length": str(len(b.payload)),
        "payload first 16 bytes": b.payload[:16].hex(),
        "payload sha256": hashlib.sha256(b.payload).hexdigest(),
        "pae length": str(len(b.pae)),
        "pae sha256": hashlib.sha256(b.pae).hexdigest(),
        "signature": b.signature.hex(),
        "value length": str(len(b.value)),
        "value first 32 bytes": b.value[:32].hex(),
        "value sha256": hashlib.sha256(b.value).hexdigest(),
    }
    assert doc_values("worked-example-confluent") == expected
    # The datum bytes are those of the single-object example: only the header differs.
    single = example()
    assert b.payload[5:] == single.payload[10:]
    prefix = f"DSSEv1 49 {PAYLOAD_TYPE} {len(b.payload)} ".encode()
    assert b.pae.startswith(prefix + b"\x00\x00\x00\x00\x08")


def test_the_sdk_builds_exactly_the_confluent_worked_example() -> None:
    from ledger.events.encoding import MultiFraming
    from ledger.trust.keys import KeyPair
    from producers.emitter import build_message

    event = dict(EXAMPLE_EVENT, event_time=EXAMPLE_TIME)
    framing = MultiFraming(registry=_FixedIds())
    sdk = build_message(
        event, KeyPair("rfc8032", rfc8032_key()), source=EXAMPLE_SOURCE, framing=framing
    )
    built = confluent_example()
    assert (sdk.key, sdk.value, sdk.headers) == (built.key, built.value, built.headers)


def test_a_consumer_with_a_registry_accepts_the_confluent_example() -> None:
    from consumers.inspect import inspect
    from ledger.events.encoding import MultiFraming
    from ledger.store import PendingEntry
    from ledger.trust.policy import FolderTrust

    b = confluent_example()
    trust = FolderTrust({key_id(rfc8032_key()): rfc8032_key().public_key()})
    outcome = inspect(_raw(b), trust, MultiFraming(registry=_FixedIds()))
    assert isinstance(outcome, PendingEntry), outcome
    assert outcome.envelope == b.value
    unknown = emit(EXAMPLE_EVENT, EXAMPLE_TIME, rfc8032_key(), "/x", confluent_ids=(7, 9))
    refused = inspect(_raw(unknown), trust, MultiFraming(registry=_FixedIds()))
    assert _reason(refused) == "unknown_schema"
    assert _reason(_inspect(b)) == "undecodable"  # a consumer without a registry never guesses


def test_documented_subjects_are_the_record_full_names() -> None:
    from ledger.events.encoding import default_catalog
    from ledger.events.schema_registry import subject_for

    text = doc_block("kinds") + _doc()
    for record in (
        "dsse_envelope",
        "provenance_event",
        "consent_event",
        "key_registry_event",
        "licence_event",
        "disposition_event",
        "approval_event",
    ):
        current = default_catalog().current(record)
        assert f"`{subject_for(current)}`" in text, record


def test_documented_event_kinds_are_the_codes() -> None:
    from ledger.events.encoding import default_catalog
    from ledger.events.kinds import all_kinds

    rows = [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in doc_block("kinds").splitlines()
        if line.startswith("| ") and not line.startswith(("| Kind", "| ---"))
    ]
    documented = {row[2]: (row[1], row[3]) for row in rows}
    kinds = all_kinds()
    assert len(documented) == len(kinds) == 6
    for kind in kinds:
        current = default_catalog().current(kind.record).label
        assert documented[kind.payload_type] == (current, kind.ce_type), kind.record


# --- tests: what the doc says a producer sees when it gets something wrong --------------------


def _reason(outcome: Any) -> str:
    from ledger.store import Quarantined

    assert isinstance(outcome, Quarantined), outcome
    return str(outcome.reason)


def _with_header(b: Built, name: str, value: bytes) -> tuple[tuple[str, bytes], ...]:
    return tuple((n, value if n == name else v) for n, v in b.headers)


def test_documented_rejections() -> None:
    b = example()
    without_micros = ce_time(EXAMPLE_TIME).replace(".589793", "")
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "ce_time without microseconds": (
            {"headers": _with_header(b, "ce_time", without_micros.encode())},
            "header_mismatch",
        ),
        "ce_type of another version": (
            {"headers": _with_header(b, "ce_type", b"io.assetledger.provenance.v2")},
            "header_mismatch",
        ),
        "key is not the asset id": ({"key": b"fallen-tower"}, "header_mismatch"),
        "missing content-type": (
            {"headers": tuple(h for h in b.headers if h[0] != "content-type")},
            "header_mismatch",
        ),
        "payload tampered after signing": (
            {"value": b.value.replace(b"Mira Keller", b"Mira Kellex")},
            "bad_signature",
        ),
        "oversized": ({"value": b.value + bytes(1 << 20)}, "oversized"),
        "tombstone": ({"value": None}, "undecodable"),
        "confluent wire format": ({"value": b"\x00\x00\x00\x00\x01" + b.value[10:]}, "undecodable"),
        "unknown fingerprint": ({"value": b.value[:2] + bytes(8) + b.value[10:]}, "unknown_schema"),
    }
    for case, (changes, reason) in cases.items():
        assert _reason(_inspect(b, **changes)) == reason, case
    assert _reason(_inspect(b, trusted=Ed25519PrivateKey.generate())) == "unknown_key"


def test_source_header_is_free_and_ce_subject_optional() -> None:
    from ledger.store import PendingEntry

    b = example()
    assert isinstance(_inspect(b, headers=_with_header(b, "ce_source", b"urn:x")), PendingEntry)
    no_subject = tuple(h for h in b.headers if h[0] != "ce_subject")
    assert isinstance(_inspect(b, headers=no_subject), PendingEntry)


def test_payload_rules_the_doc_states() -> None:
    key = rfc8032_key()

    def outcome(**changes: Any) -> str:
        from ledger.store import PendingEntry

        result = _inspect(emit(dict(EXAMPLE_EVENT, **changes), EXAMPLE_TIME, key, "/x"))
        return "accepted" if isinstance(result, PendingEntry) else _reason(result)

    assert outcome(digital_source_type="digitalCreation") == "invalid_event"
    # event_id: the canonical text only; other spellings are refused, never rewritten.
    assert outcome(event_id=EXAMPLE_EVENT["event_id"].upper()) == "invalid_event"
    assert outcome(event_id="urn:uuid:" + EXAMPLE_EVENT["event_id"]) == "invalid_event"
    assert outcome(event_id="roto-0001") == "invalid_event"
    assert outcome(asset=dict(EXAMPLE_EVENT["asset"], asset_id="")) == "invalid_event"
    assert outcome(producer_id=" ") == "invalid_event"
    assert outcome(action="studio.roto\n") == "invalid_text"
    assert outcome(asset=dict(EXAMPLE_EVENT["asset"], asset_id="sh010/pl\x00ate")) == (
        "invalid_text"
    )
    assert outcome(description="two lines\nand a\ttab") == "accepted"  # free text
    assert outcome(description="a bell \x07") == "invalid_text"
    bad_likeness = [{"performer_id": "performer:x", "use": "cameo", "consent_ref": None}]
    assert outcome(likeness=bad_likeness) == "invalid_event"
    assert outcome(action="c2pa.roto") == "invalid_event"
    assert outcome(action="roto") == "invalid_event"
    assert outcome(action="c2pa.edited.metadata") == "accepted"
    assert outcome(action="com.example-studio.paint_fix") == "accepted"
    assert outcome(actor=dict(EXAMPLE_EVENT["actor"], kind="ai_model")) == "invalid_event"
    upper = dict(EXAMPLE_EVENT["asset"], content_sha256="B" * 64)
    assert outcome(asset=upper) == "invalid_event"
    # Deprecated / retired terms: never write them, but the consumer still accepts them.
    assert outcome(action="c2pa.copied") == "accepted"
    assert outcome(digital_source_type=IPTC + "minorHumanEdits") == "accepted"


def test_doc_lists_every_reject_reason_code() -> None:
    import ledger.errors as errors

    codes: set[str] = set()
    pending: list[type] = [errors.RejectedInput]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        codes.add(cls.reason)  # type: ignore[attr-defined]
    for folder in ("ledger", "consumers"):
        for path in (ROOT / folder).rglob("*.py"):
            codes |= set(re.findall(r'reason="([a-z_]+)"', path.read_text(encoding="utf-8")))
    codes.discard("rejected")
    table = doc_block("reasons")
    missing = sorted(c for c in codes if f"`{c}`" not in table)
    assert not missing, f"reason codes missing from docs/protocol.md: {missing}"


def test_doc_lists_the_dead_letter_headers_the_consumer_writes() -> None:
    from consumers import deadletter

    b = example()
    rejected = _inspect(b, key=b"wrong")
    headers = deadletter.dead_letter(rejected).headers
    assert headers[: len(b.headers)] == b.headers  # the original headers come first, unchanged
    table = doc_block("dlt-headers")
    added = dict(headers[len(b.headers) :])
    assert added["__connect.errors.topic"] == TOPIC.encode()
    assert added["__connect.errors.exception.class.name"] == b"ledger.errors.HeaderMismatchError"
    assert added["assetledger.reject.reason"] == b"header_mismatch"
    for name in added:
        assert f"`{name}`" in table, name
    bounded = deadletter.dead_letter(rejected, budget=len(b.value) // 2)
    assert bounded.truncated
    for name in dict(bounded.headers).keys() - dict(b.headers).keys():
        assert f"`{name}`" in table, name


def test_doc_lists_the_vocabularies_of_the_code() -> None:
    from ledger.events import vocab

    text = _doc()
    terms = (
        set(vocab.C2PA_ACTIONS)
        | set(vocab.C2PA_DEPRECATED_ACTIONS)
        | set(vocab.DIGITAL_SOURCE_TYPES)
        | set(vocab.RETIRED_DIGITAL_SOURCE_TYPES)
        | set(vocab.RELATIONSHIPS)
        | set(vocab.ACTOR_KINDS)
        | set(vocab.TRAINING_MINING_KINDS)
        | set(vocab.TRAINING_MINING_USES)
        | set(vocab.LIKENESS_USES)
        | set(vocab.CAWG_ROLES)
    )
    missing = sorted(t for t in terms if f"`{t}`" not in text)
    assert not missing, missing
    assert f"`{vocab.IPTC_PREFIX}`" in text
    assert vocab.CUSTOM_ACTION.pattern.strip("^$") in text


@pytest.mark.parametrize(
    ("constant", "value"),
    [
        ("ledger.events.kafka:DEFAULT_TOPIC", TOPIC),
        ("ledger.events.kafka:CE_SPECVERSION", "1.0"),
        ("ledger.trust.dsse:ENVELOPE_CONTENT_TYPE", CONTENT_TYPE),
        ("ledger.events.provenance:PROVENANCE.payload_type", PAYLOAD_TYPE),
        ("ledger.events.provenance:PROVENANCE.ce_type", CE_TYPE),
        ("consumers.inspect:DEFAULT_MAX_BYTES", 1 << 20),
    ],
)
def test_constants_the_independent_emitter_hard_codes_are_the_codes(
    constant: str, value: object
) -> None:
    import importlib

    module, _, path = constant.partition(":")
    obj: Any = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    assert obj == value
    assert f"`{value}`" in _doc()
