"""DDL statements turned into schema changes (the rules themselves live in _schema_changes)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from cassflow.cql import (
    AddColumns,
    AddField,
    AlterColumnType,
    AlterKeyspace,
    AlterTable,
    AlterTableProperties,
    AlterType,
    CollectionType,
    CqlInvalidError,
    CqlType,
    CreateIndex,
    CreateKeyspace,
    CreateTable,
    CreateType,
    DropColumns,
    DropCompactStorage,
    DropIndex,
    DropKeyspace,
    DropTable,
    DropType,
    Literal,
    LiteralKind,
    MapLiteral,
    NativeType,
    Property,
    RenameColumns,
    RenameFields,
    Statement,
    UserType,
)
from cassflow.devserver import _schema_changes as changes
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._index_ddl import create_index, drop_index
from cassflow.devserver._schema import (
    SYSTEM_KEYSPACES,
    ClusteringOrder,
    ColumnMetadata,
    Schema,
    SchemaInvalidError,
    SchemaUpdate,
    TableMetadata,
)
from cassflow.devserver._schema import UserType as UserTypeMetadata
from cassflow.devserver._schema_options import PropertyValue, TableOptions
from cassflow.devserver._schema_types import references_user_type
from cassflow.protocol import DataType

#: KeyspaceAttributes' options, and graph_engine, a DSE option Cassandra accepts and ignores.
_KEYSPACE_PROPERTIES = frozenset({"replication", "durable_writes", "graph_engine"})
_GRAPH_ENGINE_IGNORED = "The unsupported graph property 'graph_engine' was ignored."
_NO_KEYSPACE = (
    "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename"
)


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


def _check_known(props: Mapping[str, PropertyValue], known: frozenset[str]) -> None:
    for name in props:
        if name not in known:
            raise InvalidRequestError(f"Unknown property '{name}'")


def apply_ddl(schema: Schema, statement: Statement, keyspace: str | None) -> SchemaUpdate:
    """Apply one DDL statement; ``keyspace`` is the session's (for unqualified names)."""
    try:
        return _apply(schema, statement, keyspace)
    except CqlInvalidError as exc:  # a declared type Cassandra refuses to prepare
        raise InvalidRequestError(str(exc)) from None


def _apply(schema: Schema, statement: Statement, keyspace: str | None) -> SchemaUpdate:
    if isinstance(statement, CreateKeyspace):
        props = properties(statement.properties)
        _check_known(props, _KEYSPACE_PROPERTIES)
        durable = _durable(props)
        update = changes.create_keyspace(
            schema,
            statement.keyspace,
            _replication(props),
            durable_writes=True if durable is None else durable,
            if_not_exists=statement.if_not_exists,
        )
        if update.change is not None and "graph_engine" in props:
            update = replace(update, warnings=(*update.warnings, _GRAPH_ENGINE_IGNORED))
        return update
    if isinstance(statement, AlterKeyspace):
        props = properties(statement.properties)
        _check_known(props, _KEYSPACE_PROPERTIES)
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
            raise InvalidRequestError(_NO_KEYSPACE)
        if isinstance(statement, CreateTable):
            existing = schema.keyspace(ks)
            table = existing.table(statement.table.name) if existing is not None else None
            if table is None:
                table = _table(schema, ks, statement)
            # An existing table ends CREATE TABLE (no-op with IF NOT EXISTS, AlreadyExists
            # without) before its definition is checked, as CreateTableStatement.apply does.
            return changes.create_table(schema, table, if_not_exists=statement.if_not_exists)
        if isinstance(statement, DropTable):
            return changes.drop_table(
                schema, ks, statement.table.name, if_exists=statement.if_exists
            )
        return _alter_table(schema, ks, statement)
    if isinstance(statement, CreateType | AlterType | DropType):
        return _type_ddl(schema, statement, keyspace)
    if isinstance(statement, CreateIndex):
        ks = statement.table.keyspace or keyspace
        if ks is None:
            raise InvalidRequestError(_NO_KEYSPACE)
        return create_index(schema, ks, statement)
    if isinstance(statement, DropIndex):
        ks = statement.name.keyspace or keyspace
        if ks is None:
            raise InvalidRequestError(_NO_KEYSPACE)
        return drop_index(schema, ks, statement)
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
    table_name = statement.table.name
    key_names = (*statement.partition_key, *statement.clustering_columns)
    for position, name in enumerate(key_names):
        # CreateTableStatement.builder's checks of each PRIMARY KEY column (the type checks
        # follow in create_table).
        if name not in definitions:
            raise InvalidRequestError(
                f"Unknown column '{name}' referenced in PRIMARY KEY for table '{table_name}'"
            )
        if name in key_names[:position]:
            raise InvalidRequestError(
                f"Duplicate column '{name}' in PRIMARY KEY clause for table '{table_name}'"
            )
        if definitions[name].static:
            raise InvalidRequestError(f"Static column '{name}' cannot be part of the PRIMARY KEY")
    if order and list(order) != list(statement.clustering_columns):
        raise InvalidRequestError(
            "Clustering key columns must exactly match columns in CLUSTERING ORDER BY directive"
        )
    columns: list[ColumnMetadata] = []
    for position, name in enumerate(statement.partition_key):
        definition = definitions[name]
        columns.append(
            ColumnMetadata.partition_key(
                name,
                definition.type.to_data_type(resolve),
                position,
                frozen=_frozen(definition.type),
            )
        )
    for position, name in enumerate(statement.clustering_columns):
        definition = definitions[name]
        descending = order.get(name, False)
        columns.append(
            ColumnMetadata.clustering(
                name,
                definition.type.to_data_type(resolve),
                position,
                ClusteringOrder.DESC if descending else ClusteringOrder.ASC,
                frozen=_frozen(definition.type),
            )
        )
    keys = set(statement.partition_key) | set(statement.clustering_columns)
    for definition in statement.columns:
        if definition.name in keys:
            continue
        maker = ColumnMetadata.static if definition.static else ColumnMetadata.regular
        columns.append(
            maker(
                definition.name,
                definition.type.to_data_type(resolve),
                frozen=_frozen(definition.type),
            )
        )
    props = properties(statement.properties)
    options = TableOptions().with_changes(props) if props else TableOptions()
    return TableMetadata(
        keyspace=keyspace, name=statement.table.name, columns=tuple(columns), options=options
    )


def _freezable(cql_type: Any) -> bool:
    return isinstance(cql_type, CollectionType | UserType)


def _frozen(cql_type: CqlType) -> bool:
    """The top-level frozen flag the schema keeps for a declared type."""
    return not cql_type.is_multi_cell and _freezable(cql_type)


def _alter_table(schema: Schema, keyspace: str, statement: AlterTable) -> SchemaUpdate:
    action, name = statement.action, statement.table.name
    if isinstance(action, AddColumns):
        resolve = _resolver(schema, keyspace)
        columns = [
            (ColumnMetadata.static if d.static else ColumnMetadata.regular)(
                d.name,
                d.type.to_data_type(resolve),
                frozen=_frozen(d.type),
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
    if isinstance(action, AlterColumnType | DropCompactStorage):
        if schema.table(keyspace, name) is None:
            # The table's absence is reported (or ignored under IF EXISTS) before the action.
            return changes.alter_table_options(
                schema, keyspace, name, {}, if_exists=statement.if_exists
            )
        if isinstance(action, AlterColumnType):
            raise SchemaInvalidError("Altering column types is no longer supported")
        # drop_compact_storage_enabled is false in a stock cassandra.yaml.
        raise InvalidRequestError(
            "DROP COMPACT STORAGE is disabled. Enable in cassandra.yaml to use."
        )
    raise InvalidRequestError(f"The dev server does not support {action.to_cql()} yet")


def _type_ddl(
    schema: Schema, statement: CreateType | AlterType | DropType, keyspace: str | None
) -> SchemaUpdate:
    """CREATE / ALTER / DROP TYPE (``CreateTypeStatement``, ``AlterTypeStatement``...)."""
    ks = statement.name.keyspace or keyspace
    if ks is None:
        raise InvalidRequestError(_NO_KEYSPACE)
    name = statement.name.name
    if isinstance(statement, DropType):
        return changes.drop_type(schema, ks, name, if_exists=statement.if_exists)
    if isinstance(statement, CreateType):
        return _create_type(schema, ks, statement)
    action = statement.action
    if isinstance(action, RenameFields):
        return changes.alter_type_rename_fields(
            schema,
            ks,
            name,
            dict(action.renames),
            if_exists=statement.if_exists,
            if_field_exists=action.if_exists,
        )
    existing = schema.user_type(ks, name)
    if existing is None:
        # The type's absence is reported (or ignored under IF EXISTS) before the action.
        return changes.alter_type_rename_fields(schema, ks, name, {}, if_exists=statement.if_exists)
    if not isinstance(action, AddField):
        raise SchemaInvalidError("Altering field types is no longer supported")
    if action.field in existing.field_names and action.if_not_exists:
        return SchemaUpdate(schema, None)
    if action.field not in existing.field_names:
        # AddField's order: an existing field, then the type (unknown types), then a
        # circular reference (reported by the schema change), before the field rules.
        field_type = action.type.to_data_type(_resolver(schema, ks))
        if not references_user_type(field_type, ks, name):
            _check_raw_field(action.type)
    else:
        field_type = existing.field_types[existing.field_names.index(action.field)]
    return changes.alter_type_add_field(
        schema,
        ks,
        name,
        action.field,
        field_type,
        frozen=_frozen(action.type),
        if_exists=statement.if_exists,
        if_field_not_exists=action.if_not_exists,
    )


def _check_raw_field(cql_type: CqlType) -> None:
    """The checks Cassandra makes on a field's type as written, before resolving it."""
    if isinstance(cql_type, NativeType) and cql_type.name == "counter":
        raise SchemaInvalidError("A user type cannot contain counters")
    if isinstance(cql_type, UserType) and not cql_type.frozen:
        raise SchemaInvalidError("A user type cannot contain non-frozen UDTs")


def _create_type(schema: Schema, keyspace: str, statement: CreateType) -> SchemaUpdate:
    ks = schema.keyspace(keyspace)
    name = statement.name.name
    if ks is None or ks.user_type(name) is not None or keyspace in SYSTEM_KEYSPACES:
        # System keyspaces, a missing keyspace, IF NOT EXISTS and "already exists": the
        # schema change's own checks answer before the fields are looked at.
        placeholder = UserTypeMetadata(keyspace=keyspace, name=name, field_names=(), field_types=())
        return changes.create_type(schema, placeholder, if_not_exists=statement.if_not_exists)
    seen: set[str] = set()
    for field_name, _type in statement.fields:
        if field_name in seen:
            raise SchemaInvalidError(f"Duplicate field name '{field_name}' in type '{name}'")
        seen.add(field_name)
    for _name, field_type in statement.fields:
        _check_raw_field(field_type)
    resolve = _resolver(schema, keyspace)
    udt = UserTypeMetadata(
        keyspace=keyspace,
        name=name,
        field_names=tuple(n for n, _t in statement.fields),
        field_types=tuple(t.to_data_type(resolve) for _n, t in statement.fields),
        field_frozen=tuple(_frozen(t) for _n, t in statement.fields),
    )
    return changes.create_type(schema, udt, if_not_exists=statement.if_not_exists)


__all__ = ["apply_ddl", "properties"]
