"""Selectors made only of constants, seen as the terms they are, and the types Cassandra
gives constants before knowing where they go.

``[1, 2]`` in a select clause parses as a list of selectors; when every item is a constant it
is the list literal ``[1, 2]``, typed by its receiver (a type hint, a function parameter, an
operation). A constant's *preferred* type is ``Constants.Literal``'s: int for a small
integer, bigint or varint for larger ones, double for a decimal text a double holds exactly
(else decimal), text, boolean, duration, uuid, blob.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable

from cassflow.cql import (
    ListLiteral,
    ListSelector,
    Literal,
    LiteralKind,
    MapLiteral,
    MapSelector,
    Selectable,
    SetLiteral,
    SetSelector,
    Term,
    TermSelector,
    TupleLiteral,
    TupleSelector,
    TypeCast,
    parse_type,
)
from cassflow.devserver._json_values import java_number_text
from cassflow.devserver._values import join_collection, join_fields
from cassflow.protocol import DataType, TypeCode


def as_term(selectable: Selectable) -> Term | None:
    """The term a selector made only of constants is (``[1, 2]``, ``{'a': 1}``, ``(1, 'x')``),
    else None."""
    if isinstance(selectable, TermSelector):
        return selectable.term
    if isinstance(selectable, ListSelector | SetSelector) or (
        isinstance(selectable, TupleSelector) and len(selectable.items) > 1
    ):
        items = [as_term(item) for item in selectable.items]
        if any(item is None for item in items):
            return None
        terms = tuple(item for item in items if item is not None)
        if isinstance(selectable, ListSelector):
            return ListLiteral(items=terms)
        if isinstance(selectable, SetSelector):
            return SetLiteral(items=terms)
        return TupleLiteral(items=terms)
    if isinstance(selectable, MapSelector):
        entries = [(as_term(k), as_term(v)) for k, v in selectable.entries]
        if any(k is None or v is None for k, v in entries):
            return None
        return MapLiteral(entries=tuple((k, v) for k, v in entries if k and v))
    return None


def vector_literal_type(selectable: Selectable) -> DataType | None:
    """A list literal passed for a vector: ``vector<float, n>`` (FunctionParameter.vector)."""
    term = as_term(selectable)
    if isinstance(term, ListLiteral):
        return parse_type(f"vector<float, {len(term.items)}>").to_data_type()
    return None


def preferred_type(term: Term) -> DataType | None:
    """The type Cassandra prefers for a constant (``Constants.Literal``'s preferred type):
    None for bind markers and NULL, which take the type their receiver gives them."""
    if isinstance(term, TypeCast):
        return term.type.to_data_type()
    if not isinstance(term, Literal):
        return None
    kind, text = term.kind, term.text
    if kind is LiteralKind.INTEGER:
        number = int(text)
        if -(1 << 31) <= number < 1 << 31:
            return DataType(TypeCode.INT)
        if -(1 << 63) <= number < 1 << 63:
            return DataType(TypeCode.BIGINT)
        return DataType(TypeCode.VARINT)
    if kind is LiteralKind.FLOAT:
        if text.lstrip("-") in ("NaN", "Infinity"):
            return DataType(TypeCode.DOUBLE)
        exact = decimal.Decimal(text)
        as_double = decimal.Decimal(java_number_text(float(text), False).replace("E", "e"))
        # BigDecimal.equals: the same digits at the same scale.
        same = exact.as_tuple() == as_double.as_tuple()
        return DataType(TypeCode.DOUBLE if same else TypeCode.DECIMAL)
    return {
        LiteralKind.STRING: DataType(TypeCode.VARCHAR),
        LiteralKind.BOOLEAN: DataType(TypeCode.BOOLEAN),
        LiteralKind.DURATION: DataType(TypeCode.DURATION),
        LiteralKind.UUID: DataType(TypeCode.UUID),
        LiteralKind.HEX: DataType(TypeCode.BLOB),
    }[kind]


CollectionSelector = ListSelector | SetSelector | TupleSelector | MapSelector


def collection_type(
    selectable: CollectionSelector, item_types: list[DataType | None], expected: DataType | None
) -> DataType | None:
    """The frozen collection type of a collection built from selectors (None: unknown).

    ``item_types`` are the types of the items (keys and values alternating for a map), None
    for constants. Cassandra takes the first known element type (each component's for a
    tuple), else the type the receiver expects.
    """
    known = [t for t in item_types if t is not None]
    if isinstance(selectable, TupleSelector):
        if None not in item_types:
            return DataType.tuple_of(*known)
        wanted = TypeCode.TUPLE
    elif isinstance(selectable, MapSelector):
        keys = [t for t in item_types[::2] if t is not None]
        values = [t for t in item_types[1::2] if t is not None]
        if keys and values:
            return DataType.map_of(keys[0], values[0])
        wanted = TypeCode.MAP
    elif known:
        of = DataType.list_of if isinstance(selectable, ListSelector) else DataType.set_of
        return of(known[0])
    else:
        wanted = TypeCode.LIST if isinstance(selectable, ListSelector) else TypeCode.SET
    return expected if expected is not None and expected.code is wanted else None


def collection_builder(dtype: DataType) -> Callable[[list[bytes | None]], bytes]:
    """Serializes the items' values as a value of ``dtype`` (sets and maps sorted)."""
    if dtype.code is TypeCode.TUPLE:
        return join_fields
    if dtype.code is TypeCode.MAP:
        return lambda values: join_collection(
            list(zip(values[::2], values[1::2], strict=True)), dtype
        )
    return lambda values: join_collection(values, dtype)


def collection_name(selectable: CollectionSelector, names: list[str]) -> str:
    """The result column name: the items' names in the collection's brackets."""
    if isinstance(selectable, MapSelector):
        return (
            "{" + ", ".join(f"{k}: {v}" for k, v in zip(names[::2], names[1::2], strict=True)) + "}"
        )
    if isinstance(selectable, ListSelector):
        return "[" + ", ".join(names) + "]"
    if isinstance(selectable, SetSelector):
        return "{" + ", ".join(names) + "}"
    return "(" + ", ".join(names) + ")"


__all__ = [
    "as_term",
    "collection_builder",
    "collection_name",
    "collection_type",
    "preferred_type",
    "vector_literal_type",
]
