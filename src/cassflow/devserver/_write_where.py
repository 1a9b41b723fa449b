"""The WHERE clause of an UPDATE or DELETE: what Cassandra refuses before it reads any value.

Cassandra's ``StatementRestrictions`` treats a modification's partition key first: a
``token()`` relation is refused, then a partition key column without a relation, then a
slice on the partition key; only then the clustering columns (an UPDATE names whole rows,
a DELETE may name a range) and, last, restrictions on other columns. The checks here run
before the general WHERE analysis (shared with SELECT, whose messages differ) so that a
modification answers with the modification's messages, in Cassandra's order.
"""

from __future__ import annotations

from collections.abc import Sequence

from cassflow.cql import (
    MultiColumnRelation,
    Operator,
    Relation,
    SingleColumnRelation,
    TokenRelation,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import ColumnKind, TableMetadata
from cassflow.devserver._where import known_column

_EQUALITY = (Operator.EQ, Operator.IN)


def check_partition_key(kind: str, table: TableMetadata, where: Sequence[Relation]) -> None:
    """``processPartitionKeyRestrictions`` for a statement that cannot name key ranges.

    ``kind`` is ``UPDATE`` or ``DELETE``, as Cassandra names the statement in its messages.
    """
    restricted: set[str] = set()
    has_token = has_slice = False
    for relation in where:
        if isinstance(relation, TokenRelation):
            has_token = True
        elif isinstance(relation, MultiColumnRelation):
            columns = [known_column(table, name) for name in relation.columns]
            if any(c.kind is not ColumnKind.CLUSTERING for c in columns):
                return  # refused while the relations are read (the WHERE analysis says how)
        elif isinstance(relation, SingleColumnRelation):
            column = known_column(table, relation.column)
            if column.kind is ColumnKind.PARTITION_KEY:
                restricted.add(column.name)
                has_slice = has_slice or relation.operator not in _EQUALITY
    if has_token:
        raise InvalidRequestError(
            f"The token function cannot be used in WHERE clauses for {kind} statements"
        )
    missing = [c.name for c in table.partition_key if c.name not in restricted]
    if missing:
        raise InvalidRequestError(f"Some partition key parts are missing: {', '.join(missing)}")
    if has_slice:
        raise InvalidRequestError(
            "Only EQ and IN relation are supported on the partition key (unless you use the "
            f"token() function) for {kind} statements"
        )


def non_primary_key_error(names: Sequence[str]) -> InvalidRequestError:
    """Cassandra's refusal of restrictions on columns outside the primary key (its message
    ends with a space)."""
    return InvalidRequestError(
        f"Non PRIMARY KEY columns found in where clause: {', '.join(names)} "
    )


__all__ = ["check_partition_key", "non_primary_key_error"]
