"""A small, realistic production for ``assetledger demo`` and ``examples/events/``.

Show "Fallen Tower", episode 101, sequence 040: a building collapses.  Plates are shot on set;
an artist rotos and paints; an AI model generates debris under a declared licence; a second AI
model generates dust *with no licence or training-data declaration* (the deliberately doubtful
item); an AI upscaler enhances a plate; a compositor combines it all; editorial publishes.
"""

from __future__ import annotations

import hashlib
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
)


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


HUMANS = {
    "ana": {
        "actor_id": "person:ana-ruiz",
        "kind": "human",
        "display_name": "Ana Ruiz",
        "role": "cawg.creator",
    },
    "mira": {
        "actor_id": "person:mira-keller",
        "kind": "human",
        "display_name": "Mira Keller",
        "role": "cawg.editor",
    },
    "jonah": {
        "actor_id": "person:jonah-okafor",
        "kind": "human",
        "display_name": "Jonah Okafor",
        "role": "cawg.creator",
    },
    "lee": {
        "actor_id": "person:lee-tanaka",
        "kind": "human",
        "display_name": "Lee Tanaka",
        "role": "cawg.publisher",
    },
}
DEBRISGEN = {
    "name": "DebrisGen",
    "version": "2.1",
    "provider": "Kestrel AI",
    "licence": "Kestrel Commercial VFX Licence 2024 (licence no. KCV-2024-0117)",
    "training_data": "https://kestrel-ai.example/datasheets/debrisgen-2.1 (licensed stock only)",
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


def _ai_actor(model: dict[str, Any], actor_id: str) -> dict[str, Any]:
    return {
        "actor_id": actor_id,
        "kind": "ai_model",
        "display_name": model["name"],
        "role": "cawg.contributor",
    }


def production() -> list[tuple[str, dict[str, Any]]]:
    """(signer name, event JSON) in emission order; field names as in the Avro schema."""
    d = f"fallen-tower/ep{EPISODE}/{SEQUENCE}"
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
            HUMANS["mira"],
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
        _event(
            "editorial",
            "sh010",
            _asset(f"{d}/sh010/final", "v001", "video/quicktime"),
            HUMANS["lee"],
            "c2pa.published",
            "composite",
            tool={"name": "Avid Media Composer", "version": "2024.10", "vendor": "Avid"},
            ingredients=[_ingredient(f"{d}/sh010/comp", "v001", "parentOf")],
            description="Final delivery of sh010",
        ),
        _event(
            "editorial",
            "sh020",
            _asset(f"{d}/sh020/final", "v001", "video/quicktime"),
            HUMANS["lee"],
            "c2pa.published",
            "composite",
            tool={"name": "Avid Media Composer", "version": "2024.10", "vendor": "Avid"},
            ingredients=[_ingredient(f"{d}/sh020/comp", "v001", "parentOf")],
            description="Final delivery of sh020",
        ),
    ]
