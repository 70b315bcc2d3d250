"""A signed demo ledger with a log key, a witnessed checkpoint and approvals, and cut files.

The ledger is the demo production as ``assetledger demo`` records it (key registry, consents,
licence records, the production, sh010's remediation, counsel's decisions), plus a distributor
enrolled with an approval scope whose approvals the tests choose, a signed checkpoint and one
witness's cosignature.  Cuts are written by OpenTimelineIO itself (native, EDL, FCP XML, AAF).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import opentimelineio as otio  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from demo import story
from ledger.audit.credits import CreditReport, credit_report
from ledger.audit.ip import AuditResult, Scope, run_audit
from ledger.audit.keys import registry_verdicts
from ledger.audit.model import LedgerView
from ledger.audit.rules import RuleSet
from ledger.events.approval import APPROVAL, APPROVAL_ACTIONS, CATEGORIES, approval_event
from ledger.events.disposition import LEGAL_ACTIONS
from ledger.events.keyregistry import KEY_REGISTRY
from ledger.events.keyregistry import Scope as KeyScope
from ledger.events.provenance import PROVENANCE
from ledger.index.maintain import META_INDEX_RULE
from ledger.log import checkpoint as cp
from ledger.log.operator import Checkpointer, init_ledger
from ledger.packet.build import BuildResult, build_packet
from ledger.store import LedgerStore, StoredCosignature, open_store
from ledger.trust import keys
from ledger.trust.keys import KeyPair
from ledger.trust.records import enroll_event
from ledger.trust.registry import RootKey
from ledger.trust.replay import set_roots
from ledger.witness.cosignature import WitnessKey, cosign
from tests.ledger.audit.audit_factory import BASE_TIME, Item, demo_items, demo_signers, fixed
from tests.portal.portal_factory import append, decisions

ORIGIN = "fallen-tower.example/ledger"
WITNESS = "witness.example/w1"
DISTRIBUTOR = {
    "actor_id": "person:lee-park",
    "kind": "human",
    "display_name": "Lee Park",
    "role": "standards and practices",
}
APPROVED_AT = BASE_TIME + timedelta(days=40)
PREFIX = story.DELIVERY_PREFIX
SH010_V2 = f"{PREFIX}/sh010/final@v002"
SH020 = f"{PREFIX}/sh020/final@v001"
SH030 = f"{PREFIX}/sh030/final@v001"


@dataclass
class PacketLedger:
    url: str
    log_vkey: str
    witness_vkey: str
    signers: dict[str, KeyPair]
    log: KeyPair


def enrolments(signers: dict[str, KeyPair]) -> list[Item]:
    when = BASE_TIME - timedelta(days=1)
    items: list[Item] = []
    for name, pair in sorted(signers.items()):
        if name == "root":
            continue
        actor, kind, scope = f"service:{name}", "software", KeyScope()
        if name == "counsel":
            actor, kind = story.COUNSEL["actor_id"], "human"
            actions = (*LEGAL_ACTIONS, *APPROVAL_ACTIONS)
            scope = KeyScope(productions=(story.SHOW,), actors=(actor,), actions=actions)
        if name == "distributor":
            actor, kind = DISTRIBUTOR["actor_id"], "human"
            scope = KeyScope(productions=(story.SHOW,), actors=(actor,), actions=APPROVAL_ACTIONS)
        event = enroll_event(actor, kind, name, pair.public, scope=scope, event_time=when)
        event["event_id"] = story.fixed_id(f"packet-enrol:{name}")
        items.append(("root", KEY_REGISTRY, event))
    return items


def approval(
    category: str,
    *,
    decision: str = "approved",
    assets: list[str] | None = None,
    expires: str | None = None,
    signer: str = "distributor",
    n: int = 0,
) -> Item:
    event = approval_event(
        decision,
        show=story.SHOW,
        episode=story.EPISODE,
        category=category,
        actor=DISTRIBUTOR if signer == "distributor" else story.COUNSEL,
        organisation="Streamco (distributor)",
        reason="approved after review of the AI-usage register",
        assets=assets,
        conditions=["disclosed in the end credits"],
        expires=expires,
        event_time=(APPROVED_AT + timedelta(minutes=n)).isoformat(),
    )
    event["event_id"] = story.fixed_id(f"packet-approval:{category}:{n}:{decision}")
    return (signer, APPROVAL, event)


def all_approvals() -> list[Item]:
    return [approval(c, n=i) for i, c in enumerate(CATEGORIES)]


def build_ledger(
    path: Path,
    approvals: list[Item] | None = None,
    extra: list[Item] | None = None,
    index_rule: str | None = None,
) -> PacketLedger:
    """The ledger; ``extra``: further signed items (ids and times set), appended last;
    ``index_rule``: ``v1`` for a ledger of the older index rule (default: a new ledger's)."""
    url = str(path)
    pairs = demo_signers()
    pairs.update(root=keys.generate("root"), distributor=keys.generate("distributor"))
    remediation = [(s, PROVENANCE, dict(e)) for s, e in story.remediation()]
    log = keys.generate("log")
    witness = Ed25519PrivateKey.generate()
    with open_store(url) as store:
        set_roots(store, [RootKey("root", pairs["root"].public)])
        identity = init_ledger(store, ORIGIN, log)
        if index_rule is not None:
            store.set_meta(META_INDEX_RULE, index_rule)
        append(store, enrolments(pairs) + fixed(demo_items() + remediation), pairs)
        append(store, decisions(store), pairs)
        chosen = all_approvals() if approvals is None else approvals
        if chosen:
            append(store, chosen, pairs)
        if extra:
            append(store, extra, pairs)
        stored = Checkpointer(store, log).checkpoint()
        assert stored is not None
        body, _ = cp.split_note(stored.note)
        line = cosign(body, WITNESS, witness, timestamp=1_700_000_000)
        wkey = WitnessKey(WITNESS, witness.public_key())
        store.add_cosignature(
            StoredCosignature(stored.size, WITNESS, wkey.key_id, 1_700_000_000, line)
        )
    return PacketLedger(url, identity.vkey, wkey.vkey, pairs, log)


# --- cuts ------------------------------------------------------------------------------------

RATE = 24


def _range(start: int, frames: int) -> Any:
    return otio.opentime.TimeRange(
        otio.opentime.RationalTime(start, RATE), otio.opentime.RationalTime(frames, RATE)
    )


def timeline(assets: list[str | None], *, how: str = "url", audio: bool = True) -> Any:
    """A cut of one video clip per asset version (None: a clip naming none) and a music clip."""
    tl = otio.schema.Timeline(name="Fallen Tower 101 locked")
    tl.global_start_time = otio.opentime.from_timecode("01:00:00:00", RATE)
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(video)
    for i, asset in enumerate(assets):
        shot = (asset or f"clip{i}").split("/")[-2] if asset else f"clip{i}"
        url = f"assetledger:{asset}" if asset and how == "url" else f"file:///media/{shot}.exr"
        clip = otio.schema.Clip(
            name=shot,
            media_reference=otio.schema.ExternalReference(
                target_url=url, available_range=_range(0, 200)
            ),
            source_range=_range(10, 48 + i),
        )
        if asset and how == "metadata":
            clip.metadata["assetledger"] = {"asset": asset}
        video.append(clip)
    if audio:
        music = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
        music.append(
            otio.schema.Clip(
                name="score-101",
                media_reference=otio.schema.ExternalReference(
                    target_url="file:///media/score-101.wav", available_range=_range(0, 2000)
                ),
                source_range=_range(0, 96),
            )
        )
        tl.tracks.append(music)
    return tl


def write_cut(tl: Any, path: Path) -> Path:
    options = {"use_empty_mob_ids": True} if path.suffix == ".aaf" else {}
    otio.adapters.write_to_file(tl, str(path), **options)
    return path


def episode_packet(store: LedgerStore, folder: Path) -> BuildResult:
    """The packet of the episode's cut (sh010 v2, sh020, sh030) built in ``folder`` (its cut
    written there too)."""
    cut = write_cut(timeline([SH010_V2, SH020, SH030]), folder / "cut.otio")
    return build_packet(store, story.SHOW, story.EPISODE, cut, folder / "pkt")


def beside(store: LedgerStore, disclosure: dict[str, Any]) -> tuple[CreditReport, AuditResult]:
    """The credit report and the audit with the approval rule (as packets apply it) of the
    episode, at the same checkpoint and as-of time as ``disclosure``."""
    view = LedgerView.open(store)
    as_of = datetime.fromisoformat(disclosure["as_of"])
    credits = credit_report(view, story.SHOW, story.EPISODE, as_of=as_of)
    audit = run_audit(
        view,
        Scope(production=story.SHOW, episode=story.EPISODE),
        rules=RuleSet(approvals=True),
        signer_verdicts=registry_verdicts(store),
        as_of=as_of,
    )
    return credits, audit
