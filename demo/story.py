"""A small, realistic production for ``assetledger demo`` and ``examples/events/``.

Show "Fallen Tower", episode 101, sequence 040: a building collapses.  Plates are shot on set;
an artist rotos and paints; an AI model generates debris under a declared licence; a second AI
model generates dust *with no licence or training-data declaration* (doubtful item 1); an AI
upscaler enhances a plate; a compositor combines it all; editorial publishes.

Shot sh030 (the crowd flees) adds the other doubtful items an audit must catch:

* a licensed stock photo whose rights holder marked it ``notAllowed`` for AI inference is fed
  to an AI sky generator (doubtful item 2);
* a digital replica of performer Omar Haddad cites a consent that covers episode 102 only
  (doubtful item 3), while Dana Whitfield's replica cites a consent that does cover it (fine);
* the composite uses a smoke element from a library that was never recorded in the ledger
  (doubtful item 4) and a roto whose bytes differ from the recorded roto v001 (doubtful item 5);
* so the published sh030 final, like sh010's (which holds the dust), is not clean to ship.

:func:`production` gives the provenance events; :func:`consents` gives the consent events
(kind ``consent_event``, see :mod:`ledger.events.consent`), which must be emitted first.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SHOW = "Fallen Tower"
EPISODE = "101"
SEQUENCE = "sq040"
DELIVERY_PREFIX = f"fallen-tower/ep{EPISODE}/{SEQUENCE}"


@dataclass(frozen=True)
class Signer:
    """A signing identity in the demo: one key per tool or workstation."""

    name: str
    description: str


SIGNERS = (
    Signer("onset-dit", "on-set data management station (camera department)"),
    Signer("ws-mkeller", "Mira Keller's paint and roto workstation"),
    Signer("ws-jokafor", "Jonah Okafor's compositing workstation"),
    Signer("ai-debrisgen", "DebrisGen generation service (licensed)"),
    Signer("ai-dustdiff", "DustDiffusion generation service (undeclared licence)"),
    Signer("ai-upscale", "Upscale service"),
    Signer("editorial", "editorial publishing tool"),
    Signer("stock-intake", "vendor and stock-library intake desk"),
    Signer("ai-skyforge", "SkyForge matte-painting generation service"),
    Signer("ai-replica", "ReplicaWorks digital-replica service"),
    Signer("clearances", "legal clearances desk (performer consents, licence records)"),
    Signer("counsel", "Hana Sato, production counsel (decides on audit findings)"),
)
COUNSEL = {
    "actor_id": "person:hana-sato",
    "kind": "human",
    "display_name": "Hana Sato",
    "role": "production counsel",
}


_NAMESPACE = uuid.UUID("6f1c1d2e-8c53-4c1e-9a57-1f0d3c2b7a10")


def fixed_id(name: str) -> str:
    """A stable event id (UUID v5), so events can cite each other across runs."""
    return str(uuid.uuid5(_NAMESPACE, name))


def content_hash(asset_id: str, version: str) -> str:
    """A stand-in content hash (the demo has no real pixels)."""
    return hashlib.sha256(f"demo-content:{asset_id}@{version}".encode()).hexdigest()


def _asset(asset_id: str, version: str, media_type: str = "image/x-exr") -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "version": version,
        "content_sha256": content_hash(asset_id, version),
        "media_type": media_type,
        "location": f"s3://fallen-tower/{asset_id}/{version}",
    }


def _ingredient(asset_id: str, version: str, relationship: str) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "version": version,
        "content_sha256": content_hash(asset_id, version),
        "relationship": relationship,
    }


def _prod(shot: str) -> dict[str, Any]:
    return {"show": SHOW, "episode": EPISODE, "sequence": SEQUENCE, "shot": shot}


# Where the series is exploited: the use AI outputs and replicas state, checked against
# licences and consents.
DISTRIBUTION = {"commercial": True, "territories": ["US", "CA", "GB"], "media": ["streaming"]}
LICENCE_VISTA = fixed_id("licence:vista:skyline-dusk-0456")

HUMANS = {
    "ana": {
        "actor_id": "person:ana-ruiz",
        "kind": "human",
        "display_name": "Ana Ruiz",
        "role": "cawg.creator",
        "job_title": "Digital Imaging Technician",
    },
    "mira": {
        "actor_id": "person:mira-keller",
        "kind": "human",
        "display_name": "Mira Keller",
        "role": "cawg.editor",
        "job_title": "Roto Artist",
    },
    "jonah": {
        "actor_id": "person:jonah-okafor",
        "kind": "human",
        "display_name": "Jonah Okafor",
        "role": "cawg.creator",
        "job_title": "Compositor",
    },
    "lee": {
        "actor_id": "person:lee-tanaka",
        "kind": "human",
        "display_name": "Lee Tanaka",
        "role": "cawg.publisher",
        "job_title": "Online Editor",
    },
}
DEBRISGEN = {
    "name": "DebrisGen",
    "version": "2.1",
    "provider": "Kestrel AI",
    "licence": "Kestrel Commercial VFX Licence 2024 (licence no. KCV-2024-0117)",
    "training_data": "https://kestrel-ai.example/datasheets/debrisgen-2.1 (licensed stock only)",
    "licence_ref": fixed_id("licence:debrisgen"),
}
DUSTDIFF = {
    "name": "DustDiffusion",
    "version": "0.9",
    "provider": "open weights (unverified)",
    "licence": None,
    "training_data": None,
}
UPSCALER = {
    "name": "ClearScale",
    "version": "4.0",
    "provider": "Lumen Labs",
    "licence": "Lumen Labs Enterprise EULA",
    "training_data": "https://lumenlabs.example/clearscale-4/training-data",
    "licence_ref": fixed_id("licence:clearscale"),
}


def _event(
    signer: str,
    shot: str,
    asset: dict[str, Any],
    actor: dict[str, Any],
    action: str,
    source_type: str,
    **extra: Any,
) -> tuple[str, dict[str, Any]]:
    event = {
        "production": _prod(shot),
        "asset": asset,
        "actor": actor,
        "action": action,
        "digital_source_type": source_type,
        "ingredients": [],
        "rights": {"licence": "Fallen Tower Productions — work for hire"},
    }
    event.update(extra)
    return signer, event


def _final(shot: str, version: str, comp: str, description: str) -> tuple[str, dict[str, Any]]:
    """Editorial publishes a shot's final from its composite (Lee Tanaka, Avid)."""
    d = DELIVERY_PREFIX
    return _event(
        "editorial",
        shot,
        _asset(f"{d}/{shot}/final", version, "video/quicktime"),
        HUMANS["lee"],
        "c2pa.published",
        "composite",
        tool={"name": "Avid Media Composer", "version": "2024.10", "vendor": "Avid"},
        ingredients=[_ingredient(f"{d}/{shot}/comp", comp, "parentOf")],
        description=description,
    )


def _ai_actor(model: dict[str, Any], actor_id: str) -> dict[str, Any]:
    return {
        "actor_id": actor_id,
        "kind": "ai_model",
        "display_name": model["name"],
        "role": "cawg.contributor",
    }


def production() -> list[tuple[str, dict[str, Any]]]:
    """(signer name, event JSON) in emission order; field names as in the Avro schema."""
    d = DELIVERY_PREFIX
    arri = {"name": "ARRI ALEXA 35", "version": "SUP 1.2", "vendor": "ARRI"}
    nuke = {"name": "Nuke", "version": "15.1v3", "vendor": "Foundry"}
    silhouette = {"name": "Silhouette", "version": "2024.5", "vendor": "Boris FX"}
    return [
        _event(
            "onset-dit",
            "sh010",
            _asset(f"{d}/sh010/plate", "v001"),
            HUMANS["ana"],
            "c2pa.created",
            "digitalCapture",
            tool=arri,
            description="Plate A: tower exterior, locked-off, 4.6K open gate",
        ),
        _event(
            "onset-dit",
            "sh020",
            _asset(f"{d}/sh020/plate", "v001"),
            HUMANS["ana"],
            "c2pa.created",
            "digitalCapture",
            tool=arri,
            description="Plate B: street level looking up",
        ),
        _event(
            "ws-mkeller",
            "sh010",
            _asset(f"{d}/sh010/roto", "v001"),
            HUMANS["mira"],
            "studio.roto",
            "digitalCreation",
            tool=silhouette,
            ingredients=[_ingredient(f"{d}/sh010/plate", "v001", "inputTo")],
            description="Roto mattes for the tower silhouette and foreground crowd",
        ),
        _event(
            "ws-mkeller",
            "sh010",
            _asset(f"{d}/sh010/plate", "v002"),
            dict(HUMANS["mira"], job_title="Paint Artist"),
            "c2pa.edited",
            "humanEdits",
            tool=nuke,
            ingredients=[_ingredient(f"{d}/sh010/plate", "v001", "parentOf")],
            description="Paint: crane and safety wires removed",
        ),
        _event(
            "ai-debrisgen",
            "sh010",
            _asset(f"{d}/sh010/fx_debris", "v001"),
            _ai_actor(DEBRISGEN, "model:kestrel/debrisgen"),
            "c2pa.created",
            "trainedAlgorithmicMedia",
            model=DEBRISGEN,
            tool={"name": "DebrisGen service", "version": "2.1.4", "vendor": "Kestrel AI"},
            ingredients=[_ingredient(f"{d}/sh010/plate", "v002", "inputTo")],
            directed_by=["person:jonah-okafor"],
            description="Falling concrete debris, 240 frames, matched to plate camera",
        ),
        _event(
            "ai-dustdiff",
            "sh010",
            _asset(f"{d}/sh010/fx_dust", "v001"),
            _ai_actor(DUSTDIFF, "model:dustdiffusion"),
            "c2pa.created",
            "trainedAlgorithmicMedia",
            model=DUSTDIFF,
            tool={"name": "DustDiffusion", "version": "0.9", "vendor": None},
            directed_by=["person:jonah-okafor"],
            description="Dust cloud element; model licence and training data undeclared",
        ),
        _event(
            "ai-upscale",
            "sh020",
            _asset(f"{d}/sh020/plate", "v002"),
            _ai_actor(UPSCALER, "model:lumen/clearscale"),
            "c2pa.enhanced",
            "algorithmicallyEnhanced",
            model=UPSCALER,
            ingredients=[_ingredient(f"{d}/sh020/plate", "v001", "parentOf")],
            directed_by=["person:mira-keller"],
            rights={
                "licence": "Fallen Tower Productions — work for hire",
                "distribution": DISTRIBUTION,
            },
            description="2x upscale of plate B to match plate A resolution",
        ),
        _event(
            "ws-jokafor",
            "sh010",
            _asset(f"{d}/sh010/comp", "v001"),
            HUMANS["jonah"],
            "c2pa.created",
            "compositeWithTrainedAlgorithmicMedia",
            tool=nuke,
            ingredients=[
                _ingredient(f"{d}/sh010/plate", "v002", "parentOf"),
                _ingredient(f"{d}/sh010/roto", "v001", "componentOf"),
                _ingredient(f"{d}/sh010/fx_debris", "v001", "componentOf"),
                _ingredient(f"{d}/sh010/fx_dust", "v001", "componentOf"),
            ],
            description="Collapse composite: plate, roto, debris and dust elements",
        ),
        _event(
            "ws-jokafor",
            "sh020",
            _asset(f"{d}/sh020/comp", "v001"),
            HUMANS["jonah"],
            "c2pa.created",
            "compositeWithTrainedAlgorithmicMedia",
            tool=nuke,
            ingredients=[
                _ingredient(f"{d}/sh020/plate", "v002", "parentOf"),
                _ingredient(f"{d}/sh010/fx_debris", "v001", "componentOf"),
            ],
            description="Street-level composite with debris",
        ),
        _final("sh010", "v001", "v001", "Final delivery of sh010"),
        _final("sh020", "v001", "v001", "Final delivery of sh020"),
        *_sh030(),
    ]


# --- shot sh030: the doubtful items ----------------------------------------------------------

CONSENT_DANA = fixed_id("consent:dana-whitfield:ep101")
CONSENT_OMAR = fixed_id("consent:omar-haddad:ep102")
SKYFORGE = {
    "name": "SkyForge",
    "version": "3.2",
    "provider": "Northlight AI",
    "licence": "Northlight Studio Licence NL-2025-044",
    "training_data": "https://northlight.example/skyforge-3/datasheet",
    "licence_ref": fixed_id("licence:skyforge"),
}
REPLICA = {
    "name": "ReplicaWorks",
    "version": "1.4",
    "provider": "Mirrorhouse",
    "licence": "Mirrorhouse Production Licence MH-889",
    "training_data": "https://mirrorhouse.example/replicaworks/datasheet (performer scans only)",
    "licence_ref": fixed_id("licence:replicaworks"),
}
VISTA = {
    "actor_id": "org:vista-stock",
    "kind": "organisation",
    "display_name": "Vista Stock",
    "role": "cawg.contributor",
}
NOT_FOR_AI = [
    {"use_kind": kind, "use": "notAllowed", "constraint_info": None}
    for kind in ("cawg.ai_inference", "cawg.ai_generative_training", "cawg.ai_training")
]


def _sh030() -> list[tuple[str, dict[str, Any]]]:
    d = DELIVERY_PREFIX
    arri = {"name": "ARRI ALEXA 35", "version": "SUP 1.2", "vendor": "ARRI"}
    nuke = {"name": "Nuke", "version": "15.1v3", "vendor": "Foundry"}
    roto = _ingredient(f"{d}/sh030/roto", "v001", "componentOf")
    roto["content_sha256"] = content_hash(f"{d}/sh030/roto", "v001-local-rerender")
    return [
        _event(
            "onset-dit",
            "sh030",
            _asset(f"{d}/sh030/plate", "v001"),
            HUMANS["ana"],
            "c2pa.created",
            "digitalCapture",
            tool=arri,
            description="Plate C: crowd flees down the avenue, stunt double in frame",
        ),
        _event(
            "stock-intake",
            "sh030",
            _asset("stock/vista/skyline-dusk-0456", "v001", "image/jpeg"),
            VISTA,
            "c2pa.opened",
            "digitalCapture",
            rights={
                "licence": "Vista Stock editorial licence VS-77812 (no AI use)",
                "licence_ref": LICENCE_VISTA,
                "training_mining": NOT_FOR_AI,
            },
            description="Licensed stock photo of a dusk skyline, for reference",
        ),
        _event(
            "ai-skyforge",
            "sh030",
            _asset(f"{d}/sh030/sky", "v001"),
            _ai_actor(SKYFORGE, "model:northlight/skyforge"),
            "c2pa.created",
            "trainedAlgorithmicMedia",
            model=SKYFORGE,
            ingredients=[_ingredient("stock/vista/skyline-dusk-0456", "v001", "inputTo")],
            directed_by=["person:mira-keller"],
            description="Matte-painted dusk sky generated from the stock skyline as reference",
        ),
        _event(
            "ws-mkeller",
            "sh030",
            _asset(f"{d}/sh030/roto", "v001"),
            HUMANS["mira"],
            "studio.roto",
            "digitalCreation",
            tool={"name": "Silhouette", "version": "2024.5", "vendor": "Boris FX"},
            ingredients=[_ingredient(f"{d}/sh030/plate", "v001", "inputTo")],
            description="Roto mattes for the fleeing crowd",
        ),
        _event(
            "ai-replica",
            "sh030",
            _asset(f"{d}/sh030/stunt_face", "v001"),
            _ai_actor(REPLICA, "model:mirrorhouse/replicaworks"),
            "c2pa.edited",
            "trainedAlgorithmicMedia",
            model=REPLICA,
            ingredients=[_ingredient(f"{d}/sh030/plate", "v001", "parentOf")],
            directed_by=["person:jonah-okafor"],
            rights={
                "licence": "Fallen Tower Productions — work for hire",
                "distribution": DISTRIBUTION,
            },
            likeness=[
                {
                    "performer_id": "performer:dana-whitfield",
                    "use": "digital_replica",
                    "consent_ref": CONSENT_DANA,
                }
            ],
            description="Dana Whitfield's face on the stunt double, as scripted",
        ),
        _event(
            "ai-replica",
            "sh030",
            _asset(f"{d}/sh030/crowd_replica", "v001"),
            _ai_actor(REPLICA, "model:mirrorhouse/replicaworks"),
            "c2pa.created",
            "trainedAlgorithmicMedia",
            model=REPLICA,
            directed_by=["person:jonah-okafor"],
            likeness=[
                {
                    "performer_id": "performer:omar-haddad",
                    "use": "digital_replica",
                    "consent_ref": CONSENT_OMAR,
                }
            ],
            description="Background replica of Omar Haddad among the fleeing crowd",
        ),
        _event(
            "ws-jokafor",
            "sh030",
            _asset(f"{d}/sh030/comp", "v001"),
            HUMANS["jonah"],
            "c2pa.created",
            "compositeWithTrainedAlgorithmicMedia",
            tool=nuke,
            ingredients=[
                _ingredient(f"{d}/sh030/stunt_face", "v001", "parentOf"),
                _ingredient(f"{d}/sh030/sky", "v001", "componentOf"),
                _ingredient(f"{d}/sh030/crowd_replica", "v001", "componentOf"),
                roto,
                _ingredient("library/smoke/smoke_12", "v3", "componentOf"),
            ],
            description="Crowd composite: replica face, sky, crowd replica, roto, library smoke",
        ),
        _final("sh030", "v001", "v001", "Final delivery of sh030"),
    ]


def _consent(
    name: str, performer: str, display: str, episode: str, scope: str
) -> tuple[str, dict[str, Any]]:
    return "clearances", {
        "event_kind": "consent",
        "event_id": fixed_id(name),
        "status": "granted",
        "grantor": {"party_id": performer, "kind": "performer", "display_name": display},
        "likeness_uses": ["digital_replica"],
        "ai_uses": [],
        "assets": [],
        "scope": scope,
        "productions": [],
        "coverage": [{"show": SHOW, "episode": episode}],
        "valid_from": "2025-01-01T00:00:00Z",
        "expires": "2031-01-01T00:00:00Z",
        "revokes": None,
        "recorded_by": "person:rosa-mendes",
        "document": "https://clearances.fallen-tower.example/consents/" + performer.split(":")[1],
        "shots": [],
        "media": ["streaming", "trailer"],
        "territories": ["US", "CA", "GB"],
        "compensation_ref": "SAG-AFTRA replica fee, payroll ref " + name.split(":")[1],
        "document_sha256": hashlib.sha256(f"signed consent form:{name}".encode()).hexdigest(),
    }


def consents() -> list[tuple[str, dict[str, Any]]]:
    """(signer name, consent event JSON) to emit, before :func:`production`, as consent_event."""
    return [
        _consent(
            "consent:dana-whitfield:ep101",
            "performer:dana-whitfield",
            "Dana Whitfield",
            EPISODE,
            "Digital replica of Dana Whitfield's face composited onto her stunt double in the "
            "tower-collapse sequence sq040 of episode 101, substantially as scripted.",
        ),
        _consent(
            "consent:omar-haddad:ep102",
            "performer:omar-haddad",
            "Omar Haddad",
            "102",
            "Background digital replica of Omar Haddad in the market crowd of episode 102.",
        ),
    ]


# --- licence records, counsel's decisions, a remediation ---------------------------------------


def _licence(
    name: str,
    licensor: tuple[str, str],
    *,
    models: Sequence[dict[str, Any]] = (),
    assets: Sequence[str] = (),
    licence_id: str | None = None,
    url: str | None = None,
    territories: list[str],
    ai_terms: Sequence[dict[str, Any]] = (),
) -> tuple[str, dict[str, Any]]:
    return "clearances", {
        "event_kind": "licence",
        "event_id": fixed_id(name),
        "licensor": {"party_id": licensor[0], "display_name": licensor[1]},
        "licensee": "Fallen Tower Productions LLC",
        "subject": "model" if models else "asset",
        "models": list(models),
        "assets": list(assets),
        "licence_id": licence_id,
        "url": url,
        "commercial_use": True,
        "territories": territories,
        "valid_from": "2025-01-01T00:00:00Z",
        "valid_until": "2028-01-01T00:00:00Z",
        "ai_terms": list(ai_terms),
        "document_sha256": hashlib.sha256(f"signed licence:{name}".encode()).hexdigest(),
        "document": f"https://clearances.fallen-tower.example/licences/{name.split(':')[1]}",
        "recorded_by": "person:rosa-mendes",
    }


def _licensed(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": model["name"], "version": None, "provider": model["provider"]}]


def licences() -> list[tuple[str, dict[str, Any]]]:
    """(signer name, licence record JSON): emitted first, with the consents.

    ClearScale's licence covers the US and Canada only while the series also streams in the
    UK (a licence-not-covering finding that counsel clears with a side letter); Vista's stock
    licence marks AI inference notAllowed.
    """
    return [
        _licence(
            "licence:debrisgen",
            ("org:kestrel-ai", "Kestrel AI"),
            models=_licensed(DEBRISGEN),
            url="https://kestrel-ai.example/licences/KCV-2024-0117",
            territories=["WORLD"],
        ),
        _licence(
            "licence:clearscale",
            ("org:lumen-labs", "Lumen Labs"),
            models=_licensed(UPSCALER),
            url="https://lumenlabs.example/legal/enterprise-eula",
            territories=["US", "CA"],
        ),
        _licence(
            "licence:skyforge",
            ("org:northlight-ai", "Northlight AI"),
            models=_licensed(SKYFORGE),
            url="https://northlight.example/legal/NL-2025-044",
            territories=["WORLD"],
        ),
        _licence(
            "licence:replicaworks",
            ("org:mirrorhouse", "Mirrorhouse"),
            models=_licensed(REPLICA),
            url="https://mirrorhouse.example/legal/MH-889",
            territories=["WORLD"],
        ),
        _licence(
            "licence:vista:skyline-dusk-0456",
            ("org:vista-stock", "Vista Stock"),
            assets=["stock/vista/skyline-dusk-0456"],
            url="https://vista-stock.example/licences/VS-77812",
            territories=["WORLD"],
            ai_terms=[
                {"use_kind": kind, "use": "notAllowed", "constraint_info": None}
                for kind in ("cawg.ai_inference", "cawg.ai_generative_training")
            ],
        ),
    ]


def remediation() -> list[tuple[str, dict[str, Any]]]:
    """sh010 redone: the unlicensed dust replaced by a licensed element, re-comped, republished."""
    d = DELIVERY_PREFIX
    nuke = {"name": "Nuke", "version": "15.1v3", "vendor": "Foundry"}
    return [
        _event(
            "ai-debrisgen",
            "sh010",
            _asset(f"{d}/sh010/fx_dust", "v003"),
            _ai_actor(DEBRISGEN, "model:kestrel/debrisgen"),
            "c2pa.created",
            "trainedAlgorithmicMedia",
            model=DEBRISGEN,
            ingredients=[_ingredient(f"{d}/sh010/plate", "v002", "inputTo")],
            directed_by=["person:jonah-okafor"],
            description="Dust cloud regenerated with the licensed DebrisGen (replaces v001)",
        ),
        _event(
            "ws-jokafor",
            "sh010",
            _asset(f"{d}/sh010/comp", "v002"),
            HUMANS["jonah"],
            "c2pa.created",
            "compositeWithTrainedAlgorithmicMedia",
            tool=nuke,
            ingredients=[
                _ingredient(f"{d}/sh010/plate", "v002", "parentOf"),
                _ingredient(f"{d}/sh010/roto", "v001", "componentOf"),
                _ingredient(f"{d}/sh010/fx_debris", "v001", "componentOf"),
                _ingredient(f"{d}/sh010/fx_dust", "v003", "componentOf"),
            ],
            description="Collapse composite with the licensed dust element",
        ),
        _final("sh010", "v002", "v002", "Final delivery of sh010, with the licensed dust"),
    ]


SIDE_LETTER_SHA256 = hashlib.sha256(b"Lumen Labs side letter: UK territory, 2025").hexdigest()


def counsel_decisions() -> list[dict[str, Any]]:
    """What counsel decides, as (rule, asset version) → the disposition fields.

    The demo finds each finding's id in the audit and signs these with the counsel key.
    """
    d = DELIVERY_PREFIX
    return [
        {
            "decision": "cleared",
            "rule": "licence-not-covering",
            "asset": f"{d}/sh020/plate@v002",
            "reason": "Lumen Labs extended the ClearScale licence to the UK by side letter",
            "document_sha256": SIDE_LETTER_SHA256,
        },
        {
            "decision": "remediated",
            "rule": "ai-model-undeclared",
            "asset": f"{d}/sh010/fx_dust@v001",
            "reason": "the unlicensed DustDiffusion element was replaced by a licensed one",
            "replaced_by": (f"{d}/sh010/fx_dust", "v003"),
        },
    ]


# --- examples of the other kinds (examples/registry, examples/dispositions) -------------------


LEGAL_ACTIONS = [
    f"assetledger.finding.{decision}"
    for decision in ("cleared", "waived", "remediated", "reopened")
]


def registry_examples() -> list[tuple[str, dict[str, Any]]]:
    """Counsel's enrolment with a legal scope, as JSON (a demo key derived from a fixed seed).

    Written out field by field (this package imports nothing of the ledger); the examples test
    signs it with the ledger's own code, which checks every field.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    seed = hashlib.sha256(b"asset-ledger example key: counsel").digest()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    when = "2025-03-01T09:00:00.000000Z"
    return [
        (
            "production-root",
            {
                "event_kind": "key_registry",
                "event_id": fixed_id("enrol:counsel"),
                "event_time": when,
                "operation": "enroll",
                "actor_id": COUNSEL["actor_id"],
                "actor_kind": "human",
                "display_name": COUNSEL["display_name"],
                "key_id": hashlib.sha256(raw).hexdigest(),
                "public_key": base64.b64encode(raw).decode("ascii"),
                "valid_from": when,
                "valid_until": None,
                "previous_key_id": None,
                "revocation": None,
                "delegation": None,
                "scope": {
                    "productions": [SHOW],
                    "actors": [COUNSEL["actor_id"]],
                    "actions": LEGAL_ACTIONS,
                    "digital_source_types": [],
                },
            },
        )
    ]


def _disposition(decision: str, rule: str, asset: str, reason: str, **terms: Any) -> dict[str, Any]:
    return {
        "production": {"show": SHOW, "episode": None},
        "actor": COUNSEL,
        "action": f"assetledger.finding.{decision}",
        "finding_id": EXAMPLE_FINDING_ID,
        "rule": rule,
        "asset": asset,
        "decision": decision,
        "reason": reason,
        "document_sha256": terms.get("document_sha256"),
        "approver": terms.get("approver"),
        "expires": terms.get("expires"),
        "replaced_by": terms.get("replaced_by"),
    }


EXAMPLE_FINDING_ID = hashlib.sha256(b"replace with the id audit ip prints").hexdigest()


def disposition_examples() -> list[tuple[str, dict[str, Any]]]:
    """One disposition of each decision; finding_id stands for the one ``audit ip`` prints."""
    d = DELIVERY_PREFIX
    out = [
        _disposition(
            "cleared",
            "licence-not-covering",
            f"{d}/sh020/plate@v002",
            "Lumen Labs extended the ClearScale licence to the UK by side letter",
            document_sha256=SIDE_LETTER_SHA256,
        ),
        _disposition(
            "waived",
            "ingredient-unrecorded",
            f"{d}/sh030/comp@v001",
            "library smoke element: the vendor's provenance is due next week",
            approver="Dana Price, head of legal",
            expires="2025-04-01T00:00:00Z",
        ),
        _disposition(
            "remediated",
            "ai-model-undeclared",
            f"{d}/sh010/fx_dust@v001",
            "the unlicensed DustDiffusion element was replaced by a licensed one",
            replaced_by={"asset_id": f"{d}/sh010/fx_dust", "version": "v003"},
        ),
        _disposition(
            "reopened",
            "ingredient-unrecorded",
            f"{d}/sh030/comp@v001",
            "the vendor did not deliver the provenance",
        ),
    ]
    return [
        (
            "counsel",
            {
                "event_kind": "disposition",
                "event_id": fixed_id(f"disposition:{i}"),
                "event_time": "2025-03-20T10:00:00Z",
                **e,
            },
        )
        for i, e in enumerate(out)
    ]


def approval_examples() -> list[tuple[str, dict[str, Any]]]:
    """A distributor's written approval of sh010's generated elements, and a refusal of the
    crowd replica (kind ``approval``, signed by a key whose scope names the action)."""
    d = DELIVERY_PREFIX

    def approval(decision: str, category: str, assets: list[str], reason: str) -> dict[str, Any]:
        return {
            "production": {"show": SHOW, "episode": EPISODE},
            "actor": COUNSEL,
            "organisation": "Streamco (distributor), by letter to production counsel",
            "action": f"assetledger.approval.{decision}",
            "category": category,
            "assets": assets,
            "decision": decision,
            "conditions": ["AI use disclosed in the end credits"] if decision == "approved" else [],
            "expires": "2027-03-01T00:00:00Z" if decision == "approved" else None,
            "document_sha256": hashlib.sha256(f"approval letter {decision}".encode()).hexdigest(),
            "reason": reason,
        }

    out = [
        approval(
            "approved",
            "generated_final",
            [f"{d}/sh010/fx_debris@v001", f"{d}/sh010/fx_dust@v003"],
            "generated debris and dust elements approved for the final episode",
        ),
        approval(
            "refused",
            "likeness",
            [f"{d}/sh030/crowd_replica@v001"],
            "the performer's consent covers episode 102 only",
        ),
    ]
    return [
        (
            "counsel",
            {
                "event_kind": "approval",
                "event_id": fixed_id(f"approval:{i}"),
                "event_time": "2025-03-21T10:00:00Z",
                **e,
            },
        )
        for i, e in enumerate(out)
    ]
