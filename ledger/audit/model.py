"""What audits read: ledger entries decoded into plain, typed steps, through the query index.

Before a view states the checkpoint it was computed at, :func:`tree_state` checks that the
entries and index rows below it are exactly those the checkpoint commits to (one pass over
the entries below it, without signature checks; see docs/audits.md for what it costs).

:class:`LedgerView` answers every audit question through ``seqs_by_ref`` (the index built at
append time) and ``entry(seq)``, never by scanning the whole ledger, and only sees entries
below a fixed tree size (the checkpoint the report is computed at), so a growing ledger gives
the same answer for the same checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.errors import RejectedInput, VerificationFailure
from ledger.events import vocab
from ledger.events.base import Record, format_time
from ledger.events.consent import CONSENT, Consent
from ledger.events.encoding import SingleObjectFraming, reader_framing, writer_schema
from ledger.events.licence import LICENCE, Licence
from ledger.events.provenance import PROVENANCE, asset_key
from ledger.index.keys import RULE_V2, licence_record_key
from ledger.index.lookup import VerifiedIndex
from ledger.index.maintain import root_in, rule_in
from ledger.log.checkpoint import open_checkpoint
from ledger.log.operator import require_identity
from ledger.log.verify import check_prefix
from ledger.store import Entry, LedgerStore
from ledger.trust.dsse import Envelope
from ledger.trust.replay import shared_decoding

# An ingredient whose content hash nobody stated (a C2PA import where neither the files given,
# the ingredient's manifest nor a whole-file hard binding says it).  The schema requires 64 hex
# digits; no SHA-256 is all zeros in practice, so this value means "unknown" and the audit says so.
UNKNOWN_SHA256 = "0" * 64


@dataclass(frozen=True)
class Actor:
    actor_id: str
    kind: str
    name: str
    role: str  # the CAWG role
    job_title: str | None = None  # from the production role vocabulary


@dataclass(frozen=True)
class AiMaterial:
    """AI-generated material the company gave a writer, and when (WGA 2023 Art. 72)."""

    key: str  # "id@version"
    given_at: datetime


@dataclass(frozen=True)
class Writing:
    credit: str  # written_by | teleplay_by | story_by | screenplay_by
    ai_material: tuple[AiMaterial, ...]


@dataclass(frozen=True)
class Distribution:
    commercial: bool
    territories: tuple[str, ...]
    media: tuple[str, ...]


# Provenance events written with this schema version or later cite licence records; older
# ones carry free-text licence fields and are judged by the old rule.
LICENCE_RECORDS_SINCE = 3


@dataclass(frozen=True)
class Model:
    name: str
    version: str
    provider: str
    licence: str | None
    training_data: str | None
    licence_ref: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.provider})"


@dataclass(frozen=True)
class Ingredient:
    asset_id: str
    version: str
    content_sha256: str
    relationship: str

    @property
    def key(self) -> str:
        return asset_key(self.asset_id, self.version)


@dataclass(frozen=True)
class Permission:
    use_kind: str
    use: str
    constraint_info: str | None


@dataclass(frozen=True)
class Likeness:
    performer_id: str
    use: str
    consent_ref: str | None


@dataclass(frozen=True)
class C2paIngredient:
    """An ingredient's C2PA manifest and the verdict recorded on it when it was added."""

    key: str  # "id@version"
    manifest_label: str
    state: str
    status_codes: tuple[str, ...]


@dataclass(frozen=True)
class C2pa:
    """The C2PA manifest an event was imported from, and the reader's verdict (schema v4)."""

    manifest_label: str
    claim_generator: str | None
    issuer: str | None
    common_name: str | None
    state: str  # trusted | valid | untrusted_signer | invalid | unsigned
    checked: bool  # the importer's own reader validated the file (not copied from JSON)
    status_codes: tuple[str, ...]
    ingredients: tuple[C2paIngredient, ...]

    @property
    def signer(self) -> str:
        """The signer in plain words: "CN (issuer)", or what is known of it."""
        if self.common_name and self.issuer:
            return f"{self.common_name} (issued by {self.issuer})"
        return self.common_name or self.issuer or "an unnamed signer"


@dataclass(frozen=True)
class Step:
    """One provenance event: one action on one asset version, as recorded in the ledger."""

    seq: int
    event_id: str
    event_time: datetime
    signer_keyid: str
    show: str
    episode: str | None
    shot: str | None
    asset_id: str
    version: str
    content_sha256: str
    media_type: str
    actor: Actor
    tool: str | None
    model: Model | None
    action: str
    source_type: str  # the short IPTC term
    ingredients: tuple[Ingredient, ...]
    licence: str | None
    consent_refs: tuple[str, ...]
    permissions: tuple[Permission, ...]
    directed_by: tuple[str, ...]
    likeness: tuple[Likeness, ...]
    description: str | None
    schema_version: int = 0  # the provenance_event schema version it was written with
    licence_ref: str | None = None  # rights.licence_ref: the licence the asset is held under
    distribution: Distribution | None = None
    writing: Writing | None = None
    c2pa: C2pa | None = None

    @property
    def key(self) -> str:
        return asset_key(self.asset_id, self.version)

    @property
    def is_ai(self) -> bool:
        """The action was performed by an AI model."""
        return self.actor.kind == "ai_model" or self.model is not None

    @property
    def is_generative(self) -> bool:
        """The output is (in whole or part) generative-AI media by its own declaration."""
        return self.source_type in vocab.GENERATIVE_AI_SOURCE_TYPES

    @property
    def time(self) -> str:
        return format_time(self.event_time)


def _model(value: dict[str, Any] | None) -> Model | None:
    if value is None:
        return None
    return Model(
        value["name"],
        value["version"],
        value["provider"],
        value.get("licence"),
        value.get("training_data"),
        value.get("licence_ref"),
    )


def _tool(value: dict[str, Any] | None) -> str | None:
    return None if value is None else f"{value['name']} {value['version']}"


def _distribution(value: dict[str, Any] | None) -> Distribution | None:
    if value is None:
        return None
    return Distribution(value["commercial"], tuple(value["territories"]), tuple(value["media"]))


def _writing(value: dict[str, Any] | None) -> Writing | None:
    if value is None:
        return None
    given = tuple(
        AiMaterial(asset_key(m["asset_id"], m["version"]), m["given_at"])
        for m in value["ai_material"]
    )
    return Writing(value["credit"], given)


def _c2pa(value: dict[str, Any] | None) -> C2pa | None:
    if value is None:
        return None
    signer = value.get("signer") or {}
    return C2pa(
        value["manifest_label"],
        value.get("claim_generator"),
        signer.get("issuer"),
        signer.get("common_name"),
        value["state"],
        bool(value.get("checked")),
        tuple(value.get("status_codes", [])),
        tuple(
            C2paIngredient(
                asset_key(i["asset_id"], i["version"]),
                i["manifest_label"],
                i["state"],
                tuple(i.get("status_codes", [])),
            )
            for i in value.get("ingredients", [])
        ),
    )


def step_from_record(seq: int, signer: str, event: Record, schema_version: int = 0) -> Step:
    production, asset, actor = event["production"], event["asset"], event["actor"]
    rights = event.get("rights") or {}
    return Step(
        seq=seq,
        event_id=event["event_id"],
        event_time=event["event_time"],
        signer_keyid=signer,
        show=production["show"],
        episode=production.get("episode"),
        shot=production.get("shot"),
        asset_id=asset["asset_id"],
        version=asset["version"],
        content_sha256=asset["content_sha256"],
        media_type=asset["media_type"],
        actor=Actor(
            actor["actor_id"],
            actor["kind"],
            actor["display_name"],
            actor["role"],
            actor.get("job_title"),
        ),
        tool=_tool(event.get("tool")),
        model=_model(event.get("model")),
        action=event["action"],
        source_type=vocab.source_type_term(event["digital_source_type"]),
        ingredients=tuple(Ingredient(**i) for i in event.get("ingredients", [])),
        licence=rights.get("licence"),
        consent_refs=tuple(rights.get("consent_refs", [])),
        permissions=tuple(Permission(**p) for p in rights.get("training_mining", [])),
        directed_by=tuple(event.get("directed_by", [])),
        likeness=tuple(Likeness(**u) for u in event.get("likeness", [])),
        description=event.get("description"),
        schema_version=schema_version,
        licence_ref=rights.get("licence_ref"),
        distribution=_distribution(rights.get("distribution")),
        writing=_writing(event.get("writing")),
        c2pa=_c2pa(event.get("c2pa")),
    )


@dataclass(frozen=True)
class TreeState:
    """The tree an audit was computed at: a signed checkpoint, or the unsigned head."""

    size: int
    root_hash: bytes
    signed: bool
    note: str | None  # the signed checkpoint note, verbatim
    index_root: bytes | None = None  # the authenticated index's root the checkpoint commits to
    index_rule: str = "v1"  # the index rule the checkpoint's index line names

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.size,
            "root_hash": self.root_hash.hex(),
            "signed_checkpoint": self.signed,
        }


Progress = Callable[[int], None]


def tree_state(
    store: LedgerStore,
    *,
    at_head: bool = False,
    check: bool = True,
    progress: Progress | None = None,
) -> TreeState:
    """The latest signed checkpoint, or the head (size and Merkle root) when there is none.

    The checkpoint's signature is verified with the ledger's log key, and (``check``) the
    entries and index rows an audit reads below its size must be exactly those it commits to
    (:func:`ledger.verify.check_prefix`); otherwise :class:`VerificationFailure`: a report
    never states a checkpoint its data does not match.
    """
    checkpoint = None if at_head else store.latest_checkpoint()
    if checkpoint is not None:
        identity = require_identity(store)
        opened = open_checkpoint(checkpoint.note, identity.origin, identity.public_key)
        index_root = root_in(opened.extensions) or None
        rule = rule_in(opened.extensions) or "v1"
        state = TreeState(opened.size, opened.root_hash, True, checkpoint.note, index_root, rule)
    else:
        size = store.head().size
        state = TreeState(size, store.tree(size).root(), False, None)
    if check and indexed(store, state) is None:
        check_state(store, state, progress)
    return state


def indexed(store: LedgerStore, state: TreeState) -> VerifiedIndex | None:
    """Lookups through the authenticated index, when the signed checkpoint commits to the
    stored one; None otherwise (an older ledger, the unsigned head): then the linear guard."""
    if state.index_root is None or store.index_tables().head()[0] != state.size:
        return None
    index = VerifiedIndex(store, state.size, state.root_hash, state.index_root, state.index_rule)
    index.check_registry()
    return index


def check_state(store: LedgerStore, state: TreeState, progress: Progress | None = None) -> None:
    """:class:`VerificationFailure` unless the entries and index rows below ``state.size`` are
    exactly those its root commits to (:func:`ledger.log.verify.check_prefix`)."""
    report = check_prefix(store, state.size, state.root_hash, progress=progress)
    first = report.first
    if first is None:
        return
    what = "signed checkpoint" if state.signed else "ledger head"
    where = "" if first.seq is None else f" at entry {first.seq}"
    more = f" (and {len(report.damage) - 1} more)" if len(report.damage) > 1 else ""
    raise VerificationFailure(
        f"the ledger's data does not match the {what} of size {state.size}: {first.kind}"
        f"{where}: {first.detail}{more}; no report is stated on it",
        hint="run assetledger verify to see all the damage",
    )


@dataclass
class LedgerView:
    """Decoded entries below ``state.size``, fetched through the index and cached."""

    store: LedgerStore
    state: TreeState
    framing: SingleObjectFraming = field(default_factory=reader_framing)
    _steps: dict[int, Step | None] = field(default_factory=dict)
    _consents: dict[str, Consent | None] = field(default_factory=dict)
    _licences: dict[str, Licence | None] = field(default_factory=dict)
    # each entry's event decoded once: seq -> (envelope bytes, writer schema version, event)
    _records: dict[int, tuple[bytes, int | None, Record]] = field(default_factory=dict)
    # Reads through the authenticated index, each checked against the signed checkpoint
    # (None: through the query index, after the linear guard checked it).
    index: VerifiedIndex | None = None

    @classmethod
    def open(
        cls,
        store: LedgerStore,
        *,
        at_head: bool = False,
        check: bool = True,
        progress: Progress | None = None,
    ) -> LedgerView:
        """A view at the latest signed checkpoint (or the head), checked against it."""
        state = tree_state(store, at_head=at_head, check=False)
        index = indexed(store, state) if check else None  # built once: its top pages read
        if check and index is None:
            check_state(store, state, progress)
        return cls(store, state, index=index)

    def require_whole(self) -> None:
        """Before reading every entry below the tree size (not only what the index names):
        the linear guard, once, when the view reads through the index."""
        if self.index is not None:
            check_state(self.store, self.state)
            self.index = None

    def seqs(self, ref_kind: str, key: str) -> list[int]:
        if self.index is not None:
            return self.index.seqs(ref_kind, key)
        return [s for s in self.store.seqs_by_ref(ref_kind, key) if s < self.state.size]

    def prefetch(self, lookups: Iterable[tuple[str, str]]) -> None:
        """Answer these lookups (query kind, key) together ahead of their use: through the
        index, their keys and entries are read and checked in one batch; otherwise nothing."""
        if self.index is not None:
            self.index.prefetch(lookups)

    def entry(self, seq: int) -> Entry:
        if self.index is not None:
            return self.index.entry(seq)
        entry = self.store.entry(seq)
        if entry is None:
            raise LookupError(f"ledger entry {seq} is missing")
        return entry

    def decode(self, entry: Entry) -> Record:
        """The event ``entry`` holds, decoded once per view: the record is shared by every
        caller, who must read it and never change it."""
        return self._decoded(entry)[1]

    def _decoded(self, entry: Entry) -> tuple[int | None, Record]:
        cached = self._records.get(entry.seq)
        if cached is not None and (cached[0] is entry.envelope or cached[0] == entry.envelope):
            return cached[1], cached[2]
        found = self.index.decoded(entry) if self.index is not None else None
        if found is None and (shared := shared_decoding(entry)) is not None:
            # within decoding_once (a delivery packet): the envelope and event every layer
            # reads, decoded and validated once
            found = (self._writer_version(shared[0].payload), shared[1])
        if found is None:  # not read through the index: decode it here
            envelope = Envelope.decode(entry.envelope, self.framing)
            record = self.framing.decode(envelope.payload)[1]
            found = (self._writer_version(envelope.payload), record)
        self._records[entry.seq] = (entry.envelope, *found)
        return found

    def _writer_version(self, payload: bytes) -> int | None:
        try:
            return writer_schema(self.framing, payload).version
        except RejectedInput:
            return None

    def step(self, seq: int) -> Step | None:
        """The provenance step at ``seq`` (None for other kinds of entry)."""
        if seq not in self._steps:
            entry = self.entry(seq)
            self._steps[seq] = self._decode_step(entry) if entry.kind == PROVENANCE.record else None
        return self._steps[seq]

    def _decode_step(self, entry: Entry) -> Step:
        version, record = self._decoded(entry)
        if version is None:  # the index could not tell it: the decoding here names why
            version = writer_schema(
                self.framing, Envelope.decode(entry.envelope, self.framing).payload
            ).version
        return step_from_record(entry.seq, entry.signer_keyid, record, version)

    def by_event_id(self, event_id: str, key: str) -> Entry | None:
        """The entry holding event ``event_id`` below the tree size; through the index, the
        one of key ``key`` (``licence-record:ID``, ``licence:ID``, ``consent:ID``) whose signed
        event has that id."""
        if self.index is None:
            entry = self.store.entry_by_event_id(event_id)
            return entry if entry is not None and entry.seq < self.state.size else None
        seqs = self.index.key(key)
        stored = self.store.entry_by_event_id(event_id)
        if stored is not None and stored.seq in set(seqs):  # found by the column: check it
            return self.index.entry(stored.seq)  # raises unless the column is its envelope's
        # not found that way: the event ids the signed list's envelopes hold (an altered
        # event id column hides nothing), read many at a time
        signed = self.index.signed_event_ids(seqs)
        for seq in seqs:
            if signed[seq] == event_id:
                return self.index.entry(seq)  # checked whole: its column must say so too
        return None

    def licence(self, event_id: str) -> Licence | None:
        """The licence record with this event id below the tree size, else None.

        Through an index of rule ``v2``, key ``licence-record:ID`` lists the record alone: its
        presence or absence is one map path.  Under ``v1``, ``licence:ID`` lists every use of
        the licence too (its absence is read over them all)."""
        if event_id not in self._licences:
            key = f"licence:{event_id}"
            if self.index is not None and self.index.rule == RULE_V2:
                key = licence_record_key(event_id)
            entry = self.by_event_id(event_id, key)
            ok = entry is not None and entry.kind == LICENCE.record and entry.seq < self.state.size
            self._licences[event_id] = (
                Licence.from_record(self.decode(entry)) if ok and entry else None
            )
        return self._licences[event_id]

    def seq_of(self, event_id: str) -> int | None:
        entry = self.store.entry_by_event_id(event_id)
        if entry is None or entry.seq >= self.state.size:
            return None
        if (
            self.index is not None
            and self.decode(self.index.entry(entry.seq)).get("event_id") != event_id
        ):
            raise VerificationFailure(
                f"entry {entry.seq} is indexed as event {event_id}, its signed envelope holds"
                " another event: the ledger's event-id index was altered",
                hint="run assetledger verify",
            )
        return entry.seq

    def steps(self, ref_kind: str, key: str) -> list[Step]:
        found = (self.step(s) for s in self.seqs(ref_kind, key))
        return [s for s in found if s is not None]

    def recorded(self, key: str) -> list[Step]:
        """The steps that recorded asset version ``key`` ("id@version")."""
        return self.steps("asset_version", key)

    def users(self, key: str) -> list[Step]:
        """The steps that used asset version ``key`` as an ingredient."""
        return self.steps("ingredient", key)

    def consent(self, event_id: str) -> Consent | None:
        if event_id not in self._consents:
            entry = self.by_event_id(event_id, f"consent:{event_id}")
            ok = entry is not None and entry.kind == CONSENT.record and entry.seq < self.state.size
            self._consents[event_id] = (
                Consent.from_record(self.decode(entry)) if ok and entry else None
            )
        return self._consents[event_id]

    def revocations(self, consent_id: str) -> list[Consent]:
        found = (
            self.consent(self.entry(s).event_id) for s in self.seqs("consent_revokes", consent_id)
        )
        return [c for c in found if c is not None]

    def consents_for(self, ref_kind: str, key: str) -> list[Consent]:
        """Consent events indexed under (``consent_party`` | ``consent_asset`` | ``show``, key)."""
        out = []
        for seq in self.seqs(ref_kind, key):
            entry = self.entry(seq)
            if entry.kind == CONSENT.record:
                consent = self.consent(entry.event_id)
                if consent is not None:
                    out.append(consent)
        return out


def content_digest(body: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a report body: sorted keys, no spaces, UTF-8."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
