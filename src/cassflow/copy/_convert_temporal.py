"""Timestamps, dates and times as numbers, and their text forms.

Cassandra holds a timestamp as milliseconds since the epoch, a date as days since the epoch
and a time as nanoseconds since midnight. These helpers turn the Python objects that carry
them (``datetime``, ``date``, ``time``, ``cassandra.util.Date`` / ``Time``) into those
numbers and the numbers into the text cassflow writes (ISO 8601, UTC).
"""

from __future__ import annotations

import datetime
from typing import Final

from cassflow.cql._literals import civil_from_days

_EPOCH_NAIVE: Final = datetime.datetime(1970, 1, 1)  # naive means UTC here
_EPOCH_UTC: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_EPOCH_ORDINAL: Final = datetime.date(1970, 1, 1).toordinal()
#: Days since the epoch of 0001-01-01 and 9999-12-31: the dates Python's date can hold.
PY_DATE_MIN_DAYS: Final = datetime.date.min.toordinal() - _EPOCH_ORDINAL
PY_DATE_MAX_DAYS: Final = datetime.date.max.toordinal() - _EPOCH_ORDINAL


def datetime_ms(value: datetime.datetime) -> int:
    """Milliseconds since the epoch of a datetime (naive means UTC), to the nearest ms.

    Rounded, not truncated: the driver builds the datetimes it reads from a float number of
    seconds, so a stored ``...:59.999`` far from 1970 can come back as ``...:59.998985``
    (measured: up to 15 µs off for years near 1 and 9999). Rounding gives back the stored
    millisecond; truncating would move it. Halves round up.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        delta = value.replace(tzinfo=None) - _EPOCH_NAIVE
    else:
        delta = value - _EPOCH_UTC
    return (delta.days * 86_400 + delta.seconds) * 1000 + (delta.microseconds + 500) // 1000


def date_days(value: datetime.date) -> int:
    """Days since the epoch of a ``datetime.date``."""
    return value.toordinal() - _EPOCH_ORDINAL


def time_nanos(value: datetime.time) -> int:
    """Nanoseconds since midnight of a ``datetime.time``."""
    seconds = (value.hour * 60 + value.minute) * 60 + value.second
    return seconds * 1_000_000_000 + value.microsecond * 1000


def format_timestamp(ms: int) -> str:
    """ISO 8601 in UTC with exactly three fractional digits: ``2024-05-01T10:00:00.123Z``.

    Years outside 0..9999 are written with as many digits as they need, negative ones with a
    leading ``-`` (``-0044-03-15T...``, ``12345-01-01T...``), which the parser reads back.
    """
    days, rest = divmod(ms, 86_400_000)
    year, month, day = civil_from_days(days)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return (
        f"{_year(year)}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"
    )


def format_date(days: int) -> str:
    """``yyyy-mm-dd`` for years 1..9999; beyond them, the number of days since the epoch
    (as ``str(cassandra.util.Date)`` writes such dates), which the converters read back."""
    if PY_DATE_MIN_DAYS <= days <= PY_DATE_MAX_DAYS:
        year, month, day = civil_from_days(days)
        return f"{year:04d}-{month:02d}-{day:02d}"
    return str(days)


def format_time(nanos: int) -> str:
    """``hh:mm:ss.fffffffff``, always nine fractional digits (as Cassandra writes times)."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}.{fraction:09d}"


def _year(year: int) -> str:
    if year < 0:
        return f"-{-year:04d}"
    return f"{year:04d}"


__all__ = [
    "PY_DATE_MAX_DAYS",
    "PY_DATE_MIN_DAYS",
    "date_days",
    "datetime_ms",
    "format_date",
    "format_time",
    "format_timestamp",
    "time_nanos",
]
