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
    BindMarker,
    CastSelector,
    ColumnSelector,
    CountRowsSelector,
    ElementSelector,
    FieldSelector,
    FunctionSelector,
    ListSelector,
    Literal,
    MapSelector,
    NegationSelector,
    Null,
    OperationSelector,
    Select,
    Selectable,
    Selector,
    SetSelector,
    SliceSelector,
    Term,
    TermSelector,
    TupleSelector,
    TypeHintSelector,
    WritetimeKind,
    WritetimeSelector,
)
from cassflow.devserver import _arithmetic as arithmetic
from cassflow.devserver._aggregates import AGGREGATES, Aggregate, aggregate, count_rows
from cassflow.devserver._errors import InvalidRequestError
from cassflow.devserver._functions import (
    FunctionFailureError,
    ScalarFunction,
    cast_function,
    overloads,
)
from cassflow.devserver._json_values import row_to_json, to_json
from cassflow.devserver._keycodec import partition_key, token
from cassflow.devserver._numbers import NUMERIC
from cassflow.devserver._schema import ColumnKind, ColumnMetadata, TableMetadata
from cassflow.devserver._schema_types import cql_type, vector_parts
from cassflow.devserver._select_elements import Extract, Selection, element, slice_of
from cassflow.devserver._select_fields import field_of, field_output, field_position
from cassflow.devserver._select_terms import (
    as_term,
    collection_builder,
    collection_name,
    collection_type,
    preferred_type,
    vector_literal_type,
)
from cassflow.devserver._values import Evaluator
from cassflow.devserver._vectors import SIMILARITY_FUNCTIONS, similarity
from cassflow.devserver._where import known_column
from cassflow.protocol import UNSET, ColumnSpec, DataType, TypeCode

#: (engine row, token, partition key) -> serialized value.
Compute = Callable[[Any, int, bytes], bytes | None]

_BIGINT = DataType(TypeCode.BIGINT)
_INT = DataType(TypeCode.INT)
_TEXT = DataType(TypeCode.VARCHAR)
_FLOAT = DataType(TypeCode.FLOAT)
JSON_COLUMN = "[json]"
#: The name of the receiver of every term in a select clause (Selectable.WithTerm).
SELECTION_MARKER = "[selection]"


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
    #: A term: the same value whatever the row.
    constant: bool = False


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

    def __init__(
        self, statement: Select, table: TableMetadata, evaluator: Evaluator, executing: bool
    ) -> None:
        self.statement = statement
        self.table = table
        self.evaluator = evaluator
        #: Whether the statement runs (bound values known) rather than being prepared.
        self.executing = executing
        #: The bind markers of the selectors and the types they receive.
        #: Their receivers' names: ``[selection]`` as Cassandra names every selector term,
        #: ``key(m)``/``value(s)`` for element and slice selections.
        self.markers: list[tuple[Term, DataType, str]] = []

    def column(self, name: str) -> ColumnMetadata:
        return known_column(self.table, name)

    def compile(self, selectable: Selectable, expected: DataType | None = None) -> Output:
        constant = as_term(selectable)
        if constant is not None and not isinstance(selectable, TermSelector):
            selectable = TermSelector(term=constant)  # [1, 2] and the like: a literal
        if isinstance(selectable, ColumnSelector):
            return self._column(selectable)
        if isinstance(selectable, WritetimeSelector):
            return self._writetime(selectable)
        if isinstance(selectable, CountRowsSelector):
            return Output("count", _BIGINT, _always, aggregate=count_rows())
        if isinstance(selectable, FieldSelector):
            if not _on_column(selectable):
                return self._field(selectable)
            name, dtype, compute = field_output(selectable, self.column)
            return Output(name, dtype, compute)
        if isinstance(selectable, ElementSelector | SliceSelector):
            return self._elements(selectable)
        if isinstance(selectable, OperationSelector):
            return self._operation(selectable)
        if isinstance(selectable, NegationSelector):
            return self._negation(selectable)
        if isinstance(selectable, TupleSelector) and len(selectable.items) == 1:
            return self.compile(selectable.items[0], expected)  # a selector in parentheses
        if isinstance(selectable, ListSelector | SetSelector | TupleSelector | MapSelector):
            return self._collection(selectable, expected)
        if isinstance(selectable, TypeHintSelector):
            return self._hinted(selectable)
        if isinstance(selectable, TermSelector):
            return self._term(selectable, expected, None)
        hinted_term = (
            as_term(selectable.selector) if isinstance(selectable, TypeHintSelector) else None
        )
        if isinstance(selectable, TypeHintSelector) and hinted_term is not None:
            hinted = selectable.type.to_data_type()
            term = TermSelector(term=hinted_term)
            return self._term(term, hinted, f"({selectable.type.to_cql()})")
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

    def _field(self, selectable: FieldSelector) -> Output:
        inner = self.compile(selectable.selector)
        dtype = inner.type
        position = field_position(inner.name, dtype, True, selectable.field)

        def field(value: bytes | None) -> bytes | None:
            return field_of(value, dtype, position)

        name = f"{inner.name}.{selectable.field}"
        return _applied(inner, name, dtype.params[position], field)

    def _elements(self, selectable: ElementSelector | SliceSelector) -> Output:
        inner = self.compile(selectable.selector)
        column = None if inner.plain is None else self.table.column(inner.plain)
        whole = column is not None and column.is_multi_cell
        frozen = column.frozen if column is not None else True
        selection: Selection
        if isinstance(selectable, ElementSelector):
            selection = element(inner.name, inner.type, frozen, selectable.key)
        else:
            selection = slice_of(
                inner.name, inner.type, frozen, selectable.start, selectable.end, whole
            )
        self.markers.extend(selection.markers)
        extract: Extract
        if self.executing:
            extract = selection.bind(self.evaluator.value)  # errors before any row, as Cassandra
        else:
            bound: list[Extract] = []
            evaluate = self.evaluator.value

            def extract(value: bytes | None) -> bytes | None:
                if not bound:
                    bound.append(selection.bind(evaluate))
                return bound[0](value)

        return _applied(inner, selection.name, selection.type, extract)

    def _hinted(self, selectable: TypeHintSelector) -> Output:
        """``(type) selector`` over a selector that is not a constant: the value must
        already be of that type (Selectable.WithTypeHint)."""
        hinted = selectable.type.to_data_type()
        text = f"({selectable.type.to_cql()}){selectable.selector.to_cql()}"
        inner = self.compile(selectable.selector, hinted)
        if cql_type(inner.type, frozen=True) != cql_type(hinted, frozen=True):
            raise InvalidRequestError(
                f"Cannot assign value {text} to {text} of type {cql_type(hinted, frozen=True)}"
            )
        return _applied(inner, text, hinted, lambda value: value)

    def _collection(
        self,
        selectable: ListSelector | SetSelector | TupleSelector | MapSelector,
        expected: DataType | None,
    ) -> Output:
        """``[a, b]``, ``{a, b}``, ``(a, b)``, ``{k: v}`` built from selectors that are not all
        constants: the type is the first known item type's (every item's for a tuple), else
        the expected one, as Selectable.WithList/WithSet/WithTuple/WithMapOrUdt type them."""
        pairs = isinstance(selectable, MapSelector)
        items = (
            [x for entry in selectable.entries for x in entry]
            if isinstance(selectable, MapSelector)
            else list(selectable.items)
        )
        known = [None if as_term(item) is not None else self.compile(item) for item in items]
        dtype = collection_type(selectable, [k.type if k else None for k in known], expected)
        if dtype is None:
            raise InvalidRequestError(
                f"Cannot infer type for term {selectable.to_cql()} in selection clause (try "
                "using a cast to force a type)"
            )
        if pairs:
            item_types = list(dtype.params) * (len(items) // 2)
        elif dtype.code is TypeCode.TUPLE:
            item_types = list(dtype.params)
        else:
            item_types = [dtype.params[0]] * len(items)
        compiled = [
            k if k is not None else self.scalar(item, t)
            for k, item, t in zip(known, items, item_types, strict=True)
        ]
        computes = [c.compute for c in compiled]
        build = collection_builder(dtype)
        name = collection_name(selectable, [c.name for c in compiled])

        def compute(row: Any, tok: int, pk: bytes) -> bytes | None:
            return build([c(row, tok, pk) for c in computes])

        return Output(name, dtype, compute)

    def _operand(self, selectable: Selectable) -> tuple[Output | None, DataType | None]:
        """A compiled operand (None for a term) and its type (None when only the operation
        can tell it: bind markers and NULL)."""
        if isinstance(selectable, TermSelector):
            return None, preferred_type(selectable.term)
        output = self.compile(selectable)
        return output, output.type

    def _operation(self, selectable: OperationSelector) -> Output:
        operator = selectable.operator
        (left, left_type), (right, right_type) = (
            self._operand(selectable.left),
            self._operand(selectable.right),
        )
        names = [
            o.name if o is not None else s.to_cql()
            for o, s in ((left, selectable.left), (right, selectable.right))
        ]
        if left_type is None or right_type is None:
            left_type, right_type = arithmetic.infer_operands(
                operator, left_type, right_type, names
            )
        result = arithmetic.signature(operator, left_type, right_type)
        if result is None:
            raise InvalidRequestError(
                f"the '{operator}' operation is not supported between {names[0]} and {names[1]}"
            )
        left_out = left if left is not None else self.scalar(selectable.left, left_type)
        right_out = right if right is not None else self.scalar(selectable.right, right_type)
        if result.code in (TypeCode.TIMESTAMP, TypeCode.DATE):
            apply = arithmetic.temporal(operator, result)
        else:
            apply = arithmetic.numeric(operator, left_type, right_type, result)
        function = arithmetic.FUNCTION_NAMES[operator]
        arg_types = (left_type, right_type)

        def operate(a: bytes | None, b: bytes | None) -> bytes | None:
            if not a or not b:
                return None
            try:
                return apply(a, b)
            except arithmetic.OperationError as exc:
                raise FunctionFailureError(
                    arithmetic.failure_text(operator, arg_types[0], arg_types[1], exc),
                    function,
                    tuple(cql_type(t, frozen=True) for t in arg_types),
                ) from None

        return _combine(f"{names[0]} {operator} {names[1]}", result, left_out, right_out, operate)

    def _negation(self, selectable: NegationSelector) -> Output:
        inner, dtype = self._operand(selectable.selector)
        text = inner.name if inner is not None else selectable.selector.to_cql()
        if dtype is None:
            raise InvalidRequestError("Ambiguous negation: use type casts to disambiguate")
        if dtype.code not in NUMERIC:
            raise InvalidRequestError(
                "Invalid call to function system._negate, none of its type signatures match "
                f"(known type signatures: {arithmetic.negation_signatures()})"
            )
        if inner is None:
            inner = self.scalar(selectable.selector, dtype)
        apply = arithmetic.negate(dtype)

        def negated(value: bytes | None) -> bytes | None:
            return apply(value) if value else None

        return _applied(inner, f"-{text}", dtype, negated)

    def _writetime(self, selectable: WritetimeSelector) -> Output:
        if not isinstance(selectable.selector, ColumnSelector):
            raise InvalidRequestError(
                f"The dev server does not support the selector {selectable.to_cql()} yet"
            )
        column = self.column(selectable.selector.name)
        is_ttl = selectable.kind is WritetimeKind.TTL
        is_max = selectable.kind is WritetimeKind.MAXWRITETIME
        # Cassandra 4.1 names writetime "writeTime" in these errors; maxwritetime is 5.0's.
        function = "ttl" if is_ttl else "maxwritetime" if is_max else "writeTime"
        if column.is_primary_key:
            raise InvalidRequestError(
                f"Cannot use selection function {function} on PRIMARY KEY part {column.name}"
            )
        if column.is_multi_cell:
            if is_max:
                raise InvalidRequestError(
                    f"The dev server does not support the selector {selectable.to_cql()} on a "
                    "non-frozen column yet"
                )
            kind = "UDT" if column.type.code is TypeCode.UDT else "collection"
            raise InvalidRequestError(
                f"Cannot use selection function {function} on non-frozen {kind} {column.name}"
            )
        if is_max:
            # One cell: its greatest write time is its write time.
            return Output(f"maxwritetime({column.name})", _BIGINT, _cell_meta(column, 1))
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
        self.markers.append((term, dtype, SELECTION_MARKER))
        evaluator = self.evaluator
        cache: list[bytes | None] = []

        def compute(_row: Any, _token: int, _pk: bytes) -> bytes | None:
            if not cache:
                value = evaluator.value(term, dtype, "[selection]")
                cache.append(None if value is UNSET else value)
            result = cache[0]
            assert result is None or isinstance(result, bytes)
            return result

        return Output(text, dtype, compute, constant=True)

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
        # Unquoted names come lower-cased; a quoted "toJson" is not tojson, as in Cassandra.
        name = selectable.function.name
        if selectable.function.keyspace not in (None, "system"):
            raise InvalidRequestError(f"Unknown function '{_function_text(selectable)}'")
        args = selectable.args
        if name == "token":
            return self._token(selectable)
        if name == "tojson":
            return self._to_json(selectable)
        if name in SIMILARITY_FUNCTIONS:
            return self._similarity(selectable, name)
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
        """``token(a, b)``: Cassandra's TokenFct takes one argument per partition key column
        and hashes their values as the partition key's, whatever selectors give them."""
        key = self.table.partition_key
        names = [a.name if isinstance(a, ColumnSelector) else None for a in selectable.args]
        if names == [c.name for c in key]:
            return Output(f"system.token({', '.join(c.name for c in key)})", _BIGINT, _token_output)
        if len(selectable.args) != len(key):
            raise InvalidRequestError(
                f"Invalid number of arguments in call to function system.token: {len(key)} "
                f"required but {len(selectable.args)} provided"
            )
        args = [self.scalar(a, c.type) for a, c in zip(selectable.args, key, strict=True)]
        computes = [a.compute for a in args]

        def compute(row: Any, tok: int, pk: bytes) -> bytes | None:
            values = [c(row, tok, pk) for c in computes]
            if any(v is None for v in values):
                return None
            return struct.pack(">q", token(partition_key([v for v in values if v is not None])))

        return Output(f"system.token({', '.join(a.name for a in args)})", _BIGINT, compute)

    def _similarity(self, selectable: FunctionSelector, name: str) -> Output:
        """``similarity_cosine/euclidean/dot_product(a, b)`` of Cassandra 5.0 (VectorFcts)."""
        function = f"system.{name}"
        args = selectable.args
        if len(args) != 2:
            raise InvalidRequestError(
                f"Invalid number of arguments for function {function}. Expected 2 but found "
                f"{len(args)}"
            )
        known: list[Output | None] = []
        types: list[DataType | None] = []
        for arg in args:
            inferred = vector_literal_type(arg)
            if inferred is not None or isinstance(arg, TermSelector):
                known.append(None)
                types.append(inferred)
                continue
            output = self.compile(arg)
            column = None if output.plain is None else self.table.column(output.plain)
            parts = vector_parts(output.type)
            if parts is None or parts[0].code is not TypeCode.FLOAT:
                frozen = column.frozen if column is not None else True
                raise InvalidRequestError(
                    f"Function {function} requires a float vector argument, but found argument "
                    f"{output.name} of type {cql_type(output.type, frozen=frozen)}"
                )
            known.append(output)
            types.append(output.type)
        for index, arg in enumerate(args):
            if types[index] is None:
                other = types[1 - index]
                if other is None:
                    raise InvalidRequestError(
                        f"Cannot infer type of argument {arg.to_cql()} in call to function "
                        f"{function}"
                    )
                types[index] = other
        if vector_parts(types[0] or _FLOAT) != vector_parts(types[1] or _FLOAT):
            raise InvalidRequestError("All arguments must have the same vector dimensions")
        compiled = []
        for index, (arg, given, dtype) in enumerate(zip(args, known, types, strict=True)):
            if given is not None:
                compiled.append(given)
                continue
            assert dtype is not None
            self._check_assignable(arg, dtype, index, function)
            compiled.append(self.scalar(arg, dtype))

        def compute(value: bytes | None, other: bytes | None) -> bytes | None:
            if value is None or other is None:
                return None
            try:
                return similarity(name, value, other)
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None

        column_name = f"{function}({', '.join(o.name for o in compiled)})"
        return _combine(column_name, _FLOAT, compiled[0], compiled[1], compute)

    def _check_assignable(
        self, arg: Selectable, dtype: DataType, index: int, function: str
    ) -> None:
        """A constant argument must fit its parameter's type (FunctionResolver's 'Type error')."""
        term = as_term(arg)
        if term is None or isinstance(term, BindMarker | Null):
            return
        try:
            self.evaluator.value(term, dtype, "[selection]")
        except InvalidRequestError:
            raise InvalidRequestError(
                f"Type error: {arg.to_cql()} cannot be passed as argument {index} of function "
                f"{function} of type {cql_type(dtype, frozen=True)}"
            ) from None

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
            raise InvalidRequestError(f"Unknown function '{_function_text(selectable)}'")
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
        ] or [
            # No exact match: the overloads whose parameters can read the values (a blob
            # reads anything), as FunctionResolver keeps the weakly assignable ones.
            f
            for f in matching
            if all(k is None or _reads(t, k.type) for k, t in zip(known, f.arg_types, strict=True))
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


def _combine(
    name: str,
    dtype: DataType,
    left: Output,
    right: Output,
    fn: Callable[[bytes | None, bytes | None], bytes | None],
) -> Output:
    """``fn`` of two operands; one of them may be an aggregate when the other is constant."""
    if left.aggregate is None and right.aggregate is None:
        compute_left, compute_right = left.compute, right.compute

        def compute(row: Any, tok: int, pk: bytes) -> bytes | None:
            return fn(compute_left(row, tok, pk), compute_right(row, tok, pk))

        return Output(name, dtype, compute)
    if left.aggregate is not None and right.aggregate is None and _constant(right):
        constant = right.compute
        return _applied(left, name, dtype, lambda value: fn(value, constant({}, 0, b"")))
    if right.aggregate is not None and left.aggregate is None and _constant(left):
        constant = left.compute
        return _applied(right, name, dtype, lambda value: fn(constant({}, 0, b""), value))
    raise InvalidRequestError(
        f"The dev server does not support the selector {name} (an operation on aggregates) yet"
    )


def _constant(output: Output) -> bool:
    return output.constant


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


def _reads(parameter: DataType, value: DataType) -> bool:
    """Whether a parameter of type ``parameter`` takes a value of type ``value``
    (AbstractType.isValueCompatibleWith): equal types, any value for a blob, ascii for text."""
    if parameter == value or parameter.code is TypeCode.BLOB:
        return True
    return parameter.code is TypeCode.VARCHAR and value.code is TypeCode.ASCII


def _function_text(selectable: FunctionSelector) -> str:
    """The function's name as Cassandra's FunctionName writes it (never quoted)."""
    keyspace = selectable.function.keyspace
    name = selectable.function.name
    return name if keyspace is None else f"{keyspace}.{name}"


def _on_column(selectable: Selectable) -> bool:
    """Whether a field selection reads fields of a column (``u.a.b``), nothing else between."""
    while isinstance(selectable, FieldSelector):
        selectable = selectable.selector
    return isinstance(selectable, ColumnSelector)


def _is_term(selectable: Selectable) -> bool:
    return isinstance(selectable, TermSelector)


def _is_literal(selectable: Selectable) -> bool:
    return isinstance(selectable, TermSelector) and isinstance(selectable.term, Literal)


def _named(output: Output, selector: Selector) -> Output:
    if selector.alias is None:
        return output
    return Output(
        selector.alias,
        output.type,
        output.compute,
        output.aggregate,
        output.plain,
        output.finish,
        output.constant,
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
    compiler = _Compiler(statement, table, evaluator or Evaluator([]), evaluator is not None)
    return [_named(compiler.compile(s.selectable), s) for s in statement.selectors]


def selector_markers(statement: Select, table: TableMetadata) -> list[tuple[Term, DataType, str]]:
    """The terms of the select clause with the types they receive and their receivers'
    names (for bind markers)."""
    compiler = _Compiler(statement, table, Evaluator([]), False)
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
