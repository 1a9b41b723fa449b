"""JSON values turned into cells, as Cassandra's ``fromJson`` and ``INSERT JSON`` read them.

Each type takes what its ``AbstractType.fromJSONObject`` takes: text as JSON strings; numbers
as JSON numbers or strings; booleans as JSON booleans or ``"true"``/``"false"``; blobs as
``"0x..."``; uuids, inets, dates, times and durations as strings; timestamps as strings or
integers (milliseconds); lists and sets as arrays, maps as objects (keys are strings read as
the key type), tuples as arrays, user types as objects. A collection, tuple or user type may
also come as a string holding its JSON (how map keys of those types arrive). Errors carry
Cassandra's wording; :func:`insert_json_values` adds ``Error decoding JSON value for <c>``.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from typing import Any

from cassflow.cql import Literal, LiteralKind
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import TableMetadata
from cassflow.devserver._schema_types import vector_parts
from cassflow.devserver._values import join_collection, join_vector, literal_value
from cassflow.protocol import UNSET, DataType, TypeCode, Value

_INT32 = struct.Struct(">i")
# Integer types: (name in "Expected a <name> value", Java class in "Unable to make <x> from").
_INTEGERS = {
    TypeCode.TINYINT: ("byte", "byte"),
    TypeCode.SMALLINT: ("short", "short"),
    TypeCode.INT: ("int", "int"),
    TypeCode.BIGINT: ("bigint", "long"),
    TypeCode.COUNTER: ("bigint", "long"),
}
_FLOATS = {TypeCode.FLOAT: "float", TypeCode.DOUBLE: "double"}
# What each string-only type's fromJSONObject calls it when given something else.
_STRING_ONLY = {
    TypeCode.UUID: "a uuid",
    TypeCode.TIMEUUID: "a timeuuid",
    TypeCode.INET: "an inet value",
    TypeCode.DATE: "a date value",
    TypeCode.TIME: "a time value",
    TypeCode.DURATION: "a duration",
}
# Java's Integer.parseInt / Long.parseLong / new BigInteger: an optional sign, then digits.
_JAVA_INTEGER = re.compile(r"[+-]?[0-9]+")
# Java's Double.valueOf (which trims whitespace; hexadecimal forms left out).
_JAVA_FLOAT = re.compile(
    r"\s*[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)\s*"
)
# Java's new BigDecimal(String).
_JAVA_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


class JsonValueError(Exception):
    """A JSON value that does not fit its type (Cassandra's MarshalException text)."""


def _java_type(obj: object) -> str:
    """The Java class Jackson would have made of ``obj``, as Cassandra's messages name it."""
    if isinstance(obj, bool):
        return "Boolean"
    if isinstance(obj, int):
        if -(2**31) <= obj < 2**31:
            return "Integer"
        return "Long" if -(2**63) <= obj < 2**63 else "BigInteger"
    if isinstance(obj, float):
        return "Double"
    if isinstance(obj, str):
        return "String"
    if isinstance(obj, list):
        return "ArrayList"
    return "LinkedHashMap"


def _java_double(value: float) -> str:
    """``Double.toString``: plain between 10^-3 and 10^7, else ``d.dddE<n>``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0.0"
    # The shortest digits that read back as ``value`` (what Java prints too), and the
    # power of ten of the first one.
    digits, exponent = _shortest_digits(abs(value))
    if 1e-3 <= abs(value) < 1e7:
        if exponent < 0:
            return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
        whole, fraction = digits[: exponent + 1], digits[exponent + 1 :]
        return f"{sign}{whole.ljust(exponent + 1, '0')}.{fraction or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def _shortest_digits(value: float) -> tuple[str, int]:
    mantissa, _, power = f"{value!r}".partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    leading_zeros = len(whole + fraction) - len(digits)
    exponent = len(whole) - 1 - leading_zeros + (int(power) if power else 0)
    return (digits.rstrip("0") or "0"), exponent


def _shown(obj: object) -> str:
    """``obj`` as Java's ``toString`` of what Jackson made of it shows it in messages."""
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, float):
        return _java_double(obj)
    if isinstance(obj, list):
        return "[" + ", ".join(_shown(item) for item in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_shown(k)}={_shown(v)}" for k, v in obj.items()) + "}"
    return str(obj)


def _loads(text: str) -> object:
    """Jackson's reading of JSON: no bare ``NaN``/``Infinity``, which Python would take."""

    def refuse(token: str) -> object:
        raise ValueError(f"Non-standard token '{token}'")

    return json.loads(text, parse_constant=refuse)


def _literal(kind: LiteralKind, text: str, dtype: DataType) -> bytes:
    try:
        return literal_value(Literal(kind=kind, text=text), dtype, "")
    except InvalidRequestError as exc:
        raise JsonValueError(str(exc)) from None


def _nested(obj: object) -> object:
    """Collections, tuples and user types may arrive as strings holding their JSON."""
    if isinstance(obj, str):
        try:
            return _loads(obj)
        except ValueError as exc:
            raise JsonValueError(f"Error decoding JSON string: {exc}") from None
    return obj


def from_json(obj: object, dtype: DataType) -> bytes | None:
    """The serialized value of the decoded JSON ``obj`` for type ``dtype`` (None: null)."""
    if obj is None:
        return None
    if vector_parts(dtype) is not None:
        return _vector(_nested(obj), dtype)
    code = dtype.code
    if code in (TypeCode.VARCHAR, TypeCode.ASCII):
        if not isinstance(obj, str):
            what = "an ascii" if code is TypeCode.ASCII else "a UTF-8"
            raise JsonValueError(
                f"Expected {what} string, but got a {_java_type(obj)}: {_shown(obj)}"
            )
        return _literal(LiteralKind.STRING, obj, dtype)
    if code in _INTEGERS:
        return _integer(obj, dtype)
    if code is TypeCode.VARINT:
        return _varint(obj, dtype)
    if code in _FLOATS:
        return _float(obj, dtype)
    if code is TypeCode.DECIMAL:
        return _decimal(obj, dtype)
    if code is TypeCode.BOOLEAN:
        return _boolean(obj)
    if code is TypeCode.BLOB:
        return _blob(obj)
    if code is TypeCode.TIMESTAMP:
        # TimestampType takes a number only when Jackson reads it as a Long (over 32 bits).
        if isinstance(obj, int) and _java_type(obj) == "Long":
            return struct.pack(">q", obj)
        if not isinstance(obj, str):
            raise JsonValueError(
                "Expected a long or a datestring representation of a timestamp value, but got "
                f"a {_java_type(obj)}: {_shown(obj)}"
            )
        return _literal(LiteralKind.STRING, obj, dtype)
    if code in _STRING_ONLY:
        if not isinstance(obj, str):
            raise JsonValueError(
                f"Expected a string representation of {_STRING_ONLY[code]}, but got a "
                f"{_java_type(obj)}: {_shown(obj)}"
            )
        if code in (TypeCode.UUID, TypeCode.TIMEUUID):
            return _uuid(obj, code)
        if code is TypeCode.DURATION:
            return _literal(LiteralKind.DURATION, obj, dtype)
        if code is TypeCode.TIME:
            try:
                return _literal(LiteralKind.STRING, obj, dtype)
            except JsonValueError:
                raise JsonValueError(
                    f"(TimeType) Unable to coerce '{obj}' to a formatted time (long)"
                ) from None
        return _literal(LiteralKind.STRING, obj, dtype)
    if code in (TypeCode.LIST, TypeCode.SET):
        return _sequence(_nested(obj), dtype)
    if code is TypeCode.MAP:
        return _map(_nested(obj), dtype)
    if code is TypeCode.TUPLE:
        return _tuple(_nested(obj), dtype)
    if code is TypeCode.UDT:
        return _udt(_nested(obj), dtype)
    raise JsonValueError(
        f"JSON values of type {dtype.cql()} are not supported by the dev server yet"
    )


def _integer(obj: object, dtype: DataType) -> bytes:
    """Int32Type, LongType, ShortType and ByteType's ``fromJSONObject``."""
    name, java = _INTEGERS[dtype.code]
    code = dtype.code
    if isinstance(obj, str):
        text = obj
    elif code in (TypeCode.SMALLINT, TypeCode.TINYINT) and _is_number(obj):
        text = _shown(obj)  # String.valueOf(the number), then parsed as a string
    else:
        kind = _java_type(obj)
        fits = kind == "Integer" or (kind == "Long" and code is not TypeCode.INT)
        if not fits:
            article = "an" if name == "int" else "a"
            raise JsonValueError(
                f"Expected {article} {name} value, but got a {kind}: {_shown(obj)}"
            )
        text = str(obj)
    try:
        if not _JAVA_INTEGER.fullmatch(text):
            raise JsonValueError(text)
        return _literal(LiteralKind.INTEGER, text, dtype)
    except JsonValueError:
        raise JsonValueError(f"Unable to make {java} from '{text}'") from None


def _is_number(obj: object) -> bool:
    return isinstance(obj, int | float) and not isinstance(obj, bool)


def _varint(obj: object, dtype: DataType) -> bytes:
    """IntegerType's ``fromJSONObject``: whatever's ``toString`` is an integer."""
    text = _shown(obj)
    if not _JAVA_INTEGER.fullmatch(text):
        raise JsonValueError(f"Value '{text}' is not a valid representation of a varint value")
    return _literal(LiteralKind.INTEGER, text, dtype)


def _float(obj: object, dtype: DataType) -> bytes:
    """FloatType and DoubleType's ``fromJSONObject``: a number, or a string Java parses."""
    name = _FLOATS[dtype.code]
    if isinstance(obj, str):
        if not _JAVA_FLOAT.fullmatch(obj):
            raise JsonValueError(f"Unable to make {name} from '{obj}'")
        text = obj.strip().rstrip("fFdD")
        if text.lstrip("+-") in ("NaN", "Infinity"):
            return _literal(LiteralKind.FLOAT, text.lstrip("+"), dtype)
        number = float(text)
    elif _is_number(obj):
        assert isinstance(obj, int | float)
        number = float(obj)
    else:
        raise JsonValueError(f"Expected a {name} value, but got a {_java_type(obj)}: {_shown(obj)}")
    if math.isnan(number):
        text = "NaN"
    elif math.isinf(number):
        text = "Infinity" if number > 0 else "-Infinity"
    else:
        text = repr(number)
    return _literal(LiteralKind.FLOAT, text, dtype)


def _decimal(obj: object, dtype: DataType) -> bytes:
    """DecimalType's ``fromJSONObject``: whatever's ``toString`` is a decimal."""
    text = _shown(obj)
    if text == "":
        return b""
    if not _JAVA_DECIMAL.fullmatch(text):
        raise JsonValueError(f"Value '{text}' is not a valid representation of a decimal value")
    kind = LiteralKind.INTEGER if _JAVA_INTEGER.fullmatch(text) else LiteralKind.FLOAT
    return _literal(kind, text.lstrip("+"), dtype)


def _blob(obj: object) -> bytes:
    """BytesType's ``fromJSONObject``: ``"0x<hex>"``; its failures all say which value."""
    if not isinstance(obj, str):
        java = _java_type(obj)
        reason = (
            f"class java.lang.{java} cannot be cast to class java.lang.String "
            f"(java.lang.{java} and java.lang.String are in module java.base of loader "
            "'bootstrap')"
        )
    elif not obj.startswith("0x"):
        reason = f"String representation of blob is missing 0x prefix: {obj}"
    else:
        try:
            if len(obj) % 2:
                raise ValueError(obj)
            return bytes.fromhex(obj[2:])
        except ValueError:
            reason = f"cannot parse '{obj[2:]}' as hex bytes"
    raise JsonValueError(f"Value '{_shown(obj)}' is not a valid blob representation: {reason}")


def _uuid(text: str, code: TypeCode) -> bytes:
    """UUIDType and TimeUUIDType's ``fromString``."""
    if not text:
        return b""
    if not _UUID.fullmatch(text):
        if code is TypeCode.TIMEUUID:
            raise JsonValueError(f"Unknown timeuuid representation: {text}")
        raise JsonValueError(f"Unable to make UUID from '{text}'")
    raw = bytes.fromhex(text.replace("-", ""))
    if code is TypeCode.TIMEUUID and raw[6] >> 4 != 1:
        raise JsonValueError("TimeUUID supports only version 1 UUIDs")
    return raw


def _boolean(obj: object) -> bytes:
    if isinstance(obj, bool):
        return b"\x01" if obj else b"\x00"
    if isinstance(obj, str) and obj.lower() in ("true", "false"):
        return b"\x01" if obj.lower() == "true" else b"\x00"
    if isinstance(obj, str):
        raise JsonValueError(f"Unable to make boolean from '{obj}'")
    raise JsonValueError(f"Expected a boolean value, but got a {_java_type(obj)}: {_shown(obj)}")


def _sequence(obj: object, dtype: DataType) -> bytes:
    kind = "list" if dtype.code is TypeCode.LIST else "set"
    if not isinstance(obj, list):
        what = "a list" if kind == "list" else "a list (representing a set)"
        raise JsonValueError(f"Expected {what}, but got a {_java_type(obj)}: {_shown(obj)}")
    items = []
    for element in obj:
        if element is None:
            raise JsonValueError(f"Invalid null element in {kind}")
        value = from_json(element, dtype.params[0])
        assert value is not None
        items.append(value)
    return join_collection(items, dtype)


def _vector(obj: object, dtype: DataType) -> bytes:
    element_type, dimension = vector_parts(dtype) or (dtype, 0)
    if not isinstance(obj, list):
        raise JsonValueError(f"Expected a list, but got a {_java_type(obj)}: {_shown(obj)}")
    if len(obj) != dimension:
        raise JsonValueError(f"Expected {dimension} elements, but got {len(obj)}")
    elements = []
    for element in obj:
        if element is None:
            raise JsonValueError("Invalid null element in vector")
        value = from_json(element, element_type)
        assert value is not None
        elements.append(value)
    return join_vector(elements, element_type)


def _map(obj: object, dtype: DataType) -> bytes:
    if not isinstance(obj, dict):
        raise JsonValueError(f"Expected a map, but got a {_java_type(obj)}: {_shown(obj)}")
    pairs = []
    for key, value in obj.items():
        if value is None:
            raise JsonValueError("Invalid null value in map")
        encoded_key = from_json(key, dtype.params[0])
        encoded_value = from_json(value, dtype.params[1])
        pairs.append((encoded_key, encoded_value))
    return join_collection(pairs, dtype)


def _fields(values: list[bytes | None]) -> bytes:
    return b"".join(_INT32.pack(-1) if v is None else _INT32.pack(len(v)) + v for v in values)


def _tuple(obj: object, dtype: DataType) -> bytes:
    if not isinstance(obj, list):
        raise JsonValueError(
            f"Expected a list representation of a tuple, but got a {_java_type(obj)}: {_shown(obj)}"
        )
    if len(obj) > len(dtype.params):
        raise JsonValueError(
            f"Tuple contains extra items (expected {len(dtype.params)}): {_shown(obj)}"
        )
    if len(obj) < len(dtype.params):
        raise JsonValueError(
            f"Tuple is missing items (expected {len(dtype.params)}): {_shown(obj)}"
        )
    values = [
        from_json(item, item_type) for item, item_type in zip(obj, dtype.params, strict=False)
    ]
    values += [None] * (len(dtype.params) - len(values))
    return _fields(values)


def normalized_keys(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Cassandra's JSON key rule: ``"\\"Name\\""`` keeps its case, ``Name`` is lowercased."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
            out[key[1:-1]] = value
        else:
            out[key.lower()] = value
    return out


def _udt(obj: object, dtype: DataType) -> bytes:
    if not isinstance(obj, dict):
        raise JsonValueError(f"Expected a map, but got a {_java_type(obj)}: {_shown(obj)}")
    given = normalized_keys(obj)
    for name in given:
        if name not in dtype.field_names:
            raise JsonValueError(
                f"Unknown field '{name}' in value of user defined type {dtype.name}"
            )
    return _fields(
        [
            from_json(given.get(name), ftype)
            for name, ftype in zip(dtype.field_names, dtype.params, strict=True)
        ]
    )


def insert_json_values(text: str, table: TableMetadata, *, default_unset: bool) -> dict[str, Value]:
    """The value of every column of ``table`` for ``INSERT INTO table JSON text``.

    Columns the object leaves out are null (``DEFAULT NULL``) or unset (``DEFAULT UNSET``).
    """
    try:
        parsed = _loads(text)
    except ValueError as exc:
        raise InvalidRequestError(f"Could not decode JSON string as a map: {exc}") from None
    if parsed is None:
        raise InvalidRequestError("Got null for INSERT JSON values")
    if not isinstance(parsed, dict):
        raise InvalidRequestError(
            f"Could not decode JSON string as a map: expected an object, got {_shown(parsed)}"
        )
    given = normalized_keys(parsed)
    values: dict[str, Value] = {}
    for column in table.columns:
        if column.name not in given:
            values[column.name] = UNSET if default_unset else None
            continue
        try:
            values[column.name] = from_json(given.pop(column.name), column.type)
        except JsonValueError as exc:
            raise InvalidRequestError(
                f"Error decoding JSON value for {column.name}: {exc}"
            ) from None
    if given:
        raise InvalidRequestError(
            f"JSON values map contains unrecognized column: {next(iter(given))}"
        )
    return values


__all__ = ["JsonValueError", "from_json", "insert_json_values", "normalized_keys"]
