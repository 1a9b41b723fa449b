"""Cassandra's native scalar functions (``system.*``) and CAST, on serialized values.

Each function has one or more overloads (``toDate`` takes a timeuuid or a timestamp); a call
picks the overload whose argument types match, as Cassandra's FunctionResolver does. Functions
run on the values' wire bytes and return wire bytes (null in, null out), so the same code serves
selectors (:mod:`._select`) and terms in WHERE clauses or VALUES (:class:`._values.Evaluator`).

Names are Cassandra's (all lower case: ``totimestamp``, ``intasblob``); result columns are
named ``system.<name>(<args>)`` and casts ``cast(<arg> as <type>)``, as Cassandra names them.
"""

from __future__ import annotations

import decimal
import json
import math
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cassflow.cql import FunctionCall, Term
from cassflow.devserver._errors import InvalidRequestError, RequestError
from cassflow.devserver._json_values import java_number_text, text_value
from cassflow.devserver._numbers import INT_FORMATS, NUMERIC, decode_number, encode_number
from cassflow.devserver._schema_types import _NATIVE_BY_NAME as NATIVE_BY_NAME
from cassflow.protocol import UNSET, DataType, ErrorMessage, FunctionFailure, TypeCode

if TYPE_CHECKING:
    from cassflow.devserver._values import Evaluator

#: (now in microseconds since the epoch, serialized arguments) -> serialized result.
Impl = Callable[[int, Sequence[bytes | None]], bytes | None]

_UUID_EPOCH_OFFSET = 0x01B21DD213814000  # 100 ns intervals from 1582-10-15 to 1970-01-01
_MIN_CLOCK_SEQ_AND_NODE = 0x8080808080808080
_MAX_CLOCK_SEQ_AND_NODE = 0x7F7F7F7F7F7F7F7F
_DAY_MILLIS = 86_400_000
_EPOCH_DAYS_OFFSET = 1 << 31


def _t(code: TypeCode) -> DataType:
    return DataType(code)


TIMEUUID = _t(TypeCode.TIMEUUID)
TIMESTAMP = _t(TypeCode.TIMESTAMP)
DATE = _t(TypeCode.DATE)
BIGINT = _t(TypeCode.BIGINT)
BLOB = _t(TypeCode.BLOB)
TEXT = _t(TypeCode.VARCHAR)


@dataclass(frozen=True, slots=True)
class ScalarFunction:
    """One overload of a native scalar function."""

    name: str
    arg_types: tuple[DataType, ...]
    return_type: DataType
    impl: Impl

    def column_name(self, args: Sequence[str]) -> str:
        """The result column name Cassandra gives a call with these argument names."""
        return f"system.{self.name}({', '.join(args)})"


# --- numbers as Java holds them -------------------------------------------------------------


def _java_int(value: float | decimal.Decimal, bits: int) -> int:
    """Java's narrowing of a floating value to an integer of ``bits``: NaN is 0, saturates."""
    if isinstance(value, float) and math.isnan(value):
        return 0
    limit = 1 << (bits - 1)
    if isinstance(value, float) and math.isinf(value):
        return limit - 1 if value > 0 else -limit
    return max(-limit, min(limit - 1, int(value)))


def _as_double(value: int | float | decimal.Decimal) -> float:
    """Java's doubleValue(): values beyond the double range become infinities."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _cast_number(value: int | float | decimal.Decimal, target: TypeCode) -> bytes:
    """Java's Number.xxxValue() conversions, as CastFcts applies them: integers and decimals
    narrow by keeping the low bits (decimals truncated first), floating values saturate."""
    exact = int(value) if isinstance(value, decimal.Decimal) else value
    if target in (TypeCode.TINYINT, TypeCode.SMALLINT, TypeCode.INT, TypeCode.BIGINT):
        bits = struct.calcsize(INT_FORMATS[target]) * 8
        if isinstance(exact, int):
            return encode_number(exact, target)  # integer narrowing wraps
        if target in (TypeCode.TINYINT, TypeCode.SMALLINT):
            # Java narrows floating values to int first, then wraps to byte/short.
            return encode_number(_java_int(exact, 32), target)
        return encode_number(_java_int(exact, bits), target)
    if target is TypeCode.FLOAT or target is TypeCode.DOUBLE:
        return encode_number(_as_double(value), target)
    if target is TypeCode.DECIMAL:
        double = _as_double(value)
        if math.isnan(double) or math.isinf(double):
            raise FunctionFailureError(
                "execution of 'system.castasdecimal' failed: java.lang.NumberFormatException: "
                "Infinite or NaN",
                "castasdecimal",
                (),
            )
        # BigDecimal.valueOf(p.doubleValue()): the double's shortest decimal text.
        return encode_number(decimal.Decimal(java_number_text(double, False)), target)
    # varint: BigInteger.valueOf(p.longValue())
    as_long = exact if isinstance(exact, int) else _java_int(exact, 64)
    return encode_number(
        int(struct.unpack(">q", encode_number(as_long, TypeCode.BIGINT))[0]), target
    )


# --- time functions -------------------------------------------------------------------------


def _timeuuid_millis(raw: bytes) -> int:
    return (uuid.UUID(bytes=raw).time - _UUID_EPOCH_OFFSET) // 10_000


def _timeuuid_at(ticks: int, lsb: int) -> bytes:
    msb = (ticks & 0xFFFFFFFF) << 32
    msb |= (ticks & 0xFFFF00000000) >> 16
    msb |= (ticks & 0x0FFF000000000000) >> 48
    msb |= 0x1000
    return msb.to_bytes(8, "big") + lsb.to_bytes(8, "big")


def _millis(raw: bytes) -> int:
    return int(struct.unpack(">q", raw)[0])


def _date_days(raw: bytes) -> int:
    return int(struct.unpack(">I", raw)[0]) - _EPOCH_DAYS_OFFSET


def _date_of_millis(millis: int) -> bytes:
    return struct.pack(">I", millis // _DAY_MILLIS + _EPOCH_DAYS_OFFSET)


def _unary(fn: Callable[[bytes], bytes]) -> Impl:
    def impl(_now: int, args: Sequence[bytes | None]) -> bytes | None:
        value = args[0]
        return None if value is None else fn(value)

    return impl


def _now(_now_micros: int, _args: Sequence[bytes | None]) -> bytes:
    return uuid.uuid1().bytes


def _uuid(_now_micros: int, _args: Sequence[bytes | None]) -> bytes:
    return uuid.uuid4().bytes


def _current_timestamp(now_micros: int, _args: Sequence[bytes | None]) -> bytes:
    return struct.pack(">q", now_micros // 1000)


def _current_date(now_micros: int, _args: Sequence[bytes | None]) -> bytes:
    return _date_of_millis(now_micros // 1000)


def _current_time(now_micros: int, _args: Sequence[bytes | None]) -> bytes:
    return struct.pack(">q", (now_micros % 86_400_000_000) * 1000)


def _min_timeuuid(raw: bytes) -> bytes:
    return _timeuuid_at(_millis(raw) * 10_000 + _UUID_EPOCH_OFFSET, _MIN_CLOCK_SEQ_AND_NODE)


def _max_timeuuid(raw: bytes) -> bytes:
    ticks = (_millis(raw) + 1) * 10_000 + _UUID_EPOCH_OFFSET - 1
    return _timeuuid_at(ticks, _MAX_CLOCK_SEQ_AND_NODE)


def _timeuuid_to_timestamp(raw: bytes) -> bytes:
    return struct.pack(">q", _timeuuid_millis(raw))


def _date_to_timestamp(raw: bytes) -> bytes:
    return struct.pack(">q", _date_days(raw) * _DAY_MILLIS)


_FUNCTIONS: dict[str, list[ScalarFunction]] = {}


def _register(name: str, args: tuple[DataType, ...], result: DataType, impl: Impl) -> None:
    _FUNCTIONS.setdefault(name, []).append(ScalarFunction(name, args, result, impl))


def _register_time_functions() -> None:
    _register("now", (), TIMEUUID, _now)
    _register("currenttimeuuid", (), TIMEUUID, _now)
    _register("uuid", (), _t(TypeCode.UUID), _uuid)
    _register("currenttimestamp", (), TIMESTAMP, _current_timestamp)
    _register("currentdate", (), DATE, _current_date)
    _register("currenttime", (), _t(TypeCode.TIME), _current_time)
    _register("mintimeuuid", (TIMESTAMP,), TIMEUUID, _unary(_min_timeuuid))
    _register("maxtimeuuid", (TIMESTAMP,), TIMEUUID, _unary(_max_timeuuid))
    _register("dateof", (TIMEUUID,), TIMESTAMP, _unary(_timeuuid_to_timestamp))
    _register("unixtimestampof", (TIMEUUID,), BIGINT, _unary(_timeuuid_to_timestamp))
    _register("todate", (TIMEUUID,), DATE, _unary(lambda r: _date_of_millis(_timeuuid_millis(r))))
    _register("todate", (TIMESTAMP,), DATE, _unary(lambda r: _date_of_millis(_millis(r))))
    _register("totimestamp", (TIMEUUID,), TIMESTAMP, _unary(_timeuuid_to_timestamp))
    _register("totimestamp", (DATE,), TIMESTAMP, _unary(_date_to_timestamp))
    _register("tounixtimestamp", (TIMEUUID,), BIGINT, _unary(_timeuuid_to_timestamp))
    _register("tounixtimestamp", (TIMESTAMP,), BIGINT, _unary(bytes))
    _register("tounixtimestamp", (DATE,), BIGINT, _unary(_date_to_timestamp))


#: The native types of the blobAsX / XAsBlob conversions, by their CQL names.
_BLOB_CONVERSION_TYPES = {n: c for n, c in NATIVE_BY_NAME.items() if c is not TypeCode.BLOB}


def _from_blob(name: str, dtype: DataType) -> Impl:
    def impl(_now: int, args: Sequence[bytes | None]) -> bytes | None:
        raw = args[0]
        if raw is None:
            return None
        try:
            if raw or dtype.code is TypeCode.VARCHAR:
                dtype.codec().deserialize(raw, 4)
        except Exception:  # the driver's codecs raise whatever struct or decode raise
            raise InvalidRequestError(
                f"In call to function system.{name}, value 0x{raw.hex()} is not a valid binary "
                f"representation for type {dtype.cql()}"
            ) from None
        return raw

    return impl


def _register_blob_functions() -> None:
    for type_name, code in _BLOB_CONVERSION_TYPES.items():
        dtype = _t(code)
        _register(f"{type_name}asblob", (dtype,), BLOB, _unary(bytes))
        name = f"blobas{type_name}"
        _register(name, (BLOB,), dtype, _from_blob(name, dtype))


_register_time_functions()
_register_blob_functions()


def overloads(name: str) -> list[ScalarFunction]:
    """The overloads of the native scalar function ``name`` (lower case); empty if unknown."""
    return _FUNCTIONS.get(name, [])


def same_type(left: DataType, right: DataType) -> bool:
    """Whether a value of ``left`` is accepted where ``right`` is expected, as function
    resolution accepts it (text and varchar are one type)."""
    return left == right


# --- CAST -----------------------------------------------------------------------------------

_TEXTS = frozenset({TypeCode.VARCHAR, TypeCode.ASCII})
_CAST_TO_TEXT = NUMERIC | {
    TypeCode.INET,
    TypeCode.BOOLEAN,
    TypeCode.TIMEUUID,
    TypeCode.TIMESTAMP,
    TypeCode.DATE,
    TypeCode.TIME,
    TypeCode.UUID,
}
_CASTS_TO_TIME = {
    (TypeCode.TIMEUUID, TypeCode.DATE): lambda r: _date_of_millis(_timeuuid_millis(r)),
    (TypeCode.TIMEUUID, TypeCode.TIMESTAMP): _timeuuid_to_timestamp,
    (TypeCode.TIMESTAMP, TypeCode.DATE): lambda r: _date_of_millis(_millis(r)),
    (TypeCode.DATE, TypeCode.TIMESTAMP): _date_to_timestamp,
}


def cast_function(source: DataType, target: DataType) -> Callable[[bytes], bytes] | None:
    """The conversion CAST(x AS target) applies to a ``source`` value, or None when Cassandra
    has no such cast (the caller checks first that the types differ)."""
    src, dst = source.code, target.code
    if src in NUMERIC and dst in NUMERIC and dst is not TypeCode.COUNTER:
        return lambda raw: _cast_number(decode_number(raw, src), dst)
    if dst in _TEXTS and (src in _CAST_TO_TEXT or (src is TypeCode.ASCII and dst is not src)):
        return lambda raw: text_value(raw, source).encode("utf-8")
    return _CASTS_TO_TIME.get((src, dst))


# --- calls in terms (WHERE, VALUES, SET) ----------------------------------------------------


class FunctionFailureError(RequestError):
    """Cassandra's FunctionExecutionException (code 0x1400) from a native function."""

    def __init__(self, message: str, function: str, arg_types: tuple[str, ...]) -> None:
        super().__init__(message)
        self.function = function
        self.arg_types = arg_types

    def to_message(self) -> ErrorMessage:
        return FunctionFailure(
            message=str(self), keyspace="system", function=self.function, arg_types=self.arg_types
        )


def _from_json(text: bytes | None, dtype: DataType) -> bytes | None:
    """``fromJson(text)`` for a receiver of type ``dtype`` (FromJsonFct)."""
    # Imported here: _json_decode reads constants through _values, which calls this module.
    from cassflow.devserver._json_decode import JsonValueError, from_json  # noqa: PLC0415

    if text is None:
        return None
    document = text.decode("utf-8")
    try:
        parsed = json.loads(document)
    except ValueError as exc:
        raise FunctionFailureError(
            f"Could not decode JSON string '{document}': {exc}", "fromjson", ("text",)
        ) from None
    try:
        return from_json(parsed, dtype)
    except (JsonValueError, InvalidRequestError) as exc:
        raise FunctionFailureError(
            "execution of 'system.fromjson[text]' failed: "
            f"org.apache.cassandra.serializers.MarshalException: {exc}",
            "fromjson",
            ("text",),
        ) from None


def evaluate_call(
    evaluator: Evaluator, call: FunctionCall, dtype: DataType, receiver: str
) -> bytes | None:
    """The value of a function call used as a term for a receiver of type ``dtype``."""
    name = call.function.name.lower()
    if name == "fromjson" and call.function.keyspace in (None, "system"):
        if len(call.args) != 1:
            raise InvalidRequestError(
                f"fromJson() only accepts one argument (got {len(call.args)})"
            )
        return _from_json(_argument(evaluator, call.args[0], TEXT, name), dtype)
    candidates = overloads(name) if call.function.keyspace in (None, "system") else []
    if not candidates:
        raise InvalidRequestError(f"Unknown function {call.function.to_cql()} called")
    matching = [f for f in candidates if len(f.arg_types) == len(call.args)]
    if not matching:
        arity = len(candidates[0].arg_types)
        raise InvalidRequestError(
            f"Invalid number of arguments in call to function system.{name}: {arity} required "
            f"but {len(call.args)} provided"
        )
    errors: list[InvalidRequestError] = []
    for function in matching:
        try:
            args = [
                _argument(evaluator, a, t, name)
                for a, t in zip(call.args, function.arg_types, strict=True)
            ]
        except InvalidRequestError as exc:
            errors.append(exc)
            continue
        result_type = function.return_type
        if not (
            same_type(result_type, dtype)
            or (result_type.code is TypeCode.TIMEUUID and dtype.code is TypeCode.UUID)
        ):
            raise InvalidRequestError(
                f"Type error: cannot assign result of function system.{name} (type "
                f"{result_type.cql()}) to {receiver} (type {dtype.cql()})"
            )
        return function.impl(evaluator.now_micros, args)
    raise errors[0]


def argument_receivers(
    call: FunctionCall, receiver: DataType, key_types: Sequence[DataType]
) -> list[tuple[Term, DataType, str]]:
    """What each argument of ``call`` receives (for bind markers at PREPARE): its type and
    Cassandra's name for it (``arg0(system.maxtimeuuid)``); ``key_types`` are token()'s."""
    name = call.function.name.lower()
    if name == "token":
        types: Sequence[DataType] = key_types
    elif name == "fromjson":
        types = [TEXT]
    else:
        fitting = [
            f
            for f in overloads(name)
            if len(f.arg_types) == len(call.args)
            and (
                f.return_type == receiver
                or (f.return_type.code is TypeCode.TIMEUUID and receiver.code is TypeCode.UUID)
            )
        ]
        if not fitting:
            return []
        types = fitting[0].arg_types
    return [
        (arg, dtype, f"arg{i}(system.{name})")
        for i, (arg, dtype) in enumerate(zip(call.args, types, strict=False))
    ]


def _argument(evaluator: Evaluator, term: Term, dtype: DataType, name: str) -> bytes | None:
    value = evaluator.value(term, dtype, f"{name}(...)")
    if value is UNSET:
        raise InvalidRequestError(f"Invalid unset value for argument in call to function {name}")
    assert value is None or isinstance(value, bytes)
    return value


__all__ = [
    "FunctionFailureError",
    "ScalarFunction",
    "argument_receivers",
    "cast_function",
    "evaluate_call",
    "overloads",
]
