"""GROUP BY and aggregation: folding the rows of a SELECT into one row per group.

As Cassandra: GROUP BY names primary key columns in their declared order (the partition key
whole, then a clustering prefix; columns restricted by ``=`` may be skipped). Without GROUP BY
an aggregate query gives one row over all rows (even none). Plain columns beside aggregates
show the group's first row. With GROUP BY, LIMIT counts groups and PER PARTITION LIMIT counts
groups per partition; without it both limits apply to the single result row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cassflow.cql import ColumnSelector, Operator, Select, SingleColumnRelation, TokenRelation
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import ColumnKind, TableMetadata
from cassflow.devserver._selectors import Output
from cassflow.devserver._where import Restrictions

_ORDER_MESSAGE = (
    "Group by currently only support groups of columns following their declared order in the "
    "PRIMARY KEY"
)
WITHOUT_PARTITION_KEY = "Aggregation query used without partition key"
ON_MULTIPLE_PARTITIONS = "Aggregation query used on multiple partition keys (IN restriction)"


def group_by_prefix(
    statement: Select, table: TableMetadata, restrictions: Restrictions
) -> int | None:
    """How many clustering columns the GROUP BY groups on (None without GROUP BY)."""
    if not statement.group_by:
        return None
    key_columns = list(table.partition_key) + list(table.clustering_columns)
    restricted_by_eq = _eq_restricted(table, restrictions)
    at = 0
    clustering = 0
    for selectable in statement.group_by:
        if not isinstance(selectable, ColumnSelector):
            raise InvalidRequestError(
                "Group by is currently only supported on the columns of the PRIMARY KEY, got "
                f"{selectable.to_cql()}"
            )
        column = table.column(selectable.name)
        if column is None:
            raise InvalidRequestError(f"Undefined column name {selectable.name}")
        if not column.is_primary_key:
            raise InvalidRequestError(
                "Group by is currently only supported on the columns of the PRIMARY KEY, got "
                f"{column.name}"
            )
        while True:
            if at >= len(key_columns):
                raise InvalidRequestError(_ORDER_MESSAGE)
            key_column = key_columns[at]
            at += 1
            if key_column.kind is ColumnKind.CLUSTERING:
                clustering += 1
            if key_column.name == column.name:
                break
            if key_column.name not in restricted_by_eq:
                raise InvalidRequestError(_ORDER_MESSAGE)
    if at < len(table.partition_key):
        raise InvalidRequestError("Group by is not supported on only a part of the partition key")
    if clustering and statement.distinct:
        raise InvalidRequestError(
            "Grouping on clustering columns is not allowed for SELECT DISTINCT queries"
        )
    return clustering


def _eq_restricted(table: TableMetadata, restrictions: Restrictions) -> set[str]:
    names: set[str] = set()
    if restrictions.partition_values is not None:
        for column, values in zip(table.partition_key, restrictions.partition_values, strict=True):
            if len(values) == 1:
                names.add(column.name)
    for column, values in zip(
        table.clustering_columns, restrictions.clustering_prefix, strict=False
    ):
        if len(values) == 1:
            names.add(column.name)
    return names


def aggregation_warnings(statement: Select, table: TableMetadata) -> tuple[str, ...]:
    """The client warnings Cassandra sends with an aggregation or GROUP BY query.

    As SelectStatement does: without any restriction on the partition key (a token range
    or a filtered partition key column counts as one), or with an IN on it.
    """
    key_names = {c.name for c in table.partition_key}
    on_key = [
        r
        for r in statement.where
        if isinstance(r, TokenRelation)
        or (isinstance(r, SingleColumnRelation) and r.column in key_names)
    ]
    if not on_key:
        return (WITHOUT_PARTITION_KEY,)
    if any(isinstance(r, SingleColumnRelation) and r.operator is Operator.IN for r in on_key):
        return (ON_MULTIPLE_PARTITIONS,)
    return ()


class _Group:
    """The accumulators of one group and its first row."""

    def __init__(self, outs: Sequence[Output]) -> None:
        self.outs = outs
        self.accumulators = [o.aggregate.new() if o.aggregate else None for o in outs]
        self.first: tuple[bytes | None, ...] | None = None

    def add(self, row: Any, tok: int, pk: bytes) -> None:
        if self.first is None:
            self.first = tuple(None if o.aggregate else o.compute(row, tok, pk) for o in self.outs)
        for output, accumulator in zip(self.outs, self.accumulators, strict=True):
            if accumulator is not None:
                accumulator.add(output.compute(row, tok, pk))

    def result(self) -> tuple[bytes | None, ...]:
        first = self.first or (None,) * len(self.outs)
        values: list[bytes | None] = []
        for output, accumulator, value in zip(self.outs, self.accumulators, first, strict=True):
            if accumulator is None:
                values.append(value)
            elif output.finish is None:
                values.append(accumulator.result())
            else:
                values.append(output.finish(accumulator.result()))
        return tuple(values)


def _value(row: Any, name: str) -> bytes | None:
    cell = row.get(name)
    return None if cell is None else cell[0]


@dataclass(frozen=True, slots=True)
class GroupPageEnd:
    """Where a page of groups ended: the last row of its last group, and the count of groups
    already given in that row's partition (for PER PARTITION LIMIT on the next page)."""

    index: int
    token: int
    pk: bytes
    ck: bytes
    groups_in_partition: int


def aggregate_rows(
    outs: Sequence[Output],
    source: Iterable[tuple[int, int, bytes, bytes, Any]],
    group_by: Sequence[str] | None,
    limit: int,
    per_partition: int,
    page_size: int | None = None,
    resumed: tuple[int, bytes, int] | None = None,
) -> tuple[list[tuple[bytes | None, ...]], GroupPageEnd | None]:
    """The result rows of an aggregation: one per group of rows sharing their partition and
    the clustering columns ``group_by`` (None: one row over everything).

    With GROUP BY, a page holds at most ``page_size`` groups, as Cassandra's
    AggregationQueryPager pages them; the second value then says where the page ended when
    another group follows. ``resumed`` is the (token, pk, groups given in it) of the
    partition a previous page ended in.
    """
    if group_by is None:
        everything = _Group(outs)
        for _index, tok, pk, _ck, row in source:
            everything.add(row, tok, pk)
        return [everything.result()], None
    rows: list[tuple[bytes | None, ...]] = []
    group: _Group | None = None
    group_key: tuple[Any, ...] | None = None
    partition: tuple[int, bytes] | None = None
    groups_in_partition = 0
    if resumed is not None:
        partition, groups_in_partition = (resumed[0], resumed[1]), resumed[2]
    skipping = False
    last: tuple[int, int, bytes, bytes] | None = None
    end: GroupPageEnd | None = None
    for index, tok, pk, ck, row in source:
        key = (tok, pk, *[_value(row, name) for name in group_by])
        if key != group_key:
            if group is not None:
                rows.append(group.result())
                group = None
            if len(rows) >= limit:
                break
            if page_size is not None and len(rows) >= page_size and last is not None:
                end = GroupPageEnd(*last, groups_in_partition)
                break
            group_key = key
            if (tok, pk) != partition:
                partition, groups_in_partition = (tok, pk), 0
            skipping = groups_in_partition >= per_partition
            if skipping:
                last = (index, tok, pk, ck)
                continue
            groups_in_partition += 1
            group = _Group(outs)
        if not skipping and group is not None:
            group.add(row, tok, pk)
        last = (index, tok, pk, ck)
    if group is not None and len(rows) < limit:
        rows.append(group.result())
    return rows, end


__all__ = [
    "ON_MULTIPLE_PARTITIONS",
    "WITHOUT_PARTITION_KEY",
    "GroupPageEnd",
    "aggregate_rows",
    "aggregation_warnings",
    "group_by_prefix",
]
