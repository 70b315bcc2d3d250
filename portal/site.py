"""What a view module needs of the portal (:class:`portal.app.Portal`), without importing it."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from portal.accounts import AccountStore
from portal.data import PortalLedger
from portal.permissions import LEDGER, Resource


class Site(Protocol):
    ledger: PortalLedger
    accounts: AccountStore

    def guard(
        self, request: Request, action: str, resource: Resource = LEDGER, what: str = ""
    ) -> Any: ...  # who is asking, once allowed (portal.app.Who)

    def page(self, request: Request, template: str, data: dict[str, Any], who: Any) -> Response: ...

    def production(self, request: Request) -> str: ...

    def existing(self, production: str) -> str: ...
