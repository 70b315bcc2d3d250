"""The C2PA bridge: ledger lineage ⇄ C2PA manifests (JSON shapes; no C2PA library needed here).

Export writes one manifest definition per recorded asset version of a lineage, following the
C2PA 2.x rules that c2pa-rs validates:

* the first action is ``c2pa.opened`` naming the ``parentOf`` ingredient, or ``c2pa.created``
  (with its ``digitalSourceType``) when the version has no parent; a version the ledger records
  as *opened* without a recorded parent (a stock intake) gets the file as received as its
  ``parentOf`` ingredient, as C2PA tools do when they open a file without credentials;
* ``componentOf`` ingredients are named by a ``c2pa.placed`` action; the recorded action follows
  (unless it is the first one itself) with ``when``, ``digitalSourceType``, ``softwareAgent``,
  ``description`` and its ``inputTo`` ingredients;
* ``cawg.training-mining`` when the version carries AI permissions;
* ``io.assetledger.provenance``, the ledger evidence: the event ids recording the version, this
  event's own fields and, when a signed checkpoint covers it, a C2SP ``tlog-proof@v1`` receipt
  any reader can check offline against the log's public key.

Actions reference ingredients by ``parameters.ingredientIds`` (their ``instance_id``,
``assetledger:<id>@<version>``), which c2pa-rs turns into hashed URIs when it signs.

Import reads a manifest store (Reader JSON: ``active_manifest``, ``manifests``,
``validation_state``) or a single definition and turns each manifest into a provenance event,
ingredients first.  A manifest carrying ``io.assetledger.provenance`` comes back as the event it
carries; a vendor's manifest is mapped from its standard parts (see :func:`import_events`).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import vocab
from ledger.audit.lineage import ancestry
from ledger.audit.model import UNKNOWN_SHA256, LedgerView, Step
from ledger.dsse import Envelope
from ledger.encoding import reader_framing
from ledger.errors import ConfigurationError, RejectedInput, VerificationFailure
from ledger.events import asset_key, format_time, to_json
from ledger.receipt import make_receipt, parse_receipt, verify_receipt

ACTIONS_LABEL = "c2pa.actions.v2"
ACTIONS_LABELS = ("c2pa.actions.v2", "c2pa.actions")
TRAINING_MINING_LABEL = "cawg.training-mining"
LEDGER_LABEL = "io.assetledger.provenance"
INSTANCE_PREFIX = "assetledger:"
OPENED, CREATED, PLACED = "c2pa.opened", "c2pa.created", "c2pa.placed"
_NAMESPACE = uuid.UUID("0b7f5d1c-3f0e-4d55-a3a2-6c1a2f9e4b21")
_HEX64 = re.compile(r"[0-9a-f]{64}")
PASSIVE_ACTIONS = frozenset({OPENED, PLACED})
COMPONENT_ACTIONS = frozenset({PLACED, "c2pa.removed"})  # must name componentOf ingredients
NAMES_ONLY_OWN_KIND = COMPONENT_ACTIONS | {"c2pa.transcoded", "c2pa.repackaged"}
RECEIVED_SUFFIX = "#received"

# Reader validation states (c2pa-rs ValidationState) and what the ledger records of them.
STATE_INVALID = "invalid"
STATE_UNTRUSTED = "untrusted signer"
STATE_VALID = "valid"
STATE_TRUSTED = "trusted"
STATE_UNSIGNED = "not signed"  # a bare definition: nothing was validated
UNTRUSTED_CODE = "signingCredential.untrusted"


def manifest_label(step: Step) -> str:
    """``urn:c2pa:<uuid>``: the event id when it is a random (v4) UUID, as C2PA requires, else
    a v4-shaped UUID derived from it (same event, same label)."""
    event = uuid.UUID(step.event_id)
    if event.version != 4:
        digest = bytearray(hashlib.sha256(b"assetledger-c2pa:" + event.bytes).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x40  # version 4
        digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
        event = uuid.UUID(bytes=bytes(digest))
    return f"urn:c2pa:{event}"


def instance_id(key: str) -> str:
    return INSTANCE_PREFIX + key


def _generator() -> dict[str, str]:
    try:
        version = metadata.version("asset-ledger")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = "0"
    return {"name": "asset-ledger", "version": version}


# --- export ----------------------------------------------------------------------------------


def export_store(view: LedgerView, key: str) -> dict[str, Any]:
    """The lineage of ``key`` as a C2PA manifest store (JSON shape)."""
    lineage = ancestry(view, key)
    root = lineage.nodes[key].step
    if root is None:
        raise ConfigurationError(f"{key} is not recorded in the ledger: nothing to export")
    manifests: dict[str, Any] = {}
    for node in lineage.nodes.values():
        step = node.step
        if step is not None:
            manifests[manifest_label(step)] = manifest_definition(view, step)
    return {"active_manifest": manifest_label(root), "manifests": manifests}


def manifest_definition(
    view: LedgerView, step: Step, media_format: str | None = None
) -> dict[str, Any]:
    """One asset version's provenance as a C2PA manifest definition (``format`` overridable)."""
    ingredients = [_ingredient(view, i.key, i.relationship) for i in step.ingredients]
    if step.action == OPENED and _parent(step) is None:
        ingredients.insert(0, _received(step))
    assertions: list[dict[str, Any]] = [
        {"label": ACTIONS_LABEL, "data": {"actions": actions_for(step, ingredients)}}
    ]
    if step.permissions:
        assertions.append({"label": TRAINING_MINING_LABEL, "data": _training_mining(step)})
    assertions.append({"label": LEDGER_LABEL, "data": ledger_evidence(view, step)})
    return {
        "claim_generator_info": [_generator()],
        "title": step.key,
        "format": media_format or step.media_type,
        "instance_id": instance_id(step.key),
        "label": manifest_label(step),
        "ingredients": ingredients,
        "assertions": assertions,
    }


def _parent(step: Step) -> str | None:
    return next((i.key for i in step.ingredients if i.relationship == "parentOf"), None)


def _received(step: Step) -> dict[str, Any]:
    """The file as received: the parent of a version opened without a recorded parent."""
    return {
        "title": f"{step.key} as received",
        "format": step.media_type,
        "relationship": "parentOf",
        "instance_id": instance_id(step.key) + RECEIVED_SUFFIX,
    }


def actions_for(step: Step, ingredients: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The c2pa.actions.v2 list of one step (C2PA 2.x: created or opened first)."""
    ids = {
        rel: [str(i["instance_id"]) for i in ingredients if i["relationship"] == rel]
        for rel in vocab.RELATIONSHIPS
    }
    parents, components, inputs = ids["parentOf"], ids["componentOf"], ids["inputTo"]
    first: dict[str, Any] = (
        {"action": OPENED, "parameters": {"ingredientIds": parents[:1]}}
        if parents
        else {"action": CREATED, "digitalSourceType": _source_uri(step)}
    )
    details = _details(step)
    # c2pa-rs: opened and transcoded/repackaged name only parentOf ingredients, placed and
    # removed only componentOf ones; inputTo ingredients go on any other action, else no action
    # names them (C2PA does not require it)
    if step.action in (OPENED, CREATED):
        first.update(details)  # the recorded inception (an opened/created mismatch keeps its type)
        if first["action"] == CREATED:
            _name_ingredients(first, inputs)
        return [first, *_placed(components)]
    own = {"action": step.action, **details}
    if step.action in COMPONENT_ACTIONS and components:
        _name_ingredients(own, components)
        components = []
    if step.action not in NAMES_ONLY_OWN_KIND:
        _name_ingredients(own, inputs)
    return [first, *_placed(components), own]


def _name_ingredients(action: dict[str, Any], ids: Sequence[str]) -> None:
    if ids:
        action.setdefault("parameters", {}).setdefault("ingredientIds", []).extend(ids)


def _placed(components: Sequence[str]) -> list[dict[str, Any]]:
    return (
        [{"action": PLACED, "parameters": {"ingredientIds": list(components)}}]
        if components
        else []
    )


def _source_uri(step: Step) -> str:
    return vocab.normalise_source_type(step.source_type)


def _details(step: Step) -> dict[str, Any]:
    details: dict[str, Any] = {"when": format_time(step.event_time)}
    details["digitalSourceType"] = _source_uri(step)
    agent = _software_agent(step)
    if agent:
        details["softwareAgent"] = agent
    if step.description:
        details["description"] = step.description
    return details


def _software_agent(step: Step) -> dict[str, str] | None:
    if step.model is not None:
        return {"name": step.model.name, "version": step.model.version}
    if step.tool:
        name, _, version = step.tool.rpartition(" ")
        return {"name": name or step.tool, "version": version}
    return None


def _training_mining(step: Step) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for p in step.permissions:
        entry: dict[str, Any] = {"use": p.use}
        if p.constraint_info:
            entry["constraint_info"] = p.constraint_info
        entries[p.use_kind] = entry
    return {"entries": entries}


def _ingredient(view: LedgerView, key: str, relationship: str) -> dict[str, Any]:
    recorded = view.recorded(key)
    item: dict[str, Any] = {
        "title": key,
        "format": recorded[0].media_type if recorded else "application/octet-stream",
        "relationship": relationship,
        "instance_id": instance_id(key),
    }
    if recorded:
        item["active_manifest"] = manifest_label(recorded[-1])
    return item


def ledger_evidence(view: LedgerView, step: Step) -> dict[str, Any]:
    """The ``io.assetledger.provenance`` assertion: where the ledger proves this version."""
    event = to_json(view.decode(view.entry(step.seq)))
    evidence: dict[str, Any] = {
        "asset": step.key,
        "event_ids": [s.event_id for s in view.recorded(step.key)],
        "event": event,
        "ledger_index": step.seq,
        "tree_size": view.state.size,
    }
    if view.state.signed and view.state.note is not None and step.seq < view.state.size:
        proof = view.store.tree(view.state.size).inclusion_proof(step.seq, view.state.size)
        evidence["receipt"] = make_receipt(
            view.entry(step.seq).envelope, step.seq, proof, view.state.note
        )
    return evidence


# --- reading a store back --------------------------------------------------------------------


def resolved_actions(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's actions with ingredient references as instance ids (``ingredientIds``).

    A signed manifest names ingredients by hashed URI (``parameters.ingredients[].url``, e.g.
    ``self#jumbf=c2pa.assertions/c2pa.ingredient.v3__1``); this maps each back to the
    ingredient's ``instance_id``, so a read-back manifest compares with its definition.
    """
    by_label = {
        str(i.get("label")): str(i.get("instance_id") or i.get("title") or "")
        for i in _ingredients(manifest)
    }
    out = []
    for action in _actions(manifest):
        action = dict(action)
        params = action.get("parameters")
        if isinstance(params, Mapping) and "ingredients" in params:
            params = dict(params)
            refs = params.pop("ingredients")
            params["ingredientIds"] = [
                by_label.get(_uri_label(r), _uri_label(r)) for r in refs if isinstance(r, Mapping)
            ]
            action["parameters"] = params
        out.append(action)
    return out


def _uri_label(ref: Mapping[str, Any]) -> str:
    return str(ref.get("url", "")).rpartition("/")[2]


def _actions(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = _assertion(manifest, ACTIONS_LABELS)
    actions = data.get("actions", []) if isinstance(data, Mapping) else []
    return [a for a in actions if isinstance(a, Mapping) and a.get("action")]


def _ingredients(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = manifest.get("ingredients", [])
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportDefaults:
    """What a vendor manifest does not say, supplied by whoever imports it."""

    vendor: str | None = None  # organisation name; default: the claim generator's name
    production: str | None = None  # "show" or "show/episode"
    asset: str | None = None  # "id@version" for the active manifest
    content_sha256: str | None = None  # of the active manifest's asset
    media_type: str | None = None  # of the active manifest's asset (a signed file's format)
    # SHA-256 of ingredient files given by the importer, by file name and by C2PA manifest label
    ingredient_hashes: Mapping[str, str] = field(default_factory=dict)
    # whole-file hard bindings (c2pa.hash.data without exclusions), by manifest label
    bindings: Mapping[str, str] = field(default_factory=dict)
    # the ledger's log (origin, public key): manifests carrying ledger evidence are restored
    # only when their tlog-proof receipt verifies against it; without it they are skipped
    log_key: tuple[str, Ed25519PublicKey] | None = None


@dataclass(frozen=True)
class Validation:
    """What the C2PA reader concluded about a manifest store."""

    state: str  # one of the STATE_* values
    codes: tuple[str, ...]  # failure codes


def validation_of(document: Mapping[str, Any]) -> Validation:
    """The store's validation state as the ledger records it (Reader JSON fields)."""
    raw = document.get("validation_state")
    failures = _failure_codes(document)
    if raw is None and "validation_status" not in document:
        return Validation(STATE_UNSIGNED, ())
    state = str(raw or "").lower()
    if state == "invalid" or (not state and set(failures) - {UNTRUSTED_CODE}):
        return Validation(STATE_INVALID, failures)
    if state == "trusted":
        return Validation(STATE_TRUSTED, failures)
    if UNTRUSTED_CODE in failures:
        return Validation(STATE_UNTRUSTED, failures)
    return Validation(STATE_VALID, failures)


def _failure_codes(document: Mapping[str, Any]) -> tuple[str, ...]:
    results = document.get("validation_results")
    found: list[Any] = []
    if isinstance(results, Mapping) and isinstance(results.get("activeManifest"), Mapping):
        found = list(results["activeManifest"].get("failure") or [])
    elif isinstance(document.get("validation_status"), list):
        found = list(document["validation_status"])
    return tuple(sorted({str(f.get("code")) for f in found if isinstance(f, Mapping)}))


def manifests_of(document: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """(active label, manifests by label) of a manifest store or a single definition."""
    if isinstance(document.get("manifests"), Mapping):
        manifests = {
            str(k): dict(v) for k, v in document["manifests"].items() if isinstance(v, Mapping)
        }
        active = document.get("active_manifest") or next(iter(manifests), None)
        if active not in manifests:
            raise ConfigurationError(
                "the manifest store's active_manifest is not among its manifests"
            )
        return str(active), manifests
    if not isinstance(document.get("assertions"), list):
        raise ConfigurationError(
            "this JSON is neither a C2PA manifest store (active_manifest, manifests) nor a "
            "manifest definition (assertions)",
            hint="give a C2PA-signed file, or the JSON its Reader prints",
        )
    label = str(document.get("label") or "urn:c2pa:imported")
    return label, {label: dict(document)}


def import_events(document: Mapping[str, Any], defaults: ImportDefaults) -> list[dict[str, Any]]:
    """Provenance event JSON for every manifest, ingredients before the assets they made.

    A store the reader found invalid is refused (:class:`VerificationFailure`).  Each vendor
    event's description records the reader's verdict (valid, trusted or untrusted signer).
    """
    validation = validation_of(document)
    if validation.state == STATE_INVALID:
        raise VerificationFailure(
            "the C2PA manifest store does not validate: " + ", ".join(validation.codes),
            hint="ask the vendor for a delivery whose manifest validates; nothing was imported",
        )
    active, manifests = manifests_of(document)
    order = _ingredients_first(active, manifests)
    context = _Context(manifests, defaults, validation)
    events = [context.event(label, label == active) for label in order]
    kept = [e for e in events if e is not None]
    if not kept:
        raise ConfigurationError(
            "every manifest here carries ledger evidence, so it is the ledger's own record; "
            "without the log's key nothing can be restored",
            hint="pass --log-key (the ledger's C2SP verifier key) to restore the ledger's "
            "events from their receipts",
        )
    return kept


def _ingredients_first(active: str, manifests: Mapping[str, dict[str, Any]]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(label: str) -> None:
        if label in seen or label not in manifests:
            return
        seen.add(label)
        for ing in _ingredients(manifests[label]):
            visit(str(ing.get("active_manifest") or ""))
        order.append(label)

    visit(active)
    for label in manifests:
        visit(label)
    return order


def _assertion(manifest: Mapping[str, Any], labels: tuple[str, ...]) -> Any:
    for a in manifest.get("assertions", []) or []:
        if isinstance(a, Mapping) and a.get("label") in labels:
            return a.get("data")
    return None


def carried_event(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ledger event an ``io.assetledger.provenance`` assertion carries, if any."""
    labels = [
        a.get("label") for a in manifest.get("assertions", []) or [] if isinstance(a, Mapping)
    ]
    if LEDGER_LABEL not in labels:
        return None
    data = _assertion(manifest, (LEDGER_LABEL,))
    event = data.get("event") if isinstance(data, Mapping) else None
    asset = event.get("asset") if isinstance(event, Mapping) else None
    if (
        not isinstance(event, Mapping)
        or not isinstance(asset, Mapping)
        or not all(isinstance(asset.get(k), str) for k in ("asset_id", "version", "content_sha256"))
    ):
        raise ConfigurationError(
            f"manifest {str(manifest.get('title', '?'))[:200]!r} has a malformed "
            f"{LEDGER_LABEL} assertion (no event with asset id, version and content hash)"
        )
    return dict(event)


def proven_event(
    manifest: Mapping[str, Any], log_key: tuple[str, Ed25519PublicKey]
) -> dict[str, Any]:
    """The event a manifest's ledger evidence carries, once its receipt proves it.

    The receipt must verify against the log's key (checkpoint signature, inclusion), and the
    entry it proves must be that very event: a manifest whose evidence was edited, or that
    carries another log's receipt, is refused (:class:`VerificationFailure`).
    """
    title = str(manifest.get("title", "?"))[:200]
    data = _assertion(manifest, (LEDGER_LABEL,))
    receipt = data.get("receipt") if isinstance(data, Mapping) else None
    if not isinstance(receipt, str):
        raise VerificationFailure(
            f"manifest {title!r} carries ledger evidence without a receipt, so nothing proves "
            "the ledger holds its event",
            hint="export from a ledger with a signed checkpoint covering the event",
        )
    origin, public_key = log_key
    try:
        verify_receipt(receipt, origin, public_key)
        framing = reader_framing()
        envelope = Envelope.decode(parse_receipt(receipt).entry, framing)
        proven = to_json(framing.decode(envelope.payload)[1])
    except VerificationFailure as exc:
        raise VerificationFailure(f"manifest {title!r}: its receipt fails: {exc.message}") from exc
    except RejectedInput as exc:
        raise VerificationFailure(f"manifest {title!r}: its receipt's entry: {exc}") from exc
    if not isinstance(proven, dict) or proven != carried_event(manifest):
        raise VerificationFailure(
            f"manifest {title!r} carries an event that is not the one its receipt proves"
        )
    return proven


@dataclass
class _Context:
    manifests: Mapping[str, dict[str, Any]]
    defaults: ImportDefaults
    validation: Validation

    def event(self, label: str, active: bool) -> dict[str, Any] | None:
        """The event of one manifest; None for ledger evidence that cannot be verified."""
        manifest = self.manifests[label]
        if carried_event(manifest) is not None:
            if self.defaults.log_key is None:
                return None  # the ledger's own record: restored only from a verified receipt
            event = proven_event(manifest, self.defaults.log_key)
        else:
            event = self.mapped(label, manifest, active)
            event["event_id"] = str(uuid.uuid5(_NAMESPACE, f"c2pa-import:{label}"))
        event.pop("producer_id", None)
        event.pop("producer_seq", None)
        return event

    def mapped(self, label: str, manifest: Mapping[str, Any], active: bool) -> dict[str, Any]:
        d = self.defaults
        action = _primary_action(manifest)
        source_type = _source_type(action)
        asset_id, version = _identity(manifest, active, d)
        vendor = d.vendor or _generator_name(manifest)
        agent = action.get("softwareAgent")
        agent = agent if isinstance(agent, Mapping) else ({"name": agent} if agent else None)
        event: dict[str, Any] = {
            "production": _production(d),
            "asset": {
                "asset_id": asset_id,
                "version": version,
                "content_sha256": self.content_hash(label, manifest, active),
                "media_type": self.media_type(manifest, active),
                "location": None,
            },
            "actor": {
                "actor_id": "org:" + _slug(vendor),
                "kind": "organisation",
                "display_name": vendor,
                "role": "cawg.contributor",
            },
            "action": action["action"],
            "digital_source_type": source_type,
            "ingredients": [self.ingredient(i) for i in _ingredients(manifest)],
            "rights": {"licence": None, "training_mining": _permissions(manifest)},
            "description": self.description(label, manifest, action),
        }
        if when := action.get("when"):
            event["event_time"] = when
        if agent:
            event["tool"] = {
                "name": str(agent.get("name")),
                "version": str(agent.get("version") or ""),
                "vendor": vendor,
            }
            if vocab.source_type_term(source_type) in vocab.GENERATIVE_AI_SOURCE_TYPES | {
                "algorithmicallyEnhanced",
                "algorithmicMedia",
            }:
                event["model"] = {
                    "name": str(agent.get("name")),
                    "version": str(agent.get("version") or ""),
                    "provider": vendor,
                    "licence": None,
                    "training_data": None,
                }
        return event

    def media_type(self, manifest: Mapping[str, Any], active: bool) -> str:
        if active and self.defaults.media_type:
            return self.defaults.media_type
        found = manifest.get("format") or self.formats.get(str(manifest.get("label") or ""))
        return str(found or "application/octet-stream")

    @property
    def formats(self) -> dict[str, str]:
        """Each ingredient manifest's format, as the ingredient entries pointing to it say."""
        return {
            str(i["active_manifest"]): str(i.get("format"))
            for m in self.manifests.values()
            for i in _ingredients(m)
            if i.get("active_manifest") and i.get("format")
        }

    def description(
        self, label: str, manifest: Mapping[str, Any], action: Mapping[str, Any]
    ) -> str:
        text = str(
            action.get("description")
            or f"imported from C2PA manifest {manifest.get('title', '')}".strip()
        )
        signer = manifest.get("signature_info")
        by = ""
        if isinstance(signer, Mapping) and signer.get("common_name"):
            by = f", signed by {signer.get('common_name')} ({signer.get('issuer', '?')})"
        codes = [c for c in self.validation.codes if c != UNTRUSTED_CODE]
        extra = f"; codes: {', '.join(codes)}" if codes else ""
        return f"{text} [C2PA {label}: {self.validation.state}{by}{extra}]"

    def content_hash(self, label: str, manifest: Mapping[str, Any], active: bool) -> str:
        d = self.defaults
        if active and d.content_sha256:
            return d.content_sha256.lower()
        given = self.defaults.ingredient_hashes
        found = (
            given.get(label)
            or given.get(str(manifest.get("title") or ""))
            or self.bound_hash(label)
            or _hex(manifest.get("hash"))
        )
        if found:
            return found
        if not active:  # an ingredient's own manifest: recorded, its hash unknown
            return UNKNOWN_SHA256
        raise ConfigurationError(
            f"manifest {manifest.get('title', '?')!r} states no SHA-256 of its asset",
            hint="pass --file (or --content-sha256) for the delivered asset",
        )

    def bound_hash(self, label: str | None) -> str | None:
        return self.defaults.bindings.get(label) if label else None

    def ingredient(self, ing: Mapping[str, Any]) -> dict[str, Any]:
        target = self.manifests.get(str(ing.get("active_manifest") or ""))
        carried = carried_event(target) if target is not None else None
        if carried is not None:
            asset_id, version = carried["asset"]["asset_id"], carried["asset"]["version"]
        else:
            instance = str(ing.get("instance_id") or "")
            if target is not None and str(target.get("instance_id") or "").startswith(
                INSTANCE_PREFIX
            ):
                instance = str(target["instance_id"])
            asset_id, version = _key_of(instance, str(ing.get("title") or ""))
        return {
            "asset_id": asset_id,
            "version": version,
            "content_sha256": self.ingredient_hash(ing, carried),
            "relationship": str(ing.get("relationship") or "componentOf"),
        }

    def ingredient_hash(self, ing: Mapping[str, Any], carried: Mapping[str, Any] | None) -> str:
        """From the files given, the ledger event the ingredient's manifest carries, a
        whole-file hard binding, a stated ``hash``; else unknown (the audit reports it)."""
        given = self.defaults.ingredient_hashes
        label = str(ing.get("active_manifest") or "")
        for name in (label, str(ing.get("title") or "")):
            if name and name in given:
                return given[name]
        if carried is not None:
            return str(carried["asset"]["content_sha256"])
        return self.bound_hash(label) or _hex(ing.get("hash")) or UNKNOWN_SHA256


def _hex(value: Any) -> str | None:
    text = str(value or "").lower()
    return text if _HEX64.fullmatch(text) else None


def _primary_action(manifest: Mapping[str, Any]) -> dict[str, Any]:
    actions = _actions(manifest)
    if not actions:
        raise ConfigurationError(
            f"manifest {manifest.get('title', '?')!r} has no c2pa.actions assertion"
        )
    active = [a for a in actions if a["action"] not in PASSIVE_ACTIONS]
    return dict((active or actions[:1])[-1])


def _source_type(action: Mapping[str, Any]) -> str:
    value = action.get("digitalSourceType")
    if value:
        return vocab.normalise_source_type(str(value))
    default = "digitalCreation" if action["action"] == CREATED else "humanEdits"
    return vocab.normalise_source_type(default)


def _identity(manifest: Mapping[str, Any], active: bool, d: ImportDefaults) -> tuple[str, str]:
    if active and d.asset:
        asset_id, _, version = d.asset.rpartition("@")
        if not asset_id or not version:
            raise ConfigurationError("--asset must be ID@VERSION")
        return asset_id, version
    return _key_of(str(manifest.get("instance_id") or ""), str(manifest.get("title") or ""))


def _key_of(instance: str, title: str) -> tuple[str, str]:
    if instance.startswith(INSTANCE_PREFIX):
        asset_id, _, version = instance[len(INSTANCE_PREFIX) :].rpartition("@")
        if asset_id and version:
            return asset_id, version
    if not instance and not title:
        raise ConfigurationError("a manifest or ingredient has neither instance_id nor title")
    digest = hashlib.sha256((instance or title).encode()).hexdigest()[:12]
    return f"c2pa/{_slug(title or instance)}", f"c2pa-{digest}"


def _permissions(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    data = _assertion(manifest, (TRAINING_MINING_LABEL, "c2pa.training-mining")) or {}
    entries = data.get("entries", {}) if isinstance(data, Mapping) else {}
    return [
        {"use_kind": kind, "use": e.get("use"), "constraint_info": e.get("constraint_info")}
        for kind, e in sorted(entries.items())
        if isinstance(e, Mapping)
    ]


def _production(d: ImportDefaults) -> dict[str, Any]:
    if not d.production:
        raise ConfigurationError(
            "the manifest does not say which production it belongs to",
            hint="pass --production SHOW or SHOW/EPISODE",
        )
    show, _, episode = d.production.partition("/")
    return {"show": show, "episode": episode or None, "sequence": None, "shot": None}


def _generator_name(manifest: Mapping[str, Any]) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], Mapping) and info[0].get("name"):
        return str(info[0]["name"])
    return str(manifest.get("claim_generator") or "unknown vendor").split("/")[0]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def lineage_signature(view: LedgerView, key: str) -> list[tuple[Any, ...]]:
    """What must survive a round trip: nodes, their steps' statements, and the edges."""
    lineage = ancestry(view, key)
    nodes = sorted(
        (
            n.key,
            tuple(
                (
                    s.action,
                    s.source_type,
                    s.actor.actor_id,
                    s.content_sha256,
                    s.model.label if s.model else None,
                )
                for s in n.steps
            ),
        )
        for n in lineage.nodes.values()
    )
    edges = sorted((e.product, e.ingredient, e.relationship, e.status) for e in lineage.edges)
    return [*nodes, *edges]


__all__ = [
    "ImportDefaults",
    "Validation",
    "asset_key",
    "export_store",
    "import_events",
    "lineage_signature",
    "manifest_definition",
    "resolved_actions",
    "validation_of",
]
