"""Signer verdicts for the ``signer-not-trusted`` rule, from the ledger's key registry.

The rule itself (:func:`ledger.audit.rules.signer_rule`) only needs a function from a ledger
sequence number to a :class:`SignerVerdict`.  :func:`registry_verdicts` builds that function
from :mod:`ledger.log.verdicts` (signature, signer trusted when appended, key valid and in scope
at the event's time); it returns None when that module is not available in this build, so
audits still run, without the rule.  :func:`folder_verdicts` is the simple alternative: a
key is trusted when it is in a folder of public keys.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ledger.audit.rules import SignerVerdict, SignerVerdicts
from ledger.store import LedgerStore

KEY_VERDICTS = ("signature", "signer_trusted", "key_valid")


def registry_verdicts(store: LedgerStore) -> SignerVerdicts | None:
    """Verdicts from the key registry (None when :mod:`ledger.log.verdicts` is not present)."""
    try:
        module: Any = importlib.import_module("ledger.log.verdicts")
    except ImportError:
        return None
    context = module.VerdictContext(store)
    cache: dict[int, SignerVerdict] = {}

    def verdict(seq: int) -> SignerVerdict:
        if seq not in cache:
            entry = store.entry(seq)
            if entry is None:
                return SignerVerdict(False, f"entry {seq} is missing from the ledger")
            cache[seq] = _from_entry_verdicts(module.entry_verdicts(context, entry))
        return cache[seq]

    return verdict


def _from_entry_verdicts(result: Any) -> SignerVerdict:
    failed = [
        (name, v)
        for name, v in result.verdicts.items()
        if name in KEY_VERDICTS and str(v.status) == "failed"
    ]
    compromised = getattr(result, "compromised", None)
    if not failed:
        return SignerVerdict(True, compromised=compromised)
    return SignerVerdict(
        False,
        "; ".join(f"failed the {name} check ({v.reason})" for name, v in failed),
        compromised=compromised,
    )


def folder_verdicts(store: LedgerStore, trusted: Mapping[str, object]) -> SignerVerdicts:
    """A key is trusted when its id is among ``trusted`` (e.g. a folder of ``*.pub`` files)."""

    def verdict(seq: int) -> SignerVerdict:
        entry = store.entry(seq)
        if entry is None:
            return SignerVerdict(False, f"entry {seq} is missing from the ledger")
        if entry.signer_keyid in trusted:
            return SignerVerdict(True)
        return SignerVerdict(False, "is not among the trusted keys given to the audit")

    return verdict
