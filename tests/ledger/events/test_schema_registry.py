"""The Confluent Schema Registry client, over real HTTP, and the Confluent framing built on it.

No Schema Registry runs here, so :class:`FakeSchemaRegistry` stands in for Confluent Schema
Registry's REST API: a real HTTP server (stdlib ``http.server``, in a thread, on 127.0.0.1)
implementing the two endpoints the client uses — ``POST /subjects/{subject}/versions`` and
``GET /schemas/ids/{id}`` — with the registry's JSON bodies, content type and error bodies
(``{"error_code": 40403, "message": ...}``).  Like the real registry it gives one id per distinct
schema, whatever the subject, and never reuses an id.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from consumers.inspect import RawRecord, inspect
from demo.story import production
from ledger.errors import BrokerError, ConfigurationError, UnknownSchemaError
from ledger.events.encoding import MultiFraming, default_catalog
from ledger.events.kinds import prepare
from ledger.events.provenance import PROVENANCE
from ledger.events.schema_registry import SchemaRegistryClient, redact_url, subject_for
from ledger.store import PendingEntry, Quarantined
from ledger.trust import dsse, keys
from ledger.trust.policy import FolderTrust
from producers.emitter import build_message, fill_producer

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class FakeSchemaRegistry:
    """A stand-in for Confluent Schema Registry's REST API (see the module docstring)."""

    def __init__(self, *, first_id: int = 1, credentials: tuple[str, str] | None = None) -> None:
        self.next_id = first_id
        self.schemas: dict[int, dict[str, Any]] = {}  # id -> {"schema": ..., "schemaType"?: ...}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None  # answer every request with this HTTP status
        self.refuse_subjects: set[str] = set()  # 409: incompatible
        self.credentials = credentials
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url_with(self, user: str, secret: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{user}:{secret}@{host!s}:{port}"

    def __enter__(self) -> FakeSchemaRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def add(self, schema: str, schema_type: str | None = None) -> int:
        """Register a schema directly (as another team's producer would); return its id."""
        with self.lock:
            for schema_id, stored in self.schemas.items():
                if stored["schema"] == schema and stored.get("schemaType") == schema_type:
                    return schema_id
            schema_id = self.next_id
            self.next_id += 1
            self.schemas[schema_id] = {"schema": schema}
            if schema_type is not None:
                self.schemas[schema_id]["schemaType"] = schema_type
            return schema_id

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                registry.requests.append((self.command, self.path))
                if registry.fail_with is not None:
                    self._answer(registry.fail_with, {"error_code": 50001, "message": "boom"})
                    return True
                if registry.credentials is not None:
                    user, secret = registry.credentials
                    want = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self._answer(401, {"error_code": 40101, "message": "Unauthorized"})
                        return True
                return False

            def do_POST(self) -> None:
                if self._refused():
                    return
                parts = self.path.split("/")
                if len(parts) != 4 or parts[1] != "subjects" or parts[3] != "versions":
                    self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
                    return
                subject = parts[2]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    json.loads(body["schema"])
                except (KeyError, ValueError):
                    self._answer(422, {"error_code": 42201, "message": "Invalid schema"})
                    return
                if subject in registry.refuse_subjects:
                    self._answer(409, {"error_code": 409, "message": "incompatible"})
                    return
                schema_id = registry.add(body["schema"], body.get("schemaType"))
                with registry.lock:
                    versions = registry.subjects.setdefault(subject, [])
                    if schema_id not in versions:
                        versions.append(schema_id)
                self._answer(200, {"id": schema_id})

            def do_GET(self) -> None:
                if self._refused():
                    return
                parts = self.path.split("/")
                if len(parts) == 4 and parts[1:3] == ["schemas", "ids"] and parts[3].isdigit():
                    stored = registry.schemas.get(int(parts[3]))
                    if stored is not None:
                        self._answer(200, stored)
                        return
                    message = f"Schema {parts[3]} not found"
                    self._answer(404, {"error_code": 40403, "message": message})
                    return
                self._answer(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

        return Handler


@pytest.fixture
def registry() -> Iterator[FakeSchemaRegistry]:
    with FakeSchemaRegistry(first_id=100001) as fake:
        yield fake


CURRENT = default_catalog().current("provenance_event")
ENVELOPE = default_catalog().current("dsse_envelope")


# --- the client ----------------------------------------------------------------------------


def test_register_uses_the_record_name_subject_and_caches_the_id(
    registry: FakeSchemaRegistry,
) -> None:
    client = SchemaRegistryClient(registry.url)
    schema_id = client.id_for(CURRENT)
    assert subject_for(CURRENT) == "io.assetledger.ProvenanceEvent"
    assert registry.subjects == {"io.assetledger.ProvenanceEvent": [schema_id]}
    assert registry.requests == [("POST", "/subjects/io.assetledger.ProvenanceEvent/versions")]
    # The registered text is the released schema (docs, logical types and all).
    assert json.loads(registry.schemas[schema_id]["schema"]) == json.loads(CURRENT.text)
    assert client.id_for(CURRENT) == schema_id  # cached: no second request
    assert client.schema_for(schema_id) is CURRENT  # the reverse cache was filled too
    assert len(registry.requests) == 1
    envelope_id = client.id_for(ENVELOPE)
    assert envelope_id != schema_id
    assert registry.subjects["io.assetledger.DsseEnvelope"] == [envelope_id]


def test_registering_again_from_another_client_gets_the_same_id(
    registry: FakeSchemaRegistry,
) -> None:
    first = SchemaRegistryClient(registry.url).id_for(CURRENT)
    assert SchemaRegistryClient(registry.url).id_for(CURRENT) == first


def test_resolve_an_id_once_and_match_the_catalog_by_fingerprint(
    registry: FakeSchemaRegistry,
) -> None:
    # Registered by someone else, laid out differently: same canonical form, same schema.
    schema_id = registry.add(json.dumps(json.loads(CURRENT.text), indent=4))
    client = SchemaRegistryClient(registry.url)
    assert client.schema_for(schema_id) is CURRENT
    assert client.schema_for(schema_id) is CURRENT
    assert registry.requests == [("GET", f"/schemas/ids/{schema_id}")]
    assert client.id_for(CURRENT) == schema_id  # learnt from the resolution: no POST
    assert len(registry.requests) == 1


def test_older_released_versions_resolve_to_themselves(registry: FakeSchemaRegistry) -> None:
    v1 = default_catalog().versions("provenance_event")[0]
    schema_id = registry.add(v1.text)
    assert SchemaRegistryClient(registry.url).schema_for(schema_id) is v1


def test_unknown_id_is_unknown_schema(registry: FakeSchemaRegistry) -> None:
    client = SchemaRegistryClient(registry.url)
    with pytest.raises(UnknownSchemaError, match=r"has no schema id 4242 \(404 Schema 4242 not"):
        client.schema_for(4242)
    assert UnknownSchemaError("x").reason == "unknown_schema"


def test_a_schema_not_in_the_catalog_is_unknown_schema_and_remembered(
    registry: FakeSchemaRegistry,
) -> None:
    foreign = json.dumps(
        {"type": "record", "name": "Other", "namespace": "com.example", "fields": []}
    )
    altered = json.loads(CURRENT.text)
    altered["fields"] = altered["fields"][1:]  # a ProvenanceEvent that was never released
    ids = [registry.add(foreign), registry.add(json.dumps(altered))]
    client = SchemaRegistryClient(registry.url)
    for schema_id in ids:
        for _ in range(2):
            with pytest.raises(UnknownSchemaError, match="is not a released asset-ledger schema"):
                client.schema_for(schema_id)
    assert len(registry.requests) == 2  # a foreign id is asked for once


def test_a_schema_of_another_type_is_unknown_schema(registry: FakeSchemaRegistry) -> None:
    schema_id = registry.add('{"type": "object"}', schema_type="JSON")
    with pytest.raises(UnknownSchemaError, match="is a JSON schema, not an Avro schema"):
        SchemaRegistryClient(registry.url).schema_for(schema_id)


def test_unreachable_or_failing_registry_is_a_broker_error(registry: FakeSchemaRegistry) -> None:
    """Not the record's fault: the consumer must retry the batch, not dead-letter it."""
    with socket.socket() as bound:  # bound, not listening: refused, and no one else's port
        bound.bind(("127.0.0.1", 0))
        down = SchemaRegistryClient(f"http://127.0.0.1:{bound.getsockname()[1]}", timeout=2)
        with pytest.raises(BrokerError, match="is unreachable"):
            down.schema_for(1)
        with pytest.raises(BrokerError, match="is unreachable"):
            down.id_for(CURRENT)
    registry.fail_with = 500
    with pytest.raises(BrokerError, match=r"failed for id 1 \(500 boom\)"):
        SchemaRegistryClient(registry.url).schema_for(1)


def test_refusals_are_configuration_errors(registry: FakeSchemaRegistry) -> None:
    registry.refuse_subjects.add(CURRENT.full_name)
    with pytest.raises(ConfigurationError, match="incompatible") as caught:
        SchemaRegistryClient(registry.url).id_for(CURRENT)
    assert caught.value.hint is not None and "TRANSITIVE" in caught.value.hint
    with pytest.raises(ConfigurationError, match="not an http"):
        SchemaRegistryClient("kafka://127.0.0.1:9092")


def test_credentials_in_the_url_are_sent_and_never_shown() -> None:
    with FakeSchemaRegistry(credentials=("ledger", "s3cret")) as registry:
        client = SchemaRegistryClient(registry.url_with("ledger", "s3cret"))
        assert "s3cret" not in client.url
        assert client.schema_for(client.id_for(CURRENT)) is CURRENT
        wrong = SchemaRegistryClient(registry.url_with("ledger", "guess"))
        with pytest.raises(ConfigurationError, match="refused the credentials") as caught:
            wrong.id_for(CURRENT)
        assert "guess" not in str(caught.value)
    assert redact_url("https://u:p@h:1/x") == "https://u:***@h:1/x"
    assert redact_url("http://h:1") == "http://h:1"


# --- the framing and the consumer's checks over the client ----------------------------------

ARTIST = keys.generate("artist")


def _event() -> dict[str, Any]:
    return dict(production()[0][1])


def test_confluent_framing_through_the_registry(registry: FakeSchemaRegistry) -> None:
    emitting = MultiFraming(registry=SchemaRegistryClient(registry.url))
    record = prepare(PROVENANCE, fill_producer(_event(), PROVENANCE, "/t"))
    data = emitting.encode("provenance_event", record)
    assert data[0] == 0
    (schema_id,) = struct.unpack(">I", data[1:5])
    assert registry.schemas[schema_id]  # the id the registry gave
    reading = MultiFraming(registry=SchemaRegistryClient(registry.url))  # a fresh consumer
    schema, decoded = reading.decode(data)
    assert schema is CURRENT
    assert decoded["asset"]["asset_id"] == _event()["asset"]["asset_id"]
    with pytest.raises(UnknownSchemaError):
        reading.decode(b"\x00" + struct.pack(">I", 7) + data[5:])


def _raw(message: Any) -> RawRecord:
    return RawRecord("provenance.events", 0, 3, message.key, message.value, tuple(message.headers))


def test_a_confluent_record_passes_every_check_of_the_consumer(
    registry: FakeSchemaRegistry,
) -> None:
    framing = MultiFraming(registry=SchemaRegistryClient(registry.url))
    message = build_message(_event(), ARTIST, source="/t", framing=framing)
    # Both the value and the signed payload are Confluent-framed; the signature is over the
    # payload exactly as sent, 00 and schema id included.
    consumer_framing = MultiFraming(registry=SchemaRegistryClient(registry.url))
    envelope = dsse.Envelope.decode(message.value, consumer_framing)
    assert message.value[:1] == b"\x00" and envelope.payload[:1] == b"\x00"
    assert struct.unpack(">I", message.value[1:5])[0] == registry.subjects[ENVELOPE.full_name][0]
    assert struct.unpack(">I", envelope.payload[1:5])[0] == registry.subjects[CURRENT.full_name][0]
    dsse.verify_signature(envelope, ARTIST.key_id, ARTIST.public)
    trust = FolderTrust({ARTIST.key_id: ARTIST.public})
    outcome = inspect(_raw(message), trust, consumer_framing)
    assert isinstance(outcome, PendingEntry), outcome
    assert outcome.envelope == message.value  # the ledger keeps the exact bytes
    assert outcome.event_id == message.event_id
    # The same record, read by a consumer without a registry, is refused, not guessed at.
    refused = inspect(_raw(message), trust, MultiFraming())
    assert isinstance(refused, Quarantined) and refused.reason == "undecodable"
    assert "no Schema Registry is configured" in refused.detail


def test_a_single_object_record_is_still_accepted_by_a_registry_consumer(
    registry: FakeSchemaRegistry,
) -> None:
    message = build_message(_event(), ARTIST, source="/t")
    assert message.value[:2] == b"\xc3\x01"
    trust = FolderTrust({ARTIST.key_id: ARTIST.public})
    framing = MultiFraming(registry=SchemaRegistryClient(registry.url))
    assert isinstance(inspect(_raw(message), trust, framing), PendingEntry)
    assert registry.requests == []  # single-object encoding needs no registry
