"""The C2PA bridge: ledger lineage ⇄ C2PA manifests (JSON shapes; no C2PA library needed here).

Export writes one manifest definition per recorded asset version of a lineage, following the
C2PA 2.x rules that c2pa-rs validates:

* the first action is ``c2pa.opened`` naming the ``parentOf`` ingredient, or ``c2pa.created``
  (with its ``digitalSourceType``) when the version has no parent; a version the ledger records
  as *opened* without a recorded parent (a stock intake) gets the file as received as its
  ``parentOf`` ingredient, as C2PA tools do when they open a file without credentials;
* ``componentOf`` ingredients are named by a ``c2pa.placed`` action; the recorded action follows
  (unless it is the first one itself) with ``when``, ``digitalSourceType``, ``softwareAgent``,
  ``description`` and its ``inputTo`` ingredients, where c2pa-rs allows (``opened``,
  ``transcoded`` and ``repackaged`` name only the parent, ``placed`` and ``removed`` only
  components);
* ``cawg.training-mining`` when the version carries AI permissions;
* ``io.assetledger.provenance``, the ledger evidence: the event ids recording the version, this
  event's own fields and, when a signed checkpoint covers it, a C2SP ``tlog-proof@v1`` receipt
  any reader can check offline against the log's public key.

Actions reference ingredients by ``parameters.ingredientIds`` (their ``instance_id``,
``assetledger:<id>@<version>``), which c2pa-rs turns into hashed URIs when it signs.

Reading back: :func:`resolved_actions` turns a signed manifest's hashed ingredient references
into instance ids again.  Import is :mod:`ledger.c2pa.importer`; files (sign, read) are
:mod:`ledger.c2pa.files`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ledger.audit.lineage import ancestry
from ledger.audit.model import LedgerView, Step
from ledger.errors import ConfigurationError
from ledger.events import vocab
from ledger.events.base import format_time, to_json
from ledger.events.provenance import asset_key
from ledger.events.version import assetledger_version
from ledger.log.receipt import make_receipt

ACTIONS_LABEL = "c2pa.actions.v2"
ACTIONS_LABELS = ("c2pa.actions.v2", "c2pa.actions")
TRAINING_MINING_LABEL = "cawg.training-mining"
LEDGER_LABEL = "io.assetledger.provenance"
INSTANCE_PREFIX = "assetledger:"
OPENED, CREATED, PLACED = "c2pa.opened", "c2pa.created", "c2pa.placed"
PASSIVE_ACTIONS = frozenset({OPENED, PLACED})
COMPONENT_ACTIONS = frozenset({PLACED, "c2pa.removed"})  # must name componentOf ingredients
NAMES_ONLY_OWN_KIND = COMPONENT_ACTIONS | {"c2pa.transcoded", "c2pa.repackaged"}
RECEIVED_SUFFIX = "#received"


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
    return {"name": "asset-ledger", "version": assetledger_version()}


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
        for i in ingredients_of(manifest)
    }
    out = []
    for action in actions_of(manifest):
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


def actions_of(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = assertion_data(manifest, ACTIONS_LABELS)
    actions = data.get("actions", []) if isinstance(data, Mapping) else []
    return [a for a in actions if isinstance(a, Mapping) and a.get("action")]


def ingredients_of(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = manifest.get("ingredients", [])
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def assertion_data(manifest: Mapping[str, Any], labels: tuple[str, ...]) -> Any:
    for a in manifest.get("assertions", []) or []:
        if isinstance(a, Mapping) and a.get("label") in labels:
            return a.get("data")
    return None


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
    "LEDGER_LABEL",
    "actions_for",
    "asset_key",
    "export_store",
    "instance_id",
    "ledger_evidence",
    "lineage_signature",
    "manifest_definition",
    "manifest_label",
    "resolved_actions",
]
