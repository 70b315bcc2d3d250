"""Controlled vocabularies (C2PA 2.2 actions, IPTC digitalSourceType, CAWG), versioned.

Avro enum symbols cannot hold dots or URIs, so these are Avro strings checked here.  Bump
``VOCABULARY_VERSION`` when a list changes; never remove a term that was once valid for
writing — move it to the read-only (deprecated/retired) set instead.
"""

from __future__ import annotations

import re

VOCABULARY_VERSION = "2025.1"  # C2PA 2.2, IPTC digitalsourcetype 2025, CAWG 1.1

C2PA_ACTIONS = frozenset(
    "c2pa." + a
    for a in [
        "addedText",
        "adjustedColor",
        "changedSpeed",
        "converted",
        "created",
        "cropped",
        "deleted",
        "drawing",
        "dubbed",
        "edited",
        "edited.metadata",
        "enhanced",
        "filtered",
        "opened",
        "orientation",
        "placed",
        "published",
        "redacted",
        "removed",
        "repackaged",
        "resized",
        "transcoded",
        "translated",
        "trimmed",
        "unknown",
        "watermarked",
    ]
)
C2PA_DEPRECATED_ACTIONS = frozenset(
    "c2pa." + a
    for a in ["copied", "formatted", "version_updated", "printed", "managed", "produced", "saved"]
)
# A custom action: dotted name.  Use with fullmatch (``$`` would accept a trailing newline).
CUSTOM_ACTION = re.compile(r"([\da-zA-Z_-]+\.)+[\da-zA-Z_-]+")

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
DIGITAL_SOURCE_TYPES = frozenset(
    [
        "digitalCapture",
        "computationalCapture",
        "negativeFilm",
        "positiveFilm",
        "print",
        "humanEdits",
        "algorithmicallyEnhanced",
        "digitalCreation",
        "dataDrivenMedia",
        "trainedAlgorithmicMedia",
        "algorithmicMedia",
        "screenCapture",
        "virtualRecording",
        "composite",
        "compositeCapture",
        "compositeSynthetic",
        "compositeWithTrainedAlgorithmicMedia",
    ]
)
RETIRED_DIGITAL_SOURCE_TYPES = frozenset({"minorHumanEdits", "digitalArt", "softwareImage"})
# Source types that mean generative-AI output (in whole or in part).
GENERATIVE_AI_SOURCE_TYPES = frozenset(
    {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "compositeSynthetic"}
)

# Source types that declare AI took part (generated, composited with AI, enhanced or made by an
# algorithm): an AI model's output declaring none of them is AI output not disclosed as such.
AI_DECLARING_SOURCE_TYPES = GENERATIVE_AI_SOURCE_TYPES | {
    "algorithmicallyEnhanced",
    "algorithmicMedia",
    "dataDrivenMedia",
}
# Source types that declare a capture of the world (camera, film): one made from AI output is not.
CAPTURE_SOURCE_TYPES = frozenset(
    {"digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "compositeCapture"}
)

RELATIONSHIPS = frozenset({"parentOf", "componentOf", "inputTo"})
ACTOR_KINDS = frozenset({"human", "ai_model", "software", "organisation"})
CAWG_ROLES = frozenset(
    "cawg." + r
    for r in ["creator", "contributor", "editor", "producer", "publisher", "sponsor", "translator"]
)
TRAINING_MINING_KINDS = frozenset(
    {"cawg.data_mining", "cawg.ai_inference", "cawg.ai_generative_training", "cawg.ai_training"}
)
TRAINING_MINING_USES = frozenset({"allowed", "notAllowed", "constrained"})
# The C2PA reader's verdict on a manifest, as provenance events record it (schema v4, ``c2pa``):
# signed by a trusted certificate | signature valid, signer not checked against a trust list |
# signer's certificate not on the trust list | does not validate | a bare definition, no signature.
C2PA_STATES = frozenset({"trusted", "valid", "untrusted_signer", "invalid", "unsigned"})
C2PA_STATUS_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")  # fullmatch
LIKENESS_USES = frozenset(
    {"likeness", "digital_replica", "voice", "likeness_alteration", "synthetic_performer"}
)
# Media / platforms a consent or a distribution names; all_media covers every one.
ALL_MEDIA = "all_media"
MEDIA = frozenset({"theatrical", "streaming", "broadcast", "home_video", "trailer", ALL_MEDIA})
WORLD = "WORLD"  # every territory
_TERRITORY = re.compile(r"[A-Z]{2}")  # ISO 3166-1 alpha-2 (fullmatch)


def territory_problems(where: str, values: list[str] | tuple[str, ...]) -> list[str]:
    """Each value must be an ISO 3166-1 alpha-2 code or WORLD."""
    return [
        f"{where}[{i}] {t!r} is not an ISO 3166-1 alpha-2 code or {WORLD}"
        for i, t in enumerate(values)
        if t != WORLD and not _TERRITORY.fullmatch(t)
    ]


def media_problems(where: str, values: list[str] | tuple[str, ...]) -> list[str]:
    return [
        f"{where}[{i}] {m!r} is not one of " + ", ".join(sorted(MEDIA))
        for i, m in enumerate(values)
        if m not in MEDIA
    ]


def check_action(action: str, *, writing: bool) -> str | None:
    """Return a problem description, or None when ``action`` is acceptable."""
    if action in C2PA_ACTIONS:
        return None
    if action in C2PA_DEPRECATED_ACTIONS:
        return (
            f"C2PA action {action!r} is deprecated: readable, but not for new events"
            if (writing)
            else None
        )
    if action.startswith("c2pa."):
        return f"{action!r} is not a C2PA {VOCABULARY_VERSION} action"
    if CUSTOM_ACTION.fullmatch(action):
        return None
    return f"{action!r} is neither a C2PA action nor a custom dotted action like studio.roto"


def source_type_term(value: str) -> str:
    """The short IPTC term of a digitalSourceType given as a URI or a short name."""
    return value[len(IPTC_PREFIX) :] if value.startswith(IPTC_PREFIX) else value


def normalise_source_type(value: str) -> str:
    """Full IPTC URI for a short name or URI (unknown terms are returned unchanged)."""
    return IPTC_PREFIX + source_type_term(value)


def check_source_type(value: str, *, writing: bool) -> str | None:
    term = source_type_term(value)
    if not value.startswith(IPTC_PREFIX):
        return f"digital_source_type {value!r} must be an IPTC URI ({IPTC_PREFIX}<term>)"
    if term in DIGITAL_SOURCE_TYPES:
        return None
    if term in RETIRED_DIGITAL_SOURCE_TYPES:
        return f"IPTC term {term!r} is retired: readable, not for new events" if writing else None
    return f"{term!r} is not an IPTC digitalSourceType"


# A production's role vocabulary: the job titles guilds and end credits use, each in its
# department, kept beside the CAWG role (which says what the actor did to the asset).
JOB_TITLES: dict[str, str] = {
    "Director": "Direction",
    "Writer": "Writing",
    "Director of Photography": "Camera",
    "Digital Imaging Technician": "Camera",
    "Editor": "Editorial",
    "Assistant Editor": "Editorial",
    "Online Editor": "Editorial",
    "VFX Supervisor": "Visual Effects",
    "VFX Producer": "Visual Effects",
    "Compositor": "Visual Effects",
    "Roto Artist": "Visual Effects",
    "Paint Artist": "Visual Effects",
    "Matte Painter": "Visual Effects",
    "FX Artist": "Visual Effects",
    "Colorist": "Post-production",
    "Clearances Coordinator": "Legal and Clearances",
}
# WGA writing credits, as the report prints them.
WRITING_CREDITS: dict[str, str] = {
    "written_by": "Written by",
    "teleplay_by": "Teleplay by",
    "story_by": "Story by",
    "screenplay_by": "Screenplay by",
}
