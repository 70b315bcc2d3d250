"""The text of a PDF, as pdftotext reads it (skips, or fails on CI, where it is missing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def pdf_text(pdf: bytes, folder: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext (poppler-utils) is missing; .ci/run installs it")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = folder / "document.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    ).stdout.decode("utf-8")
