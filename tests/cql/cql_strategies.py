"""Hypothesis strategies for CQL ASTs (``cassflow.cql``): SELECT, INSERT, UPDATE and DELETE
built from random names (plain, keywords, mixed case, anything quoted), literals of every
kind, bind markers, collections, function calls and casts.

Only trees the parser can produce are generated (CQL has no grouping parentheses, so
arithmetic is left-associative with ``* / %`` under ``+ -``). Bind markers are generated with
a placeholder index and renumbered in text order by :func:`renumber`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from cassflow.cql import (
    Addition,
    BinaryOperation,
    BindMarker,
    CastSelector,
    CastTerm,
    CollectionType,
    ColumnCondition,
    ColumnSelector,
    CountRowsSelector,
    CqlType,
    Delete,
    Deletion,
    ElementRelation,
    ElementSelector,
    FieldSelector,
    FunctionCall,
    FunctionSelector,
    Insert,
    InValues,
    ListLiteral,
    Literal,
    LiteralKind,
    MapLiteral,
    MultiColumnRelation,
    NativeType,
    Negation,
    Node,
    Null,
    Operator,
    Ordering,
    Prepend,
    QualifiedName,
    Select,
    Selector,
    SetElement,
    SetField,
    SetLiteral,
    SetValue,
    SingleColumnRelation,
    Subtraction,
    Term,
    TermSelector,
    TokenRelation,
    TupleLiteral,
    TupleType,
    TypeCast,
    UdtLiteral,
    Update,
    UserType,
    Using,
    WritetimeKind,
    WritetimeSelector,
)
from cassflow.cql._keywords import KEYWORDS

# -- names -----------------------------------------------------------------------------

names = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(sorted(KEYWORDS)),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_ ]{0,8}", fullmatch=True),
    st.text(min_size=1, max_size=6),
)
qualified_names = st.builds(QualifiedName, keyspace=st.none() | names, name=names)

# -- literals --------------------------------------------------------------------------

_DURATIONS = ["1h30m", "12mo3d", "-5s", "P1Y2M", "PT10S", "P2W", "P0001-02-03T04:05:06", "3µs"]

literals = st.one_of(
    st.text(max_size=8).map(lambda t: Literal(kind=LiteralKind.STRING, text=t)),
    st.integers().map(lambda i: Literal(kind=LiteralKind.INTEGER, text=str(i))),
    st.floats(allow_nan=False, allow_infinity=False).map(
        lambda f: Literal(kind=LiteralKind.FLOAT, text=repr(f))
    ),
    st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(
        lambda t: Literal(kind=LiteralKind.FLOAT, text=t)
    ),
    st.sampled_from(["true", "FALSE", "True"]).map(
        lambda t: Literal(kind=LiteralKind.BOOLEAN, text=t)
    ),
    st.sampled_from(_DURATIONS).map(lambda t: Literal(kind=LiteralKind.DURATION, text=t)),
    st.uuids().map(lambda u: Literal(kind=LiteralKind.UUID, text=str(u))),
    st.binary(max_size=4).map(lambda b: Literal(kind=LiteralKind.HEX, text="0x" + b.hex())),
)
markers = st.builds(BindMarker, index=st.just(-1), name=st.none() | names)

# -- types -----------------------------------------------------------------------------

native_types = st.sampled_from(
    ["int", "bigint", "text", "ascii", "blob", "boolean", "uuid", "timestamp", "float"]
).map(lambda n: NativeType(name=n))


def _types(inner: st.SearchStrategy[CqlType]) -> st.SearchStrategy[CqlType]:
    return st.one_of(
        st.builds(
            CollectionType,
            kind=st.sampled_from(["list", "set"]),
            params=st.tuples(inner),
            frozen=st.booleans(),
        ),
        st.builds(
            CollectionType,
            kind=st.just("map"),
            params=st.tuples(inner, inner),
            frozen=st.booleans(),
        ),
        st.builds(TupleType, params=st.lists(inner, min_size=1, max_size=3).map(tuple)),
    )


cql_types: st.SearchStrategy[CqlType] = st.recursive(
    native_types
    | st.builds(UserType, keyspace=st.none() | names, name=names, frozen=st.booleans()),
    _types,
    max_leaves=4,
)

# -- terms -----------------------------------------------------------------------------


def _simple_terms(inner: st.SearchStrategy[Term]) -> st.SearchStrategy[Term]:
    items = st.lists(inner, max_size=3).map(tuple)
    non_empty = st.lists(inner, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        st.builds(ListLiteral, items=items),
        st.builds(SetLiteral, items=items),
        st.builds(
            MapLiteral, entries=st.lists(st.tuples(inner, inner), min_size=1, max_size=2).map(tuple)
        ),
        st.builds(TupleLiteral, items=non_empty),
        st.builds(
            UdtLiteral, fields=st.lists(st.tuples(names, inner), min_size=1, max_size=2).map(tuple)
        ),
        st.builds(FunctionCall, function=qualified_names, args=items),
    )


simple_terms: st.SearchStrategy[Term] = st.recursive(
    literals | markers | st.just(Null()), _simple_terms, max_leaves=5
)
casts = st.one_of(
    st.builds(TypeCast, type=cql_types, term=simple_terms),
    st.builds(CastTerm, term=simple_terms, type=native_types),
)
groups = st.one_of(simple_terms, casts, st.builds(Negation, term=simple_terms))


@st.composite
def terms(draw: st.DrawFn) -> Term:
    """Left-associative arithmetic over (negated) simple terms."""
    left: Term = draw(groups)
    for _ in range(draw(st.integers(0, 2))):
        right: Term = draw(groups)
        for _ in range(draw(st.integers(0, 1))):
            right = BinaryOperation(
                operator=draw(st.sampled_from("*/%")), left=right, right=draw(groups)
            )
        if isinstance(left, BinaryOperation) and left.operator in "+-":
            op = draw(st.sampled_from("+-"))
        else:
            op = draw(st.sampled_from("+-*/%"))
            if op in "*/%":
                right = draw(groups)
        left = BinaryOperation(operator=op, left=left, right=right)
    return left


# -- clauses ---------------------------------------------------------------------------

comparisons = st.sampled_from(
    [Operator.EQ, Operator.NEQ, Operator.LT, Operator.LTE, Operator.GT, Operator.GTE]
)
in_values = st.one_of(markers, st.builds(InValues, items=st.lists(terms(), max_size=3).map(tuple)))

relations = st.one_of(
    st.builds(SingleColumnRelation, column=names, operator=comparisons, value=terms()),
    st.builds(SingleColumnRelation, column=names, operator=st.just(Operator.IN), value=in_values),
    st.builds(
        SingleColumnRelation,
        column=names,
        operator=st.sampled_from([Operator.CONTAINS, Operator.CONTAINS_KEY, Operator.LIKE]),
        value=terms(),
    ),
    st.builds(
        SingleColumnRelation, column=names, operator=st.just(Operator.IS_NOT), value=st.just(Null())
    ),
    st.builds(ElementRelation, column=names, key=terms(), operator=comparisons, value=terms()),
    st.builds(
        MultiColumnRelation,
        columns=st.lists(names, min_size=1, max_size=3).map(tuple),
        operator=comparisons,
        value=markers
        | st.builds(TupleLiteral, items=st.lists(terms(), min_size=1, max_size=3).map(tuple)),
    ),
    st.builds(
        MultiColumnRelation,
        columns=st.lists(names, min_size=1, max_size=2).map(tuple),
        operator=st.just(Operator.IN),
        value=markers
        | st.builds(
            InValues,
            items=st.lists(
                st.builds(TupleLiteral, items=st.lists(terms(), min_size=1, max_size=2).map(tuple)),
                max_size=2,
            ).map(tuple),
        )
        | st.builds(InValues, items=st.lists(markers, min_size=1, max_size=2).map(tuple)),
    ),
    st.builds(
        TokenRelation,
        columns=st.lists(names, min_size=1, max_size=2).map(tuple),
        operator=comparisons,
        value=terms(),
    ),
)
where_clauses = st.lists(relations, min_size=1, max_size=3).map(tuple)

conditions = st.one_of(
    st.builds(
        ColumnCondition,
        column=names,
        operator=comparisons,
        value=terms(),
        element=st.none() | terms(),
    ),
    st.builds(ColumnCondition, column=names, operator=comparisons, value=terms(), field=names),
    st.builds(ColumnCondition, column=names, operator=st.just(Operator.IN), value=in_values),
    st.builds(
        ColumnCondition,
        column=names,
        operator=st.sampled_from([Operator.CONTAINS, Operator.CONTAINS_KEY]),
        value=terms(),
    ),
)
int_values = markers | st.integers().map(lambda i: Literal(kind=LiteralKind.INTEGER, text=str(i)))
usings = st.builds(Using, ttl=st.none() | int_values, timestamp=st.none() | int_values)

# -- selectors -------------------------------------------------------------------------

column_selectors = st.builds(ColumnSelector, name=names)
selectables = st.one_of(
    column_selectors,
    st.builds(TermSelector, term=literals | markers),
    st.builds(
        FunctionSelector,
        function=qualified_names,
        args=st.lists(column_selectors, max_size=2).map(tuple),
    ),
    st.just(CountRowsSelector()),
    st.builds(WritetimeSelector, kind=st.sampled_from(WritetimeKind), selector=column_selectors),
    st.builds(CastSelector, selector=column_selectors, type=native_types),
    st.builds(FieldSelector, selector=column_selectors, field=names),
    st.builds(ElementSelector, selector=column_selectors, key=literals),
)
selectors = st.builds(Selector, selectable=selectables, alias=st.none() | names)

# -- statements ------------------------------------------------------------------------

selects = st.builds(
    Select,
    table=qualified_names,
    selectors=st.lists(selectors, max_size=3).map(tuple),
    json=st.booleans(),
    distinct=st.booleans(),
    where=st.lists(relations, max_size=3).map(tuple),
    order_by=st.lists(
        st.builds(Ordering, column=names, descending=st.booleans(), ann=st.none() | terms()),
        max_size=2,
    ).map(tuple),
    per_partition_limit=st.none() | int_values,
    limit=st.none() | int_values,
    allow_filtering=st.booleans(),
)


@st.composite
def inserts(draw: st.DrawFn) -> Insert:
    table = draw(qualified_names)
    if draw(st.booleans()):
        json = draw(
            markers | st.text(max_size=8).map(lambda t: Literal(kind=LiteralKind.STRING, text=t))
        )
        return Insert(
            table=table,
            json=json,
            default_unset=draw(st.booleans()),
            if_not_exists=draw(st.booleans()),
            using=draw(usings),
        )
    return Insert(
        table=table,
        columns=tuple(draw(st.lists(names, min_size=1, max_size=3))),
        values=tuple(draw(st.lists(terms(), min_size=1, max_size=3))),
        if_not_exists=draw(st.booleans()),
        using=draw(usings),
    )


@st.composite
def updates(draw: st.DrawFn) -> Update:
    columns = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    operations = []
    for column in columns:
        kind = draw(
            st.sampled_from([SetValue, Addition, Subtraction, Prepend, SetElement, SetField])
        )
        if kind is SetElement:
            operations.append(SetElement(column=column, key=draw(terms()), value=draw(terms())))
        elif kind is SetField:
            operations.append(SetField(column=column, field=draw(names), value=draw(terms())))
        else:
            operations.append(kind(column=column, value=draw(terms())))
    if_exists = draw(st.booleans())
    return Update(
        table=draw(qualified_names),
        using=draw(usings),
        operations=tuple(operations),
        where=draw(where_clauses),
        if_exists=if_exists,
        conditions=() if if_exists else tuple(draw(st.lists(conditions, max_size=2))),
    )


deletions = st.one_of(
    st.builds(Deletion, column=names),
    st.builds(Deletion, column=names, element=terms()),
    st.builds(Deletion, column=names, field=names),
)


@st.composite
def deletes(draw: st.DrawFn) -> Delete:
    if_exists = draw(st.booleans())
    return Delete(
        table=draw(qualified_names),
        deletions=tuple(draw(st.lists(deletions, max_size=3))),
        timestamp=draw(st.none() | int_values),
        where=draw(where_clauses),
        if_exists=if_exists,
        conditions=() if if_exists else tuple(draw(st.lists(conditions, max_size=2))),
    )


statements = st.one_of(selects, inserts(), updates(), deletes())

# -- marker numbering ------------------------------------------------------------------

# Fields in the order the renderer writes them, where it differs from the declaration order.
_TEXT_ORDER = {
    Update: ("table", "using", "operations", "where", "conditions"),
    Delete: ("table", "deletions", "timestamp", "where", "conditions"),
    ColumnCondition: ("column", "element", "field", "operator", "value"),
}


def renumber(node: Any) -> Any:
    """``node`` with its bind markers numbered in text order, as the parser numbers them."""
    counter = iter(range(1 << 30))

    def walk(item: Any) -> Any:
        if isinstance(item, BindMarker):
            return BindMarker(index=next(counter), name=item.name)
        if isinstance(item, tuple):
            return tuple(walk(i) for i in item)
        if isinstance(item, Node) and dataclasses.is_dataclass(item):
            order = _TEXT_ORDER.get(type(item), tuple(f.name for f in dataclasses.fields(item)))
            changes = {name: walk(getattr(item, name)) for name in order}
            return dataclasses.replace(item, **changes)
        return item

    return walk(node)
