"""Collection, tuple and user type values written as text: JSON first, then CQL literals.

dsbulk writes such values in CSV as JSON (``[1,2]``, ``{"k":1}``, ``{"street":"x"}``);
cqlsh writes CQL literals (``['a', 'b']``, ``{'k': 1}``, ``{1, 2}``, ``(1, 'x')``,
``{street: 'x'}``). :func:`parse_structured` reads both into Python values (lists, tuples,
dicts, pairs) that the collection converters then convert element by element. CQL literals
are read with the project's CQL term parser, not a parser of our own.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any, Final

from cassandra import util

from cassflow.copy._convert_errors import fail
from cassflow.cql import (
    CqlError,
    ListLiteral,
    Literal,
    LiteralKind,
    MapLiteral,
    Negation,
    Null,
    SetLiteral,
    Term,
    TupleLiteral,
    UdtLiteral,
)
from cassflow.cql import _literals as literals
from cassflow.cql._lexer import EOF, tokenize
from cassflow.cql._parse_terms import TermParser

_NOT_A_VALUE: Final = "neither JSON nor a CQL literal"


class Pairs(list[tuple[Any, Any]]):
    """Map entries in the order written: a CQL map literal's keys may be unhashable
    (``{[1, 2]: 'x'}`` for a ``frozen<list<int>>`` key), so they are not put in a dict."""

    __slots__ = ()


def parse_structured(text: str, description: str) -> Any:
    """The value written in ``text`` as JSON or, failing that, as a CQL literal.

    Raises :class:`~cassflow.copy._model.ConversionError` (expected ``description``) if it is
    neither.
    """
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        term = _parse_term(text)
    except CqlError:
        fail(description, text, _NOT_A_VALUE)
    try:
        return _term_value(term)
    except ValueError:
        fail(description, text, _NOT_A_VALUE)


def _parse_term(text: str) -> Term:
    tokens, errors = tokenize(text)
    parser = TermParser(text, tokens, errors)
    term = parser.term()
    parser.expect(EOF)
    parser.finish()
    return term


def _term_value(term: Term) -> Any:
    # Each constant becomes the Python value of its lexical kind, so that the element
    # converters check it as they check any other value (a number is no text, and so on).
    if isinstance(term, Literal):
        return _constant(term.kind, term.text)
    if isinstance(term, Negation) and isinstance(term.term, Literal):
        if term.term.kind in (LiteralKind.INTEGER, LiteralKind.FLOAT):
            return -_constant(term.term.kind, term.term.text)
        if term.term.kind is LiteralKind.DURATION:
            return _constant(LiteralKind.DURATION, "-" + term.term.text)
    if isinstance(term, Null):
        return None
    if isinstance(term, ListLiteral | SetLiteral):
        return [_term_value(item) for item in term.items]
    if isinstance(term, TupleLiteral):
        return tuple(_term_value(item) for item in term.items)
    if isinstance(term, MapLiteral):
        return Pairs((_term_value(k), _term_value(v)) for k, v in term.entries)
    if isinstance(term, UdtLiteral):
        return {name: _term_value(value) for name, value in term.fields}
    raise ValueError(f"not a constant: {term.to_cql()}")


def _constant(kind: LiteralKind, text: str) -> Any:
    if kind is LiteralKind.STRING:
        return text
    if kind is LiteralKind.INTEGER:
        return int(text)
    if kind is LiteralKind.FLOAT:
        # Exact, so that a decimal keeps every digit; floats convert it with correct rounding.
        return Decimal(text.replace("Infinity", "Inf"))
    if kind is LiteralKind.BOOLEAN:
        return text.lower() == "true"
    if kind is LiteralKind.UUID:
        return uuid.UUID(text)
    if kind is LiteralKind.HEX:
        return bytes.fromhex(text[2:])
    months, days, nanos = literals.parse_duration(text)
    return util.Duration(months, days, nanos)


__all__ = ["Pairs", "parse_structured"]
