"""The size and spread checks Cassandra 4.1 makes on a batch, and the warnings it sends.

``BatchStatement`` of Cassandra 4.1, for batches without conditions:

* a LOGGED batch touching a table whose ``gc_grace_seconds`` is 0 gets a client warning;
* ``verifyBatchSize``: a batch of more than one mutation (one per keyspace and partition key)
  whose data size is over ``batch_size_warn_threshold`` (5 KiB) gets a client warning; over
  ``batch_size_fail_threshold`` (50 KiB) it fails with ``Batch too large``;
* ``verifyBatchType``: a non-LOGGED batch over more than
  ``unlogged_batch_across_partitions_warn_threshold`` (10) partitions gets a client warning.

The size is measured on what the batch writes: :func:`recording` observes the storage
(:meth:`~._storage.Storage.observed`) and notes each row write, increment and deletion the
batch's statements ask for, as they ask it (before reconciliation with stored data, as a
mutation holds what the statement made), and :func:`batch_warnings` sizes them the way
``PartitionUpdate.dataSize`` does (16 bytes of timestamp, TTL and deletion time per cell
plus its value, 20 per row for its liveness and deletion, 8 per partition update...).
Non-frozen collections and user types are sized as Cassandra's cells, one per element
(:func:`~._multicell.cassandra_size`), plus the column's deletion time; range tombstone
bounds are sized as the dev server encodes them, a few bytes off Cassandra's.
Table sets print in Java ``HashSet`` order, as Cassandra's messages do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._keycodec import STATIC_CK, CkRange, KeyCodecError, decode_clustering_key
from cassflow.devserver._multicell import MultiCellWrite, cassandra_size
from cassflow.devserver._schema import TableMetadata
from cassflow.devserver._storage import Storage

__all__ = [
    "BATCH_SIZE_FAIL_THRESHOLD",
    "BATCH_SIZE_WARN_THRESHOLD",
    "UNLOGGED_BATCH_ACROSS_PARTITIONS_WARN_THRESHOLD",
    "BatchWrites",
    "batch_warnings",
    "recording",
]

#: ``batch_size_warn_threshold`` (cassandra.yaml default 5KiB).
BATCH_SIZE_WARN_THRESHOLD = 5 * 1024
#: ``batch_size_fail_threshold`` (cassandra.yaml default 50KiB).
BATCH_SIZE_FAIL_THRESHOLD = 50 * 1024
#: ``unlogged_batch_across_partitions_warn_threshold`` (cassandra.yaml default 10).
UNLOGGED_BATCH_ACROSS_PARTITIONS_WARN_THRESHOLD = 10

# Sizes of PartitionUpdate.dataSize's parts.
_CELL = 8 + 4 + 4  # timestamp, ttl, local deletion time
_LIVENESS = 8  # primary key liveness: timestamp
_EXPIRING = 8  # ... and ttl + local expiration time when it expires
_DELETION = 12  # a row's deletion time (markedForDeleteAt + localDeletionTime)
_PARTITION_DELETION = 8
_COUNTER_VALUE = 8

_LOW_GC_GRACE = (
    "Executing a LOGGED BATCH on table{} {}, configured with a gc_grace_seconds of 0. The "
    "gc_grace_seconds is used to TTL batchlog entries, so setting gc_grace_seconds too low on "
    "tables involved in an atomic batch might cause batchlog entries to expire before being "
    "replayed."
)
_TOO_LARGE = "Batch for {} is of size {}, exceeding specified threshold of {} by {}."
_UNLOGGED = (
    "Unlogged batch covering {} partitions detected against table{} {}. You should use a "
    "logged batch for atomicity, or asynchronous writes for performance."
)


@dataclass
class _Row:
    #: The simple cells written, as written (None: a tombstone).
    values: dict[str, bytes | None] = field(default_factory=dict)
    #: Non-frozen collections and user types: the size of each element cell, by path.
    elements: dict[str, dict[bytes, int]] = field(default_factory=dict)
    counters: set[str] = field(default_factory=set)
    liveness: int = 0
    deleted: bool = False


@dataclass
class BatchWrites:
    """The rows and deletions a batch asked the storage for, by table id and partition key."""

    #: (table id, partition key) -> clustering key -> row, in first-write order.
    rows: dict[tuple[str, bytes], dict[bytes, _Row]] = field(default_factory=dict)
    #: (table id, partition key) -> bytes of range tombstones.
    ranges: dict[tuple[str, bytes], int] = field(default_factory=dict)

    def _row(self, table_id: str, pk: bytes, ck: bytes) -> _Row:
        return self.rows.setdefault((table_id, pk), {}).setdefault(ck, _Row())

    def write(
        self,
        table_id: str,
        pk: bytes,
        ck: bytes,
        cells: Mapping[str, bytes | None],
        *,
        ttl: int | None,
        row_marker: bool,
        multi_cell: Mapping[str, MultiCellWrite] | None = None,
    ) -> None:
        """Note a write of ``cells`` (None: a cell tombstone) and of element cells (with
        their columns' deletions) to one row."""
        row = self._row(table_id, pk, ck)
        row.values.update(cells)
        for name, change in (multi_cell or {}).items():
            sizes = row.elements.setdefault(name, {})
            for path, value in change.elements:
                sizes[path] = _CELL + cassandra_size(path, value)
        if row_marker:
            row.liveness = _LIVENESS + (_EXPIRING if ttl else 0)

    def counters(self, table_id: str, pk: bytes, ck: bytes, names: Iterable[str]) -> None:
        """Note counter increments of one row."""
        self._row(table_id, pk, ck).counters.update(names)

    def delete(self, table_id: str, pk: bytes, rows: CkRange) -> None:
        """Note a row, range or partition deletion."""
        key = (table_id, pk)
        self.rows.setdefault(key, {})
        if rows.start == STATIC_CK and rows.end is None:
            return  # a partition deletion: part of every update's deletion info
        if rows.end is not None and rows == CkRange.row(rows.start):
            self._row(table_id, pk, rows.start).deleted = True
            return
        bounds = len(rows.start) + (0 if rows.end is None else len(rows.end))
        self.ranges[key] = self.ranges.get(key, 0) + bounds + _DELETION


def recording(storage: Storage) -> contextlib.AbstractContextManager[BatchWrites]:
    """Note what ``storage`` is asked to write inside the ``with`` block (then stop)."""
    return storage.observed(BatchWrites())


def batch_warnings(
    kind: str, writes: BatchWrites, tables: Mapping[str, TableMetadata]
) -> tuple[str, ...]:
    """The client warnings of an unconditional batch, or InvalidRequest "Batch too large".

    ``kind`` is LOGGED, UNLOGGED or COUNTER; ``tables`` maps the table ids the batch wrote
    (as the storage knows them) to their metadata.
    """
    warnings: list[str] = []
    if kind == "LOGGED":
        low = [t.cql_name for t in tables.values() if t.options.gc_grace_seconds == 0]
        if low:
            warnings.append(_LOW_GC_GRACE.format(_plural(low), _java_set(low)))
    updates = {key: rows for key, rows in writes.rows.items() if key[0] in tables}
    mutations = {(tables[table_id].keyspace, pk) for table_id, pk in updates}
    names = [tables[table_id].cql_name for table_id, _ in updates]
    if len(mutations) > 1:
        size = sum(
            _update_size(tables[key[0]], rows, writes.ranges.get(key, 0))
            for key, rows in updates.items()
        )
        if size > BATCH_SIZE_WARN_THRESHOLD:
            if size > BATCH_SIZE_FAIL_THRESHOLD:
                raise InvalidRequestError("Batch too large")
            warnings.append(
                _TOO_LARGE.format(
                    _java_set(names),
                    size,
                    BATCH_SIZE_WARN_THRESHOLD,
                    size - BATCH_SIZE_WARN_THRESHOLD,
                )
            )
    if kind != "LOGGED" and len(mutations) > 1:
        keys = {pk for _, pk in updates}
        if len(keys) > UNLOGGED_BATCH_ACROSS_PARTITIONS_WARN_THRESHOLD:
            unique = list(dict.fromkeys(names))
            warnings.append(_UNLOGGED.format(len(keys), _plural(unique), _java_set(unique)))
    return tuple(warnings)


def _update_size(table: TableMetadata, rows: Mapping[bytes, _Row], ranges: int) -> int:
    """``PartitionUpdate.dataSize``: deletion info, the static row, then each row."""
    has_clustering = bool(table.clustering_columns)
    size = _PARTITION_DELETION + ranges
    static_written = False
    for ck, row in rows.items():
        static = has_clustering and ck == STATIC_CK
        static_written = static_written or static
        # A row whose liveness was not written carries LivenessInfo.EMPTY: 8 bytes too.
        size += _clustering_size(table, ck) + (row.liveness or _LIVENESS) + _DELETION
        size += sum(_CELL + (0 if v is None else len(v)) for v in row.values.values())
        # A complex column: its deletion time (even when live), then its element cells.
        size += sum(_DELETION + sum(sizes.values()) for sizes in row.elements.values())
        size += (_CELL + _COUNTER_VALUE) * len(row.counters)
    if not static_written:
        size += _LIVENESS + _DELETION  # the empty static row
    return size


def _clustering_size(table: TableMetadata, ck: bytes) -> int:
    """``Clustering.dataSize``: the bytes of the clustering values."""
    columns = table.clustering_columns
    if not ck or not columns:
        return 0
    try:
        values = decode_clustering_key(
            ck, [c.type for c in columns], [c.is_reversed for c in columns]
        )
    except KeyCodecError:
        return len(ck)
    return sum(len(v) for v in values)


def _plural(names: list[str]) -> str:
    return "" if len(set(names)) == 1 else "s"


def _java_string_hash(text: str) -> int:
    """``String.hashCode``: over UTF-16 code units, wrapping at 32 bits."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h


def _java_set(names: Iterable[str]) -> str:
    """``HashSet<String>.toString()`` of ``names`` added in this order."""
    unique = list(dict.fromkeys(names))
    capacity = 16
    while len(unique) > capacity * 3 // 4:
        capacity *= 2

    def bucket(name: str) -> int:
        h = _java_string_hash(name)
        return (h ^ (h >> 16)) & (capacity - 1)

    ordered = sorted(range(len(unique)), key=lambda i: (bucket(unique[i]), i))
    return "[" + ", ".join(unique[i] for i in ordered) + "]"
