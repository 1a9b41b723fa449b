"""GROUP BY and aggregation: folding the rows of a SELECT into one row per group.

As Cassandra: GROUP BY names primary key columns in their declared order (the partition key
whole, then a clustering prefix; columns restricted by ``=`` may be skipped). Without GROUP BY
an aggregate query gives one row over all rows (even none). Plain columns beside aggregates
show the group's first row. With GROUP BY, LIMIT counts groups and PER PARTITION LIMIT counts
groups per partition; without it both limits apply to the single result row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cassflow.cql import ColumnSelector, Operator, Select, SingleColumnRelation
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


def aggregation_warnings(
    statement: Select, table: TableMetadata, restrictions: Restrictions
) -> tuple[str, ...]:
    """The client warnings Cassandra sends with an aggregation or GROUP BY query."""
    if (
        restrictions.partition_values is None
        and restrictions.token_lower is None
        and (restrictions.token_upper is None)
    ):
        return (WITHOUT_PARTITION_KEY,)
    key_names = {c.name for c in table.partition_key}
    if any(
        isinstance(r, SingleColumnRelation) and r.column in key_names and r.operator is Operator.IN
        for r in statement.where
    ):
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


def aggregate_rows(
    outs: Sequence[Output],
    source: Iterable[tuple[int, int, bytes, bytes, Any]],
    group_by: Sequence[str] | None,
    limit: int,
    per_partition: int,
) -> list[tuple[bytes | None, ...]]:
    """The result rows of an aggregation: one per group of rows sharing their partition and
    the clustering columns ``group_by`` (None: one row over everything)."""
    if group_by is None:
        everything = _Group(outs)
        for _index, tok, pk, _ck, row in source:
            everything.add(row, tok, pk)
        return [everything.result()]
    rows: list[tuple[bytes | None, ...]] = []
    group: _Group | None = None
    group_key: tuple[Any, ...] | None = None
    partition: tuple[int, bytes] | None = None
    groups_in_partition = 0
    skipping = False
    for _index, tok, pk, _ck, row in source:
        key = (tok, pk, *[_value(row, name) for name in group_by])
        if key != group_key:
            if group is not None:
                rows.append(group.result())
                group = None
            group_key = key
            if (tok, pk) != partition:
                partition, groups_in_partition = (tok, pk), 0
            skipping = groups_in_partition >= per_partition
            if skipping:
                continue
            if len(rows) >= limit:
                break
            groups_in_partition += 1
            group = _Group(outs)
        if not skipping and group is not None:
            group.add(row, tok, pk)
    if group is not None and len(rows) < limit:
        rows.append(group.result())
    return rows


__all__ = [
    "ON_MULTIPLE_PARTITIONS",
    "WITHOUT_PARTITION_KEY",
    "aggregate_rows",
    "aggregation_warnings",
    "group_by_prefix",
]
