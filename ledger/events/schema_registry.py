"""A small Confluent Schema Registry REST client: the schema ids of the Confluent wire format.

Implements :class:`ledger.events.encoding.SchemaIds` with two endpoints of the registry's REST API:

* ``POST /subjects/{subject}/versions`` with ``{"schema": "<schema JSON>"}`` registers a schema
  under a subject (or finds it, when that exact schema is already registered) and answers
  ``{"id": N}``: the id the emitter writes after the ``00`` magic byte;
* ``GET /schemas/ids/{id}`` answers ``{"schema": "<schema JSON>"}`` (``schemaType`` absent or
  ``AVRO``): the consumer resolves an id it reads.

**Subject naming: the record-name strategy** (Confluent's ``RecordNameStrategy``): the subject
of a schema is the Avro full name of its record, e.g. ``io.assetledger.ProvenanceEvent`` and
``io.assetledger.DsseEnvelope``, whatever the topic.  The signed payload inside an envelope is
not the value of any topic, one topic carries several record types (the envelope, and the event
kinds inside it), the dead-letter topic carries the very same bytes, and ``schemas/`` versions
each record on its own: one subject per record versions exactly like the catalog.  Give those
subjects a transitive compatibility mode (``BACKWARD_TRANSITIVE`` or ``FULL_TRANSITIVE``): the
ledger is replayed from offset 0.

A resolved schema must be one of the catalog's released schemas, compared by the CRC-64-AVRO
fingerprint of its Parsing Canonical Form (so ``doc`` and whitespace may differ); anything else
is an :class:`UnknownSchemaError`, as is an id the registry does not know.  Ids are cached both
ways for the life of the client (a registry never reassigns an id).

Errors: an unknown or foreign id is :class:`UnknownSchemaError` (the record is refused as
``unknown_schema``); an unreachable registry or a server error is :class:`BrokerError` (the
consumer rewinds and retries the batch, an emitter's send fails); refused credentials, a URL
that is not a registry and a schema the registry refuses to register are
:class:`ConfigurationError`.  Credentials may be given in the URL
(``https://user:secret@registry.example:8081``, sent as HTTP basic authentication); messages
never show the password.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from ledger.errors import BrokerError, ConfigurationError, UnknownSchemaError
from ledger.events.encoding import (
    SchemaCatalog,
    SchemaVersion,
    default_catalog,
    schema_fingerprint,
)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"
DEFAULT_TIMEOUT = 10.0


def subject_for(schema: SchemaVersion) -> str:
    """The registry subject of a schema: its Avro full name (record-name strategy)."""
    return schema.full_name


def redact_url(url: str) -> str:
    """``url`` without the password of its user info (for messages)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class SchemaRegistryClient:
    """Schema ids from a Confluent Schema Registry at ``url``, checked against the catalog."""

    def __init__(
        self,
        url: str,
        catalog: SchemaCatalog | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_resolved: Callable[[int, SchemaVersion], None] | None = None,
    ) -> None:
        self.on_resolved = on_resolved  # e.g. ledger.store.schema_ids.record_schema_id
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"schema registry URL {redact_url(url)!r} is not an http(s) URL",
                hint="e.g. http://schema-registry:8081",
            )
        self.url = redact_url(url)
        self.catalog = catalog or default_catalog()
        self.timeout = timeout
        self._base = urllib.parse.urlunsplit(
            parts._replace(netloc=parts.netloc.rpartition("@")[2])
        ).rstrip("/")
        self._auth: str | None = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            secret = urllib.parse.unquote(parts.password or "")
            self._auth = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        self._lock = threading.Lock()
        self._ids: dict[bytes, int] = {}  # fingerprint -> id
        self._schemas: dict[int, SchemaVersion] = {}  # id -> catalog schema
        self._foreign: dict[int, str] = {}  # id -> why it is not a catalog schema
        self.requests = 0  # HTTP requests made (observability, tests of the caches)

    # --- SchemaIds ------------------------------------------------------------------------
    def id_for(self, schema: SchemaVersion) -> int:
        """Register ``schema`` under its subject (idempotent) and return its registry id."""
        with self._lock:
            cached = self._ids.get(schema.fingerprint)
        if cached is not None:
            return cached
        subject = subject_for(schema)
        path = f"/subjects/{urllib.parse.quote(subject, safe='')}/versions"
        answer = self._request("POST", path, {"schema": _schema_text(schema)}, what=subject)
        schema_id = answer.get("id")
        if not isinstance(schema_id, int) or isinstance(schema_id, bool) or schema_id < 0:
            raise ConfigurationError(
                f"schema registry {self.url} answered {answer!r} when registering {subject}:"
                " no schema id",
                hint="is this URL a Confluent-compatible Schema Registry?",
            )
        with self._lock:
            self._ids[schema.fingerprint] = schema_id
            self._schemas.setdefault(schema_id, schema)
        return schema_id

    def schema_for(self, schema_id: int) -> SchemaVersion:
        """The catalog schema the registry's ``schema_id`` names; UnknownSchemaError if none."""
        with self._lock:
            known = self._schemas.get(schema_id)
            foreign = self._foreign.get(schema_id)
        if known is not None:
            return known
        if foreign is not None:
            raise UnknownSchemaError(foreign)
        answer = self._request("GET", f"/schemas/ids/{schema_id}", None, what=f"id {schema_id}")
        try:
            schema = self._match(schema_id, answer)
        except UnknownSchemaError as exc:
            with self._lock:
                self._foreign[schema_id] = exc.message
            raise
        with self._lock:
            self._schemas[schema_id] = schema
            self._ids.setdefault(schema.fingerprint, schema_id)
        if self.on_resolved is not None:
            self.on_resolved(schema_id, schema)
        return schema

    # --- helpers ------------------------------------------------------------------------
    def _match(self, schema_id: int, answer: dict[str, Any]) -> SchemaVersion:
        schema_type = answer.get("schemaType", "AVRO")
        text = answer.get("schema")
        if schema_type != "AVRO" or not isinstance(text, str):
            raise UnknownSchemaError(
                f"schema id {schema_id} of registry {self.url} is a {schema_type} schema,"
                " not an Avro schema of asset-ledger"
            )
        try:
            fp = schema_fingerprint(text)
        except ValueError as exc:
            raise UnknownSchemaError(
                f"schema id {schema_id} of registry {self.url} is not a readable Avro schema: {exc}"
            ) from None
        try:
            return self.catalog.by_fingerprint(fp)
        except UnknownSchemaError:
            raise UnknownSchemaError(
                f"schema id {schema_id} of registry {self.url} (fingerprint {fp.hex()}) is not a"
                " released asset-ledger schema",
                hint="upgrade asset-ledger, or check the producer writes a released schema",
            ) from None

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, *, what: str
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self._base + path, data=data, method=method)
        request.add_header("Accept", ACCEPT)
        if data is not None:
            request.add_header("Content-Type", CONTENT_TYPE)
        if self._auth is not None:
            request.add_header("Authorization", self._auth)
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, method, what) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BrokerError(
                f"schema registry {self.url} is unreachable ({reason})",
                hint="check --schema-registry / ASSETLEDGER_SCHEMA_REGISTRY_URL",
            ) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ConfigurationError(
                f"schema registry {self.url} did not answer JSON for {what}",
                hint="is this URL a Confluent-compatible Schema Registry?",
            )
        return answer

    def _http_error(self, exc: urllib.error.HTTPError, method: str, what: str) -> Exception:
        try:
            detail = json.loads(exc.read() or b"{}")
        except ValueError:
            detail = {}
        message = detail.get("message") if isinstance(detail, dict) else None
        told = f"{exc.code} {message or exc.reason}"
        if method == "GET" and exc.code == 404:
            return UnknownSchemaError(f"schema registry {self.url} has no schema {what} ({told})")
        if exc.code in (401, 403):
            return ConfigurationError(
                f"schema registry {self.url} refused the credentials ({told})",
                hint="give them in the URL: https://USER:SECRET@HOST:PORT",
            )
        if exc.code >= 500 or exc.code == 429:
            return BrokerError(f"schema registry {self.url} failed for {what} ({told})")
        if exc.code == 409:
            return ConfigurationError(
                f"schema registry {self.url} refused {what}: incompatible with the subject's"
                f" earlier versions ({told})",
                hint="the subject's compatibility must admit every released asset-ledger schema"
                " (BACKWARD_TRANSITIVE or FULL_TRANSITIVE)",
            )
        return ConfigurationError(f"schema registry {self.url} refused {what} ({told})")


def _schema_text(schema: SchemaVersion) -> str:
    """The schema JSON to register: the released file's text, compacted."""
    return json.dumps(json.loads(schema.text), separators=(",", ":"))
