"""AST of CQL terms: the values a statement carries (literals, bind markers, collections,
function calls, casts and arithmetic).

Every node is a frozen, slotted, keyword-only dataclass that renders back to CQL
(``to_cql()`` / ``str()``). Names are stored as Cassandra resolves them: unquoted names folded
to lower case, quoted names as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cassflow.cql._node import Node, QualifiedName
from cassflow.cql._quote import function_ident, ident, qualified, string
from cassflow.cql._types import CqlType


class Term(Node):
    """A value in a statement."""

    __slots__ = ()


class LiteralKind(StrEnum):
    """The lexical kind of a constant; Cassandra types it only once it knows the receiver."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DURATION = "duration"
    UUID = "uuid"
    HEX = "hex"


@dataclass(frozen=True, slots=True, kw_only=True)
class Literal(Term):
    """A constant: ``text`` is the source text, except for strings (the unescaped value) and
    ``NaN``/``Infinity``/``-Infinity`` (spelled so whatever their case, as Cassandra does)."""

    kind: LiteralKind
    text: str

    def to_cql(self) -> str:
        return string(self.text) if self.kind is LiteralKind.STRING else self.text


@dataclass(frozen=True, slots=True, kw_only=True)
class Null(Term):
    """``NULL``."""

    def to_cql(self) -> str:
        return "NULL"


@dataclass(frozen=True, slots=True, kw_only=True)
class BindMarker(Term):
    """``?`` or ``:name``. ``index`` is the marker's position among all the markers of the
    statement (a BATCH counts across its statements), which is how values are bound."""

    index: int
    name: str | None = None

    def to_cql(self) -> str:
        return "?" if self.name is None else ":" + ident(self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListLiteral(Term):
    """``[a, b]``."""

    items: tuple[Term, ...]

    def to_cql(self) -> str:
        return "[" + ", ".join(t.to_cql() for t in self.items) + "]"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetLiteral(Term):
    """``{a, b}``. An empty one is ``{}``, which is an empty map or an empty set: the type of
    the receiver decides (Cassandra reads it as a set literal too)."""

    items: tuple[Term, ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(t.to_cql() for t in self.items) + "}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MapLiteral(Term):
    """``{k: v, ...}`` (never empty: ``{}`` is an empty :class:`SetLiteral`)."""

    entries: tuple[tuple[Term, Term], ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(f"{k.to_cql()}: {v.to_cql()}" for k, v in self.entries) + "}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TupleLiteral(Term):
    """``(a, b, ...)``; also the right side of a multi-column relation."""

    items: tuple[Term, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(t.to_cql() for t in self.items) + ")"


@dataclass(frozen=True, slots=True, kw_only=True)
class UdtLiteral(Term):
    """``{field: value, ...}`` for a user-defined type, fields in the order written."""

    fields: tuple[tuple[str, Term], ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(f"{ident(n)}: {v.to_cql()}" for n, v in self.fields) + "}"


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCall(Term):
    """``[keyspace.]name(args)``; ``token(...)`` and ``count(...)`` included."""

    function: QualifiedName
    args: tuple[Term, ...] = ()

    def to_cql(self) -> str:
        name = qualified(self.function.keyspace, self.function.name, function_ident)
        return f"{name}({', '.join(a.to_cql() for a in self.args)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeCast(Term):
    """``(type) term``: a type hint for a bind marker or an ambiguous literal."""

    type: CqlType
    term: Term

    def to_cql(self) -> str:
        return f"({self.type.to_cql()}) {self.term.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CastTerm(Term):
    """``CAST(term AS native_type)`` used as a value."""

    term: Term
    type: CqlType

    def to_cql(self) -> str:
        return f"CAST({self.term.to_cql()} AS {self.type.to_cql()})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Negation(Term):
    """``- term`` (a ``-`` glued to a number is part of the literal instead)."""

    term: Term

    def to_cql(self) -> str:
        return f"- {self.term.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BinaryOperation(Term):
    """``left op right`` with ``op`` one of ``+ - * / %``, left-associative, ``* / %``
    binding tighter (CQL has no parentheses for grouping: they make tuples)."""

    operator: str
    left: Term
    right: Term

    def to_cql(self) -> str:
        return f"{self.left.to_cql()} {self.operator} {self.right.to_cql()}"
