"""Tamper evidence: Merkle tree, checkpoints, receipts, operator, verification, verdicts."""
