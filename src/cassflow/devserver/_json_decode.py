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

import decimal
import json
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
_INTEGERS = {
    TypeCode.TINYINT: "tinyint",
    TypeCode.SMALLINT: "smallint",
    TypeCode.INT: "int",
    TypeCode.BIGINT: "bigint",
    TypeCode.VARINT: "varint",
    TypeCode.COUNTER: "counter",
}
_DECIMALS = {TypeCode.FLOAT: "float", TypeCode.DOUBLE: "double", TypeCode.DECIMAL: "decimal"}
_STRING_ONLY = {
    TypeCode.UUID: "uuid",
    TypeCode.TIMEUUID: "timeuuid",
    TypeCode.INET: "inet",
    TypeCode.DATE: "date",
    TypeCode.TIME: "time",
    TypeCode.DURATION: "duration",
}


class JsonValueError(Exception):
    """A JSON value that does not fit its type (Cassandra's MarshalException text)."""


def _java_type(obj: object) -> str:
    """The Java class Jackson would have made of ``obj``, as Cassandra's messages name it."""
    if isinstance(obj, bool):
        return "Boolean"
    if isinstance(obj, int):
        return "Integer" if -(2**31) <= obj < 2**31 else "Long"
    if isinstance(obj, float):
        return "Double"
    if isinstance(obj, str):
        return "String"
    if isinstance(obj, list):
        return "ArrayList"
    return "LinkedHashMap"


def _shown(obj: object) -> str:
    return json.dumps(obj) if isinstance(obj, list | dict) else str(obj)


def _literal(kind: LiteralKind, text: str, dtype: DataType) -> bytes:
    try:
        return literal_value(Literal(kind=kind, text=text), dtype, "")
    except InvalidRequestError as exc:
        raise JsonValueError(str(exc)) from None


def _nested(obj: object) -> object:
    """Collections, tuples and user types may arrive as strings holding their JSON."""
    if isinstance(obj, str):
        try:
            return json.loads(obj)
        except ValueError as exc:
            raise JsonValueError(f"Could not decode JSON string '{obj}': {exc}") from None
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
            raise JsonValueError(f"Expected {what} string, but got a {_java_type(obj)}: {obj}")
        return _literal(LiteralKind.STRING, obj, dtype)
    if code in _INTEGERS:
        return _integer(obj, dtype)
    if code in _DECIMALS:
        return _decimal(obj, dtype)
    if code is TypeCode.BOOLEAN:
        return _boolean(obj)
    if code is TypeCode.BLOB:
        if not isinstance(obj, str):
            raise JsonValueError(
                f"Expected a string representation of a blob, but got a {_java_type(obj)}: {obj}"
            )
        if not obj.startswith("0x"):
            raise JsonValueError(f"String representation of blob is missing 0x prefix: {obj}")
        try:
            return bytes.fromhex(obj[2:])
        except ValueError:
            raise JsonValueError(f"cannot parse '{obj[2:]}' as hex bytes") from None
    if code is TypeCode.TIMESTAMP:
        if isinstance(obj, int) and not isinstance(obj, bool):
            return struct.pack(">q", obj)
        if not isinstance(obj, str):
            raise JsonValueError(
                "Expected a long or a datestring representation of a timestamp value, but got "
                f"a {_java_type(obj)}: {obj}"
            )
        return _literal(LiteralKind.STRING, obj, dtype)
    if code in _STRING_ONLY:
        if not isinstance(obj, str):
            raise JsonValueError(
                f"Expected a string representation of a {_STRING_ONLY[code]} value, but got a "
                f"{_java_type(obj)}: {obj}"
            )
        if code in (TypeCode.UUID, TypeCode.TIMEUUID):
            return _literal(LiteralKind.UUID, obj, dtype)
        if code is TypeCode.DURATION:
            return _literal(LiteralKind.DURATION, obj, dtype)
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
    name = _INTEGERS[dtype.code]
    if isinstance(obj, str):
        text = obj.strip()
        try:
            int(text)
        except ValueError:
            raise JsonValueError(f"Unable to make {name} from '{obj}'") from None
        return _literal(LiteralKind.INTEGER, text, dtype)
    article = "an" if name == "int" else "a"
    too_wide = dtype.code is TypeCode.INT and _java_type(obj) == "Long"
    if isinstance(obj, bool) or not isinstance(obj, int) or too_wide:
        # Cassandra's Int32Type takes only what Jackson reads as an Integer.
        raise JsonValueError(f"Expected {article} {name} value, but got a {_java_type(obj)}: {obj}")
    return _literal(LiteralKind.INTEGER, str(obj), dtype)


def _decimal(obj: object, dtype: DataType) -> bytes:
    name = _DECIMALS[dtype.code]
    if isinstance(obj, str):
        try:
            number = decimal.Decimal(obj.strip())
        except decimal.InvalidOperation:
            raise JsonValueError(f"Unable to make {name} from '{obj}'") from None
        text = str(number)
    elif isinstance(obj, bool) or not isinstance(obj, int | float):
        raise JsonValueError(f"Expected a {name} value, but got a {_java_type(obj)}: {obj}")
    else:
        text = repr(obj)
    kind = LiteralKind.INTEGER if text.lstrip("-").isdigit() else LiteralKind.FLOAT
    if text in ("nan", "inf", "-inf", "NaN", "Infinity", "-Infinity"):
        text = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)
    return _literal(kind, text, dtype)


def _boolean(obj: object) -> bytes:
    if isinstance(obj, bool):
        return b"\x01" if obj else b"\x00"
    if isinstance(obj, str) and obj.lower() in ("true", "false"):
        return b"\x01" if obj.lower() == "true" else b"\x00"
    if isinstance(obj, str):
        raise JsonValueError(f"Unable to make boolean from '{obj}'")
    raise JsonValueError(f"Expected a boolean value, but got a {_java_type(obj)}: {obj}")


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
            f"Tuple contains extra items (expected {len(dtype.params)}, got {len(obj)})"
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
        parsed = json.loads(text)
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
