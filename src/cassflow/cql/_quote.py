"""How the renderer writes names and strings so that the parser reads them back unchanged.

A name is left unquoted when Cassandra would read it back as the same name (lower case, not a
reserved keyword), as Cassandra's own ``ColumnIdentifier.maybeQuote`` does for DESCRIBE. A few
positions accept fewer keywords than the others (function and user type names), hence the
variants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from cassflow.cql._keywords import (
    BASIC_UNRESERVED,
    KEYWORDS,
    NATIVE_TYPES,
    NON_FUNCTION_WORDS,
    RESERVED_TYPE_NAMES,
    RESERVED_WORDS,
)

_PLAIN: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
# Unquoted, a native type keyword names its type's canonical name (`varchar` reads `text`).
_RENAMED: Final = frozenset(
    word for word, kind in KEYWORDS.items() if NATIVE_TYPES.get(kind, word) != word
)


def quote_name(name: str) -> str:
    """``name`` in double quotes, with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def ident(name: str) -> str:
    """A column, table, keyspace, role... name as CQL text."""
    if _PLAIN.match(name) and name not in RESERVED_WORDS and name not in _RENAMED:
        return name
    return quote_name(name)


def function_ident(name: str) -> str:
    """A function name: ``ttl``, ``key``, ``cast``... only name a function when quoted, and
    ``expr(`` is a token of its own."""
    if name in NON_FUNCTION_WORDS or name == "expr":
        return quote_name(name)
    return ident(name)


def type_ident(name: str) -> str:
    """A user type name: native type names and a few reserved words must be quoted."""
    kind = KEYWORDS.get(name)
    if kind is not None and kind not in BASIC_UNRESERVED and kind != "K_KEY":
        return quote_name(name)
    if name in RESERVED_TYPE_NAMES:
        return quote_name(name)
    return ident(name)


def qualified(keyspace: str | None, name: str, quote: Callable[[str], str] = ident) -> str:
    """``keyspace.name`` or ``name``, each part quoted as needed."""
    rendered = quote(name)
    return rendered if keyspace is None else f"{ident(keyspace)}.{rendered}"


def string(value: str) -> str:
    """A string literal, with embedded single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"
