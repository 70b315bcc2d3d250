"""The index keys of a ledger event: what the authenticated index (the map) files it under.

A key is text, ``<kind>:<name>``.  Every query index row an event gives (its kind's ``refs``)
maps to one key by :func:`ref_key` (an ``episode`` row to the ``production:`` keys of its
possible splits), so the list the map holds for a key is a superset of the rows of every
query index lookup that maps to it, and an audit can read its lookups through the map and
filter them by the event itself.  Beyond the rows, an event is filed under:

* ``asset:ID`` for every ``version:ID@V`` key it has (every event about any version);
* ``licence:ID`` for a licence record (its event id) and for every use naming it
  (``rights.licence_ref``, ``model.licence_ref``);
* ``model:PROVIDER/NAME`` for a licence record naming the model and every use of it;
* under index rule ``v2`` only, ``licence-record:ID`` for the licence record itself (no use):
  its absence is one map path, where ``licence:ID`` lists every use of the licence too.

The rule is fixed per ledger (ledger meta ``index_rule``, ``v2`` for ledgers created since it
exists; a ledger without it is ``v1``) and named by every checkpoint's index line
(``index/v1`` / ``index/v2``): a new key kind changes the root, so old checkpoints, which
commit to ``v1`` roots, stay verifiable only when their ledger keeps deriving ``v1`` keys.

Names that join two parts (``production:SHOW/EPISODE``, ``model:PROVIDER/NAME``) percent-encode
``%`` and ``/`` in each part, so a show named ``A/B`` cannot pass for show ``A``, episode ``B``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.events.consent import CONSENT
from ledger.events.licence import LICENCE
from ledger.events.provenance import PROVENANCE

Record = dict[str, Any]

KEY_KINDS = (
    "asset",
    "version",
    "party",
    "performer",
    "actor",
    "model",
    "licence",
    "licence-record",
    "consent",
    "key",
    "registry",
    "production",
    "finding",
    "approval",
)
"""Every key kind, the part before the first colon (``licence-record``: rule ``v2`` only)."""

INDEX_RULES = ("v1", "v2")
"""The index rule versions: which keys an event is filed under (fixed per ledger)."""
RULE_V1, RULE_V2 = INDEX_RULES


def licence_record_key(event_id: str) -> str:
    """``licence-record:ID``: filed only on licence record ``ID`` itself (rule ``v2``)."""
    return f"licence-record:{event_id}"


def check_rule(rule: str) -> str:
    """``rule`` if it is a known index rule version (else ValueError: a caller's bug)."""
    if rule not in INDEX_RULES:
        raise ValueError(f"unknown index rule {rule!r}")
    return rule


# query index row kind -> key kind (``episode`` is split, see :func:`ref_keys`)
REF_KEY_KIND = {
    "asset": "asset",
    "asset_version": "version",
    "ingredient": "version",
    "disposition_asset": "version",
    "replacement": "version",
    "consent_asset": "asset",
    "licence_asset": "asset",
    "actor": "actor",
    "directed_by": "actor",
    "registry_actor": "actor",
    "performer": "performer",
    "consent_party": "party",
    "licensor": "party",
    "consent_revokes": "consent",
    "show": "production",
    "licence_model": "model",
    "registry": "registry",
    "registry_key": "key",
    "finding": "finding",
    "approval_asset": "version",
    "approval_category": "approval",
}


def part(text: str) -> str:
    """One part of a joined name: ``%`` and ``/`` percent-encoded (``%25``, ``%2F``)."""
    return text.replace("%", "%25").replace("/", "%2F")


def production_key(show: str, episode: str | None = None) -> str:
    """``production:SHOW`` or ``production:SHOW/EPISODE``, each part encoded by :func:`part`."""
    if episode:
        return f"production:{part(show)}/{part(episode)}"
    return f"production:{part(show)}"


def model_key(provider: str, name: str) -> str:
    return f"model:{part(provider)}/{part(name)}"


def ref_keys(ref_kind: str, value: str) -> list[str]:
    """The index keys whose lists hold every entry with query index row ``(ref_kind, value)``.

    One key for every row kind but ``episode`` (``SHOW/EPISODE`` joined with an unencoded
    ``/``) and ``licence_model`` (``PROVIDER/NAME``): for those, every split at a ``/``, since
    either part may itself hold one.  Empty for a row kind the map does not know.
    """
    if ref_kind == "episode":
        return [production_key(a, b) for a, b in _splits(value)]
    if ref_kind == "licence_model":
        return [model_key(a, b) for a, b in _splits(value)]
    kind = REF_KEY_KIND.get(ref_kind)
    if kind is None:
        return []
    if kind == "production":
        return [production_key(value)]
    return [f"{kind}:{value}"]


def _splits(value: str) -> list[tuple[str, str]]:
    cuts = [i for i, c in enumerate(value) if c == "/"]
    return [(value[:i], value[i + 1 :]) for i in cuts]


def event_keys(
    record: str, event: Record, refs: Iterable[tuple[str, str]], rule: str = RULE_V1
) -> list[str]:
    """Every index key of one event (kind ``record``, its query index rows ``refs``), sorted,
    under index rule ``rule`` (``v1`` or ``v2``: see the module's text)."""
    keys: set[str] = set()
    for kind, value in refs:
        if kind == "episode":  # the true split, from the event itself
            production = event["production"]
            keys.add(production_key(production["show"], production["episode"]))
        elif kind == "licence_model":
            continue  # from the event's models below
        else:
            keys.update(ref_keys(kind, value))
    keys.update(_extra_keys(record, event))
    if check_rule(rule) == RULE_V2 and record == LICENCE.record:
        keys.add(licence_record_key(event["event_id"]))
    keys.update(
        "asset:" + k[len("version:") :].rpartition("@")[0] for k in list(keys) if _is_version(k)
    )
    return sorted(keys)


def _is_version(key: str) -> bool:
    return key.startswith("version:") and "@" in key


def _extra_keys(record: str, event: Record) -> list[str]:
    if record == LICENCE.record:
        keys = [f"licence:{event['event_id']}"]
        keys += [model_key(m["provider"], m["name"]) for m in event["models"]]
        return keys
    if record == PROVENANCE.record:
        return _use_keys(event)
    if record == CONSENT.record:  # structured coverage (schema v3): never split at "/"
        keys = [f"consent:{event['event_id']}"]
        keys += [production_key(c["show"], c.get("episode")) for c in event.get("coverage", [])]
        return keys
    return []  # dispositions and key registry events: their query index rows say it all


def _use_keys(event: Record) -> list[str]:
    keys = []
    model = event.get("model")
    if model:
        keys.append(model_key(str(model["provider"]), str(model["name"])))
        if model.get("licence_ref"):
            keys.append(f"licence:{model['licence_ref']}")
    rights = event.get("rights") or {}
    if rights.get("licence_ref"):
        keys.append(f"licence:{rights['licence_ref']}")
    return keys
