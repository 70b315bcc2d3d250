"""The authenticated index: a map from index keys to ledger entries, its root in checkpoints."""

# Public API: prove_about, verify_about (AboutVerdict, ProofFailure), the keys (production_key,
# model_key, KEY_KINDS) and update_index.  See docs/proofs.md §10.

from __future__ import annotations

from ledger.index.keys import KEY_KINDS, model_key, production_key
from ledger.index.maintain import update_index
from ledger.index.proof import AboutVerdict, ProofFailure, prove_about, verify_about

__all__ = [
    "KEY_KINDS",
    "AboutVerdict",
    "ProofFailure",
    "model_key",
    "production_key",
    "prove_about",
    "update_index",
    "verify_about",
]
