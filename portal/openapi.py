"""The OpenAPI 3.1 document of the portal's JSON API (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

PRODUCTION = {
    "name": "production",
    "in": "path",
    "required": True,
    "description": "Show name, as granted to the account (e.g. 'Fallen Tower').",
    "schema": {"type": "string", "maxLength": 200},
}
EPISODE = {
    "name": "episode",
    "in": "query",
    "required": False,
    "description": "Only this episode of the production.",
    "schema": {"type": "string", "maxLength": 100},
}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


def _query(name: str, description: str, values: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": 200}
    if values:
        schema["enum"] = values
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


FINDING_FILTERS = [
    _query("rule", "Only findings of this rule."),
    _query("severity", "Only findings of this severity.",
           ["critical", "high", "medium", "low", "info"]),
    _query("shot", "Only findings about an asset of this shot."),
    _query("status", "open, disposed (any decision), or one decision.",
           ["open", "disposed", "cleared", "waived", "remediated", "reopened"]),
    _query("sort", "Sort order (default: most severe first).",
           ["severity", "rule", "asset", "shot", "status", "id"]),
]  # fmt: skip
ACCESS_FILTERS = [
    _query("account", "Only this account's requests."),
    _query("action", "Only this action (e.g. credits.view, login)."),
    _query("outcome", "allowed, refused (every refusal), or one outcome.",
           ["allowed", "refused", "denied", "unauthenticated", "csrf-failed", "rate-limited"]),
    _query("from", "From this day (YYYY-MM-DD, UTC)."),
    _query("to", "To this day, inclusive (YYYY-MM-DD, UTC)."),
    _query("page", "Page number, from 1 (50 records a page)."),
]  # fmt: skip


ENDPOINTS: list[tuple[str, str, str, list[dict[str, Any]], str]] = [
    # (path, summary, who may call it, parameters, media type)
    ("/me", "The account, its grants and what it may open.", "any account", [], "json"),
    ("/p/{production}", "Counsel's dashboard: ship status per deliverable, findings by "
     "severity.", "counsel", [PRODUCTION], "json"),
    ("/p/{production}/findings", "Every finding of the audit, filtered and sorted.", "counsel",
     [PRODUCTION, *FINDING_FILTERS], "json"),
    ("/p/{production}/findings/{fid}", "One finding with its explanation and evidence.",
     "counsel", [PRODUCTION, _path("fid", "Finding id from the dashboard.")], "json"),
    ("/p/{production}/consents", "Consent records and the uses that need consent.", "counsel",
     [PRODUCTION], "json"),
    ("/p/{production}/ai", "The AI-usage register: generative output and models.", "counsel",
     [PRODUCTION], "json"),
    ("/p/{production}/credits", "The credit report (human credit lines, AI disclosures).",
     "counsel, guild", [PRODUCTION, EPISODE], "json"),
    ("/p/{production}/members", "Consent status of the guild's members' likeness uses.",
     "guild", [PRODUCTION], "json"),
    ("/health", "Ledger health: checkpoint and age, verification, quarantine, consumer lag.",
     "auditor", [], "json"),
    ("/admin/accounts", "Portal accounts.", "admin", [], "json"),
    ("/admin/access-log", "Who viewed or downloaded what, newest first, filtered, a page at a "
     "time.", "admin", ACCESS_FILTERS, "json"),
    ("/search", "Search by asset id, person, model, SHA-256 or event id, within what the "
     "account may open.", "any account", [_query("q", "What to look for (2-200 characters).")],
     "json"),
    ("/p/{production}/report.{fmt}", "The audit report (html, pdf or json).", "counsel",
     [PRODUCTION, {**_path("fmt", "html, pdf or json"),
                   "schema": {"enum": ["html", "pdf", "json"]}}], "file"),
    ("/p/{production}/credits.{fmt}", "The credit report (csv, pdf, html or json).",
     "counsel, guild", [PRODUCTION, EPISODE, {**_path("fmt", "csv, pdf, html or json"),
                                              "schema": {"enum": ["csv", "pdf", "html", "json"]}}],
     "file"),
    ("/p/{production}/lineage.svg", "Lineage picture of an audited asset version.", "counsel",
     [PRODUCTION, {"name": "asset", "in": "query", "required": True,
                   "schema": {"type": "string"}}], "svg"),
    ("/p/{production}/receipts/{event_id}", "Offline receipt (C2SP tlog-proof, with the entry) "
     "for a record that counts for the production.", "counsel",
     [PRODUCTION, _path("event_id", "Event id.")], "text"),
    ("/health/checkpoint", "The latest signed checkpoint (C2SP signed note).", "auditor", [],
     "text"),
    ("/health/receipts/{event_id}", "Leaf-hash receipt (no entry bytes) for any event.",
     "auditor",
     [_path("event_id", "Event id.")], "text"),
    ("/health/receipt", "Leaf-hash receipt for any event (the health page's form).", "auditor",
     [{"name": "event_id", "in": "query", "required": True, "schema": {"type": "string"}}],
     "text"),
    ("/health/consistency/{old}", "Consistency proof from an earlier signed checkpoint to the "
     "latest.", "auditor", [_path("old", "Tree size of the earlier checkpoint.")], "text"),
]  # fmt: skip

PARTY = _path(
    "party",
    "Performer id, e.g. performer:dana-whitfield: the account's own (a"
    " performer) or one it represents (an agent); any other answers 404.",
)
REGISTER_FMT = {
    **_path("fmt", "csv, pdf, html or json"),
    "schema": {"enum": ["csv", "pdf", "html", "json"]},
}
ENDPOINTS += [
    # performers' pages, consent impact and the replica register (portal/performer.py)
    ("/performers/{party}", "Every use of a performer's likeness and voice in every production:"
     " consent or why not, compensation, deliverables, findings and decisions.",
     "performer, agent (for that party)", [PARTY], "json"),
    ("/performers/{party}/register.{fmt}", "The register of a performer's uses.",
     "performer, agent (for that party)", [PARTY, REGISTER_FMT], "file"),
    ("/performers/{party}/proofs/{what}", "A completeness proof from the authenticated index "
     "(uses: key performer:ID; consents: key party:ID); verify-receipt checks it offline.",
     "performer, agent (for that party)",
     [PARTY, {**_path("what", "uses or consents"), "schema": {"enum": ["uses", "consents"]}}],
     "text"),
    ("/p/{production}/impacts", "Revoked or expiring consents: deliverables and shots using "
     "the likeness, ship status, what to remediate (guild: its members' open ones).",
     "counsel, guild", [PRODUCTION, {"name": "days", "in": "query", "required": False,
                                     "schema": {"type": "integer", "maximum": 3650}}], "json"),
    ("/p/{production}/register", "The replica usage register (guild: its members).",
     "counsel, guild", [PRODUCTION], "json"),
    ("/p/{production}/register.{fmt}", "The replica usage register as a file.",
     "counsel, guild", [PRODUCTION, REGISTER_FMT], "file"),
]  # fmt: skip

PACKET_ID = _path("packet_id", "The packet's id: the first 16 hex digits of its .zip's SHA-256.")
ENDPOINTS += [
    # delivery packets (portal/packets.py), each verified offline when the portal started
    ("/p/{production}/packets", "The production's delivery packets, each verified.", "counsel",
     [PRODUCTION], "json"),
    ("/p/{production}/packets/{packet_id}", "A packet's disclosure (JSON) and its verification.",
     "counsel", [PRODUCTION, PACKET_ID], "json"),
    ("/p/{production}/packets/{packet_id}/disclosure.html", "The packet's own disclosure.html, "
     "byte for byte.", "counsel", [PRODUCTION, PACKET_ID], "file"),
    ("/p/{production}/packets/{packet_id}/packet.zip", "The packet .zip.", "counsel",
     [PRODUCTION, PACKET_ID], "file"),
    ("/packets", "Every delivery packet served, with its verification result.", "auditor", [],
     "json"),
    ("/packets/{packet_id}", "A packet's verification result (checks and problems).", "auditor",
     [PACKET_ID], "json"),
    ("/packets/{packet_id}/packet.zip", "The packet .zip.", "auditor", [PACKET_ID], "file"),
]  # fmt: skip

MEDIA = {
    "json": {"application/json": {"schema": {"type": "object"}}},
    "file": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    "svg": {"image/svg+xml": {"schema": {"type": "string"}}},
    "text": {"text/plain": {"schema": {"type": "string"}}},
}


def document(prefix: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, summary, roles, parameters, media in ENDPOINTS:
        paths[prefix + path] = {
            "get": {
                "summary": summary,
                "description": f"Allowed for: {roles} (with a grant for the production).",
                "parameters": parameters,
                "responses": {
                    "200": {"description": "OK", "content": MEDIA[media]},
                    "401": {"description": "No valid session or API token."},
                    "403": {"description": "The account's role may not do this."},
                    "404": {"description": "Not found, or outside the account's grants."},
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "asset-ledger portal API",
            "version": "1",
            "description": "Read-only access to the provenance ledger under the portal's "
            "roles and grants. Create a token with `assetledger users token NAME`.",
        },
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "alp_… token"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-assetledger-session",
                },
            }
        },
        "paths": paths,
    }
