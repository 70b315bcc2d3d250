"""The witness (c2sp.org/tlog-witness add-checkpoint): every answer of the spec, durability."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import ConfigurationError, KeyFileError, StoreError
from ledger.log import checkpoint as cp
from ledger.log.merkle import EMPTY_ROOT, MemoryNodeStore, MerkleTree, leaf_hash
from ledger.witness.cosignature import verify_cosignatures
from ledger.witness.server import MAX_BODY, WitnessServer
from ledger.witness.witness import (
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessIdentity,
    init_witness,
    load_witness,
    read_states,
)

ORIGIN = "studio.example/ledger"


class ToyLog:
    """A log in memory: leaves, an RFC 6962 tree, checkpoints signed with a given key."""

    def __init__(self, key: Ed25519PrivateKey, origin: str = ORIGIN, salt: bytes = b"") -> None:
        self.key = key
        self.origin = origin
        self.salt = salt
        self.nodes = MemoryNodeStore()
        self.tree = MerkleTree(self.nodes)

    def grow(self, n: int) -> None:
        start = self.tree.size
        leaves = [leaf_hash(self.salt + b"entry %d" % i) for i in range(start, start + n)]
        self.nodes.put_nodes(self.tree.append(leaves))

    def note(self, size: int | None = None) -> str:
        size = self.tree.size if size is None else size
        body = cp.Checkpoint(self.origin, size, self.tree.root(size)).body()
        return cp.sign_note(body, self.origin, self.key)

    def request(self, old: int, size: int | None = None, proof: list[bytes] | None = None) -> bytes:
        size = self.tree.size if size is None else size
        hashes = self.tree.consistency_proof(old, size) if proof is None else proof
        lines = [f"old {old}", *(cp.b64encode(h) for h in hashes)]
        return ("\n".join(lines) + "\n\n" + self.note(size)).encode()


LOG_KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def identity(tmp_path: Path) -> WitnessIdentity:
    return init_witness("guild.example/w1", tmp_path / "w1")


@pytest.fixture
def witness(identity: WitnessIdentity, tmp_path: Path) -> Iterator[Witness]:
    w = Witness(identity, [(ORIGIN, LOG_KEY.public_key())], tmp_path / "w1" / "witness.db")
    yield w
    w.close()


@pytest.fixture
def log() -> ToyLog:
    toy = ToyLog(LOG_KEY)
    toy.grow(5)
    return toy


def test_first_checkpoint_is_cosigned_and_the_state_persisted(
    witness: Witness, log: ToyLog, identity: WitnessIdentity
) -> None:
    response = witness.add_checkpoint(log.request(0))
    assert response.status == 200, response.body
    line = response.body.decode()
    assert line.startswith(f"\u2014 {identity.name} ") and line.endswith("\n")
    assert line.count("\n") == 1
    [valid] = verify_cosignatures(log.note() + line, [identity.key])
    assert valid.witness == identity.key
    [state] = witness.states()
    assert (state.origin, state.size, state.root_hash) == (ORIGIN, 5, log.tree.root())
    assert state.note.endswith(line) and cp.verify_note(state.note, ORIGIN, LOG_KEY.public_key())


def test_growth_with_a_consistency_proof_is_cosigned(witness: Witness, log: ToyLog) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(7)
    assert witness.add_checkpoint(log.request(5)).status == 200
    assert witness.add_checkpoint(log.request(12)).status == 200  # same tree again: fine
    assert witness.states()[0].size == 12


def test_wrong_old_size_is_409_with_the_witness_size(witness: Witness, log: ToyLog) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(3)
    for old in (0, 3, 7):
        response = witness.add_checkpoint(log.request(old))
        assert (response.status, response.body) == (409, b"5\n")
        assert response.content_type == SIZE_CONTENT_TYPE
    assert witness.evidence() == []  # stale clients are no evidence of anything


def test_unknown_log_is_404(witness: Witness) -> None:
    other = ToyLog(Ed25519PrivateKey.generate(), origin="other.example/log")
    other.grow(2)
    response = witness.add_checkpoint(other.request(0))
    assert response.status == 404
    assert b"unknown log" in response.body


def test_signature_problems_are_403(witness: Witness, log: ToyLog) -> None:
    impostor = ToyLog(Ed25519PrivateKey.generate())  # same origin, another key
    impostor.grow(5)
    assert witness.add_checkpoint(impostor.request(0)).status == 403
    # A line with the trusted key's name and id whose signature does not verify.
    good = log.request(0).decode()
    head, _, sig = good.rpartition(" ")
    broken = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    response = witness.add_checkpoint((head + " " + broken).encode())
    assert response.status == 403 and b"invalid signature" in response.body
    assert witness.states() == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",  # no empty line, no checkpoint
        b"old 00\n\n",
        b"old -1\n\n",
        b"new 0\n\n",
        b"old 0\nnot base64!\n\n",
        b"old 0\n" + b"AAAA\n" + b"\n",  # 3 bytes, not 32
        b"\xff\xfe\n\n",
        b"old " + b"9" * 5000 + b"\n\n",  # beyond int()'s digit limit: must not crash
        b"old 18446744073709551616\n\n",  # 2^64
    ],
)
def test_malformed_requests_are_400(witness: Witness, log: ToyLog, body: bytes) -> None:
    response = witness.add_checkpoint(body + log.note().encode())
    assert response.status == 400


def test_hostile_notes_are_400(witness: Witness, log: ToyLog) -> None:
    note = log.note()
    for bad in (note.replace("\n", "\r\n"), note.replace(ORIGIN, ORIGIN + "\x00"), note[:-1]):
        assert witness.add_checkpoint(b"old 0\n\n" + bad.encode()).status in (400, 404)
    too_many = "old 5\n" + ("A" * 43 + "=\n") * 64 + "\n" + note
    assert witness.add_checkpoint(too_many.encode()).status == 400


def test_old_size_larger_than_the_checkpoint_is_400(witness: Witness, log: ToyLog) -> None:
    response = witness.add_checkpoint(log.request(0, 5, proof=[]).replace(b"old 0", b"old 6"))
    assert response.status == 400


def test_size_zero_needs_the_empty_root(witness: Witness, log: ToyLog) -> None:
    bad = cp.sign_note(f"{ORIGIN}\n0\n{cp.b64encode(bytes(32))}\n".encode(), ORIGIN, LOG_KEY)
    assert witness.add_checkpoint(b"old 0\n\n" + bad.encode()).status == 422
    assert witness.add_checkpoint(b"old 1\n\n" + bad.encode()).status == 400  # checked first
    good = cp.sign_note(cp.Checkpoint(ORIGIN, 0, EMPTY_ROOT).body(), ORIGIN, LOG_KEY)
    assert witness.add_checkpoint(b"old 0\n\n" + good.encode()).status == 200
    assert witness.add_checkpoint(log.request(0)).status == 200
    conflict = witness.add_checkpoint(b"old 0\n\n" + bad.encode())  # 409 comes before 422
    assert (conflict.status, conflict.body) == (409, b"5\n")


def test_a_proof_with_old_zero_is_422(witness: Witness, log: ToyLog) -> None:
    response = witness.add_checkpoint(log.request(0, proof=[hashlib.sha256(b"x").digest()]))
    assert response.status == 422


def test_bad_proof_is_422_and_kept_as_evidence(witness: Witness, log: ToyLog) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(3)
    proof = log.tree.consistency_proof(5, 8)
    proof[0] = hashlib.sha256(b"forged").digest()
    body = log.request(5, proof=proof)
    response = witness.add_checkpoint(body)
    assert response.status == 422 and b"does not verify" in response.body
    assert witness.add_checkpoint(body).status == 422  # a replay is kept once
    proof[1] = hashlib.sha256(b"other junk").digest()
    assert witness.add_checkpoint(log.request(5, proof=proof)).status == 422  # also a replay
    [evidence] = witness.evidence()
    assert evidence.reason.startswith("unproven") and not evidence.proves_fork
    assert evidence.request == body.decode() and evidence.signed_checkpoint == log.note()
    assert witness.states()[0].size == 5


def test_fork_same_size_other_root_is_refused_and_kept(witness: Witness, log: ToyLog) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    fork = ToyLog(LOG_KEY, salt=b"rewritten ")  # the real log key, another history
    fork.grow(5)
    response = witness.add_checkpoint(fork.request(5))  # old = the witness's size
    assert response.status == 422
    response = witness.add_checkpoint(fork.request(0))  # a log that pretends to be new
    assert (response.status, response.body) == (409, b"5\n")
    evidence = witness.evidence()
    assert [e.reason for e in evidence] == ["fork: same size, other root"]  # kept once
    assert evidence[0].proves_fork
    assert {e.checkpoint_root for e in evidence} == {fork.tree.root()}
    assert {e.witness_root for e in evidence} == {log.tree.root()}
    assert witness.states()[0].root_hash == log.tree.root()


def test_restart_keeps_state_and_refuses_smaller_or_inconsistent_trees(
    identity: WitnessIdentity, tmp_path: Path, log: ToyLog
) -> None:
    path = tmp_path / "state" / "witness.db"
    logs = [(ORIGIN, LOG_KEY.public_key())]
    first = Witness(identity, logs, path)
    log.grow(5)
    assert first.add_checkpoint(log.request(0)).status == 200  # size 10
    first.close()
    again = Witness(identity, logs, path)
    try:
        smaller = again.add_checkpoint(log.request(0, 5))
        assert (smaller.status, smaller.body) == (409, b"10\n")
        assert again.add_checkpoint(log.request(10, 5, proof=[])).status == 400
        fork = ToyLog(LOG_KEY, salt=b"x")
        fork.grow(12)
        assert again.add_checkpoint(fork.request(10)).status == 422
        assert again.states()[0].size == 10
        log.grow(2)
        assert again.add_checkpoint(log.request(10)).status == 200
    finally:
        again.close()
    states, evidence = read_states(path)
    assert [s.size for s in states] == [12]
    assert [e.checkpoint_size for e in evidence] == [12]  # the fork's refused checkpoint


def test_racing_requests_cannot_roll_the_state_back(witness: Witness, log: ToyLog) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    log.grow(20)
    bodies = [log.request(5, size) for size in range(6, 26)]
    statuses: list[int] = []

    def submit(body: bytes) -> None:
        statuses.append(witness.add_checkpoint(body).status)

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(200) == 1 and statuses.count(409) == len(bodies) - 1
    state = witness.states()[0]
    assert state.root_hash == log.tree.root(state.size)


def test_keys_on_disk(tmp_path: Path) -> None:
    made = init_witness("guild.example/w9", tmp_path / "k")
    assert (tmp_path / "k" / "witness.key").stat().st_mode & 0o777 == 0o600
    loaded = load_witness(tmp_path / "k")
    assert loaded.key == made.key
    with pytest.raises(ConfigurationError, match="already exists"):
        init_witness("guild.example/w9", tmp_path / "k")
    with pytest.raises(ConfigurationError, match="without spaces"):
        init_witness("guild example", tmp_path / "k2")
    other = init_witness("guild.example/w8", tmp_path / "k3")
    (tmp_path / "k" / "witness.vkey").write_text(other.key.vkey)
    with pytest.raises(KeyFileError, match="does not belong"):
        load_witness(tmp_path / "k")


# ---------------------------------------------------------------------------------------------
# Over HTTP


@pytest.fixture
def server(witness: Witness) -> Iterator[WitnessServer]:
    s = WitnessServer(witness)
    s.start()
    yield s
    s.stop()


def _call(
    server: WitnessServer, method: str, path: str, body: bytes | None = None
) -> http.client.HTTPResponse:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    conn.request(method, path, body)
    return conn.getresponse()


def test_http_add_checkpoint_and_monitoring(server: WitnessServer, log: ToyLog) -> None:
    response = _call(server, "POST", "/add-checkpoint", log.request(0))
    assert response.status == 200
    line = response.read().decode()
    log.grow(1)
    conflict = _call(server, "POST", "/add-checkpoint", log.request(0))
    assert conflict.status == 409 and conflict.getheader("Content-Type") == SIZE_CONTENT_TYPE
    assert conflict.read() == b"5\n"
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    latest = _call(server, "GET", f"/{origin_hash}/checkpoint")
    assert latest.status == 200
    assert latest.read().decode() == log.note(5) + line
    assert _call(server, "GET", f"/{'0' * 64}/checkpoint").status == 404
    assert _call(server, "GET", "/add-checkpoint").status == 405
    assert _call(server, "POST", "/elsewhere", b"x").status == 404


def test_http_refuses_oversized_bodies(server: WitnessServer) -> None:
    response = _call(server, "POST", "/add-checkpoint", b"old 0\n" * (MAX_BODY // 6 + 1))
    assert response.status == 413


@pytest.mark.parametrize(
    ("length", "status"),
    [(b"\xb2", 400), (b"-1", 400), (b"0x10", 400), (b"9" * 5000, 413), (b"99999999999999", 413)],
)
def test_http_a_hostile_content_length_is_answered_not_a_dropped_connection(
    server: WitnessServer, length: bytes, status: int
) -> None:
    """'²' passes str.isdigit() and int() refuses it; 5000 digits exceed int()'s limit."""
    import socket

    host, port = server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as sock:
        sock.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: " + length)
        sock.sendall(b"\r\n\r\n")
        answer = sock.recv(100)
    assert answer.startswith(b"HTTP/1.1 %d " % status)


@pytest.mark.parametrize(
    "damage",
    [
        "root_hash = x'0102'",  # a 2-byte root: was judged a failing proof, kept as evidence
        "root_hash = 'text'",
        "size = 'abc'",
        "size = -3",  # was answered 409 with size -3
    ],
)
def test_a_damaged_state_row_cosigns_nothing_and_answers_500(
    witness: Witness, server: WitnessServer, log: ToyLog, damage: str
) -> None:
    assert witness.add_checkpoint(log.request(0)).status == 200
    witness.db.execute(f"UPDATE log_state SET {damage}")
    log.grow(2)
    with pytest.raises(StoreError, match="is damaged"):
        witness.add_checkpoint(log.request(5))
    response = _call(server, "POST", "/add-checkpoint", log.request(5))
    assert response.status == 500 and b"nothing was cosigned" in response.read()
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    assert _call(server, "GET", f"/{origin_hash}/checkpoint").status == 500
    assert witness.db.execute("SELECT count(*) FROM evidence").fetchone()[0] == 0


def test_http_idle_connections_cannot_take_every_thread(witness: Witness, log: ToyLog) -> None:
    """Clients that connect and send nothing hold a thread each until the idle timeout; past
    the cap, new connections are closed at once, and a slot frees when one closes."""
    import socket

    server = WitnessServer(witness, max_connections=3)
    server.start()
    host, port = str(server.server_address[0]), int(server.server_address[1])
    try:
        idle = [socket.create_connection((host, port), timeout=10) for _ in range(3)]
        extra = socket.create_connection((host, port), timeout=10)
        assert extra.recv(10) == b""  # closed by the witness, unanswered
        extra.close()
        for sock in idle:
            sock.close()
        deadline = time.monotonic() + 10
        while True:  # the handler threads notice the closed sockets and free their slots
            try:
                assert _call(server, "POST", "/add-checkpoint", log.request(0)).status == 200
                break
            except (ConnectionError, http.client.RemoteDisconnected):
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        server.stop()


def test_http_keep_alive_serves_several_requests(server: WitnessServer, log: ToyLog) -> None:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    for old in (0, 5):
        conn.request("POST", "/add-checkpoint", log.request(old))
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        log.grow(1)
