"""Terms, relations and selectors: the AST each form parses to."""

from __future__ import annotations

import pytest

from cassflow.cql import (
    BinaryOperation,
    BindMarker,
    CastSelector,
    CastTerm,
    CollectionType,
    ColumnSelector,
    CountRowsSelector,
    CustomIndexExpression,
    ElementRelation,
    ElementSelector,
    FieldSelector,
    FunctionCall,
    FunctionSelector,
    InValues,
    ListLiteral,
    ListSelector,
    Literal,
    LiteralKind,
    MapLiteral,
    MapSelector,
    MultiColumnRelation,
    NativeType,
    Negation,
    NegationSelector,
    Null,
    OperationSelector,
    Operator,
    Ordering,
    QualifiedName,
    Select,
    Selectable,
    SetLiteral,
    SetSelector,
    SingleColumnRelation,
    SliceSelector,
    Term,
    TermSelector,
    TokenRelation,
    TupleLiteral,
    TupleSelector,
    TypeCast,
    TypeHintSelector,
    UdtLiteral,
    UserType,
    WritetimeKind,
    WritetimeSelector,
    parse_statement,
)


def term(text: str) -> Term:
    parsed = parse_statement(f"SELECT * FROM t WHERE c = {text}")
    assert isinstance(parsed, Select)
    relation = parsed.where[0]
    assert isinstance(relation, SingleColumnRelation)
    return relation.value


def lit(kind: LiteralKind, text: str) -> Literal:
    return Literal(kind=kind, text=text)


INT = LiteralKind.INTEGER
ONE, TWO = lit(INT, "1"), lit(INT, "2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'a''b'", lit(LiteralKind.STRING, "a'b")),
        ("$$a'b$$", lit(LiteralKind.STRING, "a'b")),
        ("-12", lit(INT, "-12")),
        ("1.5E3", lit(LiteralKind.FLOAT, "1.5E3")),
        ("nan", lit(LiteralKind.FLOAT, "NaN")),
        ("-NAN", lit(LiteralKind.FLOAT, "NaN")),
        ("INFINITY", lit(LiteralKind.FLOAT, "Infinity")),
        ("-Infinity", lit(LiteralKind.FLOAT, "-Infinity")),
        ("TRUE", lit(LiteralKind.BOOLEAN, "TRUE")),
        ("0xFF", lit(LiteralKind.HEX, "0xFF")),
        ("1h30m", lit(LiteralKind.DURATION, "1h30m")),
        ("P1W", lit(LiteralKind.DURATION, "P1W")),
        (
            "01234567-89ab-cdef-0123-456789abcdef",
            lit(LiteralKind.UUID, "01234567-89ab-cdef-0123-456789abcdef"),
        ),
        ("NULL", Null()),
        ("?", BindMarker(index=0)),
        (":name", BindMarker(index=0, name="name")),
        (':"Name"', BindMarker(index=0, name="Name")),
        ("[1, 2]", ListLiteral(items=(ONE, TWO))),
        ("[]", ListLiteral(items=())),
        ("{1, 2}", SetLiteral(items=(ONE, TWO))),
        ("{}", SetLiteral(items=())),
        ("{1: 2}", MapLiteral(entries=((ONE, TWO),))),
        ("(1, 2)", TupleLiteral(items=(ONE, TWO))),
        ("(1)", TupleLiteral(items=(ONE,))),
        ('{a: 1, "B": 2}', UdtLiteral(fields=(("a", ONE), ("B", TWO)))),
        ("now()", FunctionCall(function=QualifiedName(name="now"))),
        (
            "ks.f(1, ?)",
            FunctionCall(
                function=QualifiedName(keyspace="ks", name="f"), args=(ONE, BindMarker(index=0))
            ),
        ),
        ("token(1)", FunctionCall(function=QualifiedName(name="token"), args=(ONE,))),
        ('"F"()', FunctionCall(function=QualifiedName(name="F"))),
        ("(int) ?", TypeCast(type=NativeType(name="int"), term=BindMarker(index=0))),
        (
            "(frozen<list<text>>) ['a']",
            TypeCast(
                type=CollectionType(kind="list", params=(NativeType(name="text"),), frozen=True),
                term=ListLiteral(items=(lit(LiteralKind.STRING, "a"),)),
            ),
        ),
        (
            "(ks.addr) {a: 1}",
            TypeCast(
                type=UserType(keyspace="ks", name="addr"), term=UdtLiteral(fields=(("a", ONE),))
            ),
        ),
        ("CAST(1 AS text)", CastTerm(term=ONE, type=NativeType(name="text"))),
        ("- ?", Negation(term=BindMarker(index=0))),
        ("- -1", Negation(term=lit(INT, "-1"))),
        (
            "1 + 2 * ?",
            BinaryOperation(
                operator="+",
                left=ONE,
                right=BinaryOperation(operator="*", left=TWO, right=BindMarker(index=0)),
            ),
        ),
        (
            "1 - 2 - 1",
            BinaryOperation(
                operator="-", left=BinaryOperation(operator="-", left=ONE, right=TWO), right=ONE
            ),
        ),
        ("2 % 1", BinaryOperation(operator="%", left=TWO, right=ONE)),
    ],
)
def test_terms(text: str, expected: Term) -> None:
    assert term(text) == expected
    assert term(expected.to_cql()) == expected


def relations(text: str) -> tuple[object, ...]:
    parsed = parse_statement(f"SELECT * FROM t WHERE {text}")
    assert isinstance(parsed, Select)
    return parsed.where


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *(
            (f"a {op.value} 1", SingleColumnRelation(column="a", operator=op, value=ONE))
            for op in (
                Operator.EQ,
                Operator.NEQ,
                Operator.LT,
                Operator.LTE,
                Operator.GT,
                Operator.GTE,
            )
        ),
        (
            "a IN (1, 2)",
            SingleColumnRelation(
                column="a", operator=Operator.IN, value=InValues(items=(ONE, TWO))
            ),
        ),
        (
            "a IN ()",
            SingleColumnRelation(column="a", operator=Operator.IN, value=InValues(items=())),
        ),
        (
            "a IN ?",
            SingleColumnRelation(column="a", operator=Operator.IN, value=BindMarker(index=0)),
        ),
        (
            "a IN :xs",
            SingleColumnRelation(
                column="a", operator=Operator.IN, value=BindMarker(index=0, name="xs")
            ),
        ),
        ("a CONTAINS 1", SingleColumnRelation(column="a", operator=Operator.CONTAINS, value=ONE)),
        (
            "a CONTAINS KEY 1",
            SingleColumnRelation(column="a", operator=Operator.CONTAINS_KEY, value=ONE),
        ),
        (
            "a LIKE 'x%'",
            SingleColumnRelation(
                column="a", operator=Operator.LIKE, value=lit(LiteralKind.STRING, "x%")
            ),
        ),
        ("a IS NOT NULL", SingleColumnRelation(column="a", operator=Operator.IS_NOT, value=Null())),
        ('"" = 1', SingleColumnRelation(column="", operator=Operator.EQ, value=ONE)),
        ("m[1] = 2", ElementRelation(column="m", key=ONE, operator=Operator.EQ, value=TWO)),
        (
            "(a, b) = (1, 2)",
            MultiColumnRelation(
                columns=("a", "b"), operator=Operator.EQ, value=TupleLiteral(items=(ONE, TWO))
            ),
        ),
        (
            "(a, b) > ?",
            MultiColumnRelation(
                columns=("a", "b"), operator=Operator.GT, value=BindMarker(index=0)
            ),
        ),
        (
            "(a) IN ((1), (2))",
            MultiColumnRelation(
                columns=("a",),
                operator=Operator.IN,
                value=InValues(items=(TupleLiteral(items=(ONE,)), TupleLiteral(items=(TWO,)))),
            ),
        ),
        (
            "(a, b) IN (?, ?)",
            MultiColumnRelation(
                columns=("a", "b"),
                operator=Operator.IN,
                value=InValues(items=(BindMarker(index=0), BindMarker(index=1))),
            ),
        ),
        (
            "(a, b) IN ?",
            MultiColumnRelation(
                columns=("a", "b"), operator=Operator.IN, value=BindMarker(index=0)
            ),
        ),
        (
            "(a, b) IN ()",
            MultiColumnRelation(columns=("a", "b"), operator=Operator.IN, value=InValues(items=())),
        ),
        (
            "token(a, b) > token(1, 2)",
            TokenRelation(
                columns=("a", "b"),
                operator=Operator.GT,
                value=FunctionCall(function=QualifiedName(name="token"), args=(ONE, TWO)),
            ),
        ),
        (
            "expr(idx, 'q')",
            CustomIndexExpression(
                index=QualifiedName(name="idx"), value=lit(LiteralKind.STRING, "q")
            ),
        ),
        ("((a = 1))", SingleColumnRelation(column="a", operator=Operator.EQ, value=ONE)),
    ],
)
def test_relations(text: str, expected: object) -> None:
    assert relations(text) == (expected,)


def selector(text: str) -> Selectable:
    parsed = parse_statement(f"SELECT {text} FROM t")
    assert isinstance(parsed, Select)
    return parsed.selectors[0].selectable


A, B = ColumnSelector(name="a"), ColumnSelector(name="b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", A),
        ('"A"', ColumnSelector(name="A")),
        ("count(*)", CountRowsSelector()),
        ("COUNT(*)", CountRowsSelector()),
        (
            "count(1)",
            FunctionSelector(function=QualifiedName(name="count"), args=(TermSelector(term=ONE),)),
        ),
        ("count(a)", FunctionSelector(function=QualifiedName(name="count"), args=(A,))),
        ("writetime(a)", WritetimeSelector(kind=WritetimeKind.WRITETIME, selector=A)),
        ("maxwritetime(a)", WritetimeSelector(kind=WritetimeKind.MAXWRITETIME, selector=A)),
        ("TTL(a)", WritetimeSelector(kind=WritetimeKind.TTL, selector=A)),
        (
            "writetime(m[1])",
            WritetimeSelector(
                kind=WritetimeKind.WRITETIME,
                selector=ElementSelector(selector=ColumnSelector(name="m"), key=ONE),
            ),
        ),
        ("token(a, b)", FunctionSelector(function=QualifiedName(name="token"), args=(A, B))),
        ("ks.f(a)", FunctionSelector(function=QualifiedName(keyspace="ks", name="f"), args=(A,))),
        ("CAST(a AS text)", CastSelector(selector=A, type=NativeType(name="text"))),
        ("a.b", FieldSelector(selector=A, field="b")),
        ("a[1]", ElementSelector(selector=A, key=ONE)),
        ("a[1..2]", SliceSelector(selector=A, start=ONE, end=TWO)),
        ("a[..2]", SliceSelector(selector=A, end=TWO)),
        ("a[1..]", SliceSelector(selector=A, start=ONE)),
        (
            "(int) ?",
            TypeHintSelector(
                type=NativeType(name="int"), selector=TermSelector(term=BindMarker(index=0))
            ),
        ),
        ("1", TermSelector(term=ONE)),
        ("NULL", TermSelector(term=Null())),
        ("- a", NegationSelector(selector=A)),
        ("a + b", OperationSelector(operator="+", left=A, right=B)),
        ("[a, b]", ListSelector(items=(A, B))),
        ("{a, b}", SetSelector(items=(A, B))),
        ("{}", SetSelector(items=())),
        ("{a: b}", MapSelector(entries=((A, B),))),
        ("(a, b)", TupleSelector(items=(A, B))),
        ("(a)", TupleSelector(items=(A,))),
    ],
)
def test_selectors(text: str, expected: Selectable) -> None:
    assert selector(text) == expected
    assert selector(expected.to_cql()) == expected


def test_alias_and_order() -> None:
    parsed = parse_statement('SELECT a AS "X" FROM t ORDER BY a ASC, b DESC')
    assert isinstance(parsed, Select)
    assert parsed.selectors[0].alias == "X"
    assert parsed.order_by == (Ordering(column="a"), Ordering(column="b", descending=True))
