"""CQL types as Arrow types, and driver values as Python values pyarrow stores exactly.

Exactness first: varint and decimal (arbitrary size and scale per value) are strings, uuid and
inet strings, durations their canonical text; timestamps are ``timestamp('ms', tz='UTC')``,
dates ``date32`` (the same range of days as Cassandra's), times ``time64('ns')``.
Tuples are structs with fields ``f0``, ``f1``...; user types structs with their field names.

pyarrow is imported only when a function here is called (through
:mod:`cassflow.copy._pyarrow`, which names the extra to install when it is missing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from cassandra import cqltypes

from cassflow.copy._convert_output import (
    date_days_of,
    duration_text,
    time_nanos_of,
)
from cassflow.copy._convert_scalar import timestamp_converter
from cassflow.copy._cqltypes import unwrap
from cassflow.copy._model import CopyError

if TYPE_CHECKING:
    import pyarrow

ArrowFormatter = Callable[[Any], Any]

_INT_TYPES: Final = {
    cqltypes.ByteType: "int8",
    cqltypes.ShortType: "int16",
    cqltypes.Int32Type: "int32",
    cqltypes.LongType: "int64",
    cqltypes.CounterColumnType: "int64",
}
_TIMESTAMP_MS = timestamp_converter()


def arrow_type(cql_type: type | None) -> pyarrow.DataType:
    """The Arrow type that holds values of ``cql_type`` exactly (``None``: string)."""
    from cassflow.copy._pyarrow import pa  # noqa: PLC0415 - pyarrow only when used

    if cql_type is None:
        return pa.string()
    base: Any = unwrap(cql_type)
    for klass in base.__mro__:
        name = _INT_TYPES.get(klass)
        if name is not None:
            return getattr(pa, name)()
    if issubclass(base, cqltypes.FloatType):
        return pa.float32()
    if issubclass(base, cqltypes.DoubleType):
        return pa.float64()
    if issubclass(base, cqltypes.BooleanType):
        return pa.bool_()
    if issubclass(base, cqltypes.BytesType):
        return pa.binary()
    if issubclass(base, cqltypes.TimeUUIDType | cqltypes.UUIDType):
        return pa.string()
    if issubclass(base, cqltypes.DateType):
        return pa.timestamp("ms", tz="UTC")
    if issubclass(base, cqltypes.SimpleDateType):
        return pa.date32()
    if issubclass(base, cqltypes.TimeType):
        return pa.time64("ns")
    if issubclass(base, cqltypes.UserType):
        return pa.struct(
            [(n, arrow_type(t)) for n, t in zip(base.fieldnames, base.subtypes, strict=True)]
        )
    if issubclass(base, cqltypes.TupleType):
        return pa.struct([(f"f{i}", arrow_type(t)) for i, t in enumerate(base.subtypes)])
    if issubclass(base, cqltypes.MapType):
        key_type, value_type = base.subtypes
        return pa.map_(arrow_type(key_type), arrow_type(value_type))
    if issubclass(base, cqltypes.ListType | cqltypes.SetType):
        return pa.list_(arrow_type(base.subtypes[0]))
    if issubclass(base, cqltypes.VectorType):
        return pa.list_(arrow_type(base.subtype), base.vector_size)
    # varint, decimal, text, ascii, inet, duration and custom types: exact as text.
    return pa.string()


def to_arrow(cql_type: type | None) -> Callable[[Any], Any]:
    """Driver value -> what ``pyarrow.array(..., type=arrow_type(cql_type))`` accepts; None
    stays None. What ``to_pylist()`` gives back converts with ``to_cql`` to the same value
    (except that pyarrow cannot give back ``time64('ns')`` values with sub-microsecond digits
    or dates and timestamps outside Python's years 1..9999 as Python objects: read such
    columns cast to integers, which ``to_cql`` takes as nanoseconds, days and
    milliseconds)."""
    if cql_type is None:
        return _untyped
    inner = _formatter(cql_type)

    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


def _untyped(value: Any) -> Any:
    return None if value is None else str(value)


def _nullable(inner: ArrowFormatter) -> ArrowFormatter:
    return lambda v: None if v is None else inner(v)


def _formatter(cql_type: type) -> ArrowFormatter:
    base: Any = unwrap(cql_type)
    if issubclass(base, tuple(_INT_TYPES)):
        return int
    if issubclass(base, cqltypes.FloatType | cqltypes.DoubleType):
        return float
    if issubclass(base, cqltypes.BooleanType):
        return bool
    if issubclass(base, cqltypes.BytesType):
        return bytes
    if issubclass(base, cqltypes.TimeUUIDType | cqltypes.UUIDType):
        return str
    if issubclass(base, cqltypes.DateType):
        return _TIMESTAMP_MS  # int milliseconds: exact, whatever the year
    if issubclass(base, cqltypes.SimpleDateType):
        return date_days_of
    if issubclass(base, cqltypes.TimeType):
        return time_nanos_of
    if issubclass(base, cqltypes.DurationType):
        return duration_text
    if issubclass(base, cqltypes.UserType):
        names = list(base.fieldnames)
        fields = [_nullable(_formatter(t)) for t in base.subtypes]
        return lambda v: {n: f(x) for n, f, x in zip(names, fields, v, strict=False)}
    if issubclass(base, cqltypes.TupleType):
        items = [_nullable(_formatter(t)) for t in base.subtypes]
        return lambda v: {f"f{i}": f(x) for i, (f, x) in enumerate(zip(items, v, strict=False))}
    if issubclass(base, cqltypes.MapType):
        key_type, value_type = base.subtypes
        key = _formatter(key_type)
        value = _nullable(_formatter(value_type))
        return lambda v: [(key(k), value(x)) for k, x in v.items()]
    if issubclass(base, cqltypes.ListType | cqltypes.SetType):
        element = _nullable(_formatter(base.subtypes[0]))
        return lambda v: [element(x) for x in v]
    if issubclass(base, cqltypes.VectorType):
        element = _formatter(base.subtype)
        return lambda v: [element(x) for x in v]
    if issubclass(
        base,
        cqltypes.IntegerType
        | cqltypes.DecimalType
        | cqltypes.UTF8Type
        | cqltypes.AsciiType
        | cqltypes.InetAddressType,
    ):
        return str
    raise CopyError(f"no Arrow form for the CQL type {base.cql_parameterized_type()}")


__all__ = ["arrow_type", "to_arrow"]
