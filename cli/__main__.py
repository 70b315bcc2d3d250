"""``python -m cli`` is ``assetledger``."""

from cli.main import main

main()
