"""The producer's durable outbox: events signed while the broker is away are kept and sent later.

Unit tests run without a broker (an address nobody listens on); the end-to-end tests send the
spool through a real Kafka-protocol broker into a real ledger, including a ``kill -9`` of
``assetledger spool flush`` at random points.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from demo.story import production
from ledger.errors import BrokerError, ConfigurationError
from ledger.events.encoding import SingleObjectFraming
from ledger.store.sqlite import SqliteStore
from ledger.trust import keys
from ledger.trust.dsse import Envelope
from producers.emitter import Emitter
from producers.spool import Spool
from tests.conftest import FreshTopic
from tests.support.kafka_tools import consume_once

NOBODY = "127.0.0.1:1"  # connection refused at once
ARTIST = keys.generate("artist")


def _events(n: int, *, one_asset: bool = False) -> list[dict[str, Any]]:
    base = [e for _, e in production()]
    if one_asset:  # one Kafka key, so one partition: the ledger keeps the spool's order
        base = [base[0]]
    return [dict(base[i % len(base)]) for i in range(n)]


def _offline_emitter(spool: Path) -> Emitter:
    return Emitter(NOBODY, ARTIST, topic="t-spool", spool=spool, connect_timeout=0.3)


# --- the spool itself ---------------------------------------------------------------------


def test_records_keep_their_order_and_survive_reopening(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        seqs = spool.put("t", [(f"id-{i}", b"k", bytes([i]), [("h", b"v")]) for i in range(5)])
        assert seqs == sorted(seqs)
    with Spool(tmp_path) as spool:
        waiting = spool.waiting()
        assert [r.event_id for r in waiting] == [f"id-{i}" for i in range(5)]
        assert waiting[2].value == b"\x02" and waiting[2].headers == [("h", b"v")]
        spool.remove([waiting[0].seq, waiting[1].seq])
        assert [r.event_id for r in spool.waiting()] == ["id-2", "id-3", "id-4"]
        assert spool.status().waiting == 3 and spool.status().topics == {"t": 3}


def test_a_failed_send_keeps_the_unacknowledged_records_in_order(tmp_path: Path) -> None:
    sent: list[str] = []

    def send(records: Any) -> None:
        if sent:  # the second batch is not acknowledged
            raise BrokerError("no acknowledgement")
        sent.extend(r.event_id for r in records)

    with Spool(tmp_path) as spool:
        spool.put("t", [(f"id-{i}", b"k", b"v", []) for i in range(5)])
        with pytest.raises(BrokerError):
            spool.flush(send, batch=2)
        assert sent == ["id-0", "id-1"]
        assert [r.event_id for r in spool.waiting()] == ["id-2", "id-3", "id-4"]


def test_one_flusher_at_a_time(tmp_path: Path) -> None:
    with Spool(tmp_path) as first, Spool(tmp_path) as second:
        first.put("t", [("id-0", b"k", b"v", [])])
        seen: list[int | None] = []
        first.flush(lambda records: seen.append(second.flush(lambda _: None)))
        assert seen == [None]  # the second flusher found the lock taken and left the records
        assert first.count() == 0


def _edit(spool_dir: Path, sql: str) -> None:
    """Another process (or a bad disk sector) changes the spool behind the emitter's back."""
    import sqlite3

    db = sqlite3.connect(spool_dir / "spool.db")
    db.execute(sql)
    db.commit()
    db.close()


def test_a_damaged_record_is_set_aside_and_the_others_are_still_sent(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.put("t", [(f"id-{i}", b"k", b"v", [("h", b"v")]) for i in range(4)])
    _edit(tmp_path, "UPDATE outbox SET headers = 'not json' WHERE event_id = 'id-1'")
    _edit(tmp_path, "UPDATE outbox SET record_value = 'text' WHERE event_id = 'id-2'")
    sent: list[str] = []
    with Spool(tmp_path) as spool:
        assert spool.flush(lambda records: sent.extend(r.event_id for r in records)) == 2
        assert sent == ["id-0", "id-3"]
        damaged = spool.damaged()
        assert [seq for seq, _ in damaged] == [2, 3]
        assert "JSONDecodeError" in damaged[0][1] and "not bytes" in damaged[1][1]
        assert (spool.count(), spool.status().damaged) == (0, 2)
    result = CliRunner().invoke(cli, ["spool", "status", "--spool", str(tmp_path)])
    assert result.exit_code == 0 and "2 unreadable record(s) set aside" in result.output


def test_the_spool_is_private_to_its_user(tmp_path: Path) -> None:
    with Spool(tmp_path / "new"):
        pass
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "spool.db").stat().st_mode & 0o777 == 0o600


def test_a_spool_another_user_could_change_is_refused(tmp_path: Path) -> None:
    """A spool file replaced by a symbolic link, writable by others, owned by someone else, or
    in a folder others may write: another user could drop or redirect the signed records."""
    spool = tmp_path / "spool"
    with Spool(spool):
        pass
    db = spool / "spool.db"
    elsewhere = tmp_path / "elsewhere.db"
    db.rename(elsewhere)
    db.symlink_to(elsewhere)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        Spool(spool)
    db.unlink()
    elsewhere.rename(db)
    db.chmod(0o666)
    with pytest.raises(ConfigurationError, match="writable by other users"):
        Spool(spool)
    db.chmod(0o664)  # group-writable: fine for the user's own group (umask 002) ...
    Spool(spool).close()
    if os.getuid() == 0:  # ... not for a group others are in (only root can give it away)
        os.chown(db, 0, 4242)
        with pytest.raises(ConfigurationError, match="writable by other users"):
            Spool(spool)
        os.chown(db, 0, 0)
    db.chmod(0o600)
    spool.chmod(0o777)
    with pytest.raises(ConfigurationError, match=r"folder .* writable by other users"):
        Spool(spool)
    spool.chmod(0o700)
    if os.getuid() == 0:  # only root can give a file away
        os.chown(db, 4242, 4242)
        with pytest.raises(ConfigurationError, match="another user"):
            Spool(spool)
        os.chown(db, 0, 0)
    Spool(spool).close()


# --- the emitter with a spool, no broker -------------------------------------------------------


def test_emit_without_a_broker_spools_the_signed_event_and_returns_its_id(
    tmp_path: Path,
) -> None:
    with _offline_emitter(tmp_path / "spool") as emitter:
        event_id = emitter.emit(_events(1)[0])
        assert emitter.last_error is not None and "cannot connect" in emitter.last_error
    with Spool(tmp_path / "spool") as spool:
        (record,) = spool.waiting()
    assert record.event_id == event_id and record.topic == "t-spool"
    envelope = Envelope.decode(record.value, SingleObjectFraming())
    assert envelope.signatures[0].keyid == ARTIST.key_id  # signed once, at emit time


def test_without_a_spool_an_absent_broker_is_a_clear_broker_error() -> None:
    with pytest.raises(BrokerError, match="cannot connect to Kafka") as info:
        Emitter(NOBODY, ARTIST, connect_timeout=0.3)
    assert info.value.hint is not None and "--spool" in info.value.hint


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process: real logging, real stderr."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def key_and_event(tmp_path: Path) -> tuple[Path, Path]:
    keys.write_key_pair(ARTIST, tmp_path / "keys")
    event = tmp_path / "event.json"
    import json

    event.write_text(json.dumps(_events(1)[0]))
    return tmp_path / "keys" / "artist.key", event


def test_cli_emit_without_spool_or_broker_exits_2_quietly(
    key_and_event: tuple[Path, Path],
) -> None:
    key, event = key_and_event
    args = ["emit", "--key", str(key), "--event", str(event), "--bootstrap-servers", NOBODY]
    quiet = _cli(*args, env={"ASSETLEDGER_CONNECT_TIMEOUT": "0.5"})
    assert quiet.returncode == 2, quiet.stderr
    assert "error: cannot connect to Kafka at 127.0.0.1:1" in quiet.stderr
    assert "--spool" in quiet.stderr
    assert " ERROR kafka" not in quiet.stderr  # kafka-python's own log stays hidden
    verbose = _cli("-v", *args, "--connect-timeout", "0.5")
    assert verbose.returncode == 2 and " ERROR kafka" in verbose.stderr


def test_cli_emit_with_a_spool_and_no_broker_exits_0_and_says_so(
    key_and_event: tuple[Path, Path], tmp_path: Path
) -> None:
    key, event = key_and_event
    spool = tmp_path / "spool"
    env = {"ASSETLEDGER_SPOOL": str(spool), "ASSETLEDGER_CONNECT_TIMEOUT": "0.5"}
    result = _cli("emit", "--key", str(key), "--event", str(event), "--bootstrap-servers", NOBODY,
                  env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    event_id = result.stdout.strip()
    assert "spooled in" in result.stderr and "spool flush" in result.stderr
    with Spool(spool) as outbox:
        assert [r.event_id for r in outbox.waiting()] == [event_id]
    status = CliRunner().invoke(cli, ["spool", "status", "--spool", str(spool), "--format", "json"])
    assert status.exit_code == 0 and '"waiting": 1' in status.output
    flush = _cli("spool", "flush", "--bootstrap-servers", NOBODY, env=env)
    assert flush.returncode == 2 and "1 still waiting" in flush.stderr


# --- through a real broker ---------------------------------------------------------------------


@pytest.mark.broker
def test_spooled_events_reach_the_ledger_in_order_on_the_next_emit(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    with Emitter(NOBODY, ARTIST, topic=fresh_topic.name, spool=spool, connect_timeout=0.3) as em:
        offline = em.emit_many(_events(5, one_asset=True))
    with Emitter(fresh_topic.bootstrap, ARTIST, topic=fresh_topic.name, spool=spool) as emitter:
        online = emitter.emit_many(_events(2, one_asset=True))
        assert emitter.last_error is None
    with Spool(spool) as outbox:
        assert outbox.count() == 0
    with SqliteStore(tmp_path / "l.db") as store:
        stats = consume_once(store, [ARTIST], fresh_topic.bootstrap, fresh_topic.name)
        assert stats.quarantined == 0
        assert [e.event_id for e in store.entries()] == offline + online


def _flush_process(spool: Path, topic: FreshTopic, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "cli", "spool", "flush", "--spool", str(spool),
            "--bootstrap-servers", topic.bootstrap]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out)


@pytest.mark.broker
@pytest.mark.slow
def test_kill_9_during_flush_loses_nothing_and_doubles_nothing(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    seed = int(os.environ.get("ASSETLEDGER_TEST_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    spool, log = tmp_path / "spool", tmp_path / "flush.log"
    with Emitter(NOBODY, ARTIST, topic=fresh_topic.name, spool=spool, connect_timeout=0.3) as em:
        emitted = em.emit_many(_events(3000))
    kills: list[int] = []
    for _ in range(3):
        proc = _flush_process(spool, fresh_topic, log)
        with Spool(spool) as outbox:
            before = outbox.count()
            # The kill point is chosen by what is left, not by time: a fast flush empties the
            # spool within a random sleep of 0.15 s after its first batch, so every kill then
            # found 0 waiting.  Kill once it has sent at least a random tenth of what is left
            # (the first batch of 500 at least), a random few milliseconds into the next batch.
            target = before - max(1, int(before * rng.uniform(0.02, 0.1)))
            deadline = time.monotonic() + 120
            while outbox.count() > target and proc.poll() is None:  # it is sending
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.01))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append(outbox.count())
    final = _flush_process(spool, fresh_topic, log)
    assert final.wait(timeout=300) == 0, log.read_text()[-2000:]
    print(f"seed {seed}: records waiting after each kill -9: {kills}")
    assert any(0 < waiting < 3000 for waiting in kills), f"seed {seed}: {kills}"
    with SqliteStore(tmp_path / "l.db") as store:
        consume_once(store, [ARTIST], fresh_topic.bootstrap, fresh_topic.name)
        ids = [e.event_id for e in store.entries()]
        assert len(ids) == len(set(ids)), f"seed {seed}: an event doubled in the ledger"
        assert set(ids) == set(emitted), f"seed {seed}: {len(set(emitted) - set(ids))} lost"
        # a record sent but not yet removed when killed is sent again: refused as a duplicate
        assert {q.reason for q in store.quarantine()} <= {"duplicate_event_id"}


@pytest.mark.broker
def test_a_crash_between_acknowledgement_and_removal_doubles_nothing(
    fresh_topic: FreshTopic, tmp_path: Path
) -> None:
    """The worst point to die: the broker has the records, the spool still lists them."""
    spool = tmp_path / "spool"
    with Emitter(NOBODY, ARTIST, topic=fresh_topic.name, spool=spool, connect_timeout=0.3) as em:
        emitted = em.emit_many(_events(20))
    with Emitter(fresh_topic.bootstrap, None, topic=fresh_topic.name, spool=spool) as emitter:

        def send_then_die(records: Any) -> None:
            emitter._send_spooled(records, 30.0)
            raise KeyboardInterrupt  # acknowledged, not yet removed

        assert emitter.spool is not None
        with pytest.raises(KeyboardInterrupt):
            emitter.spool.flush(send_then_die)
        assert emitter.spool.count() == 20
        assert emitter.flush_spool(30.0).sent == 20  # sent a second time
    with SqliteStore(tmp_path / "l.db") as store:
        stats = consume_once(store, [ARTIST], fresh_topic.bootstrap, fresh_topic.name)
        assert sorted(e.event_id for e in store.entries()) == sorted(emitted)
        assert stats.quarantined == 20
        assert {q.reason for q in store.quarantine()} == {"duplicate_event_id"}


def test_status_of_a_folder_without_a_spool_creates_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["spool", "status", "--spool", str(tmp_path / "none")])
    assert result.exit_code == 0 and "waiting  0 event(s)" in result.stdout
    assert not (tmp_path / "none").exists()


def test_a_spool_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    from ledger.errors import ConfigurationError

    with Spool(tmp_path) as spool:
        spool.db.execute("PRAGMA query_only=ON")  # stands in for a full or read-only disk
        with pytest.raises(ConfigurationError, match="cannot write the spool"):
            spool.put("t", [("id", b"k", b"v", [])])
