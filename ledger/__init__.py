"""The ledger library: events, trust, the tamper-evident log, storage and audits."""
