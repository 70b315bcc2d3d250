"""The provenance event kind: who or what made or changed which asset version, from what."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ledger.events import vocab
from ledger.events.base import EventKind, Record, event_id_problems

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # use with fullmatch


def _check_hash(where: str, value: str) -> list[str]:
    return [] if _SHA256_HEX.fullmatch(value) else [f"{where} must be 64 lowercase hex digits"]


def _check_present(where: str, value: Any) -> list[str]:
    """A required text field must not be empty or blank."""
    return [] if isinstance(value, str) and value.strip() else [f"{where} must not be empty"]


def _presence_problems(event: Record) -> list[str]:
    asset, actor = event["asset"], event["actor"]
    required = [
        ("producer_id", event["producer_id"]),
        ("production.show", event["production"]["show"]),
        ("asset.asset_id", asset["asset_id"]),
        ("asset.version", asset["version"]),
        ("asset.media_type", asset["media_type"]),
        ("actor.actor_id", actor["actor_id"]),
    ]
    for i, ing in enumerate(event["ingredients"]):
        required += [
            (f"ingredients[{i}].asset_id", ing["asset_id"]),
            (f"ingredients[{i}].version", ing["version"]),
        ]
    required += [(f"directed_by[{i}]", a) for i, a in enumerate(event.get("directed_by", []))]
    required += [
        (f"likeness[{i}].performer_id", u["performer_id"])
        for i, u in enumerate(event.get("likeness", []))
    ]
    return [p for where, value in required for p in _check_present(where, value)]


def provenance_problems(event: Record, writing: bool) -> list[str]:
    """Every rule a provenance event breaks; empty when it is valid."""
    problems = event_id_problems(event["event_id"])
    problems += _presence_problems(event)
    problems += _check_hash("asset.content_sha256", event["asset"]["content_sha256"])
    for i, ing in enumerate(event["ingredients"]):
        problems += _check_hash(f"ingredients[{i}].content_sha256", ing["content_sha256"])
        if ing["relationship"] not in vocab.RELATIONSHIPS:
            problems.append(
                f"ingredients[{i}].relationship {ing['relationship']!r} is not one of "
                + ", ".join(sorted(vocab.RELATIONSHIPS))
            )
    if event["actor"]["kind"] not in vocab.ACTOR_KINDS:
        problems.append(
            f"actor.kind {event['actor']['kind']!r} is not one of "
            + ", ".join(sorted(vocab.ACTOR_KINDS))
        )
    for problem in (
        vocab.check_action(event["action"], writing=writing),
        vocab.check_source_type(event["digital_source_type"], writing=writing),
    ):
        if problem:
            problems.append(problem)
    if event["actor"]["kind"] == "ai_model" and event.get("model") is None:
        problems.append("an ai_model actor must name its model (name, version, provider)")
    problems += _rights_problems(event.get("rights", {}))
    problems += _likeness_problems(event.get("likeness", []))
    problems += _licence_ref_problems(event)
    problems += _credit_problems(event, writing)
    problems += _c2pa_problems(event)
    return problems


MAX_C2PA_CODES = 64  # ledger/events/limits.py: c2pa.status_codes, c2pa.ingredients[].status_codes


def _c2pa_problems(event: Record) -> list[str]:
    """The C2PA verdict (schema v4): states from the vocabulary, well-formed status codes,
    and ingredient verdicts only for ingredients the event lists, each once."""
    c2pa = event.get("c2pa")
    if c2pa is None:
        return []
    problems = _check_present("c2pa.manifest_label", c2pa["manifest_label"])
    problems += _c2pa_state("c2pa.state", c2pa["state"])
    problems += _c2pa_codes("c2pa.status_codes", c2pa["status_codes"])
    listed = {asset_key(i["asset_id"], i["version"]) for i in event["ingredients"]}
    seen: set[str] = set()
    for i, ing in enumerate(c2pa["ingredients"]):
        where = f"c2pa.ingredients[{i}]"
        key = asset_key(ing["asset_id"], ing["version"])
        if key not in listed:
            problems.append(f"{where} names {key}, which is not among the event's ingredients")
        elif key in seen:
            problems.append(f"{where} names {key} a second time")
        seen.add(key)
        problems += _check_present(f"{where}.manifest_label", ing["manifest_label"])
        if ing["state"] == "unsigned":
            problems.append(f"{where}.state cannot be unsigned: a C2PA ingredient is signed")
        else:
            problems += _c2pa_state(f"{where}.state", ing["state"])
        problems += _c2pa_codes(f"{where}.status_codes", ing["status_codes"])
    return problems


def _c2pa_state(where: str, state: str) -> list[str]:
    if state in vocab.C2PA_STATES:
        return []
    return [f"{where} {state!r} is not one of " + ", ".join(sorted(vocab.C2PA_STATES))]


def _c2pa_codes(where: str, codes: list[str]) -> list[str]:
    problems = [
        f"{where}[{i}] {code!r} is not a C2PA status code (dotted words, e.g. "
        "signingCredential.untrusted)"
        for i, code in enumerate(codes)
        if not vocab.C2PA_STATUS_CODE.fullmatch(code)
    ]
    if len(set(codes)) != len(codes):
        problems.append(f"{where} lists a code twice")
    if len(codes) > MAX_C2PA_CODES:
        problems.append(f"{where} lists {len(codes)} codes; the limit is {MAX_C2PA_CODES}")
    return problems


def _credit_problems(event: Record, writing: bool) -> list[str]:
    """Job title from the role vocabulary (when writing); a writer's credit and AI material."""
    problems = []
    title = event["actor"].get("job_title")
    if title is not None and writing and title not in vocab.JOB_TITLES:
        problems.append(
            f"actor.job_title {title!r} is not in the role vocabulary ("
            + ", ".join(sorted(vocab.JOB_TITLES))
            + ")"
        )
    credit = event.get("writing")
    if credit is None:
        return problems
    if credit["credit"] not in vocab.WRITING_CREDITS:
        problems.append(
            f"writing.credit {credit['credit']!r} is not one of "
            + ", ".join(sorted(vocab.WRITING_CREDITS))
        )
    if event["actor"]["kind"] != "human":
        problems.append("writing credits belong to a human writer (actor.kind human)")
    for i, m in enumerate(credit["ai_material"]):
        problems += _check_present(f"writing.ai_material[{i}].asset_id", m["asset_id"])
        problems += _check_present(f"writing.ai_material[{i}].version", m["version"])
    return problems


def _licence_ref_problems(event: Record) -> list[str]:
    rights = event.get("rights") or {}
    refs = [("rights.licence_ref", rights.get("licence_ref"))]
    refs.append(("model.licence_ref", (event.get("model") or {}).get("licence_ref")))
    problems = [p for where, ref in refs if ref is not None for p in event_id_problems(ref, where)]
    distribution = rights.get("distribution")
    if distribution is not None:
        problems += vocab.territory_problems(
            "rights.distribution.territories", distribution["territories"]
        )
        problems += vocab.media_problems("rights.distribution.media", distribution["media"])
    return problems


def _rights_problems(rights: Mapping[str, Any]) -> list[str]:
    """CAWG training-and-mining entries.

    ``constraint_info`` stays optional, as in CAWG 1.1 (``constrained`` without it reads as
    ``notAllowed``), but when present it must say something.
    """
    problems = [
        p
        for i, ref in enumerate(rights.get("consent_refs", []))
        for p in event_id_problems(ref, f"rights.consent_refs[{i}]")
    ]
    for p in rights.get("training_mining", []):
        if p["use_kind"] not in vocab.TRAINING_MINING_KINDS:
            problems.append(f"training_mining use_kind {p['use_kind']!r} is not a CAWG entry")
        if p["use"] not in vocab.TRAINING_MINING_USES:
            problems.append(
                f"training_mining use {p['use']!r} is not allowed|notAllowed|constrained"
            )
        info = p.get("constraint_info")
        if info is not None and not info.strip():
            problems.append(
                "training_mining constraint_info is empty: describe the constraint or write null"
            )
    return problems


def _likeness_problems(likeness: list[Mapping[str, Any]]) -> list[str]:
    problems = []
    for i, u in enumerate(likeness):
        if u["use"] not in vocab.LIKENESS_USES:
            problems.append(
                f"likeness[{i}].use {u['use']!r} is not one of "
                + ", ".join(sorted(vocab.LIKENESS_USES))
            )
        ref = u.get("consent_ref")
        if ref is not None:
            problems += event_id_problems(ref, f"likeness[{i}].consent_ref")
    return problems


def asset_key(asset_id: str, version: str) -> str:
    return f"{asset_id}@{version}"


def provenance_refs(event: Record) -> list[tuple[str, str]]:
    """Index rows built at append time: asset, asset version, ingredients, actor, production."""
    asset = event["asset"]
    production = event["production"]
    rows = [
        ("asset", asset["asset_id"]),
        ("asset_version", asset_key(asset["asset_id"], asset["version"])),
        ("actor", event["actor"]["actor_id"]),
        ("show", production["show"]),
    ]
    if production.get("episode"):
        rows.append(("episode", f"{production['show']}/{production['episode']}"))
    rows += [("ingredient", asset_key(i["asset_id"], i["version"])) for i in event["ingredients"]]
    rows += [("directed_by", a) for a in event.get("directed_by", [])]
    rows += [("performer", u["performer_id"]) for u in event.get("likeness", [])]
    return rows


PROVENANCE = EventKind(
    record="provenance_event",
    payload_type="application/vnd.assetledger.provenance-event+avro",
    ce_type="io.assetledger.provenance.v1",
    subject=lambda e: str(e["asset"]["asset_id"]),
    problems=provenance_problems,
    shows=lambda e: [("production.show", e["production"]["show"])],
    refs=provenance_refs,
)
