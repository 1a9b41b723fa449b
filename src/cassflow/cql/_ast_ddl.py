"""AST of the schema statements: keyspaces, tables, types, indexes, materialized views,
functions, aggregates and triggers."""

from __future__ import annotations

from dataclasses import dataclass

from cassflow.cql._ast import Literal, LiteralKind, MapLiteral, Term
from cassflow.cql._node import Node, QualifiedName, Statement
from cassflow.cql._quote import function_ident, ident, qualified
from cassflow.cql._types import CqlType


def if_not_exists_text(flag: bool) -> str:
    """`` IF NOT EXISTS`` when ``flag``."""
    return " IF NOT EXISTS" if flag else ""


def if_exists_text(flag: bool) -> str:
    """`` IF EXISTS`` when ``flag``."""
    return " IF EXISTS" if flag else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Property(Node):
    """``name = value`` in a WITH clause. ``value`` is a constant (a bare keyword value such as
    ``ALL`` is kept as a string literal: Cassandra only sees its text) or a map of constants."""

    name: str
    value: Literal | MapLiteral

    @property
    def raw(self) -> str | dict[str, str]:
        """The value as Cassandra's property code sees it: text, or a map of texts."""
        if isinstance(self.value, Literal):
            return self.value.text
        return {
            k.text: v.text
            for k, v in self.value.entries
            if isinstance(k, Literal) and isinstance(v, Literal)
        }

    def to_cql(self) -> str:
        return f"{ident(self.name)} = {self.value.to_cql()}"


def with_text(properties: tuple[Property, ...], extra: tuple[str, ...] = ()) -> str:
    """`` WITH a = 1 AND ...`` (empty without properties)."""
    parts = (*extra, *(p.to_cql() for p in properties))
    return " WITH " + " AND ".join(parts) if parts else ""


def keyword_value(word: str) -> Literal:
    """The property value of a bare keyword (``caching = ALL``)."""
    return Literal(kind=LiteralKind.STRING, text=word)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateKeyspace(Statement):
    """``CREATE KEYSPACE [IF NOT EXISTS] ks WITH replication = {...} AND ...``."""

    keyspace: str
    properties: tuple[Property, ...]
    if_not_exists: bool = False

    def to_cql(self) -> str:
        head = f"CREATE KEYSPACE{if_not_exists_text(self.if_not_exists)} {ident(self.keyspace)}"
        return head + with_text(self.properties)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterKeyspace(Statement):
    """``ALTER KEYSPACE [IF EXISTS] ks WITH ...``."""

    keyspace: str
    properties: tuple[Property, ...]
    if_exists: bool = False

    def to_cql(self) -> str:
        head = f"ALTER KEYSPACE{if_exists_text(self.if_exists)} {ident(self.keyspace)}"
        return head + with_text(self.properties)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropKeyspace(Statement):
    """``DROP KEYSPACE [IF EXISTS] ks``."""

    keyspace: str
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP KEYSPACE{if_exists_text(self.if_exists)} {ident(self.keyspace)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnMask(Node):
    """``MASKED WITH DEFAULT`` (``function`` None) or ``MASKED WITH f(args)`` (5.0)."""

    function: QualifiedName | None = None
    args: tuple[Term, ...] = ()

    def to_cql(self) -> str:
        if self.function is None:
            return "MASKED WITH DEFAULT"
        name = qualified(self.function.keyspace, self.function.name, function_ident)
        return f"MASKED WITH {name}({', '.join(a.to_cql() for a in self.args)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnDefinition(Node):
    """``name type [STATIC] [MASKED WITH ...]``."""

    name: str
    type: CqlType
    static: bool = False
    mask: ColumnMask | None = None

    def to_cql(self) -> str:
        text = f"{ident(self.name)} {self.type.to_cql()}"
        if self.static:
            text += " STATIC"
        return text if self.mask is None else f"{text} {self.mask.to_cql()}"


def primary_key_text(partition_key: tuple[str, ...], clustering: tuple[str, ...]) -> str:
    """``PRIMARY KEY ((pk...), ck...)``."""
    if len(partition_key) == 1:
        first = ident(partition_key[0])
    else:
        first = "(" + ", ".join(ident(c) for c in partition_key) + ")"
    names = (first, *map(ident, clustering))
    return "PRIMARY KEY (" + ", ".join(names) + ")"


def clustering_order_text(order: tuple[tuple[str, bool], ...]) -> tuple[str, ...]:
    """The CLUSTERING ORDER BY option, as a WITH clause part."""
    if not order:
        return ()
    entries = ", ".join(f"{ident(c)} {'DESC' if desc else 'ASC'}" for c, desc in order)
    return (f"CLUSTERING ORDER BY ({entries})",)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTable(Statement):
    """``CREATE TABLE [IF NOT EXISTS] t (columns, PRIMARY KEY (...)) [WITH ...]``.

    The primary key is the same whether it was declared inline or in its own clause.
    ``clustering_order`` lists (column, descending) as written in CLUSTERING ORDER BY.
    """

    table: QualifiedName
    columns: tuple[ColumnDefinition, ...]
    partition_key: tuple[str, ...]
    clustering_columns: tuple[str, ...] = ()
    clustering_order: tuple[tuple[str, bool], ...] = ()
    properties: tuple[Property, ...] = ()
    if_not_exists: bool = False

    def to_cql(self) -> str:
        columns = [c.to_cql() for c in self.columns]
        columns.append(primary_key_text(self.partition_key, self.clustering_columns))
        head = f"CREATE TABLE{if_not_exists_text(self.if_not_exists)} {self.table.to_cql()}"
        body = f" ({', '.join(columns)})"
        return (
            head + body + with_text(self.properties, clustering_order_text(self.clustering_order))
        )


class AlterTableAction(Node):
    """What an ALTER TABLE does."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterColumnType(AlterTableAction):
    """``ALTER c TYPE t`` (parsed; Cassandra 4+ refuses it once it has found the table)."""

    column: str
    type: CqlType

    def to_cql(self) -> str:
        return f"ALTER {ident(self.column)} TYPE {self.type.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterColumnMask(AlterTableAction):
    """``ALTER [IF EXISTS] c MASKED WITH ...`` or ``... DROP MASKED`` (``mask`` None)."""

    column: str
    mask: ColumnMask | None
    if_exists: bool = False

    def to_cql(self) -> str:
        mask = "DROP MASKED" if self.mask is None else self.mask.to_cql()
        return f"ALTER{if_exists_text(self.if_exists)} {ident(self.column)} {mask}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AddColumns(AlterTableAction):
    """``ADD [IF NOT EXISTS] c type`` or ``ADD (a type, b type)``."""

    columns: tuple[ColumnDefinition, ...]
    if_not_exists: bool = False

    def to_cql(self) -> str:
        columns = ", ".join(c.to_cql() for c in self.columns)
        return f"ADD{if_not_exists_text(self.if_not_exists)} ({columns})"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropColumns(AlterTableAction):
    """``DROP [IF EXISTS] c`` or ``DROP (a, b)``, optionally ``USING TIMESTAMP n``."""

    columns: tuple[str, ...]
    if_exists: bool = False
    timestamp: int | None = None

    def to_cql(self) -> str:
        text = f"DROP{if_exists_text(self.if_exists)} ({', '.join(map(ident, self.columns))})"
        return text if self.timestamp is None else f"{text} USING TIMESTAMP {self.timestamp}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RenameColumns(AlterTableAction):
    """``RENAME [IF EXISTS] a TO b [AND c TO d ...]``."""

    renames: tuple[tuple[str, str], ...]
    if_exists: bool = False

    def to_cql(self) -> str:
        pairs = " AND ".join(f"{ident(a)} TO {ident(b)}" for a, b in self.renames)
        return f"RENAME{if_exists_text(self.if_exists)} {pairs}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropCompactStorage(AlterTableAction):
    """``DROP COMPACT STORAGE``."""

    def to_cql(self) -> str:
        return "DROP COMPACT STORAGE"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterTableProperties(AlterTableAction):
    """``WITH name = value AND ...``."""

    properties: tuple[Property, ...]

    def to_cql(self) -> str:
        return with_text(self.properties).lstrip()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterTable(Statement):
    """``ALTER TABLE [IF EXISTS] t <action>``."""

    table: QualifiedName
    action: AlterTableAction
    if_exists: bool = False

    def to_cql(self) -> str:
        head = f"ALTER TABLE{if_exists_text(self.if_exists)} {self.table.to_cql()}"
        return f"{head} {self.action.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropTable(Statement):
    """``DROP TABLE [IF EXISTS] t``."""

    table: QualifiedName
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP TABLE{if_exists_text(self.if_exists)} {self.table.to_cql()}"
