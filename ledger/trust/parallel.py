"""Ed25519 verification spread over processes: the irreducible cost of every event.

Work items are plain bytes (raw public key, signature, signed message) so they pickle cheaply;
each worker keeps a cache of loaded public keys.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SignatureCheck = tuple[bytes, bytes, bytes]  # (raw 32-byte public key, signature, message)


@lru_cache(maxsize=4096)
def _public(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def check_one(item: SignatureCheck) -> bool:
    raw, sig, message = item
    try:
        _public(raw).verify(sig, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def check_chunk(items: Sequence[SignatureCheck]) -> list[bool]:
    return [check_one(i) for i in items]


def default_workers() -> int:
    return os.cpu_count() or 1


class SignatureChecker:
    """Check many signatures, in-process for small batches, across a pool for large ones."""

    def __init__(self, workers: int | None = None, min_parallel: int = 64) -> None:
        self.workers = default_workers() if workers is None else workers
        self.min_parallel = min_parallel
        self._pool: Executor | None = None

    def check(self, items: Sequence[SignatureCheck]) -> list[bool]:
        return self.submit(items)()

    def submit(self, items: Sequence[SignatureCheck]) -> Callable[[], list[bool]]:
        """Start checking; the returned function waits for the results (in order)."""
        if self.workers <= 1 or len(items) < self.min_parallel:
            results = check_chunk(items)
            return lambda: results
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers)
        size = -(-len(items) // self.workers)
        futures = [self._pool.submit(check_chunk, items[i : i + size])
                   for i in range(0, len(items), size)]  # fmt: skip
        return lambda: [ok for f in futures for ok in f.result()]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> SignatureChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
