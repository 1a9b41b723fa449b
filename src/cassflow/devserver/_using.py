"""USING TIMESTAMP and USING TTL: the timestamp and time to live of one statement's writes."""

from __future__ import annotations

from dataclasses import dataclass

from cassflow.cql import Term, Using
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import TableMetadata
from cassflow.devserver._values import Evaluator
from cassflow.protocol import UNSET, DataType, TypeCode

_MAX_TTL = 630_720_000  # 20 years, Cassandra's MAX_TTL
_BIGINT = DataType(TypeCode.BIGINT)
_INT = DataType(TypeCode.INT)


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """Timestamp and TTL of one statement's writes."""

    timestamp: int
    ttl: int | None


def write_options(
    using: Using, table: TableMetadata, evaluator: Evaluator, default_timestamp: int
) -> WriteOptions:
    """Resolve USING TIMESTAMP / TTL (and the table's default_time_to_live)."""
    return WriteOptions(
        write_timestamp(using.timestamp, evaluator, default_timestamp),
        _ttl(using.ttl, table, evaluator),
    )


def write_timestamp(term: Term | None, evaluator: Evaluator, default_timestamp: int) -> int:
    """``Attributes.getTimestamp``: the USING TIMESTAMP value; an unset one is no timestamp,
    a null one is refused."""
    if term is None:
        return default_timestamp
    raw = evaluator.value(term, _BIGINT, "[timestamp]")
    if raw is UNSET:
        return default_timestamp
    if not isinstance(raw, bytes) or not raw:
        raise InvalidRequestError("Invalid null value of timestamp")
    return int.from_bytes(raw, "big", signed=True)


def _ttl(term: Term | None, table: TableMetadata, evaluator: Evaluator) -> int | None:
    """``Attributes.getTimeToLive``: a null (or empty) TTL writes without one, an unset TTL
    is the table's default; 0 means no TTL. None: the cells do not expire."""
    default = table.options.default_time_to_live or None
    if term is None:
        return default
    raw = evaluator.value(term, _INT, "[ttl]")
    if raw is UNSET:
        return default
    if not isinstance(raw, bytes) or not raw:
        return None
    value = int.from_bytes(raw, "big", signed=True)
    if value < 0:
        raise InvalidRequestError(f"A TTL must be greater or equal to 0, but was {value}")
    if value > _MAX_TTL:
        raise InvalidRequestError(f"ttl is too large. requested ({value}) maximum ({_MAX_TTL})")
    return value or None


__all__ = ["WriteOptions", "write_options", "write_timestamp"]
