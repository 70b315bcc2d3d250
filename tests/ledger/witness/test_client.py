"""The log's side of witnessing on a real ledger (SQLite and PostgreSQL) and real witnesses."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from ledger.errors import ConfigurationError, KeyFileError, VerificationFailure
from ledger.log import checkpoint as cp
from ledger.log import operator
from ledger.log.receipt import parse_receipt, verify_receipt
from ledger.store import LedgerStore, StoredCosignature, open_store
from ledger.trust import keys
from ledger.witness.client import (
    Cosigning,
    WitnessClient,
    WitnessEndpoint,
    newest_witnessed,
    parse_endpoint,
)
from ledger.witness.cosignature import require_quorum, verify_cosignatures
from ledger.witness.server import WitnessServer
from ledger.witness.witness import Witness, WitnessIdentity, init_witness
from tests.ledger.ledger_factory import append_all, signed_entries

SIGNER = keys.generate("artist")
ORIGIN = "fallen-tower.example/ledger"


class Ledger:
    def __init__(self, store: LedgerStore, log_key: keys.KeyPair) -> None:
        self.store = store
        self.checkpointer = operator.Checkpointer(store, log_key)
        self.size = 0
        self.cosignings: list[Cosigning] = []  # told of each new checkpoint, as the consumer does

    @property
    def vkey(self) -> str:
        return operator.require_identity(self.store).vkey

    def grow(self, n: int) -> None:
        append_all(self.store, signed_entries(SIGNER, n, first_offset=self.size))
        self.size += n
        stored = self.checkpointer.checkpoint()
        assert stored is not None
        for cosigning in self.cosignings:
            cosigning.offer(stored)


def _ledger(store: LedgerStore, tmp_path: Path) -> Ledger:
    log_key, _ = operator.create_log_key(tmp_path / "logkey")
    operator.init_ledger(store, ORIGIN, log_key)
    return Ledger(store, log_key)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    url = str(tmp_path / "ledger.db")
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_dsn")
    store = open_store(url)
    yield _ledger(store, tmp_path)
    store.close()


class RunningWitness:
    def __init__(self, tmp_path: Path, name: str, log_vkey: str, port: int = 0) -> None:
        self.identity: WitnessIdentity = init_witness(name, tmp_path / name.replace("/", "_"))
        self.state = tmp_path / f"{name.replace('/', '_')}.db"
        self.log_vkey = log_vkey
        self.port = port
        self.server: WitnessServer | None = None

    def start(self) -> RunningWitness:
        core = Witness(self.identity, [cp.parse_vkey(self.log_vkey)], self.state)
        self.server = WitnessServer(core, port=self.port)
        self.port = int(self.server.server_address[1])
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server.witness.close()
            self.server = None

    @property
    def endpoint(self) -> WitnessEndpoint:
        return WitnessEndpoint(f"http://127.0.0.1:{self.port}", self.identity.key)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


def _running(stack: ExitStack, tmp_path: Path, name: str, vkey: str) -> RunningWitness:
    w = RunningWitness(tmp_path, name, vkey).start()
    stack.callback(w.stop)
    return w


def _cosigning(stack: ExitStack, ledger: Ledger, *witnesses: RunningWitness) -> Cosigning:
    c = Cosigning(ledger.store, [w.endpoint for w in witnesses], timeout=5, retry_base=0.2)
    stack.callback(c.close)
    ledger.cosignings.append(c)
    return c


def test_two_witnesses_cosign_and_receipts_carry_a_quorum(
    ledger: Ledger, tmp_path: Path, stack: ExitStack
) -> None:
    w1 = _running(stack, tmp_path, "guild.example/w1", ledger.vkey)
    w2 = _running(stack, tmp_path, "union.example/w2", ledger.vkey)
    cosigning = _cosigning(stack, ledger, w1, w2)
    ledger.grow(5)
    cosigning.flush(10)
    ledger.grow(4)
    changed = cosigning.flush(10)
    assert [c.size for c in changed] == [9]
    latest = ledger.store.latest_checkpoint()
    assert latest is not None and latest.cosigners == ("guild.example/w1", "union.example/w2")
    keys_ = [w1.identity.key, w2.identity.key]
    assert len(require_quorum(latest.note, keys_, 2)) == 2
    assert ledger.store.cosigned_sizes() == {
        (w.identity.name, w.identity.key.key_id): 9 for w in (w1, w2)
    }
    event_id = next(ledger.store.entries(2, 3)).event_id
    receipt = operator.prove(ledger.store, event_id)
    name, public = cp.parse_vkey(ledger.vkey)
    assert verify_receipt(receipt, name, public).tree_size == 9
    assert len(require_quorum(parse_receipt(receipt).checkpoint, keys_, 2)) == 2
    assert cosigning.behind() == []
    assert cosigning.sizes() == {"guild.example/w1": 9, "union.example/w2": 9}


def test_receipts_prefer_a_cosigned_checkpoint_to_a_newer_bare_one(
    ledger: Ledger, tmp_path: Path, stack: ExitStack
) -> None:
    w1 = _running(stack, tmp_path, "guild.example/w1", ledger.vkey)
    cosigning = _cosigning(stack, ledger, w1)
    ledger.grow(5)
    cosigning.flush(10)
    ledger.grow(1)  # signed, not yet cosigned
    event_id = next(ledger.store.entries(0, 1)).event_id
    receipt = parse_receipt(operator.prove(ledger.store, event_id))
    assert cp.parse_body(cp.split_note(receipt.checkpoint)[0]).size == 5
    assert len(verify_cosignatures(receipt.checkpoint, [w1.identity.key])) == 1
    newest = next(ledger.store.entries(5, 6)).event_id  # only the bare checkpoint covers it
    receipt = parse_receipt(operator.prove(ledger.store, newest))
    assert verify_cosignatures(receipt.checkpoint, [w1.identity.key]) == []
    assert newest_witnessed(ledger.store, [w1.identity.key], 1).size == 5


def test_a_witness_that_knows_more_answers_409_and_is_caught_up(
    ledger: Ledger, tmp_path: Path, stack: ExitStack
) -> None:
    w1 = _running(stack, tmp_path, "guild.example/w1", ledger.vkey)
    ledger.grow(5)
    first = ledger.store.latest_checkpoint()
    assert first is not None
    client = WitnessClient(w1.endpoint)
    assert client.add_checkpoint(0, [], first.note).cosignature is not None  # not stored
    client.close()
    ledger.grow(6)
    cosigning = _cosigning(stack, ledger, w1)  # believes the witness never cosigned
    cosigning.flush(10)
    assert ledger.store.cosigned_sizes() == {(w1.identity.name, w1.identity.key.key_id): 11}


def test_a_down_witness_never_blocks_and_is_caught_up(
    ledger: Ledger, tmp_path: Path, stack: ExitStack
) -> None:
    w1 = _running(stack, tmp_path, "guild.example/w1", ledger.vkey)
    # A port bound but not listening refuses connections; it stays ours (no other process
    # can take it meanwhile) until the witness starts on it.
    probe = socket.socket()
    stack.callback(probe.close)
    probe.bind(("127.0.0.1", 0))
    w2 = RunningWitness(tmp_path, "union.example/w2", ledger.vkey, port=probe.getsockname()[1])
    stack.callback(w2.stop)
    cosigning = _cosigning(stack, ledger, w1, w2)
    for _ in range(3):
        ledger.grow(3)
        cosigning.tick()
        cosigning.flush(5)
    assert [w.key.name for w in cosigning.behind()] == ["union.example/w2"]
    probe.close()
    w2.start()
    deadline = time.monotonic() + 20
    while cosigning.behind() and time.monotonic() < deadline:
        cosigning.tick()
        time.sleep(0.05)
    assert cosigning.behind() == []
    latest = ledger.store.latest_checkpoint()
    assert latest is not None and latest.size == 9 and len(latest.cosigners) == 2


def test_a_tick_never_waits_for_a_witness_that_does_not_answer(
    ledger: Ledger, tmp_path: Path, stack: ExitStack
) -> None:
    """The witness takes the request and never answers (the client would wait 10 minutes):
    the tick returns all the same.  Not timed: a tick that waited would still be running."""
    silent = socket.create_server(("127.0.0.1", 0))  # connections queue, none is answered
    key = init_witness("union.example/w2", tmp_path / "w2").key
    cosigning = Cosigning(
        ledger.store, [WitnessEndpoint(f"http://127.0.0.1:{silent.getsockname()[1]}", key)],
        timeout=600,
    )  # fmt: skip
    stack.callback(cosigning.close)
    stack.callback(silent.close)  # first: the request waiting in it is reset, its thread ends
    ledger.cosignings.append(cosigning)
    ledger.grow(3)
    ticking = threading.Thread(target=cosigning.tick, daemon=True)
    ticking.start()
    ticking.join(timeout=120)
    assert not ticking.is_alive(), "tick() waited for a witness that never answers"
    assert [w.key.name for w in cosigning.behind()] == ["union.example/w2"]


def test_a_witness_that_answers_a_forged_cosignature_is_not_stored(
    ledger: Ledger, tmp_path: Path, stack: ExitStack
) -> None:
    w1 = _running(stack, tmp_path, "guild.example/w1", ledger.vkey)
    impostor_key = init_witness("guild.example/w1", tmp_path / "impostor").key
    cosigning = Cosigning(
        ledger.store,
        [WitnessEndpoint(f"http://127.0.0.1:{w1.port}", impostor_key)],
        timeout=5,
        retry_base=10,
    )
    stack.callback(cosigning.close)
    ledger.cosignings.append(cosigning)
    ledger.grow(3)
    cosigning.flush(5)
    assert ledger.store.cosigned_sizes() == {}
    assert cosigning.behind() != []


def test_cosignatures_are_stored_once_and_attached_in_order(ledger: Ledger) -> None:
    ledger.grow(2)
    ledger.grow(2)
    for name, size in [("b.example/w", 2), ("a.example/w", 2), ("a.example/w", 4)]:
        c = StoredCosignature(size, name, b"\x01\x02\x03\x04", 1_700_000_000, f"— {name} x\n")
        ledger.store.add_cosignature(c)
        ledger.store.add_cosignature(c)  # idempotent
    first, second = ledger.store.checkpoints()
    assert first.cosigners == ("a.example/w", "b.example/w")
    assert first.note.endswith("— a.example/w x\n— b.example/w x\n")
    assert second.cosigners == ("a.example/w",)
    assert ledger.store.cosigned_sizes() == {
        ("a.example/w", b"\x01\x02\x03\x04"): 4,
        ("b.example/w", b"\x01\x02\x03\x04"): 2,
    }
    assert ledger.store.witnessed_checkpoint(0) == first  # more cosigners wins
    assert ledger.store.witnessed_checkpoint(2) == second
    assert ledger.store.witnessed_checkpoint(4) is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("http://w.example", ConfigurationError),
        ("ftp://w.example=x", ConfigurationError),
        ("http://w.example?x=1=y", ConfigurationError),
        ("http://w.example=not-a-vkey", KeyFileError),
    ],
)
def test_bad_witness_options(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_endpoint(value)


def test_witness_option_reads_a_key_file(tmp_path: Path) -> None:
    key = init_witness("guild.example/w1", tmp_path / "w").key
    endpoint = parse_endpoint(f"https://w.example/prefix/={tmp_path / 'w' / 'witness.vkey'}")
    assert (endpoint.url, endpoint.key) == ("https://w.example/prefix", key)


def test_quorum_failure_names_what_is_missing(ledger: Ledger, tmp_path: Path) -> None:
    ledger.grow(1)
    key = init_witness("guild.example/w1", tmp_path / "w").key
    with pytest.raises(VerificationFailure, match="no checkpoint of this ledger has 1"):
        newest_witnessed(ledger.store, [key], 1)
