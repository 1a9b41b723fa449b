"""The public entry points of the CQL parser: one statement, a script, or a type.

The parser follows Cassandra 5.0's grammar (``Parser.g``): it accepts what Cassandra accepts
and refuses what it refuses, with Cassandra's error messages (see ``_parse_base``). The parsing
itself is split by statement family into mixins, assembled here in :class:`_Parser`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cassflow.cql._lexer import EOF, tokenize
from cassflow.cql._node import Statement
from cassflow.cql._parse_auth import AuthParser
from cassflow.cql._types import CqlType


class _Parser(AuthParser):
    """All statement families, and the choice between them."""

    def statement(self) -> Statement:
        """``cqlStatement``."""
        simple = _SIMPLE.get(self.tok.kind)
        if simple is not None:
            return simple(self)
        start = self.pos
        verb = self.advance().kind
        table = _BY_VERB.get(verb)
        if table is None:
            self.seek(start)
            raise self.no_viable()
        kind = self.tok.kind
        if verb == "K_CREATE" and kind == "K_OR":
            self.advance()
            self.expect("K_REPLACE")
            if self.tok.kind == "K_FUNCTION":
                return self.create_function(or_replace=True)
            if self.tok.kind == "K_AGGREGATE":
                return self.create_aggregate(or_replace=True)
            raise self.no_viable(start)
        if kind == "K_CUSTOM" and verb == "K_CREATE":
            kind = "K_INDEX"
        handler = table.get(kind)
        if handler is None:
            raise self.no_viable(start)
        return handler(self)


_Handler = Callable[[_Parser], Statement]

_SIMPLE: Final[dict[str, _Handler]] = {
    "K_SELECT": _Parser.select_statement,
    "K_INSERT": _Parser.insert_statement,
    "K_UPDATE": _Parser.update_statement,
    "K_DELETE": _Parser.delete_statement,
    "K_BEGIN": _Parser.batch_statement,
    "K_USE": _Parser.use_statement,
    "K_TRUNCATE": _Parser.truncate_statement,
    "K_GRANT": _Parser.grant_or_revoke,
    "K_REVOKE": _Parser.grant_or_revoke,
    "K_LIST": _Parser.list_statement,
    "K_DESCRIBE": _Parser.describe_statement,
    "K_DESC": _Parser.describe_statement,
    "K_ADD": _Parser.add_identity,
}

# After CREATE / ALTER / DROP (consumed), the next keyword picks the statement.
_BY_VERB: Final[dict[str, dict[str, _Handler]]] = {
    "K_CREATE": {
        "K_KEYSPACE": _Parser.create_keyspace,
        "K_COLUMNFAMILY": _Parser.create_table,
        "K_INDEX": _Parser.create_index,
        "K_MATERIALIZED": _Parser.create_view,
        "K_TYPE": _Parser.create_type,
        "K_FUNCTION": lambda p: p.create_function(or_replace=False),
        "K_AGGREGATE": lambda p: p.create_aggregate(or_replace=False),
        "K_TRIGGER": _Parser.create_trigger,
        "K_ROLE": _Parser.create_role,
        "K_USER": _Parser.create_user,
    },
    "K_ALTER": {
        "K_KEYSPACE": _Parser.alter_keyspace,
        "K_COLUMNFAMILY": _Parser.alter_table,
        "K_MATERIALIZED": _Parser.alter_view,
        "K_TYPE": _Parser.alter_type,
        "K_ROLE": _Parser.alter_role,
        "K_USER": _Parser.alter_user,
    },
    "K_DROP": {
        "K_KEYSPACE": _Parser.drop_keyspace,
        "K_COLUMNFAMILY": _Parser.drop_table,
        "K_INDEX": _Parser.drop_index,
        "K_MATERIALIZED": _Parser.drop_view,
        "K_TYPE": _Parser.drop_type,
        "K_FUNCTION": _Parser.drop_function,
        "K_AGGREGATE": _Parser.drop_aggregate,
        "K_TRIGGER": _Parser.drop_trigger,
        "K_ROLE": _Parser.drop_role,
        "K_USER": _Parser.drop_user,
        "K_IDENTITY": _Parser.drop_identity,
    },
}


def _parser(text: str) -> _Parser:
    tokens, errors = tokenize(text)
    return _Parser(text, tokens, errors)


def parse_statement(text: str) -> Statement:
    """Parse one CQL statement, optionally followed by semicolons.

    Raises :class:`CqlSyntaxError` for text Cassandra cannot parse and
    :class:`CqlInvalidError` for statements it refuses before looking at the schema.
    """
    parser = _parser(text)
    statement = parser.statement()
    while parser.accept(";"):
        pass
    parser.expect(EOF)
    parser.finish()
    return statement


def parse_statements(text: str) -> list[Statement]:
    """Parse a script of statements separated by semicolons (as cqlsh's SOURCE reads a file).

    Each statement numbers its bind markers from zero. Error positions are relative to the
    whole script.
    """
    return [statement for _text, statement in script_statements(text)]


def script_statements(text: str) -> list[tuple[str, Statement]]:
    """Each statement of a script with the text it was written as (from its first token to
    its last; comments inside kept), after the whole script parsed:
    what a runner sends is the user's own text, not a re-rendering of it."""
    parser = _parser(text)
    statements: list[tuple[str, Statement]] = []
    while True:
        while parser.accept(";"):
            pass
        if parser.tok.kind == EOF:
            break
        parser.markers = []
        first = parser.tok.start
        statement = parser.statement()
        last = parser.tokens[parser.pos - 1]  # the statement's last token (not hidden ones)
        statements.append((text[first : last.end], statement))
        if parser.tok.kind != ";":
            parser.expect(EOF)
    parser.finish()
    return statements


def parse_type(text: str) -> CqlType:
    """Parse a CQL type such as ``map<text, frozen<list<int>>>``."""
    parser = _parser(text)
    result = parser.comparator_type()
    parser.expect(EOF)
    parser.finish()
    return result
