"""Column types as the driver's ``cassandra.cqltypes`` classes: from CQL text and back.

The driver describes a column by a class (``ListType(Int32Type)``, a ``UserType`` subclass
per user type...). Prepared statement metadata gives them without ``frozen`` (the protocol
does not carry it); :func:`parse_cql_type` keeps it as a ``FrozenType`` wrapper so that
:func:`cql_type_name` can spell the type back as it was written. Converters look through
the wrappers with :func:`unwrap`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

from cassandra import cqltypes

from cassflow.copy._model import CopyError
from cassflow.cql import (
    CollectionType,
    CqlError,
    CqlType,
    CustomType,
    NativeType,
    TupleType,
    UserType,
    VectorType,
    parse_type,
)
from cassflow.cql._quote import type_ident

#: The driver's class for each native CQL type name (as the CQL parser spells them).
NATIVE_CLASSES: Final[Mapping[str, type]] = {
    "ascii": cqltypes.AsciiType,
    "bigint": cqltypes.LongType,
    "blob": cqltypes.BytesType,
    "boolean": cqltypes.BooleanType,
    "counter": cqltypes.CounterColumnType,
    "date": cqltypes.SimpleDateType,
    "decimal": cqltypes.DecimalType,
    "double": cqltypes.DoubleType,
    "duration": cqltypes.DurationType,
    "float": cqltypes.FloatType,
    "inet": cqltypes.InetAddressType,
    "int": cqltypes.Int32Type,
    "smallint": cqltypes.ShortType,
    "text": cqltypes.UTF8Type,
    "time": cqltypes.TimeType,
    "timestamp": cqltypes.DateType,
    "timeuuid": cqltypes.TimeUUIDType,
    "tinyint": cqltypes.ByteType,
    "uuid": cqltypes.UUIDType,
    "varint": cqltypes.IntegerType,
}

# The driver's typename of each native class -> the CQL name (varchar is text).
_NATIVE_NAMES: Final[Mapping[str, str]] = {
    **{cast(Any, cls).typename: name for name, cls in NATIVE_CLASSES.items()},
    "varchar": "text",
}


def parse_cql_type(text: str, udts: Mapping[str, Any] | None = None) -> type:
    """The driver's class for a CQL type written as text.

    ``'map<text, frozen<list<int>>>'``, ``'frozen<tuple<int, text>>'``, ``'vector<float, 3>'``;
    user types (``'frozen<address>'``) are looked up in ``udts``, which maps a type name
    (optionally ``keyspace.name``) to its ``cassandra.cqltypes.UserType`` class, as
    ``cluster.metadata`` or prepared statement metadata provide them. ``frozen<...>`` around
    a collection or user type is kept as a ``cassandra.cqltypes.FrozenType`` wrapper.

    Raises :class:`CopyError` naming the text and what is wrong with it.
    """
    try:
        parsed = parse_type(text)
    except CqlError as exc:
        raise CopyError(f"{text!r} is not a CQL type: {exc}") from None
    return _driver_type(parsed, text, udts or {})


def _driver_type(parsed: CqlType, text: str, udts: Mapping[str, Any]) -> type:
    if isinstance(parsed, NativeType):
        return NATIVE_CLASSES[parsed.name]
    if isinstance(parsed, CollectionType):
        params = [_driver_type(p, text, udts) for p in parsed.params]
        base = {"list": cqltypes.ListType, "set": cqltypes.SetType, "map": cqltypes.MapType}
        collection: type = base[parsed.kind].apply_parameters(params)
        return _frozen(collection) if parsed.frozen else collection
    if isinstance(parsed, TupleType):
        params = [_driver_type(p, text, udts) for p in parsed.params]
        result: type = cqltypes.TupleType.apply_parameters(params)
        return result
    if isinstance(parsed, UserType):
        udt = _user_type(parsed, text, udts)
        return _frozen(udt) if parsed.frozen else udt
    if isinstance(parsed, VectorType):
        element = _driver_type(parsed.element, text, udts)
        vector: type = cqltypes.VectorType.apply_parameters([element, parsed.dimension], None)
        return vector
    assert isinstance(parsed, CustomType)
    custom: type = cqltypes.lookup_casstype(parsed.class_name)
    return custom


def _user_type(parsed: UserType, text: str, udts: Mapping[str, Any]) -> type:
    names = [parsed.name] if parsed.keyspace is None else [f"{parsed.keyspace}.{parsed.name}"]
    names.append(parsed.name)
    for name in names:
        found = udts.get(name)
        if found is not None:
            return found  # type: ignore[no-any-return]
    known = ", ".join(sorted(udts)) or "none"
    raise CopyError(f"unknown user type {parsed.name!r} in {text!r} (known user types: {known})")


def _frozen(inner: type) -> type:
    frozen: type = cqltypes.FrozenType.apply_parameters([inner])
    return frozen


def unwrap(cql_type: type) -> type:
    """The type inside ``frozen<...>`` and reversed (clustering order) wrappers."""
    while issubclass(cql_type, cqltypes.FrozenType | cqltypes.ReversedType):
        # The driver's classes are untyped: their class attributes are unknown to mypy.
        cql_type = cast(Any, cql_type).subtypes[0]
    return cql_type


def cql_type_name(cql_type: type) -> str:
    """The type in CQL, as Cassandra writes it in its schema: ``map<text, frozen<list<int>>>``,
    ``frozen<tuple<int, text>>``, ``vector<float, 3>``, ``frozen<address>``.

    Collections and user types nested in another type are always written frozen (Cassandra
    requires it; the driver's prepared metadata does not say so).
    """
    return _name(cql_type, nested=False)


def _name(cql_type: Any, *, nested: bool) -> str:
    frozen = nested
    while issubclass(cql_type, cqltypes.FrozenType | cqltypes.ReversedType):
        frozen = frozen or issubclass(cql_type, cqltypes.FrozenType)
        cql_type = cql_type.subtypes[0]
    if issubclass(cql_type, cqltypes.UserType):
        name = type_ident(cql_type.typename)
        return f"frozen<{name}>" if frozen else name
    if issubclass(cql_type, cqltypes.TupleType):
        inner = ", ".join(_name(t, nested=True) for t in cql_type.subtypes)
        return f"frozen<tuple<{inner}>>"
    if issubclass(cql_type, cqltypes.VectorType):
        return f"vector<{_name(cql_type.subtype, nested=True)}, {cql_type.vector_size}>"
    if issubclass(cql_type, cqltypes.ListType | cqltypes.SetType | cqltypes.MapType):
        inner = ", ".join(_name(t, nested=True) for t in cql_type.subtypes)
        name = f"{cql_type.typename}<{inner}>"
        return f"frozen<{name}>" if frozen else name
    native = _NATIVE_NAMES.get(cql_type.typename)
    if native is not None:
        return native
    # A custom type Cassandra knows by its class name only.
    return f"'{cql_type.cass_parameterized_type(full=True)}'"


__all__ = ["NATIVE_CLASSES", "cql_type_name", "parse_cql_type", "unwrap"]
