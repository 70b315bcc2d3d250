"""Completeness evidence: the packet holds *every* entry the log has about each asset in every
clip's lineage, each performer and each model, not only the ones the studio chose to include.

The keys come from the disclosure (:func:`completeness_keys`): ``asset:ID`` for every asset
version in a mapped clip's lineage (with its approvals and counsel's decisions), ``performer:ID``
(likeness uses) and ``party:ID`` (consents and revocations given) for every performer,
``model:PROVIDER/NAME`` for every AI model, ``approval:CATEGORY/SHOW`` for every category of use
(whole-category approvals and refusals), ``production:SHOW/EPISODE`` (the episode's events, which
the AI-usage register lists even outside the cut's lineages) and ``registry:all`` (every key
enrolment, rotation and revocation).  When
the packet's checkpoint commits to the authenticated index (an ``index/v1`` extension line,
docs/proofs.md), the packet carries one proof per key (:func:`ledger.index.prove_about`) at
that checkpoint, and every entry a proof names is in the packet's evidence; ``packet verify``
checks each proof and that nothing it names is missing.  A checkpoint that commits to no index
gives a packet whose completeness is *not proven*, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

from ledger.events.approval import category_key
from ledger.index import model_key, production_key, prove_about
from ledger.index.batch import AboutBatch
from ledger.index.maintain import root_in
from ledger.index.proof import ProofFailure, parse_about
from ledger.log import checkpoint as cp
from ledger.store import LedgerStore

PROVEN = "proven"
NO_INDEX = "not proven: the packet's checkpoint commits to no authenticated index"


def completeness_keys(body: Mapping[str, Any]) -> list[str]:
    """The index keys the disclosure's completeness rests on (see the module docstring)."""
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
            keys.update((f"performer:{use['performer']}", f"party:{use['performer']}"))
        for element in clip.get("ai_elements", []):
            model = element.get("model")
            if model:
                keys.add(model_key(str(model["provider"]), str(model["name"])))
    return sorted(keys)


def commits_index(note: str, origin: str, log_key: Any) -> bool:
    opened = cp.open_checkpoint(note, origin, log_key)
    return root_in(opened.extensions) is not None


def prove(store: LedgerStore, keys: Iterable[str]) -> dict[str, str]:
    """A proof per key at the ledger's latest checkpoint (which the packet is built at)."""
    return {key: prove_about(store, key) for key in keys}


def proven_indices(proofs: Mapping[str, str]) -> set[int]:
    """Every entry the proofs name (the build adds them to the packet's evidence)."""
    return {e.index for text in proofs.values() for e in parse_about(text).entries}


def section(keys: list[str], proofs: Mapping[str, str] | None) -> dict[str, Any]:
    """The packet's ``evidence/completeness.json``."""
    if proofs is None:
        return {"status": NO_INDEX, "keys": keys, "proofs": []}
    return {
        "status": PROVEN,
        "keys": keys,
        "proofs": [{"key": k, "proof": proofs[k]} for k in keys],
    }


def check(
    data: Any,
    keys: list[str],
    note: str,
    log_vkey: str,
    indexed: bool,
    held: Mapping[int, tuple[bytes, tuple[bytes, ...]]],
) -> tuple[str, list[str]]:
    """(status, problems): the proofs are for exactly ``keys``, at the packet's checkpoint, and
    every entry they name is in the packet (``held``: sequence number -> leaf hash and inclusion
    path of each evidence entry, each already verified to be included at ``note``'s tree).

    The proofs are verified as :func:`ledger.index.verify_about` verifies one, in one
    :class:`ledger.index.batch.AboutBatch` (the note opened once, each entry checked once)."""
    if not isinstance(data, dict) or not isinstance(data.get("proofs"), list):
        return "failed", ["evidence/completeness.json is not a completeness section"]
    if data.get("keys") != keys:
        return "failed", ["the keys listed are not the ones the disclosure rests on"]
    if not indexed:
        if data.get("status") != NO_INDEX:
            return "failed", ["the checkpoint commits to no index, yet proofs are claimed"]
        return NO_INDEX, []
    if data.get("status") != PROVEN:
        return "failed", ["the checkpoint commits to an index, but the packet proves nothing"]
    listed = [str(p.get("key")) if isinstance(p, dict) else None for p in data["proofs"]]
    proofs = {str(p.get("key")): str(p.get("proof")) for p in data["proofs"] if isinstance(p, dict)}
    problems = [f"no proof for {k}" for k in keys if k not in proofs]
    problems += ["a proof entry is not {key, proof}" for k in listed if k is None]
    problems += [
        f"the proof for {k} is given {listed.count(k)} times"
        for k in sorted(proofs)
        if listed.count(k) > 1
    ]  # only one would be checked; a reader may read another
    problems += [
        f"a proof for {k}, which the disclosure does not rest on" for k in proofs if k not in keys
    ]
    batch = AboutBatch(log_vkey)
    try:
        checkpoint, _ = batch.open_note(note)
    except ProofFailure as exc:
        return "failed", [f"the packet's checkpoint cannot be opened: {exc.message}"]
    for seq, (leaf, path) in held.items():
        batch.known_included(checkpoint.size, checkpoint.root_hash, seq, leaf, path)
    for key in keys:
        if key in proofs:
            problems += _check_one(key, proofs[key], note, batch, held.keys())
    status = "failed" if problems else f"proven for {len(keys)} keys"
    return status, problems


def _check_one(key: str, text: str, note: str, batch: AboutBatch, held: Set[int]) -> list[str]:
    try:
        proof = parse_about(text)
        if proof.checkpoint != note:
            return [f"the proof for {key} is at another checkpoint than the packet's"]
        verdict = batch.verify_parsed(proof)
    except ProofFailure as exc:
        return [f"the proof for {key} fails ({exc.reason}): {exc.message}"]
    if verdict.key != key:
        return [f"the proof filed under {key} is about {verdict.key}"]
    missing = [i for i in verdict.indices if i not in held]
    if missing:
        shown = ", ".join(str(i) for i in missing[:5])
        return [f"the log holds entries {shown} about {key}, which the packet leaves out"]
    return []
