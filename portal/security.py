"""Security plumbing of the portal: headers, login rate limits, CSRF tokens, client address.

Modelled on Warehouse: a strict Content-Security-Policy (the portal runs no JavaScript at all),
framing forbidden, no referrer across origins, no sniffing, and HSTS for HTTPS deployments.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

log = logging.getLogger("assetledger.portal")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""No script, no inline style, nothing from elsewhere; forms only post back to the portal."""

DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
"""For a downloaded report or picture opened in a tab: its own inline styles, nothing else."""


def download(body: str | bytes, filename: str, media_type: str) -> Response:
    """A file to save (``Content-Disposition: attachment``), under :data:`DOWNLOAD_CSP`."""
    # Header values are Latin-1 (and read as ASCII by careful clients): the plain name keeps
    # ASCII letters and digits only; a name in another script rides in filename* (RFC 6266,
    # RFC 8187), percent-encoded UTF-8, with anything but letters, digits and "._-" replaced.
    named = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:120]
    safe = "".join(c if c.isascii() else "_" for c in named)
    extended = "" if named == safe else f"; filename*=UTF-8''{quote(named, safe='')}"
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"{extended}',
            "Content-Security-Policy": DOWNLOAD_CSP,
        },
    )


HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cache-Control": "no-store",
}
HSTS = "max-age=63072000; includeSubDomains"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP response (errors included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = dict(HEADERS)
                if b"content-security-policy" not in present:
                    extra["Content-Security-Policy"] = CSP
                if https:
                    extra["Strict-Transport-Security"] = HSTS
                for name, value in extra.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await with_headers(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("error on %s", scope.get("path"))
            if started:
                raise
            await _server_error(scope, with_headers)


SERVER_ERROR_HTML = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Error</title>'
    b'<link rel="stylesheet" href="/static/portal.css"></head><body><main><h1>500</h1>'
    b"<p>Something went wrong on our side. The error has been logged.</p>"
    b'<p><a href="/">Back to the start page</a></p></main></body></html>'
)
SERVER_ERROR_JSON = b'{"error": "internal error (logged)", "status": 500}'


async def _server_error(scope: Scope, send: Send) -> None:
    """A fixed 500 answer: no exception text, no stack trace, the usual headers."""
    api = str(scope.get("path", "")).startswith("/api/")
    body = SERVER_ERROR_JSON if api else SERVER_ERROR_HTML
    kind = b"application/json" if api else b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class RateLimiter:
    """Failed logins per key (account name, client address) in a sliding window."""

    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fresh(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def blocked_for(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: it may now)."""
        with self._lock:
            now = self.clock()
            hits = self._fresh(key, now)
            if len(hits) < self.limit:
                return 0.0
            return max(hits[0] + self.window - now, 1.0)

    def failed(self, key: str) -> None:
        with self._lock:
            self._fresh(key, self.clock()).append(self.clock())
            if len(self._hits) > 100_000:  # a flood of names: forget the quiet ones
                self._hits = {k: v for k, v in self._hits.items() if v}

    def forgive(self, key: str) -> None:
        """Take back the latest attempt counted for ``key`` (it succeeded)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and secrets.compare_digest(a, b)
