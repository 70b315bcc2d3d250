"""Audits over the ledger: lineage, IP findings with evidence, credits, reports, C2PA bridge.

Library code only (no CLI, no printing); the commands live in ``cli/audit.py``.
"""

from __future__ import annotations

import ledger.consent  # noqa: F401  (registers the consent_event kind)
