"""The authenticated index: a sparse Merkle map from index keys to the ledger indices filed
under them, derived from the log, its root committed in every signed checkpoint.

Public API: :func:`prove_about`, :func:`verify_about` (:class:`AboutVerdict`), the keys
(:func:`production_key`, :func:`model_key`, :data:`KEY_KINDS`), and :func:`update_index`.
"""

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
