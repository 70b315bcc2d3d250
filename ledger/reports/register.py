"""The replica usage register as a document (HTML or PDF): :mod:`ledger.audit.performers`' rows."""

from __future__ import annotations

from typing import Any

from ledger.audit.model import LedgerView
from ledger.reports.document import Block, Document, Heading, Para, table
from ledger.reports.report import tree_sentence


def register_document(view: LedgerView, data: dict[str, Any]) -> Document:
    """The register as a document (HTML or PDF), grouped by performer and episode."""
    blocks: list[Block] = [Para(tree_sentence(view.state))]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in data["uses"]:
        key = (r["performer_name"] or r["performer"], r["production"], r["episode"])
        groups.setdefault(key, []).append(r)
    for (who, production, episode), rows in sorted(groups.items()):
        blocks.append(Heading(f"{who}: {production}, episode {episode or '-'}", 3))
        blocks.append(
            table(
                ("shot", "asset", "kind", "consent", "status", "compensation", "deliverables"),
                [
                    (
                        r["shot"],
                        r["asset"],
                        r["kind"],
                        r["consent_ref"] or "none",
                        r["consent_status"],
                        r["compensation_ref"] or "-",
                        r["deliverables"] or "-",
                    )
                    for r in rows
                ],
                (1, 2.6, 1.1, 2.2, 3, 2.2, 2.4),
            )
        )
    if not groups:
        blocks.append(Para("No uses of a member's likeness or voice are recorded.", "note"))
    blocks.append(Para(f"Content SHA-256 (canonical JSON): {data['content_sha256']}", "note"))
    return Document(
        data["title"], "Replica usage register from the provenance ledger", tuple(blocks)
    )
