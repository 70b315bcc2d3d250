"""Render a :class:`Document` to PDF (reportlab), for :func:`ledger.reports.render.to_pdf`.

Deterministic: reportlab's ``invariant`` mode fixes the creation date and the document id.
A module of its own so that reportlab (a fifth of the command line's start-up) is loaded only
when a PDF is made.
"""

from __future__ import annotations

import io
from typing import Any

from reportlab import platypus  # type: ignore[import-untyped]
from reportlab.graphics import shapes  # type: ignore[import-untyped]
from reportlab.lib import colors, pagesizes, units  # type: ignore[import-untyped]
from reportlab.lib import styles as rl_styles

from ledger.audit.text import printable, shorten
from ledger.reports.document import Code, Document, Figure, Heading, Para, Table, escape
from ledger.reports.fonts import report_font
from ledger.reports.picture import BOX_H, BOX_W, FONT, LEGEND, Picture

SEVERITY_COLOURS = {"critical": "#b71c1c", "high": "#e65100", "medium": "#f9a825", "low": "#7cb342"}

MAX_PDF_CELL = 300
"""Characters of one PDF table cell; longer values are cut, saying how much (the JSON, CSV
and HTML outputs keep them whole).  A table row cannot break across pages, so one huge cell
would not fit on any page."""

TIGHT_PDF_CELL = 60
"""The cut used when a layout still fails (many long cells in one row)."""


def to_pdf(doc: Document) -> bytes:
    """A4 PDF with the same content; identical bytes for the same document.

    Never fails on long values: table cells are cut to :data:`MAX_PDF_CELL` characters, and
    if a row still cannot fit a page, to :data:`TIGHT_PDF_CELL`.
    """
    try:
        return _pdf(doc, MAX_PDF_CELL)
    except platypus.doctemplate.LayoutError:
        return _pdf(doc, TIGHT_PDF_CELL)


def _pdf(doc: Document, cell_limit: int) -> bytes:
    buf = io.BytesIO()
    template = platypus.SimpleDocTemplate(
        buf,
        pagesize=pagesizes.landscape(pagesizes.A4),
        leftMargin=14 * units.mm,
        rightMargin=14 * units.mm,
        topMargin=14 * units.mm,
        bottomMargin=14 * units.mm,
        title=printable(doc.title),  # the viewer's title bar: no bidi override, no control
        author="asset-ledger",
        creator="asset-ledger",
        producer="asset-ledger (reportlab)",
        subject=printable(doc.subtitle),
        invariant=1,
    )
    sheet = _styles()
    story: list[Any] = [_para(doc.title, sheet["title"]), _para(doc.subtitle, sheet["note"])]
    for block in doc.blocks:
        story += _pdf_block(block, sheet, template.width, template.height - 30, cell_limit)
    template.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buf.getvalue()


def _styles() -> dict[str, Any]:
    """reportlab's sample styles, all set in the embedded Unicode report font."""
    font = report_font()
    base = rl_styles.getSampleStyleSheet()

    def style(name: str, parent: str, **kw: Any) -> Any:
        return rl_styles.ParagraphStyle(name, parent=base[parent], fontName=font, **kw)

    return {
        "title": style("title", "Title"),
        "h2": style("h2", "Heading2"),
        "h3": style("h3", "Heading3"),
        "normal": style("n", "BodyText", fontSize=9, leading=12),
        "note": style("note", "BodyText", fontSize=8, textColor="#555555"),
        "alert": style("alert", "BodyText", fontSize=10, textColor=colors.HexColor("#b71c1c")),
        "ok": style("ok", "BodyText", fontSize=10, textColor=colors.HexColor("#2e7d32")),
        "cell": style("cell", "BodyText", fontSize=7, leading=8.6),
        "code": style("code", "Code", fontSize=7, leading=8.6),
    }


def _para(text: str, style: Any) -> Any:

    return platypus.Paragraph(escape(text), style)


def _pdf_block(
    block: Heading | Para | Table | Figure | Code,
    styles: dict[str, Any],
    width: float,
    height: float,
    cell_limit: int = MAX_PDF_CELL,
) -> list[Any]:

    if isinstance(block, Heading):
        return [_para(block.text, styles["h2" if block.level <= 2 else "h3"])]
    if isinstance(block, Para):
        return [_para(block.text, styles.get(block.style, styles["normal"]))]
    if isinstance(block, Table):
        return [_pdf_table(block, styles, width, cell_limit), platypus.Spacer(1, 6)]
    if isinstance(block, Figure):
        return [_drawing(block.picture, width, height), _para(block.caption, styles["note"])]
    return [platypus.Preformatted(printable(block.text), styles["code"])]


def _pdf_table(t: Table, styles: dict[str, Any], width: float, cell_limit: int) -> Any:

    weights = t.widths or tuple(1.0 for _ in t.columns)
    widths = [width * w / sum(weights) for w in weights]
    data = [[_para(c, styles["cell"]) for c in t.columns]]
    data += [[_para(shorten(v, cell_limit), styles["cell"]) for v in r] for r in t.rows]
    commands: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeF2")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if t.columns[0] == "severity":
        for i, r in enumerate(t.rows, start=1):
            colour = SEVERITY_COLOURS.get(r[0])
            if colour:
                commands.append(("BACKGROUND", (0, i), (0, i), colors.HexColor(colour)))
    table = platypus.Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(platypus.TableStyle(commands))
    return table


def _drawing(picture: Picture, width: float, height: float) -> Any:
    """The lineage picture as reportlab vector graphics, scaled to fit the frame."""

    scale = min(1.0, width / picture.width, height / picture.height)
    group = shapes.Group()
    for a in picture.arrows:
        group.add(_rl_arrow(a.x1, a.y1, a.x2, a.y2, a.colour, a.dashed, a.label, picture.height))
    for b in picture.boxes:
        group.add(_rl_box(b.x, b.y, b.lines, b.fill, b.stroke, b.dashed, picture.height))
    group.add(_rl_legend(picture.height))
    group.scale(scale, scale)
    drawing = shapes.Drawing(picture.width * scale, picture.height * scale)
    drawing.add(group)
    return drawing


def _rl_box(
    x: float,
    y: float,
    lines: tuple[str, ...],
    fill: str,
    stroke: str,
    dashed: bool,
    height: float,
) -> Any:

    g = shapes.Group()
    top = height - y
    g.add(
        shapes.Rect(
            x,
            top - BOX_H,
            BOX_W,
            BOX_H,
            rx=6,
            ry=6,
            fillColor=colors.HexColor(fill),
            strokeColor=colors.HexColor(stroke),
            strokeWidth=1.5,
            strokeDashArray=[5, 3] if dashed else None,
        )
    )
    for i, line in enumerate(lines):
        size = FONT + 0.5 if i == 0 else FONT
        g.add(shapes.String(x + 8, top - 16 - 15 * i, line, fontName=report_font(), fontSize=size))
    return g


def _rl_arrow(
    x1: float,
    y1: float,
    x2: float,
    y2: float,
    colour: str,
    dashed: bool,
    label: str,
    height: float,
) -> Any:

    c = colors.HexColor(colour)
    g = shapes.Group()
    sy1, sy2 = height - y1, height - y2
    g.add(
        shapes.Line(
            x1,
            sy1,
            x2,
            sy2,
            strokeColor=c,
            strokeWidth=1.4,
            strokeDashArray=[5, 3] if dashed else None,
        )
    )
    g.add(shapes.Polygon(_head(x1, sy1, x2, sy2), fillColor=c, strokeColor=c, strokeWidth=0.5))
    g.add(
        shapes.String(
            x1 + (x2 - x1) * 0.3 + 4,
            sy1 + (sy2 - sy1) * 0.3,
            label,
            fontName=report_font(),
            fontSize=8,
            fillColor=c,
        )
    )
    return g


def _head(x1: float, y1: float, x2: float, y2: float) -> list[float]:
    import math

    angle = math.atan2(y2 - y1, x2 - x1)
    size, spread = 7.0, 0.45
    left = (x2 - size * math.cos(angle - spread), y2 - size * math.sin(angle - spread))
    right = (x2 - size * math.cos(angle + spread), y2 - size * math.sin(angle + spread))
    return [x2, y2, left[0], left[1], right[0], right[1]]


def _rl_legend(height: float) -> Any:

    g = shapes.Group()
    x = 16.0
    for fill, stroke, label in LEGEND:
        g.add(
            shapes.Rect(
                x, 6, 12, 10, fillColor=colors.HexColor(fill), strokeColor=colors.HexColor(stroke)
            )
        )
        g.add(shapes.String(x + 16, 8, label, fontName=report_font(), fontSize=8))
        x += 26 + 5.5 * len(label)
    return g


def _footer(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(report_font(), 7)
    canvas.setFillColor("#777777")
    canvas.drawRightString(doc.pagesize[0] - 40, 20, f"page {doc.page}")
    canvas.drawString(40, 20, printable(doc.title))
    canvas.restoreState()
