"""Converters of single values to the native CQL types (numbers, text, time, uuid, blob...).

Each ``*_converter`` returns a function that takes a non-null value as a source holds it
(CSV text, a JSON value, a Python value from pyarrow, SQLAlchemy or the driver) and returns
what the driver serializes exactly for the type, or raises
:class:`~cassflow.copy._model.ConversionError` saying what was expected. Null handling (and
the empty string as null) is the caller's job, so that collection elements can refuse them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import ipaddress
import math
import re
import struct
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from cassandra import cqltypes, util

from cassflow.copy._convert_errors import expected, fail
from cassflow.copy._convert_temporal import date_days, datetime_ms, time_nanos
from cassflow.cql import _literals as literals

Converter = Callable[[Any], Any]

_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPECIAL_FLOATS: Final = {
    "nan": math.nan,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}
_HEX: Final = re.compile(r"0[xX]((?:[0-9a-fA-F]{2})*)")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_FLOAT32: Final = struct.Struct(">f")
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_NANOS_PER_DAY: Final = 86_400_000_000_000
_TIMESTAMP: Final = "a timestamp (ISO 8601, e.g. 2024-05-01T12:00:00.123+02:00)"
_DATE: Final = "a date (yyyy-mm-dd)"
_TIME: Final = "a time (hh:mm:ss[.fffffffff])"
_DURATION: Final = "a duration (e.g. 1h30m, P1DT2H, -10s)"


# --- integers ---------------------------------------------------------------------------


def integer_converter(description: str, low: int | None, high: int | None) -> Converter:
    """An integer in ``low..high`` (``None``: unbounded) from an int or the text of one."""

    def convert(value: Any) -> int:
        if value.__class__ is int:
            number: int = value
        elif isinstance(value, str):
            number = _parse_integer(value, description)
        elif _whole_number(value):
            number = int(value)
        else:
            fail(description, value)
        if (low is not None and number < low) or (high is not None and number > high):
            fail(description, value, "out of range")
        return number

    return convert


def _parse_integer(value: str, description: str) -> int:
    # Plain ASCII digits (most CSV fields) skip the regular expression; int() alone would
    # also take "1_000", " 1" and non-ASCII digits.
    if value.isascii() and value.isdigit():
        text = value
    else:
        text = value.strip()
        if not _INTEGER.fullmatch(text):
            fail(description, value)
    try:
        return int(text)
    except ValueError:  # more digits than Python converts from text
        fail(description, value, "too many digits")


def _whole_number(value: Any) -> bool:
    # An SQL NUMERIC(10, 0) arrives as Decimal('12'): a whole number is an integer.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and value == int(value)
    if isinstance(value, decimal.Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return False


# --- floating point and decimal ---------------------------------------------------------


def float_converter(*, single: bool) -> Converter:
    """A float (``single``: one that fits 32 bits) from a number or text, NaN and
    (-)Infinity included."""
    description = "a float (32-bit)" if single else "a double (64-bit)"

    def convert(value: Any) -> float:
        if value.__class__ is float:
            number: float = value
        elif isinstance(value, str):
            number = _parse_float(value, description)
        elif isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
            number = float(value)
        else:
            fail(description, value)
        if single and math.isfinite(number):
            try:
                _FLOAT32.pack(number)
            except OverflowError:
                fail(description, value, "out of range")
        return number

    return convert


def _parse_float(value: str, description: str) -> float:
    text = value.strip()
    if _FLOAT.fullmatch(text):
        return float(text)
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is None:
        fail(description, value)
    return special


def decimal_converter() -> Converter:
    """An exact decimal: never through a float (a float must equal its shortest text)."""
    description = "a decimal"

    def convert(value: Any) -> decimal.Decimal:
        if isinstance(value, decimal.Decimal):
            number = value
        elif isinstance(value, str):
            text = value.strip()
            if not _FLOAT.fullmatch(text):
                fail(description, value)
            number = decimal.Decimal(text)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = decimal.Decimal(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                fail(description, value, "a decimal is finite")
            number = decimal.Decimal(repr(value))
            if number != decimal.Decimal(value):
                fail(description, value, "the float is not exact; give the number as text")
        else:
            fail(description, value)
        if not number.is_finite():
            fail(description, value, "a decimal is finite")
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # finite, checked above
        if not _INT32_MIN <= -exponent <= _INT32_MAX:
            fail(description, value, "its scale does not fit 32 bits")
        return number

    return convert


# --- boolean, text, blob ----------------------------------------------------------------


def boolean_converter() -> Converter:
    """``True``/``False`` from a bool or ``'true'``/``'false'`` in any case (not from 0/1)."""
    description = "a boolean (true or false)"

    def convert(value: Any) -> bool:
        if value is True or value is False:
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "true":
                return True
            if text == "false":
                return False
        raise expected(description, value)

    return convert


def text_converter(*, ascii_only: bool) -> Converter:
    """A string as it is; other values are refused rather than guessed at."""
    description = "ascii text (a string of ASCII characters)" if ascii_only else "text (a string)"

    def convert(value: Any) -> str:
        if not isinstance(value, str):
            fail(description, value)
        if ascii_only and not value.isascii():
            fail(description, value, "it holds non-ASCII characters")
        return str(value)

    return convert


def blob_converter() -> Converter:
    """Bytes from bytes-like values, ``0x``-prefixed hex (CQL) or base64 (dsbulk)."""
    description = "a blob (0x followed by hex digits, or base64)"

    def convert(value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            text = value.strip()
            if text[:2] in ("0x", "0X"):
                match = _HEX.fullmatch(text)
                if match is None:
                    fail(description, value, "not an even number of hex digits")
                return bytes.fromhex(match[1])
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                fail(description, value)
        raise expected(description, value)

    return convert


# --- uuid, inet ---------------------------------------------------------------------------


def uuid_converter(*, time_based: bool) -> Converter:
    """A ``uuid.UUID`` (``time_based``: version 1 only, as timeuuid requires)."""
    description = "a timeuuid (version 1 UUID)" if time_based else "a uuid"

    def convert(value: Any) -> uuid.UUID:
        if isinstance(value, uuid.UUID):
            result = value
        elif isinstance(value, str) and _UUID.fullmatch(text := value.strip()):
            result = uuid.UUID(text)
        else:
            fail(description, value)
        if time_based and result.version != 1:
            fail(description, value, f"it is a version {result.version} UUID")
        return result

    return convert


def inet_converter() -> Converter:
    """An IPv4 or IPv6 address as its canonical text (what the driver serializes)."""
    description = "an inet (IPv4 or IPv6 address)"

    def convert(value: Any) -> str:
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            address = value
        elif isinstance(value, str):
            try:
                address = ipaddress.ip_address(value.strip())
            except ValueError:
                fail(description, value)
        else:
            fail(description, value)
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            fail(description, value, "Cassandra does not store a scope id")
        return str(address)

    return convert


# --- time -----------------------------------------------------------------------------------


def timestamp_converter() -> Converter:
    """Milliseconds since the epoch, as an int (which the driver serializes as is).

    From a ``datetime`` (naive means UTC; aware ones are converted to UTC), an int of
    milliseconds, or ISO 8601 text: ``T`` or space between date and time, optional seconds and
    fraction, ``Z`` or an offset ``+hh:mm``/``+hhmm``/``+hh`` (none means UTC), or a date
    alone (midnight UTC); cqlsh's ``2024-05-01 12:00:00.123000+0000`` too. Text digits beyond
    the millisecond are truncated toward negative infinity (the fraction is added to the
    whole seconds, before 1970 too). A ``datetime`` is rounded to the nearest millisecond
    instead: the driver reads timestamps through a float, so far from 1970 the datetimes it
    returns can be some microseconds below the stored millisecond.
    """

    def convert(value: Any) -> int:
        if isinstance(value, datetime.datetime):
            ms = datetime_ms(value)
        elif isinstance(value, str):
            try:
                ms = literals.parse_timestamp(value)
            except ValueError:
                fail(_TIMESTAMP, value)
        elif isinstance(value, int) and not isinstance(value, bool):
            ms = int(value)
        else:
            fail(_TIMESTAMP, value)
        if not _INT64_MIN <= ms <= _INT64_MAX:
            fail(_TIMESTAMP, value, "out of range")
        return ms

    return convert


def date_converter() -> Converter:
    """A ``cassandra.util.Date`` from a ``date`` (not a ``datetime``), a ``Date``, an int or
    the text of one (days since 1970-01-01, as ``str(Date)`` writes far dates) or
    ``yyyy-mm-dd`` (years may be negative or have more than four digits)."""

    def convert(value: Any) -> util.Date:
        if isinstance(value, util.Date):
            days = value.days_from_epoch
        elif isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            days = date_days(value)
        elif isinstance(value, str):
            text = value.strip()
            try:
                days = int(text) if _INTEGER.fullmatch(text) else literals.parse_date(text)
            except ValueError:
                fail(_DATE, value)
        elif isinstance(value, int) and not isinstance(value, bool):
            days = int(value)
        else:
            fail(_DATE, value)
        if not _INT32_MIN <= days <= _INT32_MAX:
            fail(_DATE, value, "out of range")
        return util.Date(days)

    return convert


def time_converter() -> Converter:
    """A ``cassandra.util.Time`` from a ``time``, a ``Time``, an int of nanoseconds since
    midnight or ``hh:mm:ss[.fffffffff]``."""

    def convert(value: Any) -> util.Time:
        if isinstance(value, util.Time):
            return value
        if isinstance(value, datetime.time):
            nanos = time_nanos(value)
        elif isinstance(value, str):
            try:
                nanos = literals.parse_time(value)
            except ValueError:
                fail(_TIME, value)
        elif isinstance(value, int) and not isinstance(value, bool):
            nanos = int(value)
        else:
            fail(_TIME, value)
        if not 0 <= nanos < _NANOS_PER_DAY:
            fail(_TIME, value, "out of range")
        return util.Time(nanos)

    return convert


def duration_converter() -> Converter:
    """A ``cassandra.util.Duration`` from one, from a ``timedelta`` (as nanoseconds) or from
    any CQL duration text (``1h30m``, ``P1Y2M``, ``P2W``, ``P0001-02-03T04:05:06``)."""

    def convert(value: Any) -> util.Duration:
        if isinstance(value, util.Duration):
            parts = (value.months, value.days, value.nanoseconds)
        elif isinstance(value, str):
            try:
                parts = literals.parse_duration(value.strip())
            except ValueError:
                fail(_DURATION, value)
        elif isinstance(value, datetime.timedelta):
            seconds = value.days * 86_400 + value.seconds
            parts = (0, 0, seconds * 1_000_000_000 + value.microseconds * 1000)
        else:
            fail(_DURATION, value)
        months, days, nanos = parts
        if (months < 0 or days < 0 or nanos < 0) and (months > 0 or days > 0 or nanos > 0):
            fail(_DURATION, value, "its months, days and nanoseconds have different signs")
        if not (_INT32_MIN <= months <= _INT32_MAX and _INT32_MIN <= days <= _INT32_MAX) or not (
            _INT64_MIN <= nanos <= _INT64_MAX
        ):
            fail(_DURATION, value, "out of range")
        return util.Duration(months, days, nanos)

    return convert


#: Converter factories of the native types, by the driver's class.
SCALAR_CONVERTERS: Final[Mapping[type, Callable[[], Converter]]] = {
    cqltypes.ByteType: lambda: integer_converter("a tinyint (-128..127)", -128, 127),
    cqltypes.ShortType: lambda: integer_converter("a smallint (-32768..32767)", -32768, 32767),
    cqltypes.Int32Type: lambda: integer_converter("an int (32-bit)", _INT32_MIN, _INT32_MAX),
    cqltypes.LongType: lambda: integer_converter("a bigint (64-bit)", _INT64_MIN, _INT64_MAX),
    cqltypes.CounterColumnType: lambda: integer_converter(
        "a counter (64-bit)", _INT64_MIN, _INT64_MAX
    ),
    cqltypes.IntegerType: lambda: integer_converter("a varint (an integer)", None, None),
    cqltypes.FloatType: lambda: float_converter(single=True),
    cqltypes.DoubleType: lambda: float_converter(single=False),
    cqltypes.DecimalType: decimal_converter,
    cqltypes.BooleanType: boolean_converter,
    cqltypes.UTF8Type: lambda: text_converter(ascii_only=False),
    cqltypes.VarcharType: lambda: text_converter(ascii_only=False),
    cqltypes.AsciiType: lambda: text_converter(ascii_only=True),
    cqltypes.BytesType: blob_converter,
    cqltypes.UUIDType: lambda: uuid_converter(time_based=False),
    cqltypes.TimeUUIDType: lambda: uuid_converter(time_based=True),
    cqltypes.InetAddressType: inet_converter,
    cqltypes.DateType: timestamp_converter,
    cqltypes.TimestampType: timestamp_converter,
    cqltypes.SimpleDateType: date_converter,
    cqltypes.TimeType: time_converter,
    cqltypes.DurationType: duration_converter,
}

__all__ = ["SCALAR_CONVERTERS", "Converter"]
