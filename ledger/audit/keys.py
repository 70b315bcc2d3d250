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
from collections.abc import Iterable, Mapping
from typing import Any

from ledger.audit.rules import SignerVerdict, SignerVerdicts
from ledger.store import Entry, LedgerStore

KEY_VERDICTS = ("signature", "signer_trusted", "key_valid")


def registry_verdicts(store: LedgerStore) -> SignerVerdicts | None:
    """Verdicts from the key registry (None when :mod:`ledger.log.verdicts` is not present)."""
    try:
        module: Any = importlib.import_module("ledger.log.verdicts")
    except ImportError:
        return None
    return RegistryVerdicts(store, module)


class RegistryVerdicts:
    """Each entry's signer verdict, computed once; :meth:`prefetch` reads many entries and
    verifies their inclusion proofs in one batch ahead of the audit's rules."""

    def __init__(self, store: LedgerStore, module: Any) -> None:
        self.store = store
        self.module = module
        self.context = module.VerdictContext(store)
        self.cache: dict[int, SignerVerdict] = {}
        self.entries: dict[int, Entry] = {}

    def prefetch(self, seqs: Iterable[int]) -> None:
        wanted = [s for s in set(seqs) if s not in self.cache and s not in self.entries]
        entries = self.store.entries_at(wanted)
        self.entries.update((e.seq, e) for e in entries)
        self.context.anchors.prove_many(entries)

    def __call__(self, seq: int) -> SignerVerdict:
        if seq not in self.cache:
            entry = self.entries.pop(seq, None) or self.store.entry(seq)
            if entry is None:
                return SignerVerdict(False, f"entry {seq} is missing from the ledger")
            # only a failure's words are read: a verdict that holds is not put in words
            found = self.module.entry_verdicts(self.context, entry, reasons=False)
            self.cache[seq] = _from_entry_verdicts(found)
        return self.cache[seq]


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
