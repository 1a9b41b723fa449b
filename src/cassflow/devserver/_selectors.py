"""The select clause: each selector compiled into a result column (name, type, computation).

A selector computes its value from an *engine row* (column name -> (value, write time, ttl)),
the row's token and partition key. Aggregates (count, min, max, sum, avg) also name the
accumulator that folds those values over a group of rows. Column names and errors are
Cassandra's (``system.min(v)``, ``count``, ``cast(v as text)``, ``system.tojson(v)``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cassflow.cql import (
    CastSelector,
    ColumnSelector,
    CountRowsSelector,
    FieldSelector,
    FunctionSelector,
    Literal,
    Select,
    Selectable,
    Selector,
    Term,
    TermSelector,
    TypeHintSelector,
    WritetimeKind,
    WritetimeSelector,
)
from cassflow.devserver._aggregates import AGGREGATES, Aggregate, aggregate, count_rows
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._functions import ScalarFunction, cast_function, overloads
from cassflow.devserver._json_values import row_to_json, to_json
from cassflow.devserver._schema import ColumnKind, ColumnMetadata, TableMetadata
from cassflow.devserver._select_fields import field_output
from cassflow.devserver._values import Evaluator
from cassflow.devserver._where import known_column
from cassflow.protocol import UNSET, ColumnSpec, DataType, TypeCode

#: (engine row, token, partition key) -> serialized value.
Compute = Callable[[Any, int, bytes], bytes | None]

_BIGINT = DataType(TypeCode.BIGINT)
_INT = DataType(TypeCode.INT)
_TEXT = DataType(TypeCode.VARCHAR)
JSON_COLUMN = "[json]"


@dataclass(frozen=True, slots=True)
class Output:
    """One column of the result: its name, type and how to compute it from a row.

    For an aggregate, ``compute`` gives the argument's value of each row and ``aggregate``
    folds them.
    """

    name: str
    type: DataType
    compute: Compute
    aggregate: Aggregate | None = None
    #: The column whose value this output is, unchanged (``*`` and plain column selectors).
    plain: str | None = None
    #: Applied to an aggregate's result (``cast(count(*) as int)``, ``toJson(max(v))``).
    finish: Callable[[bytes | None], bytes | None] | None = None


def _plain(column: ColumnMetadata) -> Compute:
    name = column.name

    def compute(row: Any, _token: int, _pk: bytes) -> bytes | None:
        cell = row.get(name)
        return None if cell is None else cell[0]

    return compute


def _cell_meta(column: ColumnMetadata, index: int) -> Compute:
    name = column.name
    fmt = ">q" if index == 1 else ">i"

    def compute(row: Any, _token: int, _pk: bytes) -> bytes | None:
        cell = row.get(name)
        if cell is None or cell[0] is None or cell[index] is None:
            return None
        return struct.pack(fmt, cell[index])

    return compute


def _token_output(_row: Any, tok: int, _pk: bytes) -> bytes | None:
    return struct.pack(">q", tok)


def _always(_row: Any, _token: int, _pk: bytes) -> bytes | None:
    return b""


class _Compiler:
    """Compiles the selectors of one statement against one table."""

    def __init__(self, statement: Select, table: TableMetadata, evaluator: Evaluator) -> None:
        self.statement = statement
        self.table = table
        self.evaluator = evaluator
        #: The bind markers of the selectors and the types they receive.
        self.markers: list[tuple[Term, DataType]] = []

    def column(self, name: str) -> ColumnMetadata:
        return known_column(self.table, name)

    def compile(self, selectable: Selectable, expected: DataType | None = None) -> Output:
        if isinstance(selectable, ColumnSelector):
            return self._column(selectable)
        if isinstance(selectable, WritetimeSelector):
            return self._writetime(selectable)
        if isinstance(selectable, CountRowsSelector):
            return Output("count", _BIGINT, _always, aggregate=count_rows())
        if isinstance(selectable, FieldSelector):
            name, dtype, compute = field_output(selectable, self.column)
            return Output(name, dtype, compute)
        if isinstance(selectable, TermSelector):
            return self._term(selectable, expected, None)
        if isinstance(selectable, TypeHintSelector) and isinstance(
            selectable.selector, TermSelector
        ):
            hinted = selectable.type.to_data_type()
            return self._term(selectable.selector, hinted, f"({selectable.type.to_cql()})")
        if isinstance(selectable, CastSelector):
            return self._cast(selectable)
        if isinstance(selectable, FunctionSelector):
            return self._function(selectable)
        raise InvalidRequestError(
            f"The dev server does not support the selector {selectable.to_cql()} yet"
        )

    def scalar(self, selectable: Selectable, expected: DataType | None = None) -> Output:
        """A selector used as an argument of a function of several arguments: aggregates
        are not supported there."""
        output = self.compile(selectable, expected)
        if output.aggregate is not None:
            raise InvalidRequestError(
                f"The dev server does not support the selector {selectable.to_cql()} beside "
                "other arguments yet"
            )
        return output

    def _column(self, selectable: ColumnSelector) -> Output:
        column = self.column(selectable.name)
        if self.statement.distinct and column.kind not in (
            ColumnKind.PARTITION_KEY,
            ColumnKind.STATIC,
        ):
            raise InvalidRequestError(
                "SELECT DISTINCT queries must only request partition key columns and/or static "
                f"columns (not {column.name})"
            )
        return Output(column.name, column.type, _plain(column), plain=column.name)

    def _writetime(self, selectable: WritetimeSelector) -> Output:
        if not isinstance(selectable.selector, ColumnSelector):
            raise InvalidRequestError(
                f"The dev server does not support the selector {selectable.to_cql()} yet"
            )
        column = self.column(selectable.selector.name)
        is_ttl = selectable.kind is WritetimeKind.TTL
        function = "ttl" if is_ttl else "writeTime"
        if column.is_primary_key:
            raise InvalidRequestError(
                f"Cannot use selection function {function} on PRIMARY KEY part {column.name}"
            )
        if column.is_multi_cell:
            kind = "UDT" if column.type.code is TypeCode.UDT else "collection"
            raise InvalidRequestError(
                f"Cannot use selection function {function} on non-frozen {kind} {column.name}"
            )
        if selectable.kind is WritetimeKind.MAXWRITETIME:
            raise InvalidRequestError(
                f"The dev server does not support the selector {selectable.to_cql()} yet"
            )
        if is_ttl:
            return Output(f"ttl({column.name})", _INT, _cell_meta(column, 2))
        return Output(f"writetime({column.name})", _BIGINT, _cell_meta(column, 1))

    def _term(self, selectable: TermSelector, dtype: DataType | None, hint: str | None) -> Output:
        term = selectable.term
        text = term.to_cql() if hint is None else f"{hint}{term.to_cql()}"
        if dtype is None:
            raise InvalidRequestError(
                f"Cannot infer type for term {text} in selection clause (try using a cast to "
                "force a type)"
            )
        self.markers.append((term, dtype))
        evaluator = self.evaluator
        cache: list[bytes | None] = []

        def compute(_row: Any, _token: int, _pk: bytes) -> bytes | None:
            if not cache:
                value = evaluator.value(term, dtype, "[selection]")
                cache.append(None if value is UNSET else value)
            result = cache[0]
            assert result is None or isinstance(result, bytes)
            return result

        return Output(text, dtype, compute)

    def _cast(self, selectable: CastSelector) -> Output:
        inner = self.compile(selectable.selector)
        target = selectable.type.to_data_type()
        if inner.type == target:
            return inner  # Cassandra ignores a cast to the value's own type
        convert = cast_function(inner.type, target)
        if convert is None:
            raise InvalidRequestError(f"{inner.name} cannot be cast to {target.cql()}")

        def cast(value: bytes | None) -> bytes | None:
            return None if value is None else convert(value)

        return _applied(inner, f"cast({inner.name} as {target.cql()})", target, cast)

    def _function(self, selectable: FunctionSelector) -> Output:
        name = selectable.function.name.lower()
        if selectable.function.keyspace not in (None, "system"):
            raise InvalidRequestError(f"Unknown function '{selectable.function.to_cql()}'")
        args = selectable.args
        if name == "token":
            return self._token(selectable)
        if name == "tojson":
            return self._to_json(selectable)
        if name == "fromjson":
            raise InvalidRequestError(
                "fromJson() cannot be used in the selection clause of a SELECT statement"
            )
        if name == "count" and len(args) == 1 and _is_literal(args[0]):
            return Output("count", _BIGINT, _always, aggregate=count_rows())
        if name in AGGREGATES:
            if len(args) != 1:
                raise InvalidRequestError(
                    f"Invalid number of arguments in call to function system.{name}: 1 "
                    f"required but {len(args)} provided"
                )
            arg = self.compile(args[0])
            if arg.aggregate is not None:
                raise InvalidRequestError(
                    "aggregate functions cannot be used as arguments of aggregate functions"
                )
            function = aggregate(name, arg.type)
            return Output(
                f"system.{name}({arg.name})",
                function.return_type,
                arg.compute,
                aggregate=function,
            )
        return self._scalar_function(selectable, name)

    def _token(self, selectable: FunctionSelector) -> Output:
        names = [a.name if isinstance(a, ColumnSelector) else None for a in selectable.args]
        if names != [c.name for c in self.table.partition_key]:
            raise InvalidRequestError(
                "Type error: token() takes the partition key columns in order"
            )
        return Output(f"system.token({', '.join(str(n) for n in names)})", _BIGINT, _token_output)

    def _to_json(self, selectable: FunctionSelector) -> Output:
        if len(selectable.args) != 1:
            raise InvalidRequestError(
                f"toJson() only accepts one argument (got {len(selectable.args)})"
            )
        arg = self.compile(selectable.args[0])
        dtype = arg.type

        def as_json(value: bytes | None) -> bytes | None:
            return to_json(value, dtype).encode("utf-8")

        return _applied(arg, f"system.tojson({arg.name})", _TEXT, as_json)

    def _scalar_function(self, selectable: FunctionSelector, name: str) -> Output:
        candidates = overloads(name)
        if not candidates:
            raise InvalidRequestError(f"Unknown function '{selectable.function.to_cql()}'")
        args = selectable.args
        matching = [f for f in candidates if len(f.arg_types) == len(args)]
        if not matching:
            raise InvalidRequestError(
                f"Invalid number of arguments in call to function system.{name}: "
                f"{len(candidates[0].arg_types)} required but {len(args)} provided"
            )
        compile_arg = self.compile if len(args) == 1 else self.scalar
        known = [None if _is_term(a) else compile_arg(a) for a in args]
        chosen = [
            f
            for f in matching
            if all(k is None or k.type == t for k, t in zip(known, f.arg_types, strict=True))
        ]
        if not chosen:
            signatures = ", ".join(
                f"system.{name} : ({', '.join(t.cql() for t in f.arg_types)}) -> "
                f"{f.return_type.cql()}"
                for f in candidates
            )
            raise InvalidRequestError(
                f"Invalid call to function {name}, none of its type signatures match (known "
                f"type signatures: {signatures})"
            )
        function = chosen[0]
        compiled = [
            k if k is not None else self.scalar(a, t)
            for k, a, t in zip(known, args, function.arg_types, strict=True)
        ]
        return _call(function, compiled, self.evaluator)


def _applied(
    arg: Output, name: str, dtype: DataType, fn: Callable[[bytes | None], bytes | None]
) -> Output:
    """``fn`` applied to ``arg``'s value: to each row's, or to an aggregate's result."""
    if arg.aggregate is not None:
        before = arg.finish

        def finish(value: bytes | None) -> bytes | None:
            return fn(value if before is None else before(value))

        return Output(name, dtype, arg.compute, aggregate=arg.aggregate, finish=finish)
    compute_arg = arg.compute

    def compute(row: Any, tok: int, pk: bytes) -> bytes | None:
        return fn(compute_arg(row, tok, pk))

    return Output(name, dtype, compute)


def _call(function: ScalarFunction, args: list[Output], evaluator: Evaluator) -> Output:
    impl = function.impl
    name = function.column_name([a.name for a in args])
    if len(args) == 1 and args[0].aggregate is not None:

        def over_result(value: bytes | None) -> bytes | None:
            return impl(evaluator.now_micros, [value])

        return _applied(args[0], name, function.return_type, over_result)
    computes = [a.compute for a in args]

    def compute(row: Any, tok: int, pk: bytes) -> bytes | None:
        return impl(evaluator.now_micros, [c(row, tok, pk) for c in computes])

    return Output(name, function.return_type, compute)


def _is_term(selectable: Selectable) -> bool:
    return isinstance(selectable, TermSelector)


def _is_literal(selectable: Selectable) -> bool:
    return isinstance(selectable, TermSelector) and isinstance(selectable.term, Literal)


def _named(output: Output, selector: Selector) -> Output:
    if selector.alias is None:
        return output
    return Output(
        selector.alias, output.type, output.compute, output.aggregate, output.plain, output.finish
    )


def outputs(
    statement: Select, table: TableMetadata, evaluator: Evaluator | None = None
) -> list[Output]:
    """The result columns of ``statement`` (``*`` is every column in Cassandra's order).

    Plain columns may stand beside aggregates: like Cassandra, they show the first row's
    values. ``evaluator`` evaluates terms in selectors (none at PREPARE time).
    """
    if not statement.selectors:
        return [Output(c.name, c.type, _plain(c), plain=c.name) for c in table.columns]
    compiler = _Compiler(statement, table, evaluator or Evaluator([]))
    return [_named(compiler.compile(s.selectable), s) for s in statement.selectors]


def selector_markers(statement: Select, table: TableMetadata) -> list[tuple[Term, DataType]]:
    """The terms of the select clause with the types they receive (for bind markers)."""
    compiler = _Compiler(statement, table, Evaluator([]))
    for selector in statement.selectors:
        compiler.compile(selector.selectable)
    return compiler.markers


def result_columns(statement: Select, table: TableMetadata) -> tuple[ColumnSpec, ...]:
    """Result metadata of ``statement`` (SELECT JSON: the one ``[json]`` text column)."""
    if statement.json:
        outputs(statement, table)  # the selectors are checked all the same
        return (
            ColumnSpec(keyspace=table.keyspace, table=table.name, name=JSON_COLUMN, type=_TEXT),
        )
    return tuple(
        ColumnSpec(keyspace=table.keyspace, table=table.name, name=o.name, type=o.type)
        for o in outputs(statement, table)
    )


def json_rows(
    outs: list[Output], rows: list[tuple[bytes | None, ...]]
) -> list[tuple[bytes | None, ...]]:
    """SELECT JSON: each result row as one JSON object text."""
    names = [o.name for o in outs]
    types = [o.type for o in outs]
    return [
        (
            row_to_json(names, [to_json(v, t) for v, t in zip(row, types, strict=True)]).encode(
                "utf-8"
            ),
        )
        for row in rows
    ]


__all__ = [
    "JSON_COLUMN",
    "Compute",
    "Output",
    "json_rows",
    "outputs",
    "result_columns",
    "selector_markers",
]
