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
from typing import Any

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
from cassflow.devserver._using import WriteOptions, write_options, write_timestamp
from cassflow.devserver._values import (
    Evaluator,
    join_collection,
    join_fields,
    split_collection,
    split_fields,
)
from cassflow.devserver._where import Restrictions, analyze, known_column
from cassflow.devserver._write_where import check_partition_key, non_primary_key_error
from cassflow.protocol import UNSET, DataType, TypeCode, Value

_EMPTY_COLLECTION = b"\x00\x00\x00\x00"


def _stored(column: ColumnMetadata, value: Value) -> Value:
    """A non-frozen collection set to empty, or a non-frozen user type whose fields are all
    null, holds no cells: it reads back as null."""
    if not column.is_multi_cell or not isinstance(value, bytes):
        return value
    if column.type.code is TypeCode.UDT:
        fields = split_fields(value, len(column.type.params))
        return None if all(f is None for f in fields) else value
    return None if value == _EMPTY_COLLECTION else value


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
    table: TableMetadata,
    restrictions: Restrictions,
    *,
    statics_only: bool,
    deleting_rows: bool,
    kind: str = "UPDATE",
) -> Target:
    # check_partition_key has refused token relations and missing or sliced key parts.
    if restrictions.partition_values is None:
        missing = [c.name for c in table.partition_key]
        raise InvalidRequestError(f"Some partition key parts are missing: {', '.join(missing)}")
    clustering = table.clustering_columns
    prefix_len = len(restrictions.clustering_prefix)
    has_slice = restrictions.lower is not None or restrictions.upper is not None
    if kind == "UPDATE" and has_slice:
        raise InvalidRequestError(
            "Slice restrictions are not supported on the clustering columns in UPDATE statements"
        )
    if restrictions.filters:  # Cassandra checks the clustering columns first
        whole_rows = not clustering or (prefix_len == len(clustering) and not has_slice)
        if kind == "UPDATE" and not whole_rows and not statics_only:
            missing_ck = [c.name for c in clustering[prefix_len:]]
            raise InvalidRequestError(f"Some clustering keys are missing: {', '.join(missing_ck)}")
        raise non_primary_key_error([f.column.name for f in restrictions.filters])
    partitions = []
    for values in restrictions.partitions():
        pk = partition_key(values)
        partitions.append((token(pk), pk))
    if not clustering or (prefix_len == len(clustering) and not has_slice):
        rows = [_ck(table, prefix) for prefix in restrictions.clustering_prefixes()]
        return Target(partitions, rows, None)
    if prefix_len == 0 and not has_slice and (statics_only or deleting_rows):
        return Target(partitions, None, None)
    if not deleting_rows:
        if kind == "DELETE":
            raise InvalidRequestError("Range deletions are not supported for specific columns")
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
    columns = [known_column(table, op.column) for op in statement.operations]
    for column in columns:
        if column.is_primary_key:
            raise InvalidRequestError(f"PRIMARY KEY part {column.name} found in SET part")
    statics_only = all(c.kind is ColumnKind.STATIC for c in columns) and not _regular_conditions(
        statement, table
    )
    check_partition_key("UPDATE", table, statement.where)
    restrictions = analyze(
        table, statement.where, evaluator, allow_filtering=False, for_select=False
    )
    _check_static_only(statement, table, columns, restrictions)
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
    kind = "UPDATE" if isinstance(statement, Update) else "DELETE"
    check_partition_key(kind, table, statement.where)
    restrictions = analyze(
        table, statement.where, evaluator, allow_filtering=False, for_select=False
    )
    if isinstance(statement, Update):
        columns = [known_column(table, op.column) for op in statement.operations]
        statics_only = all(
            c.kind is ColumnKind.STATIC for c in columns
        ) and not _regular_conditions(statement, table)
        _check_static_only(statement, table, columns, restrictions)
        return _target(table, restrictions, statics_only=statics_only, deleting_rows=False), (
            restrictions
        )
    columns = [known_column(table, d.column) for d in statement.deletions]
    statics_only = bool(columns) and all(c.kind is ColumnKind.STATIC for c in columns)
    _check_static_only(statement, table, columns, restrictions)
    if is_conditional(statement):
        _check_conditional_delete(statement, table, columns, restrictions)
    target = _target(
        table, restrictions, statics_only=statics_only, deleting_rows=not columns, kind=kind
    )
    return target, restrictions


def _check_static_only(
    statement: Update | Delete,
    table: TableMetadata,
    columns: Sequence[ColumnMetadata],
    restrictions: Restrictions,
) -> None:
    """A statement that modifies (and tests) only static columns names no clustering key:
    Cassandra takes one that does for a mistake."""
    touched = [*columns, *condition_columns(statement, table)]
    if not touched or any(c.kind is not ColumnKind.STATIC for c in touched):
        return
    restricted = restrictions.clustering_prefix or (
        restrictions.lower is not None or restrictions.upper is not None
    )
    if restricted:
        kind = "UPDATE" if isinstance(statement, Update) else "DELETE"
        raise InvalidRequestError(
            "Invalid restrictions on clustering columns since the "
            f"{kind} statement modifies only static columns"
        )


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
    merged: set[str] = set()  # values computed from the stored ones
    grouped: dict[str, tuple[ColumnMetadata, list[Operation]]] = {}
    for op, column in zip(statement.operations, columns, strict=True):
        grouped.setdefault(column.name, (column, []))[1].append(op)
    for column, ops in grouped.values():
        if column.type.code is TypeCode.COUNTER:
            deltas = [counter_delta(op, column, evaluator) for op in ops]
            given = [d for d in deltas if d is not None]  # an unset increment changes nothing
            if given:
                counters[column.name] = sum(given)
            continue
        if table.counter:
            raise InvalidRequestError(
                "Cannot mix counter and non counter columns in the same table"
            )
        row_ck = STATIC_CK if column.kind is ColumnKind.STATIC else ck
        current = _CurrentValue(storage, table_id, tok, pk, row_ck, column.name, now)
        value = _new_value(ops, column, evaluator, current)
        if value is UNSET:
            continue
        if current.was_read:
            merged.add(column.name)
        target = static if column.kind is ColumnKind.STATIC else regular
        target[column.name] = value
    if counters:
        storage.add_counters(table_id, tok, pk, ck, counters, timestamp=options.timestamp)
    for row_ck, cells in ((ck, regular), (STATIC_CK, static)):
        if cells:
            storage.write(
                table_id,
                tok,
                pk,
                row_ck,
                cells,
                timestamp=options.timestamp,
                ttl=options.ttl,
                now=now,
                merged=merged,
            )


def _current(
    storage: Storage, table_id: str, tok: int, pk: bytes, ck: bytes, column: str, now: int
) -> bytes | None:
    row = storage.read_row(table_id, tok, pk, ck, now=now)
    if row is None or column not in row.cells:
        return None
    return row.cells[column].value


@dataclass(slots=True)
class _CurrentValue:
    """The stored value of one cell, read on first use (only read-before-write needs it)."""

    storage: Storage
    table_id: str
    tok: int
    pk: bytes
    ck: bytes
    column: str
    now: int
    _value: bytes | None = None
    _read: bool = False

    @property
    def was_read(self) -> bool:
        """Whether the new value was computed from the stored one."""
        return self._read

    def get(self) -> bytes | None:
        if not self._read:
            self._value = _current(
                self.storage, self.table_id, self.tok, self.pk, self.ck, self.column, self.now
            )
            self._read = True
        return self._value


def _new_value(
    ops: Sequence[Operation],
    column: ColumnMetadata,
    evaluator: Evaluator,
    current: _CurrentValue,
) -> Value:
    """The column's value after all of an UPDATE's operations on it.

    The parser lets through only the combinations Cassandra allows (a plain ``c = v`` stands
    alone; ``c.f = v`` sets each field once). The others all apply, as the cells of one
    mutation do: list removals and index sets act on the stored list (the appended and
    prepended cells are new ones), and a removed set element or map key stays removed even
    if the statement also adds it (a tombstone wins over a cell of the same timestamp).
    """
    dtype = column.type
    code = dtype.code
    if len(ops) == 1 and isinstance(ops[0], SetValue):
        return _stored(column, evaluator.value(ops[0].value, dtype, column.name))
    if all(isinstance(op, SetField) for op in ops):
        return _set_fields(
            [op for op in ops if isinstance(op, SetField)], column, evaluator, current
        )
    for op in ops:
        _check_collection_operation(op, column)
    stored = current.get()
    existing = split_collection(stored, dtype) if stored else []
    if code is TypeCode.LIST:
        return _list_value(ops, column, evaluator, existing)
    added: list[Any] = []
    removed: set[bytes] = set()
    touched = False
    for op in ops:
        if isinstance(op, SetElement):  # maps only
            key = evaluator.value(op.key, dtype.params[0], column.name)
            value = evaluator.value(op.value, dtype.params[1], column.name)
            if key is UNSET or value is UNSET:
                continue
            if not isinstance(key, bytes):
                raise InvalidRequestError("Invalid null value for map key")
            if value is None:
                removed.add(key)
            else:
                added.append((key, value))
            touched = True
            continue
        assert isinstance(op, Addition | Subtraction)
        operand_type = (
            DataType.set_of(dtype.params[0])
            if isinstance(op, Subtraction) and code is TypeCode.MAP
            else dtype
        )
        given = _operand_items(op, operand_type, evaluator, column)
        if given is None:
            continue
        touched = True
        if isinstance(op, Addition):
            added.extend(given)
        else:
            removed.update(given)
    if not touched:
        return UNSET
    if code is TypeCode.MAP:
        merged = dict(existing)
        merged.update(dict(added))
        items: list[Any] = [(k, v) for k, v in merged.items() if k not in removed]
    else:
        items = [e for e in [*existing, *added] if e not in removed]
    return join_collection(items, dtype) if items else None


def _operand_items(
    op: Addition | Subtraction | Prepend,
    operand_type: DataType,
    evaluator: Evaluator,
    column: ColumnMetadata,
) -> list[Any] | None:
    """The elements (map: pairs) an operation adds or removes; None when its value is unset."""
    operand = evaluator.value(op.value, operand_type, column.name)
    if operand is UNSET:
        return None
    return split_collection(operand, operand_type) if isinstance(operand, bytes) else []


def _check_collection_operation(op: Operation, column: ColumnMetadata) -> None:
    """``Operation.RawUpdate.prepare``'s checks of a collection operation."""
    code = column.type.code
    collection = code in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP)
    if isinstance(op, SetField):
        if column.type.code is not TypeCode.UDT:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for non-UDT column {column.name}"
            )
        return
    if isinstance(op, SetElement):
        if not collection:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for non collection column {column.name}"
            )
        if not column.is_multi_cell:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for frozen collection column {column.name}"
            )
        if code is TypeCode.SET:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for set column {column.name}"
            )
        return
    if isinstance(op, Prepend) and code is not TypeCode.LIST:
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for non list column {column.name}"
        )
    if not collection:
        if code is TypeCode.TUPLE and isinstance(op, Addition):
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for tuple column {column.name}"
            )
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for non counter column {column.name}"
        )
    if not column.is_multi_cell:
        what = "list" if isinstance(op, Prepend) else "collection"
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for frozen {what} column {column.name}"
        )


def _list_value(
    ops: Sequence[Operation], column: ColumnMetadata, evaluator: Evaluator, existing: list[Any]
) -> Value:
    """Appends and prepends add new cells; removals and index sets change the stored ones."""
    dtype = column.type
    prepended: list[bytes] = []
    appended: list[bytes] = []
    kept: list[bytes | None] = list(existing)
    touched = False
    for op in ops:
        if isinstance(op, SetElement):
            index = evaluator.int_value(op.key, f"[list index of {column.name}]")
            if not existing:
                raise InvalidRequestError("Attempted to set an element on a list which is null")
            if index is None or not 0 <= index < len(existing):
                raise InvalidRequestError(
                    f"List index {index} out of bound, list has size {len(existing)}"
                )
            value = evaluator.value(op.value, dtype.params[0], column.name)
            if value is UNSET:
                continue
            kept[index] = value if isinstance(value, bytes) else None
            touched = True
            continue
        assert isinstance(op, Addition | Subtraction | Prepend)
        given = _operand_items(op, dtype, evaluator, column)
        if given is None:
            continue
        touched = True
        if isinstance(op, Addition):
            appended.extend(given)
        elif isinstance(op, Prepend):
            prepended[:0] = given
        else:
            kept = [e for e in kept if e is None or e not in given]
    if not touched:
        return UNSET
    items = [*prepended, *(e for e in kept if e is not None), *appended]
    return join_collection(items, dtype) if items else None


def _set_fields(
    ops: Sequence[SetField], column: ColumnMetadata, evaluator: Evaluator, current: _CurrentValue
) -> Value:
    """``UPDATE ... SET u.f = v[, u.g = w]`` on a non-frozen user type column."""
    dtype = column.type
    for op in ops:
        if dtype.code is not TypeCode.UDT:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for non-UDT column {column.name}"
            )
        if not column.is_multi_cell:
            raise InvalidRequestError(
                f"Invalid operation ({op.to_cql()}) for frozen UDT column {column.name}"
            )
        if op.field not in dtype.field_names:
            raise InvalidRequestError(
                f"UDT column {column.name} does not have a field named {op.field}"
            )
    values: dict[int, Value] = {}
    for op in ops:
        position = dtype.field_names.index(op.field)
        value = evaluator.value(op.value, dtype.params[position], column.name)
        if value is not UNSET:
            values[position] = value
    if not values:
        return UNSET
    stored = current.get()
    fields: list[bytes | None] = (
        split_fields(stored, len(dtype.params)) if stored else [None] * len(dtype.params)
    )
    for position, value in values.items():
        fields[position] = value if isinstance(value, bytes) else None
    return _stored(column, join_fields(fields))


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
    columns = [known_column(table, d.column) for d in statement.deletions]
    for column in columns:
        if column.is_primary_key:
            raise InvalidRequestError(
                f"Invalid identifier {column.name} for deletion (should not be a PRIMARY KEY part)"
            )
    statics_only = bool(columns) and all(c.kind is ColumnKind.STATIC for c in columns)
    check_partition_key("DELETE", table, statement.where)
    restrictions = analyze(
        table, statement.where, evaluator, allow_filtering=False, for_select=False
    )
    _check_static_only(statement, table, columns, restrictions)
    if conditional:
        _check_conditional_delete(statement, table, columns, restrictions)
    target = _target(
        table, restrictions, statics_only=statics_only, deleting_rows=not columns, kind="DELETE"
    )
    timestamp = write_timestamp(statement.timestamp, evaluator, default_timestamp)
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
    """A conditional DELETE names one row, or deletes only static columns of one partition
    under conditions on static columns only (``DeleteStatement.Parsed.prepareInternal``)."""
    clustering = table.clustering_columns
    has_slice = restrictions.lower is not None or restrictions.upper is not None
    if len(restrictions.clustering_prefix) == len(clustering) and not has_slice:
        return
    prefix = "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
    # A DELETE without columns deletes whole rows: it applies to the regular columns too.
    if not columns or any(c.kind is not ColumnKind.STATIC for c in columns):
        raise InvalidRequestError(f"{prefix} in order to delete non static columns")
    if _regular_conditions(statement, table):
        raise InvalidRequestError(f"{prefix} in order to use IF condition on non static columns")


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
    grouped: dict[str, tuple[ColumnMetadata, list[Deletion]]] = {}
    for deletion, column in zip(deletions, columns, strict=True):
        grouped.setdefault(column.name, (column, []))[1].append(deletion)
    for column, items in grouped.values():
        row_ck = STATIC_CK if column.kind is ColumnKind.STATIC else ck
        if any(d.element is None and d.field is None for d in items):
            storage.delete_cells(table_id, tok, pk, row_ck, [column.name], timestamp=timestamp)
            continue
        current = _current(storage, table_id, tok, pk, row_ck, column.name, now)
        value = _after_deletions(items, column, current, evaluator)
        storage.write(
            table_id,
            tok,
            pk,
            row_ck,
            {column.name: value},
            timestamp=timestamp,
            now=now,
            merged=(column.name,),
        )


def _after_deletions(
    deletions: Sequence[Deletion],
    column: ColumnMetadata,
    current: bytes | None,
    evaluator: Evaluator,
) -> bytes | None:
    """The value left once a DELETE's elements (``c[k]``) or fields (``c.f``) are removed."""
    dtype = column.type
    if any(d.field is not None for d in deletions):
        if dtype.code is not TypeCode.UDT:
            raise InvalidRequestError(
                f"Invalid field deletion operation for non-UDT column {column.name}"
            )
        if not column.is_multi_cell:
            raise InvalidRequestError(
                f"Frozen UDT column {column.name} does not support field deletions"
            )
        fields = split_fields(current, len(dtype.params)) if current else []
        for deletion in deletions:
            if deletion.field not in dtype.field_names:
                raise InvalidRequestError(
                    f"UDT column {column.name} does not have a field named {deletion.field}"
                )
            if fields:
                fields[dtype.field_names.index(deletion.field)] = None
        value = _stored(column, join_fields(fields)) if fields else None
        return value if isinstance(value, bytes) else None
    if dtype.code not in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP):
        raise InvalidRequestError(
            f"Invalid deletion operation for non collection column {column.name}"
        )
    if not column.is_multi_cell:
        raise InvalidRequestError(
            f"Invalid deletion operation for frozen collection column {column.name}"
        )
    items = split_collection(current, dtype) if current else []
    gone: list[Any] = []
    for deletion in deletions:
        assert deletion.element is not None
        if dtype.code is TypeCode.LIST:
            index = evaluator.int_value(deletion.element, f"[list index of {column.name}]")
            if current is None:
                raise InvalidRequestError(
                    "Attempted to delete an element from a list which is null"
                )
            if index is None or not 0 <= index < len(items):
                raise InvalidRequestError(
                    f"List index {index} out of bound, list has size {len(items)}"
                )
            gone.append(index)
        else:
            key_type = dtype.params[0]
            gone.append(evaluator.value(deletion.element, key_type, column.name))
    if dtype.code is TypeCode.LIST:
        items = [e for i, e in enumerate(items) if i not in gone]
    elif dtype.code is TypeCode.MAP:
        items = [(k, v) for k, v in items if k not in gone]
    else:
        items = [e for e in items if e not in gone]
    return join_collection(items, dtype) if items else None
