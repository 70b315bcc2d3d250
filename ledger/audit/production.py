"""Which ledger records count for a production: the one rule audits, reports and the portal use.

A production is a show, named by the provenance events' ``production.show`` and compared whole
and exactly: "Fallen Tower", "fallen tower", "Fallen  Tower" and "Fallen Tower/Secret" are four
productions.  :func:`counts_for` decides whether one ledger entry counts for a production:

* **its own provenance events**: ``production.show`` is the production;
* **counsel's dispositions** and **approvals** made for it (``production.show``);
* **consents that cover it**: a grant whose structured ``coverage`` names the show (consent
  schema v3), or whose old ``productions`` string reads as that show (:func:`read_old`), and
  the revocations of such a grant;
* **licence records its own events cite** (``model.licence_ref``, ``rights.licence_ref``):
  a licence record names no production; the production's signed event citing it is what makes
  it this production's;
* **the key registry**, which every production's signers are judged by.

Nothing else: another production's record of the same asset id (a stock library's id recorded
by several shows), its licence records, consents, decisions and people are not this
production's evidence, lineage or findings.  :class:`ProductionView` is a
:class:`~ledger.audit.model.LedgerView` that answers every index question with the entries that
count for one production only, so rules, lineage, credits and reports computed on it never
read another production's records.  See docs/audits.md ("Whose records count").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.audit.model import LedgerView, Step
from ledger.errors import ConfigurationError
from ledger.events.approval import APPROVAL
from ledger.events.consent import CONSENT, Consent, Coverage
from ledger.events.disposition import DISPOSITION
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.licence import LICENCE


def read_old(text: str, is_show: Callable[[str], bool]) -> Coverage:
    """How an old consent's ``productions`` string (schema v1, v2) is read.

    The v1/v2 contract said "Show" or "Show/Episode", which cannot tell a show whose name holds
    "/" from an episode.  Read, in this order: the whole string, when a production of that
    exact name is recorded in the ledger; else the longest part before a "/" that names a
    recorded production, the rest being the episode; else, as the old code did, the text
    before the first "/" is the show and the rest the episode.
    """
    if is_show(text):
        return Coverage(text)
    cuts = [i for i, c in enumerate(text) if c == "/"]
    for i in reversed(cuts):
        if is_show(text[:i]):
            return Coverage(text[:i], text[i + 1 :])
    if cuts:
        return Coverage(text[: cuts[0]], text[cuts[0] + 1 :])
    return Coverage(text)


class IsShow:
    """Is a name a production recorded in the ledger (a provenance event's show)?  Cached."""

    def __init__(self, view: LedgerView) -> None:
        self.view = view
        self.known: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        if name not in self.known:
            seqs = LedgerView.seqs(self.view, "show", name)
            self.known[name] = any(self._show(s) == name for s in seqs)
        return self.known[name]

    def _show(self, seq: int) -> str | None:
        step = LedgerView.step(self.view, seq)
        return None if step is None else step.show


def coverage_of(consent: Consent, is_show: IsShow) -> tuple[Coverage, ...]:
    """The productions a consent covers: its structured coverage, and its old strings read."""
    return consent.coverage + tuple(read_old(p, is_show) for p in consent.productions)


def counts_for(view: LedgerView, show: str, seq: int) -> bool:
    """Does ledger entry ``seq`` count for production ``show``?  The one rule (module doc)."""
    return production_view(view, show).counts(seq)


@dataclass
class ProductionView(LedgerView):
    """A ledger view that sees only the entries counting for one production."""

    show: str = ""
    is_show: IsShow | None = None
    _counted: dict[int, bool] = field(default_factory=dict)
    _cited: set[str] | None = None
    # each lookup's entries that count, filtered once (rules ask the same ones many times)
    _counting: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)

    # --- the rule --------------------------------------------------------------------------
    def counts(self, seq: int) -> bool:
        if seq not in self._counted:
            self._counted[seq] = self._judge(seq)
        return self._counted[seq]

    def _judge(self, seq: int) -> bool:
        step = LedgerView.step(self, seq) if seq < self.state.size else None
        if step is not None:
            return step.show == self.show
        entry = self.entry(seq)
        if entry.kind in (DISPOSITION.record, APPROVAL.record):
            return str(self.decode(entry)["production"]["show"]) == self.show
        if entry.kind == CONSENT.record:
            return self._consent_counts(LedgerView.consent(self, entry.event_id))
        if entry.kind == LICENCE.record:
            return entry.event_id in self.cited_licences()
        return entry.kind == KEY_REGISTRY.record

    def _consent_counts(self, consent: Consent | None) -> bool:
        if consent is None:
            return False
        if self.covers(consent):
            return True
        revoked = LedgerView.consent(self, consent.revokes) if consent.revokes else None
        return revoked is not None and revoked.party_id == consent.party_id and self.covers(revoked)

    def covers(self, consent: Consent) -> bool:
        """The consent names this production (whole show or one of its episodes)."""
        assert self.is_show is not None
        return any(c.show == self.show for c in coverage_of(consent, self.is_show))

    def cited_licences(self) -> set[str]:
        """The licence records this production's own provenance events cite."""
        if self._cited is None:
            cited: set[str] = set()
            for s in self.steps("show", self.show):
                if s.licence_ref:
                    cited.add(s.licence_ref)
                if s.model is not None and s.model.licence_ref:
                    cited.add(s.model.licence_ref)
            self._cited = cited
        return self._cited

    # --- LedgerView, restricted -----------------------------------------------------------
    def seqs(self, ref_kind: str, key: str) -> list[int]:
        found = self._counting.get((ref_kind, key))
        if found is None:
            found = tuple(s for s in LedgerView.seqs(self, ref_kind, key) if self.counts(s))
            self._counting[(ref_kind, key)] = found
        return list(found)

    def consents_for(self, ref_kind: str, key: str) -> list[Consent]:
        found = LedgerView.consents_for(self, ref_kind, key)
        if ref_kind == "show" and "/" in key:  # old consents: indexed under the text before "/"
            seen = {c.event_id for c in found}
            for seq in LedgerView.seqs(self, ref_kind, key.split("/", 1)[0]):
                entry = self.entry(seq)  # that show's own events are not decoded
                if entry.kind != CONSENT.record or entry.event_id in seen:
                    continue
                consent = self.consent(entry.event_id)
                if consent is not None:
                    found.append(consent)
        return found

    def base(self) -> LedgerView:
        """The unrestricted view these entries were read through."""
        return LedgerView(
            self.store,
            self.state,
            self.framing,
            self._steps,
            self._consents,
            self._licences,
            self._records,
            index=self.index,
        )

    def consent(self, event_id: str) -> Consent | None:
        """The consent with this event id, when it counts for this production."""
        found = LedgerView.consent(self, event_id)
        seq = None if found is None else self.seq_of(event_id)
        return found if seq is not None and self.counts(seq) else None

    def production_steps(self, episode: str | None = None) -> list[Step]:
        """The production's own provenance steps (one episode's, compared exactly), in order."""
        if episode is None:
            return self.steps("show", self.show)
        found = self.steps("episode", f"{self.show}/{episode}")
        return [s for s in found if s.episode == episode]


def production_view(view: LedgerView, show: str) -> ProductionView:
    """``view`` restricted to what counts for ``show`` (its decoded entries are shared)."""
    if isinstance(view, ProductionView):
        if view.show == show:
            return view
        view = view.base()
    return ProductionView(
        view.store,
        view.state,
        view.framing,
        view._steps,
        view._consents,
        view._licences,
        view._records,
        index=view.index,  # reads through the authenticated index stay checked
        show=show,
        is_show=IsShow(view),
    )


def production_steps(view: LedgerView, show: str, episode: str | None = None) -> list[Step]:
    """A production's own provenance steps, or one episode's: what audits and credits cover."""
    return production_view(view, show).production_steps(episode)


def require_production(view: LedgerView, show: str, episode: str | None = None) -> None:
    """Refuse a production (or episode) no provenance event records, as the credits do: a
    mistyped name ("Fallen tower") must not read as a clean audit, an empty register or
    "nothing revoked"."""
    if not production_steps(view, show, episode):
        where = repr(show) + (f", episode {episode!r}" if episode else "")
        raise ConfigurationError(
            f"no provenance events for {where} at tree size {view.state.size}",
            hint="production names are case sensitive, e.g. 'Fallen Tower'",
        )


__all__ = [
    "IsShow",
    "ProductionView",
    "counts_for",
    "coverage_of",
    "production_steps",
    "production_view",
    "read_old",
    "require_production",
]
