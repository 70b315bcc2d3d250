"""Consent events: performer likeness / digital-replica consent and AI-input permissions.

A *grant* names who consents (a performer or a rights holder), what uses (likeness uses, or
CAWG AI uses on named assets), a specific description of the intended use, the productions it
covers, and when it is valid.  A *revocation* withdraws one grant from its ``valid_from`` on.
Provenance events rely on a grant by its event id (``likeness[].consent_ref`` for likeness,
``rights.consent_refs`` for a ``constrained`` AI input), and :func:`check_use` decides whether
the grant really covers that use.

Importing this module registers the ``consent_event`` kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ledger.errors import InvalidEventError
from ledger.events import vocab
from ledger.events.base import EventKind, Record, check_sha256, parse_time

STATUSES = frozenset({"granted", "revoked"})
PARTY_KINDS = frozenset({"performer", "rights_holder"})


def consent_problems(event: Record, writing: bool) -> list[str]:
    """Every rule a consent event breaks; empty when it is valid."""
    problems: list[str] = []
    try:
        uuid.UUID(event["event_id"])
    except ValueError:
        problems.append(f"event_id {event['event_id']!r} is not a UUID")
    if event["status"] not in STATUSES:
        problems.append(f"status {event['status']!r} is not granted or revoked")
    if event["grantor"]["kind"] not in PARTY_KINDS:
        problems.append(f"grantor.kind {event['grantor']['kind']!r} is not performer|rights_holder")
    problems += [
        f"likeness use {u!r} is not one of " + ", ".join(sorted(vocab.LIKENESS_USES))
        for u in event["likeness_uses"]
        if u not in vocab.LIKENESS_USES
    ]
    problems += [
        f"ai use {u!r} is not a CAWG training-mining entry"
        for u in event["ai_uses"]
        if u not in vocab.TRAINING_MINING_KINDS
    ]
    problems += _status_problems(event)
    problems += vocab.territory_problems("territories", event.get("territories", []))
    problems += vocab.media_problems("media", event.get("media", []))
    problems += _document_problems(event)
    problems += _coverage_problems(event, writing)
    if writing and event["status"] == "granted":
        problems += _structured_problems(event)
    return problems + _time_problems(event)


def _coverage_problems(event: Record, writing: bool) -> list[str]:
    """Structured coverage: a show named, an episode null or named; no new string form."""
    problems = []
    for i, c in enumerate(event.get("coverage", [])):
        if not c["show"].strip():
            problems.append(f"coverage[{i}].show must not be empty")
        episode = c.get("episode")
        if episode is not None and not episode.strip():
            problems.append(f"coverage[{i}].episode must be null (every episode) or name one")
    if writing and event["productions"]:
        problems.append(
            "productions is the old 'Show/Episode' string form, which cannot tell a show whose"
            " name holds '/' from an episode: state coverage instead, e.g. coverage:"
            ' [{"show": "Fallen Tower", "episode": "101"}] (episode null: the whole show)'
        )
    return problems


def _document_problems(event: Record) -> list[str]:
    digest = event.get("document_sha256")
    return [] if digest is None else check_sha256("document_sha256", digest)


def _structured_problems(event: Record) -> list[str]:
    """A new grant states its terms as data (older grants, read back, may not)."""
    missing = [
        what
        for what, value in (
            ("territories", event.get("territories")),
            ("media", event.get("media")),
            ("document_sha256", event.get("document_sha256")),
        )
        if not value
    ]
    if not missing:
        return []
    return [
        "a grant must state its " + ", ".join(missing) + " (territories: ISO 3166-1 codes or"
        " WORLD; media: " + ", ".join(sorted(vocab.MEDIA)) + "; the signed document's SHA-256)"
    ]


def _time_problems(event: Record) -> list[str]:
    try:
        start = parse_time(event["valid_from"], "valid_from")
        expires = event.get("expires")
        end = None if expires is None else parse_time(expires, "expires")
    except InvalidEventError as exc:
        return [exc.message]
    if end is not None and end <= start:
        return ["expires must be later than valid_from"]
    return []


def _status_problems(event: Record) -> list[str]:
    if event["status"] == "revoked":
        return [] if event.get("revokes") else ["a revocation must name the grant it revokes"]
    problems = [] if event.get("revokes") is None else ["only a revocation may set revokes"]
    if not event["likeness_uses"] and not event["ai_uses"]:
        problems.append("a grant must consent to at least one likeness use or AI use")
    if not event["productions"] and not event.get("coverage"):
        problems.append("a grant must name the productions it covers (coverage)")
    if not event["scope"].strip():
        problems.append("a grant needs a specific description of the intended use (scope)")
    return problems


def consent_refs(event: Record) -> list[tuple[str, str]]:
    """Index rows: who granted, which assets, which grant is revoked, which shows."""
    rows = [("consent_party", str(event["grantor"]["party_id"]))]
    rows += [("consent_asset", a) for a in event["assets"]]
    if event.get("revokes"):
        rows.append(("consent_revokes", str(event["revokes"])))
    # Old string form: indexed under the text before the first "/" (as it always was, so old
    # ledgers keep their index rows); the index only finds candidates, and
    # ledger.audit.production decides which production a consent belongs to.
    shows = {p.split("/", 1)[0] for p in event["productions"]}
    shows |= {c["show"] for c in event.get("coverage", [])}
    rows += [("show", s) for s in sorted(shows)]
    return rows


CONSENT = EventKind(
    record="consent_event",
    payload_type="application/vnd.assetledger.consent-event+avro",
    ce_type="io.assetledger.consent.v1",
    subject=lambda e: str(e["grantor"]["party_id"]),
    problems=consent_problems,
    shows=lambda e: [
        (f"coverage[{i}].show", c["show"]) for i, c in enumerate(e.get("coverage", []))
    ],
    refs=consent_refs,
)


@dataclass(frozen=True)
class Coverage:
    """A production a consent covers: a show, or one episode of it (consent schema v3)."""

    show: str
    episode: str | None = None

    def covers(self, show: str, episode: str | None) -> bool:
        """Compared whole and exactly: case, spaces and "/" count."""
        return self.show == show and (self.episode is None or self.episode == episode)

    @property
    def label(self) -> str:
        return self.show if self.episode is None else f"{self.show}, episode {self.episode}"

    def to_json(self) -> dict[str, str | None]:
        return {"show": self.show, "episode": self.episode}


@dataclass(frozen=True)
class Consent:
    """One decoded consent event."""

    event_id: str
    event_time: datetime
    status: str
    party_id: str
    party_kind: str
    party_name: str
    likeness_uses: tuple[str, ...]
    ai_uses: tuple[str, ...]
    assets: tuple[str, ...]
    scope: str
    productions: tuple[str, ...]
    valid_from: datetime
    expires: datetime | None
    revokes: str | None
    recorded_by: str
    document: str | None
    shots: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()
    compensation_ref: str | None = None
    document_sha256: str | None = None
    coverage: tuple[Coverage, ...] = ()  # v3; older consents hold ``productions`` strings

    @property
    def structured(self) -> bool:
        """Recorded with structured terms (consent schema v2); else judged by the old rule."""
        return bool(self.territories or self.media)

    @classmethod
    def from_record(cls, event: Record) -> Consent:
        grantor = event["grantor"]
        return cls(
            event_id=event["event_id"],
            event_time=event["event_time"],
            status=event["status"],
            party_id=grantor["party_id"],
            party_kind=grantor["kind"],
            party_name=grantor["display_name"],
            likeness_uses=tuple(event["likeness_uses"]),
            ai_uses=tuple(event["ai_uses"]),
            assets=tuple(event["assets"]),
            scope=event["scope"],
            productions=tuple(event["productions"]),
            valid_from=parse_time(event["valid_from"], "valid_from"),
            expires=_optional_time(event.get("expires")),
            revokes=event.get("revokes"),
            recorded_by=event["recorded_by"],
            document=event.get("document"),
            shots=tuple(event.get("shots", [])),
            media=tuple(event.get("media", [])),
            territories=tuple(event.get("territories", [])),
            compensation_ref=event.get("compensation_ref"),
            document_sha256=event.get("document_sha256"),
            coverage=tuple(
                Coverage(c["show"], c.get("episode")) for c in event.get("coverage", [])
            ),
        )

    @property
    def covered(self) -> str:
        """The productions covered, in words (structured or the old strings, verbatim)."""
        return "; ".join([c.label for c in self.coverage] + list(self.productions))


@dataclass(frozen=True)
class Use:
    """What an event did that needs consent."""

    party_id: str  # performer id, or the asset id for an AI use of an input
    use: str  # a likeness use or a CAWG AI use
    show: str
    episode: str | None
    time: datetime
    shot: str | None = None
    asset_id: str | None = None  # the asset the use makes
    territories: tuple[str, ...] = ()  # where the output is exploited, when the event says
    media: tuple[str, ...] = ()


def covers_production(consent: Consent, show: str, episode: str | None) -> bool:
    """A consent names the whole show, or exactly this episode of it.

    Structured coverage (v3) is compared field by field; an old string is compared whole with
    "Show" and "Show/Episode" (never split), as the v1/v2 contract documented it.
    """
    if any(c.covers(show, episode) for c in consent.coverage):
        return True
    wanted = {show} | ({f"{show}/{episode}"} if episode else set())
    return any(p in wanted for p in consent.productions)


def check_use(consent: Consent | None, use: Use, revocations: Sequence[Consent]) -> str | None:
    """Why ``consent`` does not cover ``use`` (a plain sentence), or None when it does."""
    if consent is None:
        return (
            "the consent it refers to is not in the ledger, or not one recorded for this production"
        )
    for problem in (
        _party_problem(consent, use),
        _kind_problem(consent, use),
        _scope_problem(consent, use),
        _time_problem(consent, use),
        _shot_problem(consent, use),
        _asset_problem(consent, use),
        _territory_problem(consent, use),
        _media_problem(consent, use),
        _revocation_problem(consent, use, revocations),
    ):
        if problem:
            return problem
    return None


def _party_problem(consent: Consent, use: Use) -> str | None:
    if consent.status != "granted":
        return f"consent {consent.event_id} is a revocation, not a grant"
    if consent.party_kind == "performer" and consent.party_id != use.party_id:
        return f"consent {consent.event_id} was given by {consent.party_id}, not {use.party_id}"
    if consent.party_kind == "rights_holder" and use.party_id not in consent.assets:
        return f"consent {consent.event_id} does not cover asset {use.party_id}"
    return None


def _kind_problem(consent: Consent, use: Use) -> str | None:
    allowed = consent.likeness_uses + consent.ai_uses
    if use.use in allowed:
        return None
    return f"consent {consent.event_id} covers {', '.join(allowed)}, not {use.use}"


def _scope_problem(consent: Consent, use: Use) -> str | None:
    if covers_production(consent, use.show, use.episode):
        return None
    where = f"{use.show}, episode {use.episode}" if use.episode else use.show
    return f"consent {consent.event_id} covers {consent.covered}, not {where}"


def _time_problem(consent: Consent, use: Use) -> str | None:
    if use.time < consent.valid_from:
        return f"consent {consent.event_id} was not yet valid at the time of use"
    if consent.expires is not None and use.time >= consent.expires:
        return f"consent {consent.event_id} had expired at the time of use"
    return None


def _revocation_problem(consent: Consent, use: Use, revocations: Sequence[Consent]) -> str | None:
    for r in revocations:
        same = r.revokes == consent.event_id and r.party_id == consent.party_id
        if same and r.valid_from <= use.time:
            return f"consent {consent.event_id} was revoked by {r.event_id} before the use"
    return None


def _optional_time(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value, "expires")


def _shot_problem(consent: Consent, use: Use) -> str | None:
    if not consent.shots or use.shot is None or use.shot in consent.shots:
        return None
    return f"consent {consent.event_id} covers shots {', '.join(consent.shots)}, not {use.shot}"


def _asset_problem(consent: Consent, use: Use) -> str | None:
    limited = consent.party_kind == "performer" and consent.assets
    if not limited or use.asset_id is None or use.asset_id in consent.assets:
        return None
    return (
        f"consent {consent.event_id} covers assets {', '.join(consent.assets)}, not {use.asset_id}"
    )


def _territory_problem(consent: Consent, use: Use) -> str | None:
    if not consent.structured or vocab.WORLD in consent.territories:
        return None
    outside = [t for t in use.territories if t not in consent.territories]
    if not outside:
        return None
    return (
        f"consent {consent.event_id} covers territories {', '.join(consent.territories)},"
        f" not {', '.join(outside)}"
    )


def _media_problem(consent: Consent, use: Use) -> str | None:
    if not consent.structured or vocab.ALL_MEDIA in consent.media:
        return None
    outside = [m for m in use.media if m not in consent.media]
    if not outside:
        return None
    covered = ", ".join(consent.media)
    return f"consent {consent.event_id} covers media {covered}, not {', '.join(outside)}"


OLD_RULE_NOTE = (
    "this consent was recorded before structured terms (consent schema v1), so it is judged by"
    " the old rule: productions, uses and term only"
)
