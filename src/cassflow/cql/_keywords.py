"""Keyword tables of the CQL grammar, as Cassandra 5.0 has them.

Cassandra's lexer turns every keyword into its own token type (``K_SELECT``, ...); the parser
then accepts some of them where an identifier is expected (the *unreserved* keywords). These
sets are written from ``Lexer.g`` / ``Parser.g`` so that the lexer, the parser and the
renderer (which must quote a name exactly when Cassandra would not read it back as a name)
all agree.
"""

from __future__ import annotations

from typing import Final

# word (lower case) -> token kind. A few kinds have several spellings, as in Lexer.g.
KEYWORDS: Final[dict[str, str]] = {
    word: "K_" + word.upper()
    for word in (  # noqa: SIM905 - one list of words, to check against Lexer.g
        "select from as where and key keys entries full insert update with limit per "
        "partition using use distinct count set begin unlogged batch apply truncate delete in "
        "create schema keyspace keyspaces materialized view index custom on to drop primary "
        "into values timestamp ttl cast alter rename add type types compact storage order by "
        "asc desc allow filtering if is contains group cluster internals only grant all "
        "permission permissions of revoke modify authorize describe execute norecursive mbean "
        "mbeans user users role roles superusers superuser nosuperuser hashed password login "
        "nologin options access datacenters cidrs identity clustering ascii bigint blob "
        "boolean counter decimal double duration float inet int smallint tinyint text uuid "
        "varchar varint timeuuid token writetime maxwritetime date time null not exists map "
        "list tuple trigger static frozen function functions aggregate aggregates sfunc stype "
        "finalfunc initcond returns called input language or replace json default unset like "
        "masked unmask select_masked vector ann"
    ).split()
}
KEYWORDS.update(
    {
        "columnfamily": "K_COLUMNFAMILY",
        "table": "K_COLUMNFAMILY",
        "columnfamilies": "K_TABLES",
        "tables": "K_TABLES",
        "nan": "K_POSITIVE_NAN",
        "infinity": "K_POSITIVE_INFINITY",
    }
)

#: Native type keywords (``native_type``), with the canonical name each one stands for.
NATIVE_TYPES: Final[dict[str, str]] = {
    "K_ASCII": "ascii",
    "K_BIGINT": "bigint",
    "K_BLOB": "blob",
    "K_BOOLEAN": "boolean",
    "K_COUNTER": "counter",
    "K_DECIMAL": "decimal",
    "K_DOUBLE": "double",
    "K_DURATION": "duration",
    "K_FLOAT": "float",
    "K_INET": "inet",
    "K_INT": "int",
    "K_SMALLINT": "smallint",
    "K_TEXT": "text",
    "K_TIMESTAMP": "timestamp",
    "K_TINYINT": "tinyint",
    "K_UUID": "uuid",
    "K_VARCHAR": "text",
    "K_VARINT": "varint",
    "K_TIMEUUID": "timeuuid",
    "K_DATE": "date",
    "K_TIME": "time",
}

#: ``basic_unreserved_keyword``: usable as any name, user type names included.
BASIC_UNRESERVED: Final[frozenset[str]] = frozenset(
    "K_" + w.upper()
    for w in (  # noqa: SIM905 - one list of words, to check against Parser.g
        "keys as cluster clustering compact storage tables type types values map list "
        "filtering permission permissions keyspaces all user users role roles identity "
        "superuser superusers nosuperuser login nologin options password hashed exists custom "
        "trigger contains internals only static frozen tuple function functions aggregate "
        "aggregates sfunc stype finalfunc initcond returns language called input like per "
        "partition group datacenters cidrs access default mbean mbeans replace unset masked "
        "unmask select_masked vector ann"
    ).split()
)

#: ``unreserved_function_keyword``: usable as a function name too.
UNRESERVED_FUNCTION: Final[frozenset[str]] = BASIC_UNRESERVED | frozenset(NATIVE_TYPES)

#: ``unreserved_keyword``: every keyword usable as a column, table, keyspace or role name.
UNRESERVED: Final[frozenset[str]] = UNRESERVED_FUNCTION | frozenset(
    ("K_TTL", "K_COUNT", "K_WRITETIME", "K_MAXWRITETIME", "K_KEY", "K_CAST", "K_JSON", "K_DISTINCT")
)

#: Keywords that can never stand for a name (they must be quoted).
RESERVED_WORDS: Final[frozenset[str]] = frozenset(
    word for word, kind in KEYWORDS.items() if kind not in UNRESERVED
) | frozenset(("true", "false"))

#: ``reservedTypeNames`` of Parser.g: refused as unquoted user type names.
RESERVED_TYPE_NAMES: Final[frozenset[str]] = frozenset(
    ("byte", "complex", "enum", "date", "interval", "macaddr", "bitstring")
)

#: Token kinds that name something: the ``ident`` rule of the grammar.
NAME_KINDS: Final[frozenset[str]] = UNRESERVED | {"IDENT", "QUOTED_NAME"}

#: Token kinds that can name a function (``allowedFunctionName``).
FUNCTION_NAME_KINDS: Final[frozenset[str]] = UNRESERVED_FUNCTION | {
    "IDENT",
    "QUOTED_NAME",
    "K_TOKEN",
    "K_COUNT",
}

#: Token kinds that can name a user type (``non_type_ident``).
TYPE_NAME_KINDS: Final[frozenset[str]] = BASIC_UNRESERVED | {"IDENT", "QUOTED_NAME", "K_KEY"}

#: Words that are only function names when quoted (unreserved, but not function keywords).
NON_FUNCTION_WORDS: Final[frozenset[str]] = frozenset(
    ("ttl", "writetime", "maxwritetime", "key", "cast", "json", "distinct")
)
