"""CQL types as written in statements (``comparatorType`` of the grammar), and their
conversion to the protocol's :class:`~cassflow.protocol.DataType`.

The parser only checks what the grammar checks (``frozen<int>`` is a syntax error); the rules
Cassandra applies when it prepares a type (no counters inside collections...) are applied by
:meth:`CqlType.to_data_type`, which raises :class:`CqlInvalidError` with Cassandra's words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cassflow.cql._errors import CqlInvalidError
from cassflow.cql._node import Node
from cassflow.cql._quote import qualified, string, type_ident
from cassflow.protocol import DataType, TypeCode

#: Looks up a user type by (keyspace as written or None, name) and returns its DataType.
TypeResolver = Callable[[str | None, str], DataType]

_NATIVE_CODES: Final[dict[str, TypeCode]] = {
    "ascii": TypeCode.ASCII,
    "bigint": TypeCode.BIGINT,
    "blob": TypeCode.BLOB,
    "boolean": TypeCode.BOOLEAN,
    "counter": TypeCode.COUNTER,
    "decimal": TypeCode.DECIMAL,
    "double": TypeCode.DOUBLE,
    "duration": TypeCode.DURATION,
    "float": TypeCode.FLOAT,
    "inet": TypeCode.INET,
    "int": TypeCode.INT,
    "smallint": TypeCode.SMALLINT,
    "text": TypeCode.VARCHAR,
    "timestamp": TypeCode.TIMESTAMP,
    "tinyint": TypeCode.TINYINT,
    "uuid": TypeCode.UUID,
    "varint": TypeCode.VARINT,
    "timeuuid": TypeCode.TIMEUUID,
    "date": TypeCode.DATE,
    "time": TypeCode.TIME,
}

# Cassandra's marshal class of each native type: vectors travel as a custom type whose class
# string names its element type this way.
_MARSHAL: Final = "org.apache.cassandra.db.marshal."
_MARSHAL_NAMES: Final[dict[TypeCode, str]] = {
    TypeCode.ASCII: "AsciiType",
    TypeCode.BIGINT: "LongType",
    TypeCode.BLOB: "BytesType",
    TypeCode.BOOLEAN: "BooleanType",
    TypeCode.COUNTER: "CounterColumnType",
    TypeCode.DECIMAL: "DecimalType",
    TypeCode.DOUBLE: "DoubleType",
    TypeCode.DURATION: "DurationType",
    TypeCode.FLOAT: "FloatType",
    TypeCode.INET: "InetAddressType",
    TypeCode.INT: "Int32Type",
    TypeCode.SMALLINT: "ShortType",
    TypeCode.VARCHAR: "UTF8Type",
    TypeCode.TIMESTAMP: "TimestampType",
    TypeCode.TINYINT: "ByteType",
    TypeCode.UUID: "UUIDType",
    TypeCode.VARINT: "IntegerType",
    TypeCode.TIMEUUID: "TimeUUIDType",
    TypeCode.DATE: "SimpleDateType",
    TypeCode.TIME: "TimeType",
}


def marshal_class(dtype: DataType) -> str:
    """The Cassandra marshal class string of a (frozen) type, as a custom type carries it."""
    if dtype.code in _MARSHAL_NAMES:
        return _MARSHAL + _MARSHAL_NAMES[dtype.code]
    if dtype.code is TypeCode.CUSTOM:
        return dtype.custom_class or ""
    inner = ",".join(marshal_class(p) for p in dtype.params)
    if dtype.code is TypeCode.UDT:
        fields = ",".join(
            f"{name.encode().hex()}:{marshal_class(p)}"
            for name, p in zip(dtype.field_names, dtype.params, strict=True)
        )
        name_hex = (dtype.name or "").encode().hex()
        body = f"{_MARSHAL}UserType({dtype.keyspace},{name_hex},{fields})"
        return f"{_MARSHAL}FrozenType({body})"
    names = {
        TypeCode.LIST: "ListType",
        TypeCode.SET: "SetType",
        TypeCode.MAP: "MapType",
        TypeCode.TUPLE: "TupleType",
    }
    body = f"{_MARSHAL}{names[dtype.code]}({inner})"
    return body if dtype.code is TypeCode.TUPLE else f"{_MARSHAL}FrozenType({body})"


class CqlType(Node):
    """A column type as written in a statement."""

    __slots__ = ()

    def to_data_type(self, resolver: TypeResolver | None = None) -> DataType:
        """The protocol type, after Cassandra's preparation checks.

        ``resolver`` looks up user types; without one a user type is an unknown type.
        """
        return _prepare(self, resolver, None)

    @property
    def is_multi_cell(self) -> bool:
        """Whether the type is stored cell by cell (a non-frozen collection or user type)."""
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeType(CqlType):
    """A native type by its canonical name (``varchar`` is ``text``)."""

    name: str

    def to_cql(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectionType(CqlType):
    """``list<t>``, ``set<t>``, ``map<k, v>``, frozen or not."""

    kind: str
    params: tuple[CqlType, ...]
    frozen: bool = False

    def to_cql(self) -> str:
        inner = f"{self.kind}<{', '.join(p.to_cql() for p in self.params)}>"
        return f"frozen<{inner}>" if self.frozen else inner

    @property
    def is_multi_cell(self) -> bool:
        return not self.frozen


@dataclass(frozen=True, slots=True, kw_only=True)
class TupleType(CqlType):
    """``tuple<a, b, ...>`` (always frozen, so ``frozen<tuple<...>>`` is the same type)."""

    params: tuple[CqlType, ...]

    def to_cql(self) -> str:
        return f"tuple<{', '.join(p.to_cql() for p in self.params)}>"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserType(CqlType):
    """A user-defined type by name, frozen or not."""

    keyspace: str | None = None
    name: str
    frozen: bool = False

    def to_cql(self) -> str:
        inner = qualified(self.keyspace, self.name, type_ident)
        return f"frozen<{inner}>" if self.frozen else inner

    @property
    def is_multi_cell(self) -> bool:
        return not self.frozen


@dataclass(frozen=True, slots=True, kw_only=True)
class VectorType(CqlType):
    """``vector<element, dimension>`` (Cassandra 5.0), carried as a custom type."""

    element: CqlType
    dimension: int

    def to_cql(self) -> str:
        return f"vector<{self.element.to_cql()}, {self.dimension}>"


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomType(CqlType):
    """``'class.Name'``: a type named by its Java class."""

    class_name: str

    def to_cql(self) -> str:
        return string(self.class_name)


def _prepare(
    cql_type: CqlType, resolver: TypeResolver | None, inside: CollectionType | None
) -> DataType:
    """Cassandra's ``CQL3Type.Raw.prepare``: the checks, then the protocol type. ``inside``
    is the collection directly around this type, if any."""
    if isinstance(cql_type, NativeType):
        if inside is not None and cql_type.name == "counter":
            raise CqlInvalidError(f"Counters are not allowed inside collections: {inside}")
        return DataType(_NATIVE_CODES[cql_type.name])
    if isinstance(cql_type, CollectionType):
        return _prepare_collection(cql_type, resolver)
    if isinstance(cql_type, TupleType):
        for param in cql_type.params:
            if isinstance(param, NativeType) and param.name == "counter":
                raise CqlInvalidError("Counters are not allowed inside tuples")
        # Tuple components are frozen implicitly: they are not "inside a collection".
        params = tuple(_prepare(_frozen(p), resolver, None) for p in cql_type.params)
        return DataType(TypeCode.TUPLE, params)
    if isinstance(cql_type, UserType):
        if resolver is None:
            raise CqlInvalidError(f"Unknown type {qualified(cql_type.keyspace, cql_type.name)}")
        return resolver(cql_type.keyspace, cql_type.name)
    if isinstance(cql_type, VectorType):
        if cql_type.dimension <= 0:
            raise CqlInvalidError(
                f"vectors may only have positive dimensions; given {cql_type.dimension}"
            )
        element = cql_type.element
        if isinstance(element, NativeType) and element.name == "counter":
            raise CqlInvalidError(f"vectors may not contain counters: {cql_type}")
        prepared = _prepare(_frozen(element), resolver, None)
        return DataType.custom(
            f"{_MARSHAL}VectorType({marshal_class(prepared)},{cql_type.dimension})"
        )
    assert isinstance(cql_type, CustomType)
    return DataType.custom(cql_type.class_name)


def _prepare_collection(cql_type: CollectionType, resolver: TypeResolver | None) -> DataType:
    # ``frozen<...>`` freezes everything nested in it (``RawCollection.freeze``), so only
    # the parameters of a non-frozen collection can be non-frozen: that is the error.
    params = cql_type.params
    if cql_type.frozen:
        params = tuple(_frozen(param) for param in params)
    for position, param in enumerate(params):
        if isinstance(param, CollectionType) and not param.frozen:
            raise CqlInvalidError(
                f"Non-frozen collections are not allowed inside collections: {cql_type}"
            )
        if isinstance(param, UserType) and not param.frozen:
            raise CqlInvalidError(f"Non-frozen UDTs are not allowed inside collections: {cql_type}")
        if isinstance(param, NativeType) and param.name == "duration":
            if cql_type.kind == "set":
                raise CqlInvalidError(f"Durations are not allowed inside sets: {cql_type}")
            if cql_type.kind == "map" and position == 0:
                raise CqlInvalidError(f"Durations are not allowed as map keys: {cql_type}")
    prepared = tuple(_prepare(param, resolver, cql_type) for param in params)
    code = {"list": TypeCode.LIST, "set": TypeCode.SET, "map": TypeCode.MAP}[cql_type.kind]
    return DataType(code, prepared)


def _frozen(cql_type: CqlType) -> CqlType:
    if isinstance(cql_type, CollectionType) and not cql_type.frozen:
        return CollectionType(kind=cql_type.kind, params=cql_type.params, frozen=True)
    if isinstance(cql_type, UserType) and not cql_type.frozen:
        return UserType(keyspace=cql_type.keyspace, name=cql_type.name, frozen=True)
    return cql_type
