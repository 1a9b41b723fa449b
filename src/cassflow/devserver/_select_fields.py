"""``SELECT u.f`` (and ``u.f.g``): a field of a user type column as a result column."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassflow.cql import ColumnSelector, FieldSelector, Selectable
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._schema import ColumnMetadata
from cassflow.devserver._schema_types import cql_type
from cassflow.devserver._values import split_fields
from cassflow.protocol import DataType, TypeCode

#: What a result column is computed from: the row's cells (name -> (value, ...)).
Compute = Callable[[Any, int, bytes], bytes | None]


def field_output(
    selectable: FieldSelector, column_of: Callable[[str], ColumnMetadata]
) -> tuple[str, DataType, Compute]:
    """The result column's name, its type and how to compute it from a row.

    ``column_of`` looks a column up by name (raising Cassandra's "Undefined column" error).
    Errors are ``Selectable.WithFieldSelection.prepare``'s.
    """
    path: list[str] = []
    base: Selectable = selectable
    while isinstance(base, FieldSelector):
        path.append(base.field)
        base = base.selector
    if not isinstance(base, ColumnSelector):
        raise InvalidRequestError(
            f"The dev server does not support the selector {selectable.to_cql()} yet"
        )
    path.reverse()
    column = column_of(base.name)
    dtype, frozen, text = column.type, column.frozen, column.name
    positions: list[int] = []
    for field in path:
        position = field_position(text, dtype, frozen, field)
        positions.append(position)
        text = f"{text}.{field}"
        dtype, frozen = dtype.params[position], True
    fields_of = [
        len(t.params) for t in _types_along(column.type, positions)
    ]  # field counts of each UDT on the path
    name = column.name

    def compute(row: Any, _token: int, _pk: bytes) -> bytes | None:
        cell = row.get(name)
        value: bytes | None = None if cell is None else cell[0]
        for position, count in zip(positions, fields_of, strict=True):
            if not value:
                return None
            value = split_fields(value, count)[position]
        return value

    return text, dtype, compute


def field_position(text: str, dtype: DataType, frozen: bool, field: str) -> int:
    """The position of ``field`` in the user type ``dtype`` of the selection ``text``."""
    if dtype.code is not TypeCode.UDT:
        raise InvalidRequestError(
            f"Invalid field selection: {text} of type {cql_type(dtype, frozen=frozen)} is "
            "not a user type"
        )
    if field not in dtype.field_names:
        raise InvalidRequestError(
            f"{text} of type {cql_type(dtype, frozen=frozen)} has no field {field}"
        )
    return dtype.field_names.index(field)


def field_of(value: bytes | None, dtype: DataType, position: int) -> bytes | None:
    """The serialized field at ``position`` of a user type value (null in, null out)."""
    if not value:
        return None
    return split_fields(value, len(dtype.params))[position]


def _types_along(dtype: DataType, positions: list[int]) -> list[DataType]:
    types = []
    for position in positions:
        types.append(dtype)
        dtype = dtype.params[position]
    return types


__all__ = ["field_of", "field_output", "field_position"]
