"""Value conversion between sources and CQL column types: the one entry point sinks use.

Column types are the driver's ``cassandra.cqltypes`` classes. Converters are built once per
column (closures chosen by type) and then applied to every value:

* :func:`to_cql` - any source's value (CSV text, JSON values, pyarrow / SQLAlchemy / driver
  values) to what the driver serializes exactly for the type, or a
  :class:`~cassflow.copy._model.ConversionError` saying what was expected;
* :func:`to_text`, :func:`to_json`, :func:`to_arrow` (with :func:`arrow_type`) - driver values
  to CSV text, JSON values and Arrow values that :func:`to_cql` reads back identically;
* :func:`parse_cql_type` / :func:`cql_type_name` - types from CQL text and back.

The per-type work lives in ``_convert_scalar`` (native types), ``_convert_nested``
(collections, tuples, user types, vectors), ``_convert_output`` (text and JSON) and
``_convert_arrow``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cassandra import cqltypes

from cassflow.copy._convert_arrow import arrow_type, to_arrow
from cassflow.copy._convert_nested import (
    list_converter,
    map_converter,
    set_converter,
    tuple_converter,
    udt_converter,
    vector_converter,
)
from cassflow.copy._convert_output import (
    json_formatter,
    text_formatter,
    untyped_json,
    untyped_text,
)
from cassflow.copy._convert_scalar import SCALAR_CONVERTERS, Converter
from cassflow.copy._cqltypes import cql_type_name, parse_cql_type, unwrap
from cassflow.copy._model import CopyError

# Types whose empty string is a value ("" and b""), not a null.
_EMPTY_IS_VALUE = (cqltypes.UTF8Type, cqltypes.AsciiType, cqltypes.BytesType)


def to_cql(cql_type: type) -> Callable[[Any], Any]:
    """A converter for one column of ``cql_type``: value -> what the driver serializes exactly.

    ``None`` converts to ``None``; so does ``""`` except for text and blob columns (CSV writers
    that quote every field write ``""`` for a null). What each type accepts is described in
    :mod:`cassflow.copy._convert_scalar` and :mod:`cassflow.copy._convert_nested`; in short,
    its own Python values, the driver's, and their text forms (numbers, ISO 8601 timestamps,
    ``0x`` hex or base64 blobs, CQL durations; JSON or CQL literals for nested types).
    Timestamps come out as int milliseconds since the epoch, dates as
    ``cassandra.util.Date``, times as ``cassandra.util.Time``, sets as ``sortedset``, user
    types as tuples of their fields.

    Raises :class:`CopyError` at once for a type it cannot convert to, and
    :class:`~cassflow.copy._model.ConversionError` per value ("expected an int (32-bit) but got
    'abc'").
    """
    convert = _converter(cql_type)
    if issubclass(unwrap(cql_type), _EMPTY_IS_VALUE):

        def keep_empty(value: Any) -> Any:
            return None if value is None else convert(value)

        return keep_empty

    def empty_is_null(value: Any) -> Any:
        if value is None or (value.__class__ is str and not value):
            return None
        return convert(value)

    return empty_is_null


def _converter(cql_type: type) -> Converter:
    # The converter of non-null values; elements of nested types use these (so an empty
    # string element is an error, not a null).
    base: Any = unwrap(cql_type)
    for klass in base.__mro__:
        factory = SCALAR_CONVERTERS.get(klass)
        if factory is not None:
            return factory()
    name = cql_type_name(cql_type)
    article = "an" if name[0] in "aeiou" else "a"
    description = f"{article} {name} (JSON or a CQL literal)"
    if issubclass(base, cqltypes.UserType):
        names = list(base.fieldnames)
        fields = [_converter(t) for t in base.subtypes]
        return udt_converter(names, fields, base.tuple_type or tuple, description)
    if issubclass(base, cqltypes.TupleType):
        return tuple_converter([_converter(t) for t in base.subtypes], description)
    if issubclass(base, cqltypes.MapType):
        key_type, value_type = base.subtypes
        return map_converter(key_type, _converter(key_type), _converter(value_type), description)
    if issubclass(base, cqltypes.SetType):
        return set_converter(_converter(base.subtypes[0]), description)
    if issubclass(base, cqltypes.ListType):
        return list_converter(_converter(base.subtypes[0]), description)
    if issubclass(base, cqltypes.VectorType):
        return vector_converter(_converter(base.subtype), base.vector_size, description)
    raise CopyError(f"cassflow cannot convert values to the CQL type {cql_type_name(base)}")


def to_text(cql_type: type | None) -> Callable[[Any], str | None]:
    """A formatter for CSV output: driver value -> text :func:`to_cql` reads back to the
    identical value; None -> None. Without a type, strings as they are and anything else
    as JSON. The forms are listed in :mod:`cassflow.copy._convert_output`."""
    inner = untyped_text if cql_type is None else text_formatter(cql_type)

    def convert(value: Any) -> str | None:
        return None if value is None else inner(value)

    return convert


def to_json(cql_type: type | None) -> Callable[[Any], Any]:
    """A formatter for JSON Lines output: driver value -> JSON value (what ``json.dumps``
    writes and ``json.loads`` reads back) that :func:`to_cql` converts to the identical
    value; None -> None."""
    inner = untyped_json if cql_type is None else json_formatter(cql_type)

    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


__all__ = [
    "arrow_type",
    "cql_type_name",
    "parse_cql_type",
    "to_arrow",
    "to_cql",
    "to_json",
    "to_text",
]
