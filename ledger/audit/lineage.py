"""Lineage: the ancestry (or descendants) of one asset version, through ingredient edges.

Ancestry walks ``asset_version`` → ingredients → ``asset_version`` of each ingredient;
descendants walk ``ingredient`` (the entries that used a version) → the versions they made.
Both use the query index only.  Missing links are part of the answer, not errors: an
ingredient no entry ever recorded is a node with status ``missing``, and an ingredient whose
recorded content hash differs from the ledger's record of that version is an edge with status
``hash_mismatch``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ledger.audit.model import UNKNOWN_SHA256, LedgerView, Step
from ledger.audit.text import printable
from ledger.errors import ConfigurationError
from ledger.events.provenance import asset_key

Direction = Literal["ancestors", "descendants"]
EDGE_OK = "ok"
EDGE_HASH_MISMATCH = "hash_mismatch"
EDGE_MISSING = "missing"
EDGE_HASH_UNKNOWN = "hash_unknown"


@dataclass
class Node:
    key: str
    asset_id: str
    version: str
    steps: list[Step]  # the entries recording this version, in ledger order
    depth: int

    @property
    def missing(self) -> bool:
        return not self.steps

    @property
    def step(self) -> Step | None:
        """The step that made this version (the first one recorded)."""
        return self.steps[0] if self.steps else None


@dataclass(frozen=True)
class Edge:
    """``ingredient`` went into ``product`` (by the step ``event_id``)."""

    product: str
    ingredient: str
    relationship: str
    recorded_sha256: str
    status: str
    event_id: str
    seq: int


@dataclass
class Lineage:
    root: str
    direction: Direction
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def children(self, key: str) -> list[tuple[Edge, str]]:
        """The next nodes from ``key`` away from the root, with the edge leading there."""
        if self.direction == "ancestors":
            return [(e, e.ingredient) for e in self.edges if e.product == key]
        return [(e, e.product) for e in self.edges if e.ingredient == key]

    @property
    def missing(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.missing]

    @property
    def mismatches(self) -> list[Edge]:
        return [e for e in self.edges if e.status == EDGE_HASH_MISMATCH]

    def steps(self) -> list[Step]:
        """Every step in the lineage, in ledger order."""
        seen = {s.seq: s for n in self.nodes.values() for s in n.steps}
        return [seen[k] for k in sorted(seen)]


def split_target(target: str) -> tuple[str, str | None]:
    """``id@version`` → (id, version); a bare id → (id, None)."""
    asset_id, sep, version = target.rpartition("@")
    if not sep:
        return target, None
    if not asset_id or not version:
        raise ConfigurationError(f"{target!r} is not ASSET or ASSET@VERSION")
    return asset_id, version


def resolve(view: LedgerView, target: str) -> str:
    """The asset version key for ``ASSET[@VERSION]``; a bare id means its latest version."""
    asset_id, version = split_target(target)
    if version is not None:
        return asset_key(asset_id, version)
    steps = view.steps("asset", asset_id)
    if not steps:
        raise ConfigurationError(
            f"asset {asset_id!r} is not in the ledger (at tree size {view.state.size})",
            hint="give the full asset id; assetledger log lists what the ledger holds",
        )
    return steps[-1].key


def _node(view: LedgerView, key: str, depth: int) -> Node:
    asset_id, version = split_target(key)
    return Node(key, asset_id, version or "", view.recorded(key), depth)


def _edge_status(ingredient_hash: str, recorded: list[Step]) -> str:
    if not recorded:
        return EDGE_MISSING
    if ingredient_hash == UNKNOWN_SHA256:
        return EDGE_HASH_UNKNOWN
    if all(s.content_sha256 != ingredient_hash for s in recorded):
        return EDGE_HASH_MISMATCH
    return EDGE_OK


def prefetch_ancestry(view: LedgerView, keys: Iterable[str]) -> None:
    """Read the records of every asset version in the ancestries of ``keys`` a generation
    at a time (one batch of index lookups per generation, :meth:`LedgerView.prefetch`), so
    that :func:`ancestry` then finds each answered."""
    seen = set(keys)
    frontier = sorted(seen)
    while frontier:
        view.prefetch(("asset_version", k) for k in frontier)
        later = []
        for key in frontier:
            for step in view.recorded(key):
                for ing in step.ingredients:
                    if ing.key not in seen:
                        seen.add(ing.key)
                        later.append(ing.key)
        frontier = later


def ancestry(view: LedgerView, key: str) -> Lineage:
    """Every asset version ``key`` was made from, breadth first."""
    lineage = Lineage(key, "ancestors")
    lineage.nodes[key] = _node(view, key, 0)
    queue = deque([key])
    while queue:
        node = lineage.nodes[queue.popleft()]
        for step in node.steps:
            for ing in step.ingredients:
                if ing.key not in lineage.nodes:
                    lineage.nodes[ing.key] = _node(view, ing.key, node.depth + 1)
                    queue.append(ing.key)
                status = _edge_status(ing.content_sha256, lineage.nodes[ing.key].steps)
                lineage.edges.append(
                    Edge(
                        node.key,
                        ing.key,
                        ing.relationship,
                        ing.content_sha256,
                        status,
                        step.event_id,
                        step.seq,
                    )
                )
    return lineage


def descendants(view: LedgerView, key: str) -> Lineage:
    """Every asset version made (directly or not) from ``key``, breadth first."""
    lineage = Lineage(key, "descendants")
    lineage.nodes[key] = _node(view, key, 0)
    queue = deque([key])
    while queue:
        node = lineage.nodes[queue.popleft()]
        for step in view.users(node.key):
            for ing in (i for i in step.ingredients if i.key == node.key):
                if step.key not in lineage.nodes:
                    lineage.nodes[step.key] = _node(view, step.key, node.depth + 1)
                    queue.append(step.key)
                status = _edge_status(ing.content_sha256, node.steps)
                edge = Edge(
                    step.key,
                    node.key,
                    ing.relationship,
                    ing.content_sha256,
                    status,
                    step.event_id,
                    step.seq,
                )
                if edge not in lineage.edges:
                    lineage.edges.append(edge)
    return lineage


def build(view: LedgerView, target: str, direction: Direction = "ancestors") -> Lineage:
    key = resolve(view, target)
    return ancestry(view, key) if direction == "ancestors" else descendants(view, key)


# --- presentation-neutral views ---------------------------------------------------------------


Names = dict[str, str]
"""actor id → display name, for the people an output names by id (directors of AI work)."""


def step_json(step: Step, names: Names | None = None) -> dict[str, Any]:
    names = names or {}
    return {
        "seq": step.seq,
        "event_id": step.event_id,
        "production": step.show,
        "time": step.time,
        "action": step.action,
        "digital_source_type": step.source_type,
        "actor": {
            "id": step.actor.actor_id,
            "name": step.actor.name,
            "kind": step.actor.kind,
            "role": step.actor.role,
        },
        "tool": step.tool,
        "model": None if step.model is None else step.model.label,
        "directed_by": list(step.directed_by),
        "directors": [{"id": p, "name": names.get(p)} for p in step.directed_by],
        "content_sha256": step.content_sha256,
        "description": step.description,
    }


def lineage_json(lineage: Lineage, names: Names | None = None) -> dict[str, Any]:
    """The lineage as JSON; ``names`` (e.g. :func:`ledger.audit.credits.directors_names`)
    gives each director's name beside their id."""
    return {
        "root": lineage.root,
        "direction": lineage.direction,
        "nodes": [
            {
                "asset": n.key,
                "depth": n.depth,
                "status": "missing" if n.missing else "recorded",
                "steps": [step_json(s, names) for s in n.steps],
            }
            for n in lineage.nodes.values()
        ],
        "edges": [
            {
                "product": e.product,
                "ingredient": e.ingredient,
                "relationship": e.relationship,
                "recorded_sha256": e.recorded_sha256,
                "status": e.status,
                "event_id": e.event_id,
            }
            for e in lineage.edges
        ],
    }


def step_summary(step: Step, names: Names | None = None) -> str:
    """One line per step; a director is shown by name when ``names`` has one, else by id."""
    names = names or {}
    who = step.actor.name + (" (AI)" if step.is_ai else "")
    parts = [step.action, step.source_type, who]
    parts += [step.model.label] if step.model else ([step.tool] if step.tool else [])
    if step.directed_by:
        parts.append("directed by " + ", ".join(names.get(p, p) for p in step.directed_by))
    parts.append(step.time)
    return " · ".join(parts)


def node_problem(lineage: Lineage, edge: Edge | None, node: Node) -> str:
    if node.missing:
        return "  [MISSING: never recorded in the ledger]"
    if edge is not None and edge.status == EDGE_HASH_MISMATCH:
        return f"  [HASH MISMATCH: used {edge.recorded_sha256[:12]}…, recorded {_hashes(node)}]"
    if edge is not None and edge.status == EDGE_HASH_UNKNOWN:
        return "  [HASH UNKNOWN: the step states no content hash for it]"
    return ""


def _hashes(node: Node) -> str:
    return ", ".join(sorted({s.content_sha256[:12] + "…" for s in node.steps}))


def render_tree(lineage: Lineage, names: Names | None = None) -> str:
    """A terminal tree; a version reached twice is shown once and then referred to."""
    root = lineage.nodes[lineage.root]
    names = names or {}
    lines = [_tree_label(lineage, None, root, names)]
    shown = {root.key}
    _tree_children(lineage, root.key, "", shown, lines, names)
    return "\n".join(lines)


def _tree_label(lineage: Lineage, edge: Edge | None, node: Node, names: Names) -> str:
    head = f"{edge.relationship} " if edge else ""
    body = step_summary(node.step, names) if node.step else ""
    label = f"{head}{node.key}  {body}".rstrip() + node_problem(lineage, edge, node)
    return printable(label + _other_records(node))  # names reach a terminal: no controls


def _other_records(node: Node) -> str:
    """A version recorded more than once (by two productions: an asset id both use) says so:
    the line shows the first record, and the others may say another actor or model made it."""
    if len(node.steps) < 2:
        return ""
    shows = ", ".join(sorted({s.show or "no production" for s in node.steps}))
    return (
        f"  [recorded {len(node.steps)} times, by {shows}: the first record is shown;"
        " --format json lists each, --production SHOW walks one production's]"
    )


def _tree_children(
    lineage: Lineage, key: str, prefix: str, shown: set[str], lines: list[str], names: Names
) -> None:
    children = lineage.children(key)
    for i, (edge, child_key) in enumerate(children):
        last = i == len(children) - 1
        node = lineage.nodes[child_key]
        label = _tree_label(lineage, edge, node, names)
        if child_key in shown and lineage.children(child_key):
            label += "  (shown above)"
        lines.append(prefix + ("└─ " if last else "├─ ") + label)
        if child_key not in shown:
            shown.add(child_key)
            _tree_children(
                lineage, child_key, prefix + ("   " if last else "│  "), shown, lines, names
            )
