"""A lineage as a picture: a layered layout drawn as SVG (and by :mod:`render` into PDF).

The root is on top; each layer below holds the versions one more step away.  Arrows run the
way material flowed (ingredient → product).  Colours: AI actions orange, human work blue,
human work declaring generative-AI elements purple, captures green, missing versions white
with a red dashed border; a content-hash mismatch is a red arrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape

from ledger.audit.lineage import (
    EDGE_HASH_MISMATCH,
    EDGE_HASH_UNKNOWN,
    EDGE_MISSING,
    Lineage,
    Node,
)
from ledger.audit.text import printable

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 230, 56, 24, 46, 16
FONT = 10
BOLD = ' font-weight="bold"'
MAX_CHARS = 40
CAPTURE_TYPES = frozenset(
    {"digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print"}
)
LEGEND = (
    ("#d8ecd3", "#3c7a35", "capture"),
    ("#d6e6f5", "#2f5f8a", "human work"),
    ("#e7daf2", "#6b3f8f", "human work with AI elements"),
    ("#f8dcc0", "#a4561b", "AI action"),
    ("#ffffff", "#c62828", "missing / mismatch"),
)


def escape(text: str) -> str:
    """XML text with control characters shown as escapes (XML 1.0 cannot carry them)."""
    return xml_escape(printable(text))


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    lines: tuple[str, ...]
    title: str
    fill: str
    stroke: str
    dashed: bool


@dataclass(frozen=True)
class Arrow:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    dashed: bool
    label: str


@dataclass(frozen=True)
class Picture:
    width: float
    height: float
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def short_name(node: Node) -> str:
    """The last two path segments of the asset id, and the version."""
    tail = "/".join(node.asset_id.split("/")[-2:])
    return f"{tail}@{node.version}"


def _box_style(node: Node) -> tuple[str, str, bool]:
    step = node.step
    if step is None:
        return "#ffffff", "#c62828", True
    if step.is_ai:
        return "#f8dcc0", "#a4561b", False
    if step.is_generative:
        return "#e7daf2", "#6b3f8f", False
    if step.source_type in CAPTURE_TYPES:
        return "#d8ecd3", "#3c7a35", False
    return "#d6e6f5", "#2f5f8a", False


def _box_lines(node: Node) -> tuple[str, ...]:
    step = node.step
    if step is None:
        return (_clip(short_name(node)), "NOT IN THE LEDGER", "unknown provenance")
    who = step.model.label if step.model else step.actor.name
    return (
        _clip(short_name(node)),
        _clip(f"{step.action.removeprefix('c2pa.')} · {step.source_type}"),
        _clip(who),
    )


def layout(lineage: Lineage) -> Picture:
    layers: dict[int, list[Node]] = {}
    for node in lineage.nodes.values():
        layers.setdefault(node.depth, []).append(node)
    widest = max(len(v) for v in layers.values())
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X
    height = MARGIN * 2 + len(layers) * BOX_H + (len(layers) - 1) * GAP_Y + 22
    places: dict[str, tuple[float, float]] = {}
    boxes = []
    for depth in sorted(layers):
        row = layers[depth]
        row_width = len(row) * BOX_W + (len(row) - 1) * GAP_X
        x0 = (width - row_width) / 2
        y = MARGIN + depth * (BOX_H + GAP_Y)
        for i, node in enumerate(row):
            x = x0 + i * (BOX_W + GAP_X)
            places[node.key] = (x, y)
            fill, stroke, dashed = _box_style(node)
            boxes.append(Box(x, y, _box_lines(node), node.key, fill, stroke, dashed))
    return Picture(width, height, tuple(boxes), tuple(_arrows(lineage, places)))


def _arrows(lineage: Lineage, places: dict[str, tuple[float, float]]) -> list[Arrow]:
    arrows = []
    for e in lineage.edges:
        (px, py), (ix, iy) = places[e.product], places[e.ingredient]
        upward = iy > py  # ingredient drawn below the product
        x1, x2 = ix + BOX_W / 2, px + BOX_W / 2
        y1 = iy if upward else iy + BOX_H
        y2 = py + BOX_H if upward else py
        broken = e.status in (EDGE_MISSING, EDGE_HASH_MISMATCH, EDGE_HASH_UNKNOWN)
        label = e.relationship + _EDGE_NOTES.get(e.status, "")
        arrows.append(Arrow(x1, y1, x2, y2, "#c62828" if broken else "#555555", broken, label))
    return arrows


_EDGE_NOTES = {EDGE_HASH_MISMATCH: " · HASH MISMATCH", EDGE_HASH_UNKNOWN: " · HASH UNKNOWN"}


def to_svg(picture: Picture, title: str) -> str:
    """A standalone SVG document (deterministic text)."""
    w, h = _num(picture.width), _num(picture.height)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
        f'font-size="{FONT}" role="img">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="context-stroke"/></marker></defs>',
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
    ]
    parts += [_svg_arrow(a) for a in picture.arrows]
    parts += [_svg_box(b) for b in picture.boxes]
    parts.append(_svg_legend(picture))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg_arrow(a: Arrow) -> str:
    dash = ' stroke-dasharray="5 3"' if a.dashed else ""
    mx, my = a.x1 + (a.x2 - a.x1) * 0.3, a.y1 + (a.y2 - a.y1) * 0.3
    return (
        f'<line x1="{_num(a.x1)}" y1="{_num(a.y1)}" x2="{_num(a.x2)}" y2="{_num(a.y2)}" '
        f'stroke="{a.colour}" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
        f'<text x="{_num(mx + 4)}" y="{_num(my)}" fill="{a.colour}" font-size="9">'
        f"{escape(a.label)}</text>"
    )


def _svg_box(b: Box) -> str:
    dash = ' stroke-dasharray="5 3"' if b.dashed else ""
    texts = "".join(
        f'<text x="{_num(b.x + 8)}" y="{_num(b.y + 16 + 15 * i)}"{BOLD if i == 0 else ""}>'
        f"{escape(line)}</text>"
        for i, line in enumerate(b.lines)
    )
    return (
        f"<g><title>{escape(b.title)}</title>"
        f'<rect x="{_num(b.x)}" y="{_num(b.y)}" width="{BOX_W}" height="{BOX_H}" rx="6" '
        f'fill="{b.fill}" stroke="{b.stroke}" stroke-width="1.5"{dash}/>{texts}</g>'
    )


def _svg_legend(picture: Picture) -> str:
    y = picture.height - 14
    items = []
    x = float(MARGIN)
    for fill, stroke, label in LEGEND:
        items.append(
            f'<rect x="{_num(x)}" y="{_num(y - 9)}" width="12" height="10" fill="{fill}" '
            f'stroke="{stroke}"/><text x="{_num(x + 16)}" y="{_num(y)}" font-size="9">'
            f"{escape(label)}</text>"
        )
        x += 26 + 5.5 * len(label)
    return "".join(items)
