"""``assetledger packet build|verify``: the delivery packet of an episode's locked cut.

Results go to stdout; progress to stderr.  ``packet verify`` exits 1 when the packet fails a
check (the reasons are named); with ``--fail-on`` both commands also exit 1 when a clip is
unmapped or an open finding at or above that severity is in a clip's lineage.
"""

from __future__ import annotations

from pathlib import Path

import click

from cli import common
from cli.audit import (
    as_of_option,
    dumps,
    failing,
    parse_as_of,
    severity_fail_on,
    write_result,
)
from cli.proofs import read_vkey, witness_options, witness_policy
from ledger.audit.model import LedgerView
from ledger.audit.production import require_production
from ledger.errors import VerificationFailure
from ledger.packet.build import build_packet
from ledger.packet.files import sha256_hex
from ledger.packet.verify import PacketVerdict, verify_packet
from ledger.trust.keys import key_id, load_public

packet_fail_on_option = severity_fail_on(
    "never",
    "Also exit 1 when a clip is unmapped or an open finding of this severity or higher is in"
    " a clip's lineage (never: only a failed check exits 1).",
)


@click.group("packet")
def packet() -> None:
    """Delivery packets: a locked cut's disclosure with its evidence, checkable offline."""


@packet.command("build")
@click.option("--production", required=True, help="The show, e.g. 'Fallen Tower'.")
@click.option("--episode", required=True, help="The episode of the cut, e.g. 101.")
@click.option(
    "--cut",
    "cut_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The locked cut: .otio, .edl (CMX 3600), .xml (Final Cut Pro XML) or .aaf.",
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The packet folder to create (must be new or empty); DIR.zip is written beside it.",
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="CSV of 'clip name or reel, asset@version' for clips whose metadata and media URL"
    " name no asset version.",
)
@as_of_option
@packet_fail_on_option
@common.format_option("table", "json", default="table")
@common.ledger_option
def build_command(
    production: str,
    episode: str,
    cut_path: Path,
    out: Path,
    map_path: Path | None,
    as_of: str | None,
    fail_on: str,
    fmt: str,
    ledger_url: str,
) -> None:
    """Build the delivery packet of a locked cut (folder and deterministic .zip)."""
    with common.existing_store(ledger_url) as store:
        # a mistyped production or episode is refused, as audit ip and credits refuse it
        require_production(LedgerView.open(store), production, episode)
        result = build_packet(
            store,
            production,
            episode,
            cut_path,
            out,
            map_path=map_path,
            as_of=parse_as_of(as_of),
            progress=common.err,
        )
    body = result.disclosure
    if fmt == "json":
        data = {
            "packet": str(result.folder),
            "zip": str(result.zip_path),
            "files": result.files,
            "entries": result.entries,
            "disclosure_sha256": body["content_sha256"],
            "summary": body["summary"],
        }
        write_result(dumps(data), None)
    else:
        click.echo(f"packet      {result.folder} ({result.files} files, {result.entries} entries)")
        click.echo(f"zip         {result.zip_path}")
        click.echo(f"disclosure  {result.folder / 'disclosure.html'} (and .pdf, .json)")
        for clip in body["clips"]:
            click.echo("  " + _clip_line(clip))
    _gate(body["summary"], fail_on)


def _clip_line(clip: dict[str, object]) -> str:
    where = f"{clip['index']:>3} {clip['record_in']}-{clip['record_out']} {clip['track']}"
    what = clip["asset"] or f"({clip['problem']})"
    return common.printable(f"{where} {clip['name']}: {what}: {clip['status']}")


def _gate(summary: dict[str, object], fail_on: str) -> None:
    if fail_on == "never":
        return
    counts = summary.get("open_findings_by_severity") or {}
    assert isinstance(counts, dict)
    count = failing(counts, fail_on)
    unmapped = int(str(summary.get("unmapped") or 0))
    if count or unmapped:
        raise VerificationFailure(
            f"{count} open finding(s) at or above {fail_on} in the cut's lineages and"
            f" {unmapped} unmapped clip(s)",
            hint="see the disclosure; --fail-on never reports without failing",
        )


@packet.command("verify")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--log-key",
    required=True,
    help="The log's C2SP verifier key (name+keyid+key), inline or in a file.",
)
@witness_options
@click.option(
    "--root-key",
    "root_keys",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A root key of the production's key registry (.pub); repeatable. The packet's trust"
    " root must be exactly these (without: the result names the packet's root keys).",
)
@click.option(
    "--cut",
    "cut",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The locked cut you hold: the packet's cut must be byte for byte this file (without:"
    " the result names the packet's cut and its SHA-256, for you to compare).",
)
@click.option(
    "--skip-pdf",
    is_flag=True,
    help="Do not re-render disclosure.pdf to compare it (most of the time a long cut takes);"
    " the result then says the PDF was not checked.",
)
@click.option(
    "--require-complete",
    is_flag=True,
    help="Exit 1 unless completeness is proven: the packet's checkpoint commits to the"
    " authenticated index and a proof covers every key the disclosure rests on (without: a"
    " packet whose completeness is not proven verifies, and the result says so).",
)
@packet_fail_on_option
@common.format_option("text", "json", default="text")
def verify_command(
    path: Path,
    log_key: str,
    witness_keys: tuple[str, ...],
    quorum: int | None,
    root_keys: tuple[Path, ...],
    cut: Path | None,
    skip_pdf: bool,
    require_complete: bool,
    fail_on: str,
    fmt: str,
) -> None:
    """Verify a delivery packet (folder or .zip) offline, with no ledger and no network."""
    witnesses, wanted = witness_policy(witness_keys, quorum)
    verdict = verify_packet(
        path,
        read_vkey(log_key),
        witnesses=witnesses,
        quorum=wanted,
        progress=common.err,
        check_pdf=not skip_pdf,
        root_key_ids=[key_id(load_public(p)) for p in root_keys],
        cut_sha256=None if cut is None else sha256_hex(cut.read_bytes()),
    )
    if fmt == "json":
        write_result(dumps(verdict.to_json()), None)
    else:
        _print_verdict(verdict)
    if not verdict.ok:
        first = verdict.problems[0]
        raise VerificationFailure(
            f"packet {path} fails: {first.code}: {first.detail}"
            + (f" (and {len(verdict.problems) - 1} more)" if len(verdict.problems) > 1 else "")
        )
    if require_complete and not verdict.complete:
        raise VerificationFailure(
            f"packet {path}: completeness is {verdict.completeness}, and --require-complete"
            " asks for it proven",
            hint="ask for a packet built at a checkpoint that commits to the authenticated index",
        )
    if verdict.summary is not None:
        _gate(verdict.summary, fail_on)


def _print_verdict(verdict: PacketVerdict) -> None:
    click.echo(f"packet {verdict.packet}: " + ("verified" if verdict.ok else "FAILED"))
    for name, result in verdict.checks.items():
        click.echo(common.printable(f"  {name}: {result}"))
    click.echo(f"  completeness: {verdict.completeness}")
    for p in verdict.problems:
        click.echo(common.printable(f"  [{p.code}] {p.detail}"))
    if verdict.summary is not None:
        s = verdict.summary
        statuses = ", ".join(f"{n} {k}" for k, n in s["by_status"].items())
        # a packet that fails: its disclosure's own claim, which nothing vouches for
        label = "clips" if verdict.ok else "clips as the packet claims (NOT verified)"
        click.echo(common.printable(f"  {label}: {s['clips']} ({statuses})"))
