"""Arithmetic in selectors (``v + 1``, ``a * b``, ``-v``, ``ts - 1d``) as Cassandra 4.x does it.

Cassandra turns operators into the native functions of ``cql3/functions/OperationFcts``
(``_add``, ``_substract``, ``_multiply``, ``_divide``, ``_modulo``, ``_negate``), declared for
every pair of numeric types and for ``timestamp``/``date`` plus or minus a ``duration``. The
result type of two numbers is the wider one (floating point when either is; sizes in bytes:
tinyint 1, smallint 2, int and float 4, bigint, counter and double 8, varint and decimal
unbounded), so ``tinyint + int`` is an int and ``bigint + float`` a double. Values follow
Java's arithmetic: fixed-width integers wrap, integer division truncates (``/ by zero`` fails
the request), floats follow IEEE (``x / 0.0`` is an infinity), decimals divide to at least 32
significant digits. A null or empty operand gives null.
"""

from __future__ import annotations

import calendar
import datetime
import decimal
import math
import operator as operator_module
import struct
from collections.abc import Callable
from typing import Any

from cassandra.cqltypes import DurationType

from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._numbers import EXACT, NUMERIC, decode_number, encode_number
from cassflow.devserver._schema_types import cql_type
from cassflow.protocol import DataType, TypeCode

#: The function each operator is in Cassandra (named so in FUNCTION_FAILURE errors).
FUNCTION_NAMES = {"+": "_add", "-": "_substract", "*": "_multiply", "/": "_divide", "%": "_modulo"}
NEGATION = "_negate"

_UNBOUNDED = 1 << 31
_SIZES = {
    TypeCode.TINYINT: 1,
    TypeCode.SMALLINT: 2,
    TypeCode.INT: 4,
    TypeCode.FLOAT: 4,
    TypeCode.BIGINT: 8,
    TypeCode.COUNTER: 8,
    TypeCode.DOUBLE: 8,
    TypeCode.VARINT: _UNBOUNDED,
    TypeCode.DECIMAL: _UNBOUNDED,
}
_FLOATING = frozenset({TypeCode.FLOAT, TypeCode.DOUBLE, TypeCode.DECIMAL})
_INTEGERS_BY_SIZE = {
    1: TypeCode.TINYINT,
    2: TypeCode.SMALLINT,
    4: TypeCode.INT,
    8: TypeCode.BIGINT,
    _UNBOUNDED: TypeCode.VARINT,
}
_FLOATS_BY_SIZE = {4: TypeCode.FLOAT, 8: TypeCode.DOUBLE, _UNBOUNDED: TypeCode.DECIMAL}
_TEMPORALS = frozenset({TypeCode.TIMESTAMP, TypeCode.DATE})
_DAY_MILLIS = 86_400_000
_EPOCH_DAYS_OFFSET = 1 << 31
#: DecimalType.divide: the scale of a quotient lies in [32, 1000].
_MIN_SCALE = 32
_MAX_SCALE = 1000

Number = int | float | decimal.Decimal
#: The operators that never fail, on Python numbers of one kind.
_SIMPLE: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator_module.add,
    "-": operator_module.sub,
    "*": operator_module.mul,
}
#: (left, right) -> result, serialized; raises :class:`OperationError`.
Binary = Callable[[bytes, bytes], bytes]


class OperationError(Exception):
    """The Java exception an operation raises; its text follows ``failed:``."""


def signature(operator: str, left: DataType, right: DataType) -> DataType | None:
    """The result type of ``left operator right``, or None when Cassandra declares none."""
    if left.code in NUMERIC and right.code in NUMERIC:
        size = max(_SIZES[left.code], _SIZES[right.code])
        floating = left.code in _FLOATING or right.code in _FLOATING
        return DataType((_FLOATS_BY_SIZE if floating else _INTEGERS_BY_SIZE)[size])
    if operator in "+-" and left.code in _TEMPORALS and right.code is TypeCode.DURATION:
        return DataType(left.code)
    return None


def _java_divide(left: int, right: int) -> int:
    if right == 0:
        raise OperationError("/ by zero")
    quotient = abs(left) // abs(right)
    return quotient if (left < 0) == (right < 0) else -quotient


def _java_remainder(left: int, right: int) -> int:
    return left - right * _java_divide(left, right)


def _float_op(operator: str, left: float, right: float) -> float:
    if operator in _SIMPLE:
        return float(_SIMPLE[operator](left, right))
    if operator == "/":
        if right == 0.0:
            if left == 0.0 or math.isnan(left):
                return math.nan
            return math.copysign(math.inf, left) * math.copysign(1.0, right)
        return left / right
    if right == 0.0 or math.isinf(left):
        return math.nan
    return math.fmod(left, right)


def _to_decimal(value: Number) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise OperationError("Infinite or NaN")
        # BigDecimal.valueOf(double): the shortest text of the (widened) double.
        return decimal.Decimal(repr(value))
    return decimal.Decimal(value)


def _decimal_divide(left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    if right == 0:
        raise OperationError("Division undefined" if left == 0 else "Division by zero")

    def first_digit(value: decimal.Decimal) -> int:
        digits, exponent = value.as_tuple()[1:]
        assert isinstance(exponent, int)
        return len(digits) + exponent  # precision - scale

    def scale(value: decimal.Decimal) -> int:
        exponent = value.as_tuple()[2]
        assert isinstance(exponent, int)
        return -exponent

    wanted = _MIN_SCALE - (first_digit(left) - first_digit(right))
    wanted = min(max(wanted, scale(left), scale(right), _MIN_SCALE), _MAX_SCALE)
    # round(left / right * 10**wanted), half up, on exact integers.
    numerator, denominator = _unscaled(left), _unscaled(right)
    exponent = scale(right) - scale(left) + wanted
    if exponent >= 0:
        numerator *= 10**exponent
    else:
        denominator *= 10**-exponent
    quotient, rest = divmod(abs(numerator), abs(denominator))
    if 2 * rest >= abs(denominator):
        quotient += 1
    if (numerator < 0) != (denominator < 0):
        quotient = -quotient
    if quotient == 0:
        return decimal.Decimal(0)
    return decimal.Decimal(quotient).scaleb(-wanted, EXACT).normalize(EXACT)


def _unscaled(value: decimal.Decimal) -> int:
    sign, digits, _ = value.as_tuple()
    unscaled = int("".join(map(str, digits)) or "0")
    return -unscaled if sign else unscaled


def _decimal_op(operator: str, left: decimal.Decimal, right: decimal.Decimal) -> decimal.Decimal:
    if operator in _SIMPLE:
        with decimal.localcontext(EXACT):  # exact, where the default context rounds to 28
            return decimal.Decimal(_SIMPLE[operator](left, right))
    if operator == "/":
        return _decimal_divide(left, right)
    if right == 0:
        raise OperationError("Division undefined" if left == 0 else "Division by zero")
    return EXACT.remainder(left, right)


def _int_op(operator: str, left: int, right: int, code: TypeCode) -> int:
    if operator in _SIMPLE:
        return int(_SIMPLE[operator](left, right))
    if operator == "/":
        if code is TypeCode.VARINT and right == 0:
            raise OperationError("BigInteger divide by zero")
        return _java_divide(left, right)
    if code is TypeCode.VARINT and right == 0:
        raise OperationError("BigInteger divide by zero")
    return _java_remainder(left, right)


def numeric(operator: str, left: DataType, right: DataType, result: DataType) -> Binary:
    """``left operator right`` on serialized numbers, giving a ``result``."""
    code = result.code

    def apply(left_raw: bytes, right_raw: bytes) -> bytes:
        a = decode_number(left_raw, left.code)
        b = decode_number(right_raw, right.code)
        value: Number
        if code is TypeCode.DECIMAL:
            value = _decimal_op(operator, _to_decimal(a), _to_decimal(b))
        elif code in (TypeCode.FLOAT, TypeCode.DOUBLE):
            value = _float_op(operator, float(a), float(b))
        else:
            value = _int_op(operator, int(a), int(b), code)
        return encode_number(value, code)

    return apply


def negate(dtype: DataType) -> Callable[[bytes], bytes]:
    """``-x`` for a number of type ``dtype`` (fixed-width integers wrap)."""
    code = dtype.code

    def apply(raw: bytes) -> bytes:
        value = decode_number(raw, code)
        if isinstance(value, decimal.Decimal):
            return encode_number(EXACT.minus(value), code)
        return encode_number(-value, code)

    return apply


def _add_months(millis: int, months: int) -> int:
    """GregorianCalendar.add(MONTH, n) in UTC: the day of the month is clamped."""
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=millis)
    total = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    moved = moment.replace(year=year, month=month + 1, day=day)
    delta = moved - datetime.datetime(1970, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _add_duration(millis: int, months: int, days: int, nanos: int) -> int:
    if months == 0:
        return millis + days * _DAY_MILLIS + int(nanos / 1_000_000)
    try:
        moved = _add_months(millis, months)
    except (OverflowError, ValueError) as exc:
        raise OperationError(str(exc)) from None
    return moved + days * _DAY_MILLIS + int(nanos / 1_000_000)


def temporal(operator: str, dtype: DataType) -> Binary:
    """``timestamp ± duration`` or ``date ± duration`` (Duration.addTo / substractFrom)."""
    sign = 1 if operator == "+" else -1
    is_date = dtype.code is TypeCode.DATE

    def apply(left_raw: bytes, right_raw: bytes) -> bytes:
        duration = DurationType.deserialize(right_raw, 4)
        months, days, nanos = duration.months, duration.days, duration.nanoseconds
        text = _duration_text(right_raw)
        if is_date:
            if nanos != 0:
                raise OperationError(f"The duration must have a day precision. Was: {text}")
            start = (struct.unpack(">I", left_raw)[0] - _EPOCH_DAYS_OFFSET) * _DAY_MILLIS
        else:
            if nanos % 1_000_000:
                raise OperationError(f"The duration must have a millisecond precision. Was: {text}")
            start = struct.unpack(">q", left_raw)[0]
        moved = _add_duration(start, sign * months, sign * days, sign * nanos)
        if is_date:
            return struct.pack(">I", (moved // _DAY_MILLIS + _EPOCH_DAYS_OFFSET) & 0xFFFFFFFF)
        return struct.pack(">q", moved)

    return apply


def _duration_text(raw: bytes) -> str:
    from cassflow.devserver._json_values import text_value  # noqa: PLC0415

    return text_value(raw, DataType(TypeCode.DURATION))


def failure_text(operator: str, left: DataType, right: DataType, error: OperationError) -> str:
    """OperationExecutionException's message."""
    return (
        f"the operation '{cql_type(left, frozen=True)} {operator} "
        f"{cql_type(right, frozen=True)}' failed: {error}"
    )


#: The numeric types in the order Cassandra declares its operation functions.
OPERAND_ORDER = (
    TypeCode.TINYINT,
    TypeCode.SMALLINT,
    TypeCode.INT,
    TypeCode.BIGINT,
    TypeCode.FLOAT,
    TypeCode.DOUBLE,
    TypeCode.DECIMAL,
    TypeCode.VARINT,
    TypeCode.COUNTER,
)


def negation_signatures() -> str:
    """The signatures of ``_negate`` as Cassandra lists them in its errors."""
    return ", ".join(
        f"system._negate : ({DataType(c).cql()}) -> {DataType(c).cql()}" for c in OPERAND_ORDER
    )


def infer_operands(
    operator: str, left: DataType | None, right: DataType | None, names: list[str]
) -> tuple[DataType, DataType]:
    """The operand types when a bind marker or NULL is an operand: the only signature that
    fits, as Cassandra's FunctionResolver picks it, or its 'Ambiguous' error."""
    numeric = [DataType(c) for c in OPERAND_ORDER]
    temporal = [DataType(TypeCode.TIMESTAMP), DataType(TypeCode.DATE)]
    signatures = [(a, b) for a in numeric for b in numeric]
    if operator in "+-":
        signatures += [(t, DataType(TypeCode.DURATION)) for t in temporal]
    fitting = [
        (a, b)
        for a, b in signatures
        if (left is None or left == a) and (right is None or right == b)
    ]
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise InvalidRequestError(
            f"the '{operator}' operation is not supported between {names[0]} and {names[1]}"
        )
    raise InvalidRequestError(
        f"Ambiguous '{operator}' operation with args {names[0]} and {names[1]}: use type hint "
        "to disambiguate, example '(int) ?'"
    )


__all__ = [
    "FUNCTION_NAMES",
    "NEGATION",
    "OPERAND_ORDER",
    "Binary",
    "OperationError",
    "failure_text",
    "infer_operands",
    "negate",
    "negation_signatures",
    "numeric",
    "signature",
    "temporal",
]
