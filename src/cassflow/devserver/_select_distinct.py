"""SELECT DISTINCT's rules, as Cassandra's SelectStatement checks them.

No PER PARTITION LIMIT; WHERE may only restrict partition key and static columns; the
selectors may only read partition key and static columns (checked as they compile); and a
query over a range of partitions must select every partition key column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from cassflow.cql import (
    ColumnSelector,
    ElementRelation,
    MultiColumnRelation,
    Select,
    Selectable,
    SingleColumnRelation,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import ColumnKind, TableMetadata


def _columns(node: object) -> Iterator[str]:
    """The names of the columns a selector reads, at any depth."""
    if isinstance(node, ColumnSelector):
        yield node.name
        return
    if isinstance(node, tuple):
        for item in node:
            yield from _columns(item)
        return
    if isinstance(node, Selectable) and dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            yield from _columns(getattr(node, field.name))


def _restricted(statement: Select) -> Iterator[str]:
    for relation in statement.where:
        if isinstance(relation, SingleColumnRelation | ElementRelation):
            yield relation.column
        elif isinstance(relation, MultiColumnRelation):
            yield from relation.columns


def check_distinct(statement: Select, table: TableMetadata, key_range: bool) -> None:
    """Refuse what Cassandra refuses in a SELECT DISTINCT; ``key_range`` when the partition
    key is not restricted to given partitions (a scan or a token range)."""
    if not statement.distinct:
        return
    if statement.per_partition_limit is not None:
        raise InvalidRequestError("PER PARTITION LIMIT is not allowed with SELECT DISTINCT queries")
    for name in _restricted(statement):
        column = table.column(name)
        if column is not None and column.kind in (ColumnKind.CLUSTERING, ColumnKind.REGULAR):
            raise InvalidRequestError(
                "SELECT DISTINCT with WHERE clause only supports restriction by partition key "
                "and/or static columns."
            )
    if not statement.selectors:  # DISTINCT *: every column is requested
        for column in table.columns:
            if column.kind in (ColumnKind.CLUSTERING, ColumnKind.REGULAR):
                raise InvalidRequestError(
                    "SELECT DISTINCT queries must only request partition key columns and/or "
                    f"static columns (not {column.name})"
                )
    if not key_range or not statement.selectors:
        return
    selected = set(_columns(tuple(s.selectable for s in statement.selectors)))
    for column in table.partition_key:
        if column.name not in selected:
            raise InvalidRequestError(
                "SELECT DISTINCT queries must request all the partition key columns "
                f"(missing {column.name})"
            )


__all__ = ["check_distinct"]
