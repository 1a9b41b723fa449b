"""Terms of a statement turned into serialized cell values for a column's type.

Cassandra types a constant only once it knows the receiving column, so does this module: a
``'2024-01-02'`` is text for a text column, a timestamp for a timestamp column, and an error
for an int. Bind marker values arrive serialized and are validated by deserializing them.
Errors carry Cassandra's wording (``Invalid STRING constant (x) for "c" of type int``).
"""

from __future__ import annotations

import decimal
import ipaddress
import struct
import time
import uuid
from collections.abc import Sequence
from typing import Any, Final

from cassandra import util as cql_util

from cassflow.cql import (
    BindMarker,
    CastTerm,
    FunctionCall,
    ListLiteral,
    Literal,
    LiteralKind,
    MapLiteral,
    Negation,
    Null,
    SetLiteral,
    Term,
    TupleLiteral,
    TypeCast,
    UdtLiteral,
)
from cassflow.cql import _literals as literals
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._functions import evaluate_call
from cassflow.devserver._keycodec import clustering_key
from cassflow.devserver._schema_types import cql_type, vector_parts
from cassflow.devserver._vectors import join_vector, split_vector
from cassflow.protocol import UNSET, DataType, TypeCode, Value

#: Cells are stored serialized as protocol v4+ clients send them (collections changed
#: format in v3; nothing since).
STORAGE_VERSION: Final = 4

_INTS = {
    TypeCode.TINYINT: (struct.Struct(">b"), "tinyint"),
    TypeCode.SMALLINT: (struct.Struct(">h"), "smallint"),
    TypeCode.INT: (struct.Struct(">i"), "int"),
    TypeCode.BIGINT: (struct.Struct(">q"), "bigint"),
    TypeCode.COUNTER: (struct.Struct(">q"), "counter"),
}
_TEXT = frozenset({TypeCode.VARCHAR, TypeCode.ASCII})
_INT32 = struct.Struct(">i")
_EPOCH_DAYS_OFFSET = 1 << 31


def type_name(dtype: DataType) -> str:
    """The type as Cassandra names it in error messages."""
    return "vector<" + ", ".join(_vector_text(dtype)) + ">" if vector_parts(dtype) else dtype.cql()


def _vector_text(dtype: DataType) -> tuple[str, str]:
    parts = vector_parts(dtype)
    assert parts is not None
    return cql_type(parts[0], frozen=True), str(parts[1])


def _invalid_constant(kind: str, text: str, receiver: str, dtype: DataType) -> InvalidRequestError:
    return InvalidRequestError(
        f'Invalid {kind} constant ({text}) for "{receiver}" of type {type_name(dtype)}'
    )


class Evaluator:
    """Evaluates terms against bound values; one per request execution."""

    def __init__(self, bound: Sequence[Value], now_micros: int | None = None) -> None:
        self.bound = bound
        self._now_micros = now_micros

    @property
    def now_micros(self) -> int:
        """The request's 'now', fixed for its whole execution (now() is the same everywhere)."""
        if self._now_micros is None:
            self._now_micros = time.time_ns() // 1000
        return self._now_micros

    # --- entry points ----------------------------------------------------------------------

    def value(self, term: Term, dtype: DataType, receiver: str) -> Value:
        """The serialized value of ``term`` for a column of type ``dtype`` named ``receiver``."""
        if isinstance(term, BindMarker):
            return self._bound(term, dtype, receiver)
        if isinstance(term, Null):
            return None
        if isinstance(term, TypeCast):
            return self.value(term.term, dtype, receiver)
        if isinstance(term, Literal):
            return literal_value(term, dtype, receiver)
        if isinstance(term, Negation) and isinstance(term.term, Literal):
            negated = Literal(kind=term.term.kind, text="-" + term.term.text)
            return literal_value(negated, dtype, receiver)
        if isinstance(term, ListLiteral | SetLiteral | MapLiteral):
            return self._collection(term, dtype, receiver)
        if isinstance(term, TupleLiteral):
            return self._tuple(term, dtype, receiver)
        if isinstance(term, UdtLiteral):
            return self._udt(term, dtype, receiver)
        if isinstance(term, FunctionCall):
            return self._function(term, dtype, receiver)
        if isinstance(term, CastTerm):
            raise InvalidRequestError(f"CAST is not supported as a value for {receiver}")
        raise InvalidRequestError(f"Invalid value {term.to_cql()} for {receiver}")

    def int_value(self, term: Term, receiver: str) -> int | None:
        """An int-typed term (LIMIT, TTL...): None when null or unset."""
        raw = self.value(term, DataType(TypeCode.INT), receiver)
        if raw is None or raw is UNSET:
            return None
        assert isinstance(raw, bytes)
        return int(_INT32.unpack(raw)[0])

    def bigint_value(self, term: Term, receiver: str) -> int | None:
        """A bigint-typed term (USING TIMESTAMP): None when null or unset."""
        raw = self.value(term, DataType(TypeCode.BIGINT), receiver)
        if raw is None or raw is UNSET:
            return None
        assert isinstance(raw, bytes)
        return int(struct.unpack(">q", raw)[0])

    # --- pieces ----------------------------------------------------------------------------

    def _bound(self, marker: BindMarker, dtype: DataType, receiver: str) -> Value:
        if marker.index >= len(self.bound):
            raise InvalidRequestError(
                f"There were {len(self.bound)} markers(?) in CQL but {marker.index + 1} or more "
                "bound variables are needed"
            )
        raw = self.bound[marker.index]
        if raw is None or raw is UNSET:
            return raw
        assert isinstance(raw, bytes)
        validate(raw, dtype, receiver)
        return raw

    def _collection(
        self, term: ListLiteral | SetLiteral | MapLiteral, dtype: DataType, receiver: str
    ) -> bytes:
        code = dtype.code
        if isinstance(term, ListLiteral) and vector_parts(dtype) is not None:
            return self._vector(term, dtype, receiver)
        if isinstance(term, MapLiteral) or (
            isinstance(term, SetLiteral) and not term.items and code is TypeCode.MAP
        ):
            if code is not TypeCode.MAP:
                raise InvalidRequestError(
                    f"Invalid map literal for {receiver} of type {dtype.cql()}"
                )
            entries = term.entries if isinstance(term, MapLiteral) else ()
            key_type, value_type = dtype.params
            pairs: dict[bytes, tuple[bytes, bytes]] = {}
            for key_term, value_term in entries:
                key = self._element(key_term, key_type, receiver)
                value = self._element(value_term, value_type, receiver)
                pairs[clustering_key([key], [key_type], [False])] = (key, value)
            return _join_pairs([pairs[k] for k in sorted(pairs)])
        if isinstance(term, ListLiteral):
            if code is not TypeCode.LIST:
                raise InvalidRequestError(
                    f"Invalid list literal for {receiver} of type {dtype.cql()}"
                )
            element_type = dtype.params[0]
            return _join([self._element(t, element_type, receiver) for t in term.items])
        if code is not TypeCode.SET:
            raise InvalidRequestError(f"Invalid set literal for {receiver} of type {dtype.cql()}")
        element_type = dtype.params[0]
        elements: dict[bytes, bytes] = {}
        for item in term.items:
            element = self._element(item, element_type, receiver)
            elements[clustering_key([element], [element_type], [False])] = element
        return _join([elements[k] for k in sorted(elements)])

    def _vector(self, term: ListLiteral, dtype: DataType, receiver: str) -> bytes:
        element_type, dimension = vector_parts(dtype) or (dtype, 0)
        if len(term.items) != dimension:
            raise InvalidRequestError(
                f"Invalid vector literal for {receiver} of type {type_name(dtype)}; expected "
                f"{dimension} elements, but given {len(term.items)}"
            )
        elements = []
        for item in term.items:
            try:
                elements.append(self._element(item, element_type, receiver))
            except InvalidRequestError:
                raise InvalidRequestError(
                    f"Invalid vector literal for {receiver}: value {item.to_cql()} is not of "
                    f"type {type_name(element_type)}"
                ) from None
        return join_vector(elements, element_type)

    def _element(self, term: Term, dtype: DataType, receiver: str) -> bytes:
        value = self.value(term, dtype, receiver)
        if value is None or value is UNSET:
            raise InvalidRequestError("null is not supported inside collections")
        assert isinstance(value, bytes)
        return value

    def _tuple(self, term: TupleLiteral, dtype: DataType, receiver: str) -> bytes:
        if dtype.code is not TypeCode.TUPLE:
            raise InvalidRequestError(
                f"Invalid tuple type literal for {receiver} of type {type_name(dtype)}"
            )
        if len(term.items) > len(dtype.params):
            raise InvalidRequestError(
                f"Invalid tuple literal for {receiver}: too many elements. Type "
                f"{cql_type(dtype)} expects {len(dtype.params)} but got {len(term.items)}"
            )
        parts = []
        for item, item_type in zip(term.items, dtype.params, strict=False):
            value = self.value(item, item_type, receiver)
            parts.append(None if value is UNSET else value)
        return b"".join(_cell(p) for p in parts)

    def _udt(self, term: UdtLiteral, dtype: DataType, receiver: str) -> bytes:
        if dtype.code is not TypeCode.UDT:
            raise InvalidRequestError(
                f"Invalid user type literal for {receiver} of type {dtype.cql()}"
            )
        given = dict(term.fields)
        unknown = set(given) - set(dtype.field_names)
        if unknown:
            raise InvalidRequestError(
                f"Unknown field '{sorted(unknown)[0]}' in value of user defined type {dtype.name}"
            )
        parts = []
        for name, field_type in zip(dtype.field_names, dtype.params, strict=True):
            value = self.value(given[name], field_type, receiver) if name in given else None
            parts.append(None if value is UNSET else value)
        return b"".join(_cell(p) for p in parts)

    def _function(self, call: FunctionCall, dtype: DataType, receiver: str) -> Value:
        # The native functions live with the selectors' (one implementation for both).
        return evaluate_call(self, call, dtype, receiver)


# --- constants --------------------------------------------------------------------------


def literal_value(literal: Literal, dtype: DataType, receiver: str) -> bytes:
    """Serialize a constant for a column of type ``dtype``, as Cassandra types constants."""
    kind, text, code = literal.kind, literal.text, dtype.code
    try:
        if kind is LiteralKind.STRING:
            return _string_constant(text, dtype, receiver)
        if kind is LiteralKind.INTEGER:
            return _integer_constant(text, dtype, receiver)
        if kind is LiteralKind.FLOAT:
            if code is TypeCode.FLOAT:
                return struct.pack(">f", float(text))
            if code is TypeCode.DOUBLE:
                return struct.pack(">d", float(text))
            if code is TypeCode.DECIMAL:
                return bytes(dtype.codec().serialize(decimal.Decimal(text), STORAGE_VERSION))
        elif kind is LiteralKind.BOOLEAN:
            if code is TypeCode.BOOLEAN:
                return b"\x01" if text.lower() == "true" else b"\x00"
        elif kind is LiteralKind.UUID:
            value = uuid.UUID(text)
            if code is TypeCode.UUID:
                return value.bytes
            if code is TypeCode.TIMEUUID:
                if value.version != 1:
                    raise InvalidRequestError(f"Unsupported UUID type for {receiver}: {text}")
                return value.bytes
        elif kind is LiteralKind.HEX:
            if code is TypeCode.BLOB:
                return bytes.fromhex(text[2:])
        elif kind is LiteralKind.DURATION and code is TypeCode.DURATION:
            return _duration(text)
    except (ValueError, OverflowError, decimal.InvalidOperation, struct.error):
        raise _invalid_constant(kind.name, text, receiver, dtype) from None
    raise _invalid_constant(kind.name, text, receiver, dtype)


def _integer_constant(text: str, dtype: DataType, receiver: str) -> bytes:
    code = dtype.code
    number = int(text)
    if code in _INTS:
        packer, name = _INTS[code]
        try:
            return packer.pack(number)
        except struct.error:
            raise InvalidRequestError(f"Unable to make {name} from '{text}'") from None
    if code is TypeCode.VARINT:
        return bytes(dtype.codec().serialize(number, STORAGE_VERSION))
    if code is TypeCode.FLOAT:
        return struct.pack(">f", float(number))
    if code is TypeCode.DOUBLE:
        return struct.pack(">d", float(number))
    if code is TypeCode.DECIMAL:
        return bytes(dtype.codec().serialize(decimal.Decimal(number), STORAGE_VERSION))
    if code is TypeCode.TIMESTAMP:
        return struct.pack(">q", number)
    if code is TypeCode.DATE:
        return struct.pack(">I", number)
    if code is TypeCode.TIME:
        if not 0 <= number < 86_400_000_000_000:
            raise InvalidRequestError(f"Unable to make time from '{text}'")
        return struct.pack(">q", number)
    raise _invalid_constant("INTEGER", text, receiver, dtype)


def _string_constant(text: str, dtype: DataType, receiver: str) -> bytes:
    code = dtype.code
    if code in _TEXT:
        if code is TypeCode.ASCII and not text.isascii():
            raise InvalidRequestError(f"Invalid ASCII character in string literal {text}")
        return text.encode("utf-8")
    if code is TypeCode.TIMESTAMP:
        return struct.pack(">q", parse_timestamp(text))
    if code is TypeCode.DATE:
        return struct.pack(">I", parse_date(text))
    if code is TypeCode.TIME:
        return struct.pack(">q", parse_time(text))
    if code is TypeCode.INET:
        try:
            return ipaddress.ip_address(text).packed
        except ValueError:
            raise InvalidRequestError(f"Unable to make inet address from '{text}'") from None
    raise _invalid_constant("STRING", text, receiver, dtype)


def parse_timestamp(text: str) -> int:
    """Milliseconds since the epoch from the formats Cassandra's TimestampSerializer takes."""
    try:
        return literals.parse_timestamp(text)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


def parse_date(text: str) -> int:
    """A date's wire value (days since the epoch + 2^31) from 'yyyy-mm-dd' or a number."""
    try:
        return literals.parse_date(text) + _EPOCH_DAYS_OFFSET
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


def parse_time(text: str) -> int:
    """Nanoseconds since midnight from 'hh:mm:ss[.fffffffff]' or a number."""
    try:
        return literals.parse_time(text)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None


def _duration(text: str) -> bytes:
    try:
        months, days, nanos = literals.parse_duration(text)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    duration = cql_util.Duration(months, days, nanos)
    return bytes(DataType(TypeCode.DURATION).codec().serialize(duration, STORAGE_VERSION))


# --- validation and collection bytes ------------------------------------------------------


def validate(raw: bytes, dtype: DataType, receiver: str) -> None:
    """Refuse a bound value that does not deserialize as ``dtype`` (as Cassandra validates)."""
    if vector_parts(dtype) is not None:
        _validate_vector(raw, dtype)
        return
    if not raw and dtype.code not in _TEXT and dtype.code is not TypeCode.BLOB:
        return  # an empty value is legal for most types (it reads back as null-ish EMPTY)
    try:
        dtype.codec().deserialize(raw, STORAGE_VERSION)
    except Exception as exc:
        raise InvalidRequestError(
            f"Exception while validating value for {receiver}: {_why(exc, dtype, raw)}"
        ) from None


def _why(exc: Exception, dtype: DataType, raw: bytes) -> str:
    fixed = {
        TypeCode.INT: 4,
        TypeCode.BIGINT: 8,
        TypeCode.SMALLINT: 2,
        TypeCode.TINYINT: 1,
        TypeCode.DOUBLE: 8,
        TypeCode.FLOAT: 4,
        TypeCode.TIMESTAMP: 8,
    }.get(dtype.code)
    if fixed is not None and len(raw) != fixed:
        return f"Expected {fixed} or 0 byte {dtype.cql()} ({len(raw)})"
    return str(exc) or type(exc).__name__


def _cell(value: bytes | None) -> bytes:
    return _INT32.pack(-1) if value is None else _INT32.pack(len(value)) + value


def _join(elements: Sequence[bytes]) -> bytes:
    return _INT32.pack(len(elements)) + b"".join(_cell(e) for e in elements)


def _join_pairs(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    return _INT32.pack(len(pairs)) + b"".join(_cell(k) + _cell(v) for k, v in pairs)


def split_collection(raw: bytes, dtype: DataType) -> list[Any]:
    """The serialized elements of a list/set (bytes) or map ((key, value) pairs)."""
    count = _INT32.unpack_from(raw)[0]
    pos, items = 4, []
    for _ in range(count * (2 if dtype.code is TypeCode.MAP else 1)):
        size = _INT32.unpack_from(raw, pos)[0]
        pos += 4
        items.append(raw[pos : pos + size])
        pos += size
    if dtype.code is TypeCode.MAP:
        return list(zip(items[::2], items[1::2], strict=True))
    return items


def split_fields(raw: bytes, count: int) -> list[bytes | None]:
    """The ``count`` serialized fields of a tuple or user type value (missing ones null)."""
    fields: list[bytes | None] = []
    pos = 0
    while pos < len(raw) and len(fields) < count:
        size = _INT32.unpack_from(raw, pos)[0]
        pos += 4
        if size < 0:
            fields.append(None)
            continue
        fields.append(raw[pos : pos + size])
        pos += size
    return fields + [None] * (count - len(fields))


def join_fields(fields: Sequence[bytes | None]) -> bytes:
    """Inverse of :func:`split_fields` (every field written, nulls included)."""
    return b"".join(_cell(f) for f in fields)


def _validate_vector(raw: bytes, dtype: DataType) -> None:
    element_type = (vector_parts(dtype) or (dtype, 0))[0]
    try:
        elements = split_vector(raw, dtype)
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    for element in elements:
        validate(element, element_type, "vector element")


def join_collection(items: Sequence[Any], dtype: DataType) -> bytes:
    """Inverse of :func:`split_collection`; sets and maps are kept sorted and unique."""
    if dtype.code is TypeCode.MAP:
        key_type = dtype.params[0]
        pairs = {clustering_key([k], [key_type], [False]): (k, v) for k, v in items}
        return _join_pairs([pairs[k] for k in sorted(pairs)])
    if dtype.code is TypeCode.SET:
        element_type = dtype.params[0]
        unique = {clustering_key([e], [element_type], [False]): e for e in items}
        return _join([unique[k] for k in sorted(unique)])
    return _join(list(items))


__all__ = [
    "STORAGE_VERSION",
    "Evaluator",
    "join_collection",
    "join_fields",
    "join_vector",
    "literal_value",
    "parse_date",
    "parse_time",
    "parse_timestamp",
    "split_collection",
    "split_fields",
    "split_vector",
    "validate",
]
