"""Signed synthetic events, built once per run in a process pool and kept on disk in chunks.

The same corpus feeds the Kafka topic of the end-to-end runs and the ledgers built directly, so
every entry of every ledger carries its own valid, distinct Ed25519 signature.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.synth import Built, build_range

CHUNK = 5_000

Progress = Callable[[int], None]


class Corpus:
    """``count`` built events in ``path``: pickled lists of :class:`Built`, in order."""

    def __init__(self, path: Path, count: int) -> None:
        self.path = path
        self.count = count

    @classmethod
    def build(
        cls, path: Path, count: int, workers: int, progress: Progress | None = None
    ) -> Corpus:
        """Build and sign ``count`` events in ``workers`` processes, with
        :func:`bench.synth.build_fast` (the emitter's bytes, each template checked once)."""
        context = multiprocessing.get_context("forkserver")
        ranges = [(s, min(s + CHUNK, count), True) for s in range(0, count, CHUNK)]
        with ProcessPoolExecutor(workers, mp_context=context) as pool, path.open("wb") as out:
            for chunk in pool.map(build_range, *zip(*ranges, strict=True)) if ranges else []:
                pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
                if progress:
                    progress(len(chunk))
        _count_file(path).write_text(f"{count}\n", encoding="ascii")
        return cls(path, count)

    @classmethod
    def reuse_or_build(
        cls, path: Path, count: int, workers: int, progress: Progress | None = None
    ) -> tuple[Corpus, bool]:
        """The corpus at ``path`` if a finished build there holds at least ``count`` events
        (its ``.count`` file is written last), else a new one; and whether it was reused."""
        try:
            built = int(_count_file(path).read_text(encoding="ascii"))
        except (OSError, ValueError):
            built = -1
        if built >= count and path.exists():
            return cls(path, count), True
        _count_file(path).unlink(missing_ok=True)
        return cls.build(path, count, workers, progress), False

    def chunks(self, limit: int | None = None) -> Iterator[list[Built]]:
        """The first ``limit`` events (all by default), a chunk at a time."""
        left = self.count if limit is None else min(limit, self.count)
        with self.path.open("rb") as f:
            while left > 0:
                chunk: list[Built] = pickle.load(f)
                yield chunk[:left]
                left -= len(chunk)


def _count_file(path: Path) -> Path:
    return path.with_name(path.name + ".count")
