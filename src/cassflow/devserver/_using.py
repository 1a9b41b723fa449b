"""USING TIMESTAMP and USING TTL: the timestamp and time to live of one statement's writes."""

from __future__ import annotations

from dataclasses import dataclass

from cassflow.cql import Using
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import TableMetadata
from cassflow.devserver._values import Evaluator

_MAX_TTL = 630_720_000  # 20 years, Cassandra's MAX_TTL


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """Timestamp and TTL of one statement's writes."""

    timestamp: int
    ttl: int | None


def write_options(
    using: Using, table: TableMetadata, evaluator: Evaluator, default_timestamp: int
) -> WriteOptions:
    """Resolve USING TIMESTAMP / TTL (and the table's default_time_to_live)."""
    timestamp = default_timestamp
    if using.timestamp is not None:
        value = evaluator.bigint_value(using.timestamp, "[timestamp]")
        if value is not None:
            timestamp = value
    ttl: int | None = table.options.default_time_to_live or None
    if using.ttl is not None:
        value = evaluator.int_value(using.ttl, "[ttl]")
        if value is not None:
            if value < 0:
                raise InvalidRequestError(f"A TTL must be greater or equal to 0, but was {value}")
            if value > _MAX_TTL:
                raise InvalidRequestError(
                    f"ttl is too large. requested ({value}) maximum ({_MAX_TTL})"
                )
            ttl = value or None
    return WriteOptions(timestamp, ttl)


__all__ = ["WriteOptions", "write_options"]
