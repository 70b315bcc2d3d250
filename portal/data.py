"""What the portal's pages show, computed by the library (audit, credits, verify, proofs).

The ledger is opened read-only.  Reports are computed at the latest signed checkpoint (the
same tree the CLI's reports use) and cached per tree size, so a page view costs one lookup
once a checkpoint's report has been built.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ledger.audit.credits import CreditReport, credit_report
from ledger.audit.ip import start_of_today
from ledger.audit.judge import consent_record_json
from ledger.audit.keys import folder_verdicts, registry_verdicts
from ledger.audit.lineage import build as build_lineage
from ledger.audit.model import LedgerView, check_state
from ledger.audit.production import IsShow, ProductionView, production_steps, production_view
from ledger.audit.rules import SignerVerdicts
from ledger.errors import AssetLedgerError
from ledger.events.base import format_time
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.verify import KeyLookup, VerifyReport, verify_ledger
from ledger.reports.picture import layout, to_svg
from ledger.reports.report import (
    AuditReport,
    audit_report_json,
    build_audit_report,
    licence_records,
    production_consents,
)
from ledger.store import LedgerStore, open_store
from portal.people import production_names

T = TypeVar("T")
CACHE_ENTRIES = 64


class NotFound(LookupError):
    """The thing asked for does not exist (or is outside what the actor may see)."""


@dataclass
class Cached:
    size: int
    made: float
    value: Any


@dataclass
class PortalLedger:
    """The ledger as the portal reads it: one read-only store, guarded by one lock."""

    store: LedgerStore
    metrics_url: str | None = None
    trusted: Mapping[str, Any] | None = None  # signers' keys; None: the ledger's key registry
    url: str | None = None  # to verify on a connection of its own, without holding `lock`
    lock: threading.RLock = field(default_factory=threading.RLock)
    verify_lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[tuple[str, ...], Cached] = field(default_factory=dict)
    _checked: tuple[int, bytes] | None = None  # the tree whose data was last checked

    @classmethod
    def open(
        cls, url: str, metrics_url: str | None = None, trusted: Mapping[str, Any] | None = None
    ) -> PortalLedger:
        return cls(open_store(url, read_only=True), metrics_url, trusted, url)

    @property
    def lookup(self) -> KeyLookup | None:
        return None if self.trusted is None else self.trusted.get

    def close(self) -> None:
        self.store.close()

    def _view(self) -> LedgerView:
        """The view at the latest checkpoint; its data is checked against it once per tree
        (one pass over the entries, see docs/audits.md), not on every request."""
        view = LedgerView.open(self.store, check=False)
        tree = (view.state.size, view.state.root_hash)
        if self._checked != tree:
            check_state(self.store, view.state)
            self._checked = tree
        return view

    def _cached(self, key: tuple[str, ...], make: Callable[[LedgerView], T]) -> T:
        with self.lock:
            view = self._view()
            hit = self._cache.get(key)
            if hit is not None and hit.size == view.state.size:
                return hit.value  # type: ignore[no-any-return]
            value = make(view)
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.pop(min(self._cache, key=lambda k: self._cache[k].made))
            self._cache[key] = Cached(view.state.size, time.monotonic(), value)
            return value

    def cached(self, key: tuple[str, ...], make: Callable[[LedgerView], T]) -> T:
        """``make(view)`` at the latest checkpoint, cached per tree size (for other modules)."""
        return self._cached(key, make)

    # --- productions ----------------------------------------------------------------------
    def has_production(self, production: str) -> bool:
        """A provenance event of the ledger names this show (compared whole and exactly)."""
        with self.lock:
            return IsShow(self._view())(production)

    def scoped(self, production: str) -> ProductionView:
        """The view of what counts for ``production`` (:mod:`ledger.audit.production`)."""
        return self._cached(("scope", production), lambda v: production_view(v, production))

    def episodes(self, production: str) -> list[str]:
        def make(view: LedgerView) -> list[str]:
            return sorted({s.episode for s in production_steps(view, production) if s.episode})

        return self._cached(("episodes", production), make)

    # --- counsel --------------------------------------------------------------------------
    def audit(self, production: str) -> tuple[AuditReport, dict[str, Any]]:
        """The audit report, as ``assetledger audit report`` computes it (same signer verdicts,
        waivers judged at the start of today, UTC), with finding ids, statuses, dispositions."""
        as_of = start_of_today()

        def make(view: LedgerView) -> tuple[AuditReport, dict[str, Any]]:
            report = build_audit_report(
                view, production, signer_verdicts=self._signer_verdicts(), as_of=as_of
            )
            return report, audit_report_json(report)

        # A waiver expires with the day even when the ledger does not grow: the day is in the key.
        return self._cached(("audit", production, format_time(as_of)), make)

    def _signer_verdicts(self) -> SignerVerdicts | None:
        if self.trusted is not None:
            return folder_verdicts(self.store, self.trusted)
        return registry_verdicts(self.store)

    def finding(self, production: str, fid: str) -> dict[str, Any]:
        for f in self.audit(production)[1]["findings"]:
            if f["id"] == fid:
                return f  # type: ignore[no-any-return]
        raise NotFound(f"no finding {fid} in {production}")

    def licences(self, production: str) -> list[dict[str, Any]]:
        """The licence records the production's audited events cite, with their status."""
        report, data = self.audit(production)
        as_of = report.result.as_of

        def make(_: LedgerView) -> list[dict[str, Any]]:  # at the audit's own tree
            return licence_records(report.view, report.result.steps, as_of)

        return self._cached(("licences", production, data["as_of"]), make)

    def lineage_svg(self, production: str, asset_key: str) -> str:
        """The lineage picture of an asset version that the production's audit covers."""
        report, _ = self.audit(production)
        if asset_key not in {s.key for s in report.result.steps}:
            raise NotFound(f"{asset_key} is not in the audit of {production}")

        def make(view: LedgerView) -> str:
            lineage = report.result.lineage(asset_key, production) or build_lineage(
                production_view(view, production), asset_key
            )
            return to_svg(layout(lineage), f"Lineage of {asset_key}")

        return self._cached(("lineage", production, asset_key), make)

    def receipt(self, production: str, event_id: str) -> str:
        """A receipt with the entry itself, for an event that counts for ``production``: its own
        events, consents covering it, licence records its events cite, counsel's decisions
        (:func:`ledger.audit.production.counts_for`).  Anything else does not exist here."""
        scoped = self.scoped(production)
        with self.lock:
            entry = self.store.entry_by_event_id(event_id)
            if entry is None or entry.seq >= scoped.state.size or not scoped.counts(entry.seq):
                raise NotFound(f"no event {event_id} in {production}")
            return operator.prove(self.store, event_id)

    def names(self, production: str) -> dict[str, str]:
        """Person and party ids → the display names the production's records give them."""

        def make(view: LedgerView) -> dict[str, str]:
            return production_names(view, production)

        return self._cached(("names", production), make)

    def leaf_receipt(self, event_id: str) -> str:
        """Any event's receipt by leaf hash, without the entry's bytes (docs/proofs.md §7):
        it proves the entry is in the log and shows nothing of what it says."""
        with self.lock:
            if self.store.entry_by_event_id(event_id) is None:
                raise NotFound(f"no event {event_id}")
            return operator.prove(self.store, event_id, leaf_only=True)

    # --- guild ----------------------------------------------------------------------------
    def credits(self, production: str, episode: str | None) -> CreditReport:
        if episode is not None and episode not in self.episodes(production):
            raise NotFound(f"no episode {episode} in {production}")

        as_of = start_of_today()  # counsel's decisions judged as the audit judges them

        def make(view: LedgerView) -> CreditReport:
            return credit_report(view, production, episode, as_of=as_of)

        # a waiver expires with the day even when the ledger does not grow: the day is in the key
        return self._cached(("credits", production, episode or "", format_time(as_of)), make)

    def consent_records(self, production: str) -> list[dict[str, Any]]:
        """The consent events recorded for a production, with their revocations."""

        def make(view: LedgerView) -> list[dict[str, Any]]:
            scoped = production_view(view, production)
            return [
                consent_record_json(c, [r.event_id for r in scoped.revocations(c.event_id)])
                for c in production_consents(scoped, production)
            ]

        return self._cached(("consents", production), make)

    # --- auditor --------------------------------------------------------------------------
    def verification(self) -> VerifyReport:
        """The whole ledger verified (cached per head size).

        A full verification of a large ledger takes minutes, so it runs on a store connection
        of its own, one at a time, while the other pages keep answering.
        """
        with self.lock:
            size = self.store.head().size
            hit = self._cache.get(("verify",))
            if hit is not None and hit.size == size:
                return hit.value  # type: ignore[no-any-return]
        with self.verify_lock:
            if self.url is None:
                with self.lock:
                    report = verify_ledger(self.store, self.lookup, workers=1)
            else:
                with open_store(self.url, read_only=True) as store:
                    report = verify_ledger(store, self.lookup, workers=1)
        with self.lock:
            self._cache[("verify",)] = Cached(report.size, time.monotonic(), report)
        return report

    def health(self) -> dict[str, Any]:
        with self.lock:
            head = self.store.head()
            latest = self.store.latest_checkpoint()
            identity = operator.log_identity(self.store)
            quarantine = Counter(q.reason for q in self.store.quarantine())
            checkpoints = self.store.checkpoints()
        problem: str | None = None
        try:
            report = self.verification()
        except AssetLedgerError as exc:  # e.g. no key registry and no trusted keys given
            report, problem = VerifyReport(), safe_error(exc)
        first = report.first
        return {
            "origin": identity.origin if identity else None,
            "head_size": head.size,
            "checkpoint": None
            if latest is None
            else {
                "tree_size": latest.size,
                "root_hash": latest.root_hash.hex(),
                "created_at": latest.created_at.isoformat(),
                "age_seconds": int(time.time() - latest.created_at.timestamp()),
                "note": latest.note,
            },
            "checkpoint_sizes": [c.size for c in checkpoints],
            "unanchored_entries": head.size - (latest.size if latest else 0),
            "verification": {
                "ok": None if problem else report.ok,
                "problem": problem,
                "entries_checked": report.checked,
                "signatures_checked": report.signatures_checked,
                "checkpoints_checked": report.checkpoints_checked,
                "verdicts": dict(report.verdicts.__dict__),
                "first_damage": None if first is None else dict(first.__dict__),
                "damage_count": len(report.damage),
            },
            "quarantine_by_reason": dict(sorted(quarantine.items())),
            "consumer_lag": self.consumer_lag(),
        }

    def consistency(self, old_size: int) -> str:
        """A consistency proof from an earlier signed checkpoint to the latest, as text."""
        with self.lock:
            old = next((c for c in self.store.checkpoints() if c.size == old_size), None)
            if old is None:
                raise NotFound(f"no signed checkpoint at tree size {old_size}")
            result = operator.prove_consistency(self.store, old.note)
            latest = self.store.latest_checkpoint()
        assert latest is not None
        lines = [cp.b64encode(h) for h in result.proof]
        return (
            f"old {result.old.size}\n" + "".join(f"{h}\n" for h in lines) + "\n"
            f"{old.note}\n{latest.note}"
        )

    def consumer_lag(self) -> dict[str, Any] | None:
        """Lag per partition from the consumer's Prometheus endpoint (when one is given)."""
        if self.metrics_url is None:
            return None
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as response:
                text = response.read(1_000_000).decode("utf-8", "replace")
        except (OSError, ValueError) as exc:
            return {"error": f"metrics unavailable: {exc}"}
        return parse_lag(text)


def parse_lag(text: str) -> dict[str, Any]:
    """``assetledger_consumer_lag{topic=..,partition=..} N`` samples, summed and per partition."""
    partitions: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("assetledger_consumer_lag{"):
            continue
        labels, _, value = line.rpartition(" ")
        try:
            partitions[labels.removeprefix("assetledger_consumer_lag")] = int(float(value))
        except (ValueError, OverflowError):  # not a number, NaN or infinite
            continue
    return {"total": sum(partitions.values()), "partitions": partitions}


def safe_error(exc: AssetLedgerError) -> str:
    """A ledger error's message for a page (its hint is for operators, not browsers)."""
    return str(exc).splitlines()[0][:300]
