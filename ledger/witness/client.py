"""The log's side of witnessing: submit each new checkpoint, keep the cosignatures.

:class:`WitnessClient` speaks c2sp.org/tlog-witness ``add-checkpoint`` to one witness and
verifies its answer.  :class:`Cosigning` brings every configured witness up to the ledger's
latest signed checkpoint: it proves consistency from the size the witness last cosigned (taken
from the ledger's stored cosignatures, corrected by a 409 answer), stores each verified
cosignature with its checkpoint, and never blocks the caller: requests run on one thread per
witness, and a witness that fails is retried later with exponential back-off, straight to the
newest checkpoint (a witness needs only the latest).

Threading: the store is used only by the thread that calls :meth:`Cosigning.tick` and
:meth:`Cosigning.flush` (the consumer's); the witness threads only do HTTP.
"""

from __future__ import annotations

import http.client
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ledger.errors import ConfigurationError, KeyFileError, VerificationFailure
from ledger.log import checkpoint as cp
from ledger.store import LedgerStore, StoredCheckpoint, StoredCosignature
from ledger.witness.cosignature import (
    Cosignature,
    WitnessKey,
    parse_witness_vkey,
    require_quorum,
    verify_cosignatures,
)
from ledger.witness.witness import SIZE_CONTENT_TYPE

log = logging.getLogger("assetledger.witness")

MAX_RESPONSE = 64 * 1024
DEFAULT_TIMEOUT = 10.0
_CLOSED_WHILE_IDLE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
"""How a connection the witness closed shows on the next request, before any response
(``http.client.RemoteDisconnected``, no status line at all, is a ``ConnectionResetError``)."""


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the log submits to: its submission URL prefix and its verifier key."""

    url: str
    key: WitnessKey


def read_witness_key(value: str) -> WitnessKey:
    """A witness verifier key (type 0x04) given inline or as a file holding it."""
    path = Path(value)
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else value
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read witness key file {path}: {exc}") from None
    try:
        return parse_witness_vkey(text.strip())
    except KeyFileError as exc:
        raise KeyFileError(
            exc.message,
            hint=exc.hint
            or "give the witness's verifier key (assetledger witness init prints it; it is in"
            " the witness's witness.vkey), inline or as a file holding it",
        ) from None


def parse_endpoint(text: str) -> WitnessEndpoint:
    """``URL=VKEY`` (the VKEY inline or a file holding it) as given to ``consume --witness``."""
    url, separator, key_text = text.partition("=")
    parts = urlsplit(url)
    if not separator or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"--witness {text[:80]!r} is not URL=VKEY",
            hint="e.g. --witness http://witness.guild.example:7380=witness.guild.example/w1+…",
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"witness URL {url!r} must not have a query or fragment")
    return WitnessEndpoint(url.rstrip("/"), read_witness_key(key_text))


def newest_witnessed(
    store: LedgerStore, witnesses: Sequence[WitnessKey], quorum: int
) -> StoredCheckpoint:
    """The newest stored checkpoint with ``quorum`` valid cosignatures by ``witnesses``."""
    for stored in reversed(store.checkpoints()):
        try:
            require_quorum(stored.note, witnesses, quorum)
        except VerificationFailure:
            continue
        return stored
    raise VerificationFailure(
        f"no checkpoint of this ledger has {quorum} valid cosignature(s) by the witnesses given",
        hint="check the witness keys, and that consume runs with --witness for them",
    )


@dataclass(frozen=True)
class AddResult:
    """A witness's answer to one add-checkpoint: a cosignature, its size (409), or a failure."""

    endpoint: WitnessEndpoint
    size: int  # the checkpoint size submitted
    cosignature: Cosignature | None = None
    witness_size: int | None = None  # from a 409 Conflict
    failure: str | None = None


class WitnessClient:
    """add-checkpoint requests to one witness over one keep-alive connection."""

    def __init__(self, endpoint: WitnessEndpoint, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        parts = urlsplit(endpoint.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = (parts.path.rstrip("/") or "") + "/add-checkpoint"
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def add_checkpoint(self, old_size: int, proof: Sequence[bytes], note: str) -> AddResult:
        """Submit ``note`` (size ``n``) with the consistency proof from ``old_size``."""
        size = cp.parse_body(cp.split_note(note)[0]).size
        lines = [f"old {old_size}", *(cp.b64encode(h) for h in proof)]
        body = ("\n".join(lines) + "\n\n" + note).encode("utf-8")
        try:
            status, content_type, answer = self._post(body)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return AddResult(self.endpoint, size, failure=f"unreachable: {exc}")
        if status == 200:
            return self._cosigned(note, size, answer)
        if status == 409:
            return self._conflict(size, content_type, answer)
        return AddResult(self.endpoint, size, failure=f"HTTP {status}: {_printable(answer)}")

    def _post(self, body: bytes) -> tuple[int, str, bytes]:
        response = self._send(body)
        answer = response.read(MAX_RESPONSE + 1)
        if len(answer) > MAX_RESPONSE or response.will_close:
            self.close()
        content_type = response.getheader("Content-Type", "")
        return response.status, content_type, answer[:MAX_RESPONSE]

    def _send(self, body: bytes) -> http.client.HTTPResponse:
        """The request sent and the response's status line and headers read.

        A witness closes a keep-alive connection it found idle (litewitness after 5 s, ours
        after 30 s); the log learns it only when it next writes or reads.  A reused connection
        that fails that way before any response arrives is reopened and the request sent once
        more: add-checkpoint may be repeated (the witness answers the same cosignature, or 409
        with the size it has).  A fresh connection that fails is a failure.
        """
        reused = self._conn is not None
        try:
            return self._exchange(body)
        except _CLOSED_WHILE_IDLE as exc:
            self.close()
            if not reused:
                raise
            log.debug("witness %s closed the idle connection (%s); reconnecting", self._host, exc)
            return self._exchange(body)

    def _exchange(self, body: bytes) -> http.client.HTTPResponse:
        if self._conn is None:
            factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = factory(self._host, self._port, timeout=self.timeout)
        self._conn.request("POST", self._path, body, {"Content-Type": "text/plain; charset=utf-8"})
        return self._conn.getresponse()

    def _cosigned(self, note: str, size: int, answer: bytes) -> AddResult:
        """Keep only a valid cosignature of this witness's key (other lines are ignored)."""
        try:
            cosigned = note + answer.decode("utf-8")
            valid = verify_cosignatures(cosigned, [self.endpoint.key])
        except (UnicodeDecodeError, VerificationFailure) as exc:
            return AddResult(self.endpoint, size, failure=f"bad cosignature: {exc}")
        if not valid:
            return AddResult(self.endpoint, size, failure="answer has no cosignature by its key")
        return AddResult(self.endpoint, size, cosignature=valid[0])

    def _conflict(self, size: int, content_type: str, answer: bytes) -> AddResult:
        text = answer.decode("ascii", "replace")
        if content_type.split(";")[0].strip() != SIZE_CONTENT_TYPE or not text.endswith("\n"):
            return AddResult(self.endpoint, size, failure=f"malformed 409: {_printable(answer)}")
        try:
            known = cp.parse_decimal(text[:-1], "witness size")
        except VerificationFailure as exc:
            return AddResult(self.endpoint, size, failure=f"malformed 409: {exc}")
        return AddResult(self.endpoint, size, witness_size=known)


def _printable(data: bytes) -> str:
    text = data[:200].decode("utf-8", "replace").strip()
    return "".join(c if c.isprintable() else "?" for c in text)


# ---------------------------------------------------------------------------------------------
# Bringing witnesses up to date


@dataclass(frozen=True)
class _Job:
    old_size: int
    proof: tuple[bytes, ...]
    note: str


class _Worker:
    """One thread per witness, one job at a time; results go to a shared queue."""

    def __init__(self, client: WitnessClient, results: queue.Queue[AddResult]) -> None:
        self.client = client
        self.results = results
        self._job: _Job | None = None
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"witness {client.endpoint.key.name}", daemon=True
        )
        self._thread.start()

    def offer(self, job: _Job) -> None:
        with self._cond:
            self._job = job
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                job, self._job = self._job, None
            assert job is not None
            self.results.put(self._attempt(job))

    def _attempt(self, job: _Job) -> AddResult:
        """One request; never lets an exception end the thread (the log would wait forever)."""
        try:
            return self.client.add_checkpoint(job.old_size, job.proof, job.note)
        except Exception as exc:  # reported as a failed attempt, retried later
            self.client.close()
            size = cp.parse_body(cp.split_note(job.note)[0]).size
            return AddResult(self.client.endpoint, size, failure=f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=self.client.timeout + 1)
        self.client.close()


@dataclass
class _Standing:
    """What the log knows of one witness."""

    size: int | None  # the size it last cosigned, as far as the log knows (None: never)
    failures: int = 0
    next_try: float = 0.0
    conflicts: int = 0


class Cosigning:
    """Keeps the configured witnesses cosigning the ledger's latest checkpoint."""

    def __init__(
        self,
        store: LedgerStore,
        endpoints: Sequence[WitnessEndpoint],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_base: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        names = [e.key.vkey for e in endpoints]
        if len(set(names)) != len(names):
            raise ConfigurationError("the same witness key is given twice with --witness")
        self.store = store
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.endpoints = list(endpoints)
        known = store.cosigned_sizes()
        self._standing = {
            e.key.vkey: _Standing(known.get((e.key.name, e.key.key_id))) for e in endpoints
        }
        self._latest = store.latest_checkpoint()  # kept up to date by offer(), not re-read
        self._pending: set[str] = set()  # witnesses with a request under way
        self._results: queue.Queue[AddResult] = queue.Queue()
        self._workers = {  # threads last: nothing above can fail and leave them running
            e.key.vkey: _Worker(WitnessClient(e, timeout), self._results) for e in endpoints
        }

    def offer(self, checkpoint: StoredCheckpoint) -> None:
        """A checkpoint the log just signed: the next tick submits it to the witnesses."""
        if self._latest is None or checkpoint.size > self._latest.size:
            self._latest = checkpoint

    def close(self) -> None:
        for worker in self._workers.values():
            worker.stop()

    def tick(self) -> list[StoredCheckpoint]:
        """Store the answers received so far and submit where a witness is behind.

        Returns the checkpoints that gained cosignatures (to be published again).
        """
        changed = self._collect()
        self._submit()
        return changed

    def flush(self, timeout: float) -> list[StoredCheckpoint]:
        """Wait up to ``timeout`` s for the witnesses not backing off to cosign the latest."""
        deadline = time.monotonic() + timeout
        changed: dict[int, StoredCheckpoint] = {}
        while True:
            for c in self._collect():
                changed[c.size] = c
            self._submit()
            if not self._pending:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._wait_result(min(left, 0.1))
        return list(changed.values())

    def sizes(self) -> dict[str, int]:
        """The largest size each witness has cosigned, as far as the log knows, by name."""
        return {e.key.name: self._standing[e.key.vkey].size or 0 for e in self.endpoints}

    def behind(self) -> list[WitnessEndpoint]:
        """Witnesses whose last known cosignature is older than the latest checkpoint."""
        latest = self._latest
        if latest is None:
            return []
        return [e for e in self.endpoints if (self._standing[e.key.vkey].size or -1) < latest.size]

    def _wait_result(self, seconds: float) -> None:
        try:
            result = self._results.get(timeout=seconds)
        except queue.Empty:
            return
        self._results.put(result)

    def _submit(self) -> None:
        latest = self._latest
        if latest is None:
            return
        now = time.monotonic()
        for endpoint in self.endpoints:
            standing = self._standing[endpoint.key.vkey]
            worker = self._workers[endpoint.key.vkey]
            if endpoint.key.vkey in self._pending or now < standing.next_try:
                continue
            known = standing.size
            if known is not None and known >= latest.size:
                continue  # up to date, or ahead (another consumer's newer checkpoint)
            old = known or 0
            proof = tuple(self.store.tree(latest.size).consistency_proof(old, latest.size))
            self._pending.add(endpoint.key.vkey)
            worker.offer(_Job(old, proof if old else (), latest.note))

    def _collect(self) -> list[StoredCheckpoint]:
        stored: set[int] = set()
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                break
            if self._apply(result):
                stored.add(result.size)
        if not stored:
            return []
        changed = [c for c in self.store.checkpoints() if c.size in stored]
        for c in changed:  # the latest, now with its cosignature lines
            if self._latest is not None and c.size == self._latest.size:
                self._latest = c
        return changed

    def _apply(self, result: AddResult) -> bool:
        """Update what the log knows of the witness; True if a cosignature was stored."""
        self._pending.discard(result.endpoint.key.vkey)
        standing = self._standing[result.endpoint.key.vkey]
        name = result.endpoint.key.name
        if result.cosignature is not None:
            c = result.cosignature
            self.store.add_cosignature(
                StoredCosignature(result.size, name, c.witness.key_id, c.timestamp, c.line)
            )
            if standing.failures:
                log.warning("witness %s is back: cosigned size %d", name, result.size)
            standing.size = max(standing.size or 0, result.size)
            standing.failures = standing.conflicts = 0
            standing.next_try = 0.0
            return True
        if result.witness_size is not None:
            standing.conflicts += 1
            log.info("witness %s last cosigned size %d", name, result.witness_size)
            standing.size = result.witness_size
            if standing.conflicts > 2:  # it keeps changing under us: back off
                self._back_off(standing, name, "its size keeps changing (409 Conflict)")
            return False
        self._back_off(standing, name, result.failure or "failed")
        return False

    def _back_off(self, standing: _Standing, name: str, why: str) -> None:
        delay = min(self.retry_max, self.retry_base * 2**standing.failures)
        standing.failures += 1
        standing.conflicts = 0
        standing.next_try = time.monotonic() + delay
        log.warning("witness %s did not cosign (%s); retrying in %.0f s", name, why, delay)
