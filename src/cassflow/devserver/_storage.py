"""Cells with timestamps and TTLs in SQLite, reconciled the way Cassandra reconciles them.

Theory of operation:

* One SQLite row per cell, keyed ``(tid, token, pk, ck, col)`` in a ``WITHOUT ROWID`` table,
  so the primary key B-tree *is* the storage order: token, then routing key bytes, then the
  byte-comparable clustering key (:mod:`._keycodec`), then column. ``tid`` is a small integer
  standing for the table's UUID (table ``tables``). Column ``""`` is the row marker that
  INSERT writes; a ``NULL`` value is a cell tombstone.
* A non-frozen collection or user type is a cell per element (:mod:`._multicell`), whose
  ``col`` is a BLOB: the column name, a zero byte, then the element's cell path (paths sort as
  Cassandra sorts the elements). SQLite orders BLOBs after TEXT, so a row's element cells
  follow its simple cells, each column's together in path order, and a plain row is stored
  and read exactly as before. A tombstone at the column's own (TEXT) name is the column's
  complex deletion: writing it removes the element cells with timestamps up to it, and
  element writes no newer than it are dropped. Reads rebuild the column's value from its live
  element cells.
* Writes are upserts whose ``WHERE`` clause is Cassandra's cell reconciliation (``Cells``
  in 4.1): the greater timestamp wins; at equal timestamps a tombstone beats an expiring
  cell, which beats a regular cell; two expiring cells are ranked by expiry time; last, the
  greater value (unsigned bytes) wins.
* Partition, row and range deletions are clustering-key ranges with a timestamp (a
  partition deletion is the range covering every key, static row included). Deleting
  removes the covered cells with timestamps up to the deletion's; the range is kept (table
  ``tombstones`` and an in-memory copy) so that a later write with an older timestamp is
  discarded without touching SQLite. Because shadowed data is never stored, reads never
  consult tombstones: they return the live cells, i.e. not tombstones and not expired.
* Reads stream from SQLite cursors and group consecutive cells into :class:`Row` objects.
  A row is returned while it has a live marker or a live cell.
* Each public write runs in its own transaction unless called inside :meth:`Storage.transaction`
  or between :meth:`Storage.begin` and :meth:`Storage.commit` (the server's group commit).
  The database runs in WAL mode with ``synchronous=NORMAL``: a commit survives a crash of
  the process, and a power loss may drop the last commits (Cassandra's default periodic
  commit log is no stronger).
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol, TypeVar

from cassflow.devserver._keycodec import CkRange, merge_ranges
from cassflow.devserver._multicell import MultiCellWrite, assemble
from cassflow.errors import CassflowError

__all__ = [
    "DB_FILENAME",
    "Cell",
    "MultiCellWrite",
    "Row",
    "Storage",
    "StorageError",
    "WriteObserver",
]

logger = logging.getLogger(__name__)

#: The name of the storage file in a data directory (the server's choice; any name works).
DB_FILENAME: Final = "cassflow-dev.sqlite3"

# Bumped when the tables below change incompatibly; an older server refuses a newer file.
_SCHEMA_VERSION: Final = 2
# Format 1 kept a non-frozen collection as one cell holding the whole value: it cannot be
# read as element cells without the schema's types, so such a file is refused.
_OLDEST_READABLE: Final = 2

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS tables (
    uuid TEXT PRIMARY KEY,
    tid INTEGER NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cells (
    tid INTEGER NOT NULL,
    token INTEGER NOT NULL,
    pk BLOB NOT NULL,
    ck BLOB NOT NULL,
    col TEXT NOT NULL,
    value BLOB,
    ts INTEGER NOT NULL,
    expires_at INTEGER,
    ttl INTEGER,
    PRIMARY KEY (tid, token, pk, ck, col)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstones (
    tid INTEGER NOT NULL,
    token INTEGER NOT NULL,
    pk BLOB NOT NULL,
    lo BLOB NOT NULL,
    hi BLOB,
    ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_by_partition ON tombstones (tid, token, pk);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"""

# Rank of a cell among cells of equal timestamp: tombstone > expiring > regular.
_RANK: Final = (
    "CASE WHEN {t}.value IS NULL THEN 2 WHEN {t}.expires_at IS NOT NULL THEN 1 ELSE 0 END"
)
_UPSERT_HEAD: Final = """
INSERT INTO cells (tid, token, pk, ck, col, value, ts, expires_at, ttl)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tid, token, pk, ck, col) DO UPDATE SET
    value = excluded.value, ts = excluded.ts, expires_at = excluded.expires_at, ttl = excluded.ttl
"""
_UPSERT: Final = (
    _UPSERT_HEAD
    + f"""WHERE (excluded.ts, {_RANK.format(t="excluded")}, ifnull(excluded.expires_at, 0),
       ifnull(excluded.value, x''))
    > (cells.ts, {_RANK.format(t="cells")}, ifnull(cells.expires_at, 0), ifnull(cells.value, x''))
"""
)
_ONE_COLUMN: Final = "tid = ? AND token = ? AND pk = ? AND ck = ? AND col = ?"
_ELEMENTS: Final = "tid = ? AND token = ? AND pk = ? AND ck = ? AND col >= ? AND col < ?"
_LIVE: Final = "value IS NOT NULL AND (expires_at IS NULL OR expires_at > ?)"

_ROW_KEY: Final = operator.itemgetter(0, 1, 2)  # (token, pk, ck) of a cell from a scan
_INT64_SPAN: Final = 1 << 64
_INT64_MIN: Final = -(1 << 63)


class StorageError(CassflowError):
    """The storage cannot be used: a data file from a newer version, or a closed storage."""


class Cell(NamedTuple):
    """A live cell as read back."""

    #: The serialized value.
    value: bytes
    #: Write timestamp, microseconds since the epoch (``WRITETIME``).
    timestamp: int
    #: Seconds left to live (``TTL``), or None when the cell does not expire.
    ttl: int | None


@dataclass(frozen=True, slots=True)
class Row:
    """A live row: its position and its live cells (the row marker is not among them).

    ``ck`` is the encoded clustering key; :data:`~._keycodec.STATIC_CK` (``b""``) is the
    static row in a table with clustering columns, or the only row of a table without them.
    ``cells`` may be empty: the row then lives through its marker alone.
    """

    token: int
    pk: bytes
    ck: bytes
    cells: dict[str, Cell]


class WriteObserver(Protocol):
    """Told of each write asked of a :class:`Storage` (see :meth:`Storage.observed`), before
    it is reconciled with what is stored: the mutation as the statement made it."""

    def write(
        self,
        table_id: str,
        pk: bytes,
        ck: bytes,
        cells: Mapping[str, bytes | None],
        *,
        ttl: int | None,
        row_marker: bool,
        multi_cell: Mapping[str, MultiCellWrite] | None,
    ) -> None:
        """Cells (None: a cell tombstone), maybe the row marker, and the complex deletions and
        element cells of non-frozen columns (``multi_cell``) written to one row."""

    def counters(self, table_id: str, pk: bytes, ck: bytes, names: Iterable[str]) -> None:
        """Counter cells of one row incremented."""

    def delete(self, table_id: str, pk: bytes, rows: CkRange) -> None:
        """A row, a range of rows or (``CkRange(b"")``) the whole partition deleted."""


_Observer = TypeVar("_Observer", bound=WriteObserver)


class _Tombstone(NamedTuple):
    lo: bytes
    hi: bytes | None
    ts: int
    rowid: int

    def covers(self, lo: bytes, hi: bytes | None) -> bool:
        return self.lo <= lo and (self.hi is None or (hi is not None and hi <= self.hi))

    def contains(self, ck: bytes) -> bool:
        return self.lo <= ck and (self.hi is None or ck < self.hi)


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


class Storage:
    """The dev server's data: cells, tombstones and a small key-value ``meta`` table.

    ``path`` is the SQLite database file (created if missing, with its parent directories;
    conventionally ``data_dir / DB_FILENAME``; SQLite keeps ``-wal`` and ``-shm`` files next to
    it), or None for a private in-memory database.

    Not thread-safe: use one instance from one thread at a time (the server's asyncio
    thread). Every call is synchronous and short except scans, which are iterators; finish
    or drop an iterator before writing to what it reads.

    Keys: ``table_id`` is the table's UUID as text; ``token`` and ``pk`` come from
    :func:`~._keycodec.token` and :func:`~._keycodec.partition_key`; ``ck`` from
    :func:`~._keycodec.clustering_key`. Timestamps are microseconds, ``now`` and TTLs are
    seconds (``now`` defaults to the wall clock; tests pass it).
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        if path is None:
            target = ":memory:"
        else:
            file = Path(path)
            file.parent.mkdir(parents=True, exist_ok=True)
            target = str(file)
        # check_same_thread=False: the server may open the storage before its event loop
        # thread starts; the single-thread rule is the caller's (see the class docstring).
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self._path = target
        self._depth = 0
        self._closed = False
        self._observers: list[WriteObserver] = []
        try:
            self._setup()
        except BaseException:
            self._db.close()
            raise
        self._tids: dict[str, int] = {}
        self._tombstones: dict[int, dict[tuple[int, bytes], list[_Tombstone]]] = {}
        self._load_caches()
        logger.debug("storage opened", extra={"path": target})

    def _setup(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise StorageError(
                f"{self._path} has storage format {version}; this cassflow reads up to "
                f"{_SCHEMA_VERSION}"
            )
        if 0 < version < _OLDEST_READABLE:
            raise StorageError(
                f"{self._path} has storage format {version}, which this cassflow no longer "
                f"reads (format {_SCHEMA_VERSION} stores each element of a non-frozen "
                "collection as a cell of its own); use a new data directory"
            )
        if self._path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints fsync; one per ~40 MB of WAL instead of 4 MB keeps single-row commits fast.
        db.execute("PRAGMA wal_autocheckpoint=10000")
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _load_caches(self) -> None:
        self._tids = dict(self._db.execute("SELECT uuid, tid FROM tables"))
        self._tombstones = {}
        rows = self._db.execute("SELECT tid, token, pk, lo, hi, ts, rowid FROM tombstones")
        for tid, tok, pk, lo, hi, ts, rowid in rows:
            partitions = self._tombstones.setdefault(tid, {})
            partitions.setdefault((tok, pk), []).append(_Tombstone(lo, hi, ts, rowid))

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Commit nothing further and close the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._depth:
            logger.warning("storage closed inside a transaction; rolling it back")
            self._db.execute("ROLLBACK")
        self._db.close()
        logger.debug("storage closed", extra={"path": self._path})

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one atomic, durable unit (a BATCH); nests.

        On an exception everything written inside is rolled back and the exception goes on.
        Writes inside also commit faster, one commit for all of them.
        """
        self._check_open()
        savepoint = f"sp{self._depth}"
        self._db.execute(f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._db.execute(f"ROLLBACK TO {savepoint}")
            self._db.execute(f"RELEASE {savepoint}")
            self._load_caches()
            raise
        self._depth -= 1
        self._db.execute(f"RELEASE {savepoint}")

    @contextlib.contextmanager
    def observed(self, observer: _Observer) -> Iterator[_Observer]:
        """Tell ``observer`` of every write asked inside the ``with`` block."""
        self._observers.append(observer)
        try:
            yield observer
        finally:
            self._observers.remove(observer)

    @property
    def in_transaction(self) -> bool:
        """Whether writes now join an open transaction (:meth:`begin` or :meth:`transaction`)."""
        return self._depth > 0

    def begin(self) -> None:
        """Open a group transaction: every write until :meth:`commit` joins it (group commit).

        Inside it, :meth:`transaction` is a savepoint, so one statement of the group can be
        undone alone. Nothing written is durable, nor may be acknowledged, before
        :meth:`commit` returns.
        """
        self._check_open()
        if self._depth:
            raise StorageError("a transaction is already open")
        self._db.execute("BEGIN")
        self._depth = 1

    def commit(self) -> None:
        """Commit the group transaction opened by :meth:`begin`.

        If the commit fails, everything of the group is rolled back and the error goes on.
        """
        if self._depth != 1:
            raise StorageError("no group transaction is open")
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        self._depth = 0

    def rollback(self) -> None:
        """Undo everything written since :meth:`begin` and close the group transaction."""
        if self._depth != 1:
            raise StorageError("no group transaction is open")
        self._depth = 0
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            self._db.execute("ROLLBACK")
        self._load_caches()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the storage is closed")

    def _tid(self, table_id: str) -> int:
        tid = self._tids.get(table_id)
        if tid is None:
            tid = max(self._tids.values(), default=0) + 1
            self._db.execute("INSERT INTO tables (uuid, tid) VALUES (?, ?)", (table_id, tid))
            self._tids[table_id] = tid
        return tid

    # ---------------------------------------------------------------------- writes

    def _deleted_at(self, tid: int, token: int, pk: bytes, ck: bytes) -> int | None:
        """The newest deletion covering a row, from the in-memory copy of the tombstones."""
        partitions = self._tombstones.get(tid)
        if not partitions:
            return None
        newest = None
        for tomb in partitions.get((token, pk), ()):
            if tomb.contains(ck) and (newest is None or tomb.ts > newest):
                newest = tomb.ts
        return newest

    def write(
        self,
        table_id: str,
        token: int,
        pk: bytes,
        ck: bytes,
        cells: Mapping[str, bytes | None],
        *,
        timestamp: int,
        ttl: int | None = None,
        row_marker: bool = False,
        now: int | None = None,
        multi_cell: Mapping[str, MultiCellWrite] | None = None,
    ) -> None:
        """Write cells of one row, all with ``timestamp`` (and ``ttl`` seconds, if not None/0).

        A ``None`` value writes a cell tombstone (``SET c = null``, ``DELETE c``).
        ``row_marker`` also writes the row marker (INSERT does; UPDATE does not), which keeps
        the row alive while its cells are null. ``multi_cell`` gives the complex deletions and
        element cells of non-frozen collection and user type columns. Each cell is reconciled
        with the stored one as Cassandra does; the whole write is dropped if a partition,
        range or row deletion with a timestamp >= ``timestamp`` covers the row.
        """
        self._check_open()
        for observer in self._observers:
            observer.write(
                table_id, pk, ck, cells, ttl=ttl, row_marker=row_marker, multi_cell=multi_cell
            )
        tid = self._tid(table_id)
        deleted = self._deleted_at(tid, token, pk, ck)
        if deleted is not None and timestamp <= deleted:
            return
        ttl = ttl or None
        expires_at = None if ttl is None else _now(now) + ttl
        params: list[tuple[object, ...]] = [
            (tid, token, pk, ck, col, value, timestamp)
            + ((None, None) if value is None else (expires_at, ttl))
            for col, value in cells.items()
        ]
        if row_marker:
            params.append((tid, token, pk, ck, "", b"", timestamp, expires_at, ttl))
        if multi_cell:
            with self.transaction():
                params += self._multi_cell_params(
                    tid, token, pk, ck, multi_cell, timestamp, expires_at, ttl
                )
                self._db.executemany(_UPSERT, params)
            return
        if not params:
            return
        if self._depth:
            self._db.executemany(_UPSERT, params)
            return
        # The hot path of single-row writes: a plain transaction, no savepoint bookkeeping.
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_UPSERT, params)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _multi_cell_params(
        self,
        tid: int,
        token: int,
        pk: bytes,
        ck: bytes,
        changes: Mapping[str, MultiCellWrite],
        timestamp: int,
        expires_at: int | None,
        ttl: int | None,
    ) -> list[tuple[object, ...]]:
        """Apply the complex deletions and return the element cells to upsert, less those a
        newer deletion of their column shadows (inside the caller's transaction)."""
        params: list[tuple[object, ...]] = []
        for col, change in changes.items():
            prefix = _element_prefix(col)
            if change.deletion is not None:
                self._db.execute(
                    f"DELETE FROM cells WHERE {_ELEMENTS} AND ts <= ?",
                    (tid, token, pk, ck, prefix, prefix[:-1] + b"\x01", change.deletion),
                )
                self._db.execute(
                    _UPSERT, (tid, token, pk, ck, col, None, change.deletion, None, None)
                )
            if not change.elements:
                continue
            found = self._db.execute(
                f"SELECT ts FROM cells WHERE {_ONE_COLUMN} AND value IS NULL",
                (tid, token, pk, ck, col),
            ).fetchone()
            if found is not None and timestamp <= found[0]:
                continue  # the column was deleted as of a newer timestamp
            params += [
                (tid, token, pk, ck, prefix + path, value, timestamp)
                + ((None, None) if value is None else (expires_at, ttl))
                for path, value in change.elements
            ]
        return params

    def delete_cells(
        self,
        table_id: str,
        token: int,
        pk: bytes,
        ck: bytes,
        columns: Iterable[str],
        *,
        timestamp: int,
    ) -> None:
        """Write cell tombstones for ``columns`` (same as :meth:`write` with ``None`` values)."""
        self.write(table_id, token, pk, ck, dict.fromkeys(columns), timestamp=timestamp)

    def add_counters(
        self,
        table_id: str,
        token: int,
        pk: bytes,
        ck: bytes,
        deltas: Mapping[str, int],
        *,
        timestamp: int,
    ) -> None:
        """Add to counter cells (8-byte signed values, wrapping like Java longs).

        A missing counter starts at 0. A counter cell tombstone always wins, as in Cassandra:
        a deleted counter column stays deleted. Row, range and partition deletions shadow
        increments with older timestamps, like any write.
        """
        self._check_open()
        for observer in self._observers:
            observer.counters(table_id, pk, ck, deltas)
        tid = self._tid(table_id)
        deleted = self._deleted_at(tid, token, pk, ck)
        if deleted is not None and timestamp <= deleted:
            return
        with self.transaction():
            for col, delta in deltas.items():
                found = self._db.execute(
                    "SELECT value, ts FROM cells"
                    " WHERE tid = ? AND token = ? AND pk = ? AND ck = ? AND col = ?",
                    (tid, token, pk, ck, col),
                ).fetchone()
                if found is not None and found[0] is None:
                    continue
                old = 0 if found is None else int.from_bytes(found[0], "big", signed=True)
                total = (old + delta - _INT64_MIN) % _INT64_SPAN + _INT64_MIN
                self._db.execute(
                    "INSERT OR REPLACE INTO cells"
                    " (tid, token, pk, ck, col, value, ts, expires_at, ttl)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                    (
                        tid,
                        token,
                        pk,
                        ck,
                        col,
                        total.to_bytes(8, "big", signed=True),
                        timestamp if found is None else max(found[1], timestamp),
                    ),
                )

    def delete_partition(self, table_id: str, token: int, pk: bytes, *, timestamp: int) -> None:
        """Delete a whole partition (static row included) as of ``timestamp``."""
        self.delete_rows(table_id, token, pk, CkRange(b""), timestamp=timestamp)

    def delete_rows(
        self, table_id: str, token: int, pk: bytes, rows: CkRange, *, timestamp: int
    ) -> None:
        """Delete the rows of a partition whose clustering keys are in ``rows``.

        One row: ``CkRange.row(ck)``; a slice: a range from
        :func:`~._keycodec.clustering_ranges` (call once per range). Cells with a
        timestamp <= ``timestamp`` go now, and later writes with such timestamps are
        discarded.
        """
        self._check_open()
        for observer in self._observers:
            observer.delete(table_id, pk, rows)
        if rows.is_empty():
            return
        with self.transaction():
            tid = self._tid(table_id)
            sql = "DELETE FROM cells WHERE tid = ? AND token = ? AND pk = ? AND ck >= ? AND ts <= ?"
            params: tuple[Any, ...] = (tid, token, pk, rows.start, timestamp)
            if rows.end is not None:
                sql += " AND ck < ?"
                params += (rows.end,)
            self._db.execute(sql, params)
            self._add_tombstone(tid, token, pk, rows, timestamp)

    def _add_tombstone(self, tid: int, token: int, pk: bytes, rows: CkRange, ts: int) -> None:
        partition = self._tombstones.setdefault(tid, {}).setdefault((token, pk), [])
        if any(t.covers(rows.start, rows.end) and t.ts >= ts for t in partition):
            return
        # Older tombstones that the new one covers can go.
        kept = []
        for tomb in partition:
            if tomb.ts <= ts and _Tombstone(rows.start, rows.end, ts, 0).covers(tomb.lo, tomb.hi):
                self._db.execute("DELETE FROM tombstones WHERE rowid = ?", (tomb.rowid,))
            else:
                kept.append(tomb)
        cursor = self._db.execute(
            "INSERT INTO tombstones (tid, token, pk, lo, hi, ts) VALUES (?, ?, ?, ?, ?, ?)",
            (tid, token, pk, rows.start, rows.end, ts),
        )
        assert cursor.lastrowid is not None
        kept.append(_Tombstone(rows.start, rows.end, ts, cursor.lastrowid))
        partition[:] = kept

    def truncate(self, table_id: str) -> None:
        """Remove every cell and tombstone of a table (TRUNCATE)."""
        self._check_open()
        tid = self._tids.get(table_id)
        if tid is None:
            return
        with self.transaction():
            self._db.execute("DELETE FROM cells WHERE tid = ?", (tid,))
            self._db.execute("DELETE FROM tombstones WHERE tid = ?", (tid,))
        self._tombstones.pop(tid, None)

    def drop_table(self, table_id: str) -> None:
        """Forget a table and all its data (DROP TABLE; a new table gets a new id)."""
        self._check_open()
        if table_id not in self._tids:
            return
        with self.transaction():
            self.truncate(table_id)
            self._db.execute("DELETE FROM tables WHERE uuid = ?", (table_id,))
        del self._tids[table_id]

    # ----------------------------------------------------------------------- reads

    def read_row(
        self, table_id: str, token: int, pk: bytes, ck: bytes, *, now: int | None = None
    ) -> Row | None:
        """One row (e.g. a partition's static row, ``ck=b""``), or None when it is not live."""
        self._check_open()
        tid = self._tids.get(table_id)
        if tid is None:
            return None
        now = _now(now)
        cursor = self._db.execute(
            "SELECT col, value, ts, expires_at - ? FROM cells"
            f" WHERE tid = ? AND token = ? AND pk = ? AND ck = ? AND {_LIVE} ORDER BY col",
            (now, tid, token, pk, ck, now),
        )
        found = False
        cells: dict[Any, Cell] = {}
        for col, value, ts, ttl in cursor:
            found = True
            if col:
                cells[col] = Cell(value, ts, ttl)
        return Row(token, pk, ck, _with_elements(cells)) if found else None

    def read_elements(
        self,
        table_id: str,
        token: int,
        pk: bytes,
        ck: bytes,
        column: str,
        *,
        now: int | None = None,
    ) -> list[tuple[bytes, bytes]]:
        """The live element cells ``(path, value)`` of a non-frozen collection or user type
        column of one row, in path order (list operations by index need their paths)."""
        self._check_open()
        tid = self._tids.get(table_id)
        if tid is None:
            return []
        now = _now(now)
        prefix = _element_prefix(column)
        cursor = self._db.execute(
            f"SELECT col, value FROM cells WHERE {_ELEMENTS} AND {_LIVE} ORDER BY col",
            (tid, token, pk, ck, prefix, prefix[:-1] + b"\x01", now),
        )
        return [(col[len(prefix) :], value) for col, value in cursor]

    def read_partition(
        self,
        table_id: str,
        token: int,
        pk: bytes,
        *,
        ranges: Sequence[CkRange] | None = None,
        reverse: bool = False,
        start_after: bytes | None = None,
        now: int | None = None,
    ) -> Iterator[Row]:
        """The live rows of one partition in clustering order (``reverse``: backwards).

        ``ranges`` (from :func:`~._keycodec.clustering_ranges`, possibly several, possibly
        overlapping) limit the clustering keys; None reads the whole partition, the static
        row (``ck=b""``) first, or last when reversed. ``start_after`` resumes after that
        clustering key in the direction of reading (paging inside a partition).
        """
        self._check_open()
        tid = self._tids.get(table_id)
        if tid is None:
            return
        now = _now(now)
        spans = [CkRange(b"")] if ranges is None else merge_ranges(ranges)
        if start_after is not None:
            # Full keys are prefix-free, so the first key after ``ck`` is >= ck + 00.
            rest = CkRange(start_after + b"\x00") if not reverse else CkRange(b"", start_after)
            spans = _clip(spans, rest)
        if reverse:
            spans.reverse()
        order = "DESC" if reverse else "ASC"
        for span in spans:
            sql = (
                "SELECT ck, col, value, ts, expires_at - ? FROM cells"
                f" WHERE tid = ? AND token = ? AND pk = ? AND ck >= ? AND {_LIVE}"
            )
            params: tuple[Any, ...] = (now, tid, token, pk, span.start, now)
            if span.end is not None:
                sql += " AND ck < ?"
                params += (span.end,)
            sql += f" ORDER BY ck {order}, col {order}"
            cursor = self._db.execute(sql, params)
            try:
                yield from _group_partition(cursor, token, pk)
            finally:
                cursor.close()

    def scan(
        self,
        table_id: str,
        *,
        token_after: int | None = None,
        token_until: int | None = None,
        start_after: tuple[int, bytes, bytes] | None = None,
        now: int | None = None,
    ) -> Iterator[Row]:
        """The live rows of a table in (token, pk, ck) order, streamed.

        ``token_after < token <= token_until`` when given (Cassandra's token ranges; for
        ``>=``/``<`` pass ``t - 1``). ``start_after=(token, pk, ck)`` resumes after that row
        (paging: pass the last row returned). Statics come first in each partition, as
        rows with ``ck == b""``.
        """
        cursor = self._scan_cursor(
            "token, pk, ck, col, value, ts, expires_at - ?",
            table_id,
            token_after,
            token_until,
            start_after,
            now,
        )
        if cursor is None:
            return
        try:
            yield from _group_table(cursor)
        finally:
            cursor.close()

    def scan_values(
        self,
        table_id: str,
        *,
        token_after: int | None = None,
        token_until: int | None = None,
        start_after: tuple[int, bytes, bytes] | None = None,
        now: int | None = None,
    ) -> Iterator[tuple[int, bytes, bytes, dict[str, bytes]]]:
        """:meth:`scan` for bulk reads: ``(token, pk, ck, {column: value})`` per live row.

        The same rows in the same order, without write times and TTLs (and without building
        :class:`Row` and :class:`Cell` objects).
        """
        cursor = self._scan_cursor(
            "token, pk, ck, col, value", table_id, token_after, token_until, start_after, now
        )
        if cursor is None:
            return
        try:
            for (tok, pk, ck), cells in groupby(cursor, _ROW_KEY):
                values = {cell[3]: cell[4] for cell in cells if cell[3]}
                # Element cells (BLOB columns) sort after the simple ones: check the last.
                if values and type(next(reversed(values))) is bytes:
                    values = _values_with_elements(values)
                yield tok, pk, ck, values
        finally:
            cursor.close()

    def _scan_cursor(
        self,
        columns: str,
        table_id: str,
        token_after: int | None,
        token_until: int | None,
        start_after: tuple[int, bytes, bytes] | None,
        now: int | None,
    ) -> sqlite3.Cursor | None:
        self._check_open()
        tid = self._tids.get(table_id)
        if tid is None:
            return None
        now = _now(now)
        sql = f"SELECT {columns} FROM cells WHERE tid = ?"
        params: tuple[Any, ...] = (tid,)
        if "?" in columns:  # the TTL column: expires_at - now
            params = (now, *params)
        if start_after is not None:
            sql += " AND (token, pk, ck) > (?, ?, ?)"
            params += start_after
        if token_after is not None:
            sql += " AND token > ?"
            params += (token_after,)
        if token_until is not None:
            sql += " AND token <= ?"
            params += (token_until,)
        sql += f" AND {_LIVE} ORDER BY token, pk, ck, col"
        return self._db.execute(sql, (*params, now))

    # ------------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> bytes | None:
        """A value stored with :meth:`put_meta`, or None."""
        self._check_open()
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else bytes(found[0])

    def put_meta(self, key: str, value: bytes) -> None:
        """Store a value (the schema, roles, ...) under ``key``, replacing any previous one."""
        self._check_open()
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, bytes(value))
            )

    def delete_meta(self, key: str) -> None:
        """Remove ``key`` from the meta table, if present."""
        self._check_open()
        with self.transaction():
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))


def _clip(spans: Sequence[CkRange], limit: CkRange) -> list[CkRange]:
    clipped = []
    for span in spans:
        start = max(span.start, limit.start)
        ends = [e for e in (span.end, limit.end) if e is not None]
        rng = CkRange(start, min(ends) if ends else None)
        if not rng.is_empty():
            clipped.append(rng)
    return clipped


def _group_partition(cursor: Iterable[Any], token: int, pk: bytes) -> Iterator[Row]:
    # Cells come ordered by clustering key; each change of key closes a row.
    current: bytes | None = None
    cells: dict[Any, Cell] = {}
    for ck, col, value, ts, ttl in cursor:
        if ck != current:
            if current is not None:
                yield Row(token, pk, current, _with_elements(cells))
            current = ck
            cells = {}
        if col:
            cells[col] = Cell(value, ts, ttl)
    if current is not None:
        yield Row(token, pk, current, _with_elements(cells))


def _group_table(cursor: Iterable[Any]) -> Iterator[Row]:
    current: tuple[int, bytes, bytes] | None = None
    cells: dict[Any, Cell] = {}
    for tok, pk, ck, col, value, ts, ttl in cursor:
        if current is None or ck != current[2] or pk != current[1] or tok != current[0]:
            if current is not None:
                yield Row(current[0], current[1], current[2], _with_elements(cells))
            current = (tok, pk, ck)
            cells = {}
        if col:
            cells[col] = Cell(value, ts, ttl)
    if current is not None:
        yield Row(current[0], current[1], current[2], _with_elements(cells))


def _element_prefix(column: str) -> bytes:
    """The start of the ``col`` of a column's element cells (the path follows)."""
    return column.encode("utf-8") + b"\x00"


def _split_element(col: bytes) -> tuple[str, bytes]:
    name, _, path = col.partition(b"\x00")
    return name.decode("utf-8"), path


def _with_elements(cells: dict[Any, Cell]) -> dict[str, Cell]:
    """``cells`` with each column's element cells (BLOB keys) rebuilt into its value.

    Element cells sort after the simple ones (first when read backwards), so a row without
    them costs two looks. The rebuilt cell carries the newest element's timestamp and no
    TTL: CQL refuses WRITETIME and TTL of non-frozen collections, so neither is shown.
    """
    if not cells or (
        type(next(reversed(cells))) is not bytes and type(next(iter(cells))) is not bytes
    ):
        return cells
    out: dict[str, Cell] = {}
    elements: dict[str, list[tuple[bytes, Cell]]] = {}
    for col, cell in cells.items():
        if type(col) is bytes:
            name, path = _split_element(col)
            elements.setdefault(name, []).append((path, cell))
        else:
            out[col] = cell
    for name, items in elements.items():
        items.sort(key=_first)  # path order, whichever way the row was read
        value = assemble([(path, cell.value) for path, cell in items])
        out[name] = Cell(value, max(cell.timestamp for _, cell in items), None)
    return out


def _values_with_elements(values: dict[Any, bytes]) -> dict[str, bytes]:
    """:func:`_with_elements` for :meth:`Storage.scan_values` (values only, path order)."""
    out: dict[str, bytes] = {}
    elements: dict[str, list[tuple[bytes, bytes]]] = {}
    for col, value in values.items():
        if type(col) is bytes:
            name, path = _split_element(col)
            elements.setdefault(name, []).append((path, value))
        else:
            out[col] = value
    for name, items in elements.items():
        out[name] = assemble(items)
    return out


def _first(item: tuple[bytes, Cell]) -> bytes:
    return item[0]
