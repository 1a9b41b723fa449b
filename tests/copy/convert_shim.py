"""TEMPORARY: a stand-in for cassflow.copy._convert until it lands (installed only if missing)."""

from __future__ import annotations

import sys
import types
from typing import Any

from cassandra import cqltypes

from cassflow.copy._model import ConversionError

try:
    import cassflow.copy._convert  # noqa: F401
except ModuleNotFoundError:
    _INTS = (
        cqltypes.Int32Type,
        cqltypes.LongType,
        cqltypes.ShortType,
        cqltypes.ByteType,
        cqltypes.IntegerType,
        cqltypes.CounterColumnType,
    )

    def to_cql(cql_type: Any) -> Any:
        parse = int if cql_type in _INTS else None

        def convert(value: Any) -> Any:
            if value is None or parse is None or not isinstance(value, str):
                return value
            try:
                return parse(value)
            except ValueError:
                raise ConversionError(f"expected an integer, got {value!r}") from None

        return convert

    def cql_type_name(cql_type: Any) -> str:
        return str(cql_type.cql_parameterized_type())

    shim = types.ModuleType("cassflow.copy._convert")
    shim.to_cql = to_cql  # type: ignore[attr-defined]
    shim.cql_type_name = cql_type_name  # type: ignore[attr-defined]
    sys.modules["cassflow.copy._convert"] = shim
