"""The witness's HTTP interface (c2sp.org/tlog-witness), on the standard library's server.

* ``POST /add-checkpoint`` — the submission API (answers from
  :class:`ledger.witness.witness.Witness`);
* ``GET /<hex SHA-256 of the origin>/checkpoint`` — the monitoring API: the latest checkpoint
  cosigned for that log, with the log's verified signature and this witness's cosignature.

The server binds 127.0.0.1 unless told otherwise, speaks HTTP/1.1 with keep-alive, reads at
most :data:`MAX_BODY` bytes of a body that must announce its ``Content-Length``, drops a
connection idle for :data:`IDLE_TIMEOUT` seconds (:meth:`WitnessServer.close_idle` drops the
idle ones at once: tests make "idle" happen without waiting for a clock), and serves at most
:data:`MAX_CONNECTIONS` connections at once (more are closed unanswered).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ledger.errors import AssetLedgerError
from ledger.witness.witness import TEXT_CONTENT_TYPE, Response, Witness

log = logging.getLogger("assetledger.witness")

MAX_BODY = 64 * 1024
"""A request is an ``old`` line, at most 63 proof lines and a checkpoint: far below this."""
IDLE_TIMEOUT = 30.0
MAX_CONNECTIONS = 64
"""Connections served at once (a thread each); more are closed at once, so idle or slow
clients cannot make the witness start threads without bound."""
_MONITOR_PATH = re.compile(r"/([0-9a-f]{64})/checkpoint")
_DECIMAL = re.compile(r"[0-9]+")


class WitnessServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        witness: Witness,
        host: str = "127.0.0.1",
        port: int = 0,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float | None = IDLE_TIMEOUT,
    ) -> None:
        """``idle_timeout`` None: connections are dropped as idle only by :meth:`close_idle`."""
        self.witness = witness
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: set[socket.socket] = set()  # connections waiting for their next request
        self._idle_changed = threading.Condition()
        super().__init__((host, port), _Handler)

    def close_idle(self, at_least: int = 0, timeout: float = 10.0) -> int:
        """Drop every connection now waiting for its next request, as the idle timeout would
        (the client sees the connection closed); how many.  With ``at_least``, first wait (up
        to ``timeout`` seconds) until that many are waiting: a handler marks its connection
        idle only after it has sent the previous response."""
        with self._idle_changed:
            self._idle_changed.wait_for(lambda: len(self._idle) >= at_least, timeout)
            idle = list(self._idle)
            self._idle.clear()  # closed: no longer waiting, whenever their handlers notice
        for conn in idle:
            with contextlib.suppress(OSError):  # it ended meanwhile
                conn.shutdown(socket.SHUT_RDWR)
        return len(idle)

    def _set_idle(self, conn: socket.socket, idle: bool) -> None:
        with self._idle_changed:
            if idle:
                self._idle.add(conn)
            else:
                self._idle.discard(conn)
            self._idle_changed.notify_all()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("over %s connections: closing %s", self.max_connections, client_address)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> threading.Thread:
        """Serve on a background thread (tests, embedding); stop with :meth:`stop`."""
        thread = threading.Thread(target=self.serve_forever, name="witness-http", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.close_idle()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is routine; anything else is logged with its traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("connection from %s ended early", client_address)
        else:
            log.exception("error while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the specification recommends
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    timeout = IDLE_TIMEOUT
    server: WitnessServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)  # this server's idle limit

    def handle_one_request(self) -> None:
        self.server._set_idle(self.connection, True)  # until its request line has arrived
        try:
            super().handle_one_request()
        finally:
            self.server._set_idle(self.connection, False)

    def parse_request(self) -> bool:
        self.server._set_idle(self.connection, False)
        return super().parse_request()

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            self._send(Response(404, b"not found\n"))
            return
        body = self._body()
        if body is None:
            return
        try:
            response = self.server.witness.add_checkpoint(body)
        except AssetLedgerError as exc:  # the state database failed: nothing was cosigned
            log.error("add-checkpoint failed: %s", exc)
            response = Response(500, b"internal error; nothing was cosigned\n")
        self._send(response)

    def do_GET(self) -> None:
        if self.path == "/add-checkpoint":
            self._send(Response(405, b"use POST\n"), allow="POST")
            return
        match = _MONITOR_PATH.fullmatch(self.path)
        try:
            note = None if match is None else self.server.witness.latest_note(match.group(1))
        except AssetLedgerError as exc:  # the state database failed
            log.error("monitoring read failed: %s", exc)
            self._send(Response(500, b"internal error\n"))
            return
        if note is None:
            self._send(Response(404, b"not found\n"))
            return
        self._send(Response(200, note.encode("utf-8")))

    def _body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self._send(Response(411, b"Content-Length required\n"), close=True)
            return None
        if not _DECIMAL.fullmatch(length_text):  # str.isdigit() takes '²', int() does not
            self._send(Response(400, b"Content-Length is not a decimal number\n"), close=True)
            return None
        if len(length_text) > 12 or int(length_text) > MAX_BODY:
            self._send(Response(413, f"body over {MAX_BODY} bytes\n".encode()), close=True)
            return None
        length = int(length_text)
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _send(self, response: Response, *, allow: str = "", close: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type or TEXT_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(response.body)))
        if allow:
            self.send_header("Allow", allow)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)
