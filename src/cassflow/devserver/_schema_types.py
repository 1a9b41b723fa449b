"""Column types as the schema writes them: CQL text with Cassandra's ``frozen<...>`` rules.

:class:`~cassflow.protocol.DataType` describes a type as the wire carries it, and the wire
does not say whether a collection or a user type is frozen. The schema must: a non-frozen
``list<int>`` and a ``frozen<list<int>>`` are different column types, and
``system_schema.columns.type`` spells them differently. So the schema keeps one ``frozen``
flag per column (and per UDT field) next to the :class:`DataType`, and everything nested is
frozen, as Cassandra requires:

* inside a collection, collections and UDTs must be frozen (``map<text, frozen<list<int>>>``);
* tuples are always frozen and freeze what they contain (``frozen<tuple<int, frozen<set<a>>>>``);
* a UDT is written by its bare name (``address`` or ``frozen<address>``), quoted if needed.

These helpers render that text (as ``CQL3Type.toString()`` does), parse the subset of it the
system table definitions use, and (de)serialize a :class:`DataType` as JSON.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from cassflow.protocol import DataType, TypeCode

#: Cassandra 4.1's reserved keywords (``ReservedKeywords.java``): identifiers that must be quoted.
RESERVED_KEYWORDS = frozenset(
    {
        "add",
        "allow",
        "alter",
        "and",
        "apply",
        "asc",
        "authorize",
        "batch",
        "begin",
        "by",
        "columnfamily",
        "create",
        "default",
        "delete",
        "desc",
        "describe",
        "drop",
        "entries",
        "execute",
        "from",
        "full",
        "grant",
        "if",
        "in",
        "index",
        "infinity",
        "insert",
        "into",
        "is",
        "keyspace",
        "limit",
        "materialized",
        "mbean",
        "mbeans",
        "modify",
        "nan",
        "norecursive",
        "not",
        "null",
        "of",
        "on",
        "or",
        "order",
        "primary",
        "rename",
        "replace",
        "revoke",
        "schema",
        "select",
        "set",
        "table",
        "to",
        "token",
        "truncate",
        "unlogged",
        "unset",
        "update",
        "use",
        "using",
        "view",
        "where",
        "with",
    }
)

_UNQUOTED_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")

_NATIVE_BY_NAME: dict[str, TypeCode] = {
    "ascii": TypeCode.ASCII,
    "bigint": TypeCode.BIGINT,
    "blob": TypeCode.BLOB,
    "boolean": TypeCode.BOOLEAN,
    "counter": TypeCode.COUNTER,
    "date": TypeCode.DATE,
    "decimal": TypeCode.DECIMAL,
    "double": TypeCode.DOUBLE,
    "duration": TypeCode.DURATION,
    "float": TypeCode.FLOAT,
    "inet": TypeCode.INET,
    "int": TypeCode.INT,
    "smallint": TypeCode.SMALLINT,
    "text": TypeCode.VARCHAR,
    "time": TypeCode.TIME,
    "timestamp": TypeCode.TIMESTAMP,
    "timeuuid": TypeCode.TIMEUUID,
    "tinyint": TypeCode.TINYINT,
    "uuid": TypeCode.UUID,
    "varchar": TypeCode.VARCHAR,
    "varint": TypeCode.VARINT,
}

_COLLECTIONS = (TypeCode.LIST, TypeCode.SET, TypeCode.MAP)
#: Types that can be frozen or not; tuples are always frozen, native types never are.
FREEZABLE = frozenset((*_COLLECTIONS, TypeCode.UDT))


def maybe_quote(name: str) -> str:
    """An identifier as Cassandra prints it (``ColumnIdentifier.maybeQuote``)."""
    if _UNQUOTED_IDENTIFIER.fullmatch(name) and name not in RESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def cql_type(dtype: DataType, *, frozen: bool = False) -> str:
    """The type as ``system_schema`` writes it; ``frozen`` is the top-level flag."""
    code = dtype.code
    vector = vector_parts(dtype)
    if vector is not None:
        return f"vector<{cql_type(vector[0], frozen=True)}, {vector[1]}>"
    if code in _COLLECTIONS:
        inner = ", ".join(cql_type(p, frozen=True) for p in dtype.params)
        text = f"{code.name.lower()}<{inner}>"
        return f"frozen<{text}>" if frozen else text
    if code is TypeCode.TUPLE:
        inner = ", ".join(cql_type(p, frozen=True) for p in dtype.params)
        return f"frozen<tuple<{inner}>>"
    if code is TypeCode.UDT:
        name = maybe_quote(dtype.name or "")
        return f"frozen<{name}>" if frozen else name
    return dtype.cql()


def is_multi_cell(dtype: DataType, *, frozen: bool) -> bool:
    """Whether values are stored cell by cell: non-frozen collections and UDTs."""
    return not frozen and dtype.code in FREEZABLE


def walk(dtype: DataType) -> list[DataType]:
    """``dtype`` and every type nested in it, outermost first."""
    found = [dtype]
    for param in dtype.params:
        found.extend(walk(param))
    return found


def contains(dtype: DataType, code: TypeCode) -> bool:
    """Whether ``dtype`` is or nests a type with this code."""
    return any(t.code is code for t in walk(dtype))


def references_user_type(dtype: DataType, keyspace: str, name: str) -> bool:
    """Whether ``dtype`` is or nests the user type ``keyspace.name``."""
    return any(
        t.code is TypeCode.UDT and t.keyspace == keyspace and t.name == name for t in walk(dtype)
    )


def map_types(dtype: DataType, fn: Callable[[DataType], DataType]) -> DataType:
    """Rebuild ``dtype`` bottom-up, passing each (rebuilt) node through ``fn``."""
    if dtype.params:
        params = tuple(map_types(p, fn) for p in dtype.params)
        if params != dtype.params:
            dtype = DataType(
                dtype.code,
                params,
                custom_class=dtype.custom_class,
                keyspace=dtype.keyspace,
                name=dtype.name,
                field_names=dtype.field_names,
            )
    return fn(dtype)


def replace_user_type(dtype: DataType, new: DataType) -> DataType:
    """``dtype`` with every use of the user type ``new`` names replaced by ``new``."""

    def swap(t: DataType) -> DataType:
        if t.code is TypeCode.UDT and (t.keyspace, t.name) == (new.keyspace, new.name):
            return new
        return t

    return map_types(dtype, swap)


def expand_user_types(dtype: DataType) -> DataType:
    """User types turned into tuples of their fields, as ``dropped_columns`` records them."""

    def expand(t: DataType) -> DataType:
        return DataType.tuple_of(*t.params) if t.code is TypeCode.UDT else t

    return map_types(dtype, expand)


# --- vectors: custom types named by their marshal class --------------------------------------

_MARSHAL = "org.apache.cassandra.db.marshal."
_VECTOR_CLASS = _MARSHAL + "VectorType"
_MARSHAL_CODES: dict[str, TypeCode] = {
    "AsciiType": TypeCode.ASCII,
    "LongType": TypeCode.BIGINT,
    "BytesType": TypeCode.BLOB,
    "BooleanType": TypeCode.BOOLEAN,
    "CounterColumnType": TypeCode.COUNTER,
    "DecimalType": TypeCode.DECIMAL,
    "DoubleType": TypeCode.DOUBLE,
    "DurationType": TypeCode.DURATION,
    "FloatType": TypeCode.FLOAT,
    "InetAddressType": TypeCode.INET,
    "Int32Type": TypeCode.INT,
    "ShortType": TypeCode.SMALLINT,
    "UTF8Type": TypeCode.VARCHAR,
    "TimestampType": TypeCode.TIMESTAMP,
    "ByteType": TypeCode.TINYINT,
    "UUIDType": TypeCode.UUID,
    "IntegerType": TypeCode.VARINT,
    "TimeUUIDType": TypeCode.TIMEUUID,
    "SimpleDateType": TypeCode.DATE,
    "TimeType": TypeCode.TIME,
}
_MARSHAL_TOKEN = re.compile(r"\s*([A-Za-z0-9_.$]+|[(),:])")


def vector_parts(dtype: DataType) -> tuple[DataType, int] | None:
    """The element type and dimension of a ``vector<t, n>`` (a custom type), else None."""
    if dtype.code is not TypeCode.CUSTOM or not (dtype.custom_class or "").startswith(
        _VECTOR_CLASS + "("
    ):
        return None
    return _vector_cache(dtype.custom_class or "")


@functools.lru_cache(maxsize=256)
def _vector_cache(text: str) -> tuple[DataType, int] | None:
    try:
        parsed = parse_marshal_class(text)
    except ValueError:
        return None
    return parsed.params[0], int(parsed.custom_class or "0")


def parse_marshal_class(text: str) -> DataType:
    """A type from its Cassandra marshal class string (``VectorType(FloatType,3)`` and the
    types it may hold). A vector comes back as a CUSTOM type whose one param is the element
    type and whose ``custom_class`` is the dimension; other types come back as themselves."""
    tokens = _MARSHAL_TOKEN.findall(text)
    dtype, end = _parse_marshal(tokens, 0)
    if end != len(tokens):
        raise ValueError(f"unexpected {tokens[end]!r} in {text!r}")
    return dtype


def _marshal_args(tokens: list[str], pos: int) -> tuple[list[str | DataType], int]:
    if pos >= len(tokens) or tokens[pos] != "(":
        raise ValueError("expected '('")
    args: list[str | DataType] = []
    pos += 1
    while True:
        if pos + 1 < len(tokens) and tokens[pos + 1] in (",", ")", ":"):
            word = tokens[pos]
            if tokens[pos + 1] == ":":  # a UDT field: hex name, then its type
                field, pos = _parse_marshal(tokens, pos + 2)
                args.append(word)
                args.append(field)
            elif word.split(".")[-1] in _MARSHAL_CODES:
                args.append(DataType(_MARSHAL_CODES[word.split(".")[-1]]))
                pos += 1
            else:
                args.append(word)
                pos += 1
        else:
            arg, pos = _parse_marshal(tokens, pos)
            args.append(arg)
        if pos >= len(tokens):
            raise ValueError("expected ')'")
        if tokens[pos] == ")":
            return args, pos + 1
        if tokens[pos] != ",":
            raise ValueError(f"expected ',' or ')', got {tokens[pos]!r}")
        pos += 1


def _parse_marshal(tokens: list[str], pos: int) -> tuple[DataType, int]:
    if pos >= len(tokens):
        raise ValueError("type ends too early")
    name = tokens[pos].split(".")[-1]
    if name in _MARSHAL_CODES:
        return DataType(_MARSHAL_CODES[name]), pos + 1
    args, pos = _marshal_args(tokens, pos + 1)
    types = [a for a in args if isinstance(a, DataType)]
    if name in ("FrozenType", "ReversedType") and len(types) == 1:
        return types[0], pos
    if name in ("ListType", "SetType", "MapType", "TupleType"):
        code = {
            "ListType": TypeCode.LIST,
            "SetType": TypeCode.SET,
            "MapType": TypeCode.MAP,
            "TupleType": TypeCode.TUPLE,
        }[name]
        return DataType(code, tuple(types)), pos
    if name == "VectorType" and len(args) == 2 and isinstance(args[1], str):
        element = args[0]
        if not isinstance(element, DataType):
            raise ValueError("vector element must be a type")
        return DataType(TypeCode.CUSTOM, (element,), custom_class=args[1]), pos
    if name == "UserType" and len(args) >= 2:
        keyspace, hex_name = str(args[0]), str(args[1])
        fields = {
            bytes.fromhex(str(args[i])).decode(): args[i + 1]
            for i in range(2, len(args) - 1, 2)
            if isinstance(args[i + 1], DataType)
        }
        return DataType.udt(keyspace, bytes.fromhex(hex_name).decode(), fields), pos  # type: ignore[arg-type]
    raise ValueError(f"unknown marshal type {tokens[pos - 1]!r}")


# --- parsing ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|'[^']*'|[<>,])")


def parse_cql_type(text: str) -> tuple[DataType, bool]:
    """Parse native, collection, tuple and custom types; returns the type and its frozen flag.

    User types are not resolved here (there is no keyspace to look them up in): the system
    tables never use them.
    """
    tokens = _tokenize(text)
    dtype, frozen, end = _parse(tokens, 0)
    if end != len(tokens):
        raise ValueError(f"unexpected {tokens[end]!r} in type {text!r}")
    return dtype, frozen


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"cannot parse type {text!r} at {pos}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _parse(tokens: list[str], pos: int) -> tuple[DataType, bool, int]:
    if pos >= len(tokens):
        raise ValueError("type ends too early")
    word = tokens[pos]
    lower = word.lower()
    if word.startswith("'"):
        return DataType.custom(word[1:-1]), False, pos + 1
    if lower in _NATIVE_BY_NAME:
        return DataType(_NATIVE_BY_NAME[lower]), False, pos + 1
    if lower in ("frozen", "list", "set", "map", "tuple"):
        args, pos = _parse_args(tokens, pos + 1)
        if lower == "frozen":
            if len(args) != 1:
                raise ValueError("frozen<> takes one type")
            return args[0], True, pos
        if lower == "tuple":
            return DataType.tuple_of(*args), True, pos
        code = {"list": TypeCode.LIST, "set": TypeCode.SET, "map": TypeCode.MAP}[lower]
        return DataType(code, tuple(args)), False, pos
    raise ValueError(f"unknown type {word!r}")


def _parse_args(tokens: list[str], pos: int) -> tuple[list[DataType], int]:
    if pos >= len(tokens) or tokens[pos] != "<":
        raise ValueError("expected '<'")
    args: list[DataType] = []
    pos += 1
    while True:
        dtype, _frozen, pos = _parse(tokens, pos)
        args.append(dtype)
        if pos >= len(tokens):
            raise ValueError("expected '>'")
        if tokens[pos] == ">":
            return args, pos + 1
        if tokens[pos] != ",":
            raise ValueError(f"expected ',' or '>', got {tokens[pos]!r}")
        pos += 1


# --- JSON -------------------------------------------------------------------------------------


def data_type_to_json(dtype: DataType) -> dict[str, Any]:
    """A JSON-able description of ``dtype`` (user types carry their fields)."""
    out: dict[str, Any] = {"code": dtype.code.name}
    if dtype.code is TypeCode.CUSTOM:
        out["class"] = dtype.custom_class
    elif dtype.code is TypeCode.UDT:
        out["keyspace"] = dtype.keyspace
        out["name"] = dtype.name
        out["fields"] = [
            [n, data_type_to_json(t)] for n, t in zip(dtype.field_names, dtype.params, strict=True)
        ]
    elif dtype.params:
        out["params"] = [data_type_to_json(p) for p in dtype.params]
    return out


def data_type_from_json(data: dict[str, Any]) -> DataType:
    """The inverse of :func:`data_type_to_json`."""
    code = TypeCode[data["code"]]
    if code is TypeCode.CUSTOM:
        return DataType.custom(data["class"])
    if code is TypeCode.UDT:
        fields = {name: data_type_from_json(t) for name, t in data["fields"]}
        return DataType.udt(data["keyspace"], data["name"], fields)
    return DataType(code, tuple(data_type_from_json(p) for p in data.get("params", ())))
