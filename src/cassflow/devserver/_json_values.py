"""Cell values as Cassandra writes them in JSON (SELECT JSON, toJson()) and as text (CAST).

Values arrive serialized (wire bytes) with their type. The JSON text follows Cassandra's
``AbstractType.toJSONString``: numbers bare (Java's ``Float``/``Double``/``BigDecimal``
spelling; NaN and infinities as ``null``), strings, uuids, inets, blobs (``"0x..."``), dates,
times and timestamps (``"2011-02-03 04:05:00.000Z"``) quoted (durations not: Cassandra's
DurationType writes them bare), lists, sets and tuples as
arrays, maps and user types as objects (non-string map keys quoted, field names with upper
case quoted inside the key: ``"\\"Name\\""``).
"""

from __future__ import annotations

import decimal
import ipaddress
import json
import math
import struct
import uuid

from cassflow.cql._literals import civil_from_days, format_duration
from cassflow.devserver._numbers import INT_FORMATS, decode_number
from cassflow.devserver._schema_types import vector_parts
from cassflow.devserver._vectors import split_vector
from cassflow.protocol import DataType, TypeCode

_INT32 = struct.Struct(">i")
_DAY_MILLIS = 86_400_000


def java_number_text(value: float, single: bool) -> str:
    """``Float.toString`` (``single``) or ``Double.toString`` of ``value``: the shortest
    digits that read back, plain for 1e-3 <= |x| < 1e7, else ``d.dddE<n>``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    text = repr(value)
    if single:
        for digits in range(1, 10):
            candidate = f"{value:.{digits}g}"
            try:
                if struct.pack(">f", float(candidate)) == struct.pack(">f", value):
                    text = candidate
                    break
            except OverflowError:
                continue  # rounded past the largest float: more digits are needed
    shortest = decimal.Decimal(text).normalize()
    if len(shortest.as_tuple().digits) == 1:
        # Java writes at least two digits, the two closest to the exact binary value
        # (Float.MIN_VALUE is 1.4E-45, not 1.0E-45).
        shortest = decimal.Context(prec=2).plus(decimal.Decimal(value)).normalize()
    sign, digit_tuple, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    digits_text = "".join(map(str, digit_tuple))
    point = len(digits_text) + exponent  # value = 0.<digits> * 10**point
    prefix = "-" if sign else ""
    if -3 < point <= 7:
        if point <= 0:
            return f"{prefix}0.{'0' * -point}{digits_text}"
        whole = digits_text[:point].ljust(point, "0")
        fraction = digits_text[point:] or "0"
        return f"{prefix}{whole}.{fraction}"
    return f"{prefix}{digits_text[0]}.{digits_text[1:] or '0'}E{point - 1}"


def _inet_text(raw: bytes) -> str:
    address = ipaddress.ip_address(raw)
    if address.version == 4:
        return str(address)
    # Java's Inet6Address.getHostAddress: every group, in hex, without compression.
    groups = struct.unpack(">8H", raw)
    return ":".join(f"{g:x}" for g in groups)


def _timestamp_parts(millis: int) -> tuple[str, str]:
    days, rest = divmod(millis, _DAY_MILLIS)
    year, month, day = civil_from_days(days)
    seconds, ms = divmod(rest, 1000)
    return (
        f"{year:04d}-{month:02d}-{day:02d}",
        f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ms:03d}",
    )


def _date_text(raw: bytes) -> str:
    days = struct.unpack(">I", raw)[0] - (1 << 31)
    year, month, day = civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}"


def _time_text(raw: bytes) -> str:
    nanos = struct.unpack(">q", raw)[0]
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{fraction:09d}"


def _duration_text(raw: bytes) -> str:
    duration = DataType(TypeCode.DURATION).deserialize(raw, 4)
    if not (duration.months or duration.days or duration.nanoseconds):
        return ""  # Cassandra's Duration.toString writes nothing for the zero duration
    return format_duration(duration.months, duration.days, duration.nanoseconds)


def text_value(raw: bytes, dtype: DataType) -> str:
    """A native value as CAST(x AS text) writes it (Cassandra's ``toCQLLiteral``)."""
    code = dtype.code
    if code in INT_FORMATS:
        return str(struct.unpack(INT_FORMATS[code], raw)[0])
    if code is TypeCode.VARINT:
        return str(int.from_bytes(raw, "big", signed=True))
    if code is TypeCode.FLOAT:
        return java_number_text(struct.unpack(">f", raw)[0], True)
    if code is TypeCode.DOUBLE:
        return java_number_text(struct.unpack(">d", raw)[0], False)
    if code is TypeCode.DECIMAL:
        # DecimalSerializer.toString is BigDecimal.toPlainString: never an exponent.
        return format(decode_number(raw, code), "f")
    if code is TypeCode.BOOLEAN:
        return "true" if raw != b"\x00" else "false"
    if code is TypeCode.INET:
        return _inet_text(raw)
    if code in (TypeCode.UUID, TypeCode.TIMEUUID):
        return str(uuid.UUID(bytes=raw))
    if code is TypeCode.TIMESTAMP:
        day, clock = _timestamp_parts(struct.unpack(">q", raw)[0])
        return f"{day}T{clock}Z"
    if code is TypeCode.DATE:
        return _date_text(raw)
    if code is TypeCode.TIME:
        return _time_text(raw)
    if code is TypeCode.DURATION:
        return _duration_text(raw)
    if code is TypeCode.BLOB:
        return "0x" + raw.hex()
    return raw.decode("utf-8")


def _split(raw: bytes, count: int | None) -> list[bytes | None]:
    """Length-prefixed cells: ``count`` of them (tuples, UDTs), or as many as announced."""
    pos = 0
    if count is None:
        count = _INT32.unpack_from(raw)[0]
        pos = 4
    cells: list[bytes | None] = []
    while len(cells) < count and pos < len(raw):
        size = _INT32.unpack_from(raw, pos)[0]
        pos += 4
        cells.append(None if size < 0 else raw[pos : pos + size])
        pos += max(size, 0)
    return cells + [None] * (count - len(cells))


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def json_key(name: str) -> str:
    """A column or field name as a JSON object key: names with upper case keep their CQL
    double quotes inside the key, as Cassandra writes them."""
    if name != name.lower():
        name = f'"{name}"'
    return _quote(name)


def to_json(raw: bytes | None, dtype: DataType) -> str:
    """The JSON text of a serialized value of type ``dtype`` (``null`` for null)."""
    if raw is None:
        return "null"
    code = dtype.code
    if code in (TypeCode.VARCHAR, TypeCode.ASCII):
        return _quote(raw.decode("utf-8"))
    if not raw and code is not TypeCode.BLOB:
        return "null"  # an empty value of a non-string type has no JSON form
    if code is TypeCode.DECIMAL:
        return str(decode_number(raw, code))  # BigDecimal.toString: 5E-11, 0.010
    if code in INT_FORMATS or code in (TypeCode.VARINT, TypeCode.BOOLEAN):
        return text_value(raw, dtype)
    if code in (TypeCode.FLOAT, TypeCode.DOUBLE):
        number = struct.unpack(">f" if code is TypeCode.FLOAT else ">d", raw)[0]
        # JSON has no NaN or infinities: Cassandra writes null.
        if math.isnan(number) or math.isinf(number):
            return "null"
        return text_value(raw, dtype)
    if code is TypeCode.TIMESTAMP:
        day, clock = _timestamp_parts(struct.unpack(">q", raw)[0])
        return _quote(f"{day} {clock}Z")
    if code in (TypeCode.LIST, TypeCode.SET):
        element = dtype.params[0]
        return "[" + ", ".join(to_json(item, element) for item in _split(raw, None)) + "]"
    if code is TypeCode.MAP:
        key_type, value_type = dtype.params
        count = _INT32.unpack_from(raw)[0]
        flat = _split(_INT32.pack(2 * count) + raw[4:], None)
        entries = []
        for key, value in zip(flat[::2], flat[1::2], strict=True):
            key_text = to_json(key, key_type)
            if not key_text.startswith('"'):
                key_text = _quote(key_text)
            entries.append(f"{key_text}: {to_json(value, value_type)}")
        return "{" + ", ".join(entries) + "}"
    if code is TypeCode.TUPLE:
        items = _split(raw, len(dtype.params))
        return (
            "[" + ", ".join(to_json(i, t) for i, t in zip(items, dtype.params, strict=True)) + "]"
        )
    if code is TypeCode.UDT:
        fields = _split(raw, len(dtype.params))
        return (
            "{"
            + ", ".join(
                f"{json_key(name)}: {to_json(value, field_type)}"
                for name, value, field_type in zip(
                    dtype.field_names, fields, dtype.params, strict=True
                )
            )
            + "}"
        )
    if code is TypeCode.DURATION:
        # DurationType.toJSONString writes the duration's text without quotes.
        return _duration_text(raw)
    vector = vector_parts(dtype)
    if vector is not None:
        # VectorType.toJSONString: the elements' JSON in a list.
        return "[" + ", ".join(to_json(e, vector[0]) for e in split_vector(raw, dtype)) + "]"
    if code is TypeCode.CUSTOM:
        return _quote("0x" + raw.hex())
    return _quote(text_value(raw, dtype))


def row_to_json(names: list[str], values: list[str]) -> str:
    """One SELECT JSON row: the columns' JSON texts under their names, in order."""
    return "{" + ", ".join(f"{json_key(n)}: {v}" for n, v in zip(names, values, strict=True)) + "}"


__all__ = ["java_number_text", "json_key", "row_to_json", "text_value", "to_json"]
