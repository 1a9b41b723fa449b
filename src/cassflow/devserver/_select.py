"""SELECT: projection, reading rows in Cassandra's order, filtering, limits and paging.

Rows come either from the storage (user tables) or from generated system rows (virtual and
system tables, already Python values, serialized here). Both become *engine rows*: a dict of
column name -> (serialized value | None, write timestamp | None, ttl | None), on which
projection and filtering work the same way.

Paging: a page holds at most ``page_size`` rows; the paging state records where the last one
was (its token, partition key and clustering key, or its position in a generated table) and
how much of LIMIT and PER PARTITION LIMIT is left, so the next page resumes exactly there.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cassflow.cql import (
    Operator,
    Select,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._grouping import aggregate_rows, aggregation_warnings, group_by_prefix
from cassflow.devserver._keycodec import (
    STATIC_CK,
    CkRange,
    clustering_key,
    clustering_ranges,
    decode_clustering_key,
    partition_key,
    token,
)
from cassflow.devserver._schema import ColumnKind, TableMetadata
from cassflow.devserver._select_distinct import check_distinct
from cassflow.devserver._selectors import json_rows, outputs, result_columns
from cassflow.devserver._storage import Row, Storage
from cassflow.devserver._values import STORAGE_VERSION, Evaluator, split_collection
from cassflow.devserver._where import Filter, Restrictions, analyze
from cassflow.protocol import ColumnSpec, DataType, TypeCode

#: A result row: one serialized value (or null) per result column.
RawRow = tuple[bytes | None, ...]
#: (value, write timestamp, ttl) of one column in an engine row.
CellValue = tuple[bytes | None, int | None, int | None]
EngineRow = dict[str, CellValue]

_BIGINT = DataType(TypeCode.BIGINT)
_INT = DataType(TypeCode.INT)
_PAGING = struct.Struct(">Bqi i")
_NO_LIMIT = 2**31 - 1
_MIN_TOKEN = -(2**63)


# --- paging state -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended and what is left of the limits."""

    index: int  # partition index (lookups) or row index (generated tables); -1 for scans
    token: int
    pk: bytes
    ck: bytes
    remaining: int
    partition_remaining: int

    def encode(self) -> bytes:
        """The opaque paging state handed to the client."""
        head = struct.pack(
            ">iqii", self.index, self.token, self.remaining, self.partition_remaining
        )
        return b"cfp1" + head + struct.pack(">i", len(self.pk)) + self.pk + self.ck

    @classmethod
    def decode(cls, raw: bytes) -> Position:
        """Inverse of :meth:`encode`; refuses states that are not ours."""
        try:
            if not raw.startswith(b"cfp1"):
                raise ValueError("not a dev server paging state")
            index, tok, remaining, per_partition = struct.unpack_from(">iqii", raw, 4)
            (pk_len,) = struct.unpack_from(">i", raw, 24)
            pk = raw[28 : 28 + pk_len]
            ck = raw[28 + pk_len :]
        except (struct.error, ValueError):
            raise InvalidRequestError("Invalid value for the paging state") from None
        return cls(index, tok, pk, ck, remaining, per_partition)


# --- reading ------------------------------------------------------------------------------


class TableReader:
    """Reads engine rows of one user table from the storage, in Cassandra's order."""

    def __init__(self, storage: Storage, table: TableMetadata, now: int) -> None:
        self.storage = storage
        self.table = table
        self.now = now
        self.pk_columns = table.partition_key
        self.ck_columns = table.clustering_columns
        self.ck_types = [c.type for c in self.ck_columns]
        self.ck_desc = [c.is_reversed for c in self.ck_columns]
        self.table_id = str(table.id)
        #: Makes each row read: an engine row, unless :meth:`project` chose value rows.
        self.build: Callable[[Sequence[bytes], bytes, Row | None, Row | None], Any] = (
            self.engine_row
        )
        #: Set by :meth:`project` when scans can build rows from bare values (no statics).
        self.values_row: Callable[[bytes, bytes, Mapping[str, bytes]], RawRow] | None = None

    def project(self, names: Sequence[str]) -> None:
        """Build result rows of the columns ``names`` directly, instead of engine rows.

        For plain projections without filtering: each row is then the tuple of the values
        as they are stored, with no per-column dicts and no per-column calls.
        """
        pk_index = {c.name: i for i, c in enumerate(self.pk_columns)}
        ck_index = {c.name: i for i, c in enumerate(self.ck_columns)}
        plan = tuple((pk_index.get(name, -1), ck_index.get(name, -1), name) for name in names)
        no_ck = (None,) * len(self.ck_columns)
        ck_types, ck_desc = self.ck_types, self.ck_desc

        def value_row(
            pk_values: Sequence[bytes], ck: bytes, static: Row | None, row: Row | None
        ) -> tuple[bytes | None, ...]:
            ck_values: Sequence[bytes | None] = (
                decode_clustering_key(ck, ck_types, ck_desc) if ck != STATIC_CK else no_ck
            )
            cells = row.cells if row is not None else {}
            static_cells = static.cells if static is not None else {}
            out: list[bytes | None] = []
            for pk_at, ck_at, name in plan:
                if pk_at >= 0:
                    out.append(pk_values[pk_at])
                elif ck_at >= 0:
                    out.append(ck_values[ck_at])
                else:
                    cell = cells.get(name) or static_cells.get(name)
                    out.append(None if cell is None else cell.value)
            return tuple(out)

        self.build = value_row
        if any(c.kind is ColumnKind.STATIC for c in self.table.columns) or (
            self.table.dropped_columns
        ):
            return  # statics (even dropped ones) need the general scan's merging
        split_pk = self.split_pk
        keys = [c.name for c in self.pk_columns] + [c.name for c in self.ck_columns]
        rest = tuple(names[len(keys) :])
        if list(names[: len(keys)]) == keys and not set(rest) & set(keys):
            # ``SELECT *`` and the like: the key columns in key order, then cells.

            def key_first_row(pk: bytes, ck: bytes, cells: Mapping[str, bytes]) -> RawRow:
                ck_values = (
                    decode_clustering_key(ck, ck_types, ck_desc) if ck != STATIC_CK else no_ck
                )
                get = cells.get
                return (*split_pk(pk), *ck_values, *[get(name) for name in rest])

            self.values_row = key_first_row
            return

        def values_row(pk: bytes, ck: bytes, cells: Mapping[str, bytes]) -> RawRow:
            pk_values = split_pk(pk)
            ck_values: Sequence[bytes | None] = (
                decode_clustering_key(ck, ck_types, ck_desc) if ck != STATIC_CK else no_ck
            )
            return tuple(
                pk_values[pk_at]
                if pk_at >= 0
                else ck_values[ck_at]
                if ck_at >= 0
                else cells.get(name)
                for pk_at, ck_at, name in plan
            )

        self.values_row = values_row

    def split_pk(self, pk: bytes) -> list[bytes]:
        """The partition key column values of a routing key."""
        if len(self.pk_columns) == 1:
            return [pk]
        values, pos = [], 0
        while pos < len(pk):
            size = int.from_bytes(pk[pos : pos + 2], "big")
            values.append(pk[pos + 2 : pos + 2 + size])
            pos += 3 + size
        return values

    def engine_row(
        self, pk_values: Sequence[bytes], ck: bytes, static: Row | None, row: Row | None
    ) -> EngineRow:
        """Assemble a result row from key values, static cells and the row's cells."""
        out: EngineRow = {
            c.name: (v, None, None) for c, v in zip(self.pk_columns, pk_values, strict=True)
        }
        if self.ck_columns:
            if ck != STATIC_CK:
                values = decode_clustering_key(ck, self.ck_types, self.ck_desc)
                for column, value in zip(self.ck_columns, values, strict=True):
                    out[column.name] = (value, None, None)
            else:
                for column in self.ck_columns:
                    out[column.name] = (None, None, None)
        for source in (static, row):
            if source is not None:
                for name, cell in source.cells.items():
                    out[name] = (cell.value, cell.timestamp, cell.ttl)
        return out

    def partition(
        self,
        pk_values: Sequence[bytes],
        ranges: Sequence[CkRange] | None,
        reverse: bool,
        start_after: bytes | None,
    ) -> Iterator[tuple[int, bytes, bytes, Any]]:
        """Rows of one partition (with its static cells merged in)."""
        pk = partition_key(pk_values)
        tok = token(pk)
        if not self.ck_columns:
            if start_after is not None:
                return
            row = self.storage.read_row(self.table_id, tok, pk, STATIC_CK, now=self.now)
            if row is not None:
                yield tok, pk, STATIC_CK, self.build(pk_values, STATIC_CK, None, row)
            return
        static = self.storage.read_row(self.table_id, tok, pk, STATIC_CK, now=self.now)
        produced = False
        for row in self.storage.read_partition(
            self.table_id,
            tok,
            pk,
            ranges=ranges if ranges is not None else [CkRange(b"\x00")],
            reverse=reverse,
            start_after=start_after,
            now=self.now,
        ):
            if row.ck == STATIC_CK:
                continue
            produced = True
            yield tok, pk, row.ck, self.build(pk_values, row.ck, static, row)
        if not produced and static is not None and ranges is None and start_after is None:
            yield tok, pk, STATIC_CK, self.build(pk_values, STATIC_CK, static, None)

    def scan(
        self,
        token_after: int | None,
        token_until: int | None,
        start_after: tuple[int, bytes, bytes] | None,
    ) -> Iterator[tuple[int, bytes, bytes, Any]]:
        """Every row in token order (statics merged), optionally in a token range."""
        if self.values_row is not None:
            yield from self._scan_values(self.values_row, token_after, token_until, start_after)
            return
        static: Row | None = None
        current: tuple[int, bytes] | None = None
        produced = False
        pending_static_only: tuple[int, bytes, Row] | None = None
        if start_after is not None and start_after[2] != STATIC_CK and self.ck_columns:
            static = self.storage.read_row(
                self.table_id, start_after[0], start_after[1], STATIC_CK, now=self.now
            )
            current = (start_after[0], start_after[1])
            produced = True
        for row in self.storage.scan(
            self.table_id,
            token_after=token_after,
            token_until=token_until,
            start_after=start_after,
            now=self.now,
        ):
            key = (row.token, row.pk)
            if key != current:
                if pending_static_only is not None:
                    tok, pk, srow = pending_static_only
                    yield (
                        tok,
                        pk,
                        STATIC_CK,
                        self.build(self.split_pk(pk), STATIC_CK, srow, None),
                    )
                pending_static_only = None
                current, static, produced = key, None, False
            if self.ck_columns and row.ck == STATIC_CK:
                static = row
                pending_static_only = (row.token, row.pk, row)
                continue
            produced = True
            pending_static_only = None
            yield (
                row.token,
                row.pk,
                row.ck,
                self.build(self.split_pk(row.pk), row.ck, static, row),
            )
        if pending_static_only is not None and not produced:
            tok, pk, srow = pending_static_only
            yield tok, pk, STATIC_CK, self.build(self.split_pk(pk), STATIC_CK, srow, None)

    def _scan_values(
        self,
        values_row: Callable[[bytes, bytes, Mapping[str, bytes]], RawRow],
        token_after: int | None,
        token_until: int | None,
        start_after: tuple[int, bytes, bytes] | None,
    ) -> Iterator[tuple[int, bytes, bytes, RawRow]]:
        # Without static columns every stored row is a result row, as it comes.
        for tok, pk, ck, cells in self.storage.scan_values(
            self.table_id,
            token_after=token_after,
            token_until=token_until,
            start_after=start_after,
            now=self.now,
        ):
            yield tok, pk, ck, values_row(pk, ck, cells)


# --- filtering ----------------------------------------------------------------------------


def _comparable(value: bytes, dtype: DataType) -> bytes:
    return clustering_key([value], [dtype], [False])


def _entry_matches(value: bytes, dtype: DataType, key: bytes, wanted: bytes | None) -> bool:
    """Whether the map ``value`` holds ``key`` with the value ``wanted``."""
    key_type, value_type = dtype.params
    for k, v in split_collection(value, dtype):
        if _comparable(k, key_type) == _comparable(key, key_type):
            return wanted is not None and _comparable(v, value_type) == _comparable(
                wanted, value_type
            )
    return False


def matches(row: EngineRow, filters: Sequence[Filter]) -> bool:
    """Whether ``row`` passes every filtering restriction."""
    for f in filters:
        cell = row.get(f.column.name)
        value = None if cell is None else cell[0]
        op = f.operator
        if op is Operator.IS_NOT:
            if value is None:
                return False
            continue
        if value is None:
            return False
        dtype = f.column.type
        if f.map_key is not None:  # m[key] = value
            if not _entry_matches(value, dtype, f.map_key, f.values[0]):
                return False
            continue
        if op is Operator.IN:
            if value not in f.values and not any(
                v is not None and _comparable(v, dtype) == _comparable(value, dtype)
                for v in f.values
            ):
                return False
            continue
        if op in (Operator.CONTAINS, Operator.CONTAINS_KEY):
            wanted = f.values[0]
            items = split_collection(value, dtype)
            if dtype.code is TypeCode.MAP:
                pool = (
                    [k for k, _ in items] if op is Operator.CONTAINS_KEY else [v for _, v in items]
                )
            else:
                pool = items
            if wanted not in pool:
                return False
            continue
        other = f.values[0]
        if other is None:
            return False
        left, right = _comparable(value, dtype), _comparable(other, dtype)
        ok = {
            Operator.EQ: left == right,
            Operator.NEQ: left != right,
            Operator.LT: left < right,
            Operator.LTE: left <= right,
            Operator.GT: left > right,
            Operator.GTE: left >= right,
        }.get(op)
        if ok is None:
            raise InvalidRequestError(f"Unsupported filtering operator {op}")
        if not ok:
            return False
    return True


# --- the query ----------------------------------------------------------------------------


@dataclass(slots=True)
class Page:
    """One page of results."""

    columns: tuple[ColumnSpec, ...]
    rows: list[tuple[bytes | None, ...]]
    paging_state: bytes | None
    #: Warnings Cassandra sends with this answer (aggregation without a partition key...).
    warnings: tuple[str, ...] = ()


def _limit(term: Any, evaluator: Evaluator, what: str) -> int:
    if term is None:
        return _NO_LIMIT
    value = evaluator.int_value(term, f"[{what}]")
    if value is None:
        return _NO_LIMIT
    if value <= 0:
        name = "LIMIT" if what == "limit" else "PER PARTITION LIMIT"
        raise InvalidRequestError(f"{name} must be strictly positive")
    return value


def select(
    statement: Select,
    table: TableMetadata,
    evaluator: Evaluator,
    *,
    storage: Storage,
    generated: Sequence[Mapping[str, Any]] | None,
    page_size: int | None,
    paging_state: bytes | None,
    now: int,
    serial: bool = False,
) -> Page:
    """Run a SELECT and return one page. ``serial``: read at SERIAL / LOCAL_SERIAL, which
    Cassandra allows on one partition only."""
    outs = outputs(statement, table, evaluator)
    columns = (
        result_columns(statement, table)
        if statement.json
        else tuple(
            ColumnSpec(keyspace=table.keyspace, table=table.name, name=o.name, type=o.type)
            for o in outs
        )
    )
    restrictions = analyze(
        table, statement.where, evaluator, allow_filtering=statement.allow_filtering
    )
    check_distinct(statement, table, key_range=restrictions.partition_values is None)
    if serial and (
        restrictions.partition_values is None
        or len({tuple(key) for key in restrictions.partitions()}) > 1
    ):
        raise InvalidRequestError(
            "SERIAL/LOCAL_SERIAL consistency may only be requested for one partition at a time"
        )
    limit = _limit(statement.limit, evaluator, "limit")
    per_partition = _limit(statement.per_partition_limit, evaluator, "per_partition_limit")
    group_size = group_by_prefix(statement, table, restrictions)
    aggregating = group_size is not None or any(o.aggregate is not None for o in outs)
    position = Position.decode(paging_state) if paging_state else None
    warnings: tuple[str, ...] = ()
    if aggregating:
        if group_size is None:
            # One row over every row: no paging.
            page_size = None
            position = None
        # System and virtual tables too: Cassandra warns whatever the table.
        warnings = aggregation_warnings(statement, table)
    if page_size is not None and page_size <= 0:
        page_size = None
    reverse = _reverse(statement, table, restrictions)
    direct = False
    if generated is not None:
        restrictions.filters = _key_filters(table, restrictions) + restrictions.filters
        source = _generated_rows(table, generated, position)
    else:
        # The common bulk read (``SELECT *`` or plain columns, no filtering): rows come out of
        # the reader as result tuples already.
        plain = [o.plain for o in outs]
        direct = not aggregating and not restrictions.filters and None not in plain
        projection = [name for name in plain if name is not None] if direct else None
        source = _stored_rows(table, storage, restrictions, reverse, position, now, projection)
    if statement.distinct:
        source = _distinct(source, position)
    if restrictions.filters:
        source = (item for item in source if matches(item[4], restrictions.filters))
    if aggregating:
        group_by = (
            None if group_size is None else [c.name for c in table.clustering_columns[:group_size]]
        )
        # GROUP BY results come in pages of groups (Cassandra's AggregationQueryPager).
        resumed = None
        if position is not None:
            limit = position.remaining
            resumed = (position.token, position.pk, per_partition - position.partition_remaining)
        folded, end = aggregate_rows(
            outs, source, group_by, limit, per_partition, page_size, resumed
        )
        group_state = None
        if end is not None:
            group_state = Position(
                end.index,
                end.token,
                end.pk,
                end.ck,
                limit - len(folded),
                per_partition - end.groups_in_partition,
            ).encode()
        if statement.json:
            folded = json_rows(outs, folded)
        return Page(columns=columns, rows=folded, paging_state=group_state, warnings=warnings)
    if position is not None:
        limit = position.remaining
    rows: list[tuple[bytes | None, ...]] = []
    partition_count = 0 if position is None else per_partition - position.partition_remaining
    last_partition = None if position is None else (position.token, position.pk)
    taken = 0
    next_state = None
    prev: tuple[int, int, bytes, bytes] = (-1, 0, b"", b"")
    prev_count = 0
    for index, tok, pk, ck, row in source:
        if (tok, pk) != last_partition:
            last_partition, partition_count = (tok, pk), 0
        if partition_count >= per_partition:
            continue
        if taken >= limit:
            break
        if page_size is not None and len(rows) >= page_size:
            # The page ends after the last row it holds: its partition (or generated row)
            # index, not the next row's.
            next_state = Position(
                prev[0], prev[1], prev[2], prev[3], limit - taken, per_partition - prev_count
            ).encode()
            break
        partition_count += 1
        taken += 1
        if direct:
            rows.append(row)
        else:
            rows.append(tuple(o.compute(row, tok, pk) for o in outs))
        prev = (index, tok, pk, ck)
        prev_count = partition_count
    if statement.json:
        rows = json_rows(outs, rows)
    return Page(columns=columns, rows=rows, paging_state=next_state)


def _reverse(statement: Select, table: TableMetadata, restrictions: Restrictions) -> bool:
    if not statement.order_by:
        return False
    if restrictions.partition_values is None:
        raise InvalidRequestError(
            "ORDER BY is only supported when the partition key is restricted by an EQ or an IN."
        )
    clustering = list(table.clustering_columns)
    reverse: bool | None = None
    for position, ordering in enumerate(statement.order_by):
        column = table.column(ordering.column)
        if column is None:
            raise InvalidRequestError(
                f"Undefined column name {ordering.column} in table {table.keyspace}.{table.name}"
            )
        if column.kind is not ColumnKind.CLUSTERING:
            raise InvalidRequestError(
                "Order by is currently only supported on the clustered columns of the PRIMARY "
                f"KEY, got {column.name}"
            )
        if clustering.index(column) != position:
            raise InvalidRequestError(
                "Order by currently only supports the ordering of columns following their "
                "declared order in the PRIMARY KEY"
            )
        this = ordering.descending != column.is_reversed
        if reverse is None:
            reverse = this
        elif reverse != this:
            raise InvalidRequestError("Unsupported order by relation")
    return bool(reverse)


#: (index, token, pk, ck, row): an engine row, or a result tuple from a projecting reader.
Source = Iterator[tuple[int, int, bytes, bytes, Any]]


def _stored_rows(
    table: TableMetadata,
    storage: Storage,
    restrictions: Restrictions,
    reverse: bool,
    position: Position | None,
    now: int,
    projection: Sequence[str] | None = None,
) -> Source:
    reader = TableReader(storage, table, now)
    if projection is not None:
        reader.project(projection)
    ranges = _ranges(reader, restrictions)
    if restrictions.partition_values is not None:
        partitions = restrictions.partitions()
        if reverse and len(partitions) > 1:
            raise InvalidRequestError(
                "Cannot page queries with both ORDER BY and a IN restriction on the partition "
                "key; you must either remove the ORDER BY or the IN and sort client side, or "
                "disable paging for this query"
            )
        start = 0 if position is None else position.index
        for index in range(start, len(partitions)):
            resume = position.ck if position is not None and index == position.index else None
            if resume == STATIC_CK:
                continue  # the page ended on the partition's only (static) row
            for tok, pk, ck, row in reader.partition(partitions[index], ranges, reverse, resume):
                yield index, tok, pk, ck, row
        return
    token_after, token_until = _token_bounds(restrictions)
    if token_until is not None and token_until < _MIN_TOKEN:
        return  # token(k) < minimum: nothing can match
    start_after = None if position is None else (position.token, position.pk, position.ck)
    for tok, pk, ck, row in reader.scan(token_after, token_until, start_after):
        if (
            ranges is not None
            and ck != STATIC_CK
            and not any(r.start <= ck and (r.end is None or ck < r.end) for r in ranges)
        ):
            continue
        if ranges is not None and ck == STATIC_CK and table.clustering_columns:
            continue
        yield -1, tok, pk, ck, row


def _ranges(reader: TableReader, restrictions: Restrictions) -> list[CkRange] | None:
    if (
        not restrictions.clustering_prefix
        and restrictions.lower is None
        and restrictions.upper is None
    ):
        return None
    ranges: list[CkRange] = []
    for prefix in restrictions.clustering_prefixes():
        ranges += clustering_ranges(
            reader.ck_types,
            reader.ck_desc,
            prefix=prefix,
            lower=restrictions.lower,
            upper=restrictions.upper,
        )
    return ranges


def _token_bounds(restrictions: Restrictions) -> tuple[int | None, int | None]:
    after = until = None
    if restrictions.token_lower is not None:
        value, inclusive = restrictions.token_lower
        after = value - 1 if inclusive else value
        if after < _MIN_TOKEN:
            after = None  # every token is >= the minimum
    if restrictions.token_upper is not None:
        value, inclusive = restrictions.token_upper
        until = value if inclusive else value - 1
    return after, until


def _distinct(source: Source, position: Position | None) -> Source:
    # A page of DISTINCT ends on a partition's first row: the next one starts after the
    # rest of that partition.
    last = None if position is None else (position.token, position.pk)
    for item in source:
        key = (item[1], item[2])
        if key != last:
            last = key
            yield item


def _key_filters(table: TableMetadata, restrictions: Restrictions) -> list[Filter]:
    """Key restrictions as row filters, for generated tables that are not stored by key."""
    filters: list[Filter] = []
    if restrictions.partition_values is not None:
        for column, values in zip(table.partition_key, restrictions.partition_values, strict=True):
            filters.append(Filter(column, Operator.IN, tuple(values)))
    clustering = table.clustering_columns
    for column, values in zip(clustering, restrictions.clustering_prefix, strict=False):
        filters.append(Filter(column, Operator.IN, tuple(values)))
    slice_at = len(restrictions.clustering_prefix)
    for bound, lower in ((restrictions.lower, True), (restrictions.upper, False)):
        if bound is None or slice_at >= len(clustering):
            continue
        if len(bound.values) != 1:
            raise InvalidRequestError("Multi-column slices are not supported on system tables")
        if lower:
            op = Operator.GTE if bound.inclusive else Operator.GT
        else:
            op = Operator.LTE if bound.inclusive else Operator.LT
        filters.append(Filter(clustering[slice_at], op, (bound.values[0],)))
    return filters


def _generated_rows(
    table: TableMetadata, rows: Sequence[Mapping[str, Any]], position: Position | None
) -> Source:
    start = 0 if position is None else position.index + 1
    for index in range(start, len(rows)):
        values = rows[index]
        row: EngineRow = {}
        for column in table.columns:
            value = values.get(column.name)
            raw = (
                None
                if value is None
                else bytes(column.type.codec().serialize(value, STORAGE_VERSION))
            )
            row[column.name] = (raw, None, None)
        pk_values = [row[c.name][0] or b"" for c in table.partition_key]
        pk = partition_key(pk_values)
        yield index, token(pk), pk, b"", row


__all__ = ["Page", "Position", "TableReader", "matches", "result_columns", "select"]
