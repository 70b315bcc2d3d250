"""The ceiling: raw Ed25519 verification (and signing) with pyca/cryptography, as the product.

Messages are the PAE byte strings of real signed events, so the hash part of Ed25519 works on
realistic lengths.  "Per core" is one process verifying for ``seconds``; "all cores" is one
process per core doing the same at the same time.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bench.synth import Built
from ledger.trust.dsse import Envelope, pae
from ledger.trust.parallel import SignatureCheck

Sample = list[SignatureCheck]


@dataclass(frozen=True)
class RawRates:
    verify_per_core: float
    verify_all_cores: float
    sign_per_core: float
    cores: int

    @property
    def ceiling(self) -> float:
        """cores x the single-process verify rate: the ingest and verify targets' base."""
        return self.cores * self.verify_per_core


def sample_checks(built: list[Built], raw_keys: dict[str, bytes]) -> Sample:
    items = []
    for b in built:
        env = Envelope.decode(b.message.value)
        items.append(
            (raw_keys[b.signer_keyid], env.signatures[0].sig, pae(env.payload_type, env.payload))
        )
    return items


def verify_for(items: Sample, seconds: float) -> tuple[int, float]:
    """Verify ``items`` round robin for about ``seconds``; (count, elapsed)."""
    keys = {raw: Ed25519PublicKey.from_public_bytes(raw) for raw, _, _ in items}
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for raw, sig, message in items:
            keys[raw].verify(sig, message)
        count += len(items)
    return count, time.perf_counter() - started


def sign_rate(items: Sample, seconds: float) -> float:
    key = Ed25519PrivateKey.generate()
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _, _, message in items:
            key.sign(message)
        count += len(items)
    return count / (time.perf_counter() - started)


def measure(items: Sample, cores: int, seconds: float) -> RawRates:
    count, elapsed = verify_for(items, seconds)
    per_core = count / elapsed
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(cores, mp_context=context) as pool:
        list(pool.map(verify_for, [items[:8]] * cores, [0.1] * cores))  # start every worker
        results = list(pool.map(verify_for, [items] * cores, [seconds] * cores))
    all_cores = sum(c / e for c, e in results)
    return RawRates(per_core, all_cores, sign_rate(items, seconds / 2), cores)
