"""Licence records: the signed terms under which a production uses an AI model or stock assets.

A licence record names the licensor, what it covers (models by name/provider/version, or asset
ids), the licence (an SPDX id where one exists, else a URL), whether commercial use is
licensed, the territories, the term, the CAWG training-and-mining terms of the licensed
material and the SHA-256 of the signed document.  AI actions cite it (``model.licence_ref``),
and so does the recording of a stock or library input (``rights.licence_ref``).

:func:`use_problem` decides whether a record *covers* one use: in force at the time of use,
covering the model or asset, commercial use when the use is commercial, every territory the
use states.  A use is "declared" only when that holds, not when some text is present.

The kind is listed in :data:`ledger.events.kinds.KINDS`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger.events import vocab
from ledger.events.base import EventKind, Record, check_present, check_sha256

SUBJECTS = frozenset({"model", "asset"})
WORLD = vocab.WORLD
_SPDX_ID = re.compile(r"(LicenseRef-)?[A-Za-z0-9][A-Za-z0-9.+-]*")  # fullmatch
_URI = re.compile(r"[a-z][a-z0-9+.-]*:\S+")  # fullmatch: an absolute URI without spaces


def territory_problems(where: str, values: Sequence[str], *, required: bool) -> list[str]:
    """ISO 3166-1 alpha-2 codes or WORLD; ``required``: at least one."""
    if required and not values:
        return [f"{where} must name at least one territory (ISO 3166-1 alpha-2, or {WORLD})"]
    return vocab.territory_problems(where, list(values))


def ai_term_problems(where: str, terms: Sequence[Record]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for i, t in enumerate(terms):
        at = f"{where}[{i}]"
        if t["use_kind"] not in vocab.TRAINING_MINING_KINDS:
            problems.append(f"{at}.use_kind {t['use_kind']!r} is not a CAWG entry")
        if t["use"] not in vocab.TRAINING_MINING_USES:
            problems.append(f"{at}.use {t['use']!r} is not allowed|notAllowed|constrained")
        info = t.get("constraint_info")
        if t["use"] == "constrained" and not (info and info.strip()):
            problems.append(f"{at} is constrained: constraint_info must state the constraint")
        if t["use_kind"] in seen:
            problems.append(f"{at}.use_kind {t['use_kind']} is stated twice")
        seen.add(t["use_kind"])
    return problems


def licence_problems(event: Record, writing: bool) -> list[str]:
    """Every rule a licence record breaks; empty when it is valid."""
    problems = check_present("licensor.party_id", event["licensor"]["party_id"])
    problems += check_present("licensor.display_name", event["licensor"]["display_name"])
    problems += check_present("licensee", event["licensee"])
    problems += check_present("recorded_by", event["recorded_by"])
    problems += _subject_problems(event)
    problems += _identity_problems(event)
    problems += territory_problems("territories", event["territories"], required=True)
    until = event.get("valid_until")
    if until is not None and until <= event["valid_from"]:
        problems.append("valid_until must be later than valid_from")
    problems += ai_term_problems("ai_terms", event["ai_terms"])
    problems += check_sha256("document_sha256", event["document_sha256"])
    return problems


def _subject_problems(event: Record) -> list[str]:
    subject = event["subject"]
    if subject not in SUBJECTS:
        return [f"subject {subject!r} is not model or asset"]
    if subject == "model" and not event["models"]:
        return ["a model licence must name the models it covers"]
    if subject == "asset" and not event["assets"]:
        return ["an asset licence must name the asset ids it covers"]
    problems = []
    for i, m in enumerate(event["models"]):
        problems += check_present(f"models[{i}].name", m["name"])
        problems += check_present(f"models[{i}].provider", m["provider"])
    problems += [p for i, a in enumerate(event["assets"]) for p in check_present(f"assets[{i}]", a)]
    return problems


def _identity_problems(event: Record) -> list[str]:
    spdx, url = event.get("licence_id"), event.get("url")
    if spdx is None and url is None:
        return ["a licence needs its SPDX licence_id or the url of its terms"]
    problems = []
    if spdx is not None and not _SPDX_ID.fullmatch(spdx):
        problems.append(f"licence_id {spdx!r} is not an SPDX identifier (e.g. Apache-2.0)")
    if url is not None and not _URI.fullmatch(url):
        problems.append(f"url {url!r} is not an absolute URI")
    return problems


def licence_refs(event: Record) -> list[tuple[str, str]]:
    """Index rows: the licensor, each licensed asset and model."""
    rows = [("licensor", str(event["licensor"]["party_id"]))]
    rows += [("licence_asset", a) for a in event["assets"]]
    rows += [("licence_model", f"{m['provider']}/{m['name']}") for m in event["models"]]
    return rows


LICENCE = EventKind(
    record="licence_event",
    payload_type="application/vnd.assetledger.licence-event+avro",
    ce_type="io.assetledger.licence.v1",
    subject=lambda e: str(e["licensor"]["party_id"]),
    problems=licence_problems,
    refs=licence_refs,
)


@dataclass(frozen=True)
class AiTerm:
    use_kind: str
    use: str
    constraint_info: str | None


@dataclass(frozen=True)
class Licence:
    """One decoded licence record."""

    event_id: str
    event_time: datetime
    licensor: str
    licensor_name: str
    subject: str
    models: tuple[tuple[str, str | None, str], ...]  # (name, version or None, provider)
    assets: tuple[str, ...]
    licence_id: str | None
    url: str | None
    commercial_use: bool
    territories: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    ai_terms: tuple[AiTerm, ...]
    document_sha256: str

    @classmethod
    def from_record(cls, event: Record) -> Licence:
        return cls(
            event_id=event["event_id"],
            event_time=event["event_time"],
            licensor=event["licensor"]["party_id"],
            licensor_name=event["licensor"]["display_name"],
            subject=event["subject"],
            models=tuple((m["name"], m.get("version"), m["provider"]) for m in event["models"]),
            assets=tuple(event["assets"]),
            licence_id=event.get("licence_id"),
            url=event.get("url"),
            commercial_use=event["commercial_use"],
            territories=tuple(event["territories"]),
            valid_from=event["valid_from"],
            valid_until=event.get("valid_until"),
            ai_terms=tuple(AiTerm(**t) for t in event["ai_terms"]),
            document_sha256=event["document_sha256"],
        )

    @property
    def label(self) -> str:
        return f"{self.licensor_name} licence {self.licence_id or self.url}"

    def term_for(self, use_kind: str) -> AiTerm | None:
        return next((t for t in self.ai_terms if t.use_kind == use_kind), None)


@dataclass(frozen=True)
class LicensedUse:
    """What one event did under a licence: when, of what, for which territories."""

    time: datetime
    model: tuple[str, str, str] | None = None  # (name, version, provider)
    asset: str | None = None
    commercial: bool = True
    territories: tuple[str, ...] = ()


def use_problem(licence: Licence | None, use: LicensedUse) -> str | None:
    """Why ``licence`` does not cover ``use`` (a plain sentence), or None when it does."""
    if licence is None:
        return "the licence record it cites is not in the ledger"
    for problem in (
        _term_problem(licence, use.time),
        _coverage_problem(licence, use),
        _commercial_problem(licence, use),
        _territory_problem(licence, use.territories),
    ):
        if problem:
            return problem
    return None


def _term_problem(licence: Licence, when: datetime) -> str | None:
    if when < licence.valid_from:
        return f"licence {licence.event_id} was not yet in force at the time of use"
    if licence.valid_until is not None and when >= licence.valid_until:
        return f"licence {licence.event_id} had expired at the time of use"
    return None


def _coverage_problem(licence: Licence, use: LicensedUse) -> str | None:
    if use.model is not None:
        name, version, provider = use.model
        if not any(
            n == name and p == provider and v in (None, version) for n, v, p in licence.models
        ):
            return f"licence {licence.event_id} does not cover {name} {version} ({provider})"
    if use.asset is not None and use.asset not in licence.assets:
        return f"licence {licence.event_id} does not cover asset {use.asset}"
    return None


def _commercial_problem(licence: Licence, use: LicensedUse) -> str | None:
    if use.commercial and not licence.commercial_use:
        return f"licence {licence.event_id} does not license commercial use"
    return None


def _territory_problem(licence: Licence, territories: Sequence[str]) -> str | None:
    if WORLD in licence.territories:
        return None
    outside = [t for t in territories if t not in licence.territories]
    if not outside:
        return None
    return (
        f"licence {licence.event_id} covers {', '.join(licence.territories)},"
        f" not {', '.join(outside)}"
    )
