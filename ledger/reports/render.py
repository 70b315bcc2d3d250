"""Render a :class:`Document` to HTML (self-contained, inline SVG) or PDF (reportlab).

Both outputs are deterministic: no wall-clock time, no random ids.  The PDF is written with
reportlab's ``invariant`` mode, which fixes the creation date and the document id.
"""

from __future__ import annotations

from ledger.reports.document import Code, Document, Figure, Heading, Para, Table, escape

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1d1d1f;line-height:1.45;padding:0 1em}
h1{font-size:1.7em;margin-bottom:.1em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}h3{margin-bottom:.3em}.subtitle{color:#555;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;
word-break:normal;overflow-wrap:normal;hyphens:manual}th{background:#f1f1f4;white-space:nowrap}
tr.critical td:first-child,tr.high td:first-child,tr.medium td:first-child,
tr.low td:first-child{white-space:nowrap}
tr.critical td:first-child{background:#b71c1c;color:#fff;font-weight:bold}
tr.high td:first-child{background:#e65100;color:#fff;font-weight:bold}
tr.medium td:first-child{background:#f9a825}tr.low td:first-child{background:#c5e1a5}
p.note{color:#555;font-size:.9em}p.alert{background:#fdecea;border-left:5px solid #b71c1c;
padding:.5em .8em;font-weight:bold}p.ok{background:#e8f5e9;border-left:5px solid #2e7d32;
padding:.5em .8em;font-weight:bold}
figure{margin:1em 0;border:1px solid #e3e3e3;padding:.4em}
figure svg{display:block;max-width:100%;height:auto}
figcaption{font-size:.85em;color:#444}pre{background:#f6f8fa;padding:.8em;overflow-x:auto;
font-size:.82em}
@page{size:A4 landscape;margin:12mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:9pt}table{font-size:7.5pt}
figure{break-inside:avoid}
figure svg{width:100%}h2,h3{break-after:avoid}tr{break-inside:avoid}}
"""


# --- HTML ------------------------------------------------------------------------------------


def to_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(doc.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{escape(doc.title)}</h1>",
        f'<p class="subtitle">{escape(doc.subtitle)}</p>',
    ]
    parts += [_html_block(b) for b in doc.blocks]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_block(block: Heading | Para | Table | Figure | Code) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{escape(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        return f'<p class="{block.style}">{escape(block.text)}</p>'
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        return f"<figure>{block.svg}<figcaption>{escape(block.caption)}</figcaption></figure>"
    return f"<pre>{escape(block.text)}</pre>"


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    rows = []
    for r in t.rows:
        css = f' class="{r[0]}"' if t.columns[0] == "severity" else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value: str) -> str:
    """Escaped cell text; long paths may wrap after a '/' (never inside a word)."""
    return escape(value).replace("/", "/<wbr>")


# --- PDF -------------------------------------------------------------------------------------


def to_pdf(doc: Document) -> bytes:
    """A4 PDF with the same content; identical bytes for the same document (cells cut as
    :func:`ledger.reports.pdf.to_pdf` says).  reportlab is loaded here, on the first PDF."""
    from ledger.reports import pdf

    return pdf.to_pdf(doc)
