"""Completeness evidence: the packet holds *every* entry the log has that could change what the
disclosure says, not only the ones the studio chose to include.

The keys come from the disclosure (:func:`completeness_keys`), each bounded by the episode or by
one asset's, party's or model's own records, never by the whole ledger: ``asset:ID`` for every
asset version in a mapped clip's lineage (every event about it, with its approvals and counsel's
decisions), ``production:SHOW/EPISODE`` (every event of the episode: every use of a performer or
model in it, which the AI-usage register lists even outside the cut's lineages), ``party:ID``
(every consent, revocation and licence the party gave) for every performer and every grantor of
a cited consent, ``consent:ID`` (the cited consent and every revocation naming it), ``party:ID``
of the licensor of every licence record cited (a licence is never amended or revoked by
another event: the record cited is all its terms), or, for a licence record cited that the
disclosure says the log does not hold, ``licence-record:ID`` (the record alone: its absence is
one map path) when the packet's checkpoint names index rule ``v2``, ``licence:ID`` (the record
and every use naming it, across the whole ledger) when it names ``v1``,
``approval:CATEGORY/SHOW`` for every category of use in the cut and in the AI-usage register
(every approval and refusal of the category, whole-category or naming assets)
and ``registry:all`` (every key enrolment, rotation and revocation).  :func:`backing_problems`
checks that each claim of the disclosure is among the entries of the key it rests on.

When the packet's checkpoint commits to the authenticated index (an ``index/v1`` or
``index/v2`` extension line, docs/proofs.md), the packet carries one proof per key at
that checkpoint, in the packet's form (docs/packet.md): the map path and the indices of the
key's entries, each entry named by its index into the packet's one ``evidence/entries.jsonl``,
whose receipt shows its bytes and inclusion once (:func:`standalone` reassembles the
``prove --about`` proof from it).  Every entry a proof names must be in the evidence;
``packet verify`` checks each proof and that nothing it names is missing.  A checkpoint that
commits to no index gives a packet whose completeness is *not proven*, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ledger.index.smt as smt
from ledger.errors import RejectedInput, VerificationFailure
from ledger.events.approval import category_key
from ledger.events.kinds import kind_for_payload_type
from ledger.index import production_key
from ledger.index.batch import AboutBatch, EntryKeys, ListedProof
from ledger.index.keys import RULE_V1, RULE_V2, event_keys, licence_record_key
from ledger.index.maintain import entry_keys, root_in, rule_in, store_reader
from ledger.index.proof import HEADER, MALFORMED, ProofFailure, decode_hash
from ledger.log import checkpoint as cp
from ledger.log.operator import index_not_committed
from ledger.store import LedgerStore
from ledger.trust.replay import decode_entry

PROVEN = "proven"
NO_INDEX = "not proven: the packet's checkpoint commits to no authenticated index"


def completeness_keys(body: Mapping[str, Any], rule: str = RULE_V1) -> list[str]:
    """The index keys the disclosure's completeness rests on (see the module docstring), for a
    checkpoint whose index line names index rule ``rule``.

    Each is bounded by the episode (``production:``), by a lineage asset's own events
    (``asset:``), a category of use in the show (``approval:``), by the records one party gave
    (``party:``) or one consent and its revocations (``consent:``), and the key registry
    (``registry:all``): never by every use of a model or performer in the whole ledger."""
    keys: set[str] = {"registry:all"}  # every enrolment, rotation and revocation
    show = str(body.get("production", ""))
    if body.get("episode") is not None:  # the AI-usage register lists the episode's events
        keys.add(production_key(show, str(body["episode"])))
    for clip in body.get("clips", []):
        for use in clip.get("approvals", []):
            keys.add("approval:" + category_key(show, str(use["category"])))
        for node in clip.get("lineage", []):
            keys.add("asset:" + str(node).rpartition("@")[0])
        for use in clip.get("likeness", []):
            keys.update(_party_keys(use))
        for element in clip.get("ai_elements", []):
            keys.update(_licensor_keys(element, rule))
    for row in body.get("ai_register", []):
        keys.update(f"party:{p}" for p in row.get("likeness", []))
        keys.update(_licensor_keys(row, rule))
        # the register states each use's approval status, also for uses outside the cut's
        # lineages: a refusal of its category (show-wide, so not an event of the episode) or
        # one naming its asset must be in the packet too
        for use in row.get("approvals", []):
            keys.add("approval:" + category_key(show, str(use["category"])))
            keys.add("asset:" + str(row["asset"]).rpartition("@")[0])
    return sorted(keys)


def _party_keys(use: Mapping[str, Any]) -> list[str]:
    """The performer's own records; the consent cited and every revocation naming it
    (``consent:ID``); and, when that consent was given by another party (a rights holder), that
    party's records (a revocation counts only when the grantor gave it)."""
    keys = [f"party:{use['performer']}"]
    if use.get("consent_ref"):
        keys.append(f"consent:{use['consent_ref']}")
    consent = use.get("consent")
    if isinstance(consent, dict) and consent.get("party"):
        keys.append(f"party:{consent['party']}")
    return keys


def _licensor_keys(element: Mapping[str, Any], rule: str = RULE_V1) -> list[str]:
    """``party:LICENSOR`` of the licence record an AI element cites, when the log holds it;
    when the disclosure says the log does not (no licensor), a key listing the cited record, so
    that a record left out of the packet is a proof's entry missing (no licensor's key would
    name it): ``licence-record:REF`` (the record alone) under index rule ``v2``, else
    ``licence:REF`` (the record and every use naming it)."""
    record = element.get("licence_record")
    if not isinstance(record, dict):
        return []
    if record.get("licensor_id"):
        return [f"party:{record['licensor_id']}"]
    if record.get("licence_ref"):
        ref = str(record["licence_ref"])
        return [licence_record_key(ref) if rule == RULE_V2 else f"licence:{ref}"]
    return []


def backing_problems(
    body: Mapping[str, Any],
    proofs: Sequence[Any],
    seq_of: Callable[[str], int | None],
) -> list[str]:
    """Each claim of the disclosure rests on the entries a completeness proof lists: a likeness
    use or AI step in a clip is among its asset's (``asset:ID``) entries, one in the AI-usage
    register among the episode's (``production:SHOW/EPISODE``); the consent a use cites and its
    grant among its grantor's (``party:ID``) and the revocations it lists among the consent's
    (``consent:ID``); a licence record said to cover a use among
    its licensor's records (``party:LICENSOR``).  ``proofs``: the packet's proofs
    (each already checked); ``seq_of``: an event id's index in the evidence.  A claim outside
    its key's entries means the keys do not cover what the disclosure says."""
    listed: dict[str, set[int]] = {}
    for p in proofs:
        if isinstance(p, dict) and isinstance(p.get("key"), str):
            listed[p["key"]] = {i for i in p.get("entries", []) if type(i) is int}
    problems: list[str] = []

    def need(event_id: Any, key: str, what: str) -> None:
        seq = seq_of(str(event_id))
        if seq is None or seq not in listed.get(key, ()):
            problems.append(f"{what} {event_id} is not among the entries proven for {key}")

    show, episode = str(body.get("production", "")), body.get("episode")
    episode_key = production_key(show, str(episode)) if episode is not None else ""
    for clip in body.get("clips", []):
        for row in [*clip.get("likeness", []), *clip.get("ai_elements", [])]:
            need(row["event_id"], "asset:" + str(row["asset"]).rpartition("@")[0], "step")
        for use in clip.get("likeness", []):
            consent = use.get("consent")
            if isinstance(consent, dict):
                need(consent["event_id"], f"party:{consent['party']}", "consent record")
                for event_id in consent.get("revoked_by", []):
                    need(event_id, f"consent:{consent['event_id']}", "revocation")
        for element in clip.get("ai_elements", []):
            need_licence(element, need)
    for row in body.get("ai_register", []):
        need(row["event_id"], episode_key, "AI step")
        need_licence(row, need)
    return problems


def need_licence(element: Mapping[str, Any], need: Callable[[Any, str, str], None]) -> None:
    """A licence record the disclosure cites is one its licensor gave (one it says the log does
    not hold rests on its ``licence-record:REF`` or ``licence:REF`` key alone: the audit re-run
    on the packet's entries, which hold all of that key's, finds it if it is there)."""
    for key in _licensor_keys(element):
        if key.startswith("party:"):
            need(element["licence_record"]["licence_ref"], key, "licence record")


def commits_index(note: str, origin: str, log_key: Any) -> bool:
    opened = cp.open_checkpoint(note, origin, log_key)
    return root_in(opened.extensions) is not None


def index_rule_of(note: str, origin: str, log_key: Any) -> str:
    """The index rule the checkpoint's index line names (``v1`` when it has none)."""
    return rule_in(cp.open_checkpoint(note, origin, log_key).extensions) or RULE_V1


def prove(store: LedgerStore, keys: Iterable[str], size: int) -> dict[str, dict[str, Any]]:
    """A proof per key, in the packet's form, at the ledger's checkpoint of ``size`` (its latest,
    which must commit to the stored index, as ``prove --about`` requires).  The build checks
    them with :func:`check`, as ``packet verify`` does, before writing them."""
    tables = store.index_tables()
    if tables.head()[0] != size:
        raise index_not_committed(store, size, tables.head()[0], "build again")
    hashes = {key: smt.key_hash(key) for key in keys}
    found_paths = smt.paths(store_reader(store), hashes.values())  # shared nodes read once
    out = {}
    for key, k in hashes.items():
        found = found_paths[k]
        indices: list[int] = []
        if found.leaf is None:
            end = "empty"
        elif found.leaf[0] == k:
            end = "present"
            indices = tables.rows(k)
        else:
            other = tables.keys([found.leaf[0]]).get(found.leaf[0])
            if other is None:
                raise VerificationFailure(
                    "the index's tree names a key the index's key table does not hold",
                    hint="run assetledger verify",
                )
            end = f"other {cp.b64encode(found.leaf[0])} {cp.b64encode(other[2])}"
        out[key] = {
            "key": key,
            "path": [cp.b64encode(h) for h in found.siblings],
            "end": end,
            "entries": indices,
        }
    return out


def proven_indices(proofs: Mapping[str, Mapping[str, Any]]) -> set[int]:
    """Every entry the proofs name (the build adds them to the packet's evidence)."""
    return {int(i) for proof in proofs.values() for i in proof["entries"]}


def section(keys: list[str], proofs: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The packet's ``evidence/completeness.json``."""
    if proofs is None:
        return {"status": NO_INDEX, "keys": keys, "proofs": []}
    return {"status": PROVEN, "keys": keys, "proofs": [proofs[k] for k in keys]}


_FIELDS = {"key", "path", "end", "entries"}


def parse_listed(item: Any) -> ListedProof:
    """One proof of ``completeness.json`` (``{"key", "path", "end", "entries"}``, nothing
    else), strictly; :class:`ProofFailure` (``malformed``) if it is not one."""
    if not isinstance(item, dict) or set(item) != _FIELDS:
        raise ProofFailure(MALFORMED, "a proof is not exactly {key, path, end, entries}")
    key, path, end, entries = item["key"], item["path"], item["end"], item["entries"]
    if not isinstance(key, str) or not key:
        raise ProofFailure(MALFORMED, "the proof's key is not a string")
    if not isinstance(path, list) or len(path) > smt.KEY_BITS:
        raise ProofFailure(MALFORMED, "the path is not a list of at most 256 hashes")
    siblings = tuple(_hash(h, f"path hash #{n}") for n, h in enumerate(path))
    other = None
    words = end.split(" ") if isinstance(end, str) else []
    if len(words) == 3 and words[0] == "other":
        other = (_hash(words[1], "other key hash"), _hash(words[2], "other value"))
    elif words not in (["present"], ["empty"]):
        raise ProofFailure(MALFORMED, "'end' is not present, empty or other K V")
    if not isinstance(entries, list) or not all(type(i) is int and 0 <= i < 2**63 for i in entries):
        raise ProofFailure(MALFORMED, "'entries' is not a list of entry indices")
    return ListedProof(key, siblings, other, words == ["present"], tuple(entries))


_HASHES: dict[str, bytes] = {}
"""Path hashes already decoded: the map's upper siblings repeat in nearly every proof (the
depth-0 sibling in half of them); a text is decoded and checked once.  Bounded."""


def _hash(text: Any, what: str) -> bytes:
    if isinstance(text, str) and text in _HASHES:
        return _HASHES[text]
    value = _decode_hash(text, what)
    if len(_HASHES) >= 1 << 16:
        _HASHES.clear()
    _HASHES[text] = value
    return value


def _decode_hash(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ProofFailure(MALFORMED, f"{what} is not a base64 string")
    return decode_hash(text, what)


def standalone(
    item: Mapping[str, Any], note: str, held: Mapping[int, tuple[bytes, tuple[bytes, ...]]]
) -> str:
    """The ``prove --about`` proof (docs/proofs.md §10) a packet's proof stands for: its path and
    end, each entry's bytes and inclusion path from the packet's evidence (``held``: index ->
    entry bytes, path), and the packet's checkpoint note.  Byte for byte what ``prove --about``
    gives at that checkpoint; :func:`ledger.index.verify_about` checks it alone."""
    lines = [HEADER, f"key {cp.b64encode(str(item['key']).encode('utf-8'))}"]
    lines += [f"path {len(item['path'])}", *item["path"], f"end {item['end']}"]
    lines.append(f"entries {len(item['entries'])}")
    for index in item["entries"]:
        entry, path = held[index]
        lines.append(f"entry {index} {len(path)} {cp.b64encode(entry)}")
        lines += [cp.b64encode(h) for h in path]
    return "\n".join(lines) + "\n\n" + note


def decoded_keys(store: LedgerStore) -> EntryKeys:
    """The index keys of an entry's bytes from the event :func:`decode_entry` gives for the
    store's entry with those bytes (decoded once, in :func:`~ledger.trust.replay.decoding_once`),
    as :func:`ledger.index.maintain.entry_keys` derives them from the bytes alone."""
    by_bytes = {e.envelope: e for e in store.entries()}

    def keys(envelope: bytes, rule: str) -> Sequence[str]:
        entry = by_bytes.get(envelope)
        if entry is None:
            return entry_keys(envelope, rule=rule)
        try:
            env, event = decode_entry(entry)
        except RejectedInput:
            return entry_keys(envelope, rule=rule)
        kind = kind_for_payload_type(env.payload_type)
        return event_keys(kind.record, event, kind.refs(event), rule)

    return keys


def check(
    data: Any,
    keys: list[str],
    note: str,
    log_vkey: str,
    indexed: bool,
    held: Mapping[int, tuple[bytes, bytes, tuple[bytes, ...]]],
    entry_keys: EntryKeys | None = None,
) -> tuple[str, list[str]]:
    """(status, problems): the proofs are for exactly ``keys``, at the packet's checkpoint, and
    every entry they name is in the packet (``held``: index -> entry bytes, leaf hash and
    inclusion path of each evidence entry, each already verified to be included at ``note``'s
    tree, as ``packet verify`` checks every receipt first).  ``entry_keys``: the index keys of
    an entry's bytes, when the caller has decoded the entries already.

    Each proof is checked as :func:`ledger.index.verify_about` checks the standalone proof it
    stands for (:func:`standalone`), in one :class:`ledger.index.batch.AboutBatch`: the note
    opened once, each entry's inclusion and index keys checked once."""
    if not isinstance(data, dict) or not isinstance(data.get("proofs"), list):
        return "failed", ["evidence/completeness.json is not a completeness section"]
    if data.get("keys") != keys:
        return "failed", ["the keys listed are not the ones the disclosure rests on"]
    if not indexed:
        if data.get("status") != NO_INDEX or data["proofs"]:
            return "failed", ["the checkpoint commits to no index, yet proofs are claimed"]
        return NO_INDEX, []
    if data.get("status") != PROVEN:
        return "failed", ["the checkpoint commits to an index, but the packet proves nothing"]
    listed = [p.get("key") if isinstance(p, dict) else None for p in data["proofs"]]
    proofs = {p["key"]: p for p in data["proofs"] if isinstance(p, dict) and "key" in p}
    problems = [f"no proof for {k}" for k in keys if k not in proofs]
    problems += ["a proof entry is not an object with a key" for k in listed if k is None]
    counts: dict[Any, int] = {}
    for k in listed:
        counts[k] = counts.get(k, 0) + 1
    problems += [
        f"the proof for {k} is given {n} times"
        for k, n in sorted(counts.items(), key=lambda kv: str(kv[0]))
        if k is not None and n > 1
    ]  # only one would be checked; a reader may read another
    problems += [
        f"a proof for {str(k)[:80]}, which the disclosure does not rest on"
        for k in proofs
        if k not in keys
    ]
    batch = AboutBatch(log_vkey, entry_keys)
    try:
        checkpoint, _ = batch.open_note(note)
    except ProofFailure as exc:
        return "failed", [f"the packet's checkpoint cannot be opened: {exc.message}"]
    entries: dict[int, tuple[bytes, bytes]] = {}
    for seq, (entry, leaf, path) in held.items():
        batch.known_included(checkpoint.size, checkpoint.root_hash, seq, leaf, path)
        entries[seq] = (entry, leaf)
    for key in keys:
        if key in proofs:
            problems += _check_one(key, proofs[key], note, batch, entries)
    status = "failed" if problems else f"{PROVEN} for {len(keys)} keys"
    return status, problems


def _check_one(
    key: str,
    item: Any,
    note: str,
    batch: AboutBatch,
    held: Mapping[int, tuple[bytes, bytes]],
) -> list[str]:
    try:
        proof = parse_listed(item)
        if proof.key != key:
            return [f"the proof filed under {key} is about {proof.key}"]
        missing = batch.verify_listed(proof, note, held)
    except ProofFailure as exc:
        return [f"the proof for {key} fails ({exc.reason}): {exc.message}"]
    if missing:
        shown = ", ".join(str(i) for i in missing[:5])
        return [f"the log holds entries {shown} about {key}, which the packet leaves out"]
    return []
