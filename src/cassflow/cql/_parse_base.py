"""The parser's cursor over the tokens: lookahead, names, bind markers and Cassandra-shaped
syntax errors.

The parser is recursive descent, deciding with a few tokens of lookahead where ANTLR's LL(*)
would. Errors follow ANTLR 3 as Cassandra configures it (no recovery, first error wins):

* a required token that is not there: ``mismatched input 'X' expecting K_FROM``;
* no alternative of a choice fits: ``no viable alternative at input 'X'``;

each prefixed with ``line L:C`` (``line 0:-1`` at the end of the input, where ANTLR's end token
has no position) and followed by the query snippet Cassandra's ``ErrorCollector`` appends:
from ten tokens before the decision point (whitespace tokens count) to the offending token,
with the token where the decision started in brackets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn

from cassflow.cql._ast import BindMarker, Literal, LiteralKind, Term
from cassflow.cql._errors import CqlInvalidError, CqlSyntaxError
from cassflow.cql._keywords import (
    FUNCTION_NAME_KINDS,
    NAME_KINDS,
    NATIVE_TYPES,
    RESERVED_TYPE_NAMES,
    TYPE_NAME_KINDS,
)
from cassflow.cql._lexer import EOF, LexError, Token, tokenize
from cassflow.cql._node import QualifiedName

#: How deeply terms, selectors, types and relations may nest. Cassandra's limit is its thread
#: stack; ours keeps Python's recursion limit out of reach whatever the caller's depth.
MAX_NESTING: Final = 64

# ErrorCollector's snippet: this many tokens before the decision point, two after it.
_SNIPPET_BEFORE: Final = 10
_SNIPPET_AFTER: Final = 2

CONSTANT_KINDS: Final = frozenset(
    (
        "STRING_LITERAL",
        "INTEGER",
        "FLOAT",
        "BOOLEAN",
        "DURATION",
        "UUID",
        "HEXNUMBER",
        "K_POSITIVE_NAN",
        "K_NEGATIVE_NAN",
        "K_POSITIVE_INFINITY",
        "K_NEGATIVE_INFINITY",
    )
)
_LITERAL_KINDS: Final = {
    "STRING_LITERAL": LiteralKind.STRING,
    "INTEGER": LiteralKind.INTEGER,
    "FLOAT": LiteralKind.FLOAT,
    "BOOLEAN": LiteralKind.BOOLEAN,
    "DURATION": LiteralKind.DURATION,
    "UUID": LiteralKind.UUID,
    "HEXNUMBER": LiteralKind.HEX,
}
_SPECIAL_FLOATS: Final = {
    "K_POSITIVE_NAN": "NaN",
    "K_NEGATIVE_NAN": "NaN",
    "K_POSITIVE_INFINITY": "Infinity",
    "K_NEGATIVE_INFINITY": "-Infinity",
}
MARKER_KINDS: Final = frozenset(("QMARK", ":"))


def display_kind(kind: str) -> str:
    """How ANTLR names a token kind in "expecting ...": K_FROM, IDENT, EOF, but ')' quoted."""
    return kind if kind[0].isalpha() else f"'{kind}'"


def _display_text(token: Token) -> str:
    text = token.text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f"'{text}'"


def _lines(text: str) -> list[str]:
    # Java's String.split drops trailing empty strings; the snippet is cut from these lines.
    lines = text.split("\n")
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


def snippet(text: str, first: Token, last: Token, offending: Token) -> str:
    """The `` (...query [token] query...)`` part of a Cassandra syntax error, or ``""`` when a
    token has no position (the end of the input)."""
    if EOF in (first.kind, last.kind, offending.kind):
        return ""
    lines = _lines(text)
    if last.line > len(lines):
        return ""
    last_end = last.column + len(last.text)
    include_start = first.line == 1 and first.column == 0
    include_end = last.line == len(lines) and last_end == len(lines[-1])
    to_line = lines[last.line - 1]
    lines[last.line - 1] = to_line if last_end >= len(to_line) else to_line[:last_end]
    line = lines[offending.line - 1]
    end = offending.column + len(offending.text)
    line = line[:end] + "]" + line[end:]
    lines[offending.line - 1] = line[: offending.column] + "[" + line[offending.column :]
    lines[first.line - 1] = lines[first.line - 1][first.column :]
    body = "".join(lines[first.line - 1 : last.line])
    return f" ({'' if include_start else '...'}{body}{'' if include_end else '...'})"


class ParserBase:
    """Token cursor and the helpers every statement family uses."""

    def __init__(self, text: str, tokens: list[Token], lex_errors: list[LexError]) -> None:
        self.text = text
        self.tokens = tokens
        self.lex_errors = lex_errors
        self.pos = 0
        self.tok = tokens[0]
        self.markers: list[str | None] = []
        self.depth = 0

    # -- cursor -------------------------------------------------------------------------

    def peek(self, ahead: int = 1) -> Token:
        """The token ``ahead`` positions after the current one (the end token past the end)."""
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        """Consume the current token and return it."""
        token = self.tok
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
            self.tok = self.tokens[self.pos]
        return token

    def seek(self, pos: int) -> None:
        """Go back (or forth) to a token position."""
        self.pos = pos
        self.tok = self.tokens[pos]

    def accept(self, kind: str) -> bool:
        """Consume the current token if it is of ``kind``."""
        if self.tok.kind == kind:
            self.advance()
            return True
        return False

    def expect(self, kind: str) -> Token:
        """Consume a token of ``kind`` or fail as ANTLR's ``match`` does."""
        if self.tok.kind != kind:
            raise self.mismatch(kind)
        return self.advance()

    def expect_if_not_exists(self) -> bool:
        """``[IF NOT EXISTS]``."""
        if self.accept("K_IF"):
            self.expect("K_NOT")
            self.expect("K_EXISTS")
            return True
        return False

    def expect_if_exists(self) -> bool:
        """``[IF EXISTS]``."""
        if self.accept("K_IF"):
            self.expect("K_EXISTS")
            return True
        return False

    def enter(self) -> None:
        """Count one level of nesting (terms, selectors, types and relations recurse)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self._error(
                f"nesting deeper than {MAX_NESTING} levels at input {_display_text(self.tok)}",
                self.tok,
                self.tok,
            )

    def speculate(self, attempt: Callable[[], object]) -> bool:
        """Whether ``attempt`` parses from here (a syntactic predicate); nothing is consumed."""
        pos, markers, depth = self.pos, len(self.markers), self.depth
        try:
            attempt()
        except (CqlSyntaxError, CqlInvalidError):
            return False
        else:
            return True
        finally:
            self.seek(pos)
            del self.markers[markers:]
            self.depth = depth

    # -- errors -------------------------------------------------------------------------

    def _error(self, body: str, offending: Token, decision: Token) -> CqlSyntaxError:
        earlier = self._lexer_error_before(offending)
        if earlier is not None:
            return earlier
        header = (
            "line 0:-1" if offending.kind == EOF else f"line {offending.line}:{offending.column}"
        )
        raw, _ = tokenize(self.text, keep_hidden=True)
        first = raw[max(0, decision.index - _SNIPPET_BEFORE)]
        last = raw[min(offending.index, decision.index + _SNIPPET_AFTER)]
        text = f"{header} {body}{snippet(self.text, first, last, raw[decision.index])}"
        return CqlSyntaxError(text, line=offending.line, column=offending.column)

    def mismatch(self, kind: str) -> CqlSyntaxError:
        """``mismatched input 'X' expecting KIND`` at the current token."""
        body = f"mismatched input {_display_text(self.tok)} expecting {display_kind(kind)}"
        return self._error(body, self.tok, self.tok)

    def mismatch_set(self) -> CqlSyntaxError:
        """What ANTLR says when a token is not in a set of single tokens."""
        return self._error(
            f"mismatched input {_display_text(self.tok)} expecting set null", self.tok, self.tok
        )

    def no_viable(self, start: int | None = None) -> CqlSyntaxError:
        """``no viable alternative at input 'X'``; ``start`` is the token position where the
        choice began (it is the token Cassandra brackets in the snippet)."""
        decision = self.tok if start is None else self.tokens[start]
        body = f"no viable alternative at input {_display_text(self.tok)}"
        return self._error(body, self.tok, decision)

    def recognition_error(self, message: str, token: Token | None = None) -> CqlSyntaxError:
        """An error Cassandra's grammar actions add by hand: the bare message, no position in
        the text (the exception still records where it was)."""
        where = self.tok if token is None else token
        earlier = self._lexer_error_before(where)
        if earlier is not None:
            return earlier
        return CqlSyntaxError(message, line=where.line, column=where.column)

    def _lexer_error_before(self, token: Token) -> CqlSyntaxError | None:
        # The lexer met its error before it produced `token`: Cassandra reports it first.
        for lex_error in self.lex_errors:
            if lex_error.offset <= token.start:
                return CqlSyntaxError(
                    f"line {lex_error.line}:{lex_error.column} {lex_error.message}",
                    line=lex_error.line,
                    column=lex_error.column,
                )
        return None

    def finish(self) -> None:
        """Fail with the lexer's first error, if any, once the statement parsed."""
        if self.lex_errors:
            first = self.lex_errors[0]
            raise CqlSyntaxError(
                f"line {first.line}:{first.column} {first.message}",
                line=first.line,
                column=first.column,
            )

    # -- names --------------------------------------------------------------------------

    @staticmethod
    def fold(token: Token) -> str:
        """The name a token stands for: quoted names as written, others in lower case, and a
        native type keyword as its canonical type name (``varchar`` names ``text``)."""
        if token.kind == "QUOTED_NAME":
            return token.text
        canonical = NATIVE_TYPES.get(token.kind)
        return token.text.lower() if canonical is None else canonical

    def ident(self, kinds: frozenset[str] = NAME_KINDS) -> str:
        """An identifier (``ident``/``noncol_ident``/``fident``/``sident`` of the grammar)."""
        if self.tok.kind not in kinds:
            raise self.no_viable()
        return self.fold(self.advance())

    def cident(self) -> str:
        """A column name, where the legacy empty name ``""`` is accepted too."""
        if self.tok.kind == "EMPTY_QUOTED_NAME":
            self.advance()
            return ""
        return self.ident()

    def _name_part(self, what: str) -> str:
        if self.tok.kind == "QMARK":
            raise self.recognition_error(f"Bind variables cannot be used for {what} names")
        return self.ident()

    def keyspace_name(self) -> str:
        """``ksName``."""
        return self._name_part("keyspace")

    def qualified_name(self, what: str = "table") -> QualifiedName:
        """``[ksName '.'] cfName`` (or ``idxName`` with ``what="index"``)."""
        keyspace = None
        if self.peek().kind == "." and self.tok.kind in NAME_KINDS | {"QMARK"}:
            keyspace = self.keyspace_name()
            self.advance()
        return QualifiedName(keyspace=keyspace, name=self._name_part(what))

    def user_type_name(self) -> QualifiedName:
        """``userTypeName``: ``[noncol_ident '.'] non_type_ident``."""
        keyspace = None
        if self.peek().kind == "." and self.tok.kind in NAME_KINDS:
            keyspace = self.fold(self.advance())
            self.advance()
        token = self.tok
        if token.kind not in TYPE_NAME_KINDS:
            raise self.no_viable()
        self.advance()
        # Cassandra compares the text as written: only lower-case spellings are refused.
        if token.kind == "IDENT" and token.text in RESERVED_TYPE_NAMES:
            raise self.recognition_error(f"Invalid (reserved) user type name {token.text}", token)
        return QualifiedName(keyspace=keyspace, name=self.fold(token))

    def function_name(self) -> QualifiedName:
        """``functionName``: ``[keyspaceName '.'] allowedFunctionName``."""
        keyspace = None
        if self.peek().kind == "." and self.tok.kind in NAME_KINDS | {"QMARK"}:
            keyspace = self.keyspace_name()
            self.advance()
        return QualifiedName(keyspace=keyspace, name=self.allowed_function_name())

    def allowed_function_name(self) -> str:
        """``allowedFunctionName``."""
        return self.ident(FUNCTION_NAME_KINDS)

    def role_name(self) -> str:
        """``roleName``: a name, or a string literal (which keeps its case)."""
        if self.tok.kind == "STRING_LITERAL":
            return self.advance().text
        return self._name_part("role")

    # -- values -------------------------------------------------------------------------

    def new_marker(self, name: str | None) -> BindMarker:
        """A bind marker numbered after the ones before it in the statement."""
        self.markers.append(name)
        return BindMarker(index=len(self.markers) - 1, name=name)

    def marker(self) -> BindMarker:
        """``?`` or ``:name``."""
        if self.accept("QMARK"):
            return self.new_marker(None)
        self.expect(":")
        return self.new_marker(self.ident())

    def constant(self) -> Literal:
        """``constant``: a literal of any kind."""
        token = self.tok
        kind = _LITERAL_KINDS.get(token.kind)
        if kind is not None:
            self.advance()
            return Literal(kind=kind, text=token.text)
        special = _SPECIAL_FLOATS.get(token.kind)
        if special is None:
            raise self.no_viable()
        self.advance()
        return Literal(kind=LiteralKind.FLOAT, text=special)

    def int_value(self) -> Term:
        """``intValue``: an integer literal or a bind marker."""
        if self.tok.kind == "INTEGER":
            return Literal(kind=LiteralKind.INTEGER, text=self.advance().text)
        if self.tok.kind in MARKER_KINDS:
            return self.marker()
        raise self.no_viable()

    def fail(self, error: CqlSyntaxError | CqlInvalidError) -> NoReturn:
        """Raise ``error`` (a helper for expression positions)."""
        raise error
