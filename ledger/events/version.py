"""The installed asset-ledger release, as outputs that record what built them state it."""

from __future__ import annotations

import functools
from importlib import metadata


@functools.cache
def assetledger_version() -> str:
    """The installed version, read once (reading package metadata costs ~2 ms a call)."""
    try:
        return metadata.version("asset-ledger")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0"
