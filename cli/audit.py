"""``assetledger audit lineage|ip|report``, ``assetledger credits``, ``assetledger c2pa``.

Results go to stdout (or ``--output``); progress goes to stderr.  ``audit ip`` and
``audit report`` exit 1 when findings at or above ``--fail-on`` exist.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cli import common
from ledger.audit import lineage as lineage_mod
from ledger.audit.credits import (
    CSV_COLUMNS,
    credit_report,
    directors_names,
    flat_rows,
    summary_rows,
)
from ledger.audit.ip import AuditResult, Scope, audit_json, run_audit
from ledger.audit.keys import folder_verdicts, registry_verdicts
from ledger.audit.model import LedgerView, content_digest
from ledger.audit.production import production_view, require_production
from ledger.audit.rules import SEVERITIES, RuleSet, SignerVerdicts, severity_rank
from ledger.audit.text import csv_text, printable
from ledger.c2pa import importer as c2pa_import
from ledger.c2pa import manifest as c2pa
from ledger.errors import ConfigurationError, VerificationFailure
from ledger.reports.document import Document
from ledger.reports.picture import layout, to_svg
from ledger.reports.report import (
    audit_document,
    audit_report_json,
    build_audit_report,
    credits_document,
    dangling_line,
)
from ledger.store import LedgerStore
from ledger.trust.replay import decoding_once

FAIL_CHOICES = [*SEVERITIES, "never"]


def at_head_option(f: Any) -> Any:
    return click.option(
        "--at-head",
        is_flag=True,
        help="Compute at the ledger head instead of the latest signed checkpoint.",
    )(f)


def output_option(f: Any) -> Any:
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the result to this file instead of stdout.",
    )(f)


def severity_fail_on(default: str, help_text: str) -> Callable[[common.F], common.F]:
    """``--fail-on SEVERITY|never``: the one option ``audit ip|report`` and ``packet`` share."""

    def wrap(f: common.F) -> common.F:
        return click.option(
            "--fail-on",
            type=click.Choice(FAIL_CHOICES),
            default=default,
            show_default=True,
            help=help_text,
        )(f)

    return wrap


fail_on_option = severity_fail_on(
    "low",
    "Exit 1 when an open finding of this severity or higher exists (findings counsel"
    " cleared, waived or remediated never fail; never: always exit 0).",
)


def failing(counts: Mapping[str, int], fail_on: str) -> int:
    """How many open findings (``counts``: by severity) are at or above ``fail_on``."""
    if fail_on == "never":
        return 0
    return sum(n for s, n in counts.items() if severity_rank(s) >= severity_rank(fail_on))


def as_of_option(f: Any) -> Any:
    return click.option(
        "--as-of",
        "as_of",
        default=None,
        metavar="TIME",
        help="Judge waivers' expiry at this ISO 8601 UTC time (default: the start of today,"
        " UTC; the report states it).",
    )(f)


def parse_as_of(value: str | None) -> datetime | None:
    return common.option_time(value, "--as-of")


trusted_keys_option = common.trusted_keys_option(
    "Judge signers against this folder of *.pub keys instead of the key registry."
)


def write_result(data: str | bytes, output: Path | None) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if output is None:
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return
    common.write_file(output, raw)  # whole or not at all
    common.err(f"wrote {output} ({len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()})")


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def open_view(store: LedgerStore, at_head: bool) -> LedgerView:
    view = LedgerView.open(store, at_head=at_head)
    kind = "signed checkpoint" if view.state.signed else "head"
    common.err(f"computing at the {kind}: tree size {view.state.size}")
    return view


def signer_verdicts(store: LedgerStore, trusted_keys: Path | None) -> SignerVerdicts | None:
    folder = common.trusted_keys(trusted_keys)
    if folder is not None:
        return folder_verdicts(store, folder)
    verdicts = registry_verdicts(store)
    if verdicts is None:
        common.err("note: key verdicts unavailable; the signer-not-trusted rule is skipped")
    return verdicts


def gate(result: AuditResult, fail_on: str) -> None:
    count = failing(result.counts(), fail_on)
    if count:
        raise VerificationFailure(
            f"{count} open finding(s) at or above {fail_on}",
            hint="see the report; --fail-on never reports without failing",
        )


def document_result(
    fmt: str, data: dict[str, Any], document: Callable[[], Document]
) -> str | bytes:
    """A report as JSON (its data), PDF or HTML (its document, rendered)."""
    from ledger.reports.render import to_html, to_pdf

    if fmt == "json":
        return dumps(data)
    return to_pdf(document()) if fmt == "pdf" else to_html(document())


# --- audit -----------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """Audits for IP and crediting: lineage, findings with evidence, reports."""


@audit.command("lineage")
@click.argument("target")
@click.option("--descendants", is_flag=True, help="What was made from it, not what it came from.")
@click.option(
    "--production",
    help="Only that show's records (an asset id several shows recorded is walked in one).",
)
@common.format_option("tree", "json", "svg", default="tree")
@at_head_option
@output_option
@common.ledger_option
def lineage_command(
    target: str,
    descendants: bool,
    production: str | None,
    fmt: str,
    at_head: bool,
    output: Path | None,
    ledger_url: str,
) -> None:
    """Ancestry (or descendants) of ASSET[@VERSION], with missing links shown."""
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        seen = view if production is None else production_view(view, production)
        result = lineage_mod.build(seen, target, "descendants" if descendants else "ancestors")
        names = directors_names(seen, result.steps())
        if fmt == "json":
            body = {"checkpoint": view.state.to_json(), **lineage_mod.lineage_json(result, names)}
            text = dumps({**body, "content_sha256": content_digest(body)})
        elif fmt == "svg":
            text = to_svg(layout(result), f"{result.direction} of {result.root}")
        else:
            text = lineage_mod.render_tree(result, names) + "\n"
    problems = len(result.missing) + len(result.mismatches)
    if problems:
        common.err(f"{problems} missing link(s) in this lineage")
    write_result(text, output)


@audit.command("ip")
@click.option("--production", help="Show name, e.g. 'Fallen Tower'.")
@click.option("--episode", help="Episode of the production.")
@click.option("--asset", help="ASSET or ASSET@VERSION: audit it and its whole lineage.")
@fail_on_option
@as_of_option
@click.option("--no-receipts", is_flag=True, help="Leave inclusion receipts out of the JSON.")
@click.option(
    "--require-approvals",
    is_flag=True,
    help="Also apply the approval-missing rule (as delivery packets do): each generative-AI,"
    " likeness, third-party AI input or personal-data use in a published deliverable's"
    " lineage needs a distributor's written approval in force.",
)
@common.format_option("table", "json", "csv")
@trusted_keys_option
@at_head_option
@output_option
@common.ledger_option
def ip_command(
    production: str | None,
    episode: str | None,
    asset: str | None,
    fail_on: str,
    as_of: str | None,
    no_receipts: bool,
    require_approvals: bool,
    fmt: str,
    trusted_keys: Path | None,
    at_head: bool,
    output: Path | None,
    ledger_url: str,
) -> None:
    """Run the IP rules; each finding with rule, severity, explanation and evidence."""
    # decoding_once: the index's check decodes each entry (here, from require_production on)
    # for the rules and the signer verdicts alike
    with common.existing_store(ledger_url) as store, decoding_once():
        view = open_view(store, at_head)
        if production is not None:
            require_production(view, production, episode)
        result = run_audit(
            view,
            Scope(production, episode, asset),
            rules=RuleSet(approvals=require_approvals),
            signer_verdicts=signer_verdicts(store, trusted_keys),
            progress=common.err,
            as_of=parse_as_of(as_of),
        )
        data = audit_json(result, receipts=not no_receipts)
    if fmt == "json":
        write_result(dumps(data), output)
    else:
        rows = [
            {
                "id": f["id"] if fmt == "csv" else f["id"][:12],
                "severity": f["severity"],
                "status": _status(f),
                "rule": f["rule"],
                "asset": f["asset"],
                "production": f.get("production"),
                "summary": f["summary"],
                "evidence": " ".join(e["event_id"] for e in f["evidence"]),
            }
            for f in data["findings"]
        ]
        # the whole ledger's audit names each finding's and deliverable's production: an
        # asset id several productions recorded is one finding or deliverable in each
        whole = production is None
        columns = ["id", "severity", "status", "rule", "asset", "summary"]
        if fmt == "csv":
            columns += ["evidence", "production"] if whole else ["evidence"]
        elif whole:
            columns.insert(5, "production")
        text = _rows_text(rows, fmt, columns)
        trailer = (
            "".join(
                printable(f"deliverable {d['asset']}" + (f" ({d['production']})" if whole else ""))
                + ": "
                + ("clear to ship" if d["clear_to_ship"] else "NOT clear to ship")
                + "\n"
                for d in data["deliverables"]
            )
            + "".join(printable(dangling_line(d)) + "\n" for d in data["dangling_dispositions"])
            + (
                f"checkpoint: tree size {view.state.size}, root {view.state.root_hash.hex()}\n"
                f"content-sha256: {data['content_sha256']}\n"
            )
        )
        write_result(text + ("" if fmt == "csv" else "\n" + trailer), output)
        if fmt == "csv":
            common.err(trailer.rstrip())
    gate(result, fail_on)


def _status(f: dict[str, Any]) -> str:
    d = f.get("disposition")
    if d is None:
        return str(f["status"])
    by = f"{d['decision']} by {d['by'] or d['by_id']} {d['at'][:10]}"
    return f"open ({by})" if f["status"] == "open" else by


def _rows_text(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> str:
    if fmt == "csv":
        return csv_text(rows, columns)
    return (common.table(rows, columns) if rows else "no findings") + "\n"


@audit.command("report")
@click.option("--production", required=True, help="Show name, e.g. 'Fallen Tower'.")
@click.option("--episode", help="Episode of the production.")
@common.format_option("html", "pdf", "json", default="html")
@fail_on_option
@as_of_option
@trusted_keys_option
@at_head_option
@output_option
@common.ledger_option
def report_command(
    production: str,
    episode: str | None,
    fmt: str,
    fail_on: str,
    as_of: str | None,
    trusted_keys: Path | None,
    at_head: bool,
    output: Path | None,
    ledger_url: str,
) -> None:
    """One document for counsel: summary, findings, lineage pictures, AI use, consent."""
    common.refuse_binary_to_terminal(fmt, output)
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        require_production(view, production, episode)
        report = build_audit_report(
            view,
            production,
            episode,
            signer_verdicts=signer_verdicts(store, trusted_keys),
            progress=common.err,
            as_of=parse_as_of(as_of),
        )
        data = audit_report_json(report)
        result = document_result(fmt, data, lambda: audit_document(report, data))
    common.err(f"content-sha256: {data['content_sha256']}")
    write_result(result, output)
    gate(report.result, fail_on)


# --- credits ---------------------------------------------------------------------------------


@click.command("credits")
@click.option("--production", required=True, help="Show name, e.g. 'Fallen Tower'.")
@click.option("--episode", help="Only this episode.")
@common.format_option("table", "csv", "json", "html", "pdf")
@at_head_option
@output_option
@common.ledger_option
def credits_command(
    production: str,
    episode: str | None,
    fmt: str,
    at_head: bool,
    output: Path | None,
    ledger_url: str,
) -> None:
    """Who made what, per person and role; generative-AI output listed apart, disclosed."""
    common.refuse_binary_to_terminal(fmt, output)
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        report = credit_report(view, production, episode, common.err)
    data = report.to_json()
    result: str | bytes
    if fmt == "csv":
        result = csv_text(flat_rows(report), CSV_COLUMNS)
    elif fmt == "table":
        result = _credits_table(report, data)
    else:
        result = document_result(fmt, data, lambda: credits_document(report))
    if fmt in ("csv", "html", "pdf"):
        common.err(f"content-sha256: {data['content_sha256']}")
    write_result(result, output)


def _credits_table(report: Any, data: dict[str, Any]) -> str:
    ai_rows = [
        {
            "asset": o.asset,
            "model": o.model,
            "directed_by": ", ".join(o.directed_by),
            "licence": o.licence_shown,
            "disclosure": o.disclosure,
        }
        for o in report.ai_outputs
    ]
    consent_rows = [
        {"asset": c.asset, "party": c.party_label, "use": c.use, "status": c.status}
        for c in report.consent
    ]
    lines = summary_rows(report)
    people = [r for r in lines if r["kind"] == "human"]
    sources = [r for r in lines if r["kind"] != "human"]
    state = report.state
    parts = [
        "CREDIT LINES (human-authored work; AI output never counted here)",
        common.table(
            people,
            ["name", "title", "department", "created", "altered", "published", "directed", "shots"],
        ),
        "",
        *(
            [
                "ORGANISATIONS AND OTHER SOURCES (not human-authored work)",
                common.table(sources, ["name", "kind", "created", "altered", "published", "shots"]),
                "",
            ]
            if sources
            else []
        ),
        "END CREDITS (by department and episode)",
        *[
            printable(f"{g['department']}, episode {g['episode']}: " + "; ".join(g["lines"]))
            for g in report.end_credits()
        ],
        *[
            printable(
                f"{w.credit} {w.writer}: AI material {w.material} given on {w.given_at}"
                " (not source material)"
            )
            for w in report.writer_material
        ],
        "",
        "AI DISCLOSURE (for the end credits)",
        *[printable(line) for line in report.ai_disclosure()],
        "",
        "GENERATIVE-AI OUTPUT (listed apart, not credited to any person)",
        common.table(ai_rows, ["asset", "model", "directed_by", "licence", "disclosure"]),
        "",
        "LIKENESS CONSENT AND AI-INPUT PERMISSIONS",
        common.table(consent_rows, ["asset", "party", "use", "status"]),
        "",
        f"checkpoint: tree size {state.size}, root {state.root_hash.hex()}"
        + (" (signed)" if state.signed else " (head, unsigned)"),
        f"content-sha256: {data['content_sha256']}",
    ]
    return "\n".join(parts) + "\n"


# --- c2pa ------------------------------------------------------------------------------------


@click.group("c2pa")
def c2pa_group() -> None:
    """Exchange provenance with C2PA tools and vendors."""


@c2pa_group.command("export")
@click.argument("target")
@click.option(
    "--definition-only",
    is_flag=True,
    help="Only the asset's own manifest definition (for c2patool -m), not the whole lineage.",
)
@at_head_option
@output_option
@common.ledger_option
def export_command(
    target: str, definition_only: bool, at_head: bool, output: Path | None, ledger_url: str
) -> None:
    """Write ASSET[@VERSION]'s provenance as C2PA manifest JSON (actions v2, ingredients)."""
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        key = lineage_mod.resolve(view, target)
        manifests = c2pa.export_store(view, key)
    data = manifests["manifests"][manifests["active_manifest"]] if definition_only else manifests
    common.err(f"{len(manifests['manifests'])} manifest(s) in the lineage of {key}")
    write_result(dumps(data), output)


@c2pa_group.command("sign")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--asset", "target", required=True, help="ID@VERSION the file is, in the ledger.")
@click.option(
    "--cert",
    "cert_chain",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM chain: the C2PA signing certificate, then its issuing CA(s).",
)
@click.option(
    "--key",
    "private_key",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM private key of the signing certificate.",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the signed copy.",
)
@click.option(
    "--ingredient-file",
    "ingredient_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An ingredient's file (signed ones bring their manifests along); repeatable.",
)
@click.option("--tsa-url", help="RFC 3161 time-stamp authority for the signature.")
@click.option(
    "--trust-anchors",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM CA certificates to validate the signed copy against.",
)
@at_head_option
@common.ledger_option
def sign_command(
    file: Path,
    target: str,
    cert_chain: Path,
    private_key: Path,
    output: Path,
    ingredient_files: tuple[Path, ...],
    tsa_url: str | None,
    trust_anchors: Path | None,
    at_head: bool,
    ledger_url: str,
) -> None:
    """Embed ASSET@VERSION's Content Credentials into FILE (a copy at -o).

    FILE must be the version the ledger records (same SHA-256), else nothing is written.
    """
    from ledger.c2pa import files as c2pa_files

    anchors = common.pem_chain(trust_anchors)
    with common.existing_store(ledger_url) as store:
        view = open_view(store, at_head)
        key = lineage_mod.resolve(view, target)
        result = c2pa_files.sign_asset(
            view,
            key,
            file,
            cert_chain,
            private_key,
            output,
            ingredient_files=ingredient_files,
            tsa_url=tsa_url,
            trust_anchors=anchors,
        )
    common.err(
        f"signed {key} into {result.output}: manifest {result.manifest_label}, "
        f"{result.validation.words}"
        + (
            f", ingredients from files: {', '.join(result.ingredient_files)}"
            if result.ingredient_files
            else ""
        )
    )
    click.echo(result.manifest_label)


@c2pa_group.command("import")
@click.argument(
    "source_file",
    metavar="FILE|STORE.json",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key that signs the imported events (needed unless --dry-run).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the events as JSON Lines; sign and send nothing."
)
@click.option("--vendor", help="Who delivered it (default: the manifest's claim generator).")
@click.option("--production", help="The show, whole (a '/' is part of the name).")
@click.option("--episode", help="The episode of --production, if any.")
@click.option("--asset", "asset", help="ID@VERSION for the delivered (active) asset.")
@click.option(
    "--file",
    "asset_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The delivered asset, when importing JSON: its SHA-256 becomes the content hash.",
)
@click.option("--content-sha256", help="SHA-256 (hex) of the delivered asset, instead of --file.")
@click.option(
    "--ingredient-file",
    "ingredient_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An ingredient's file, matched by its C2PA manifest or by its file name (the "
    "ingredient's title); its SHA-256 is recorded; repeatable.",
)
@click.option(
    "--log-key",
    help="The ledger's C2SP verifier key (inline or a file): manifests carrying ledger "
    "evidence are restored as the ledger's events once their receipts verify.",
)
@click.option(
    "--sidecar",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The file's manifest store kept beside it (.c2pa), when FILE embeds none.",
)
@click.option(
    "--trust-anchors",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM CA certificates whose signers count as trusted.",
)
@click.option(
    "--source", default="/assetledger/c2pa-import", show_default=True, help="CloudEvents source."
)
@common.passphrase_option
@common.bootstrap_option
@common.topic_option
def import_command(
    source_file: Path,
    key_path: Path | None,
    dry_run: bool,
    vendor: str | None,
    production: str | None,
    episode: str | None,
    asset: str | None,
    asset_file: Path | None,
    content_sha256: str | None,
    ingredient_files: tuple[Path, ...],
    log_key: str | None,
    sidecar: Path | None,
    trust_anchors: Path | None,
    source: str,
    passphrase_file: Path | None,
    bootstrap_servers: str,
    topic: str,
) -> None:
    """Turn a C2PA-signed file (or the manifest JSON a C2PA Reader prints) into signed
    provenance events on Kafka, ingredient manifests included.

    A manifest store that does not validate is refused (exit 1).
    """
    from ledger.c2pa import files as c2pa_files

    anchors = common.pem_chain(trust_anchors)
    read = c2pa_files.read_document(source_file, trust_anchors=anchors, sidecar=sidecar)
    digest = _content_hash(source_file, read.media_type, asset_file, content_sha256)
    defaults = c2pa_import.ImportDefaults(
        vendor,
        production,
        asset,
        digest,
        read.media_type,
        ingredient_hashes=_ingredient_hashes(ingredient_files),
        bindings=read.bindings,
        log_key=common.log_vkey(log_key) if log_key else None,
        checked=read.checked,
        episode=episode,
    )
    events = c2pa_import.import_events(read.document, defaults)
    common.err(f"{len(events)} event(s) from {source_file.name}")
    for line in c2pa_import.verdict_lines(events):
        common.err(line)
    if dry_run:
        write_result("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), None)
        return
    if key_path is None:
        raise ConfigurationError("--key is required to sign the events (or use --dry-run)")
    _emit(events, key_path, passphrase_file, bootstrap_servers, topic, source)


def _content_hash(
    source_file: Path, signed_format: str | None, asset_file: Path | None, given: str | None
) -> str | None:
    from ledger.c2pa import files as c2pa_files

    if asset_file is not None:
        return c2pa_files.sha256_file(asset_file)
    if given is not None:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", given):
            raise ConfigurationError("--content-sha256 must be 64 hex digits")
        return given.lower()
    if signed_format is not None:
        return c2pa_files.sha256_file(source_file)  # the delivered file itself
    return None


def _ingredient_hashes(files: tuple[Path, ...]) -> dict[str, str]:
    """SHA-256 of each ingredient file, by file name and by its active C2PA manifest label."""
    from ledger.c2pa import files as c2pa_files

    out: dict[str, str] = {}
    for path in files:
        digest = c2pa_files.sha256_file(path)
        out[path.name] = digest
        label = c2pa_files.active_label(path)
        if label:
            out[label] = digest
    return out


def _emit(
    events: list[dict[str, Any]],
    key_path: Path,
    passphrase_file: Path | None,
    bootstrap: str,
    topic: str,
    source: str,
) -> None:
    from producers.emitter import Emitter

    signer = common.signing_key(key_path, passphrase_file)
    with (
        common.broker_hint(common.BROKER_HINT + ", or check the events with --dry-run first"),
        Emitter(bootstrap, signer, topic=topic, source=source) as emitter,
    ):
        for event_id in emitter.emit_many(events):
            click.echo(event_id)
    common.err(f"{len(events)} event(s) acknowledged by {bootstrap} on {topic}")


COMMANDS = (audit, credits_command, c2pa_group)
