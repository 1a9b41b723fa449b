"""Lightweight transactions: IF conditions checked, evaluated and answered as Cassandra does.

A conditional statement (``IF EXISTS``, ``IF NOT EXISTS``, ``IF <conditions>``) reads the
row it names, applies its write only when the conditions hold, and answers with one row:
``[applied]`` first and, when it was not applied, the current values of the columns the
conditions name (of every column for ``IF [NOT] EXISTS``) if the row exists. Cassandra's
rules are kept: a condition on a missing cell compares with null (``IF v = null`` holds on a
missing row), non-frozen collections compare element by element, ``IN`` is a list of ``=``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cassflow.cql import (
    BindMarker,
    ColumnCondition,
    Delete,
    Insert,
    InValues,
    MultiColumnRelation,
    Operator,
    SingleColumnRelation,
    Update,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._keycodec import (
    STATIC_CK,
    KeyCodecError,
    clustering_key,
    decode_clustering_key,
)
from cassflow.devserver._schema import ColumnKind, ColumnMetadata, TableMetadata
from cassflow.devserver._schema_types import contains
from cassflow.devserver._storage import Row, Storage
from cassflow.devserver._values import Evaluator, split_collection, split_fields
from cassflow.protocol import (
    UNSET,
    ColumnSpec,
    Consistency,
    DataType,
    RowsMetadata,
    RowsResult,
    TypeCode,
)

_APPLIED = DataType(TypeCode.BOOLEAN)
_EMPTY_COLLECTION = b"\x00\x00\x00\x00"
_SLICES = (Operator.LT, Operator.LTE, Operator.GT, Operator.GTE)
_COLLECTIONS = (TypeCode.LIST, TypeCode.SET, TypeCode.MAP)
_SERIAL_LEVELS = (Consistency.SERIAL, Consistency.LOCAL_SERIAL)

Modification = Insert | Update | Delete


def is_conditional(statement: Modification) -> bool:
    """Whether ``statement`` is a lightweight transaction."""
    if isinstance(statement, Insert):
        return statement.if_not_exists
    return statement.if_exists or bool(statement.conditions)


def _timestamp_set(statement: Modification) -> bool:
    if isinstance(statement, Delete):
        return statement.timestamp is not None
    return statement.using.timestamp is not None


# --- preparation ----------------------------------------------------------------------------


def check_conditional(statement: Modification, table: TableMetadata) -> None:
    """Refuse what Cassandra refuses when it prepares a conditional statement."""
    conditions = () if isinstance(statement, Insert) else statement.conditions
    if conditions:
        if _timestamp_set(statement):
            raise InvalidRequestError("Cannot provide custom timestamp for conditional updates")
        for condition in conditions:
            column = table.column(condition.column)
            if column is None:
                raise InvalidRequestError(
                    f"Undefined column name {condition.column} in table "
                    f"{table.keyspace}.{table.name}"
                )
            _check_condition(condition, column)
            if column.is_primary_key:
                raise InvalidRequestError(
                    f"PRIMARY KEY column '{column.name}' cannot have IF conditions"
                )
    if is_conditional(statement):
        if table.counter:
            raise InvalidRequestError("Conditional updates are not supported on counter tables")
        if _timestamp_set(statement):
            raise InvalidRequestError("Cannot provide custom timestamp for conditional updates")


def _check_condition(condition: ColumnCondition, column: ColumnMetadata) -> None:
    dtype = column.type
    if dtype.code is TypeCode.COUNTER:
        raise InvalidRequestError("Conditions on counters are not supported")
    receiver = dtype
    if condition.element is not None:
        if dtype.code not in _COLLECTIONS:
            raise InvalidRequestError(
                f"Invalid element access syntax for non-collection column {column.name}"
            )
        if dtype.code is TypeCode.SET:
            raise InvalidRequestError(f"Invalid element access syntax for set column {column.name}")
        receiver = dtype.params[-1]
    elif condition.field is not None:
        if dtype.code is not TypeCode.UDT:
            raise InvalidRequestError(
                f"Invalid field selection: {column.name} of type {dtype.cql()} is not a user type"
            )
        if condition.field not in dtype.field_names:
            raise InvalidRequestError(f"Unknown field {condition.field} for column {column.name}")
        receiver = dtype.params[dtype.field_names.index(condition.field)]
    if condition.operator in _SLICES and contains(receiver, TypeCode.DURATION):
        for code, what in (
            (_COLLECTIONS, "collections"),
            ((TypeCode.TUPLE,), "tuples"),
            ((TypeCode.UDT,), "UDTs"),
        ):
            if receiver.code in code:
                raise InvalidRequestError(
                    f"Slice conditions are not supported on {what} containing durations"
                )
        raise InvalidRequestError(
            f"Slice conditions ( {condition.operator.value} ) are not supported on durations"
        )
    if condition.operator is Operator.CONTAINS_KEY and receiver.code is not TypeCode.MAP:
        raise InvalidRequestError(f"Cannot use CONTAINS KEY on non-map column {column.name}")
    if condition.operator is Operator.CONTAINS and receiver.code not in _COLLECTIONS:
        raise InvalidRequestError(f"Cannot use CONTAINS on non-collection column {column.name}")


def condition_columns(statement: Modification, table: TableMetadata) -> list[ColumnMetadata]:
    """The columns the conditions name: regular ones, then static ones, once each."""
    if isinstance(statement, Insert):
        return []
    named = [table.column(c.column) for c in statement.conditions]
    columns = [c for c in named if c is not None]
    ordered = [c for c in columns if c.kind is not ColumnKind.STATIC]
    ordered += [c for c in columns if c.kind is ColumnKind.STATIC]
    return list(dict.fromkeys(ordered))


def check_write_consistency(
    table: TableMetadata,
    conditional: bool,
    consistency: Consistency,
    serial: Consistency | None,
) -> None:
    """Cassandra's consistency checks of a write: serial levels are for conditional writes'
    reads only (``validateForCas``/``validateForCasCommit``/``validateForWrite``), and a
    counter write takes neither ANY nor a serial level."""
    if conditional:
        if serial is not None and serial not in _SERIAL_LEVELS:
            raise InvalidRequestError(
                "Invalid consistency for conditional update. Must be one of SERIAL or LOCAL_SERIAL"
            )
        if consistency in _SERIAL_LEVELS:
            raise InvalidRequestError(
                f"{consistency.name} is not supported as conditional update commit consistency. "
                "Use ANY if you mean \"make sure it is accepted but I don't care how many "
                'replicas commit it for non-SERIAL reads"'
            )
        return
    if table.counter:
        if consistency is Consistency.ANY:
            raise InvalidRequestError(
                f"Consistency level ANY is not yet supported for counter table {table.name}"
            )
        if consistency in _SERIAL_LEVELS:
            raise InvalidRequestError("Counter operations are inherently non-serializable")
        return
    if consistency in _SERIAL_LEVELS:
        raise InvalidRequestError("You must use conditional updates for serializable writes")


# --- evaluation -----------------------------------------------------------------------------


def _order(value: bytes, dtype: DataType) -> bytes | None:
    """Bytes whose order is ``dtype``'s order; None for types without one (durations)."""
    try:
        return clustering_key([value], [dtype], [False])
    except KeyCodecError:
        return None


def _compare(left: bytes, right: bytes, dtype: DataType) -> int:
    a, b = _order(left, dtype), _order(right, dtype)
    if a is None or b is None:
        return 0 if left == right else (-1 if left < right else 1)
    return (a > b) - (a < b)


def _holds(op: Operator, dtype: DataType, value: bytes | None, current: bytes | None) -> bool:
    """Cassandra's ``compareWithOperator``: ``current op value``."""
    if value is None:
        if op is Operator.EQ:
            return current is None
        if op is Operator.NEQ:
            return current is not None
        raise InvalidRequestError(f'Invalid comparison with null for operator "{op.value}"')
    if current is None:
        return op is Operator.NEQ
    if op in (Operator.CONTAINS, Operator.CONTAINS_KEY):
        return _contains(op, dtype, current, value)
    comparison = _compare(current, value, dtype)
    return {
        Operator.EQ: comparison == 0,
        Operator.NEQ: comparison != 0,
        Operator.LT: comparison < 0,
        Operator.LTE: comparison <= 0,
        Operator.GT: comparison > 0,
        Operator.GTE: comparison >= 0,
    }[op]


def _contains(op: Operator, dtype: DataType, collection: bytes, value: bytes) -> bool:
    items = split_collection(collection, dtype)
    if dtype.code is TypeCode.MAP:
        if op is Operator.CONTAINS_KEY:
            pool, element = [k for k, _ in items], dtype.params[0]
        else:
            pool, element = [v for _, v in items], dtype.params[1]
    else:
        pool, element = items, dtype.params[0]
    return any(_compare(item, value, element) == 0 for item in pool)


def _values(
    condition: ColumnCondition, receiver: DataType, evaluator: Evaluator, name: str
) -> list[bytes | None]:
    """The condition's value(s): one, or the list of an IN. ``name`` is the receiver's name
    in Cassandra's messages (``c``, ``value(c)``, ``c.field``)."""
    if condition.operator is Operator.IN:
        if isinstance(condition.value, BindMarker):
            raw = evaluator.value(condition.value, DataType.list_of(receiver), f"in({name})")
            if raw is UNSET:
                raise InvalidRequestError("Invalid 'unset' value in condition")
            if raw is None:
                raise InvalidRequestError("Invalid null list in IN condition")
            assert isinstance(raw, bytes)
            return list(split_collection(raw, DataType.list_of(receiver)))
        assert isinstance(condition.value, InValues)
        out: list[bytes | None] = []
        for term in condition.value.items:
            value = evaluator.value(term, receiver, name)
            if value is not UNSET:  # unset IN values are left out, as Cassandra filters them
                out.append(value if isinstance(value, bytes) else None)
        return out
    if condition.operator in (Operator.CONTAINS, Operator.CONTAINS_KEY):
        receiver = receiver.params[0 if condition.operator is Operator.CONTAINS_KEY else -1]
    value = evaluator.value(condition.value, receiver, name)
    if value is UNSET:
        raise InvalidRequestError("Invalid 'unset' value in condition")
    return [value if isinstance(value, bytes) else None]


def _cell(row: Row | None, name: str) -> bytes | None:
    if row is None:
        return None
    cell = row.cells.get(name)
    return None if cell is None else cell.value


def condition_holds(
    condition: ColumnCondition, column: ColumnMetadata, evaluator: Evaluator, row: Row | None
) -> bool:
    """Whether ``condition`` holds on ``row`` (None: the row does not exist)."""
    dtype = column.type
    op = Operator.EQ if condition.operator is Operator.IN else condition.operator
    current = _cell(row, column.name)
    if condition.element is not None:
        if dtype.code is TypeCode.MAP:
            key = evaluator.value(condition.element, dtype.params[0], f"key({column.name})")
            if not isinstance(key, bytes):
                raise InvalidRequestError("Invalid null value for map element access")
            receiver = dtype.params[1]
            element = None
            if current is not None:
                element = next(
                    (
                        v
                        for k, v in split_collection(current, dtype)
                        if _compare(k, key, dtype.params[0]) == 0
                    ),
                    None,
                )
        else:
            index = evaluator.int_value(condition.element, f"idx({column.name})")
            if index is None:
                raise InvalidRequestError("Invalid null value for list element access")
            if index < 0:
                raise InvalidRequestError(f"Invalid negative list index {index}")
            receiver = dtype.params[0]
            items = split_collection(current, dtype) if current is not None else []
            element = items[index] if index < len(items) else None
        values = _values(condition, receiver, evaluator, f"value({column.name})")
        return any(_holds(op, receiver, v, element) for v in values)
    if condition.field is not None:
        position = dtype.field_names.index(condition.field)
        receiver = dtype.params[position]
        field = None
        if current is not None:
            field = split_fields(current, len(dtype.params))[position]
        values = _values(condition, receiver, evaluator, f"{column.name}.{condition.field}")
        return any(_holds(op, receiver, v, field) for v in values)
    values = _values(condition, dtype, evaluator, column.name)
    if column.is_multi_cell and dtype.code in _COLLECTIONS:
        return _multi_cell_holds(op, dtype, values, current)
    return any(_holds(op, dtype, v, current) for v in values)


def _multi_cell_holds(
    op: Operator, dtype: DataType, values: Sequence[bytes | None], current: bytes | None
) -> bool:
    # A non-frozen collection has no null: no cells is the empty collection.
    present = current is not None and current != _EMPTY_COLLECTION
    for value in values:
        if value is None:
            if op is Operator.EQ:
                if not present:
                    return True
                continue
            if op is Operator.NEQ:
                return present
            raise InvalidRequestError(f'Invalid comparison with null for operator "{op.value}"')
        if op in (Operator.CONTAINS, Operator.CONTAINS_KEY):
            if present and _contains(op, dtype, current or b"", value):
                return True
            continue
        if _holds(op, dtype, value, current if present else _EMPTY_COLLECTION):
            return True
    return False


# --- the read and the answer ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CasRow:
    """The row a conditional statement names, as it is before the statement."""

    pk_values: tuple[bytes, ...]
    tok: int
    pk: bytes
    ck: bytes  # STATIC_CK when the statement names only the static row
    ck_values: tuple[bytes | None, ...]
    static: Row | None
    row: Row | None


def read_cas_row(
    table: TableMetadata,
    storage: Storage,
    pk_values: Sequence[bytes],
    tok: int,
    pk: bytes,
    ck: bytes,
    now: int,
) -> CasRow:
    """Read the static row and the named row of a conditional statement."""
    table_id = str(table.id)
    clustering = table.clustering_columns
    static = storage.read_row(table_id, tok, pk, STATIC_CK, now=now) if clustering else None
    row = (
        storage.read_row(table_id, tok, pk, ck, now=now)
        if ck != STATIC_CK or not clustering
        else None
    )
    if ck != STATIC_CK:
        ck_values: tuple[bytes | None, ...] = tuple(
            decode_clustering_key(
                ck, [c.type for c in clustering], [c.is_reversed for c in clustering]
            )
        )
    else:
        ck_values = (None,) * len(clustering)
    return CasRow(tuple(pk_values), tok, pk, ck, ck_values, static, row)


def statement_holds(
    statement: Modification, table: TableMetadata, evaluator: Evaluator, target: CasRow
) -> bool:
    """Whether the conditions of ``statement`` hold on ``target``."""
    regular_row = target.row
    if isinstance(statement, Insert):
        return regular_row is None
    if statement.if_exists:
        if target.ck == STATIC_CK and table.clustering_columns:
            return target.static is not None
        return regular_row is not None
    for condition in statement.conditions:
        column = table.column(condition.column)
        assert column is not None  # checked by check_conditional
        source = target.static if column.kind is ColumnKind.STATIC else regular_row
        if not condition_holds(condition, column, evaluator, source):
            return False
    return True


@dataclass(frozen=True, slots=True)
class CasResult:
    """The answer of a conditional statement (or batch)."""

    applied: bool
    columns: tuple[ColumnMetadata, ...] = ()
    rows: tuple[tuple[bytes | None, ...], ...] = ()

    def message(self, table: TableMetadata) -> RowsResult:
        """The RESULT Rows message: ``[applied]``, then the current values if not applied."""
        specs = [
            ColumnSpec(keyspace=table.keyspace, table=table.name, name="[applied]", type=_APPLIED)
        ]
        flag = b"\x01" if self.applied else b"\x00"
        if self.applied or not self.rows:
            return RowsResult(metadata=RowsMetadata.of(tuple(specs)), rows=((flag,),))
        specs += [
            ColumnSpec(keyspace=table.keyspace, table=table.name, name=c.name, type=c.type)
            for c in self.columns
        ]
        return RowsResult(
            metadata=RowsMetadata.of(tuple(specs)), rows=tuple((flag, *row) for row in self.rows)
        )


APPLIED = CasResult(True)


def read_columns(table: TableMetadata, statements: Iterable[Modification]) -> set[str]:
    """The non-key columns the CAS read fetches (Cassandra's ``columnsToRead``)."""
    statics: set[str] = set()
    regulars: set[str] = set()
    for statement in statements:
        names = {c.name for c in condition_columns(statement, table)}
        updated = _updated(statement)
        statics |= {n for n in names if _kind(table, n) is ColumnKind.STATIC}
        regulars |= {n for n in names if _kind(table, n) is ColumnKind.REGULAR}
        if any(_kind(table, n) is ColumnKind.STATIC for n in updated):
            statics |= {c.name for c in table.static_columns}
        if _updates_regular_rows(statement, table):
            regulars |= {c.name for c in table.regular_columns}
    return statics | regulars


def _kind(table: TableMetadata, name: str) -> ColumnKind | None:
    column = table.column(name)
    return None if column is None else column.kind


def _updated(statement: Modification) -> list[str]:
    if isinstance(statement, Insert):
        return list(statement.columns)
    if isinstance(statement, Update):
        return [op.column for op in statement.operations]
    return [d.column for d in statement.deletions]


def _updates_regular_rows(statement: Modification, table: TableMetadata) -> bool:
    if isinstance(statement, Insert):
        return True
    if not table.clustering_columns:
        return True
    named: set[str] = set()
    for relation in statement.where:
        if isinstance(relation, SingleColumnRelation):
            named.add(relation.column)
        elif isinstance(relation, MultiColumnRelation):
            named.update(relation.columns)
    return any(c.name in named for c in table.clustering_columns)


def failure_rows(
    table: TableMetadata,
    columns: Sequence[ColumnMetadata],
    targets: Sequence[CasRow],
    fetched: set[str],
) -> tuple[tuple[bytes | None, ...], ...]:
    """The current rows a failed conditional statement shows: one per existing row read, in
    clustering order; when none exists, the partition's static row alone if it has fetched
    content (Cassandra's answer for a partition with no matching row)."""
    unique = {t.ck: t for t in targets}
    existing = [unique[ck] for ck in sorted(unique) if unique[ck].row is not None]
    if existing:
        return tuple(_failure_row(table, columns, t, fetched) for t in existing)
    for target in unique.values():
        static = target.static
        if static is not None and any(
            n in static.cells for n in fetched if _kind(table, n) is ColumnKind.STATIC
        ):
            return (_failure_row(table, columns, target, fetched),)
    return ()


def _failure_row(
    table: TableMetadata, columns: Sequence[ColumnMetadata], target: CasRow, fetched: set[str]
) -> tuple[bytes | None, ...]:
    keys: dict[str, bytes | None] = dict(
        zip([c.name for c in table.partition_key], target.pk_values, strict=True)
    )
    if target.row is not None:
        keys.update(zip([c.name for c in table.clustering_columns], target.ck_values, strict=True))
    out: list[bytes | None] = []
    for column in columns:
        if column.is_primary_key:
            out.append(keys.get(column.name))
        elif column.name not in fetched:
            out.append(None)
        elif column.kind is ColumnKind.STATIC:
            out.append(_cell(target.static, column.name))
        else:
            out.append(_cell(target.row, column.name))
    return tuple(out)


def statement_result(
    statement: Modification,
    table: TableMetadata,
    evaluator: Evaluator,
    target: CasRow,
) -> CasResult:
    """Evaluate one conditional statement: APPLIED, or the failure answer."""
    if statement_holds(statement, table, evaluator, target):
        return APPLIED
    wildcard = isinstance(statement, Insert) or statement.if_exists
    columns = table.columns if wildcard else tuple(condition_columns(statement, table))
    rows = failure_rows(table, columns, [target], read_columns(table, [statement]))
    return CasResult(False, tuple(columns), rows)


__all__ = [
    "APPLIED",
    "CasResult",
    "CasRow",
    "check_conditional",
    "check_write_consistency",
    "condition_columns",
    "condition_holds",
    "failure_rows",
    "is_conditional",
    "read_cas_row",
    "read_columns",
    "statement_holds",
    "statement_result",
]
