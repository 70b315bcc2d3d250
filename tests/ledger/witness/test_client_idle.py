"""A witness that closes an idle keep-alive connection is not "unreachable" (issue 19 §8).

litewitness drops a connection idle for 5 s, the project's witness after 30 s; here the
project's witness server runs with no idle timeout and drops its idle connections when told
(``close_idle``: the quiet spell happens without a clock), and a tiny socket server stands for
a witness that closes every connection unanswered.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.store import LedgerStore, open_store
from ledger.trust import keys
from ledger.witness.client import Cosigning, WitnessClient, WitnessEndpoint
from ledger.witness.server import WitnessServer
from ledger.witness.witness import Witness, init_witness
from tests.ledger.ledger_factory import append_all, signed_entries

SIGNER = keys.generate("artist")


class Log:
    def __init__(self, store: LedgerStore, tmp_path: Path) -> None:
        log_key, _ = operator.create_log_key(tmp_path / "logkey")
        self.identity = operator.init_ledger(store, "fallen-tower.example/ledger", log_key)
        self.store = store
        self.checkpointer = operator.Checkpointer(store, log_key)
        self.size = 0

    def grow(self, n: int) -> str:
        append_all(self.store, signed_entries(SIGNER, n, first_offset=self.size))
        self.size += n
        stored = self.checkpointer.checkpoint()
        assert stored is not None
        return stored.note


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Log]:
    store = open_store(str(tmp_path / "ledger.db"))
    yield Log(store, tmp_path)
    store.close()


@pytest.fixture
def witness(ledger: Log, tmp_path: Path) -> Iterator[tuple[WitnessServer, WitnessEndpoint]]:
    identity = init_witness("guild.example/w1", tmp_path / "w1")
    core = Witness(identity, [cp.parse_vkey(ledger.identity.vkey)], tmp_path / "w1.db")
    server = WitnessServer(core, idle_timeout=None)
    server.start()
    endpoint = WitnessEndpoint(server.url, identity.key)
    yield server, endpoint
    server.stop()
    core.close()


def _wait_until_dropped(server: WitnessServer, client: WitnessClient) -> None:
    """The witness drops its idle connections (as its idle timeout would); until the client's
    connection is seen closed from the client."""
    conn = client._conn
    assert conn is not None and conn.sock is not None, "the connection was not kept alive"
    assert server.close_idle(at_least=1) >= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conn.sock.settimeout(0.05)
        try:
            if conn.sock.recv(1, socket.MSG_PEEK) == b"":
                conn.sock.settimeout(client.timeout)
                return
        except TimeoutError:
            continue
    pytest.fail("the witness never closed the idle connection")


def test_a_reused_connection_the_witness_closed_is_reopened_and_the_checkpoint_cosigned(
    ledger: Log, witness: tuple[WitnessServer, WitnessEndpoint]
) -> None:
    server, endpoint = witness
    client = WitnessClient(endpoint, timeout=5)
    first = client.add_checkpoint(0, [], ledger.grow(3))
    assert first.cosignature is not None, first.failure
    for size in (5, 8):  # each after a quiet spell longer than the witness's idle timeout
        _wait_until_dropped(server, client)
        old = ledger.size
        note = ledger.grow(size - old)
        proof = ledger.store.tree(size).consistency_proof(old, size)
        result = client.add_checkpoint(old, proof, note)
        assert result.failure is None
        assert result.cosignature is not None and result.size == size
    client.close()


def test_cosigning_after_a_quiet_spell_neither_warns_nor_backs_off(
    ledger: Log,
    witness: tuple[WitnessServer, WitnessEndpoint],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, endpoint = witness
    cosigning = Cosigning(ledger.store, [endpoint], timeout=5, retry_base=30)
    try:
        for n in (2, 2, 2):
            stored = ledger.store.latest_checkpoint()
            ledger.grow(n)
            latest = ledger.store.latest_checkpoint()
            assert latest is not None and latest != stored
            cosigning.offer(latest)
            with caplog.at_level(logging.WARNING, logger="assetledger.witness"):
                cosigning.flush(10)
            assert cosigning.behind() == [], caplog.text
            _wait_until_dropped(server, cosigning._workers[endpoint.key.vkey].client)
    finally:
        cosigning.close()
    assert "did not cosign" not in caplog.text
    assert cosigning.sizes() == {"guild.example/w1": 6}


class Hangup:
    """A server that accepts connections and closes each one without an answer."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(65536)
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_a_fresh_connection_closed_unanswered_is_a_failure_without_resending(
    ledger: Log, tmp_path: Path
) -> None:
    server = Hangup()
    try:
        key = init_witness("guild.example/w1", tmp_path / "w").key
        client = WitnessClient(WitnessEndpoint(server.url, key), timeout=5)
        result = client.add_checkpoint(0, [], ledger.grow(2))
        assert result.failure is not None and result.failure.startswith("unreachable")
        assert server.accepted == 1
    finally:
        server.close()


def test_a_reused_connection_is_resent_once_only(
    ledger: Log, witness: tuple[WitnessServer, WitnessEndpoint], tmp_path: Path
) -> None:
    """Cosigned once over a kept-alive connection; then the witness hangs up on every request."""
    server, endpoint = witness
    client = WitnessClient(endpoint, timeout=5)
    assert client.add_checkpoint(0, [], ledger.grow(2)).cosignature is not None
    hangup = Hangup()
    try:
        host, port = hangup.sock.getsockname()[:2]
        _wait_until_dropped(server, client)
        client._host, client._port = host, port  # the same witness, now hanging up
        note = ledger.grow(1)
        result = client.add_checkpoint(2, ledger.store.tree(3).consistency_proof(2, 3), note)
        assert result.failure is not None and result.failure.startswith("unreachable")
        assert hangup.accepted == 1  # the resend; the first attempt used the old connection
    finally:
        hangup.close()
