"""Values between SQL columns and the copy engine: readers for the source, converters for the sink.

A *reader* turns a value as SQLAlchemy returns it into a value of the column's CQL type
(:func:`cassflow.copy._sql_types.cql_type_of`) where the two differ: a JSON document becomes
its JSON text, an address its text, an interval a :class:`~cassandra.util.Duration`, a value
of a type cassflow does not know its ``str()``. Every other column needs none (``None``).

A *converter* turns an incoming value into what a sink column of a given SQLAlchemy type
takes, whatever the source: text from CSV (``"42"``, ``"2024-05-01T10:00:00Z"``), the
Cassandra driver's values (:class:`~cassandra.util.Date`, ``Time``, ``Duration``,
``SortedSet``, ``OrderedMapSerializedKey``, UDT named tuples, naive UTC datetimes), or plain
Python values from another SQL database. A value that does not fit raises
:class:`ConversionError` saying what was expected; converters never see ``None``.

Text forms follow CQL's where there is a choice: blobs as ``0x`` + hex, durations as
``1y2mo3d4h5m6s`` (Cassandra's own spelling), booleans as ``true``/``false``. Collections,
tuples and UDTs become JSON: sets and lists arrays, maps and UDTs objects (non-text keys as
their JSON text), decimals strings (a JSON number would go through a binary float).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from cassandra import cqltypes
from cassandra import util as cql_util

from cassflow.copy._model import ConversionError
from cassflow.copy._sql_types import cql_type_of
from cassflow.copy._sqlalchemy import JsonText, TypeEngine, postgresql, sa

Convert = Callable[[Any], Any]

_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_NANOS_PER_DAY = 86_400 * 10**9
_INTEGER_TEXT = re.compile(r"[-+]?\d+")
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_INTERVALS = (sa.Interval, postgresql.INTERVAL)
_ADDRESSES = (ipaddress.IPv4Address, ipaddress.IPv6Address)
_INTERFACES = (ipaddress.IPv4Interface, ipaddress.IPv6Interface)
_SEQUENCES = (list, tuple, set, frozenset, cql_util.SortedSet)
#: Cassandra's duration units, largest first, in nanoseconds.
_DURATION_UNITS = (
    (3_600_000_000_000, "h"),
    (60_000_000_000, "m"),
    (1_000_000_000, "s"),
    (1_000_000, "ms"),
    (1_000, "us"),
    (1, "ns"),
)


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- text forms ------------------------------------------------------------------------------


def duration_text(value: cql_util.Duration) -> str:
    """Cassandra's spelling of a duration (``-1y2mo3d4h5m6s7ms8us9ns``; ``0s`` for zero)."""
    negative = value.months < 0 or value.days < 0 or value.nanoseconds < 0
    years, months = divmod(abs(value.months), 12)
    parts = [
        f"{n}{unit}" for n, unit in ((years, "y"), (months, "mo"), (abs(value.days), "d")) if n
    ]
    rest = abs(value.nanoseconds)
    for size, unit in _DURATION_UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return ("-" if negative else "") + ("".join(parts) or "0s")


def plain(value: Any) -> Any:
    """``value`` as JSON-able data (see the module docstring for the forms)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, Mapping):
        return {_key_text(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a UDT as the driver returns it
        return {name: plain(v) for name, v in zip(value._fields, value, strict=True)}
    if isinstance(value, _SEQUENCES):
        return [plain(v) for v in value]
    return _scalar_text(value)


def _key_text(key: Any) -> str:
    data = plain(key)
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, cql_util.Duration):
        return duration_text(value)
    if isinstance(value, dt.date | dt.time):  # datetime too
        return value.isoformat()
    return str(value)  # Decimal, UUID, addresses, cassandra.util.Date and Time...


def to_text(value: Any) -> str:
    """Text for a text column: strings as they are, structured values as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (Mapping, *_SEQUENCES)):
        return json.dumps(plain(value), ensure_ascii=False)
    return _scalar_text(value)


# --- readers (source side) -------------------------------------------------------------------


def reader(sql_type: TypeEngine[Any], dialect: str) -> Convert | None:
    """How a value of a ``sql_type`` column becomes a value of its CQL type; None: as it is."""
    if isinstance(sql_type, sa.ARRAY):
        item = reader(sql_type.item_type, dialect)
        if item is None:
            return None
        return lambda value: [None if v is None else item(v) for v in value]
    if isinstance(sql_type, sa.JSON):
        return _json_text
    if isinstance(sql_type, _INTERVALS):
        return _read_duration
    if isinstance(sql_type, postgresql.INET):
        return _address_text
    if cql_type_of(sql_type, dialect) is cqltypes.UTF8Type and not isinstance(sql_type, sa.String):
        return str  # a type we do not know reads as its text
    return None


def _json_text(value: Any) -> str:
    if isinstance(value, JsonText):
        return str(value)  # the document's text as the database returned it
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _read_duration(value: Any) -> Any:
    if isinstance(value, dt.timedelta):  # drivers other than psycopg (see _sqlalchemy)
        micros = value // dt.timedelta(microseconds=1)
        days, rest = divmod(abs(micros) * 1000, _NANOS_PER_DAY)
        sign = -1 if micros < 0 else 1
        return cql_util.Duration(0, sign * days, sign * rest)
    return value


def _address_text(value: Any) -> str:
    # PostgreSQL's inet may carry a netmask; a bare address (a full mask) is what CQL's inet is.
    if isinstance(value, _INTERFACES) and value.network.prefixlen == value.max_prefixlen:
        return str(value.ip)
    return str(value)


# --- converters (sink side) ------------------------------------------------------------------


def converter(sql_type: TypeEngine[Any], dialect: str) -> Convert:
    """The converter for values going into a column of ``sql_type`` on ``dialect``."""
    if isinstance(sql_type, sa.ARRAY):
        return _array(converter(sql_type.item_type, dialect))
    if isinstance(sql_type, sa.Boolean):
        return _to_bool
    if isinstance(sql_type, sa.Integer):
        return _integer(_integer_bits(sql_type, dialect))
    if isinstance(sql_type, sa.Float):
        return _to_float
    if isinstance(sql_type, sa.Numeric):
        return _to_decimal
    if isinstance(sql_type, sa.DateTime):
        return _to_aware_datetime if sql_type.timezone else _to_naive_datetime
    if isinstance(sql_type, sa.Date):
        return _to_date
    if isinstance(sql_type, sa.Time):
        return _to_time
    if isinstance(sql_type, _INTERVALS):
        return _to_pg_interval if dialect == "postgresql" else _to_timedelta
    if isinstance(sql_type, sa.LargeBinary):
        return _to_bytes
    if isinstance(sql_type, sa.Uuid):
        return _to_uuid if sql_type.as_uuid else _to_uuid_text
    if isinstance(sql_type, postgresql.INET):
        return _to_inet
    if isinstance(sql_type, sa.JSON):
        return _to_json
    if isinstance(sql_type, sa.String):
        return to_text
    if dialect == "postgresql":
        # A type we do not know: PostgreSQL parses the text with the type's own input function.
        return to_text
    return _to_native


def _integer_bits(sql_type: TypeEngine[Any], dialect: str) -> int:
    if isinstance(sql_type, sa.BigInteger) or dialect == "sqlite":
        return 64
    if isinstance(sql_type, sa.SmallInteger):
        return 16
    return 32


def _integer(bits: int) -> Convert:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    expected = f"a {bits}-bit integer"

    def convert(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
            number = int(value.strip())
        elif isinstance(value, float | Decimal) and math.isfinite(value) and value == int(value):
            number = int(value)
        else:
            raise ConversionError(f"expected {expected}, got {_got(value)}")
        if not low <= number <= high:
            raise ConversionError(f"{number} is out of range for {expected}")
        return number

    return convert


def _to_float(value: Any) -> float:
    if isinstance(value, float | int | Decimal) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ConversionError(f"expected a floating-point number, got {_got(value)}")


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest text that reads back as the same float
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            pass
    raise ConversionError(f"expected a decimal number, got {_got(value)}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ConversionError(f"expected a boolean (true/false), got {_got(value)}")


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return _from_millis(value)
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            return _from_millis(int(text))  # CQL's form: milliseconds since the epoch
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ConversionError(
        f"expected a timestamp (ISO 8601 like 2024-05-01T10:00:00Z, or epoch milliseconds), "
        f"got {_got(value)}"
    )


def _from_millis(millis: int) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(milliseconds=millis)
    except OverflowError:
        raise ConversionError(f"{millis} ms since the epoch is out of range") from None


def _to_aware_datetime(value: Any) -> dt.datetime:
    stamp = _datetime(value)
    # The Cassandra driver returns naive datetimes in UTC.
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=_UTC)


def _to_naive_datetime(value: Any) -> dt.datetime:
    stamp = _datetime(value)
    return stamp if stamp.tzinfo is None else stamp.astimezone(_UTC).replace(tzinfo=None)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ConversionError(f"expected a date, got a timestamp {_got(value)}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, cql_util.Date):
        try:
            day: dt.date = value.date()
        except ValueError:
            raise ConversionError(f"date {value} is out of the range the column holds") from None
        return day
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConversionError(f"expected a date (YYYY-MM-DD), got {_got(value)}")


def _to_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        if isinstance(value, str):
            value = cql_util.Time(value.strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            value = cql_util.Time(value)  # CQL's form: nanoseconds since midnight
    except ValueError:
        pass
    if isinstance(value, cql_util.Time):
        if value.nanosecond_time % 1000:
            raise ConversionError(f"time {value} has nanoseconds; the column keeps microseconds")
        moment: dt.time = value.time()
        return moment
    raise ConversionError(f"expected a time of day (HH:MM:SS[.fffffffff]), got {_got(value)}")


def _to_timedelta(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, cql_util.Duration) and value.months == 0:
        if value.nanoseconds % 1000 == 0:
            return dt.timedelta(days=value.days, microseconds=value.nanoseconds // 1000)
        raise ConversionError(
            f"duration {duration_text(value)} has nanoseconds; the column keeps microseconds"
        )
    raise ConversionError(f"expected a duration without months, got {_got(value)}")


def _to_pg_interval(value: Any) -> Any:
    if isinstance(value, cql_util.Duration) and value.months:
        if value.nanoseconds % 1000:
            raise ConversionError(
                f"duration {duration_text(value)} has nanoseconds; the column keeps microseconds"
            )
        # timedelta has no months; PostgreSQL reads this text as the exact interval.
        return f"{value.months} mons {value.days} days {value.nanoseconds // 1000} microseconds"
    if isinstance(value, str):
        return value  # PostgreSQL parses interval text ('1 day 02:00', 'P1DT2H') itself
    return _to_timedelta(value)


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str) and value.strip()[:2].lower() == "0x":
        try:
            return bytes.fromhex(value.strip()[2:])
        except ValueError:
            pass
    raise ConversionError(f"expected bytes (text as 0x followed by hex digits), got {_got(value)}")


def _to_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value.strip())
        except ValueError:
            pass
    raise ConversionError(f"expected a UUID, got {_got(value)}")


def _to_uuid_text(value: Any) -> str:
    return str(_to_uuid(value))


def _to_inet(value: Any) -> Any:
    if isinstance(value, (*_ADDRESSES, *_INTERFACES)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            try:
                return ipaddress.ip_interface(text)
            except ValueError:
                pass
    raise ConversionError(f"expected an IP address, got {_got(value)}")


def _to_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise ConversionError(f"expected JSON text, got {_got(value)}") from None
        return JsonText(value)  # valid: written as it is, spacing and key order kept
    return plain(value)


def _array(item: Convert) -> Convert:
    def convert(value: Any) -> list[Any]:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if not isinstance(value, list | tuple | set | frozenset | cql_util.SortedSet):
            raise ConversionError(f"expected a list (or a JSON array), got {_got(value)}")
        items = []
        for index, element in enumerate(value):
            try:
                items.append(None if element is None else item(element))
            except ConversionError as exc:
                raise ConversionError(f"item {index}: {exc}") from None
        return items

    return convert


def _to_native(value: Any) -> Any:
    """For a column whose type we do not know outside PostgreSQL (SQLite's untyped columns):
    the values every DB-API driver binds go as they are, anything else as text."""
    if isinstance(value, str | int | float | bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return to_text(value)
