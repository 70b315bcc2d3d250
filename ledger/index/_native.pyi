"""The index tree's fold in C (``_native.c``); see ``ledger.index.smt``."""

def fold(
    known: dict[bytes, tuple[bytes, bytes | None]],
    keys: list[bytes],
    values: list[bytes],
    writes: dict[bytes, tuple[bytes, bytes | None]],
) -> bytes: ...
def chain(k: bytes, value: bytes, packed: bytes) -> tuple[bytes, bytes]: ...
def root_from(k: bytes, siblings: bytes, terminal: bytes) -> bytes: ...
