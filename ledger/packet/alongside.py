"""Work done in a forked process while this one goes on: ``packet verify`` renders the PDF and
checks signatures and the C2PA manifest stores on the second core while it re-runs the audit.

:class:`Alongside` runs a function in a forked child and hands back its result; where no child
can be forked (no ``fork`` start method, a daemon process, or other threads running, e.g. in the
portal: a fork copies no other thread, nor frees the locks they hold), or the child fails, it
runs the function here instead.  So the result is always the function's own: only the wall time
differs.  The function must be pure (its result depends on what it reads, not on where it runs)
and its result picklable.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Generic, TypeVar

T = TypeVar("T")


def _run_into(conn: Connection, work: Callable[[], object]) -> None:
    try:
        conn.send((True, work()))
    except Exception as exc:  # told to the parent, which runs the work again itself
        conn.send((False, repr(exc)))
    finally:
        conn.close()


def can_fork() -> bool:
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon  # may not have children
        and threading.active_count() == 1
    )


class Alongside(Generic[T]):
    """``work()`` computed in a forked child started now (see the module docstring)."""

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        if not can_fork():
            return
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        try:
            process = context.Process(target=_run_into, args=(send, work), daemon=True)
            process.start()
        except OSError:
            receive.close()
            return
        finally:
            send.close()
        self._process, self._conn = process, receive

    def result(self) -> T:
        """The child's result, or ``work()`` run here (no child, or it failed)."""
        if self._conn is not None:
            try:
                done, value = self._conn.recv()
            except (EOFError, OSError):
                done, value = False, None
            self.close()
            if done:
                return value  # type: ignore[no-any-return]
        return self.work()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._process = None

    def __enter__(self) -> Alongside[T]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
