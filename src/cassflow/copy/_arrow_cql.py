"""The CQL type of a Parquet (Arrow) column, so a Parquet file is a typed dataset.

Scalars map to the driver's classes directly; nested types are spelled as CQL text
(``list<frozen<map<text, int>>>``) and parsed by ``_convert.parse_cql_type``. A struct becomes
a ``frozen<tuple<...>>`` (a user type needs a name the file does not have). Arrow types with
no CQL counterpart (durations, unions, dictionaries of odd values) leave the field untyped
(``None``), which the sink treats as text/JSON.
"""

from __future__ import annotations

from typing import Any

from cassandra import cqltypes

from cassflow.copy._pyarrow import pa


def cql_type_of(arrow: Any) -> Any:
    """The ``cassandra.cqltypes`` class for an arrow type, or ``None`` when there is none."""
    text = cql_text_of(arrow)
    if text is None:
        return None
    scalar = _SCALAR_CLASSES.get(text)
    if scalar is not None:
        return scalar
    from cassflow.copy._convert import parse_cql_type  # noqa: PLC0415 - only nested types

    return parse_cql_type(text)


_SCALAR_CLASSES: dict[str, Any] = {
    "tinyint": cqltypes.ByteType,
    "smallint": cqltypes.ShortType,
    "int": cqltypes.Int32Type,
    "bigint": cqltypes.LongType,
    "varint": cqltypes.IntegerType,
    "float": cqltypes.FloatType,
    "double": cqltypes.DoubleType,
    "boolean": cqltypes.BooleanType,
    "text": cqltypes.UTF8Type,
    "blob": cqltypes.BytesType,
    "timestamp": cqltypes.DateType,
    "date": cqltypes.SimpleDateType,
    "time": cqltypes.TimeType,
    "decimal": cqltypes.DecimalType,
}


def cql_text_of(arrow: Any) -> str | None:
    """The CQL spelling of an arrow type (nested types frozen as CQL requires), or ``None``."""
    t = pa.types
    if t.is_dictionary(arrow):
        return cql_text_of(arrow.value_type)
    for test, name in (
        (t.is_int8, "tinyint"),
        (t.is_int16, "smallint"),
        (t.is_uint8, "smallint"),
        (t.is_int32, "int"),
        (t.is_uint16, "int"),
        (t.is_int64, "bigint"),
        (t.is_uint32, "bigint"),
        (t.is_uint64, "varint"),
        (t.is_float16, "float"),
        (t.is_float32, "float"),
        (t.is_float64, "double"),
        (t.is_boolean, "boolean"),
        (t.is_string, "text"),
        (t.is_large_string, "text"),
        (t.is_binary, "blob"),
        (t.is_large_binary, "blob"),
        (t.is_fixed_size_binary, "blob"),
        (t.is_timestamp, "timestamp"),
        (t.is_date, "date"),
        (t.is_time, "time"),
        (t.is_decimal, "decimal"),
        (t.is_null, "text"),
    ):
        if test(arrow):
            return name
    if getattr(t, "is_string_view", None) and t.is_string_view(arrow):
        return "text"
    if t.is_map(arrow):
        key, value = _nested(arrow.key_type), _nested(arrow.item_type)
        return None if key is None or value is None else f"map<{key}, {value}>"
    if t.is_list(arrow) or t.is_large_list(arrow) or t.is_fixed_size_list(arrow):
        element = _nested(arrow.value_type)
        return None if element is None else f"list<{element}>"
    if t.is_struct(arrow):
        parts = [_nested(arrow.field(i).type) for i in range(arrow.num_fields)]
        if not parts or any(p is None for p in parts):
            return None
        return f"frozen<tuple<{', '.join(str(p) for p in parts)}>>"
    return None


def _nested(arrow: Any) -> str | None:
    """An element type: collections inside collections must be frozen in CQL."""
    text = cql_text_of(arrow)
    if text is None or text.startswith("frozen<") or "<" not in text:
        return text
    return f"frozen<{text}>"
