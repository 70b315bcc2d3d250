"""The Unicode font embedded in PDF reports, so that every name prints.

reportlab's built-in Helvetica covers WinAnsi only: Cyrillic, Greek beyond a few symbols and
CJK names came out as black boxes.  WenQuanYi Micro Hei (from the ``paperang-p2-fonts-cjk``
wheel, a dependency) has TrueType outlines, which reportlab can subset and embed, for Latin,
Greek, Cyrillic, Chinese, Japanese kana and Korean Hangul in one 5 MB file.  Only the glyphs a
report uses are embedded (a report grows by tens of kilobytes).  The font's own licence is
Apache-2.0 or GPLv3 with the font embedding exception; see docs/audits.md.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from reportlab.lib.fonts import addMapping  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

from ledger.errors import ConfigurationError

REPORT_FONT = "AssetLedgerSans"
FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_FILE = "fonts/wqy-microhei.ttc"


@cache
def report_font() -> str:
    """Register the report font with reportlab (once) and return its name."""
    try:
        path = resources.files(FONT_PACKAGE).joinpath(FONT_FILE)
        with resources.as_file(path) as file:
            font = TTFont(REPORT_FONT, str(file), subfontIndex=0)
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise ConfigurationError(
            f"the PDF report font is missing ({exc})",
            hint="reinstall asset-ledger (it depends on paperang-p2-fonts-cjk)",
        ) from exc
    pdfmetrics.registerFont(font)
    for bold in (0, 1):
        for italic in (0, 1):
            addMapping(REPORT_FONT, bold, italic, REPORT_FONT)
    return REPORT_FONT


def covers(text: str) -> bool:
    """Whether the report font has a glyph for every character of ``text``."""
    report_font()
    face = pdfmetrics.getFont(REPORT_FONT).face
    return all(ord(c) in face.charToGlyph for c in text if not c.isspace())
