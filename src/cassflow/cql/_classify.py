"""What a statement is, in the terms a server or an authorizing proxy decides with: its verb,
the keyspace and table it names, its bind markers and whether it is a lightweight transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from enum import StrEnum

from cassflow.cql._ast import BindMarker
from cassflow.cql._ast_auth import (
    Describe,
    DescribeKind,
    GrantPermissions,
    KeyspaceResource,
    ListPermissions,
    Resource,
    RevokePermissions,
    TableResource,
)
from cassflow.cql._ast_ddl import (
    AlterKeyspace,
    AlterTable,
    CreateKeyspace,
    CreateTable,
    DropKeyspace,
    DropTable,
)
from cassflow.cql._ast_dml import Batch, Delete, Insert, Select, Truncate, Update, Use
from cassflow.cql._ast_schema import (
    AlterMaterializedView,
    AlterType,
    CreateAggregate,
    CreateFunction,
    CreateIndex,
    CreateMaterializedView,
    CreateTrigger,
    CreateType,
    DropAggregate,
    DropFunction,
    DropIndex,
    DropMaterializedView,
    DropTrigger,
    DropType,
)
from cassflow.cql._node import Node, QualifiedName, Statement


class Verb(StrEnum):
    """The family of a statement."""

    SELECT = "SELECT"
    MODIFY = "MODIFY"
    DDL = "DDL"
    AUTH = "AUTH"
    USE = "USE"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """The facts about a statement that do not need the schema.

    ``keyspace``/``table`` are as written (``keyspace`` None when the statement relies on the
    session's keyspace). ``tables`` lists every (keyspace, table) the statement reads or
    writes: one pair for most statements, all of them for a BATCH (whose ``keyspace`` and
    ``table`` are set only when every statement names the same table). ``bind_names`` has one
    entry per bind marker, in index order (None for ``?``).
    """

    verb: Verb
    keyspace: str | None = None
    table: str | None = None
    tables: tuple[tuple[str | None, str], ...] = ()
    bind_count: int = 0
    bind_names: tuple[str | None, ...] = ()
    conditional: bool = False


_DDL_TABLE = (CreateTable, AlterTable, DropTable, CreateIndex, CreateTrigger, DropTrigger)
_DDL_NAMED = (
    CreateMaterializedView,
    AlterMaterializedView,
    DropMaterializedView,
    CreateType,
    AlterType,
    DropType,
    DropIndex,
)
_DDL_FUNCTION = (CreateFunction, DropFunction, CreateAggregate, DropAggregate)


def bind_markers(node: Node) -> list[BindMarker]:
    """Every bind marker in ``node``, in index order."""
    found: list[BindMarker] = []
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, BindMarker):
            found.append(item)
        elif isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, Node) and is_dataclass(item):
            stack.extend(getattr(item, f.name) for f in fields(item))
    found.sort(key=lambda marker: marker.index)
    return found


def _target(statement: Statement) -> tuple[Verb, QualifiedName | None, str | None]:
    """The verb, the table named (if any) and the keyspace named otherwise."""
    if isinstance(statement, Select):
        return Verb.SELECT, statement.table, None
    if isinstance(statement, Insert | Update | Delete | Truncate):
        return Verb.MODIFY, statement.table, None
    if isinstance(statement, Use):
        return Verb.USE, None, statement.keyspace
    if isinstance(statement, CreateKeyspace | AlterKeyspace | DropKeyspace):
        return Verb.DDL, None, statement.keyspace
    if isinstance(statement, _DDL_TABLE):
        return Verb.DDL, statement.table, None
    if isinstance(statement, _DDL_NAMED):
        table = statement.name if isinstance(statement, _VIEWS) else None
        return Verb.DDL, table, statement.name.keyspace
    if isinstance(statement, _DDL_FUNCTION):
        return Verb.DDL, None, statement.function.keyspace
    if isinstance(statement, GrantPermissions | RevokePermissions | ListPermissions):
        return Verb.AUTH, *_resource_target(statement.resource)
    if isinstance(statement, Describe):
        if statement.kind in (DescribeKind.TABLE, DescribeKind.MATERIALIZED_VIEW):
            assert statement.name is not None
            return Verb.OTHER, QualifiedName(keyspace=statement.keyspace, name=statement.name), None
        return Verb.OTHER, None, statement.keyspace
    if type(statement).__module__.endswith("_ast_auth"):
        return Verb.AUTH, None, None
    return Verb.OTHER, None, None


_VIEWS = (CreateMaterializedView, AlterMaterializedView, DropMaterializedView)


def _resource_target(resource: Resource | None) -> tuple[QualifiedName | None, str | None]:
    if isinstance(resource, TableResource):
        return resource.table, None
    if isinstance(resource, KeyspaceResource):
        return None, resource.keyspace
    return None, None


def classify(statement: Statement) -> Classification:
    """Classify a parsed statement (cheap enough to do per request, cacheable per text)."""
    markers = bind_markers(statement)
    names = tuple(m.name for m in markers)
    if isinstance(statement, Batch):
        pairs = tuple(dict.fromkeys((s.table.keyspace, s.table.name) for s in statement.statements))
        single = pairs[0] if len(pairs) == 1 else (None, None)
        return Classification(
            verb=Verb.MODIFY,
            keyspace=single[0],
            table=single[1],
            tables=pairs,
            bind_count=len(markers),
            bind_names=names,
            conditional=any(_conditional(s) for s in statement.statements),
        )
    verb, table, keyspace = _target(statement)
    return Classification(
        verb=verb,
        keyspace=table.keyspace if table is not None else keyspace,
        table=None if table is None else table.name,
        tables=() if table is None else ((table.keyspace, table.name),),
        bind_count=len(markers),
        bind_names=names,
        conditional=_conditional(statement),
    )


def _conditional(statement: Statement) -> bool:
    if isinstance(statement, Insert):
        return statement.if_not_exists
    if isinstance(statement, Update | Delete):
        return statement.if_exists or bool(statement.conditions)
    return False
