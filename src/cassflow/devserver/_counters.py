"""Counter writes: what Cassandra lets a counter table do, and the amount of an increment.

A counter column is only ever incremented or decremented (``c = c + n``, ``c = c - n``); it
cannot be set, take a TTL or a client timestamp (``ModificationStatement.validate``), and
an unset increment changes nothing. Other restrictions live where Cassandra checks them:
CREATE TABLE (``_schema_changes``), INSERT (``_insert``), IF conditions (``_conditions``) and
batches (``_batches``).
"""

from __future__ import annotations

from cassflow.cql import Addition, Delete, Operation, Prepend, SetElement, Subtraction, Update
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import ColumnMetadata, TableMetadata
from cassflow.devserver._values import Evaluator
from cassflow.protocol import UNSET, TypeCode


def _refuse_operation(op: Operation, column: ColumnMetadata) -> None:
    """``Operation.*.prepare``'s refusals of what cannot apply to a counter column."""
    if isinstance(op, Prepend):
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for non list column {column.name}"
        )
    if isinstance(op, SetElement):
        raise InvalidRequestError(
            f"Invalid operation ({op.to_cql()}) for non collection column {column.name}"
        )
    if not isinstance(op, Addition | Subtraction):
        raise InvalidRequestError(
            f"Cannot set the value of counter column {column.name} (counters can only be "
            "incremented/decremented, not set)"
        )


def check_counter_write(statement: Update | Delete, table: TableMetadata) -> None:
    """Refuse a counter-table UPDATE or DELETE as Cassandra does (operations, then options)."""
    if not table.counter:
        return
    if isinstance(statement, Update):
        for op in statement.operations:
            column = table.column(op.column)
            if column is not None and column.type.code is TypeCode.COUNTER:
                _refuse_operation(op, column)
        timestamp, ttl = statement.using.timestamp, statement.using.ttl
    else:
        timestamp, ttl = statement.timestamp, None
    if timestamp is not None:
        raise InvalidRequestError("Cannot provide custom timestamp for counter updates")
    if ttl is not None:
        raise InvalidRequestError("Cannot provide custom TTL for counter updates")


def counter_delta(op: Operation, column: ColumnMetadata, evaluator: Evaluator) -> int | None:
    """The signed amount ``op`` adds to the counter (None for an unset bound value)."""
    _refuse_operation(op, column)
    assert isinstance(op, Addition | Subtraction)
    raw = evaluator.value(op.value, column.type, column.name)
    if raw is UNSET:
        return None
    if not isinstance(raw, bytes):
        raise InvalidRequestError("Invalid null value for counter increment")
    amount = int.from_bytes(raw, "big", signed=True) if raw else 0
    return amount if isinstance(op, Addition) else -amount


__all__ = ["check_counter_write", "counter_delta"]
