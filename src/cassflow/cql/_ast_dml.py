"""AST of the data statements: SELECT, INSERT, UPDATE, DELETE, BATCH, USE and TRUNCATE."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cassflow.cql._ast import Term
from cassflow.cql._ast_select import Selectable, Selector
from cassflow.cql._ast_where import ColumnCondition, Deletion, Operation, Ordering, Relation
from cassflow.cql._node import Node, QualifiedName, Statement
from cassflow.cql._quote import ident


def _where(relations: tuple[Relation, ...]) -> str:
    return " WHERE " + " AND ".join(r.to_cql() for r in relations) if relations else ""


def _if(if_exists: bool, conditions: tuple[ColumnCondition, ...]) -> str:
    if if_exists:
        return " IF EXISTS"
    return " IF " + " AND ".join(c.to_cql() for c in conditions) if conditions else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Using(Node):
    """``USING TTL ... AND TIMESTAMP ...``: each a term (an integer or a bind marker)."""

    ttl: Term | None = None
    timestamp: Term | None = None

    def to_cql(self) -> str:
        parts = []
        if self.ttl is not None:
            parts.append(f"TTL {self.ttl.to_cql()}")
        if self.timestamp is not None:
            parts.append(f"TIMESTAMP {self.timestamp.to_cql()}")
        return " USING " + " AND ".join(parts) if parts else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Select(Statement):
    """``SELECT [JSON] [DISTINCT] selectors FROM table [WHERE ...] [GROUP BY ...]
    [ORDER BY ...] [PER PARTITION LIMIT n] [LIMIT n] [ALLOW FILTERING]``.

    ``selectors`` is empty for ``*``.
    """

    table: QualifiedName
    selectors: tuple[Selector, ...] = ()
    json: bool = False
    distinct: bool = False
    where: tuple[Relation, ...] = ()
    group_by: tuple[Selectable, ...] = ()
    order_by: tuple[Ordering, ...] = ()
    per_partition_limit: Term | None = None
    limit: Term | None = None
    allow_filtering: bool = False

    def to_cql(self) -> str:
        text = "SELECT "
        if self.json:
            text += "JSON "
        if self.distinct:
            text += "DISTINCT "
        text += ", ".join(s.to_cql() for s in self.selectors) if self.selectors else "*"
        text += f" FROM {self.table.to_cql()}{_where(self.where)}"
        if self.group_by:
            text += " GROUP BY " + ", ".join(g.to_cql() for g in self.group_by)
        if self.order_by:
            text += " ORDER BY " + ", ".join(o.to_cql() for o in self.order_by)
        if self.per_partition_limit is not None:
            text += f" PER PARTITION LIMIT {self.per_partition_limit.to_cql()}"
        if self.limit is not None:
            text += f" LIMIT {self.limit.to_cql()}"
        return text + " ALLOW FILTERING" if self.allow_filtering else text


@dataclass(frozen=True, slots=True, kw_only=True)
class Insert(Statement):
    """``INSERT INTO table (columns) VALUES (values)`` or ``INSERT INTO table JSON value
    [DEFAULT NULL|UNSET]``, then ``[IF NOT EXISTS] [USING ...]``.

    For the JSON form ``json`` holds the value (a string literal or a bind marker) and
    ``columns``/``values`` are empty. Column and value counts are not checked here: Cassandra
    checks them after it has found the table.
    """

    table: QualifiedName
    columns: tuple[str, ...] = ()
    values: tuple[Term, ...] = ()
    json: Term | None = None
    default_unset: bool = False
    if_not_exists: bool = False
    using: Using = Using()

    def to_cql(self) -> str:
        text = f"INSERT INTO {self.table.to_cql()}"
        if self.json is not None:
            text += f" JSON {self.json.to_cql()}"
            if self.default_unset:
                text += " DEFAULT UNSET"
        else:
            text += " (" + ", ".join(ident(c) for c in self.columns) + ")"
            text += " VALUES (" + ", ".join(v.to_cql() for v in self.values) + ")"
        if self.if_not_exists:
            text += " IF NOT EXISTS"
        return text + self.using.to_cql()


@dataclass(frozen=True, slots=True, kw_only=True)
class Update(Statement):
    """``UPDATE table [USING ...] SET ... WHERE ... [IF EXISTS | IF conditions]``."""

    table: QualifiedName
    operations: tuple[Operation, ...]
    where: tuple[Relation, ...]
    using: Using = Using()
    if_exists: bool = False
    conditions: tuple[ColumnCondition, ...] = ()

    def to_cql(self) -> str:
        ops = ", ".join(o.to_cql() for o in self.operations)
        return (
            f"UPDATE {self.table.to_cql()}{self.using.to_cql()} SET {ops}{_where(self.where)}"
            + _if(self.if_exists, self.conditions)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Delete(Statement):
    """``DELETE [selections] FROM table [USING TIMESTAMP t] WHERE ... [IF ...]``;
    no selection deletes whole rows."""

    table: QualifiedName
    where: tuple[Relation, ...]
    deletions: tuple[Deletion, ...] = ()
    timestamp: Term | None = None
    if_exists: bool = False
    conditions: tuple[ColumnCondition, ...] = ()

    def to_cql(self) -> str:
        text = "DELETE "
        if self.deletions:
            text += ", ".join(d.to_cql() for d in self.deletions) + " "
        text += f"FROM {self.table.to_cql()}"
        if self.timestamp is not None:
            text += f" USING TIMESTAMP {self.timestamp.to_cql()}"
        return text + _where(self.where) + _if(self.if_exists, self.conditions)


class BatchKind(StrEnum):
    """The kind of a BATCH."""

    LOGGED = "LOGGED"
    UNLOGGED = "UNLOGGED"
    COUNTER = "COUNTER"


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch(Statement):
    """``BEGIN [UNLOGGED|COUNTER] BATCH [USING TIMESTAMP ...] ... APPLY BATCH``. Bind marker
    indexes run across the whole batch."""

    statements: tuple[Insert | Update | Delete, ...]
    kind: BatchKind = BatchKind.LOGGED
    using: Using = Using()

    def to_cql(self) -> str:
        kind = "" if self.kind is BatchKind.LOGGED else self.kind.value + " "
        body = "".join(f" {s.to_cql()};" for s in self.statements)
        return f"BEGIN {kind}BATCH{self.using.to_cql()}{body} APPLY BATCH"


@dataclass(frozen=True, slots=True, kw_only=True)
class Use(Statement):
    """``USE keyspace``."""

    keyspace: str

    def to_cql(self) -> str:
        return f"USE {ident(self.keyspace)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Truncate(Statement):
    """``TRUNCATE [TABLE] table``."""

    table: QualifiedName

    def to_cql(self) -> str:
        return f"TRUNCATE {self.table.to_cql()}"
