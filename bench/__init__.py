"""The asset-ledger benchmark: ``python -m bench`` (``make bench``); see docs/benchmarks.md.

Everything is measured in one run on one machine, so the ratios (ingest and verify rate over
cores x raw Ed25519 verify rate) are meaningful even where absolute numbers are noisy.
"""
