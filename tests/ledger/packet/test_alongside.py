"""Work done in a forked process, or here when no process can be forked: the same result."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from ledger.packet.alongside import Alongside


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def _fails() -> int:
    raise ValueError("no")


_IN_A_FRESH_PROCESS = """
import os
from ledger.packet.alongside import Alongside
with Alongside(lambda: (os.getpid(), 21 * 2)) as work:
    assert work._process is not None, "no child was forked"
    pid, value = work.result()
assert pid != os.getpid() and value == 42, (pid, value)
"""


def test_the_work_runs_in_a_forked_child_and_hands_back_its_result() -> None:
    """In a process of its own, as the CLI is: threads other tests leave running (Kafka I/O,
    servers) would rightly keep this one from forking."""
    done = subprocess.run(
        [sys.executable, "-c", _IN_A_FRESH_PROCESS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_with_another_thread_running_nothing_is_forked_and_the_result_is_the_same() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with Alongside(lambda: _pid_and(21)) as work:
            assert work._process is None
            assert work.result() == (os.getpid(), 42)
    finally:
        stop.set()
        thread.join()


def test_work_that_fails_in_the_child_runs_again_here_and_raises_here() -> None:
    with Alongside(_fails) as work, pytest.raises(ValueError, match="no"):
        work.result()
