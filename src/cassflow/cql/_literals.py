"""The text forms Cassandra reads for timestamps, dates, times and durations.

Pure functions from text to numbers (and back, for durations), shared by the dev server
(which types string constants as Cassandra does) and the copy engine (which converts CSV and
JSON values). They raise :class:`ValueError` with the message Cassandra gives for the same
text, so the dev server can pass it on unchanged.

Calendar arithmetic is done on day numbers (proleptic Gregorian, astronomical years: year 0
exists and is a leap year, as in ISO 8601 and Java's ``LocalDate``), not with
:mod:`datetime`, so years before 1 and after 9999 work: Cassandra's ``date`` spans about
5.8 million years each way and its ``timestamp`` about 292 million.
"""

from __future__ import annotations

import re
from typing import Final

#: Milliseconds in a day, nanoseconds in a day.
MS_PER_DAY: Final = 86_400_000
NANOS_PER_DAY: Final = 86_400_000_000_000

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
#: Cassandra sends a date as an unsigned count of days with 1970-01-01 at 2^31.
_DATE_WIRE_OFFSET: Final = 2**31
# Days from 0000-03-01 to 1970-01-01 (the epoch of Hinnant's civil-day algorithms).
_EPOCH_SHIFT: Final = 719_468

_TIMESTAMP_RE: Final = re.compile(
    r"(?P<y>[+-]?\d{4,})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<z>Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_DATE_RE: Final = re.compile(r"([+-]?\d{4,})-(\d{1,2})-(\d{1,2})")
_TIME_RE: Final = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
_SIGNED_INTEGER: Final = re.compile(r"-?\d+")
_UNSIGNED_INTEGER: Final = re.compile(r"\d+")

_DURATION_UNITS: Final = {
    "y": (12, 0, 0),
    "mo": (1, 0, 0),
    "w": (0, 7, 0),
    "d": (0, 1, 0),
    "h": (0, 0, 3_600_000_000_000),
    "m": (0, 0, 60_000_000_000),
    "s": (0, 0, 1_000_000_000),
    "ms": (0, 0, 1_000_000),
    "us": (0, 0, 1_000),
    "µs": (0, 0, 1_000),
    "ns": (0, 0, 1),
}
_DURATION_RE: Final = re.compile(r"(\d+)(mo|ms|us|µs|ns|y|w|d|h|m|s)", re.IGNORECASE)
_ISO_DURATION_RE: Final = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
)
_ISO_WEEKS_RE: Final = re.compile(r"P(\d+)W")
_ISO_ALT_RE: Final = re.compile(r"P(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")
_NANOS_PER_HOUR: Final = 3_600_000_000_000
# Cassandra's Duration.toString units below a day, largest first.
_NANO_UNITS: Final = (
    (_NANOS_PER_HOUR, "h"),
    (60_000_000_000, "m"),
    (1_000_000_000, "s"),
    (1_000_000, "ms"),
    (1_000, "us"),
    (1, "ns"),
)


# --- calendar --------------------------------------------------------------------------


def is_leap_year(year: int) -> bool:
    """Whether ``year`` (astronomical numbering: 0 is 1 BC) is a Gregorian leap year."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """The number of days of ``month`` (1-12) in ``year``."""
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a valid proleptic Gregorian date (any year)."""
    # Howard Hinnant's days_from_civil: years start on March 1st so leap days come last.
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - _EPOCH_SHIFT


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the date ``days`` days after 1970-01-01 (any number)."""
    days += _EPOCH_SHIFT
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def _valid_date(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= days_in_month(year, month)


# --- timestamps, dates, times ------------------------------------------------------------


def parse_timestamp(text: str) -> int:
    """Milliseconds since the epoch from the text forms Cassandra's timestamp type reads.

    A bare integer is milliseconds (not range-checked: the caller packs it, as Cassandra
    does with its own message); otherwise ``yyyy-mm-dd`` optionally followed by ``T`` or
    a space and ``hh:mm[:ss[.f...]]``, then optionally ``Z`` or an offset ``+hh``,
    ``+hhmm``, ``+hh:mm`` (no offset means UTC). Up to 9 fractional digits are read; digits
    beyond milliseconds are dropped, which rounds toward negative infinity (the fraction is
    always added to the seconds, before and after 1970 alike).
    """
    stripped = text.strip()
    if _SIGNED_INTEGER.fullmatch(stripped):
        return int(stripped)
    match = _TIMESTAMP_RE.fullmatch(stripped)
    if match is None:
        raise ValueError(_coerce_message(text))
    year, month, day = int(match["y"]), int(match["mo"]), int(match["d"])
    hour, minute, second = int(match["h"] or 0), int(match["mi"] or 0), int(match["s"] or 0)
    if not _valid_date(year, month, day) or hour > 23 or minute > 59 or second > 59:
        raise ValueError(_coerce_message(text))
    offset = _offset_seconds(match["z"], text)
    seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    millis = int((match["f"] or "0").ljust(3, "0")[:3])
    return _int64((seconds - offset) * 1000 + millis, text)


def _offset_seconds(zone: str | None, text: str) -> int:
    if zone is None or zone in ("Z", "z"):
        return 0
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(_coerce_message(text))
    sign = -1 if zone[0] == "-" else 1
    return sign * (hours * 3600 + minutes * 60)


def _int64(value: int, text: str) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(_coerce_message(text))
    return value


def _coerce_message(text: str) -> str:
    return f"Unable to coerce '{text}' to a formatted date (long)"


def parse_date(text: str) -> int:
    """Days since 1970-01-01 from ``yyyy-mm-dd`` (years may be negative or longer than four
    digits) or, as Cassandra reads a bare number, from the unsigned wire form (days + 2^31;
    not range-checked, the caller packs it)."""
    stripped = text.strip()
    if _UNSIGNED_INTEGER.fullmatch(stripped):
        return int(stripped) - _DATE_WIRE_OFFSET
    match = _DATE_RE.fullmatch(stripped)
    if match is None:
        raise ValueError(_coerce_message(text))
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    if not _valid_date(year, month, day):
        raise ValueError(_coerce_message(text))
    days = days_from_civil(year, month, day)
    if not _INT32_MIN <= days <= _INT32_MAX:
        raise ValueError(_coerce_message(text))
    return days


def parse_time(text: str) -> int:
    """Nanoseconds since midnight from ``hh:mm:ss[.fffffffff]`` or a bare number of them
    (the number is not range-checked here, as Cassandra checks it when it packs it)."""
    stripped = text.strip()
    if _UNSIGNED_INTEGER.fullmatch(stripped):
        return int(stripped)
    match = _TIME_RE.fullmatch(stripped)
    if match is None:
        raise ValueError(_time_message(text))
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3])
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(_time_message(text))
    nanos = int((match[4] or "0").ljust(9, "0"))
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + nanos


def _time_message(text: str) -> str:
    return f"Timestamp format must be hh:mm:ss[.fffffffff]: {text}"


# --- durations ----------------------------------------------------------------------------


def parse_duration(text: str) -> tuple[int, int, int]:
    """(months, days, nanoseconds) from any of CQL's duration forms.

    ``1y2mo3w4d5h6m7s8ms9us10ns`` (units in any case, ``µs`` for ``us``), ISO 8601
    ``P1Y2M3DT4H5M6S`` and ``P2W``, the ISO alternative ``P0001-02-03T04:05:06``; a leading
    ``-`` negates all three parts. Months and days must fit 32 bits, nanoseconds 64.
    """
    negative = text.startswith("-")
    body = text[1:] if negative else text
    upper = body.upper()
    months = days = nanos = 0
    if (match := _ISO_DURATION_RE.fullmatch(upper)) and upper != "P":
        years, months, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        months += years * 12
        nanos = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000
    elif match := _ISO_WEEKS_RE.fullmatch(upper):
        days = int(match[1]) * 7
    elif match := _ISO_ALT_RE.fullmatch(upper):
        years, months, days, hours, minutes, seconds = (int(g) for g in match.groups())
        months += years * 12
        nanos = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000
    else:
        position = 0
        for unit_match in _DURATION_RE.finditer(body):
            if unit_match.start() != position:
                break
            position = unit_match.end()
            amount = int(unit_match[1])
            unit_months, unit_days, unit_nanos = _DURATION_UNITS[unit_match[2].lower()]
            months += amount * unit_months
            days += amount * unit_days
            nanos += amount * unit_nanos
        if position != len(body) or not body:
            raise ValueError(f"Unable to convert '{text}' to a duration")
    if months > _INT32_MAX or days > _INT32_MAX or nanos > _INT64_MAX:
        raise ValueError(f"Unable to convert '{text}' to a duration")
    if negative:
        return -months, -days, -nanos
    return months, days, nanos


def format_duration(months: int, days: int, nanos: int) -> str:
    """The duration as Cassandra's ``Duration.toString`` writes it (``1y2mo3d4h5m6s7ms8us9ns``,
    ``-`` first when negative), except that the zero duration, which Cassandra writes as an
    empty string, is ``0s`` so that it reads back as a duration and not as nothing.

    Raises :class:`ValueError` when the parts have different signs (Cassandra refuses such
    durations; no text stands for one).
    """
    negative = months < 0 or days < 0 or nanos < 0
    if negative and (months > 0 or days > 0 or nanos > 0):
        raise ValueError(
            f"a duration's months, days and nanoseconds must share one sign "
            f"(got {months}, {days}, {nanos})"
        )
    months, days, nanos = abs(months), abs(days), abs(nanos)
    if not (months or days or nanos):
        return "0s"
    parts = ["-"] if negative else []
    if months >= 12:
        parts.append(f"{months // 12}y")
        months %= 12
    if months:
        parts.append(f"{months}mo")
    if days:
        parts.append(f"{days}d")
    for size, unit in _NANO_UNITS:
        if nanos >= size:
            parts.append(f"{nanos // size}{unit}")
            nanos %= size
    return "".join(parts)


__all__ = [
    "MS_PER_DAY",
    "NANOS_PER_DAY",
    "civil_from_days",
    "days_from_civil",
    "days_in_month",
    "format_duration",
    "is_leap_year",
    "parse_date",
    "parse_duration",
    "parse_time",
    "parse_timestamp",
]
