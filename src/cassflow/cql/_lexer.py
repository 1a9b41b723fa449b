"""The CQL lexer: one compiled regular expression, scanned left to right.

Tokens follow Cassandra's ``Lexer.g``: keywords are case-insensitive and each has its own kind
(``K_SELECT``...), unquoted identifiers are ``IDENT``, ``"quoted"`` ones ``QUOTED_NAME``, and
literals keep the kinds ANTLR gives them (``STRING_LITERAL``, ``INTEGER``, ``FLOAT``,
``BOOLEAN``, ``DURATION``, ``UUID``, ``HEXNUMBER``). Punctuation tokens are their own text.

ANTLR picks the longest match, and the earliest rule on a tie; the alternatives of the pattern
are ordered so that a first match is that same token. Like Cassandra's lexer, this one does
not stop at a bad character: it records the error, skips the character and goes on, because
the error Cassandra reports is whichever comes first, the lexer's or the parser's.

Whitespace and comments produce no token, but they are counted: ANTLR's token indexes (which
Cassandra uses to cut the query snippet of a syntax error) include them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from cassflow.cql._keywords import KEYWORDS

EOF: Final = "EOF"


@dataclass(slots=True)
class Token:
    """One token.

    ``text`` is what ANTLR would call the token's text: the unescaped content for string
    literals and quoted names, the source text otherwise. ``line`` is 1-based, ``column``
    0-based (as Cassandra counts). ``index`` counts hidden tokens (whitespace, comments) too.
    """

    kind: str
    text: str
    start: int
    end: int
    line: int
    column: int
    index: int


@dataclass(frozen=True, slots=True)
class LexError:
    """A character the lexer could not make a token of, with Cassandra's wording."""

    message: str
    offset: int
    line: int
    column: int


_UNIT = r"(?:µ[sS]|(?i:mo|ms|us|ns|y|w|d|h|m|s))"
_ISO_TIME = r"T(?:\d+H(?:\d+M)?(?:\d+S)?|\d+M(?:\d+S)?|\d+S)"
_ISO_PERIOD = (
    r"P(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
    r"|" + _ISO_TIME + r"|\d+W"
    r"|(?:\d+Y(?:\d+M)?(?:\d+D)?|\d+M(?:\d+D)?|\d+D)(?:" + _ISO_TIME + r")?)"
)
_HEX = "[0-9a-fA-F]"

# Whitespace is matched in front of every token: one regex call per token, not two. The
# alternatives follow in priority order (see the module docstring); a name starting with "_"
# needs a second look, any other name is the token kind.
_PATTERN: Final = re.compile(
    r"(?P<_WS>[ \t\n\r]+)?(?:"
    + "|".join(
        (
            r"(?P<_WORD>(?![0-9a-fA-F]{8}-|P[0-9T]|expr\()[A-Za-z][A-Za-z0-9_]*)",
            r"(?P<_OP>!=|<=|>=|\+=|-=|\.\.|[=<>+*%()\[\]{},;.:?]|-(?![-0-9nNiIP])|/(?![/*]))",
            r"(?P<_COMMENT>(?:--|//)[^\n\r]*[\n\r])",
            r"(?P<_COMMENT_EOF>(?:--|//)[^\n\r]*\Z)",
            r"(?P<_MCOMMENT>/\*[\s\S]*?\*/)",
            r"(?P<_MCOMMENT_EOF>/\*[\s\S]*\Z)",
            r"(?P<_STRING>'(?:[^']|'')*')",
            r"(?P<_STRING_EOF>'(?:[^']|'')*\Z)",
            r"(?P<_PGSTRING>\$\$[\s\S]*?\$\$)",
            r"(?P<_PGSTRING_EOF>\$\$[\s\S]*\Z)",
            r"(?P<_DOLLAR>\$)",
            r'(?P<_QUOTED>"(?:[^"]|"")+")',
            r'(?P<EMPTY_QUOTED_NAME>"")',
            r'(?P<_QUOTED_EOF>"(?:[^"]|"")*\Z)',
            rf"(?P<UUID>{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})",
            rf"(?P<HEXNUMBER>0[xX]{_HEX}*)",
            rf"(?P<DURATION>-?\d+{_UNIT}(?:\d+{_UNIT})*|-{_ISO_PERIOD}"
            rf"|{_ISO_PERIOD}(?![A-Za-z0-9_]))",
            r"(?P<K_NEGATIVE_NAN>-(?i:nan))",
            r"(?P<K_NEGATIVE_INFINITY>-(?i:infinity))",
            r"(?P<_NUMBER>-?\d+(?:\.(?!\.)\d*)?(?:[eE][+-]?\d+)?)",
            r"(?P<EXPR>expr\()",
            r"(?P<_WORD2>[A-Za-z][A-Za-z0-9_]*)",
            r"(?P<_OP2>-)",
            r"(?P<_BANG>!)",
            r"(?P<_BAD>[\s\S])",
            r"(?P<_END>\Z)",
        )
    )
    + ")"
)

_OP_KINDS: Final = {"?": "QMARK", "..": "RANGE"}
# What ANTLR puts on the hidden channel: counted in token indexes, never seen by the parser.
_HIDDEN: Final = frozenset(("_COMMENT", "_MCOMMENT"))
_LEX_ERRORS: Final = {
    "_COMMENT_EOF": "expecting set null",
    "_MCOMMENT_EOF": "expecting '*'",
    "_STRING_EOF": "expecting '''",
    "_QUOTED_EOF": "expecting '\"'",
}


def _char(text: str, offset: int) -> str:
    """How ANTLR shows a character in a lexer error."""
    if offset >= len(text):
        return "'<EOF>'"
    c = text[offset]
    return "'" + {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, c) + "'"


def _error(text: str, message: str, offset: int) -> LexError:
    line = text.count("\n", 0, offset) + 1
    return LexError(message, offset, line, offset - text.rfind("\n", 0, offset) - 1)


def tokenize(text: str, *, keep_hidden: bool = False) -> tuple[list[Token], list[LexError]]:
    """Split ``text`` into tokens (ending with an ``EOF`` token) and the errors met on the way.

    With ``keep_hidden`` the whitespace and comment tokens are kept too (kinds ``_WS``,
    ``_COMMENT``, ``_MCOMMENT``), so that ``tokens[i].index == i``: what a syntax error
    message needs to quote the query as Cassandra does.
    """
    tokens: list[Token] = []
    errors: list[LexError] = []
    match = _PATTERN.match
    keywords = KEYWORDS
    pos = 0
    line = 1
    line_start = 0
    index = 0
    while True:
        m = match(text, pos)
        assert m is not None  # the last alternatives match any character, or the end
        ws_end = m.end("_WS")
        if ws_end >= 0:
            if keep_hidden:
                ws = text[pos:ws_end]
                tokens.append(Token("_WS", ws, pos, ws_end, line, pos - line_start, index))
            index += 1
            nl = text.rfind("\n", pos, ws_end)
            if nl >= 0:
                line += text.count("\n", pos, ws_end)
                line_start = nl + 1
            pos = ws_end
        kind = m.lastgroup
        end = m.end()
        value = text[pos:end]
        if kind in ("_WORD", "_WORD2"):
            lowered = value.lower()
            kind = keywords.get(lowered)
            if kind is None:
                kind = "BOOLEAN" if lowered in ("true", "false") else "IDENT"
        elif kind in ("_OP", "_OP2"):
            kind = _OP_KINDS.get(value, value)
        elif kind == "_NUMBER":
            kind = "INTEGER" if value.lstrip("-").isdigit() else "FLOAT"
        elif kind == "_STRING":
            value = value[1:-1].replace("''", "'")
            kind = "STRING_LITERAL"
        elif kind == "_PGSTRING":
            value = value[2:-2]
            kind = "STRING_LITERAL"
        elif kind == "_QUOTED":
            value = value[1:-1].replace('""', '"')
            kind = "QUOTED_NAME"
        elif kind == "_END":
            break
        elif kind is not None and kind[0] == "_":
            # Comments and errors: nothing for the parser, but ANTLR counts comments.
            expecting = _LEX_ERRORS.get(kind)
            if expecting is not None:
                errors.append(_error(text, f"mismatched character '<EOF>' {expecting}", end))
            elif kind == "_PGSTRING_EOF":
                # Cassandra's loop stops one character short of the end, then wants '$$'.
                last = max(pos + 2, end - 1)
                at = last if last < end and text[last] != "$" else end
                message = f"mismatched character {_char(text, at)} expecting '$'"
                errors.append(_error(text, message, at))
            elif kind in ("_DOLLAR", "_BANG"):
                expected = "'$'" if kind == "_DOLLAR" else "'='"
                message = f"mismatched character {_char(text, end)} expecting {expected}"
                errors.append(_error(text, message, end))
            elif kind == "_BAD":
                message = f"no viable alternative at character {_char(text, pos)}"
                errors.append(_error(text, message, pos))
            if kind in _HIDDEN:
                if keep_hidden:
                    tokens.append(Token(kind, value, pos, end, line, pos - line_start, index))
                index += 1
            nl = text.rfind("\n", pos, end)
            if nl >= 0:
                line += text.count("\n", pos, end)
                line_start = nl + 1
            pos = end
            continue
        assert kind is not None
        tokens.append(Token(kind, value, pos, end, line, pos - line_start, index))
        index += 1
        if kind in ("STRING_LITERAL", "QUOTED_NAME"):
            nl = text.rfind("\n", pos, end)
            if nl >= 0:
                line += text.count("\n", pos, end)
                line_start = nl + 1
        pos = end
    size = len(text)
    tokens.append(Token(EOF, "<EOF>", size, size, line, size - line_start, index))
    return tokens, errors
