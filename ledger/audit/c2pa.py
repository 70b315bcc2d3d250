"""The C2PA bridge: ledger lineage ⇄ C2PA manifest JSON.

Export writes a manifest store in the JSON shape C2PA readers print (``active_manifest`` plus
``manifests`` by label), one manifest per recorded asset version of the lineage.  Each manifest
is a manifest definition C2PA tools accept (``claim_generator_info``, ``title``, ``format``,
``instance_id``, ``ingredients`` with ``relationship``, and assertions): a ``c2pa.actions.v2``
assertion with ``digitalSourceType`` and ``softwareAgent``, a ``cawg.training-mining``
assertion when the asset carries AI permissions, and an ``io.assetledger.provenance``
assertion with the signed event's own fields, so nothing is lost on the way back.

Import reads such a store, or a single manifest definition from a vendor, and turns each
manifest into a provenance event (ingredients first), ready to sign and emit.  Vendor manifests
without the ``io.assetledger.provenance`` assertion are mapped from their standard parts: the
primary action, its digitalSourceType and softwareAgent, the ingredients and relationships;
who made it is the vendor (an organisation), and an AI action names its software agent as the
model, with no licence or training-data declaration unless the manifest carries one.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ledger.audit.lineage import ancestry
from ledger.audit.model import LedgerView, Step
from ledger.errors import ConfigurationError
from ledger.events import vocab
from ledger.events.base import format_time, to_json
from ledger.events.provenance import asset_key

ACTIONS_LABEL = "c2pa.actions.v2"
ACTIONS_LABELS = ("c2pa.actions.v2", "c2pa.actions")
TRAINING_MINING_LABEL = "cawg.training-mining"
LEDGER_LABEL = "io.assetledger.provenance"
INSTANCE_PREFIX = "assetledger:"
_NAMESPACE = uuid.UUID("0b7f5d1c-3f0e-4d55-a3a2-6c1a2f9e4b21")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
PASSIVE_ACTIONS = frozenset({"c2pa.opened", "c2pa.placed"})


def manifest_label(step: Step) -> str:
    return f"urn:c2pa:{step.event_id}"


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


def manifest_definition(view: LedgerView, step: Step) -> dict[str, Any]:
    """One asset version's provenance as a C2PA manifest definition."""
    event = to_json(view.decode(view.entry(step.seq)))
    assertions: list[dict[str, Any]] = [
        {"label": ACTIONS_LABEL, "data": {"actions": [_action(step)]}}
    ]
    if step.permissions:
        assertions.append({"label": TRAINING_MINING_LABEL, "data": _training_mining(step)})
    assertions.append({"label": LEDGER_LABEL, "data": event})
    return {
        "claim_generator_info": [_generator()],
        "title": step.key,
        "format": step.media_type,
        "instance_id": instance_id(step.key),
        "label": manifest_label(step),
        "ingredients": [
            _ingredient(view, i.key, i.relationship, i.content_sha256) for i in step.ingredients
        ],
        "assertions": assertions,
    }


def _action(step: Step) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action": step.action,
        "when": format_time(step.event_time),
        "digitalSourceType": vocab.normalise_source_type(step.source_type),
    }
    agent = _software_agent(step)
    if agent:
        action["softwareAgent"] = agent
    if step.description:
        action["description"] = step.description
    if step.ingredients:
        action["parameters"] = {"ingredientIds": [instance_id(i.key) for i in step.ingredients]}
    return action


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


def _ingredient(view: LedgerView, key: str, relationship: str, sha256: str) -> dict[str, Any]:
    recorded = view.recorded(key)
    item: dict[str, Any] = {
        "title": key,
        "format": recorded[0].media_type if recorded else "application/octet-stream",
        "relationship": relationship,
        "instance_id": instance_id(key),
        "hash": sha256,
    }
    if recorded:
        item["active_manifest"] = manifest_label(recorded[0])
    return item


# --- import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportDefaults:
    """What a vendor manifest does not say, supplied by whoever imports it."""

    vendor: str | None = None  # organisation name; default: the claim generator's name
    production: str | None = None  # "show" or "show/episode"
    asset: str | None = None  # "id@version" for the active manifest
    content_sha256: str | None = None  # of the active manifest's asset


def manifests_of(document: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """(active label, manifests by label) of a manifest store or a single definition."""
    if isinstance(document.get("manifests"), Mapping):
        manifests = {str(k): dict(v) for k, v in document["manifests"].items()}
        active = document.get("active_manifest") or next(iter(manifests), None)
        if active not in manifests:
            raise ConfigurationError(
                "the manifest store's active_manifest is not among its manifests"
            )
        return str(active), manifests
    label = str(document.get("label") or "urn:c2pa:imported")
    return label, {label: dict(document)}


def import_events(document: Mapping[str, Any], defaults: ImportDefaults) -> list[dict[str, Any]]:
    """Provenance event JSON for every manifest, ingredients before the assets they made."""
    active, manifests = manifests_of(document)
    order = _ingredients_first(active, manifests)
    return [_event(label, manifests[label], label == active, defaults) for label in order]


def _ingredients_first(active: str, manifests: Mapping[str, dict[str, Any]]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(label: str) -> None:
        if label in seen or label not in manifests:
            return
        seen.add(label)
        for ing in manifests[label].get("ingredients", []):
            visit(str(ing.get("active_manifest") or ""))
        order.append(label)

    visit(active)
    for label in manifests:
        visit(label)
    return order


def _assertion(manifest: Mapping[str, Any], labels: tuple[str, ...]) -> Any:
    for a in manifest.get("assertions", []):
        if a.get("label") in labels:
            return a.get("data")
    return None


def _event(
    label: str, manifest: Mapping[str, Any], active: bool, defaults: ImportDefaults
) -> dict[str, Any]:
    carried = _assertion(manifest, (LEDGER_LABEL,))
    event = dict(carried) if isinstance(carried, Mapping) else _mapped(manifest, active, defaults)
    event["event_id"] = str(uuid.uuid5(_NAMESPACE, f"c2pa-import:{label}"))
    event.pop("producer_id", None)
    event.pop("producer_seq", None)
    return event


def _mapped(manifest: Mapping[str, Any], active: bool, d: ImportDefaults) -> dict[str, Any]:
    action = _primary_action(manifest)
    source_type = _source_type(action)
    asset_id, version = _identity(manifest, active, d)
    vendor = d.vendor or _generator_name(manifest)
    actor = {
        "actor_id": "org:" + _slug(vendor),
        "kind": "organisation",
        "display_name": vendor,
        "role": "cawg.contributor",
    }
    agent = action.get("softwareAgent")
    agent = agent if isinstance(agent, Mapping) else ({"name": agent} if agent else None)
    event: dict[str, Any] = {
        "production": _production(d),
        "asset": {
            "asset_id": asset_id,
            "version": version,
            "content_sha256": _content_hash(manifest, active, d),
            "media_type": manifest.get("format") or "application/octet-stream",
            "location": None,
        },
        "actor": actor,
        "action": action["action"],
        "digital_source_type": source_type,
        "ingredients": [_mapped_ingredient(i) for i in manifest.get("ingredients", [])],
        "rights": {"licence": None, "training_mining": _permissions(manifest)},
        "description": action.get("description")
        or f"imported from C2PA manifest {manifest.get('title', '')}".strip(),
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


def _primary_action(manifest: Mapping[str, Any]) -> dict[str, Any]:
    data = _assertion(manifest, ACTIONS_LABELS) or {}
    actions = [a for a in data.get("actions", []) if isinstance(a, Mapping) and a.get("action")]
    if not actions:
        raise ConfigurationError(
            f"manifest {manifest.get('title', '?')!r} has no c2pa.actions assertion"
        )
    active = [a for a in actions if a["action"] not in PASSIVE_ACTIONS]
    return dict((active or actions)[-1])


def _source_type(action: Mapping[str, Any]) -> str:
    value = action.get("digitalSourceType")
    if value:
        return vocab.normalise_source_type(str(value))
    default = "digitalCreation" if action["action"] == "c2pa.created" else "humanEdits"
    return vocab.normalise_source_type(default)


def _identity(manifest: Mapping[str, Any], active: bool, d: ImportDefaults) -> tuple[str, str]:
    if active and d.asset:
        asset_id, _, version = d.asset.rpartition("@")
        if not asset_id:
            raise ConfigurationError("--asset must be ID@VERSION")
        return asset_id, version
    return _key_of(str(manifest.get("instance_id") or ""), str(manifest.get("title") or ""))


def _key_of(instance: str, title: str) -> tuple[str, str]:
    if instance.startswith(INSTANCE_PREFIX):
        asset_id, _, version = instance[len(INSTANCE_PREFIX) :].rpartition("@")
        if asset_id:
            return asset_id, version
    if not instance and not title:
        raise ConfigurationError("a manifest or ingredient has neither instance_id nor title")
    digest = hashlib.sha256((instance or title).encode()).hexdigest()[:12]
    return f"c2pa/{_slug(title or instance)}", f"c2pa-{digest}"


def _content_hash(manifest: Mapping[str, Any], active: bool, d: ImportDefaults) -> str:
    if active and d.content_sha256:
        return d.content_sha256.lower()
    value = str(manifest.get("hash") or "").lower()
    if _HEX64.match(value):
        return value
    raise ConfigurationError(
        f"manifest {manifest.get('title', '?')!r} states no SHA-256 of its asset",
        hint="pass --file (or --content-sha256) for the delivered asset",
    )


def _mapped_ingredient(ing: Mapping[str, Any]) -> dict[str, Any]:
    asset_id, version = _key_of(str(ing.get("instance_id") or ""), str(ing.get("title") or ""))
    digest = str(ing.get("hash") or "").lower()
    if not _HEX64.match(digest):
        raise ConfigurationError(
            f"ingredient {ing.get('title', '?')!r} states no SHA-256 (hash) of its content",
            hint="ask the vendor for the ingredient's hash, or record the ingredient first",
        )
    relationship = str(ing.get("relationship") or "componentOf")
    return {
        "asset_id": asset_id,
        "version": version,
        "content_sha256": digest,
        "relationship": relationship,
    }


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


__all__ = ["ImportDefaults", "asset_key", "export_store", "import_events", "lineage_signature"]
