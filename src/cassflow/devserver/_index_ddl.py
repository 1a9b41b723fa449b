"""CREATE INDEX / DROP INDEX for built-in secondary indexes (Cassandra 4.1's
``CreateIndexStatement`` and ``DropIndexStatement``, with their checks and texts).

An index changes no data: queries restricted by an indexed column are answered by scanning
and filtering (see ``_where``), which returns what Cassandra's index returns. CUSTOM indexes
are refused as a stock 4.1 node refuses them: SASI is disabled in its cassandra.yaml, and it
bundles no other custom index class.
"""

from __future__ import annotations

import re
from dataclasses import replace

from cassflow.cql import CreateIndex, DropIndex, IndexTargetKind
from cassflow.devserver._disabled_ddl import SASI_CLASS, SASI_DISABLED
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import (
    ColumnKind,
    ColumnMetadata,
    IndexMetadata,
    KeyspaceMetadata,
    Schema,
    SchemaConfigError,
    SchemaInvalidError,
    SchemaUpdate,
    TableMetadata,
)
from cassflow.devserver._schema_changes import (
    authorize_schema_change,
    check_schema_statement,
    table_updated,
)
from cassflow.protocol import DataType, TypeCode

_COLLECTIONS = frozenset({TypeCode.LIST, TypeCode.SET, TypeCode.MAP})
_NON_WORD = re.compile(r"\W")
_WORD = re.compile(r"\w+", re.ASCII)


def create_index(schema: Schema, keyspace: str, statement: CreateIndex) -> SchemaUpdate:
    """``CREATE INDEX [IF NOT EXISTS] [name] ON table (target)``."""
    if statement.properties and not statement.custom:
        raise InvalidRequestError("Cannot specify options for a non-CUSTOM index")
    if statement.custom and statement.using is None:
        # The misspelling is Cassandra's (IndexAttributes.validate).
        raise InvalidRequestError("CUSTOM index requires specifiying the index class")
    if statement.custom and statement.using == SASI_CLASS:
        raise InvalidRequestError(SASI_DISABLED)
    table_name = statement.table.name
    authorize_schema_change(keyspace, "ALTER", f"<table {keyspace}.{table_name}>")
    check_schema_statement(schema, keyspace)
    ks = schema.keyspace(keyspace)
    if ks is None:
        raise SchemaInvalidError(f"Keyspace '{keyspace}' doesn't exist")
    table = ks.table(table_name)
    if table is None:
        raise SchemaInvalidError(f"Table '{table_name}' doesn't exist")
    if statement.name is not None and _indexed_table(ks, statement.name) is not None:
        if statement.if_not_exists:
            return SchemaUpdate(schema, None)
        raise SchemaInvalidError(f"Index '{statement.name}' already exists")
    if table.is_counter:
        raise SchemaInvalidError("Secondary indexes on counter tables aren't supported")
    if statement.custom:
        # Cassandra 4.1 bundles no custom index but SASI (refused above, as it is disabled);
        # IndexMetadata.validate cannot load any other class.
        raise SchemaConfigError(f"Unable to find custom indexer class '{statement.using}'")
    if len(statement.targets) > 1:
        raise SchemaInvalidError("Only CUSTOM indexes support multiple columns")
    target = statement.targets[0]
    column = table.column(target.column)
    if column is None:
        raise InvalidRequestError(
            f"Undefined column name {target.column} in table {table.cql_name}"
        )
    kind = target.kind.value.lower()
    if target.kind is IndexTargetKind.SIMPLE and column.type.code in _COLLECTIONS:
        kind = "values"
    _check_target(table, column, kind)
    name = statement.name or _available_name(ks, f"{table.name}_{column.name}_idx")
    if not _WORD.fullmatch(name):
        raise SchemaConfigError(f"Illegal index name {name}")
    index = IndexMetadata(name=name, column=column.name, target_type=kind)
    for existing in table.indexes:
        if (existing.column, existing.target_type) == (index.column, index.target_type):
            if statement.if_not_exists:
                return SchemaUpdate(schema, None)
            raise SchemaInvalidError(
                f"Index {name} is a duplicate of existing index {existing.name}"
            )
    return table_updated(schema, ks, table, replace(table, indexes=(*table.indexes, index)))


def drop_index(schema: Schema, keyspace: str, statement: DropIndex) -> SchemaUpdate:
    """``DROP INDEX [IF EXISTS] [keyspace.]name``."""
    name = statement.name.name
    ks = schema.keyspace(keyspace)
    table = None if ks is None else _indexed_table(ks, name)
    if ks is None or table is None:
        if statement.if_exists:
            return SchemaUpdate(schema, None)
        # The stray quote at the end is Cassandra's own.
        raise SchemaInvalidError(f"Index '{keyspace}.{name}' doesn't exist'")
    authorize_schema_change(keyspace, "ALTER", f"<table {keyspace}.{table.name}>")
    check_schema_statement(schema, keyspace)
    new = replace(table, indexes=tuple(i for i in table.indexes if i.name != name))
    return table_updated(schema, ks, table, new)


def dependent_indexes(table: TableMetadata, column: str) -> list[str]:
    """The names of ``table``'s indexes on ``column``."""
    return [i.name for i in table.indexes if i.column == column]


def _indexed_table(ks: KeyspaceMetadata, index: str) -> TableMetadata | None:
    """``KeyspaceMetadata.findIndexedTable``: index names are unique in a keyspace."""
    return next((t for t in ks.tables.values() if t.index(index) is not None), None)


def _available_name(ks: KeyspaceMetadata, base: str) -> str:
    """``IndexMetadata.generateDefaultIndexName`` then ``findAvailableIndexName``."""
    base = _NON_WORD.sub("", base)
    name, suffix = base, 1
    while _indexed_table(ks, name) is not None:
        name, suffix = f"{base}_{suffix}", suffix + 1
    return name


def _references_duration(dtype: DataType) -> bool:
    return dtype.code is TypeCode.DURATION or any(_references_duration(p) for p in dtype.params)


def _check_target(table: TableMetadata, column: ColumnMetadata, kind: str) -> None:
    """``CreateIndexStatement.validateIndexTarget``, in its order."""
    code = column.type.code
    is_collection = code in _COLLECTIONS
    if _references_duration(column.type):
        if is_collection:
            what = "collections containing durations"
        elif code is TypeCode.TUPLE:
            what = "tuples containing durations"
        elif code is TypeCode.UDT:
            what = "UDTs containing durations"
        else:
            what = "duration columns"
        raise SchemaInvalidError(f"Secondary indexes are not supported on {what}")
    if column.kind is ColumnKind.PARTITION_KEY and len(table.partition_key) == 1:
        raise SchemaInvalidError(
            f"Cannot create secondary index on the only partition key column {column.name}"
        )
    frozen_collection = is_collection and not column.is_multi_cell
    if frozen_collection and kind != "full":
        raise SchemaInvalidError(
            f"Cannot create {kind}() index on frozen column {column.name}. Frozen collections "
            f"are immutable and must be fully indexed by using the 'full({column.name})' modifier"
        )
    if not frozen_collection and kind == "full":
        raise SchemaInvalidError("full() indexes can only be created on frozen collections")
    if not is_collection and kind != "simple":
        raise SchemaInvalidError(
            f"Cannot create {kind}() index on {column.name}. Non-collection columns only "
            "support simple indexes"
        )
    if kind in ("keys", "entries") and not (code is TypeCode.MAP and column.is_multi_cell):
        raise SchemaInvalidError(
            f"Cannot create index on {kind} of column {column.name} with non-map type"
        )
    if code is TypeCode.UDT and column.is_multi_cell:
        raise SchemaInvalidError(f"Cannot create index on non-frozen UDT column {column.name}")


__all__ = ["create_index", "dependent_indexes", "drop_index"]
