"""Column types as the [option] notation carries them, bridged to ``cassandra.cqltypes``.

:class:`DataType` is a plain, hashable description of a CQL type (so messages compare equal
and can be used as keys). Serializing and deserializing *values* is delegated to the driver's
``cassandra.cqltypes`` classes, built once per distinct type and cached: we do not rewrite the
value codecs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cassandra import cqltypes

from cassflow.protocol._buffer import Reader, Writer
from cassflow.protocol._constants import MAX_TYPE_NESTING
from cassflow.protocol._errors import LocalProtocolError, RemoteProtocolError


class TypeCode(IntEnum):
    """Option ids of column types (spec section 4.2.5.2)."""

    CUSTOM = 0x0000
    ASCII = 0x0001
    BIGINT = 0x0002
    BLOB = 0x0003
    BOOLEAN = 0x0004
    COUNTER = 0x0005
    DECIMAL = 0x0006
    DOUBLE = 0x0007
    FLOAT = 0x0008
    INT = 0x0009
    TIMESTAMP = 0x000B
    UUID = 0x000C
    VARCHAR = 0x000D
    VARINT = 0x000E
    TIMEUUID = 0x000F
    INET = 0x0010
    DATE = 0x0011
    TIME = 0x0012
    SMALLINT = 0x0013
    TINYINT = 0x0014
    DURATION = 0x0015
    LIST = 0x0020
    MAP = 0x0021
    SET = 0x0022
    UDT = 0x0030
    TUPLE = 0x0031


# Which type codes a version may carry: date, time, smallint and tinyint arrived with v4,
# duration with v5 (Cassandra sends it to v4 clients as a custom type).
_INTRODUCED_IN = {
    TypeCode.DATE: 4,
    TypeCode.TIME: 4,
    TypeCode.SMALLINT: 4,
    TypeCode.TINYINT: 4,
    TypeCode.DURATION: 5,
}

_CQL_NAMES = {
    TypeCode.ASCII: "ascii",
    TypeCode.BIGINT: "bigint",
    TypeCode.BLOB: "blob",
    TypeCode.BOOLEAN: "boolean",
    TypeCode.COUNTER: "counter",
    TypeCode.DECIMAL: "decimal",
    TypeCode.DOUBLE: "double",
    TypeCode.FLOAT: "float",
    TypeCode.INT: "int",
    TypeCode.TIMESTAMP: "timestamp",
    TypeCode.UUID: "uuid",
    TypeCode.VARCHAR: "text",
    TypeCode.VARINT: "varint",
    TypeCode.TIMEUUID: "timeuuid",
    TypeCode.INET: "inet",
    TypeCode.DATE: "date",
    TypeCode.TIME: "time",
    TypeCode.SMALLINT: "smallint",
    TypeCode.TINYINT: "tinyint",
    TypeCode.DURATION: "duration",
}

_SIMPLE_CODECS: dict[TypeCode, Any] = {
    TypeCode.ASCII: cqltypes.AsciiType,
    TypeCode.BIGINT: cqltypes.LongType,
    TypeCode.BLOB: cqltypes.BytesType,
    TypeCode.BOOLEAN: cqltypes.BooleanType,
    TypeCode.COUNTER: cqltypes.CounterColumnType,
    TypeCode.DECIMAL: cqltypes.DecimalType,
    TypeCode.DOUBLE: cqltypes.DoubleType,
    TypeCode.FLOAT: cqltypes.FloatType,
    TypeCode.INT: cqltypes.Int32Type,
    TypeCode.TIMESTAMP: cqltypes.DateType,
    TypeCode.UUID: cqltypes.UUIDType,
    TypeCode.VARCHAR: cqltypes.VarcharType,
    TypeCode.VARINT: cqltypes.IntegerType,
    TypeCode.TIMEUUID: cqltypes.TimeUUIDType,
    TypeCode.INET: cqltypes.InetAddressType,
    TypeCode.DATE: cqltypes.SimpleDateType,
    TypeCode.TIME: cqltypes.TimeType,
    TypeCode.SMALLINT: cqltypes.ShortType,
    TypeCode.TINYINT: cqltypes.ByteType,
    TypeCode.DURATION: cqltypes.DurationType,
}

_COLLECTIONS = {TypeCode.LIST: 1, TypeCode.SET: 1, TypeCode.MAP: 2}
# Plain ints for skip_type, which compares raw wire values.
_CQL_NAME_CODES = frozenset(int(code) for code in _CQL_NAMES)
_COLLECTION_ARITY = {int(code): arity for code, arity in _COLLECTIONS.items()}


@dataclass(frozen=True, slots=True)
class DataType:
    """A CQL column type.

    Build them with the helpers (:meth:`list_of`, :meth:`map_of`, :meth:`udt`, ...) or with
    ``DataType(TypeCode.INT)`` for the native types.
    """

    code: TypeCode
    #: Element types: one for list/set, key and value for map, the components of a tuple,
    #: the field types of a UDT.
    params: tuple[DataType, ...] = ()
    #: The fully qualified Java class of a custom type.
    custom_class: str | None = None
    #: Keyspace and name of a UDT.
    keyspace: str | None = None
    name: str | None = None
    #: Field names of a UDT, parallel to ``params``.
    field_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        expected = _COLLECTIONS.get(self.code)
        if expected is not None and len(self.params) != expected:
            raise LocalProtocolError(f"{self.code.name} takes {expected} type parameter(s)")
        if self.code is TypeCode.CUSTOM and not self.custom_class:
            raise LocalProtocolError("a custom type needs its class name")
        if self.code is TypeCode.UDT and (
            self.keyspace is None or self.name is None or len(self.field_names) != len(self.params)
        ):
            raise LocalProtocolError("a UDT needs a keyspace, a name and one name per field")

    @classmethod
    def list_of(cls, element: DataType) -> DataType:
        """``list<element>``."""
        return cls(TypeCode.LIST, (element,))

    @classmethod
    def set_of(cls, element: DataType) -> DataType:
        """``set<element>``."""
        return cls(TypeCode.SET, (element,))

    @classmethod
    def map_of(cls, key: DataType, value: DataType) -> DataType:
        """``map<key, value>``."""
        return cls(TypeCode.MAP, (key, value))

    @classmethod
    def tuple_of(cls, *components: DataType) -> DataType:
        """``tuple<...>``."""
        return cls(TypeCode.TUPLE, tuple(components))

    @classmethod
    def udt(cls, keyspace: str, name: str, fields: dict[str, DataType]) -> DataType:
        """A user-defined type with its fields in order."""
        return cls(
            TypeCode.UDT,
            tuple(fields.values()),
            keyspace=keyspace,
            name=name,
            field_names=tuple(fields),
        )

    @classmethod
    def custom(cls, class_name: str) -> DataType:
        """A custom type named by its Java class (vectors arrive this way)."""
        return cls(TypeCode.CUSTOM, custom_class=class_name)

    def cql(self) -> str:
        """The type as CQL spells it, e.g. ``map<text, frozen<list<int>>>``."""
        if self.code in _CQL_NAMES:
            return _CQL_NAMES[self.code]
        if self.code is TypeCode.CUSTOM:
            return f"'{self.custom_class}'"
        if self.code is TypeCode.UDT:
            return f"{self.keyspace}.{self.name}"
        inner = ", ".join(p.cql() for p in self.params)
        return f"{self.code.name.lower()}<{inner}>"

    def codec(self) -> Any:
        """The ``cassandra.cqltypes`` class that (de)serializes values of this type."""
        return _codec_for(self)

    def serialize(self, value: Any, version: int) -> bytes | None:
        """Encode a Python value as the driver would; ``None`` stays null."""
        if value is None:
            return None
        try:
            return bytes(self.codec().serialize(value, version))
        except Exception as exc:  # cqltypes raises whatever its struct/encode calls raise
            raise LocalProtocolError(f"cannot serialize {value!r} as {self.cql()}: {exc}") from None

    def deserialize(self, data: bytes | None, version: int) -> Any:
        """Decode one cell as the driver would; null stays ``None``."""
        if data is None:
            return None
        try:
            return self.codec().from_binary(data, version)
        except Exception as exc:
            raise RemoteProtocolError(f"malformed {self.cql()} value: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _codec_for(dtype: DataType) -> Any:
    simple = _SIMPLE_CODECS.get(dtype.code)
    if simple is not None:
        return simple
    if dtype.code is TypeCode.CUSTOM:
        return cqltypes.lookup_casstype(dtype.custom_class)
    subcodecs = [_codec_for(p) for p in dtype.params]
    if dtype.code is TypeCode.LIST:
        return cqltypes.ListType.apply_parameters(subcodecs)
    if dtype.code is TypeCode.SET:
        return cqltypes.SetType.apply_parameters(subcodecs)
    if dtype.code is TypeCode.MAP:
        return cqltypes.MapType.apply_parameters(subcodecs)
    if dtype.code is TypeCode.TUPLE:
        return cqltypes.TupleType.apply_parameters(subcodecs)
    return cqltypes.UserType.make_udt_class(
        dtype.keyspace, dtype.name, list(dtype.field_names), subcodecs
    )


def read_type(reader: Reader, version: int, depth: int = 0) -> DataType:
    """Read one [option] describing a column type."""
    if depth > MAX_TYPE_NESTING:
        raise RemoteProtocolError(f"column type nested deeper than {MAX_TYPE_NESTING} levels")
    raw = reader.read_short()
    try:
        code = TypeCode(raw)
    except ValueError:
        raise RemoteProtocolError(f"unknown column type option 0x{raw:04x}") from None
    if code in _CQL_NAMES:
        return DataType(code)
    if code is TypeCode.CUSTOM:
        class_name = reader.read_string()
        if not class_name:
            raise RemoteProtocolError("custom column type with an empty class name")
        return DataType.custom(class_name)
    if code in _COLLECTIONS:
        params = tuple(read_type(reader, version, depth + 1) for _ in range(_COLLECTIONS[code]))
        return DataType(code, params)
    if code is TypeCode.TUPLE:
        count = reader.read_short()
        return DataType(code, tuple(read_type(reader, version, depth + 1) for _ in range(count)))
    keyspace = reader.read_string()
    name = reader.read_string()
    names: list[str] = []
    params_list: list[DataType] = []
    for _ in range(reader.read_short()):
        names.append(reader.read_string())
        params_list.append(read_type(reader, version, depth + 1))
    return DataType(
        code, tuple(params_list), keyspace=keyspace, name=name, field_names=tuple(names)
    )


def skip_type(reader: Reader, depth: int = 0) -> None:
    """Step over one [option] without building its :class:`DataType` (a relay's peek)."""
    if depth > MAX_TYPE_NESTING:
        raise RemoteProtocolError(f"column type nested deeper than {MAX_TYPE_NESTING} levels")
    raw = reader.read_short()
    if raw in _CQL_NAME_CODES:
        return
    if raw == TypeCode.CUSTOM:
        reader.skip_string()
    elif raw in _COLLECTION_ARITY:
        for _ in range(_COLLECTION_ARITY[raw]):
            skip_type(reader, depth + 1)
    elif raw == TypeCode.TUPLE:
        for _ in range(reader.read_short()):
            skip_type(reader, depth + 1)
    elif raw == TypeCode.UDT:
        reader.skip_string()
        reader.skip_string()
        for _ in range(reader.read_short()):
            reader.skip_string()
            skip_type(reader, depth + 1)
    else:
        raise RemoteProtocolError(f"unknown column type option 0x{raw:04x}")


def write_type(writer: Writer, dtype: DataType, version: int, depth: int = 0) -> None:
    """Write one [option] describing a column type."""
    if depth > MAX_TYPE_NESTING:
        raise LocalProtocolError(f"column type nested deeper than {MAX_TYPE_NESTING} levels")
    introduced = _INTRODUCED_IN.get(dtype.code)
    if introduced is not None and version < introduced:
        raise LocalProtocolError(f"{dtype.cql()} needs protocol v{introduced} or later")
    writer.write_short(dtype.code)
    if dtype.code is TypeCode.CUSTOM:
        writer.write_string(dtype.custom_class or "")
    elif dtype.code in _COLLECTIONS:
        for param in dtype.params:
            write_type(writer, param, version, depth + 1)
    elif dtype.code is TypeCode.TUPLE:
        writer.write_count(len(dtype.params), "tuple components")
        for param in dtype.params:
            write_type(writer, param, version, depth + 1)
    elif dtype.code is TypeCode.UDT:
        writer.write_string(dtype.keyspace or "")
        writer.write_string(dtype.name or "")
        writer.write_count(len(dtype.params), "UDT fields")
        for field_name, param in zip(dtype.field_names, dtype.params, strict=True):
            writer.write_string(field_name)
            write_type(writer, param, version, depth + 1)
