"""INSERT, UPDATE and DELETE: statements turned into storage writes, as Cassandra applies them.

Each statement names its rows through the WHERE clause (UPDATE, DELETE) or its values
(INSERT), then writes cells with one timestamp: ``USING TIMESTAMP``, else the client's default
timestamp, else the server's clock. INSERT writes the row marker, UPDATE does not (a row made
by UPDATE disappears when its cells are nulled). Static columns live in the partition's
static row. Non-frozen collections and user types are written as element cells
(:mod:`._collection_ops`); only list removals and index operations read the stored list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cassflow.cql import Delete, Deletion, Insert, Operation, SetValue, Update
from cassflow.devserver._collection_ops import (
    check_collection_operation,
    deletion_cells,
    operation_cells,
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
from cassflow.devserver._storage import MultiCellWrite, Storage
from cassflow.devserver._using import WriteOptions, write_options, write_timestamp
from cassflow.devserver._values import Evaluator
from cassflow.devserver._where import Restrictions, analyze, known_column
from cassflow.devserver._write_where import check_partition_key, non_primary_key_error
from cassflow.protocol import UNSET, TypeCode, Value


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
    regular_multi: dict[str, MultiCellWrite] = {}
    static_multi: dict[str, MultiCellWrite] = {}
    counters: dict[str, int] = {}
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
        is_static = column.kind is ColumnKind.STATIC
        if column.is_multi_cell:
            row_ck = STATIC_CK if is_static else ck
            existing = _existing(storage, table_id, tok, pk, row_ck, column.name, now)
            change = operation_cells(ops, column, evaluator, existing, options.timestamp)
            if change is not None:
                (static_multi if is_static else regular_multi)[column.name] = change
            continue
        value = _simple_value(ops, column, evaluator)
        if value is not UNSET:
            (static if is_static else regular)[column.name] = value
    if counters:
        storage.add_counters(table_id, tok, pk, ck, counters, timestamp=options.timestamp)
    for row_ck, cells, multi in ((ck, regular, regular_multi), (STATIC_CK, static, static_multi)):
        if cells or multi:
            storage.write(
                table_id,
                tok,
                pk,
                row_ck,
                cells,
                timestamp=options.timestamp,
                ttl=options.ttl,
                now=now,
                multi_cell=multi,
            )


def _existing(
    storage: Storage, table_id: str, tok: int, pk: bytes, ck: bytes, column: str, now: int
) -> Callable[[], list[tuple[bytes, bytes]]]:
    """The stored element cells of a column, read once on first use (read-before-write)."""
    cache: list[list[tuple[bytes, bytes]]] = []

    def read() -> list[tuple[bytes, bytes]]:
        if not cache:
            cache.append(storage.read_elements(table_id, tok, pk, ck, column, now=now))
        return cache[0]

    return read


def _simple_value(ops: Sequence[Operation], column: ColumnMetadata, evaluator: Evaluator) -> Value:
    """The value of a column that is one cell (frozen values included): only ``c = v``
    applies to it; the parser lets a plain assignment through only alone."""
    if len(ops) == 1 and isinstance(ops[0], SetValue):
        return evaluator.value(ops[0].value, column.type, column.name)
    for op in ops:
        check_collection_operation(op, column)  # raises: no element of it can be changed
    raise AssertionError(f"operations {ops} on {column.name} passed the checks")


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
        if not column.is_multi_cell:
            _check_simple_deletions(items, column)
            storage.delete_cells(table_id, tok, pk, row_ck, [column.name], timestamp=timestamp)
            continue
        existing = _existing(storage, table_id, tok, pk, row_ck, column.name, now)
        change = deletion_cells(items, column, evaluator, existing, timestamp)
        if change is not None:
            storage.write(
                table_id,
                tok,
                pk,
                row_ck,
                {},
                timestamp=timestamp,
                now=now,
                multi_cell={column.name: change},
            )


def _check_simple_deletions(deletions: Sequence[Deletion], column: ColumnMetadata) -> None:
    """A column that is one cell is deleted whole: ``c[k]`` and ``c.f`` are refused."""
    code = column.type.code
    for deletion in deletions:
        if deletion.field is not None:
            if code is not TypeCode.UDT:
                raise InvalidRequestError(
                    f"Invalid field deletion operation for non-UDT column {column.name}"
                )
            raise InvalidRequestError(
                f"Frozen UDT column {column.name} does not support field deletions"
            )
        if deletion.element is not None:
            if code not in (TypeCode.LIST, TypeCode.SET, TypeCode.MAP):
                raise InvalidRequestError(
                    f"Invalid deletion operation for non collection column {column.name}"
                )
            raise InvalidRequestError(
                f"Invalid deletion operation for frozen collection column {column.name}"
            )
