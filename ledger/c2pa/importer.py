"""The C2PA bridge, import: manifest stores (Reader JSON) into provenance events.

Each manifest becomes a provenance event, ingredients first.  A manifest carrying the ledger
evidence (``io.assetledger.provenance``) is the ledger's own record: restored as the event its
tlog-proof receipt proves when the log's key is given, else skipped.  A vendor's manifest is
mapped from its standard parts (primary action, digitalSourceType, softwareAgent, ingredients and
relationships, CAWG permissions); ingredients are named by ledger id where their own manifests
carry one, and their content hashes come from the files given, the evidence, whole-file hard
bindings or a stated hash, else are recorded unknown.  The reader's verdict is recorded in the
event's ``c2pa`` field (provenance schema v4): the manifest's label, claim generator, signer,
state and failure codes, and the verdict each ingredient's manifest had when it was added.  A
store whose active manifest does not validate is refused; an ingredient manifest that was
invalid when added is recorded as such and reported by the audit (``c2pa-manifest-invalid``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.audit.model import UNKNOWN_SHA256
from ledger.c2pa.manifest import (
    CREATED,
    INSTANCE_PREFIX,
    LEDGER_LABEL,
    PASSIVE_ACTIONS,
    TRAINING_MINING_LABEL,
    actions_of,
    assertion_data,
    ingredients_of,
)
from ledger.errors import ConfigurationError, RejectedInput, VerificationFailure, printable
from ledger.events import vocab
from ledger.events.base import to_json
from ledger.events.encoding import reader_framing
from ledger.log.receipt import parse_receipt, verify_receipt
from ledger.trust.dsse import Envelope

_NAMESPACE = uuid.UUID("0b7f5d1c-3f0e-4d55-a3a2-6c1a2f9e4b21")
_HEX64 = re.compile(r"[0-9a-f]{64}")

# Reader validation states (c2pa-rs ValidationState) as the ledger records them
# (ledger.events.vocab.C2PA_STATES).
STATE_INVALID = "invalid"
STATE_UNTRUSTED = "untrusted_signer"
STATE_VALID = "valid"
STATE_TRUSTED = "trusted"
STATE_UNSIGNED = "unsigned"  # a bare definition: nothing was validated
UNTRUSTED_CODE = "signingCredential.untrusted"
TRUSTED_CODE = "signingCredential.trusted"
_WORDS = {STATE_UNTRUSTED: "untrusted signer", STATE_UNSIGNED: "not signed"}
MAX_CODES = 64  # per manifest, as the schema's limits allow (ledger/events/limits.py)


@dataclass(frozen=True)
class ImportDefaults:
    """What a vendor manifest does not say, supplied by whoever imports it."""

    vendor: str | None = None  # organisation name; default: the claim generator's name
    production: str | None = None  # the show, whole (a name may hold "/")
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
    # the importer's own C2PA reader validated the file (False: the verdict comes from Reader
    # JSON given to it, which anyone can write)
    checked: bool = False
    episode: str | None = None  # the episode of ``production``, if any


@dataclass(frozen=True)
class Validation:
    """What the C2PA reader concluded about a manifest store."""

    state: str  # one of the STATE_* values
    codes: tuple[str, ...]  # failure codes

    @property
    def words(self) -> str:
        """The state in plain words ("untrusted signer")."""
        return _WORDS.get(self.state, self.state)


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


def ingredient_validations(manifests: Mapping[str, Mapping[str, Any]]) -> dict[str, Validation]:
    """Each ingredient manifest's verdict, as recorded when its ingredient was added (the
    ``validation_results`` of the ingredient entry pointing to it), by manifest label."""
    out = {}
    for manifest in manifests.values():
        for ing in ingredients_of(manifest):
            results = ing.get("validation_results")
            if not ing.get("active_manifest") or not isinstance(results, Mapping):
                continue
            codes = _failure_codes({"validation_results": results})
            state = (
                STATE_INVALID
                if set(codes) - {UNTRUSTED_CODE}
                else STATE_UNTRUSTED
                if codes
                else STATE_TRUSTED
                if TRUSTED_CODE in _success_codes(results)
                else STATE_VALID
            )
            out[str(ing["active_manifest"])] = Validation(state, codes)
    return out


def _failure_codes(document: Mapping[str, Any]) -> tuple[str, ...]:
    results = document.get("validation_results")
    found: list[Any] = []
    if isinstance(results, Mapping) and isinstance(results.get("activeManifest"), Mapping):
        found = list(results["activeManifest"].get("failure") or [])
    elif isinstance(document.get("validation_status"), list):
        found = list(document["validation_status"])
    codes = {str(f.get("code")) for f in found if isinstance(f, Mapping)}
    return tuple(sorted(codes))


def _success_codes(results: Mapping[str, Any]) -> set[str]:
    active = results.get("activeManifest")
    found = active.get("success") if isinstance(active, Mapping) else None
    return {str(f.get("code")) for f in found or [] if isinstance(f, Mapping)}


def recorded_codes(codes: tuple[str, ...]) -> list[str]:
    """The codes an event can hold: well-formed status codes, each once, at most
    :data:`MAX_CODES` (a hostile store may list thousands, or any text)."""
    return [c for c in codes if vocab.C2PA_STATUS_CODE.fullmatch(c) and len(c) <= 256][:MAX_CODES]


def manifests_of(document: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """(active label, manifests by label) of a manifest store or a single definition."""
    if isinstance(document.get("manifests"), Mapping):
        manifests = {
            str(k): dict(v) for k, v in document["manifests"].items() if isinstance(v, Mapping)
        }
        active = document.get("active_manifest") or next(iter(manifests), None)
        if not isinstance(active, str) or active not in manifests:
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

    A store the reader found invalid, or holding an ingredient manifest found invalid when it
    was added, is refused (:class:`VerificationFailure`).  Each vendor event's ``c2pa`` field
    records the verdict on its manifest and on its ingredients' manifests; an ingredient
    manifest found invalid when it was added is recorded (the audit reports it), not refused.
    """
    validation = validation_of(document)
    if validation.state == STATE_INVALID:
        raise VerificationFailure(
            "the C2PA manifest store does not validate: " + ", ".join(validation.codes),
            hint="ask the vendor for a delivery whose manifest validates; nothing was imported",
        )
    active, manifests = manifests_of(document)
    validations = {**ingredient_validations(manifests), active: validation}
    order = _ingredients_first(active, manifests)
    context = _Context(manifests, defaults, validations, active)
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


def verdict_lines(events: list[dict[str, Any]]) -> list[str]:
    """One plain line per imported event with a C2PA verdict the audit will report."""
    lines = []
    for e in events:
        c2pa = e.get("c2pa")
        if c2pa is None:
            continue
        key = f"{e['asset']['asset_id']}@{e['asset']['version']}"
        state = Validation(c2pa["state"], ()).words
        signer = (c2pa.get("signer") or {}).get("common_name") or "no named signer"
        note = "" if c2pa["checked"] else " (as the JSON given states; not checked here)"
        lines.append(f"{key}: C2PA manifest {c2pa['manifest_label']}: {state}, {signer}{note}")
        lines += [
            f"{key}: its ingredient {i['asset_id']}@{i['version']} had an invalid C2PA manifest"
            f" when added ({', '.join(i['status_codes']) or 'no codes'})"
            for i in c2pa["ingredients"]
            if i["state"] == STATE_INVALID
        ]
    return lines


def _ingredients_first(active: str, manifests: Mapping[str, dict[str, Any]]) -> list[str]:
    """Manifest labels, each after its ingredients' (depth first, without recursion: a
    chain of thousands of manifests is a valid store, not a stack overflow)."""
    order: list[str] = []
    seen: set[str] = set()
    for root in (active, *manifests):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(ingredients_of(manifests[root])))]
        while stack:
            label, pending = stack[-1]
            for ing in pending:
                child = str(ing.get("active_manifest") or "")
                if child in manifests and child not in seen:
                    seen.add(child)
                    stack.append((child, iter(ingredients_of(manifests[child]))))
                    break
            else:
                stack.pop()
                order.append(label)
    return order


def carried_event(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ledger event an ``io.assetledger.provenance`` assertion carries, if any."""
    labels = [
        a.get("label") for a in manifest.get("assertions", []) or [] if isinstance(a, Mapping)
    ]
    if LEDGER_LABEL not in labels:
        return None
    data = assertion_data(manifest, (LEDGER_LABEL,))
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
    data = assertion_data(manifest, (LEDGER_LABEL,))
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
    validations: Mapping[str, Validation]  # by manifest label; ingredients' as recorded in them
    active: str = ""  # the active manifest's label: the one this reader validated

    def event(self, label: str, active: bool) -> dict[str, Any] | None:
        """The event of one manifest; None for ledger evidence that cannot be verified, and
        for an ingredient manifest that names a ledger version without the ledger's evidence."""
        manifest = self.manifests[label]
        if carried_event(manifest) is not None:
            if self.defaults.log_key is None:
                return None  # the ledger's own record: restored only from a verified receipt
            event = proven_event(manifest, self.defaults.log_key)
            event.pop("producer_id", None)
            event.pop("producer_seq", None)
            return event
        claimed = _claimed_ledger_version(manifest)
        if claimed is not None and not (active and self.defaults.asset):
            if active:
                raise VerificationFailure(
                    f"the delivered manifest {label} names itself {INSTANCE_PREFIX}{claimed}, a"
                    " ledger asset version, but carries no ledger evidence: only the ledger's"
                    " own record can speak for that version; nothing was imported",
                    hint="pass --asset ID@VERSION for the delivered asset (a new version)",
                )
            return None  # an ingredient named by a ledger id: the ledger's record stands
        event = self.mapped(label, manifest, active)
        event["event_id"] = _event_id(label, event["c2pa"])
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
            "ingredients": [self.ingredient(i) for i in ingredients_of(manifest)],
            "rights": {"licence": None, "training_mining": _permissions(manifest)},
            "description": self.description(label, manifest, action),
            "c2pa": self.verdict(label, manifest),
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
            for i in ingredients_of(m)
            if i.get("active_manifest") and i.get("format")
        }

    def description(
        self, label: str, manifest: Mapping[str, Any], action: Mapping[str, Any]
    ) -> str:
        """The action's own words and a short sentence on the verdict (the ``c2pa`` field
        holds it in full)."""
        text = str(
            action.get("description")
            or f"imported from C2PA manifest {manifest.get('title', '')}".strip()
        )
        found = self.validations.get(label, Validation(STATE_UNSIGNED, ()))
        signer = _signer(manifest)
        by = f", signed by {signer['common_name']}" if signer and signer["common_name"] else ""
        return f"{text} [C2PA: {found.words}{by}]"

    def verdict(self, label: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """The event's ``c2pa`` field: the manifest, its signer and the reader's verdicts."""
        found = self.validations.get(label, Validation(STATE_UNSIGNED, ()))
        ingredients = []
        for ing in ingredients_of(manifest):
            target = str(ing.get("active_manifest") or "")
            verdict = self.validations.get(target) if target != label else None
            if verdict is None:
                continue
            entry = self.ingredient(ing)
            ingredients.append(
                {
                    "asset_id": entry["asset_id"],
                    "version": entry["version"],
                    "manifest_label": target,
                    "state": verdict.state,
                    "status_codes": recorded_codes(verdict.codes),
                }
            )
        return {
            "manifest_label": label,
            "claim_generator": _generator(manifest),
            "signer": _signer(manifest),
            "state": found.state,
            # an ingredient manifest's verdict is the one recorded when it was added (by the
            # vendor's tool, with the vendor's trust list), never this reader's own
            "checked": self.defaults.checked and label == self.active,
            "status_codes": recorded_codes(found.codes),
            "ingredients": _once(ingredients),
        }

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
        elif target is not None:  # named as the event imported from its own manifest is
            asset_id, version = _identity(target, False, self.defaults)
        else:
            asset_id, version = _key_of(
                str(ing.get("instance_id") or ""), str(ing.get("title") or "")
            )
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


def _event_id(label: str, verdict: Mapping[str, Any]) -> str:
    """Stable per manifest, so a retried import is a duplicate; a trusted verdict (the file
    imported again with its vendor's CA as trust anchor) is a new record of the same asset."""
    trusted = verdict["state"] == STATE_TRUSTED and verdict["checked"]
    name = f"c2pa-import:{label}" + (":trusted" if trusted else "")
    return str(uuid.uuid5(_NAMESPACE, name))


def _once(ingredients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One verdict per ingredient version (a manifest may list the same one twice)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for i in ingredients:
        seen.setdefault((i["asset_id"], i["version"]), i)
    return list(seen.values())


def _signer(manifest: Mapping[str, Any]) -> dict[str, str | None] | None:
    info = manifest.get("signature_info")
    if not isinstance(info, Mapping):
        return None
    names = {k: _name_text(info.get(k)) for k in ("issuer", "common_name")}
    return names if any(names.values()) else None


def _generator(manifest: Mapping[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], Mapping) and info[0].get("name"):
        version = info[0].get("version")
        return _name_text(f"{info[0]['name']} {version}" if version else info[0]["name"])
    return _name_text(manifest.get("claim_generator"))


def _name_text(value: Any) -> str | None:
    """A certificate's or generator's name as an event may hold it: control characters
    escaped, at most 256 characters (a vendor's certificate is outside our control)."""
    if value is None or not str(value).strip():
        return None
    return printable(str(value).strip(), 256)


def _claimed_ledger_version(manifest: Mapping[str, Any]) -> str | None:
    """The ``id@version`` a manifest without ledger evidence claims by an ``assetledger:`` id.

    Such a manifest is not the ledger's record (that one carries the evidence), so it must not
    record the version again: a vendor's event for it would claim the studio's asset.
    """
    instance = manifest.get("instance_id")
    if isinstance(instance, str) and instance.startswith(INSTANCE_PREFIX):
        return instance[len(INSTANCE_PREFIX) :]
    return None


def _hex(value: Any) -> str | None:
    text = str(value or "").lower()
    return text if _HEX64.fullmatch(text) else None


def _primary_action(manifest: Mapping[str, Any]) -> dict[str, Any]:
    actions = actions_of(manifest)
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
    data = assertion_data(manifest, (TRAINING_MINING_LABEL, "c2pa.training-mining")) or {}
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
            hint="pass --production SHOW (and --episode EPISODE)",
        )
    return {"show": d.production, "episode": d.episode or None, "sequence": None, "shot": None}


def _generator_name(manifest: Mapping[str, Any]) -> str:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], Mapping) and info[0].get("name"):
        return str(info[0]["name"])
    return str(manifest.get("claim_generator") or "unknown vendor").split("/")[0]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"
