"""The asset-ledger web portal: ``assetledger serve``.

A read-only, server-rendered web application over the ledger for counsel, guild representatives,
auditors and administrators, with a JSON twin of every page.  Library code only; the commands
live in ``cli/portal.py``.
"""
