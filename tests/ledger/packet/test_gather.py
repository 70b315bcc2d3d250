"""The build computes the disclosure once when the evidence answers as the ledger did, and
computes it again over the evidence when it does not (ledger/packet/gather.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from demo import story
from ledger.audit.model import LedgerView
from ledger.packet import build as pb
from ledger.packet.gather import NotingStore, same_answers
from ledger.packet.verify import verify_packet
from ledger.store import open_store
from ledger.trust.replay import decoding_once
from tests.ledger.packet.packet_factory import (
    SH010_V2,
    SH020,
    SH030,
    build_ledger,
    timeline,
    write_cut,
)


def _build(url: str, folder: Path) -> tuple[pb.BuildResult, list[str]]:
    said: list[str] = []
    cut = write_cut(timeline([SH010_V2, SH020, SH030]), folder / "cut.otio")
    with open_store(url) as store:
        result = pb.build_packet(
            store, story.SHOW, story.EPISODE, cut, folder / "pkt", progress=said.append
        )
    return result, said


def test_the_disclosure_computed_once_is_the_one_the_evidence_gives(tmp_path: Path) -> None:
    """packet verify recomputes the disclosure (and the documents of it) over the packet's
    evidence alone and compares bytes: the one computation over the ledger is that one."""
    ledger = build_ledger(tmp_path / "ledger.db")
    result, said = _build(ledger.url, tmp_path)
    assert not any("computed again" in s for s in said)  # the one computation sufficed
    verdict = verify_packet(result.zip_path, ledger.log_vkey)
    assert verdict.ok, [p.detail for p in verdict.problems]


def test_a_ledger_whose_query_rows_disagree_with_its_events_builds_from_the_evidence(
    tmp_path: Path,
) -> None:
    """A query row of the episode deleted from the ledger's database: the audit over the
    ledger misses that event, the episode's completeness proof brings it into the evidence,
    whose own query index (from the signed events) lists it: the answers differ, so the build
    computes the disclosure over the evidence, and the packet verifies."""
    ledger = build_ledger(tmp_path / "ledger.db")
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        (seq,) = db.execute("SELECT max(seq) FROM refs WHERE ref_kind = 'episode'").fetchone()
        db.execute("DELETE FROM refs WHERE ref_kind = 'episode' AND seq = ?", (seq,))
    result, said = _build(ledger.url, tmp_path)
    assert any("computed again over the evidence" in s for s in said)
    verdict = verify_packet(result.zip_path, ledger.log_vkey)
    assert verdict.ok, [p.detail for p in verdict.problems]


def test_an_answer_the_evidence_gives_otherwise_is_found(tmp_path: Path) -> None:
    ledger = build_ledger(tmp_path / "ledger.db")
    with open_store(ledger.url) as store, decoding_once():
        checkpoint = store.latest_checkpoint()
        assert checkpoint is not None
        meta = pb._meta(store)
        gather = NotingStore(checkpoint, meta, source=store, noting=True)
        view = LedgerView(gather, pb.evidence_state(checkpoint))
        seqs = view.seqs("show", story.SHOW)
        assert len(seqs) > 1
        gather.noting = False
        entries = pb._with_proofs(store, gather, checkpoint)
        assert same_answers(gather, pb.evidence_store(checkpoint, meta, entries))
        # evidence without one of the show's entries answers the show's query otherwise
        fewer = [e for e in entries if e.seq != seqs[-1]]
        assert not same_answers(gather, pb.evidence_store(checkpoint, meta, fewer))
