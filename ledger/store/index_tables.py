"""The tables of the authenticated index (``ledger.index``), for SQLite and PostgreSQL.

``index_head`` (the ledger size the map covers and its root), ``index_pages`` (the map's
non-empty subtrees, each a hash and, for a single leaf, its key hash, stored by pages of eight
depths: see :func:`page_of`), ``index_keys`` (each key with its text, how many entries it
lists and its value hash) and ``index_lists`` (what audits
read: a key's ledger indices, one row per key and map update that added to it, keyed by key
hash and the first index it holds, the indices packed as ``uint64be`` each).

``index_lists`` and ``index_pages`` replaced ``index_rows`` (one row per key and index) and
``index_nodes`` (one row per node): an update of 5,000 entries wrote about 40,000 rows and
60,000 nodes at random places in their B-trees, and now writes one list row per changed key
(about 10,000) and one page per changed page (about 10,000, most holding a few nodes).  The
callers still read and write nodes by position; the pages are this module's business.  A
ledger whose index is still in the old layout is converted when it is opened writable
(:func:`migrate_sqlite`, :func:`migrate_postgres`: the same indices and nodes, so the same
roots); opened read-only it is refused with :data:`OLD_LAYOUT_HINT`.

Everything here is derived from the entries and committed by the map root in every signed
checkpoint; ``ledger.index`` computes it, this module only reads and writes rows.  Updates run
under a lock (SQLite's write lock, a PostgreSQL row lock on ``index_head``), so several
consumers extending the map take turns.
"""

from __future__ import annotations

import sqlite3
import struct
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import groupby, islice
from typing import Any

from ledger.errors import StoreError, VerificationFailure

StoredNode = tuple[bytes, bytes | None]  # hash, key hash of a single leaf
KeyRow = tuple[str, int, bytes]  # key text, count, value hash
ListRow = tuple[bytes, int, bytes]  # key hash, first index, the indices as uint64be each
EMPTY_ROOT = bytes(32)
OLD_LAYOUT_HINT = (
    "run `assetledger migrate-index --ledger URL` once (it rewrites the index rows in the new"
    " layout; the index roots and every signed checkpoint stay as they are)"
)


def pack(seqs: Iterable[int]) -> bytes:
    """Ledger indices as ``index_lists`` holds them: ``uint64be`` each."""
    return b"".join(seq.to_bytes(8, "big") for seq in seqs)


def unpack(packed: bytes) -> list[int]:
    """The ledger indices of a packed ``index_lists`` row."""
    return list(struct.unpack(f">{len(packed) >> 3}Q", packed))


def _old_layout() -> StoreError:
    return StoreError(
        "the ledger's authenticated index is in the old table layout (index_rows, index_nodes),"
        " which this"
        " version no longer reads",
        hint=OLD_LAYOUT_HINT,
    )


SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS index_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, root BLOB NOT NULL
);
INSERT OR IGNORE INTO index_head (id, size, root) VALUES (1, 0, zeroblob(32));
CREATE TABLE IF NOT EXISTS index_pages (
    page_id BLOB PRIMARY KEY, nodes BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_keys (
    key_hash BLOB PRIMARY KEY, key TEXT NOT NULL, count INTEGER NOT NULL, value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_lists (
    key_hash BLOB NOT NULL, first INTEGER NOT NULL, seqs BLOB NOT NULL,
    PRIMARY KEY (key_hash, first)
) WITHOUT ROWID;
"""

POSTGRES_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS index_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, root BYTEA NOT NULL
    )""",
    """INSERT INTO index_head (id, size, root) VALUES (1, 0, decode(repeat('00', 32), 'hex'))
        ON CONFLICT (id) DO NOTHING""",
    """CREATE TABLE IF NOT EXISTS index_pages (
        page_id BYTEA PRIMARY KEY, nodes BYTEA NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS index_keys (
        key_hash BYTEA PRIMARY KEY, key TEXT NOT NULL, count BIGINT NOT NULL,
        value BYTEA NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS index_lists (
        key_hash BYTEA NOT NULL, first BIGINT NOT NULL, seqs BYTEA NOT NULL,
        PRIMARY KEY (key_hash, first)
    )""",
)

CHUNK = 400
PAGE_DEPTHS = 8


def page_of(node_id: bytes) -> bytes:
    """The page holding a node: the position of its ancestor at the nearest depth above it
    (or its own) that is a multiple of eight.  A node's position is ``uint16be(depth) ||
    its prefix bits``, so the page's is ``uint16be(depth rounded down) || whole prefix bytes``:
    a page holds the subtree of eight depths below its top, a path crosses one page per eight
    depths, and pages sort by their top depth, as nodes sort by theirs."""
    top = ((node_id[0] << 8) | node_id[1]) & ~(PAGE_DEPTHS - 1)
    return _TOPS[top] + node_id[2 : 2 + (top >> 3)]


_TOPS = [d.to_bytes(2, "big") for d in range(257)]
_KEPT_BELOW = _TOPS[2 * PAGE_DEPTHS]


def decode_page(
    packed: bytes, nodes: dict[bytes, StoredNode] | None = None
) -> dict[bytes, StoredNode]:
    """A page's nodes: records ``uint8 len || position || hash || 0x00`` (a node) or
    ``... || 0x01 || leaf key hash`` (a single leaf), by increasing position; added to
    ``nodes`` when given (and that returned)."""
    if nodes is None:
        nodes = {}
    at, end = 0, len(packed)
    try:
        while at < end:
            start = at + 1
            mid = start + packed[at]
            flag = mid + 32
            if packed[flag]:
                nodes[packed[start:mid]] = (packed[mid:flag], packed[flag + 1 : flag + 33])
                at = flag + 33
            else:
                nodes[packed[start:mid]] = (packed[mid:flag], None)
                at = flag + 1
    except IndexError:  # a hash cut short
        at = end + 1
    if at > end:  # or a leaf's key hash: it would be read as a shorter key hash
        raise VerificationFailure(
            "index_page_damaged: a stored index page ends inside a record: the index"
            " tables were altered in the database",
            hint="run assetledger verify to see what is damaged",
        )
    return nodes


def _first_record(packed: bytes, position: bytes) -> StoredNode | None:
    """The node of a page's first record if it is at ``position`` (else None)."""
    end = 1 + len(position)
    if len(packed) < end + 33 or packed[0] != len(position) or packed[1:end] != position:
        return None
    flag = end + 32
    if packed[flag] == 0:
        return packed[end:flag], None
    leaf = packed[flag + 1 : flag + 33]
    return (packed[end:flag], leaf) if len(leaf) == 32 else None


def _top_record(packed: bytes, position: bytes) -> StoredNode | None:
    """The node at ``position`` (a page's top) of page ``packed``: its first record, else (a
    page not written by this code, or a record cut short: refused) found by decoding it all."""
    node = _first_record(packed, position)
    return decode_page(packed).get(position) if node is None else node


def encode_page(nodes: dict[bytes, StoredNode]) -> bytes:
    join = b"".join  # one join per record: half the time of chained ``+``
    return join(
        [
            join((_BYTE[len(n)], n, h, _NODE if leaf is None else _LEAF + leaf))
            for n, (h, leaf) in sorted(nodes.items())
        ]
    )


_BYTE = [bytes((b,)) for b in range(256)]
_NODE, _LEAF = b"\x00", b"\x01"


class IndexTables(ABC):
    """Rows of the authenticated index; reads see committed data, writes go in :meth:`locked`."""

    @abstractmethod
    def head(self) -> tuple[int, bytes]:
        """The ledger size the stored map covers, and its root."""

    absent = False
    """A read-only ledger made before the index existed: every read finds nothing."""
    _cache: dict[bytes, dict[bytes, StoredNode]] | None = None
    """Inside :meth:`locked`: the pages read (decoded) so far, which the write then extends."""
    _kept: tuple[tuple[int, bytes], dict[bytes, dict[bytes, StoredNode]]] | None = None
    """The top pages (depths 0-15, at most 257) as this process last wrote them, with the head
    it wrote: the next update starts from them if the head is still that one (no other process
    extended the map since), instead of reading and decoding them again."""
    _written: tuple[int, bytes] | None = None
    _packed: dict[bytes, bytes] | None = None
    """Inside :meth:`locked`: each page below the top as read or written, packed."""
    _decoded: OrderedDict[bytes, tuple[bytes, dict[bytes, StoredNode]]] | None = None
    """Pages below the top decoded by earlier updates, with their bytes as read or written then,
    least recently used first: a page read again with the same bytes is not decoded again
    (the bytes are compared, so another writer's or an insider's change is always seen)."""
    _decoded_nodes = 0
    decoded_budget = 0
    """At most this many nodes in :attr:`_decoded`; 0 (the default) keeps none.  Every page an
    update reads is at a random place, so the hits are about the share of the map held, and
    the pages below the top are small: at 100,000 entries 100,000 nodes kept (37 MB more RSS)
    saved no CPU measurably (docs/benchmarks.md, 2026-12-08), so none are kept unless set."""

    @contextmanager
    def locked(self) -> Iterator[tuple[int, bytes]]:
        """A transaction holding the map's lock; yields the head read under it."""
        kept, self._kept, self._written = self._kept, None, None
        self._packed = {}
        try:
            with self._transaction() as head:
                self._cache = dict(kept[1]) if kept is not None and kept[0] == head else {}
                yield head
            if self._written is not None:  # committed
                top = {p: page for p, page in self._cache.items() if p < _KEPT_BELOW}
                self._kept = (self._written, top)
                self._keep_decoded(self._cache, self._packed)
        finally:
            self._cache = self._packed = None

    def _keep_decoded(
        self, pages: dict[bytes, dict[bytes, StoredNode]], packed: dict[bytes, bytes]
    ) -> None:
        """Keep the pages a committed update read or wrote (bounded by :attr:`decoded_budget`)."""
        if self.decoded_budget <= 0 and not self._decoded:
            return
        decoded = self._decoded if self._decoded is not None else OrderedDict()
        count = self._decoded_nodes
        for p, raw in packed.items():
            page = pages.get(p)
            if page is None:  # dropped between groups: kept then by forget_deep_pages
                continue
            old = decoded.pop(p, None)
            count += len(page) - (0 if old is None else len(old[1]))
            decoded[p] = (raw, page)
        while count > self.decoded_budget and decoded:
            _, (_, page) = decoded.popitem(last=False)
            count -= len(page)
        self._decoded, self._decoded_nodes = decoded, count

    def forget_deep_pages(self) -> None:
        """Inside :meth:`locked`, after a :meth:`write`: drop the decoded pages below the top
        two bands (read again, with what this transaction wrote, if asked for)."""
        if self._cache is not None:
            deep = {p: page for p, page in self._cache.items() if p >= _KEPT_BELOW}
            if self._packed:  # kept by their bytes (when decoded_budget allows), as at commit
                self._keep_decoded(deep, {p: self._packed[p] for p in deep if p in self._packed})
            self._cache = {p: page for p, page in self._cache.items() if p < _KEPT_BELOW}

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[tuple[int, bytes]]: ...

    @abstractmethod
    def _read_pages(self, page_ids: Sequence[bytes]) -> dict[bytes, bytes]:
        """The stored pages among ``page_ids``, packed."""

    @abstractmethod
    def _pages_below(self, page_id: bytes) -> Iterator[bytes]:
        """Every page whose position sorts before ``page_id``, packed."""

    @abstractmethod
    def _write_pages(self, pages: list[tuple[bytes, bytes]]) -> None: ...

    def _pages(self, page_ids: Iterable[bytes]) -> dict[bytes, dict[bytes, StoredNode]]:
        cache = self._cache if self._cache is not None else {}
        wanted = sorted({p for p in page_ids if p not in cache})
        if wanted and not self.absent:
            read = self._read_pages(wanted)
            packed, decoded = self._packed, self._decoded
            for p in wanted:
                found = read.get(p)
                if found is None:
                    cache[p] = {}
                    continue
                known = None
                if packed is not None and p >= _KEPT_BELOW:
                    packed[p] = found
                    if decoded is not None:  # in use now: kept again if the update commits
                        known = decoded.pop(p, None)
                        if known is not None:
                            self._decoded_nodes -= len(known[1])
                cache[p] = (
                    known[1] if known is not None and known[0] == found else decode_page(found)
                )
        return cache

    def read_paths(self, keys: Sequence[bytes]) -> dict[bytes, StoredNode]:
        """Every stored node on the paths of the key hashes ``keys`` (sorted) and their siblings,
        read a page level (eight depths) at a time: the pages on the paths whole, and of a page
        only a sibling lies in, its top node.  The same nodes (and a few more) as reading the
        paths with :meth:`get_nodes` a depth at a time."""
        known: dict[bytes, StoredNode] = {}
        level = list(keys)
        whole: set[bytes] = {b""} if keys else set()  # prefixes of the pages read whole
        tops: set[bytes] = set()  # prefixes of the pages of which only the top node is needed
        j = 0
        while whole:
            depth = j * PAGE_DEPTHS
            at = _TOPS[depth]
            pages = self._pages([at + p for p in whole])
            for p in whole:
                known.update(pages[at + p])
            if tops:
                known.update(self._top_nodes([at + p for p in tops]))
            if depth + PAGE_DEPTHS > 256:
                break
            last = _TOPS[depth + PAGE_DEPTHS - 1]
            below = set()
            for q in {k[: j + 1] for k in level}:  # the path's node at the page's bottom depth
                node = known.get(last + q[:j] + _BYTE[q[j] & 0xFE])
                if node is not None and node[1] is None:
                    below.add(q)  # a stored inner node: its children are in the next pages
            level = [k for k in level if k[: j + 1] in below]
            tops = {q[:j] + _BYTE[q[j] ^ 1] for q in below} - below
            whole, j = below, j + 1
        return known

    def _top_nodes(self, page_ids: list[bytes]) -> dict[bytes, StoredNode]:
        """The top node of each of the pages ``page_ids`` that has one: a page's first record
        (positions sort by depth first), read without decoding the rest."""
        found: dict[bytes, StoredNode] = {}
        cache = self._cache if self._cache is not None else {}
        wanted = []
        for p in page_ids:
            page = cache.get(p)
            if page is None:
                wanted.append(p)
            elif p in page:
                found[p] = page[p]
        if wanted and not self.absent:
            for p, packed in self._read_pages(sorted(wanted)).items():
                node = _top_record(packed, p)
                if node is not None:
                    found[p] = node
        return found

    def get_nodes(self, ids: Sequence[bytes]) -> dict[bytes, StoredNode]:
        """The stored nodes among positions ``ids`` (absent: an empty subtree or not on a
        path)."""
        tops, where = _TOPS, {}
        for n in ids:  # page_of, inlined: the update asks for some 20 ids per entry
            top = ((n[0] << 8) | n[1]) & -PAGE_DEPTHS
            where[n] = tops[top] + n[2 : 2 + (top >> 3)]
        pages = self._pages(where.values())
        found: dict[bytes, StoredNode] = {}
        for n, p in where.items():
            page = pages.get(p)
            node = None if page is None else page.get(n)
            if node is not None:
                found[n] = node
        return found

    def page_nodes(
        self, page_ids: Iterable[bytes], into: dict[bytes, StoredNode] | None = None
    ) -> dict[bytes, StoredNode]:
        """Every stored node of the pages ``page_ids`` (:func:`page_of`), read in one call
        and added to ``into`` when given (and that returned): for readers that walk many
        paths and keep what they read."""
        wanted = list(page_ids)
        found: dict[bytes, StoredNode] = {} if into is None else into
        if self._cache is not None:  # inside locked(): the pages as this transaction has them
            pages = self._pages(wanted)
            for p in wanted:
                found.update(pages.get(p, {}))
        elif not self.absent:
            for packed in self._read_pages(wanted).values():
                decode_page(packed, found)
        return found

    def page_tops(self, page_ids: Iterable[bytes]) -> dict[bytes, StoredNode]:
        """The top node of each of the pages ``page_ids`` (at a depth that is a multiple of
        eight, a page's top node has the page's position, and sorts first), the rest of the
        page not decoded; a page holding no node at its top gives none."""
        wanted = sorted(set(page_ids))
        if not wanted or self.absent:
            return {}
        cache = self._cache or {}  # inside locked(): the pages as this transaction has them
        found = {p: cache[p][p] for p in wanted if p in cache and p in cache[p]}
        for p, page in self._read_pages([p for p in wanted if p not in cache]).items():
            node = _top_record(page, p)
            if node is not None:
                found[p] = node
        return found

    def nodes_above(self, depth: int) -> dict[bytes, StoredNode]:
        """Every node at a depth below ``depth`` (the top of the tree, read in one scan)."""
        if self.absent:
            return {}
        limit = depth.to_bytes(2, "big")
        top = _TOPS[min(256, -(-depth // PAGE_DEPTHS) * PAGE_DEPTHS)]
        found: dict[bytes, StoredNode] = {}
        for packed in self._pages_below(top):
            found.update((n, node) for n, node in decode_page(packed).items() if n < limit)
        return found

    def all_nodes(self) -> Iterator[tuple[bytes, bytes, bytes | None]]:
        """Every node as (position, hash, leaf key hash), streamed (for ``verify``)."""
        if self.absent:
            return
        for packed in self._pages_below(_END):
            for n, (h, leaf) in decode_page(packed).items():
                yield n, h, leaf

    def _node_pages(self, nodes: dict[bytes, StoredNode]) -> list[tuple[bytes, bytes]]:
        """The pages to write for ``nodes`` (new or changed), in position order, each read
        first unless this transaction read it already."""
        changed: dict[bytes, list[tuple[bytes, StoredNode]]] = {}
        tops = _TOPS
        for n, node in nodes.items():  # page_of, inlined (some 12 nodes per entry)
            top = ((n[0] << 8) | n[1]) & -PAGE_DEPTHS
            p = tops[top] + n[2 : 2 + (top >> 3)]
            found = changed.get(p)
            if found is None:
                changed[p] = [(n, node)]
            else:
                found.append((n, node))
        pages = self._pages(changed)
        packed = self._packed if self._packed is not None else {}
        out = []
        for p in sorted(changed):
            page = pages[p]
            same = True
            for n, node in changed[p]:
                if same and page.get(n) != node:
                    same = False
                page[n] = node
            if same and p in packed:
                continue  # every node as stored: the page's bytes would be the same
            raw = encode_page(page)
            if p >= _KEPT_BELOW:
                packed[p] = raw
            out.append((p, raw))
        return out

    @abstractmethod
    def keys(self, key_hashes: Sequence[bytes]) -> dict[bytes, KeyRow]: ...

    @abstractmethod
    def rows(self, key_hash: bytes) -> list[int]:
        """The ledger indices listed for a key, in order."""

    def rows_of(self, key_hashes: Sequence[bytes]) -> dict[bytes, list[int]]:
        """The ledger indices listed for each of many keys, in order (absent keys: none)."""
        return {k: self.rows(k) for k in key_hashes}

    @abstractmethod
    def listed_counts(self, key_hashes: Sequence[bytes]) -> dict[bytes, int]:
        """How many ledger indices the stored lists hold for each of ``key_hashes`` (absent:
        none), from the rows' lengths (the lists are not read)."""

    @abstractmethod
    def all_rows(self) -> Iterator[tuple[bytes, int]]:
        """Every row as (key hash, index), ordered, streamed (for ``verify``)."""

    @abstractmethod
    def all_keys(self) -> Iterator[tuple[bytes, str, int, bytes]]:
        """Every key row as (key hash, key, count, value), ordered by key hash, streamed."""

    @abstractmethod
    def entry_count(self, start: int, stop: int) -> int:
        """How many entries with ``start <= seq < stop`` the ledger holds (a gap is damage)."""

    @abstractmethod
    def write(
        self,
        head: tuple[int, bytes],
        lists: Sequence[ListRow],
        keys: dict[bytes, KeyRow],
        nodes: dict[bytes, StoredNode],
    ) -> None:
        """Inside :meth:`locked`: add the keys' new indices (one row per key, each starting
        past the key's last index), upsert key rows and nodes, set the head."""


class SqliteIndexTables(IndexTables):
    def __init__(self, db: sqlite3.Connection, *, read_only: bool) -> None:
        self.db = db
        if read_only:
            self.absent = not _sqlite_has(db, "index_head")
            if not self.absent and not _sqlite_has(db, "index_pages"):
                raise _old_layout()
        else:
            old = _sqlite_has(db, "index_rows") or _sqlite_has(db, "index_nodes")
            db.executescript(SQLITE_SCHEMA)
            if old:
                migrate_sqlite(db)
            self.absent = False

    def head(self) -> tuple[int, bytes]:
        if self.absent:
            return 0, EMPTY_ROOT
        row = self.db.execute("SELECT size, root FROM index_head WHERE id = 1").fetchone()
        return (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))

    @contextmanager
    def _transaction(self) -> Iterator[tuple[int, bytes]]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.head()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _read_pages(self, page_ids: Sequence[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for i in range(0, len(page_ids), CHUNK):
            chunk = list(page_ids[i : i + CHUNK])
            marks = ",".join("?" * len(chunk))
            query = f"SELECT page_id, nodes FROM index_pages WHERE page_id IN ({marks})"
            found.update(self.db.execute(query, chunk))  # BLOBs come back as bytes
        return found

    def _pages_below(self, page_id: bytes) -> Iterator[bytes]:
        query = "SELECT nodes FROM index_pages WHERE page_id < ? ORDER BY page_id"
        for (packed,) in self.db.execute(query, (page_id,)):
            yield bytes(packed)

    def _write_pages(self, pages: list[tuple[bytes, bytes]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO index_pages (page_id, nodes) VALUES (?,?)", pages
        )

    def keys(self, key_hashes: Sequence[bytes]) -> dict[bytes, KeyRow]:
        found: dict[bytes, KeyRow] = {}
        if self.absent:
            return found
        query = "SELECT key_hash, key, count, value FROM index_keys WHERE key_hash IN ({})"
        rows = self._in_chunks(query, key_hashes)
        found.update((bytes(k), (str(t), int(c), bytes(v))) for k, t, c, v in rows)
        return found

    def _in_chunks(self, query: str, key_hashes: Sequence[bytes]) -> Iterator[Any]:
        """The rows of ``query`` (its ``{}`` the marks of ``key_hashes``), :data:`CHUNK` key
        hashes a query."""
        for i in range(0, len(key_hashes), CHUNK):
            chunk = list(key_hashes[i : i + CHUNK])
            yield from self.db.execute(query.format(",".join("?" * len(chunk))), chunk)

    def rows(self, key_hash: bytes) -> list[int]:
        if self.absent:
            return []
        rows = self.db.execute(
            "SELECT seqs FROM index_lists WHERE key_hash = ? ORDER BY first", (key_hash,)
        )
        return unpack(b"".join(r[0] for r in rows))

    def rows_of(self, key_hashes: Sequence[bytes]) -> dict[bytes, list[int]]:
        found: dict[bytes, list[int]] = {k: [] for k in key_hashes}
        if self.absent:
            return found
        query = (
            "SELECT key_hash, seqs FROM index_lists WHERE key_hash IN ({}) ORDER BY key_hash, first"
        )
        for k, seqs in self._in_chunks(query, key_hashes):
            found[bytes(k)] += unpack(seqs)
        return found

    def listed_counts(self, key_hashes: Sequence[bytes]) -> dict[bytes, int]:
        found: dict[bytes, int] = {}
        if self.absent:
            return found
        query = (
            "SELECT key_hash, sum(length(seqs)) FROM index_lists WHERE key_hash IN ({})"
            " GROUP BY key_hash"
        )
        found.update((bytes(k), int(n) >> 3) for k, n in self._in_chunks(query, key_hashes))
        return found

    def all_rows(self) -> Iterator[tuple[bytes, int]]:
        if self.absent:
            return
        query = "SELECT key_hash, seqs FROM index_lists ORDER BY key_hash, first"
        for k, seqs in self.db.execute(query):
            k = bytes(k)
            for seq in unpack(seqs):
                yield k, seq

    def all_keys(self) -> Iterator[tuple[bytes, str, int, bytes]]:
        if self.absent:
            return
        query = "SELECT key_hash, key, count, value FROM index_keys ORDER BY key_hash"
        for k, t, c, v in self.db.execute(query):
            yield bytes(k), str(t), int(c), bytes(v)

    def entry_count(self, start: int, stop: int) -> int:
        query = "SELECT COUNT(*) FROM entries WHERE seq >= ? AND seq < ?"
        return int(self.db.execute(query, (start, stop)).fetchone()[0])

    def write(
        self,
        head: tuple[int, bytes],
        lists: Sequence[ListRow],
        keys: dict[bytes, KeyRow],
        nodes: dict[bytes, StoredNode],
    ) -> None:
        # In primary-key order: each B-tree is then written page after page, not at random.
        try:
            self.db.executemany(
                "INSERT INTO index_lists (key_hash, first, seqs) VALUES (?, ?, ?)", sorted(lists)
            )
        except sqlite3.IntegrityError:
            raise _listed_twice(head[0]) from None
        self.db.executemany(
            "INSERT OR REPLACE INTO index_keys (key_hash, key, count, value) VALUES (?,?,?,?)",
            [(k, t, c, v) for k, (t, c, v) in sorted(keys.items())],
        )
        self._write_pages(self._node_pages(nodes))
        self.db.execute("UPDATE index_head SET size = ?, root = ? WHERE id = 1", head)
        self._written = head


class PostgresIndexTables(IndexTables):
    """``conn`` is a psycopg connection (typed loosely: psycopg is an optional dependency)."""

    def __init__(self, conn: Any, dsn: str, *, read_only: bool) -> None:
        self.conn = conn
        self.dsn = dsn
        if read_only:
            self.absent = not _postgres_has(conn, "index_head")
            if not self.absent and not _postgres_has(conn, "index_pages"):
                raise _old_layout()
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('assetledger index ddl'))")
            old = _postgres_has(conn, "index_rows") or _postgres_has(conn, "index_nodes")
            for statement in POSTGRES_SCHEMA:
                conn.execute(statement)
            if old:
                migrate_postgres(conn)
        self.absent = False

    def head(self) -> tuple[int, bytes]:
        if self.absent:
            return 0, EMPTY_ROOT
        row = self.conn.execute("SELECT size, root FROM index_head WHERE id = 1").fetchone()
        return (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))

    @contextmanager
    def _transaction(self) -> Iterator[tuple[int, bytes]]:
        with self.conn.transaction():
            row = self.conn.execute(
                "SELECT size, root FROM index_head WHERE id = 1 FOR UPDATE"
            ).fetchone()
            yield (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))

    def _read_pages(self, page_ids: Sequence[bytes]) -> dict[bytes, bytes]:
        rows = self.conn.execute(
            "SELECT page_id, nodes FROM index_pages WHERE page_id = ANY(%s::bytea[])",
            (list(page_ids),),
        ).fetchall()
        return {bytes(p): bytes(packed) for p, packed in rows}

    def _pages_below(self, page_id: bytes) -> Iterator[bytes]:
        rows = self.conn.execute(
            "SELECT nodes FROM index_pages WHERE page_id < %s ORDER BY page_id", (page_id,)
        )
        for (packed,) in rows:
            yield bytes(packed)

    def _write_pages(self, pages: list[tuple[bytes, bytes]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO index_pages (page_id, nodes) VALUES (%s,%s)"
                " ON CONFLICT (page_id) DO UPDATE SET nodes = EXCLUDED.nodes",
                pages,
            )

    def keys(self, key_hashes: Sequence[bytes]) -> dict[bytes, KeyRow]:
        if self.absent or not key_hashes:
            return {}
        rows = self.conn.execute(
            "SELECT key_hash, key, count, value FROM index_keys WHERE key_hash = ANY(%s::bytea[])",
            (list(key_hashes),),
        ).fetchall()
        return {bytes(k): (str(t), int(c), bytes(v)) for k, t, c, v in rows}

    def rows(self, key_hash: bytes) -> list[int]:
        if self.absent:
            return []
        rows = self.conn.execute(
            "SELECT seqs FROM index_lists WHERE key_hash = %s ORDER BY first", (key_hash,)
        ).fetchall()
        return unpack(b"".join(bytes(r[0]) for r in rows))

    def rows_of(self, key_hashes: Sequence[bytes]) -> dict[bytes, list[int]]:
        found: dict[bytes, list[int]] = {k: [] for k in key_hashes}
        if self.absent or not key_hashes:
            return found
        rows = self.conn.execute(
            "SELECT key_hash, seqs FROM index_lists WHERE key_hash = ANY(%s::bytea[])"
            " ORDER BY key_hash, first",
            (list(key_hashes),),
        ).fetchall()
        for k, seqs in rows:
            found[bytes(k)] += unpack(bytes(seqs))
        return found

    def listed_counts(self, key_hashes: Sequence[bytes]) -> dict[bytes, int]:
        if self.absent or not key_hashes:
            return {}
        rows = self.conn.execute(
            "SELECT key_hash, sum(octet_length(seqs)) FROM index_lists"
            " WHERE key_hash = ANY(%s::bytea[]) GROUP BY key_hash",
            (list(key_hashes),),
        ).fetchall()
        return {bytes(k): int(n) >> 3 for k, n in rows}

    def all_rows(self) -> Iterator[tuple[bytes, int]]:
        if self.absent:
            return
        query = "SELECT key_hash, seqs FROM index_lists ORDER BY key_hash, first"
        for k, seqs in self._stream(query):
            k = bytes(k)
            for seq in unpack(bytes(seqs)):
                yield k, seq

    def all_keys(self) -> Iterator[tuple[bytes, str, int, bytes]]:
        if self.absent:
            return
        query = "SELECT key_hash, key, count, value FROM index_keys ORDER BY key_hash"
        for k, t, c, v in self._stream(query):
            yield bytes(k), str(t), int(c), bytes(v)

    def _stream(self, query: str) -> Iterator[tuple[Any, ...]]:
        """A server-side cursor on a second connection, so other reads may interleave."""
        import psycopg

        with psycopg.connect(self.dsn) as conn, conn.cursor(name="index_scan") as cur:
            cur.execute(query)
            yield from cur

    def entry_count(self, start: int, stop: int) -> int:
        query = "SELECT COUNT(*) FROM entries WHERE seq >= %s AND seq < %s"
        return int(self.conn.execute(query, (start, stop)).fetchone()[0])

    def write(
        self,
        head: tuple[int, bytes],
        lists: Sequence[ListRow],
        keys: dict[bytes, KeyRow],
        nodes: dict[bytes, StoredNode],
    ) -> None:
        with self.conn.cursor() as cur:
            if lists:
                try:
                    _copy_lists(cur, sorted(lists))
                except Exception as exc:
                    if getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION:
                        raise _listed_twice(head[0]) from None
                    raise
            cur.executemany(
                "INSERT INTO index_keys (key_hash, key, count, value) VALUES (%s,%s,%s,%s)"
                " ON CONFLICT (key_hash) DO UPDATE SET key = EXCLUDED.key,"
                " count = EXCLUDED.count, value = EXCLUDED.value",
                [(k, t, c, v) for k, (t, c, v) in sorted(keys.items())],
            )
            cur.execute("UPDATE index_head SET size = %s, root = %s WHERE id = 1", head)
        self._write_pages(self._node_pages(nodes))
        self._written = head


UNIQUE_VIOLATION = "23505"


def _listed_twice(size: int) -> VerificationFailure:
    """The update would list entries the stored index already lists: its head was set back."""
    return VerificationFailure(
        f"extending the index to {size} entries would list entries it already lists: its head"
        " (index_head) no longer matches its rows, so the index tables were altered",
        hint="run assetledger verify to see what is damaged",
    )


def _copy_lists(cur: Any, lists: Iterable[ListRow]) -> None:
    with cur.copy("COPY index_lists (key_hash, first, seqs) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(["bytea", "int8", "bytea"])
        for row in lists:
            cp.write_row(row)


def _sqlite_has(db: sqlite3.Connection, table: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return db.execute(query, (table,)).fetchone() is not None


def _postgres_has(conn: Any, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
    return row is not None and row[0] is not None


def _packed(rows: Iterable[tuple[Any, Any]]) -> Iterator[ListRow]:
    """Old ``index_rows`` (key hash, index), ordered, as one ``index_lists`` row per key."""
    for k, group in groupby(rows, key=lambda row: bytes(row[0])):
        seqs = [int(seq) for _, seq in group]
        yield k, seqs[0], pack(seqs)


def _paged(nodes: Iterable[tuple[Any, Any, Any]]) -> Iterator[tuple[bytes, bytes]]:
    """Old ``index_nodes`` (position, hash, leaf key hash) of one band of eight depths,
    ordered by prefix, as pages."""
    for p, group in groupby(nodes, key=lambda row: page_of(bytes(row[0]))):
        page = {bytes(n): (bytes(h), None if leaf is None else bytes(leaf)) for n, h, leaf in group}
        yield p, encode_page(page)


MIGRATE_BATCH = 5_000
"""Rows (packed lists, pages) :func:`migrate_postgres` holds at a time."""
_END = b"\xff"  # after every position: depths go up to 256, uint16be 01 00
_BANDS = [
    (_TOPS[d], _TOPS[d + PAGE_DEPTHS] if d + PAGE_DEPTHS <= 256 else _END)
    for d in range(0, 257, PAGE_DEPTHS)
]
_OLD_ROWS = "SELECT key_hash, seq FROM index_rows ORDER BY key_hash, seq"
_OLD_BAND = (
    "SELECT node_id, hash, leaf_key FROM index_nodes WHERE node_id >= {0} AND node_id < {0}"
    " ORDER BY substr(node_id, 3), node_id"
)


def migrate_sqlite(db: sqlite3.Connection) -> None:
    """Rewrite an old layout's ``index_rows`` and ``index_nodes`` as ``index_lists`` and
    ``index_pages``, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if _sqlite_has(db, "index_rows"):  # another process may have done it meanwhile
            db.executemany(
                "INSERT INTO index_lists (key_hash, first, seqs) VALUES (?, ?, ?)",
                _packed(db.execute(_OLD_ROWS)),
            )
            db.execute("DROP TABLE index_rows")
        if _sqlite_has(db, "index_nodes"):
            query = _OLD_BAND.replace("{0}", "?", 1).replace("{0}", "?")
            for low, high in _BANDS:
                pages = list(_paged(db.execute(query, (low, high))))
                db.executemany("INSERT INTO index_pages (page_id, nodes) VALUES (?, ?)", pages)
            db.execute("DROP TABLE index_nodes")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate_postgres(conn: Any, batch: int = MIGRATE_BATCH) -> None:
    """:func:`migrate_sqlite` for PostgreSQL, inside the caller's transaction (under the index
    DDL lock), in bounded memory: the old rows are read through a server-side cursor and
    written ``batch`` packed rows at a time."""
    if _postgres_has(conn, "index_rows"):
        with conn.cursor(name="assetledger_migrate_rows") as old:
            old.itersize = batch
            old.execute(_OLD_ROWS)
            lists = _packed(old)
            while chunk := list(islice(lists, batch)):
                with conn.cursor() as cur:
                    _copy_lists(cur, chunk)
        conn.execute("DROP TABLE index_rows")
    if _postgres_has(conn, "index_nodes"):
        query = _OLD_BAND.replace("{0}", "%s").replace(
            "substr(node_id, 3)", "substring(node_id from 3)"
        )
        for low, high in _BANDS:
            with conn.cursor(name="assetledger_migrate_nodes") as band:
                band.itersize = batch
                band.execute(query, (low, high))
                pages = _paged(band)
                while written := list(islice(pages, batch)):
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO index_pages (page_id, nodes) VALUES (%s, %s)", written
                        )
        conn.execute("DROP TABLE index_nodes")
