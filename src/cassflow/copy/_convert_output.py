"""Driver values to CSV text and JSON values that the converters read back identically.

Text forms: integers and decimals as plain digits (``str(Decimal)`` keeps the scale), floats
by ``repr`` (``NaN``, ``Infinity``, ``-Infinity`` when not finite), booleans ``true`` /
``false``, timestamps in ISO 8601 UTC with milliseconds (``2024-05-01T10:00:00.123Z``),
dates ``yyyy-mm-dd``, times ``hh:mm:ss.fffffffff``, blobs ``0x`` + hex, durations as
Cassandra writes them (``1y2mo3d4h5m6s7ms8us9ns``); collections, tuples and user types as
JSON (dsbulk's convention) made of the JSON forms. JSON forms: integers (varint too) as
numbers, floats as numbers when finite, decimals as strings (exact), other scalars as their
text; lists for lists, sets, vectors and tuples; objects for maps (keys in their text form)
and user types.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable
from typing import Any, Final

from cassandra import cqltypes, util

from cassflow.copy._convert_temporal import (
    date_days,
    datetime_ms,
    format_date,
    format_time,
    format_timestamp,
    time_nanos,
)
from cassflow.copy._cqltypes import unwrap
from cassflow.copy._model import ConversionError
from cassflow.cql._literals import format_duration

Formatter = Callable[[Any], Any]

_INTEGERS: Final = (
    cqltypes.ByteType,
    cqltypes.ShortType,
    cqltypes.Int32Type,
    cqltypes.LongType,
    cqltypes.CounterColumnType,
    cqltypes.IntegerType,
)
_STRINGS: Final = (cqltypes.UTF8Type, cqltypes.AsciiType)


def float_text(value: float) -> str:
    """``repr`` of a float (the shortest text that reads back to it), CQL's names for the
    values that are not finite."""
    if math.isfinite(value):
        return repr(float(value))
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def timestamp_text(value: Any) -> str:
    """A timestamp (``datetime``, naive meaning UTC, or int milliseconds) in ISO 8601 UTC."""
    if isinstance(value, datetime.datetime):
        return format_timestamp(datetime_ms(value))
    return format_timestamp(int(value))


def date_days_of(value: Any) -> int:
    """Days since the epoch of a ``cassandra.util.Date``, a ``date`` or an int of days."""
    if isinstance(value, util.Date):
        return int(value.days_from_epoch)
    if isinstance(value, datetime.date):
        return date_days(value)
    return int(value)


def time_nanos_of(value: Any) -> int:
    """Nanoseconds since midnight of a ``cassandra.util.Time``, a ``time`` or an int."""
    if isinstance(value, util.Time):
        return int(value.nanosecond_time)
    if isinstance(value, datetime.time):
        return time_nanos(value)
    return int(value)


def duration_text(value: Any) -> str:
    """A ``cassandra.util.Duration`` as Cassandra writes it (``0s`` for zero)."""
    try:
        return format_duration(value.months, value.days, value.nanoseconds)
    except ValueError as exc:
        raise ConversionError(str(exc)) from None


def _blob_text(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


def scalar_text(cql_type: type) -> Formatter | None:
    """The text formatter of a native type; ``None`` for collections, tuples, user types."""
    if issubclass(cql_type, _INTEGERS):
        return lambda v: str(int(v))
    if issubclass(cql_type, cqltypes.FloatType | cqltypes.DoubleType):
        return float_text
    if issubclass(cql_type, _STRINGS):
        return str
    if issubclass(cql_type, cqltypes.BooleanType):
        return _bool_text
    if issubclass(cql_type, cqltypes.BytesType):
        return _blob_text
    if issubclass(cql_type, cqltypes.TimeUUIDType | cqltypes.UUIDType):
        return str
    if issubclass(cql_type, cqltypes.DecimalType | cqltypes.InetAddressType):
        return str
    if issubclass(cql_type, cqltypes.DateType):
        return timestamp_text
    if issubclass(cql_type, cqltypes.SimpleDateType):
        return lambda v: format_date(date_days_of(v))
    if issubclass(cql_type, cqltypes.TimeType):
        return lambda v: format_time(time_nanos_of(v))
    if issubclass(cql_type, cqltypes.DurationType):
        return duration_text
    return None


def json_formatter(cql_type: type) -> Formatter:
    """Non-null driver value -> JSON value, for one type (nested types included)."""
    base: Any = unwrap(cql_type)
    if issubclass(base, _INTEGERS):
        return int
    if issubclass(base, cqltypes.FloatType | cqltypes.DoubleType):
        return lambda v: float(v) if math.isfinite(v) else float_text(v)
    if issubclass(base, cqltypes.BooleanType):
        return bool
    if issubclass(base, cqltypes.UserType):
        names = list(base.fieldnames)
        fields = [json_formatter(t) for t in base.subtypes]
        return lambda v: {
            n: None if x is None else f(x) for n, f, x in zip(names, fields, v, strict=False)
        }
    if issubclass(base, cqltypes.TupleType):
        items = [json_formatter(t) for t in base.subtypes]
        return lambda v: [None if x is None else f(x) for f, x in zip(items, v, strict=False)]
    if issubclass(base, cqltypes.MapType):
        key_type, value_type = base.subtypes
        key_text = text_formatter(key_type)
        value_json = json_formatter(value_type)
        return lambda v: {key_text(k): None if x is None else value_json(x) for k, x in v.items()}
    if issubclass(base, cqltypes.ListType | cqltypes.SetType):
        element = json_formatter(base.subtypes[0])
        return lambda v: [None if x is None else element(x) for x in v]
    if issubclass(base, cqltypes.VectorType):
        element = json_formatter(base.subtype)
        return lambda v: [element(x) for x in v]
    text = scalar_text(base)
    if text is None:
        return str
    return text


def text_formatter(cql_type: type) -> Formatter:
    """Non-null driver value -> text, for one type (nested types as compact JSON)."""
    base = unwrap(cql_type)
    text = scalar_text(base)
    if text is not None:
        return text
    as_json = json_formatter(base)
    return lambda v: json.dumps(as_json(v), ensure_ascii=False, separators=(",", ":"))


def untyped_text(value: Any) -> str:
    """A value of unknown type: a string as it is, anything else as JSON (``str`` of what
    JSON cannot hold)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def untyped_json(value: Any) -> Any:
    """A value of unknown type as a JSON value: JSON's own types as they are (recursively),
    anything else as its ``str``."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else float_text(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [untyped_json(x) for x in value]
    if isinstance(value, dict):
        return {str(k): untyped_json(v) for k, v in value.items()}
    return str(value)


__all__ = [
    "date_days_of",
    "duration_text",
    "float_text",
    "json_formatter",
    "scalar_text",
    "text_formatter",
    "time_nanos_of",
    "timestamp_text",
    "untyped_json",
    "untyped_text",
]
