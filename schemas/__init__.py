"""Avro schemas of asset-ledger.  Every released version stays here forever.

File names are ``<record>.v<N>.avsc``; the highest N of a record is the current writer schema.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def schema_dir() -> Path:
    """The folder holding the ``.avsc`` files."""
    return Path(str(resources.files(__name__)))


def schema_files() -> list[Path]:
    """Every released schema file, sorted by name."""
    return sorted(schema_dir().glob("*.avsc"))
