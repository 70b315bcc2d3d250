"""Audits over the ledger: lineage, IP rules with evidence, credits, performers, safe text."""
