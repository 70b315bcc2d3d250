"""Lineage through the ref index: ancestry, descendants, missing links, rendering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.audit import lineage
from ledger.audit.model import LedgerView
from ledger.errors import ConfigurationError
from ledger.reports.picture import layout, to_svg
from ledger.store import Entry, LedgerStore
from ledger.trust.keys import KeyPair
from tests.ledger.audit.audit_factory import build_store, ingredient, provenance

D = "fallen-tower/ep101/sq040"


class NoScanStore:
    """The real store, except that a full scan fails the test (queries must use the index)."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        if stop is None or stop - start > 1:
            raise AssertionError(f"lineage scanned entries {start}..{stop}")
        return self._store.entries(start, stop)

    def entry(self, seq: int) -> Entry | None:
        return next(self.entries(seq, seq + 1), None)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_ancestry_of_a_final_delivery(view: LedgerView) -> None:
    result = lineage.build(view, f"{D}/sh010/final@v001")
    assert set(result.nodes) == {
        f"{D}/sh010/final@v001",
        f"{D}/sh010/comp@v001",
        f"{D}/sh010/plate@v002",
        f"{D}/sh010/plate@v001",
        f"{D}/sh010/roto@v001",
        f"{D}/sh010/fx_debris@v001",
        f"{D}/sh010/fx_dust@v001",
    }
    comp_inputs = {
        (e.ingredient, e.relationship)
        for e in result.edges
        if e.product.endswith("sh010/comp@v001")
    }
    assert (f"{D}/sh010/fx_dust@v001", "componentOf") in comp_inputs
    assert (f"{D}/sh010/plate@v002", "parentOf") in comp_inputs
    assert all(e.status == lineage.EDGE_OK for e in result.edges)
    assert not result.missing


def test_lineage_uses_the_index_not_a_scan(demo_ledger: LedgerStore) -> None:
    # the queries themselves; the guard (one pass, before a report states its tree) is separate
    view = LedgerView.open(NoScanStore(demo_ledger), check=False)  # type: ignore[arg-type]
    result = lineage.build(view, f"{D}/sh030/final")
    assert len(result.nodes) == 9
    assert len(lineage.build(view, f"{D}/sh010/plate@v001", "descendants").nodes) == 8


def test_missing_links_are_shown_not_hidden(view: LedgerView) -> None:
    result = lineage.build(view, f"{D}/sh030/final@v001")
    assert [n.key for n in result.missing] == ["library/smoke/smoke_12@v3"]
    [mismatch] = result.mismatches
    assert mismatch.ingredient == f"{D}/sh030/roto@v001"
    tree = lineage.render_tree(result)
    assert "library/smoke/smoke_12@v3  [MISSING: never recorded in the ledger]" in tree
    assert "[HASH MISMATCH" in tree
    data = lineage.lineage_json(result)
    statuses = {e["ingredient"]: e["status"] for e in data["edges"]}
    assert statuses["library/smoke/smoke_12@v3"] == "missing"
    assert statuses[f"{D}/sh030/roto@v001"] == "hash_mismatch"


def test_descendants_of_a_plate(view: LedgerView) -> None:
    result = lineage.build(view, f"{D}/sh010/plate@v002", "descendants")
    assert set(result.nodes) == {
        f"{D}/sh010/plate@v002",
        f"{D}/sh010/fx_debris@v001",
        f"{D}/sh010/comp@v001",
        f"{D}/sh020/comp@v001",
        f"{D}/sh010/final@v001",
        f"{D}/sh020/final@v001",
    }
    assert result.nodes[f"{D}/sh020/final@v001"].depth == 3


def test_bare_asset_id_means_its_latest_version(
    tmp_path: Path, signers: dict[str, KeyPair]
) -> None:
    items = [
        provenance("a", "v001"),
        provenance("a", "v002", ingredients=[ingredient("a", "v001", "parentOf")]),
    ]
    with build_store(tmp_path / "l.db", items, signers) as store:
        view = LedgerView.open(store)
        assert lineage.resolve(view, "a") == "a@v002"
        assert lineage.resolve(view, "a@v001") == "a@v001"
        with pytest.raises(ConfigurationError, match="not in the ledger"):
            lineage.resolve(view, "nope")


def test_a_cycle_does_not_loop(tmp_path: Path, signers: dict[str, KeyPair]) -> None:
    items = [
        provenance("x", ingredients=[ingredient("y", "v001")]),
        provenance("y", ingredients=[ingredient("x", "v001")]),
    ]
    with build_store(tmp_path / "l.db", items, signers) as store:
        result = lineage.build(LedgerView.open(store), "x@v001")
    assert set(result.nodes) == {"x@v001", "y@v001"}
    assert len(result.edges) == 2


def test_svg_picture_marks_missing_links(view: LedgerView) -> None:
    picture = layout(lineage.build(view, f"{D}/sh030/final@v001"))
    svg = to_svg(picture, "sh030")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert svg.count("<rect x=") >= 9
    assert "NOT IN THE LEDGER" in svg
    assert "HASH MISMATCH" in svg
    assert 'stroke="#c62828"' in svg
