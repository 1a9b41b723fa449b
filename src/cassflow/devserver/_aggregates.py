"""Cassandra's native aggregates: count, min, max, sum and avg, with its result types.

As Cassandra's AggregateFcts: ``sum``/``avg`` return the argument's type (the sum of ints is
an int, wrapping as Java's does; the average of integers is an integer division, truncated
toward zero; of decimals a running average rounded half-even at each step); on no rows ``count``,
``sum`` and ``avg`` give 0 and ``min``/``max`` null. ``count(*)`` (and ``count(1)``) count rows,
``count(c)`` the non-null values of ``c``.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._keycodec import clustering_key
from cassflow.devserver._numbers import EXACT, NUMERIC, decode_number, encode_number
from cassflow.protocol import DataType, TypeCode

_BIGINT = DataType(TypeCode.BIGINT)
_BLOB = DataType(TypeCode.BLOB)
#: Non-native types whose values min/max read as blobs (vectors, Cassandra 5, are not).
_BLOB_READS = frozenset({TypeCode.LIST, TypeCode.MAP, TypeCode.SET, TypeCode.UDT, TypeCode.TUPLE})
#: The types min and max take (the native types; counters have their own).
_NATIVE = frozenset(
    code
    for code in TypeCode
    if code
    not in (
        TypeCode.CUSTOM,
        TypeCode.LIST,
        TypeCode.MAP,
        TypeCode.SET,
        TypeCode.UDT,
        TypeCode.TUPLE,
    )
)


class Accumulator(Protocol):
    """The state of one aggregate over one group of rows."""

    def add(self, value: bytes | None) -> None:
        """Take one row's argument value."""

    def result(self) -> bytes | None:
        """The aggregate's serialized value over the values taken so far."""


@dataclass(slots=True)
class _Count:
    rows: bool
    count: int = 0

    def add(self, value: bytes | None) -> None:
        if self.rows or value is not None:
            self.count += 1

    def result(self) -> bytes | None:
        return encode_number(self.count, TypeCode.BIGINT)


@dataclass(slots=True)
class _Extreme:
    dtype: DataType
    keep_max: bool
    best: bytes | None = None
    best_key: bytes = b""

    def add(self, value: bytes | None) -> None:
        if value is None:
            return
        if self.dtype.code is TypeCode.DURATION:
            key = value  # DurationType compares bytes (it has no order of its own)
        else:
            key = clustering_key([value], [self.dtype], [False])
        if self.best is None or (key > self.best_key if self.keep_max else key < self.best_key):
            self.best, self.best_key = value, key

    def result(self) -> bytes | None:
        return self.best


@dataclass(slots=True)
class _Sum:
    code: TypeCode
    average: bool
    values: list[int | float | decimal.Decimal] = field(default_factory=list)

    def add(self, value: bytes | None) -> None:
        if value is not None and value:
            self.values.append(decode_number(value, self.code))

    def result(self) -> bytes | None:
        code = self.code
        out = TypeCode.BIGINT if code is TypeCode.COUNTER else code
        count = len(self.values)
        if code in (TypeCode.FLOAT, TypeCode.DOUBLE):
            total: int | float | decimal.Decimal = math.fsum(float(v) for v in self.values)
            if self.average:
                total = total / count if count else 0.0
            return encode_number(total, out)
        if code is TypeCode.DECIMAL:
            if self.average:
                return encode_number(_decimal_average(self.values), out)
            exact = sum((decimal.Decimal(v) for v in self.values), decimal.Decimal(0))
            return encode_number(EXACT.plus(exact), out)
        integer = sum(int(v) for v in self.values)
        if self.average:
            if not count:
                return encode_number(0, out)
            truncated = abs(integer) // count
            integer = truncated if integer >= 0 else -truncated
        return encode_number(integer, out)


def _decimal_average(values: list[int | float | decimal.Decimal]) -> decimal.Decimal:
    """Cassandra's running average of decimals: each step divides the difference to the
    average so far by the count, rounding half-even at the difference's scale."""
    average = decimal.Decimal(0)
    for count, value in enumerate(values, start=1):
        difference = EXACT.subtract(decimal.Decimal(value), average)
        exponent = difference.as_tuple().exponent
        assert isinstance(exponent, int)
        step = EXACT.divide(difference, decimal.Decimal(count)).quantize(
            decimal.Decimal(1).scaleb(exponent), rounding=decimal.ROUND_HALF_EVEN, context=EXACT
        )
        average = EXACT.add(average, step)
    return average


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A resolved aggregate call: its result type and a maker of fresh accumulators."""

    name: str
    return_type: DataType
    new: Callable[[], Accumulator]


def count_rows() -> Aggregate:
    """``count(*)``."""
    return Aggregate("count", _BIGINT, lambda: _Count(rows=True))


AGGREGATES = frozenset({"count", "min", "max", "sum", "avg"})


def aggregate(name: str, arg_type: DataType) -> Aggregate:
    """The native aggregate ``name`` (lower case) over values of ``arg_type``."""
    code = arg_type.code
    if name == "count":
        return Aggregate(name, _BIGINT, lambda: _Count(rows=False))
    if name in ("min", "max") and code in _NATIVE:
        keep_max = name == "max"
        result = _BIGINT if code is TypeCode.COUNTER else arg_type
        return Aggregate(name, result, lambda: _Extreme(arg_type, keep_max))
    if name in ("min", "max") and code in _BLOB_READS:
        # Cassandra 4.1 declares min/max for native types only; a collection, tuple or user
        # type value is read by the blob overload, which compares the serialized bytes.
        keep_max = name == "max"
        return Aggregate(name, _BLOB, lambda: _Extreme(_BLOB, keep_max))
    if name in ("sum", "avg") and code in NUMERIC:
        result = _BIGINT if code is TypeCode.COUNTER else arg_type
        average = name == "avg"
        return Aggregate(name, result, lambda: _Sum(code, average))
    accepted = sorted(NUMERIC if name in ("sum", "avg") else _NATIVE)
    signatures = ", ".join(
        f"system.{name} : ({t.name.lower()}) -> "
        + ("bigint" if t is TypeCode.COUNTER else t.name.lower())
        for t in accepted
    )
    raise InvalidRequestError(
        f"Invalid call to function {name}, none of its type signatures match (known type "
        f"signatures: {signatures})"
    )


__all__ = ["AGGREGATES", "Accumulator", "Aggregate", "aggregate", "count_rows"]
