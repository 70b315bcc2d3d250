"""Work done in a forked process, or here when no process can be forked: the same result."""

from __future__ import annotations

import os
import threading

import pytest

from ledger.packet.alongside import Alongside


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def _fails() -> int:
    raise ValueError("no")


def test_the_work_runs_in_a_forked_child_and_hands_back_its_result() -> None:
    with Alongside(lambda: _pid_and(21)) as work:
        assert work._process is not None
        pid, value = work.result()
    assert pid != os.getpid() and value == 42


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
