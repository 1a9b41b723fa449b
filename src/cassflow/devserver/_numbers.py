"""Numeric cell values: wire bytes to Python numbers and back, with Java's integer widths.

Integers of the fixed-width types wrap on overflow as Java's do (Cassandra's ``sum`` of ints
is an int); decimals are exact (a context wide enough never to round).
"""

from __future__ import annotations

import decimal
import math
import struct

from cassflow.protocol import TypeCode

#: struct formats of the fixed-width integer types.
INT_FORMATS = {
    TypeCode.TINYINT: ">b",
    TypeCode.SMALLINT: ">h",
    TypeCode.INT: ">i",
    TypeCode.BIGINT: ">q",
    TypeCode.COUNTER: ">q",
}
#: The numeric types (Cassandra's CastFcts converts between any two of them).
NUMERIC = frozenset(
    {
        TypeCode.TINYINT,
        TypeCode.SMALLINT,
        TypeCode.INT,
        TypeCode.BIGINT,
        TypeCode.COUNTER,
        TypeCode.FLOAT,
        TypeCode.DOUBLE,
        TypeCode.DECIMAL,
        TypeCode.VARINT,
    }
)
EXACT = decimal.Context(prec=100_000)


def decode_number(raw: bytes, code: TypeCode) -> int | float | decimal.Decimal:
    """A numeric cell's value (ints for the integer types, float, or Decimal)."""
    if code in INT_FORMATS:
        return int(struct.unpack(INT_FORMATS[code], raw)[0])
    if code is TypeCode.FLOAT:
        return float(struct.unpack(">f", raw)[0])
    if code is TypeCode.DOUBLE:
        return float(struct.unpack(">d", raw)[0])
    if code is TypeCode.VARINT:
        return int.from_bytes(raw, "big", signed=True)
    scale = struct.unpack(">i", raw[:4])[0]
    unscaled = int.from_bytes(raw[4:], "big", signed=True)
    return decimal.Decimal(unscaled).scaleb(-scale, EXACT)


def _varint_bytes(value: int) -> bytes:
    size = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return value.to_bytes(size, "big", signed=True)


def encode_number(value: int | float | decimal.Decimal, code: TypeCode) -> bytes:
    """Serialize ``value`` as ``code``; integers wrap to the type's width as Java's do."""
    if code in INT_FORMATS:
        fmt = INT_FORMATS[code]
        bits = struct.calcsize(fmt) * 8
        number = int(value) & ((1 << bits) - 1)
        if number >= 1 << (bits - 1):
            number -= 1 << bits
        return struct.pack(fmt, number)
    if code is TypeCode.FLOAT:
        return struct.pack(">f", _float32(float(value)))
    if code is TypeCode.DOUBLE:
        return struct.pack(">d", float(value))
    if code is TypeCode.VARINT:
        return _varint_bytes(int(value))
    exact = value if isinstance(value, decimal.Decimal) else decimal.Decimal(value)
    sign, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    return struct.pack(">i", -exponent) + _varint_bytes(unscaled)


def _float32(value: float) -> float:
    if math.isinf(value) or math.isnan(value):
        return value
    try:
        return float(struct.unpack(">f", struct.pack(">f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


__all__ = ["EXACT", "INT_FORMATS", "NUMERIC", "decode_number", "encode_number"]
