"""DDL statements turned into schema changes (the rules themselves live in _schema_changes)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cassflow.cql import (
    AddColumns,
    AlterKeyspace,
    AlterTable,
    AlterTableProperties,
    CreateKeyspace,
    CreateTable,
    DropColumns,
    DropKeyspace,
    DropTable,
    Literal,
    LiteralKind,
    MapLiteral,
    Property,
    RenameColumns,
    Statement,
)
from cassflow.devserver import _schema_changes as changes
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import (
    ClusteringOrder,
    ColumnMetadata,
    Schema,
    SchemaUpdate,
    TableMetadata,
)
from cassflow.devserver._schema_options import PropertyValue, TableOptions
from cassflow.protocol import DataType


def _literal(value: Literal) -> Any:
    if value.kind is LiteralKind.STRING:
        return value.text
    if value.kind is LiteralKind.INTEGER:
        return int(value.text)
    if value.kind is LiteralKind.FLOAT:
        return (
            float(value.text)
            if value.text.lower() in ("nan", "infinity", "-infinity")
            else Decimal(value.text)
        )
    if value.kind is LiteralKind.BOOLEAN:
        return value.text.lower() == "true"
    return value.text


def properties(items: tuple[Property, ...]) -> dict[str, PropertyValue]:
    """``WITH a = x AND b = {...}`` as plain values."""
    result: dict[str, PropertyValue] = {}
    for item in items:
        if item.name in result:
            raise InvalidRequestError(f"Multiple definitions for property '{item.name}'")
        if isinstance(item.value, MapLiteral):
            mapping: dict[str, Any] = {}
            for key, val in item.value.entries:
                if not isinstance(key, Literal) or not isinstance(val, Literal):
                    raise InvalidRequestError(f"Invalid value for property '{item.name}'")
                mapping[str(_literal(key))] = _literal(val)
            result[item.name] = mapping
        else:
            result[item.name] = _literal(item.value)
    return result


def _resolver(schema: Schema, keyspace: str) -> Any:
    def resolve(ks: str | None, name: str) -> DataType:
        udt = schema.user_type(ks or keyspace, name)
        if udt is None:
            raise InvalidRequestError(f"Unknown type {ks or keyspace}.{name}")
        return udt.data_type

    return resolve


def _replication(props: Mapping[str, PropertyValue]) -> dict[str, str | int] | None:
    value = props.get("replication")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequestError("Invalid value for property 'replication'")
    return {
        k: (v if isinstance(v, int) and not isinstance(v, bool) else str(v))
        for k, v in value.items()
    }


def _durable(props: Mapping[str, PropertyValue]) -> bool | None:
    value = props.get("durable_writes")
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequestError(f"Invalid boolean value {value} for 'durable_writes'")


def _check_known(props: Mapping[str, PropertyValue], known: set[str]) -> None:
    for name in props:
        if name not in known:
            raise InvalidRequestError(f"Unknown property '{name}'")


def apply_ddl(schema: Schema, statement: Statement, keyspace: str | None) -> SchemaUpdate:
    """Apply one DDL statement; ``keyspace`` is the session's (for unqualified names)."""
    if isinstance(statement, CreateKeyspace):
        props = properties(statement.properties)
        _check_known(props, {"replication", "durable_writes"})
        durable = _durable(props)
        return changes.create_keyspace(
            schema,
            statement.keyspace,
            _replication(props),
            durable_writes=True if durable is None else durable,
            if_not_exists=statement.if_not_exists,
        )
    if isinstance(statement, AlterKeyspace):
        props = properties(statement.properties)
        _check_known(props, {"replication", "durable_writes"})
        return changes.alter_keyspace(
            schema,
            statement.keyspace,
            replication=_replication(props),
            durable_writes=_durable(props),
            if_exists=statement.if_exists,
        )
    if isinstance(statement, DropKeyspace):
        return changes.drop_keyspace(schema, statement.keyspace, if_exists=statement.if_exists)
    if isinstance(statement, CreateTable | AlterTable | DropTable):
        ks = statement.table.keyspace or keyspace
        if ks is None:
            raise InvalidRequestError(
                "No keyspace has been specified. USE a keyspace, or explicitly specify "
                "keyspace.tablename"
            )
        if isinstance(statement, CreateTable):
            return changes.create_table(
                schema, _table(schema, ks, statement), if_not_exists=statement.if_not_exists
            )
        if isinstance(statement, DropTable):
            return changes.drop_table(
                schema, ks, statement.table.name, if_exists=statement.if_exists
            )
        return _alter_table(schema, ks, statement)
    raise InvalidRequestError(
        f"The dev server does not support {type(statement).__name__} statements yet"
    )


def _table(schema: Schema, keyspace: str, statement: CreateTable) -> TableMetadata:
    if schema.keyspace(keyspace) is None:
        raise InvalidRequestError(f"Keyspace '{keyspace}' doesn't exist")
    resolve = _resolver(schema, keyspace)
    definitions = {d.name: d for d in statement.columns}
    if len(definitions) != len(statement.columns):
        raise InvalidRequestError("Duplicate column names")
    order = dict(statement.clustering_order)
    for name in order:
        if name not in statement.clustering_columns:
            raise InvalidRequestError(
                f"Only clustering key columns can be defined in CLUSTERING ORDER directive: "
                f"{name} is not a clustering column"
            )
    columns: list[ColumnMetadata] = []
    for position, name in enumerate(statement.partition_key):
        definition = definitions.get(name)
        if definition is None:
            raise InvalidRequestError(f"Unknown definition {name} referenced in PRIMARY KEY")
        columns.append(
            ColumnMetadata.partition_key(
                name,
                definition.type.to_data_type(resolve),
                position,
                frozen=not definition.type.is_multi_cell and _freezable(definition.type),
            )
        )
    for position, name in enumerate(statement.clustering_columns):
        definition = definitions.get(name)
        if definition is None:
            raise InvalidRequestError(f"Unknown definition {name} referenced in PRIMARY KEY")
        descending = order.get(name, False)
        columns.append(
            ColumnMetadata.clustering(
                name,
                definition.type.to_data_type(resolve),
                position,
                ClusteringOrder.DESC if descending else ClusteringOrder.ASC,
                frozen=not definition.type.is_multi_cell and _freezable(definition.type),
            )
        )
    keys = set(statement.partition_key) | set(statement.clustering_columns)
    for definition in statement.columns:
        if definition.name in keys:
            if definition.static:
                raise InvalidRequestError(
                    f"Static column {definition.name} cannot be part of the PRIMARY KEY"
                )
            continue
        maker = ColumnMetadata.static if definition.static else ColumnMetadata.regular
        columns.append(
            maker(
                definition.name,
                definition.type.to_data_type(resolve),
                frozen=not definition.type.is_multi_cell and _freezable(definition.type),
            )
        )
    props = properties(statement.properties)
    options = TableOptions().with_changes(props) if props else TableOptions()
    return TableMetadata(
        keyspace=keyspace, name=statement.table.name, columns=tuple(columns), options=options
    )


def _freezable(cql_type: Any) -> bool:
    from cassflow.cql import CollectionType, UserType  # noqa: PLC0415 - avoid a long import list

    return isinstance(cql_type, CollectionType | UserType)


def _alter_table(schema: Schema, keyspace: str, statement: AlterTable) -> SchemaUpdate:
    action, name = statement.action, statement.table.name
    if isinstance(action, AddColumns):
        resolve = _resolver(schema, keyspace)
        columns = [
            (ColumnMetadata.static if d.static else ColumnMetadata.regular)(
                d.name,
                d.type.to_data_type(resolve),
                frozen=not d.type.is_multi_cell and _freezable(d.type),
            )
            for d in action.columns
        ]
        return changes.alter_table_add(
            schema,
            keyspace,
            name,
            columns,
            if_exists=statement.if_exists,
            if_column_not_exists=action.if_not_exists,
        )
    if isinstance(action, DropColumns):
        timestamp = action.timestamp if action.timestamp is not None else time.time_ns() // 1000
        return changes.alter_table_drop(
            schema,
            keyspace,
            name,
            list(action.columns),
            timestamp=timestamp,
            if_exists=statement.if_exists,
            if_column_exists=action.if_exists,
        )
    if isinstance(action, RenameColumns):
        return changes.alter_table_rename(
            schema,
            keyspace,
            name,
            dict(action.renames),
            if_exists=statement.if_exists,
            if_column_exists=action.if_exists,
        )
    if isinstance(action, AlterTableProperties):
        return changes.alter_table_options(
            schema, keyspace, name, properties(action.properties), if_exists=statement.if_exists
        )
    raise InvalidRequestError(f"The dev server does not support {action.to_cql()} yet")


__all__ = ["apply_ddl", "properties"]
