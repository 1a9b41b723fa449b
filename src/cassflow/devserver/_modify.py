"""INSERT, UPDATE and DELETE: statements turned into storage writes, as Cassandra applies them.

Each statement names its rows through the WHERE clause (UPDATE, DELETE) or its values
(INSERT), then writes cells with one timestamp: ``USING TIMESTAMP``, else the client's default
timestamp, else the server's clock. INSERT writes the row marker, UPDATE does not (a row made
by UPDATE disappears when its cells are nulled). Static columns live in the partition's
static row. Collection operations (append, prepend, element set/remove, map put/remove) read
the current value and write the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cassflow.cql import (
    Addition,
    Delete,
    Deletion,
    Insert,
    Operation,
    Prepend,
    SetElement,
    SetField,
    SetValue,
    Subtraction,
    Update,
)
from cassflow.devserver._conditions import (
    APPLIED,
    CasResult,
    CasRow,
    check_conditional,
    condition_columns,
    is_conditional,
    read_cas_row,
    statement_result,
)
from cassflow.devserver._counters import check_counter_write, counter_delta
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._insert import InsertPlan, plan_insert
from cassflow.devserver._keycodec import (
    STATIC_CK,
    CkRange,
    clustering_key,
    clustering_ranges,
    partition_key,
    token,
)
from cassflow.devserver._schema import ColumnKind, ColumnMetadata, TableMetadata
from cassflow.devserver._storage import Storage
from cassflow.devserver._using import WriteOptions, write_options
from cassflow.devserver._values import Evaluator, join_collection, split_collection
from cassflow.devserver._where import Restrictions, analyze
from cassflow.protocol import UNSET, DataType, TypeCode, Value


def _column(table: TableMetadata, name: str) -> ColumnMetadata:
    column = table.column(name)
    if column is None:
        raise InvalidRequestError(
            f"Undefined column name {name} in table {table.keyspace}.{table.name}"
        )
    return column


_EMPTY_COLLECTION = b"\x00\x00\x00\x00"


def _stored(column: ColumnMetadata, value: Value) -> Value:
    """A non-frozen collection set to empty holds no cells: it reads back as null."""
    if value == _EMPTY_COLLECTION and column.is_multi_cell:
        return None
    return value


def _ck(table: TableMetadata, values: Sequence[bytes]) -> bytes:
    columns = table.clustering_columns
    if not columns:
        return STATIC_CK
    return clustering_key(values, [c.type for c in columns], [c.is_reversed for c in columns])


# --- INSERT -------------------------------------------------------------------------------


def insert(
    statement: Insert,
    table: TableMetadata,
    evaluator: Evaluator,
    storage: Storage,
    *,
    default_timestamp: int,
    now: int,
    plan: InsertPlan | None = None,
) -> CasResult:
    """Apply an INSERT; not applied only when IF NOT EXISTS finds the row.

    ``plan`` is :func:`~._insert.plan_insert` of this statement and table, when the caller
    keeps one (prepared statements); without it the statement is planned here.
    """
    if plan is None or plan.table is not table:
        plan = plan_insert(statement, table)
    return plan.run(evaluator, storage, default_timestamp=default_timestamp, now=now)


# --- UPDATE / DELETE targets --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """The rows a modification names: full keys, or (DELETE) clustering ranges."""

    partitions: list[tuple[int, bytes]]
    rows: list[bytes] | None  # full clustering keys; None: no clustering restriction
    ranges: list[CkRange] | None  # DELETE slices


def _target(
    table: TableMetadata, restrictions: Restrictions, *, statics_only: bool, deleting_rows: bool
) -> Target:
    if restrictions.partition_values is None:
        missing = [c.name for c in table.partition_key]
        raise InvalidRequestError(f"Some partition key parts are missing: {', '.join(missing)}")
    if restrictions.filters:
        names = ", ".join(f.column.name for f in restrictions.filters)
        raise InvalidRequestError(f"Non PRIMARY KEY columns found in where clause: {names}")
    if restrictions.token_lower or restrictions.token_upper:
        raise InvalidRequestError(
            "The token function cannot be used in WHERE clauses for UPDATE statements"
        )
    partitions = []
    for values in restrictions.partitions():
        pk = partition_key(values)
        partitions.append((token(pk), pk))
    clustering = table.clustering_columns
    prefix_len = len(restrictions.clustering_prefix)
    has_slice = restrictions.lower is not None or restrictions.upper is not None
    if not clustering or (prefix_len == len(clustering) and not has_slice):
        rows = [_ck(table, prefix) for prefix in restrictions.clustering_prefixes()]
        return Target(partitions, rows, None)
    if prefix_len == 0 and not has_slice and (statics_only or deleting_rows):
        return Target(partitions, None, None)
    if not deleting_rows:
        missing = [c.name for c in clustering[prefix_len:]]
        raise InvalidRequestError(f"Some clustering keys are missing: {', '.join(missing)}")
    ranges: list[CkRange] = []
    for prefix in restrictions.clustering_prefixes():
        ranges += clustering_ranges(
            [c.type for c in clustering],
            [c.is_reversed for c in clustering],
            prefix=prefix,
            lower=restrictions.lower,
            upper=restrictions.upper,
        )
    return Target(partitions, None, ranges)


# --- UPDATE -------------------------------------------------------------------------------


def update(
    statement: Update,
    table: TableMetadata,
    evaluator: Evaluator,
    storage: Storage,
    *,
    default_timestamp: int,
    now: int,
) -> CasResult:
    """Apply an UPDATE; not applied only when its IF conditions do not hold."""
    conditional = is_conditional(statement)
    if conditional:
        check_conditional(statement, table)  # Cassandra prepares the conditions first
    check_counter_write(statement, table)
    columns = [_column(table, op.column) for op in statement.operations]
    for column in columns:
        if column.is_primary_key:
            raise InvalidRequestError(f"PRIMARY KEY part {column.name} found in SET part")
    statics_only = all(c.kind is ColumnKind.STATIC for c in columns) and not _regular_conditions(
        statement, table
    )
    restrictions = analyze(
        table, statement.where, evaluator, allow_filtering=False, for_select=False
    )
    target = _target(table, restrictions, statics_only=statics_only, deleting_rows=False)
    options = write_options(statement.using, table, evaluator, default_timestamp)
    with storage.transaction():
        if conditional:
            result = _cas(statement, table, evaluator, storage, restrictions, target, now)
            if not result.applied:
                return result
        for tok, pk in target.partitions:
            row_keys = target.rows if target.rows is not None else [STATIC_CK]
            for ck in row_keys:
                _apply_operations(
                    statement, table, columns, evaluator, storage, tok, pk, ck, options, now
                )
    return APPLIED


def target_of(
    statement: Update | Delete, table: TableMetadata, evaluator: Evaluator
) -> tuple[Target, Restrictions]:
    """The rows an UPDATE or DELETE names (for conditional batches, which read them first)."""
    restrictions = analyze(
        table, statement.where, evaluator, allow_filtering=False, for_select=False
    )
    if isinstance(statement, Update):
        columns = [_column(table, op.column) for op in statement.operations]
        statics_only = all(
            c.kind is ColumnKind.STATIC for c in columns
        ) and not _regular_conditions(statement, table)
        return _target(table, restrictions, statics_only=statics_only, deleting_rows=False), (
            restrictions
        )
    columns = [_column(table, d.column) for d in statement.deletions]
    statics_only = bool(columns) and all(c.kind is ColumnKind.STATIC for c in columns)
    if is_conditional(statement):
        _check_conditional_delete(statement, table, columns, restrictions)
    target = _target(table, restrictions, statics_only=statics_only, deleting_rows=not columns)
    return target, restrictions


def _regular_conditions(statement: Update | Delete, table: TableMetadata) -> bool:
    return any(c.kind is not ColumnKind.STATIC for c in condition_columns(statement, table))


def _cas(
    statement: Update | Delete,
    table: TableMetadata,
    evaluator: Evaluator,
    storage: Storage,
    restrictions: Restrictions,
    target: Target,
    now: int,
) -> CasResult:
    """Read the one row a conditional statement names and evaluate its conditions."""
    cas = cas_row(statement, table, storage, restrictions, target, now)
    return statement_result(statement, table, evaluator, cas)


def cas_row(
    statement: Update | Delete,
    table: TableMetadata,
    storage: Storage,
    restrictions: Restrictions,
    target: Target,
    now: int,
) -> CasRow:
    """The row of a conditional UPDATE or DELETE, refusing what Cassandra refuses."""
    kind = "updates" if isinstance(statement, Update) else "deletions"
    if len(target.partitions) != 1:
        raise InvalidRequestError(
            f"IN on the partition key is not supported with conditional {kind}"
        )
    if target.rows is not None and len(target.rows) != 1:
        raise InvalidRequestError(
            f"IN on the clustering key columns is not supported with conditional {kind}"
        )
    tok, pk = target.partitions[0]
    ck = target.rows[0] if target.rows is not None else STATIC_CK
    return read_cas_row(table, storage, restrictions.partitions()[0], tok, pk, ck, now)


def _apply_operations(
    statement: Update,
    table: TableMetadata,
    columns: Sequence[ColumnMetadata],
    evaluator: Evaluator,
    storage: Storage,
    tok: int,
    pk: bytes,
    ck: bytes,
    options: WriteOptions,
    now: int,
) -> None:
    table_id = str(table.id)
    regular: dict[str, bytes | None] = {}
    static: dict[str, bytes | None] = {}
    counters: dict[str, int] = {}
    for op, column in zip(statement.operations, columns, strict=True):
        if column.type.code is TypeCode.COUNTER:
            counters[column.name] = _counter_delta(op, column, evaluator)
            continue
        if table.counter:
            raise InvalidRequestError(
                "Cannot mix counter and non counter columns in the same table"
            )
        row_ck = STATIC_CK if column.kind is ColumnKind.STATIC else ck
        value = _new_value(op, column, evaluator, storage, table_id, tok, pk, row_ck, now)
        if value is UNSET:
            continue
        target = static if column.kind is ColumnKind.STATIC else regular
        target[column.name] = value
    if counters:
        storage.add_counters(table_id, tok, pk, ck, counters, timestamp=options.timestamp)
    if regular:
        storage.write(
            table_id, tok, pk, ck, regular, timestamp=options.timestamp, ttl=options.ttl, now=now
        )
    if static:
        storage.write(
            table_id,
            tok,
            pk,
            STATIC_CK,
            static,
            timestamp=options.timestamp,
            ttl=options.ttl,
            now=now,
        )


def _counter_delta(op: Operation, column: ColumnMetadata, evaluator: Evaluator) -> int:
    return counter_delta(op, column, evaluator)


def _current(
    storage: Storage, table_id: str, tok: int, pk: bytes, ck: bytes, column: str, now: int
) -> bytes | None:
    row = storage.read_row(table_id, tok, pk, ck, now=now)
    if row is None or column not in row.cells:
        return None
    return row.cells[column].value


def _new_value(
    op: object,
    column: ColumnMetadata,
    evaluator: Evaluator,
    storage: Storage,
    table_id: str,
    tok: int,
    pk: bytes,
    ck: bytes,
    now: int,
) -> Value:
    dtype = column.type
    if isinstance(op, SetValue):
        return _stored(column, evaluator.value(op.value, dtype, column.name))
    code = dtype.code
    if isinstance(op, Addition | Subtraction | Prepend):
        if code not in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP):
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for non counter column {column.name}"
            )
        if not column.is_multi_cell:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for frozen collection column {column.name}"
            )
        operand_type = (
            dtype
            if not (isinstance(op, Subtraction) and code is TypeCode.MAP)
            else (DataType.set_of(dtype.params[0]))
        )
        operand = evaluator.value(op.value, operand_type, column.name)
        if operand is UNSET:
            return UNSET
        current = _current(storage, table_id, tok, pk, ck, column.name, now)
        items = split_collection(current, dtype) if current else []
        given = split_collection(operand, operand_type) if isinstance(operand, bytes) else []
        if isinstance(op, Addition):
            if code is TypeCode.MAP:
                merged = dict(items)
                merged.update(dict(given))
                items = list(merged.items())
            else:
                items = list(items) + list(given)
        elif isinstance(op, Prepend):
            if code is not TypeCode.LIST:
                raise InvalidRequestError(
                    f"Invalid operation ({op.to_cql()}) for non list column {column.name}"
                )
            items = list(given) + list(items)
        elif code is TypeCode.MAP:
            items = [(k, v) for k, v in items if k not in set(given)]
        else:
            items = [e for e in items if e not in set(given)]
        return join_collection(items, dtype) if items else None
    if isinstance(op, SetElement):
        if code not in (TypeCode.LIST, TypeCode.MAP):
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for non list/map column {column.name}"
            )
        current = _current(storage, table_id, tok, pk, ck, column.name, now)
        items = split_collection(current, dtype) if current else []
        if code is TypeCode.MAP:
            key = evaluator.value(op.key, dtype.params[0], column.name)
            value = evaluator.value(op.value, dtype.params[1], column.name)
            merged = dict(items)
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
            return join_collection(list(merged.items()), dtype) if merged else None
        index = evaluator.int_value(op.key, f"[list index of {column.name}]")
        if index is None or not 0 <= index < len(items):
            raise InvalidRequestError(
                f"List index {index} out of bound, list has size {len(items)}"
            )
        value = evaluator.value(op.value, dtype.params[0], column.name)
        if value is None:
            del items[index]
        else:
            items[index] = value
        return join_collection(items, dtype) if items else None
    if isinstance(op, SetField):
        raise InvalidRequestError(
            "Setting a user type field is not supported by the dev server yet"
        )
    raise InvalidRequestError(f"Unsupported operation {op!r}")


# --- DELETE -------------------------------------------------------------------------------


def delete(
    statement: Delete,
    table: TableMetadata,
    evaluator: Evaluator,
    storage: Storage,
    *,
    default_timestamp: int,
    now: int,
) -> CasResult:
    """Apply a DELETE; not applied only when its IF conditions do not hold."""
    conditional = is_conditional(statement)
    if conditional:
        check_conditional(statement, table)  # Cassandra prepares the conditions first
    check_counter_write(statement, table)
    columns = [_column(table, d.column) for d in statement.deletions]
    for column in columns:
        if column.is_primary_key:
            raise InvalidRequestError(
                f"Invalid identifier {column.name} for deletion (should not be a PRIMARY KEY part)"
            )
    statics_only = bool(columns) and all(c.kind is ColumnKind.STATIC for c in columns)
    restrictions = analyze(
        table, statement.where, evaluator, allow_filtering=False, for_select=False
    )
    if conditional:
        _check_conditional_delete(statement, table, columns, restrictions)
    target = _target(table, restrictions, statics_only=statics_only, deleting_rows=not columns)
    timestamp = default_timestamp
    if statement.timestamp is not None:
        value = evaluator.bigint_value(statement.timestamp, "[timestamp]")
        if value is not None:
            timestamp = value
    table_id = str(table.id)
    with storage.transaction():
        if conditional:
            result = _cas(statement, table, evaluator, storage, restrictions, target, now)
            if not result.applied:
                return result
        for tok, pk in target.partitions:
            if not columns:
                if target.rows is not None:
                    for ck in target.rows:
                        storage.delete_rows(table_id, tok, pk, CkRange.row(ck), timestamp=timestamp)
                elif target.ranges is not None:
                    for rng in target.ranges:
                        storage.delete_rows(table_id, tok, pk, rng, timestamp=timestamp)
                else:
                    storage.delete_partition(table_id, tok, pk, timestamp=timestamp)
                continue
            keys = target.rows if target.rows is not None else [STATIC_CK]
            for ck in keys:
                _delete_columns(
                    statement.deletions,
                    columns,
                    table_id,
                    storage,
                    tok,
                    pk,
                    ck,
                    timestamp,
                    evaluator,
                    now,
                )
    return APPLIED


def _check_conditional_delete(
    statement: Delete,
    table: TableMetadata,
    columns: Sequence[ColumnMetadata],
    restrictions: Restrictions,
) -> None:
    """A conditional DELETE names one row, or only static columns of one partition."""
    clustering = table.clustering_columns
    has_slice = restrictions.lower is not None or restrictions.upper is not None
    if len(restrictions.clustering_prefix) == len(clustering) and not has_slice:
        return
    regular_deletions = any(c.kind is not ColumnKind.STATIC for c in columns)
    regular_conditions = _regular_conditions(statement, table)
    static_conditions = any(
        c.kind is ColumnKind.STATIC for c in condition_columns(statement, table)
    )
    static_deletions = bool(columns) and not regular_deletions
    only_static = not regular_deletions and not regular_conditions
    statics = static_deletions or static_conditions
    if only_static and statics and not has_slice and not restrictions.clustering_prefix:
        return
    prefix = "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
    if columns and regular_deletions:
        raise InvalidRequestError(f"{prefix} in order to delete non static columns")
    if columns and regular_conditions:
        raise InvalidRequestError(f"{prefix} in order to use IF condition on non static columns")
    missing = clustering[len(restrictions.clustering_prefix) :]
    name = missing[0].name if missing else clustering[-1].name
    raise InvalidRequestError(
        f"{prefix} in order to use IF conditions, but column '{name}' is not restricted"
    )


def _delete_columns(
    deletions: Sequence[Deletion],
    columns: Sequence[ColumnMetadata],
    table_id: str,
    storage: Storage,
    tok: int,
    pk: bytes,
    ck: bytes,
    timestamp: int,
    evaluator: Evaluator,
    now: int,
) -> None:
    for deletion, column in zip(deletions, columns, strict=True):
        row_ck = STATIC_CK if column.kind is ColumnKind.STATIC else ck
        if deletion.element is None and deletion.field is None:
            storage.delete_cells(table_id, tok, pk, row_ck, [column.name], timestamp=timestamp)
            continue
        if deletion.field is not None:
            raise InvalidRequestError(
                "Deleting a user type field is not supported by the dev server yet"
            )
        dtype = column.type
        current = _current(storage, table_id, tok, pk, row_ck, column.name, now)
        items = split_collection(current, dtype) if current else []
        if dtype.code is TypeCode.MAP:
            key = evaluator.value(deletion.element, dtype.params[0], column.name)  # type: ignore[arg-type]
            items = [(k, v) for k, v in items if k != key]
        elif dtype.code is TypeCode.LIST:
            index = evaluator.int_value(deletion.element, f"[list index of {column.name}]")  # type: ignore[arg-type]
            if index is None or not 0 <= index < len(items):
                raise InvalidRequestError(
                    f"List index {index} out of bound, list has size {len(items)}"
                )
            del items[index]
        elif dtype.code is TypeCode.SET:
            element = evaluator.value(deletion.element, dtype.params[0], column.name)  # type: ignore[arg-type]
            items = [e for e in items if e != element]
        else:
            raise InvalidRequestError(
                f"Invalid deletion operation for non collection column {column.name}"
            )
        value = join_collection(items, dtype) if items else None
        storage.write(table_id, tok, pk, row_ck, {column.name: value}, timestamp=timestamp, now=now)
