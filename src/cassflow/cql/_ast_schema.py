"""AST of the schema statements beyond keyspaces and tables: user types, indexes, materialized
views, functions, aggregates and triggers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cassflow.cql._ast import Term
from cassflow.cql._ast_ddl import (
    Property,
    clustering_order_text,
    if_exists_text,
    if_not_exists_text,
    primary_key_text,
    with_text,
)
from cassflow.cql._ast_select import Selector
from cassflow.cql._ast_where import Relation
from cassflow.cql._node import Node, QualifiedName, Statement
from cassflow.cql._quote import function_ident, ident, qualified, string, type_ident
from cassflow.cql._types import CqlType


def _type_name(name: QualifiedName) -> str:
    return qualified(name.keyspace, name.name, type_ident)


def _function_name(name: QualifiedName) -> str:
    return qualified(name.keyspace, name.name, function_ident)


def _types(types: tuple[CqlType, ...]) -> str:
    return "(" + ", ".join(t.to_cql() for t in types) + ")"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateType(Statement):
    """``CREATE TYPE [IF NOT EXISTS] name (field type, ...)``."""

    name: QualifiedName
    fields: tuple[tuple[str, CqlType], ...]
    if_not_exists: bool = False

    def to_cql(self) -> str:
        fields = ", ".join(f"{ident(n)} {t.to_cql()}" for n, t in self.fields)
        head = f"CREATE TYPE{if_not_exists_text(self.if_not_exists)} {_type_name(self.name)}"
        return f"{head} ({fields})"


class AlterTypeAction(Node):
    """What an ALTER TYPE does."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterFieldType(AlterTypeAction):
    """``ALTER field TYPE t``."""

    field: str
    type: CqlType

    def to_cql(self) -> str:
        return f"ALTER {ident(self.field)} TYPE {self.type.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AddField(AlterTypeAction):
    """``ADD [IF NOT EXISTS] field type``."""

    field: str
    type: CqlType
    if_not_exists: bool = False

    def to_cql(self) -> str:
        head = f"ADD{if_not_exists_text(self.if_not_exists)}"
        return f"{head} {ident(self.field)} {self.type.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RenameFields(AlterTypeAction):
    """``RENAME [IF EXISTS] a TO b [AND ...]``."""

    renames: tuple[tuple[str, str], ...]
    if_exists: bool = False

    def to_cql(self) -> str:
        pairs = " AND ".join(f"{ident(a)} TO {ident(b)}" for a, b in self.renames)
        return f"RENAME{if_exists_text(self.if_exists)} {pairs}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterType(Statement):
    """``ALTER TYPE [IF EXISTS] name <action>``."""

    name: QualifiedName
    action: AlterTypeAction
    if_exists: bool = False

    def to_cql(self) -> str:
        head = f"ALTER TYPE{if_exists_text(self.if_exists)} {_type_name(self.name)}"
        return f"{head} {self.action.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropType(Statement):
    """``DROP TYPE [IF EXISTS] name``."""

    name: QualifiedName
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP TYPE{if_exists_text(self.if_exists)} {_type_name(self.name)}"


class IndexTargetKind(StrEnum):
    """What an index covers of its column."""

    SIMPLE = "SIMPLE"
    VALUES = "VALUES"
    KEYS = "KEYS"
    ENTRIES = "ENTRIES"
    FULL = "FULL"


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexTarget(Node):
    """``c``, ``VALUES(c)``, ``KEYS(c)``, ``ENTRIES(c)`` or ``FULL(c)``."""

    column: str
    kind: IndexTargetKind = IndexTargetKind.SIMPLE

    def to_cql(self) -> str:
        if self.kind is IndexTargetKind.SIMPLE:
            return ident(self.column)
        return f"{self.kind.value}({ident(self.column)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateIndex(Statement):
    """``CREATE [CUSTOM] INDEX [IF NOT EXISTS] [name] ON t (targets) [USING 'class']
    [WITH ...]``."""

    table: QualifiedName
    targets: tuple[IndexTarget, ...]
    name: str | None = None
    custom: bool = False
    using: str | None = None
    properties: tuple[Property, ...] = ()
    if_not_exists: bool = False

    def to_cql(self) -> str:
        text = "CREATE CUSTOM INDEX" if self.custom else "CREATE INDEX"
        text += if_not_exists_text(self.if_not_exists)
        if self.name is not None:
            text += " " + ident(self.name)
        targets = ", ".join(t.to_cql() for t in self.targets)
        text += f" ON {self.table.to_cql()} ({targets})"
        if self.using is not None:
            text += f" USING {string(self.using)}"
        return text + with_text(self.properties)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropIndex(Statement):
    """``DROP INDEX [IF EXISTS] [ks.]name``."""

    name: QualifiedName
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP INDEX{if_exists_text(self.if_exists)} {self.name.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateMaterializedView(Statement):
    """``CREATE MATERIALIZED VIEW [IF NOT EXISTS] v AS SELECT ... FROM t WHERE ...
    PRIMARY KEY (...) [WITH ...]`` (``selectors`` empty for ``*``)."""

    name: QualifiedName
    base_table: QualifiedName
    partition_key: tuple[str, ...]
    selectors: tuple[Selector, ...] = ()
    where: tuple[Relation, ...] = ()
    clustering_columns: tuple[str, ...] = ()
    clustering_order: tuple[tuple[str, bool], ...] = ()
    properties: tuple[Property, ...] = ()
    if_not_exists: bool = False

    def to_cql(self) -> str:
        text = f"CREATE MATERIALIZED VIEW{if_not_exists_text(self.if_not_exists)} "
        selectors = ", ".join(s.to_cql() for s in self.selectors) if self.selectors else "*"
        text += f"{self.name.to_cql()} AS SELECT {selectors} FROM {self.base_table.to_cql()}"
        if self.where:
            text += " WHERE " + " AND ".join(r.to_cql() for r in self.where)
        text += " " + primary_key_text(self.partition_key, self.clustering_columns)
        return text + with_text(self.properties, clustering_order_text(self.clustering_order))


@dataclass(frozen=True, slots=True, kw_only=True)
class AlterMaterializedView(Statement):
    """``ALTER MATERIALIZED VIEW [IF EXISTS] v WITH ...``."""

    name: QualifiedName
    properties: tuple[Property, ...]
    if_exists: bool = False

    def to_cql(self) -> str:
        head = f"ALTER MATERIALIZED VIEW{if_exists_text(self.if_exists)} {self.name.to_cql()}"
        return head + with_text(self.properties)


@dataclass(frozen=True, slots=True, kw_only=True)
class DropMaterializedView(Statement):
    """``DROP MATERIALIZED VIEW [IF EXISTS] v``."""

    name: QualifiedName
    if_exists: bool = False

    def to_cql(self) -> str:
        return f"DROP MATERIALIZED VIEW{if_exists_text(self.if_exists)} {self.name.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateFunction(Statement):
    """``CREATE [OR REPLACE] FUNCTION [IF NOT EXISTS] f(arg type, ...) (CALLED|RETURNS NULL)
    ON NULL INPUT RETURNS type LANGUAGE lang AS 'body'``."""

    function: QualifiedName
    arguments: tuple[tuple[str, CqlType], ...]
    return_type: CqlType
    language: str
    body: str
    called_on_null_input: bool = False
    or_replace: bool = False
    if_not_exists: bool = False

    def to_cql(self) -> str:
        text = "CREATE OR REPLACE FUNCTION" if self.or_replace else "CREATE FUNCTION"
        text += if_not_exists_text(self.if_not_exists)
        args = ", ".join(f"{ident(n)} {t.to_cql()}" for n, t in self.arguments)
        text += f" {_function_name(self.function)}({args})"
        text += " CALLED" if self.called_on_null_input else " RETURNS NULL"
        text += f" ON NULL INPUT RETURNS {self.return_type.to_cql()}"
        return text + f" LANGUAGE {self.language} AS {string(self.body)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropFunction(Statement):
    """``DROP FUNCTION [IF EXISTS] f[(types)]`` (``argument_types`` None without the list)."""

    function: QualifiedName
    argument_types: tuple[CqlType, ...] | None = None
    if_exists: bool = False

    def to_cql(self) -> str:
        text = f"DROP FUNCTION{if_exists_text(self.if_exists)} {_function_name(self.function)}"
        return text if self.argument_types is None else text + _types(self.argument_types)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateAggregate(Statement):
    """``CREATE [OR REPLACE] AGGREGATE [IF NOT EXISTS] a(types) SFUNC f STYPE t
    [FINALFUNC g] [INITCOND term]``."""

    function: QualifiedName
    argument_types: tuple[CqlType, ...]
    state_function: str
    state_type: CqlType
    final_function: str | None = None
    initial_condition: Term | None = None
    or_replace: bool = False
    if_not_exists: bool = False

    def to_cql(self) -> str:
        text = "CREATE OR REPLACE AGGREGATE" if self.or_replace else "CREATE AGGREGATE"
        text += if_not_exists_text(self.if_not_exists)
        text += f" {_function_name(self.function)}{_types(self.argument_types)}"
        text += f" SFUNC {function_ident(self.state_function)} STYPE {self.state_type.to_cql()}"
        if self.final_function is not None:
            text += f" FINALFUNC {function_ident(self.final_function)}"
        if self.initial_condition is not None:
            text += f" INITCOND {self.initial_condition.to_cql()}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class DropAggregate(Statement):
    """``DROP AGGREGATE [IF EXISTS] a[(types)]``."""

    function: QualifiedName
    argument_types: tuple[CqlType, ...] | None = None
    if_exists: bool = False

    def to_cql(self) -> str:
        text = f"DROP AGGREGATE{if_exists_text(self.if_exists)} {_function_name(self.function)}"
        return text if self.argument_types is None else text + _types(self.argument_types)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTrigger(Statement):
    """``CREATE TRIGGER [IF NOT EXISTS] name ON t USING 'class'``."""

    name: str
    table: QualifiedName
    using: str
    if_not_exists: bool = False

    def to_cql(self) -> str:
        head = f"CREATE TRIGGER{if_not_exists_text(self.if_not_exists)} {ident(self.name)}"
        return f"{head} ON {self.table.to_cql()} USING {string(self.using)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DropTrigger(Statement):
    """``DROP TRIGGER [IF EXISTS] name ON t``."""

    name: str
    table: QualifiedName
    if_exists: bool = False

    def to_cql(self) -> str:
        head = f"DROP TRIGGER{if_exists_text(self.if_exists)} {ident(self.name)}"
        return f"{head} ON {self.table.to_cql()}"
