"""BATCH rules Cassandra enforces, and conditional batches evaluated as one transaction.

:func:`check_batch` refuses the mixtures Cassandra's ``BatchStatement.validate`` refuses
(counter statements in a logged batch, counter and non-counter statements together, a
batch timestamp with conditions or counters). :func:`evaluate_conditional_batch` reads every
row the conditions of a conditional batch name, on one partition of one table, and answers
as Cassandra does: ``[applied]``, then (when not applied) the primary key and the condition
columns of each existing row, or every column when a statement has ``IF [NOT] EXISTS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from cassflow.cql import Delete, Insert, Update
from cassflow.devserver._conditions import (
    APPLIED,
    CasResult,
    CasRow,
    check_conditional,
    condition_columns,
    failure_rows,
    is_conditional,
    read_cas_row,
    read_columns,
    statement_holds,
)
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._insert import plan_insert
from cassflow.devserver._keycodec import STATIC_CK
from cassflow.devserver._modify import cas_row, target_of
from cassflow.devserver._schema import ColumnMetadata, TableMetadata
from cassflow.devserver._storage import Storage
from cassflow.devserver._values import Evaluator

Modification = Insert | Update | Delete


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One statement of a batch, with its table and bound values."""

    statement: Modification
    table: TableMetadata
    evaluator: Evaluator


def _timestamp_set(statement: Modification) -> bool:
    if isinstance(statement, Delete):
        return statement.timestamp is not None
    return statement.using.timestamp is not None


def check_batch(kind: str, items: Sequence[BatchItem], *, timestamp_set: bool) -> None:
    """Cassandra's ``BatchStatement.validate``; ``kind`` is LOGGED, UNLOGGED or COUNTER."""
    conditional = any(is_conditional(i.statement) for i in items)
    if timestamp_set:
        if conditional:
            raise InvalidRequestError("Cannot provide custom timestamp for conditional BATCH")
        if kind == "COUNTER":
            raise InvalidRequestError("Cannot provide custom timestamp for counter BATCH")
    counters = non_counters = False
    for item in items:
        if timestamp_set and _timestamp_set(item.statement):
            raise InvalidRequestError(
                "Timestamp must be set either on BATCH or individual statements"
            )
        if item.table.counter:
            counters = True
        else:
            non_counters = True
    if timestamp_set and counters:
        raise InvalidRequestError("Cannot provide custom timestamp for a BATCH containing counters")
    if kind == "COUNTER" and non_counters:
        raise InvalidRequestError("Cannot include non-counter statement in a counter batch")
    if counters and non_counters:
        raise InvalidRequestError(
            "Counter and non-counter mutations cannot exist in the same batch"
        )
    if kind == "LOGGED" and counters:
        raise InvalidRequestError("Cannot include a counter statement in a logged batch")
    if conditional:
        first = items[0].table
        for item in items[1:]:
            if (item.table.keyspace, item.table.name) != (first.keyspace, first.name):
                raise InvalidRequestError("Batch with conditions cannot span multiple tables")


def unconditional(statement: Modification) -> Modification:
    """The statement without its IF clause (a conditional batch applies them as plain ones)."""
    if isinstance(statement, Insert):
        return dataclasses.replace(statement, if_not_exists=False)
    return dataclasses.replace(statement, if_exists=False, conditions=())


def _row_of(item: BatchItem, storage: Storage, now: int) -> tuple[int, CasRow]:
    """How many partitions the statement names, and the row it names in the first."""
    statement, table = item.statement, item.table
    if isinstance(statement, Insert):
        return 1, plan_insert(statement, table).cas_row(item.evaluator, storage, now)
    target, restrictions = target_of(statement, table, item.evaluator)
    if len(target.partitions) > 1:
        return len(target.partitions), read_cas_row(
            table, storage, restrictions.partitions()[0], *target.partitions[0], STATIC_CK, now
        )
    return 1, cas_row(statement, table, storage, restrictions, target, now)


def evaluate_conditional_batch(items: Sequence[BatchItem], storage: Storage, now: int) -> CasResult:
    """Whether every condition of the batch holds; when not, Cassandra's answer."""
    key: bytes | None = None
    rows: list[CasRow] = []
    kinds: dict[bytes, str] = {}
    wildcard = False
    named: list[ColumnMetadata] = []
    holds = True
    table = items[0].table
    for item in items:
        statement = item.statement
        if is_conditional(statement):
            check_conditional(statement, item.table)
        partitions, row = _row_of(item, storage, now)
        if partitions > 1:
            raise InvalidRequestError(
                "Batch with conditions cannot span multiple partitions (you cannot use IN on "
                "the partition key)"
            )
        if key is None:
            key = row.pk
        elif key != row.pk:
            raise InvalidRequestError("Batch with conditions cannot span multiple partitions")
        if not is_conditional(statement):
            continue
        kind = _condition_kind(statement)
        previous = kinds.setdefault(row.ck, kind)
        if previous != kind:
            raise InvalidRequestError(_mix_error(previous, kind))
        rows.append(row)
        if isinstance(statement, Insert) or statement.if_exists:
            wildcard = True
        else:
            named += condition_columns(statement, item.table)
        if holds and not statement_holds(statement, item.table, item.evaluator, row):
            holds = False
    if holds:
        return APPLIED
    if wildcard:
        columns: tuple[ColumnMetadata, ...] = table.columns
    else:
        columns = tuple(dict.fromkeys([*table.primary_key, *named]))
    fetched = read_columns(table, [i.statement for i in items if is_conditional(i.statement)])
    regular = [r for r in rows if r.ck != STATIC_CK or not table.clustering_columns]
    if not regular:
        # Only static conditions: Cassandra's CAS read is the partition's first live row.
        regular = [_first_row(table, storage, rows[0], now)]
    return CasResult(False, columns, failure_rows(table, columns, regular, fetched))


def _first_row(table: TableMetadata, storage: Storage, static: CasRow, now: int) -> CasRow:
    rows = storage.read_partition(str(table.id), static.tok, static.pk, now=now)
    try:
        first = next((r for r in rows if r.ck != STATIC_CK), None)
    finally:
        rows.close()  # type: ignore[attr-defined]
    if first is None:
        return static
    return read_cas_row(table, storage, static.pk_values, static.tok, static.pk, first.ck, now)


def _condition_kind(statement: Modification) -> str:
    if isinstance(statement, Insert):
        return "not exists"
    return "exists" if statement.if_exists else "conditions"


def _mix_error(previous: str, kind: str) -> str:
    if {previous, kind} == {"exists", "not exists"}:
        return "Cannot mix IF EXISTS and IF NOT EXISTS conditions for the same row"
    other = kind if previous == "conditions" else previous
    negation = "NOT " if other == "not exists" else ""
    return f"Cannot mix IF conditions and IF {negation}EXISTS for the same row"


__all__ = [
    "BatchItem",
    "check_batch",
    "evaluate_conditional_batch",
    "unconditional",
]
