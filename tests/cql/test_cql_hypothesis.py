"""Property tests: generated statements render to CQL that parses back to the same AST, and
no text makes the parser raise anything but its two errors."""

from __future__ import annotations

from cql_strategies import cql_types, renumber, statements
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassflow.cql import (
    CqlInvalidError,
    CqlSyntaxError,
    Statement,
    bind_markers,
    classify,
    parse_statement,
    parse_statements,
    parse_type,
)
from cassflow.cql._keywords import KEYWORDS

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(statements)
def test_render_then_parse_gives_the_same_ast(statement: Statement) -> None:
    expected = renumber(statement)
    text = expected.to_cql()
    assert parse_statement(text) == expected, text
    assert classify(expected).bind_count == len(bind_markers(expected))


@_SETTINGS
@given(cql_types)
def test_types_round_trip(cql_type: object) -> None:
    text = str(cql_type)
    assert parse_type(text) == cql_type, text


def _check(text: str) -> None:
    try:
        parsed = parse_statements(text)
    except (CqlSyntaxError, CqlInvalidError):
        return
    # Whatever parses renders to text that parses back to the same statements.
    for statement in parsed:
        assert parse_statement(statement.to_cql()) == statement, statement.to_cql()
        classify(statement)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_random_text_raises_only_cql_errors(text: str) -> None:
    _check(text)


_VOCABULARY = [
    *sorted(KEYWORDS),
    *["(", ")", "[", "]", "{", "}", ",", ";", ".", ":", "?", "=", "!=", "<", "<=", ">", ">="],
    *["+", "-", "*", "/", "%", "+=", "-=", ".."],
    "'s'",
    "$$x$$",
    '"Q"',
    '""',
    "1",
    "-2",
    "1.5",
    "NaN",
    "-Infinity",
    "true",
    "0xff",
    "1h",
    "P1D",
    "a8098c1a-f86e-11da-bd1a-00112444be1e",
    "a",
    "b",
    "ks",
    "t",
    "expr(",
    "--c\n",
    "/*c*/",
    "@",
    "'open",
    "int",
    "list<",
    ">",
    "frozen<",
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=25))
def test_token_soup_raises_only_cql_errors(words: list[str]) -> None:
    _check(" ".join(words))


@settings(max_examples=300, deadline=None)
@given(statements, st.data())
def test_damaged_statements_raise_only_cql_errors(
    statement: Statement, data: st.DataObject
) -> None:
    text = renumber(statement).to_cql()
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(["", "(", ")", ",", "'", '"', ";", " AND ", "?", "-"]))
    _check(text[:cut] + insert + text[cut + data.draw(st.integers(0, 3)) :])
