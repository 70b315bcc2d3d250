"""``assetledger audit uses|impact|register``: a performer's uses, consent impact, the register.

A thin layer over :mod:`ledger.audit.performers`; each production's audit is the one
``audit ip`` runs (same signer verdicts, waivers judged at ``--as-of``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cli import common
from cli.audit import (
    as_of_option,
    at_head_option,
    document_result,
    dumps,
    open_view,
    output_option,
    parse_as_of,
    signer_verdicts,
    trusted_keys_option,
    write_result,
)
from ledger.audit.ip import AuditResult, Scope, run_audit, start_of_today
from ledger.audit.model import LedgerView
from ledger.audit.performers import (
    EXPIRY_WINDOW_DAYS,
    REGISTER_COLUMNS,
    Audits,
    Impact,
    Timecodes,
    one_name,
    party_impacts,
    party_name,
    party_register_rows,
    performer_uses,
    production_impacts,
    production_names,
    production_uses,
    register_json,
    register_rows,
    require_party,
)
from ledger.audit.production import require_production
from ledger.audit.text import csv_text, printable
from ledger.errors import ConfigurationError, VerificationFailure
from ledger.log.operator import META_LOG_VKEY
from ledger.packet.timecodes import packet_timecodes
from ledger.reports.register import register_document
from ledger.store import LedgerStore


def _audits(view: LedgerView, trusted_keys: Path | None, as_of: datetime | None) -> Audits:
    verdicts = signer_verdicts(view.store, trusted_keys)
    done: dict[str, AuditResult] = {}

    def audit_of(production: str) -> AuditResult:
        if production not in done:
            common.err(f"auditing {production}")
            done[production] = run_audit(
                view, Scope(production), signer_verdicts=verdicts, as_of=as_of
            )
        return done[production]

    return audit_of


def audit_options(f: common.F) -> common.F:
    """``--as-of``, ``--trusted-keys``, ``--at-head``, ``-o`` and ``--ledger``, as audit ip has."""
    for option in (common.ledger_option, output_option, at_head_option, trusted_keys_option):
        f = option(f)
    return as_of_option(f)  # type: ignore[no-any-return]


packets_option = click.option(
    "--packet",
    "packets",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A delivery packet (folder or .zip) of this ledger, verified first; repeatable. Its"
    " cut gives the record timecodes of each use (without one they are not known).",
)


def _timecodes(store: LedgerStore, packets: tuple[Path, ...]) -> Timecodes | None:
    """The record timecodes of ``packets``, each verified against the ledger's log key
    (None: no packet given, so no timecode is known)."""
    if not packets:
        return None
    vkey = store.get_meta(META_LOG_VKEY)
    if vkey is None:
        raise ConfigurationError("the ledger has no log key, so no packet of it can be verified")
    timecodes = packet_timecodes(packets, vkey)
    common.err(f"{len(packets)} verified delivery packet(s): record timecodes")
    return timecodes


def _one_of(party: str | None, production: str | None) -> None:
    if (party is None) == (production is None):
        raise ConfigurationError("give --party or --production (one of them)")


@click.command("uses")
@click.option("--party", required=True, help="Performer id, e.g. performer:dana-whitfield.")
@common.format_option("table", "json", "csv")
@packets_option
@audit_options
def uses_command(
    party: str,
    fmt: str,
    packets: tuple[Path, ...],
    as_of: str | None,
    trusted_keys: Path | None,
    at_head: bool,
    output: Path | None,
    ledger_url: str,
) -> None:
    """Every use of a performer's likeness and voice, in every production, as the audit
    judges it: consent, compensation, deliverables, findings and counsel's decisions."""
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        audits = _audits(view, trusted_keys, parse_as_of(as_of))
        uses = performer_uses(view, party, audits, _timecodes(store, packets))
        names = production_names(view, party, (u.step.show for u in uses))
        rows = party_register_rows(uses, party, names)
        data = {
            "party": party,
            "name": one_name(names),
            "names": names,
            "checkpoint": view.state.to_json(),
            "uses": [u.to_json() for u in uses],
        }
    if fmt == "json":
        write_result(dumps(data), output)
    elif fmt == "csv":
        write_result(csv_text(rows, REGISTER_COLUMNS), output)
    else:
        columns = ["production", "episode", "shot", "asset", "kind", "consent_status"]
        shown = [{c: printable(r[c]) for c in columns} for r in rows]
        text = common.table(shown, columns) if rows else f"no uses of {party} recorded"
        write_result(text + "\n", output)


def _impact_rows(impacts: list[Impact]) -> list[dict[str, Any]]:
    """One row per use a revoked or expiring consent touches (one saying so when none does)."""
    rows = []
    for i in impacts:
        consent = {
            "performer": i.consent.party_name,
            "consent": i.consent.event_id[:12],
            "event": f"{i.event} {i.effective.date().isoformat()}",
        }
        uses = [
            {
                "shot": u.use.step.shot or "-",
                "asset": u.use.step.key,
                "deliverables": ", ".join(
                    p.deliverable + ("" if p.clear_to_ship else " (NOT clear to ship)")
                    for p in u.use.placements
                )
                or "-",
                "action": u.action or "-",
            }
            for u in i.uses
        ] or [{"shot": "-", "asset": "no use cites it", "deliverables": "-", "action": "-"}]
        rows += [consent | use for use in uses]
    return rows


@click.command("impact")
@click.option("--party", help="Performer id: the impact of every consent they gave.")
@click.option("--production", help="Show name: the impact of its consents on its uses.")
@click.option(
    "--within",
    type=click.IntRange(0, 3650),
    default=EXPIRY_WINDOW_DAYS,
    show_default=True,
    help="Also list consents that expire within this many days.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["open", "never"]),
    default="open",
    show_default=True,
    help="Exit 1 when an impact is still open (a use to remediate, a deliverable blocked).",
)
@common.format_option("table", "json")
@audit_options
def impact_command(
    party: str | None,
    production: str | None,
    within: int,
    fail_on: str,
    fmt: str,
    as_of: str | None,
    trusted_keys: Path | None,
    at_head: bool,
    output: Path | None,
    ledger_url: str,
) -> None:
    """What a revoked (or soon expiring) consent touches: every deliverable and shot that uses
    the likeness, whether it is clear to ship, and what must be remediated."""
    _one_of(party, production)
    when = parse_as_of(as_of)
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        audits = _audits(view, trusted_keys, when)
        options: dict[str, Any] = {"as_of": when or start_of_today(), "window_days": within}
        if party is not None:
            require_party(view, party)
            impacts = party_impacts(view, party, audits, **options)
        else:
            require_production(view, str(production))
            impacts = production_impacts(view, str(production), audits, **options)
        data = {
            "party": party,
            "production": production,
            "checkpoint": view.state.to_json(),
            "expiry_window_days": within,
            "impacts": [i.to_json() for i in impacts],
        }
    if fmt == "json":
        write_result(dumps(data), output)
    else:
        rows = [{k: printable(v) for k, v in r.items()} for r in _impact_rows(impacts)]
        columns = ["performer", "consent", "event", "shot", "asset", "deliverables", "action"]
        text = common.table(rows, columns) if rows else "no consent is revoked or about to expire"
        write_result(text + "\n", output)
    still_open = [i for i in impacts if i.is_open]
    if still_open and fail_on == "open":
        raise VerificationFailure(
            f"{len(still_open)} consent impact(s) still open",
            hint="remediate the uses listed, or --fail-on never to report without failing",
        )


@click.command("register")
@click.option("--production", required=True, help="Show name, e.g. 'Fallen Tower'.")
@click.option("--party", "parties", multiple=True, help="Only these performers (repeat).")
@common.format_option("csv", "json", "pdf", "html", default="csv")
@packets_option
@audit_options
def register_command(
    production: str,
    parties: tuple[str, ...],
    fmt: str,
    packets: tuple[Path, ...],
    as_of: str | None,
    trusted_keys: Path | None,
    at_head: bool,
    output: Path | None,
    ledger_url: str,
) -> None:
    """The replica usage register: per performer and episode, each use of a likeness or voice,
    its consent and its compensation reference."""
    common.refuse_binary_to_terminal(fmt, output)
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        require_production(view, production)
        audits = _audits(view, trusted_keys, parse_as_of(as_of))
        uses = production_uses(view, production, audits, _timecodes(store, packets))
        if parties:
            uses = [u for u in uses if u.party in parties]
        rows = register_rows(uses, {u.party: party_name(view, u.party, production) for u in uses})
        data = register_json(view, f"Replica usage register: {production}", rows)
        result: str | bytes
        if fmt == "csv":
            result = csv_text(rows, REGISTER_COLUMNS)
        else:
            result = document_result(fmt, data, lambda: register_document(view, data))
    common.err(f"{len(rows)} use(s); content-sha256: {data['content_sha256']}")
    write_result(result, output)


COMMANDS = (uses_command, impact_command, register_command)
"""Subcommands of ``assetledger audit`` (cli/main.py adds them to the group)."""
