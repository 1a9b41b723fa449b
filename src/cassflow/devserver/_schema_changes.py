"""DDL as pure functions: ``(schema, statement parts) -> SchemaUpdate``, Cassandra 4.1's rules.

Each function checks what Cassandra checks, in the same order, and raises the same error:
first the authorization step that protects system keyspaces (``Unauthorized``), then the
statement's own checks (``Invalid``, ``ConfigError``, ``AlreadyExists``). A no-op under
``IF [NOT] EXISTS`` returns the schema unchanged with ``change=None``.

The executor turns the parsed statement into :class:`ColumnMetadata` / :class:`TableMetadata`
/ :class:`UserType` objects (resolving user type names against the schema) and calls these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from cassflow.devserver._schema import (
    LOCAL_SYSTEM_KEYSPACES,
    NAME_LENGTH,
    REPLICATED_SYSTEM_KEYSPACES,
    ColumnKind,
    ColumnMetadata,
    DroppedColumn,
    KeyspaceMetadata,
    Schema,
    SchemaUpdate,
    TableMetadata,
    UserType,
    is_valid_name,
)
from cassflow.devserver._schema_options import (
    PropertyValue,
    SchemaAlreadyExistsError,
    SchemaConfigError,
    SchemaInvalidError,
    SchemaUnauthorizedError,
    validate_replication,
)
from cassflow.devserver._schema_types import (
    contains,
    cql_type,
    expand_user_types,
    maybe_quote,
    references_user_type,
    replace_user_type,
    walk,
)
from cassflow.protocol import DataType, SchemaChange, SchemaChangeTarget, SchemaChangeType, TypeCode

__all__ = [
    "DEFAULT_DATACENTERS",
    "alter_keyspace",
    "alter_table_add",
    "alter_table_drop",
    "alter_table_options",
    "alter_table_rename",
    "alter_type_add_field",
    "alter_type_rename_fields",
    "authorize_schema_change",
    "check_schema_statement",
    "create_keyspace",
    "create_table",
    "create_type",
    "drop_keyspace",
    "drop_table",
    "drop_type",
    "table_updated",
]

#: A single node in one data center, as ``cassflow dev`` runs.
DEFAULT_DATACENTERS: Mapping[str, int] = {"datacenter1": 1}

_RF_INCREASE_WARNING = (
    "When increasing replication factor you need to run a full (-full) repair to distribute "
    "the data."
)

# --- guards -----------------------------------------------------------------------------------


def _authorize(
    keyspace: str, permission: str, resource: str, *, keyspace_alter: bool = False
) -> None:
    """``ClientState.preventSystemKSSchemaModification``: runs before the statement."""
    if keyspace.lower() in LOCAL_SYSTEM_KEYSPACES:
        raise SchemaUnauthorizedError(f"{keyspace} keyspace is not user-modifiable.")
    if keyspace.lower() in REPLICATED_SYSTEM_KEYSPACES and not keyspace_alter:
        raise SchemaUnauthorizedError(f"Cannot {permission} {resource}")


def _check_statement(schema: Schema, keyspace: str) -> None:
    """``AlterSchemaStatement.execute``'s checks, common to every DDL statement."""
    if keyspace.lower() in LOCAL_SYSTEM_KEYSPACES:
        raise SchemaInvalidError(f"System keyspace '{keyspace}' is not user-modifiable")
    existing = schema.keyspace(keyspace)
    if existing is not None and existing.virtual:
        raise SchemaInvalidError(f"Virtual keyspace '{keyspace}' is not user-modifiable")
    if not is_valid_name(keyspace):
        raise SchemaInvalidError(
            f"Keyspace name must not be empty, more than {NAME_LENGTH} characters long, or "
            f"contain non-alphanumeric-underscore characters (got '{keyspace}')"
        )


def _keyspace_resource(keyspace: str) -> str:
    return f"<keyspace {keyspace}>"


def _table_resource(keyspace: str, table: str) -> str:
    return f"<table {keyspace}.{table}>"


def _existing_keyspace(schema: Schema, keyspace: str) -> KeyspaceMetadata:
    ks = schema.keyspace(keyspace)
    if ks is None:
        raise SchemaInvalidError(f"Keyspace '{keyspace}' doesn't exist")
    return ks


def _change(
    kind: SchemaChangeType, target: SchemaChangeTarget, keyspace: str, name: str | None = None
) -> SchemaChange:
    return SchemaChange(change_type=kind, target=target, keyspace=keyspace, name=name)


def _updated(
    schema: Schema, keyspace: KeyspaceMetadata, change: SchemaChange, warnings: Sequence[str] = ()
) -> SchemaUpdate:
    return SchemaUpdate(schema.with_keyspace(keyspace, change), change, tuple(warnings))


def _unchanged(schema: Schema) -> SchemaUpdate:
    return SchemaUpdate(schema, None)


def authorize_schema_change(keyspace: str, permission: str, resource: str) -> None:
    """The system keyspace guard every schema statement runs first (for other modules)."""
    _authorize(keyspace, permission, resource)


def check_schema_statement(schema: Schema, keyspace: str) -> None:
    """``AlterSchemaStatement``'s common checks (for other modules)."""
    _check_statement(schema, keyspace)


def table_updated(
    schema: Schema, keyspace: KeyspaceMetadata, old: TableMetadata, new: TableMetadata
) -> SchemaUpdate:
    """``new`` in place of ``old``, announced as an UPDATED TABLE change."""
    return _table_updated(schema, keyspace, old, new)


# --- keyspaces --------------------------------------------------------------------------------


def create_keyspace(
    schema: Schema,
    name: str,
    replication: Mapping[str, str | int] | None,
    *,
    durable_writes: bool = True,
    if_not_exists: bool = False,
    datacenters: Mapping[str, int] = DEFAULT_DATACENTERS,
) -> SchemaUpdate:
    """``CREATE KEYSPACE [IF NOT EXISTS] name WITH replication = {...} [AND durable_writes]``."""
    _check_statement(schema, name)
    if replication and "class" not in replication:
        raise SchemaConfigError("Missing replication strategy class")
    if replication is None:
        raise SchemaInvalidError("Missing mandatory option 'replication'")
    if schema.keyspace(name) is not None:
        if if_not_exists:
            return _unchanged(schema)
        raise SchemaAlreadyExistsError(name)
    validated = validate_replication(name, replication, datacenters=datacenters)
    keyspace = KeyspaceMetadata(
        name=name, replication=validated.options, durable_writes=durable_writes
    )
    change = _change(SchemaChangeType.CREATED, SchemaChangeTarget.KEYSPACE, name)
    return _updated(schema, keyspace, change, validated.warnings)


def alter_keyspace(
    schema: Schema,
    name: str,
    *,
    replication: Mapping[str, str | int] | None = None,
    durable_writes: bool | None = None,
    if_exists: bool = False,
    datacenters: Mapping[str, int] = DEFAULT_DATACENTERS,
) -> SchemaUpdate:
    """``ALTER KEYSPACE [IF EXISTS] name WITH ...``: new replication and/or durable_writes."""
    _authorize(name, "ALTER", _keyspace_resource(name), keyspace_alter=True)
    _check_statement(schema, name)
    if replication and "class" not in replication:
        raise SchemaConfigError("Missing replication strategy class")
    keyspace = schema.keyspace(name)
    if keyspace is None:
        if if_exists:
            return _unchanged(schema)
        raise SchemaInvalidError(f"Keyspace '{name}' doesn't exist")
    warnings: list[str] = []
    new_replication = dict(keyspace.replication)
    if replication is not None:
        validated = validate_replication(
            name, replication, datacenters=datacenters, previous=keyspace.replication
        )
        new_replication = validated.options
        warnings.extend(validated.warnings)
    altered = replace(
        keyspace,
        replication=new_replication,
        durable_writes=keyspace.durable_writes if durable_writes is None else durable_writes,
    )
    if altered == keyspace:
        return _unchanged(schema)
    if _total_rf(new_replication) > _total_rf(keyspace.replication):
        warnings.append(_RF_INCREASE_WARNING)
    change = _change(SchemaChangeType.UPDATED, SchemaChangeTarget.KEYSPACE, name)
    return _updated(schema, altered, change, warnings)


def _total_rf(replication: Mapping[str, str]) -> int:
    return sum(int(v) for k, v in replication.items() if k != "class" and v.isdigit())


def drop_keyspace(schema: Schema, name: str, *, if_exists: bool = False) -> SchemaUpdate:
    """``DROP KEYSPACE [IF EXISTS] name``."""
    _authorize(name, "DROP", _keyspace_resource(name))
    _check_statement(schema, name)
    if schema.keyspace(name) is None:
        if if_exists:
            return _unchanged(schema)
        raise SchemaInvalidError(f"Keyspace '{name}' doesn't exist")
    change = _change(SchemaChangeType.DROPPED, SchemaChangeTarget.KEYSPACE, name)
    return SchemaUpdate(schema.without_keyspace(name, change), change)


# --- tables -----------------------------------------------------------------------------------


def _check_user_types(keyspace: KeyspaceMetadata, dtype: DataType) -> None:
    for t in walk(dtype):
        if t.code is not TypeCode.UDT:
            continue
        if t.keyspace != keyspace.name:
            raise SchemaInvalidError(
                f"Statement on keyspace {keyspace.name} cannot refer to a user type in keyspace "
                f"{t.keyspace}; user types can only be used in the keyspace they are defined in"
            )
        defined = keyspace.user_type(t.name or "")
        if defined is None:
            raise SchemaInvalidError(f"Unknown type {t.keyspace}.{t.name}")
        if defined.data_type != t:
            raise ValueError(f"{t.keyspace}.{t.name} does not match the type's definition")


def _check_nested_types(column: ColumnMetadata) -> None:
    """What CQL3Type.Raw.prepare rejects: counters in collections, durations as keys."""
    for t in walk(column.type):
        if t.code in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP):
            text = cql_type(t)
            if any(contains(p, TypeCode.COUNTER) for p in t.params):
                raise SchemaInvalidError(f"Counters are not allowed inside collections: {text}")
            if t.code is TypeCode.SET and t.params[0].code is TypeCode.DURATION:
                raise SchemaInvalidError(f"Durations are not allowed inside sets: {text}")
            if t.code is TypeCode.MAP and t.params[0].code is TypeCode.DURATION:
                raise SchemaInvalidError(f"Durations are not allowed as map keys: {text}")


def _check_udt_fields(column: ColumnMetadata, keyspace: KeyspaceMetadata, suffix: str = "") -> None:
    if column.type.code is TypeCode.UDT and column.is_multi_cell:
        udt = keyspace.user_type(column.type.name or "")
        if udt is not None and any(
            t.code in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP) and not f
            for t, f in zip(udt.field_types, udt.field_frozen, strict=True)
        ):
            raise SchemaInvalidError(
                "Non-frozen UDTs with nested non-frozen collections are not supported" + suffix
            )


def _validate_table(table: TableMetadata) -> None:
    """``TableMetadata.validate``: ConfigurationExceptions prefixed by the table's name."""

    def fail(message: str) -> None:
        raise SchemaConfigError(f"{table.keyspace}.{table.name}: {message}")

    if not is_valid_name(table.name):
        fail(
            f"Table name must not be empty, more than {NAME_LENGTH} characters long, or "
            f'contain non-alphanumeric-underscore characters (got "{table.name}")'
        )
    for column in table.static_columns + table.regular_columns:
        is_counter = column.type.code is TypeCode.COUNTER
        if table.is_counter and not is_counter:
            fail(f'Cannot have a non counter column ("{column.name}") in a counter table')
        if not table.is_counter and is_counter:
            fail(f'Cannot have a counter column ("{column.name}") in a non counter table')


def create_table(
    schema: Schema, table: TableMetadata, *, if_not_exists: bool = False
) -> SchemaUpdate:
    """``CREATE TABLE [IF NOT EXISTS]``: ``table`` as parsed, with its new id and options."""
    ks_name = table.keyspace
    _authorize(ks_name, "CREATE", _keyspace_resource(ks_name))
    _check_statement(schema, ks_name)
    keyspace = _existing_keyspace(schema, ks_name)
    if keyspace.table(table.name) is not None:
        if if_not_exists:
            return _unchanged(schema)
        raise SchemaAlreadyExistsError(ks_name, table.name)
    table.options.validate()
    for column in table.columns:
        _check_user_types(keyspace, column.type)
        _check_nested_types(column)
        _check_udt_fields(column, keyspace)
    for column in table.primary_key:
        if column.is_multi_cell:
            what = "user-defined" if column.type.code is TypeCode.UDT else "collection"
            raise SchemaInvalidError(
                f"Invalid non-frozen {what} type {column.cql_type} for PRIMARY KEY column "
                f"'{column.name}'"
            )
        if column.type.code is TypeCode.COUNTER:
            raise SchemaInvalidError(
                f"counter type is not supported for PRIMARY KEY column '{column.name}'"
            )
        if contains(column.type, TypeCode.DURATION):
            raise SchemaInvalidError(
                f"duration type is not supported for PRIMARY KEY column '{column.name}'"
            )
    if table.static_columns and not table.clustering_columns:
        raise SchemaInvalidError(
            "Static columns are only useful (and thus allowed) if the table has at least one "
            "clustering column"
        )
    non_key = table.static_columns + table.regular_columns
    if any(c.type.code is TypeCode.COUNTER for c in non_key):
        if any(c.type.code is not TypeCode.COUNTER for c in non_key):
            raise SchemaInvalidError("Cannot mix counter and non counter columns in the same table")
        if table.options.default_time_to_live > 0:
            raise SchemaInvalidError("Cannot set default_time_to_live on a table with counters")
    _validate_table(table)
    change = _change(SchemaChangeType.CREATED, SchemaChangeTarget.TABLE, ks_name, table.name)
    return _updated(schema, keyspace.with_table(table), change)


def _existing_table(
    schema: Schema, keyspace: str, name: str, permission: str, *, if_exists: bool
) -> tuple[KeyspaceMetadata, TableMetadata] | None:
    _authorize(keyspace, permission, _table_resource(keyspace, name))
    _check_statement(schema, keyspace)
    ks = schema.keyspace(keyspace)
    table = None if ks is None else ks.table(name)
    if ks is None or table is None:
        if if_exists:
            return None
        raise SchemaInvalidError(f"Table '{keyspace}.{name}' doesn't exist")
    return ks, table


def _table_updated(
    schema: Schema, keyspace: KeyspaceMetadata, old: TableMetadata, new: TableMetadata
) -> SchemaUpdate:
    if new == old:
        return _unchanged(schema)
    change = _change(SchemaChangeType.UPDATED, SchemaChangeTarget.TABLE, keyspace.name, new.name)
    return _updated(schema, keyspace.with_table(new), change)


def drop_table(
    schema: Schema, keyspace: str, name: str, *, if_exists: bool = False
) -> SchemaUpdate:
    """``DROP TABLE [IF EXISTS] keyspace.name``."""
    found = _existing_table(schema, keyspace, name, "DROP", if_exists=if_exists)
    if found is None:
        return _unchanged(schema)
    ks, _table = found
    change = _change(SchemaChangeType.DROPPED, SchemaChangeTarget.TABLE, keyspace, name)
    return _updated(schema, ks.without_table(name), change)


def alter_table_add(
    schema: Schema,
    keyspace: str,
    name: str,
    columns: Sequence[ColumnMetadata],
    *,
    if_exists: bool = False,
    if_column_not_exists: bool = False,
) -> SchemaUpdate:
    """``ALTER TABLE ... ADD [IF NOT EXISTS] (column type, ...)``: regular or static columns."""
    found = _existing_table(schema, keyspace, name, "ALTER", if_exists=if_exists)
    if found is None:
        return _unchanged(schema)
    ks, table = found
    added: dict[str, ColumnMetadata] = {}
    for column in columns:
        if column.is_primary_key:
            raise ValueError("ALTER TABLE ADD takes regular or static columns")
        if table.column(column.name) is not None or column.name in added:
            if if_column_not_exists:
                continue
            raise SchemaInvalidError(f"Column with name '{column.name}' already exists")
        _check_user_types(ks, column.type)
        _check_nested_types(column)
        if column.kind is ColumnKind.STATIC and not table.clustering_columns:
            raise SchemaInvalidError(
                "Static columns are only useful (and thus allowed) if the table has at least "
                "one clustering column"
            )
        _check_udt_fields(column, ks, f" for column {column.name}")
        dropped = table.dropped_column(column.name)
        if dropped is not None:
            new_type = cql_type(expand_user_types(column.type), frozen=column.frozen)
            if new_type != dropped.cql_type:
                raise SchemaInvalidError(
                    f"Cannot re-add previously dropped column '{column.name}' of type "
                    f"{column.cql_type}, incompatible with previous type {dropped.cql_type}"
                )
            if (column.kind is ColumnKind.STATIC) != (dropped.kind is ColumnKind.STATIC):
                raise SchemaInvalidError(
                    f"Cannot re-add previously dropped column '{column.name}' of kind "
                    f"{column.kind.name}, incompatible with previous kind {dropped.kind.name}"
                )
            if table.is_counter:
                raise SchemaInvalidError(
                    f"Cannot re-add previously dropped counter column {column.name}"
                )
        added[column.name] = column
    new = replace(table, columns=table.columns + tuple(added.values()))
    _validate_table(new)
    return _table_updated(schema, ks, table, new)


def alter_table_drop(
    schema: Schema,
    keyspace: str,
    name: str,
    columns: Sequence[str],
    *,
    timestamp: int,
    if_exists: bool = False,
    if_column_exists: bool = False,
) -> SchemaUpdate:
    """``ALTER TABLE ... DROP [IF EXISTS] (column, ...)``; ``timestamp`` in microseconds."""
    found = _existing_table(schema, keyspace, name, "ALTER", if_exists=if_exists)
    if found is None:
        return _unchanged(schema)
    ks, table = found
    dropped = {d.name: d for d in table.dropped_columns}
    removed: set[str] = set()
    for column_name in columns:
        column = table.column(column_name)
        if column is None:
            if if_column_exists:
                continue
            raise SchemaInvalidError(
                f"Column {column_name} was not found in table '{table.cql_name}'"
            )
        if column.is_primary_key:
            raise SchemaInvalidError(f"Cannot drop PRIMARY KEY column {column_name}")
        if column.type.code is TypeCode.UDT and column.is_multi_cell:
            raise SchemaInvalidError(
                f"Cannot drop non-frozen column {column_name} of user type {column.cql_type}"
            )
        dependent = [i.name for i in table.indexes if i.column == column_name]
        if dependent:
            raise SchemaInvalidError(
                f"Cannot drop column {column_name} because it has dependent secondary indexes "
                f"({', '.join(dependent)})"
            )
        removed.add(column_name)
        dropped[column_name] = DroppedColumn(
            name=column_name,
            type=expand_user_types(column.type),
            kind=column.kind,
            frozen=column.frozen,
            dropped_time=timestamp,
        )
    new = replace(
        table,
        columns=tuple(c for c in table.columns if c.name not in removed),
        dropped_columns=tuple(dropped.values()),
    )
    return _table_updated(schema, ks, table, new)


def alter_table_rename(
    schema: Schema,
    keyspace: str,
    name: str,
    renames: Mapping[str, str],
    *,
    if_exists: bool = False,
    if_column_exists: bool = False,
) -> SchemaUpdate:
    """``ALTER TABLE ... RENAME [IF EXISTS] old TO new [AND ...]``: primary key columns only."""
    # RENAME IF EXISTS parses, but Cassandra's column lookup fails before the flag is read.
    del if_column_exists
    found = _existing_table(schema, keyspace, name, "ALTER", if_exists=if_exists)
    if found is None:
        return _unchanged(schema)
    ks, table = found
    columns = {c.name: c for c in table.columns}
    for old, new_name in renames.items():
        column = table.column(old)
        if column is None:
            # RenameColumns looks the column up with getExistingColumn (4.1 and 5.0 alike).
            raise SchemaInvalidError(
                f"Undefined column name {maybe_quote(old)} in table {table.cql_name}"
            )
        if not column.is_primary_key:
            raise SchemaInvalidError(f"Cannot rename non PRIMARY KEY column {old}")
        if table.column(new_name) is not None:
            raise SchemaInvalidError(
                f"Cannot rename column {old} to {new_name} in table '{table.cql_name}'; another "
                "column with that name already exists"
            )
        dependent = [i.name for i in table.indexes if i.column == old]
        if dependent:
            raise SchemaInvalidError(
                f"Can't rename column {old} because it has dependent secondary indexes "
                f"({', '.join(dependent)})"
            )
        del columns[old]
        columns[new_name] = replace(column, name=new_name)
    new = replace(table, columns=tuple(columns.values()))
    return _table_updated(schema, ks, table, new)


def alter_table_options(
    schema: Schema,
    keyspace: str,
    name: str,
    changes: Mapping[str, PropertyValue],
    *,
    if_exists: bool = False,
) -> SchemaUpdate:
    """``ALTER TABLE ... WITH option = value [AND ...]``."""
    found = _existing_table(schema, keyspace, name, "ALTER", if_exists=if_exists)
    if found is None:
        return _unchanged(schema)
    ks, table = found
    options = table.options.with_changes(changes)
    if table.is_counter and options.default_time_to_live > 0:
        raise SchemaInvalidError("Cannot set default_time_to_live on a table with counters")
    return _table_updated(schema, ks, table, replace(table, options=options))


# --- user types -------------------------------------------------------------------------------


def _check_field_types(keyspace: KeyspaceMetadata, udt: UserType) -> None:
    for dtype, frozen in zip(udt.field_types, udt.field_frozen, strict=True):
        if contains(dtype, TypeCode.COUNTER):
            raise SchemaInvalidError("A user type cannot contain counters")
        if dtype.code is TypeCode.UDT and not frozen:
            raise SchemaInvalidError("A user type cannot contain non-frozen UDTs")
        _check_user_types(keyspace, dtype)


def create_type(schema: Schema, udt: UserType, *, if_not_exists: bool = False) -> SchemaUpdate:
    """``CREATE TYPE [IF NOT EXISTS] keyspace.name (field type, ...)``."""
    _authorize(udt.keyspace, "CREATE", _keyspace_resource(udt.keyspace))
    _check_statement(schema, udt.keyspace)
    keyspace = _existing_keyspace(schema, udt.keyspace)
    if keyspace.user_type(udt.name) is not None:
        if if_not_exists:
            return _unchanged(schema)
        raise SchemaInvalidError(f"A user type with name '{udt.name}' already exists")
    seen: set[str] = set()
    for field_name in udt.field_names:
        if field_name in seen:
            raise SchemaInvalidError(f"Duplicate field name '{field_name}' in type '{udt.name}'")
        seen.add(field_name)
    _check_field_types(keyspace, udt)
    altered = replace(keyspace, user_types={**keyspace.user_types, udt.name: udt})
    change = _change(SchemaChangeType.CREATED, SchemaChangeTarget.TYPE, udt.keyspace, udt.name)
    return _updated(schema, altered, change)


def _existing_type(
    schema: Schema, keyspace: str, name: str, *, if_exists: bool
) -> tuple[KeyspaceMetadata, UserType] | None:
    _authorize(keyspace, "ALTER", _keyspace_resource(keyspace))
    _check_statement(schema, keyspace)
    ks = schema.keyspace(keyspace)
    udt = None if ks is None else ks.user_type(name)
    if ks is None or udt is None:
        if if_exists:
            return None
        raise SchemaInvalidError(f"Type {keyspace}.{name} doesn't exist")
    return ks, udt


def _with_type(
    schema: Schema, keyspace: KeyspaceMetadata, old: UserType, new: UserType
) -> SchemaUpdate:
    """Swap the type's definition in the keyspace, its other types and its tables."""
    if new == old:
        return _unchanged(schema)
    dtype = new.data_type
    types = {
        n: replace(t, field_types=tuple(replace_user_type(f, dtype) for f in t.field_types))
        for n, t in keyspace.user_types.items()
    }
    types[new.name] = new
    tables = {
        n: replace(
            t, columns=tuple(replace(c, type=replace_user_type(c.type, dtype)) for c in t.columns)
        )
        for n, t in keyspace.tables.items()
    }
    altered = replace(keyspace, user_types=types, tables=tables)
    change = _change(SchemaChangeType.UPDATED, SchemaChangeTarget.TYPE, keyspace.name, new.name)
    return _updated(schema, altered, change)


def alter_type_add_field(
    schema: Schema,
    keyspace: str,
    name: str,
    field_name: str,
    field_type: DataType,
    *,
    frozen: bool = False,
    if_exists: bool = False,
    if_field_not_exists: bool = False,
) -> SchemaUpdate:
    """``ALTER TYPE [IF EXISTS] keyspace.name ADD [IF NOT EXISTS] field type``."""
    found = _existing_type(schema, keyspace, name, if_exists=if_exists)
    if found is None:
        return _unchanged(schema)
    ks, udt = found
    if field_name in udt.field_names:
        if if_field_not_exists:
            return _unchanged(schema)
        raise SchemaInvalidError(
            f"Cannot add field {field_name} to type {udt.cql_name}: a field with name "
            f"{field_name} already exists"
        )
    type_text = cql_type(field_type, frozen=frozen)
    if references_user_type(field_type, keyspace, name):
        raise SchemaInvalidError(
            f"Cannot add new field {field_name} of type {type_text} to user type "
            f"{udt.cql_name} as it would create a circular reference"
        )
    in_partition_key = [
        t.cql_name
        for t in ks.tables.values()
        if any(references_user_type(c.type, keyspace, name) for c in t.partition_key)
    ]
    if in_partition_key:
        raise SchemaInvalidError(
            f"Cannot add new field {field_name} of type {type_text} to user type {udt.cql_name} "
            "as the type is being used in partition key by the following tables: "
            + ", ".join(in_partition_key)
        )
    new = replace(
        udt,
        field_names=(*udt.field_names, field_name),
        field_types=(*udt.field_types, field_type),
        field_frozen=(*udt.field_frozen, frozen),
    )
    _check_field_types(ks, new)
    return _with_type(schema, ks, udt, new)


def alter_type_rename_fields(
    schema: Schema,
    keyspace: str,
    name: str,
    renames: Mapping[str, str],
    *,
    if_exists: bool = False,
    if_field_exists: bool = False,
) -> SchemaUpdate:
    """``ALTER TYPE [IF EXISTS] keyspace.name RENAME [IF EXISTS] old TO new [AND ...]``."""
    found = _existing_type(schema, keyspace, name, if_exists=if_exists)
    if found is None:
        return _unchanged(schema)
    ks, udt = found
    names = list(udt.field_names)
    for old, new_name in renames.items():
        if old not in udt.field_names:
            if if_field_exists:
                continue
            # Cassandra's own spelling.
            raise SchemaInvalidError(f"Unkown field {old} in user type {udt.cql_name}")
        names[udt.field_names.index(old)] = new_name
    for field_name in names:
        if names.count(field_name) > 1:
            # Cassandra's format string has one placeholder fewer than its arguments.
            raise SchemaInvalidError(f"Duplicate field name {field_name} in type {keyspace}")
    return _with_type(schema, ks, udt, replace(udt, field_names=tuple(names)))


def drop_type(schema: Schema, keyspace: str, name: str, *, if_exists: bool = False) -> SchemaUpdate:
    """``DROP TYPE [IF EXISTS] keyspace.name``: refused while a type or table uses it."""
    _authorize(keyspace, "DROP", _keyspace_resource(keyspace))
    _check_statement(schema, keyspace)
    ks = schema.keyspace(keyspace)
    udt = None if ks is None else ks.user_type(name)
    if ks is None or udt is None:
        if if_exists:
            return _unchanged(schema)
        raise SchemaInvalidError(f"Type '{keyspace}.{name}' doesn't exist")
    using_types = [
        t.name
        for t in ks.user_types.values()
        if t.name != name and any(references_user_type(f, keyspace, name) for f in t.field_types)
    ]
    if using_types:
        raise SchemaInvalidError(
            f"Cannot drop user type '{keyspace}.{name}' as it is still used by user types "
            + ", ".join(using_types)
        )
    using_tables = [
        t.name
        for t in ks.tables.values()
        if any(references_user_type(c.type, keyspace, name) for c in t.columns)
    ]
    if using_tables:
        raise SchemaInvalidError(
            f"Cannot drop user type '{keyspace}.{name}' as it is still used by tables "
            + ", ".join(using_tables)
        )
    altered = replace(ks, user_types={k: v for k, v in ks.user_types.items() if k != name})
    change = _change(SchemaChangeType.DROPPED, SchemaChangeTarget.TYPE, keyspace, name)
    return _updated(schema, altered, change)
