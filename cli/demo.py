"""``assetledger demo``: a small production's provenance, end to end, on a real broker.

The story, in phases (the consumer runs throughout, as it would in production):

1. the production's root key enrols every signer in the ledger's key registry;
2. clearances records two performer consents; the crew and the AI services emit their work;
3. Jonah Okafor's workstation key is rotated; the DustDiffusion key is revoked (compromised);
4. the rest of the production arrives, with a second dust element signed by the revoked key,
   an intruder's event and plain garbage, which all end in the dead-letter topic;
5. the ledger is verified, a receipt is issued for a delivery, and the audit and credit
   reports are written.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from cli import common
from consumers.runner import ConsumerConfig, LedgerConsumer
from demo import story as production
from demo.localbroker import LocalBroker, ensure_topics
from ledger.audit.ip import Scope as AuditScope
from ledger.audit.ip import run_audit
from ledger.audit.model import LedgerView
from ledger.errors import BrokerError
from ledger.events import kafka as k
from ledger.events.approval import APPROVAL, APPROVAL_ACTIONS, GENERATED_FINAL, approval_event
from ledger.events.base import EventKind
from ledger.events.consent import CONSENT
from ledger.events.disposition import DISPOSITION, LEGAL_ACTIONS, disposition_event
from ledger.events.keyregistry import CLEARANCE_ACTIONS, KEY_REGISTRY, Scope
from ledger.events.licence import LICENCE
from ledger.events.provenance import PROVENANCE
from ledger.index import AboutVerdict, prove_about, verify_about
from ledger.log import operator
from ledger.log.verify import VerifyReport, verify_ledger
from ledger.store import LedgerStore, open_store
from ledger.trust import keys as keyfiles
from ledger.trust.policy import RegistryTrust
from ledger.trust.records import enroll_event, revoke_event, rotate_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from producers.emitter import Emitter, Message

ORIGIN = "fallen-tower.example/ledger"
PHASE_TIMEOUT = 90.0


@click.command()
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-work"),
    show_default=True,
    help="Folder for keys, the ledger, receipts and reports (recreated each run).",
)
@click.option(
    "--bootstrap-servers",
    envvar="ASSETLEDGER_BOOTSTRAP_SERVERS",
    default=None,
    help="Use this broker instead of starting a local Tansu broker.",
)
@common.topic_option
def demo(work_dir: Path, bootstrap_servers: str | None, topic: str) -> None:
    """Run the 'Fallen Tower' production through Kafka into a verified, audited ledger."""
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    with ExitStack() as stack:
        if bootstrap_servers is None:
            common.err("starting a local Tansu broker …")
            broker = stack.enter_context(LocalBroker(work_dir=work_dir))
            bootstrap_servers = broker.bootstrap_servers
        ensure_topics(
            bootstrap_servers, {topic: 3, k.dlt_topic(topic): 1, k.registry_topic(topic): 1}
        )
        Demo(work_dir, bootstrap_servers, topic).run()


@dataclass
class Demo:
    work_dir: Path
    bootstrap: str
    topic: str
    keys: dict[str, keyfiles.KeyPair] = field(default_factory=dict)
    sent: int = 0

    @property
    def ledger_path(self) -> Path:
        return self.work_dir / "ledger.db"

    def run(self) -> None:
        root = self._create_ledger()
        with open_store(str(self.ledger_path)) as store:
            log_key = keyfiles.load_private(self.work_dir / "log" / "log.key")
            consumer = LedgerConsumer(
                store,
                RegistryTrust.from_store(store),
                ConsumerConfig(
                    self.bootstrap,
                    topic=self.topic,
                    session_timeout_ms=6000,
                    heartbeat_interval_ms=1000,
                ),
                checkpointer=operator.Checkpointer(store, log_key),
            )
            with _running(consumer) as wait:
                self._story(root, wait)
            report = verify_ledger(store)
            receipt = self._receipt(store)
            consents = self._consents_proof(store)
        outputs = _write_reports(self.ledger_path, self.work_dir)
        outputs["packets"] = _write_packets(self.ledger_path, self.work_dir)
        _summary(self, consumer, report, receipt, outputs, consents)

    # --- setup ----------------------------------------------------------------------------------
    def _create_ledger(self) -> keyfiles.KeyPair:
        keys_dir = self.work_dir / "keys"
        root = keyfiles.generate("production-root")
        keyfiles.write_key_pair(root, keys_dir)
        for signer in production.SIGNERS:
            self.keys[signer.name] = keyfiles.generate(signer.name)
            keyfiles.write_key_pair(self.keys[signer.name], keys_dir)
        with open_store(str(self.ledger_path)) as store:
            set_roots(store, [RootKey(root.name, root.public)], clearance_scopes=True)
            log_key, _ = operator.create_log_key(self.work_dir / "log")
            identity = operator.init_ledger(store, ORIGIN, log_key)
        (self.work_dir / "log.vkey").write_text(identity.vkey + "\n", encoding="utf-8")
        common.err(f"ledger {self.ledger_path}: root key and {len(self.keys)} signing keys")
        return root

    # --- the story ------------------------------------------------------------------------------
    def _story(self, root: keyfiles.KeyPair, wait: Callable[[int], None]) -> None:
        self._send(
            root, KEY_REGISTRY, [_enrolment(s, self.keys[s.name]) for s in production.SIGNERS]
        )
        wait(self.sent)
        common.err(f"phase 1: {len(production.SIGNERS)} signers enrolled by the production root")
        events = production.production()
        split = next(i for i, (s, _) in enumerate(events) if s == "ws-jokafor") + 1
        for signer, consent in production.consents():
            self._send(self.keys[signer], CONSENT, [consent])
        self._send(self.keys["clearances"], LICENCE, [e for _, e in production.licences()])
        self._send_as_signers(events[:split])
        wait(self.sent)
        common.err(
            f"phase 2: {split} provenance events, 2 consents and"
            f" {len(production.licences())} licence records ingested, checkpointed"
        )
        self._rotate_and_revoke(root)
        wait(self.sent)
        common.err("phase 3: ws-jokafor's key rotated; ai-dustdiff's key revoked (compromised)")
        self._send_as_signers(events[split:])
        self._send_doubtful_input()
        wait(self.sent)
        common.err(f"phase 4: {len(events) - split} more events and 3 bad records processed")
        self._send_as_signers(production.remediation())
        wait(self.sent)
        self._send(self.keys["counsel"], DISPOSITION, self._decisions())
        self._send(self.keys["counsel"], APPROVAL, [_approval()])
        wait(self.sent)
        common.err(
            "phase 5: sh010 remediated and republished; counsel's decisions and the"
            " distributor's approval of the debris and dust elements signed"
        )

    def _decisions(self) -> list[dict[str, Any]]:
        """Counsel's dispositions, each naming the finding's id as the audit computes it."""
        with open_store(str(self.ledger_path)) as store:
            view = LedgerView.open(store, at_head=True)
            found = run_audit(view, AuditScope(production.SHOW)).findings
        by_key = {(f.rule, f.asset): f for f in found}
        out = []
        for d in production.counsel_decisions():
            finding = by_key[(d["rule"], d["asset"])]
            out.append(
                disposition_event(
                    d["decision"],
                    finding_id=finding.finding_id,
                    rule=finding.rule,
                    asset=finding.asset,
                    show=production.SHOW,
                    actor=production.COUNSEL,
                    reason=d["reason"],
                    document_sha256=d.get("document_sha256"),
                    replaced_by=d.get("replaced_by"),
                )
            )
        return out

    def _rotate_and_revoke(self, root: keyfiles.KeyPair) -> None:
        old, new = self.keys["ws-jokafor"], keyfiles.generate("ws-jokafor-2")
        keyfiles.write_key_pair(new, self.work_dir / "keys")
        rotate = rotate_event(
            "person:jonah-okafor", old.key_id, new.public, scope=_scope("ws-jokafor")
        )
        revoke = revoke_event(
            "service:ai-dustdiff",
            self.keys["ai-dustdiff"].key_id,
            reason="key_compromise",
            comment="signing host compromised; later DustDiffusion output is not ours",
        )
        self._send(root, KEY_REGISTRY, [rotate, revoke])
        self.keys["ws-jokafor"] = new

    def _send_doubtful_input(self) -> None:
        """A second dust element by the revoked key, an intruder's event, and garbage."""
        _, dust = next(e for e in production.production() if e[0] == "ai-dustdiff")
        later_dust = dict(dust, asset=dict(dust["asset"], version="v002"))
        later_dust["description"] = "Dust element v002, signed after the key was revoked"
        self._send(self.keys["ai-dustdiff"], PROVENANCE, [later_dust])
        _, final = production.production()[-1]
        forged = dict(final, description="Final delivery, signed by an unenrolled key")
        self._send(keyfiles.generate("intruder"), PROVENANCE, [forged])
        with Emitter(self.bootstrap, None, topic=self.topic) as emitter:
            emitter.send_raw(Message("garbage", b"garbage", b"\x00\xffnot an event", []))
        self.sent += 1

    def _send_as_signers(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for signer, event in events:
            self._send(self.keys[signer], PROVENANCE, [event])

    def _send(self, signer: keyfiles.KeyPair, kind: EventKind, events: list[Any]) -> None:
        with Emitter(
            self.bootstrap, signer, topic=self.topic, source=f"/fallen-tower/{signer.name}"
        ) as emitter:
            emitter.emit_many(events, kind=kind)
        self.sent += len(events)

    def _receipt(self, store: LedgerStore) -> Path:
        """An offline receipt for the sh020 final delivery, as counsel would be handed."""
        seqs = store.seqs_by_ref("asset", f"{production.DELIVERY_PREFIX}/sh020/final")
        entry = store.entry(seqs[0])
        assert entry is not None
        path = self.work_dir / "sh020-final.receipt"
        path.write_text(operator.prove(store, entry.event_id), encoding="utf-8")
        return path

    def _consents_proof(self, store: LedgerStore) -> tuple[Path, AboutVerdict]:
        """A proof that the log holds exactly these consents (and revocations, licences) by
        Dana Whitfield, checked offline with the published log key alone."""
        path = self.work_dir / "dana-whitfield-consents.index-proof"
        path.write_text(prove_about(store, DANA_CONSENTS), encoding="utf-8")
        vkey = (self.work_dir / "log.vkey").read_text(encoding="utf-8").strip()
        return path, verify_about(path.read_text(encoding="utf-8"), vkey)


DANA_CONSENTS = "party:performer:dana-whitfield"

SCOPES: dict[str, dict[str, list[str]]] = {
    "onset-dit": {"actions": ["c2pa.created"], "sources": ["digitalCapture"]},
    "ai-debrisgen": {"actions": ["c2pa.created"], "sources": ["trainedAlgorithmicMedia"]},
    "ai-dustdiff": {"actions": ["c2pa.created"], "sources": ["trainedAlgorithmicMedia"]},
    "ai-upscale": {"actions": ["c2pa.enhanced"], "sources": ["algorithmicallyEnhanced"]},
    "ai-skyforge": {"sources": ["trainedAlgorithmicMedia"]},
    "ai-replica": {"sources": ["trainedAlgorithmicMedia"]},
    "editorial": {"actions": ["c2pa.published"]},
}


def _scope(signer: str) -> Scope:
    """What each demo key may sign: its own actor(s), this show, and for AI its own output."""
    if signer == "clearances":
        # consent records name performers, not a production actor: a clearances scope
        return Scope(actions=tuple(CLEARANCE_ACTIONS.values()))
    if signer == "counsel":  # a legal scope: only decisions on findings, in this show
        return Scope(
            productions=(production.SHOW,),
            actors=(production.COUNSEL["actor_id"],),
            actions=(*LEGAL_ACTIONS, *APPROVAL_ACTIONS),
        )
    actors = sorted(
        {
            e["actor"]["actor_id"]
            for s, e in production.production() + production.remediation()
            if s == signer
        }
    )
    limits = SCOPES.get(signer, {})
    return Scope(
        productions=(production.SHOW,),
        actors=tuple(actors),
        actions=tuple(limits.get("actions", ())),
        digital_source_types=tuple(limits.get("sources", ())),
    )


def _approval() -> dict[str, Any]:
    """Counsel records the distributor's written approval of sh010's AI elements."""
    prefix = production.DELIVERY_PREFIX
    return approval_event(
        "approved",
        show=production.SHOW,
        episode=production.EPISODE,
        category=GENERATED_FINAL,
        actor=production.COUNSEL,
        organisation="Streamco (distributor), by letter to production counsel",
        reason="generated debris and dust elements approved for the final episode",
        assets=[f"{prefix}/sh010/fx_debris@v001", f"{prefix}/sh010/fx_dust@v003"],
        conditions=["AI use disclosed in the end credits"],
    )


def _write_packets(ledger_path: Path, work_dir: Path) -> list[tuple[Path, bool]]:
    """The episode's locked cut as OTIO and as a CMX 3600 EDL, a packet built from each and
    verified offline (with only the log's verifier key)."""
    from ledger.log.checkpoint import parse_vkey
    from ledger.packet.build import build_packet
    from ledger.packet.cut import write_cut
    from ledger.packet.verify import verify_packet

    prefix = production.DELIVERY_PREFIX
    shots = [
        ("sh010", f"{prefix}/sh010/final@v002", 96),
        ("sh020", f"{prefix}/sh020/final@v001", 72),
        ("sh030", f"{prefix}/sh030/final@v001", 120),
    ]
    vkey = (work_dir / "log.vkey").read_text(encoding="utf-8").strip()
    parse_vkey(vkey)
    out = []
    for suffix in (".otio", ".edl"):
        cut = write_cut(work_dir / f"ep101-cut{suffix}", shots, name="Fallen Tower 101")
        folder = work_dir / f"ep101-packet-{suffix[1:]}"
        with open_store(str(ledger_path)) as store:
            build_packet(store, production.SHOW, production.EPISODE, cut, folder)
        verdict = verify_packet(folder.with_name(folder.name + ".zip"), vkey)
        out.append((folder, verdict.ok))
    return out


def _enrolment(signer: production.Signer, pair: keyfiles.KeyPair) -> dict[str, Any]:
    kind = "ai_model" if signer.name.startswith("ai-") else "software"
    if signer.name.startswith("ws-"):
        kind = "human"
    if signer.name == "counsel":
        kind = "human"
    actor_id = {
        "ws-mkeller": "person:mira-keller",
        "ws-jokafor": "person:jonah-okafor",
        "counsel": production.COUNSEL["actor_id"],
    }.get(signer.name, f"service:{signer.name}")
    return enroll_event(actor_id, kind, signer.description, pair.public, scope=_scope(signer.name))


class _running:
    """Run the consumer in a thread; ``wait(n)`` blocks until n records were processed."""

    def __init__(self, consumer: LedgerConsumer) -> None:
        self.consumer = consumer
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="demo-consumer", daemon=True)

    def _run(self) -> None:
        try:
            self.consumer.run()
        except BaseException as exc:  # reported by wait()
            self.errors.append(exc)

    def wait(self, records: int) -> None:
        """Until ``records`` were processed and every appended entry is in a signed checkpoint.

        The story's next phase may revoke a key; an entry appended but not yet anchored when the
        revocation is made is rightly cited by the audit (compromised-key-unanchored), and the
        checkpoint follows the append by the time the index takes to extend.
        """
        deadline = time.monotonic() + PHASE_TIMEOUT
        while time.monotonic() < deadline and not self.errors:
            stats = self.consumer.stats
            processed = stats.appended + stats.quarantined + stats.duplicates
            if processed >= records and stats.last_checkpoint_size >= stats.appended:
                return
            time.sleep(0.1)
        if self.errors:
            raise self.errors[0]
        raise BrokerError(
            f"the consumer processed {self.consumer.stats.appended} of {records} records"
            f" within {PHASE_TIMEOUT:.0f} s",
            hint="see the broker log in the work folder",
        )

    def __enter__(self) -> Callable[[int], None]:
        self.thread.start()
        return self.wait

    def __exit__(self, *exc: object) -> None:
        self.consumer.stop()
        self.thread.join(timeout=30)


def _write_reports(ledger_path: Path, work_dir: Path) -> dict[str, Any]:
    """The audit report (HTML, PDF), the credit report (HTML) and the findings, via the CLI's
    own library calls."""
    from ledger.audit.credits import credit_report
    from ledger.audit.keys import registry_verdicts
    from ledger.audit.model import LedgerView
    from ledger.reports.render import to_html, to_pdf
    from ledger.reports.report import (
        audit_document,
        audit_report_json,
        build_audit_report,
        credits_document,
    )

    def quiet(_: str) -> None:
        return None

    with open_store(str(ledger_path)) as store:
        view = LedgerView.open(store, at_head=False)
        report = build_audit_report(
            view, production.SHOW, None, signer_verdicts=registry_verdicts(store), progress=quiet
        )
        document = audit_document(report, audit_report_json(report))
        (work_dir / "audit-report.html").write_text(to_html(document), encoding="utf-8")
        (work_dir / "audit-report.pdf").write_bytes(to_pdf(document))
        credits = credit_report(view, production.SHOW, None, quiet)
        (work_dir / "credits.html").write_text(to_html(credits_document(credits)), encoding="utf-8")
    return {"findings": report.result.findings, "clear_to_ship": report.result.clear_to_ship()}


def _summary(
    demo: Demo,
    consumer: LedgerConsumer,
    report: VerifyReport,
    receipt: Path,
    outputs: dict[str, Any],
    consents: tuple[Path, AboutVerdict],
) -> None:
    stats, w = consumer.stats, demo.work_dir
    reasons = ", ".join(f"{r}: {n}" for r, n in sorted(stats.by_reason.items())) or "none"
    click.echo(f"ledger      {demo.ledger_path}: {stats.appended} entries")
    click.echo(f"dead-letter {stats.quarantined} records refused ({reasons})")
    click.echo(f"checkpoint  signed at tree size {stats.last_checkpoint_size}")
    click.echo("verify      " + ("intact" if report.ok else f"DAMAGED {report.first}"))
    click.echo(f"receipt     {receipt}")
    findings = outputs["findings"]
    opened = [f for f in findings if f.is_open]
    click.echo(
        f"audit       {len(opened)} open findings, {len(findings) - len(opened)} disposed by"
        f" counsel: {w}/audit-report.html (and .pdf)"
    )
    for f in findings:
        status = "" if f.is_open else f" — {f.status} by {f.disposition.by}"
        click.echo(f"  [{f.severity}] {f.rule}: {f.asset.split('/', 3)[-1]}{status}")
    for asset, clear in sorted(outputs["clear_to_ship"].items()):
        verdict = "clear to ship" if clear else "NOT clear to ship"
        click.echo(f"deliverable {asset.split('/', 3)[-1]}: {verdict}")
    click.echo(f"credits     {w}/credits.html")
    for folder, ok in outputs["packets"]:
        verdict = "verified offline" if ok else "FAILED verification"
        click.echo(f"packet      {folder}.zip: {verdict}; disclosure {folder}/disclosure.html")
    proof, proven = consents
    click.echo(
        f"complete    {len(proven.indices)} consent record(s) by Dana Whitfield, proven complete"
        f" at tree size {proven.size} and verified offline: {proof}"
    )
    click.echo("try:")
    for line in (
        f"assetledger log --ledger {demo.ledger_path}",
        f"assetledger keys list --ledger {demo.ledger_path}",
        f"assetledger verify --ledger {demo.ledger_path}",
        f"assetledger verify-receipt {receipt} --log-key {w}/log.vkey --trusted-keys {w}/keys",
        f"assetledger audit lineage {production.DELIVERY_PREFIX}/sh030/final --ledger"
        f" {demo.ledger_path}",
        f"assetledger credits --production '{production.SHOW}' --ledger {demo.ledger_path}",
        f"assetledger packet verify {w}/ep101-packet-edl.zip --log-key {w}/log.vkey",
        f"assetledger verify-receipt {proof} --log-key {w}/log.vkey --format json",
        f"assetledger serve --ledger {demo.ledger_path} --demo-accounts   # the web portal",
    ):
        click.echo("  " + line)
