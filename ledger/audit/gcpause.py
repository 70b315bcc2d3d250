"""The cyclic garbage collector paused while an audit builds its view.

An audit of one episode holds about a million small objects it made itself (decoded events,
steps, findings, index nodes), all alive until it returns and none in a reference cycle it
drops.  While they pile up, CPython's generational collector runs full collections over the
whole heap (eight in an audit of 10,000 events), each walking every object only to find it
alive: a quarter of the audit's CPU at 100,000 entries.  Reference counting still frees
everything as usual inside :func:`paused_gc`; only cycles wait, and the collector runs again
(and collects them) when the outermost pause ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the body with the cyclic collector off (nested and concurrent pauses share one:
    the collector is turned back on when the last ends, if it was on before the first)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
