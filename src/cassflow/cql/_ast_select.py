"""AST of SELECT selectors: columns, functions, ``count(*)``, ``writetime``/``ttl``, casts,
field and element selections, literals and arithmetic (Cassandra 4.0+ selectors)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cassflow.cql._ast import Term
from cassflow.cql._node import Node, QualifiedName
from cassflow.cql._quote import function_ident, ident, qualified, quote_name
from cassflow.cql._types import CqlType


class Selectable(Node):
    """Something a SELECT can return (or group by)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSelector(Selectable):
    """A column by name."""

    name: str

    def to_cql(self) -> str:
        # `json` and `distinct` right after SELECT would read as the keywords: quote them.
        return quote_name(self.name) if self.name in ("json", "distinct") else ident(self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class TermSelector(Selectable):
    """A constant, ``NULL`` or a bind marker used as a selector."""

    term: Term

    def to_cql(self) -> str:
        return self.term.to_cql()


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSelector(Selectable):
    """``[keyspace.]name(args)``, ``token(a, b)`` and ``count(c)`` included."""

    function: QualifiedName
    args: tuple[Selectable, ...] = ()

    def to_cql(self) -> str:
        name = qualified(self.function.keyspace, self.function.name, function_ident)
        return f"{name}({', '.join(a.to_cql() for a in self.args)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CountRowsSelector(Selectable):
    """``count(*)``."""

    def to_cql(self) -> str:
        return "count(*)"


class WritetimeKind(StrEnum):
    """Which cell metadata a :class:`WritetimeSelector` reads."""

    WRITETIME = "writetime"
    MAXWRITETIME = "maxwritetime"
    TTL = "ttl"


@dataclass(frozen=True, slots=True, kw_only=True)
class WritetimeSelector(Selectable):
    """``writetime(c)``, ``maxwritetime(c)``, ``ttl(c)``; ``selector`` is the column, possibly
    with field or element selections (``writetime(m['k'])``)."""

    kind: WritetimeKind
    selector: Selectable

    def to_cql(self) -> str:
        return f"{self.kind.value}({self.selector.to_cql()})"


@dataclass(frozen=True, slots=True, kw_only=True)
class CastSelector(Selectable):
    """``CAST(selector AS native_type)``."""

    selector: Selectable
    type: CqlType

    def to_cql(self) -> str:
        return f"CAST({self.selector.to_cql()} AS {self.type.to_cql()})"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSelector(Selectable):
    """``selector.field`` on a user type."""

    selector: Selectable
    field: str

    def to_cql(self) -> str:
        return f"{self.selector.to_cql()}.{ident(self.field)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementSelector(Selectable):
    """``selector[key]`` on a collection."""

    selector: Selectable
    key: Term

    def to_cql(self) -> str:
        return f"{self.selector.to_cql()}[{self.key.to_cql()}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class SliceSelector(Selectable):
    """``selector[start..end]`` on a collection; either bound may be absent."""

    selector: Selectable
    start: Term | None = None
    end: Term | None = None

    def to_cql(self) -> str:
        start = "" if self.start is None else self.start.to_cql() + " "
        end = "" if self.end is None else " " + self.end.to_cql()
        return f"{self.selector.to_cql()}[{start}..{end}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeHintSelector(Selectable):
    """``(type) selector``."""

    type: CqlType
    selector: Selectable

    def to_cql(self) -> str:
        return f"({self.type.to_cql()}) {self.selector.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationSelector(Selectable):
    """``left op right``, op one of ``+ - * / %``."""

    operator: str
    left: Selectable
    right: Selectable

    def to_cql(self) -> str:
        return f"{self.left.to_cql()} {self.operator} {self.right.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NegationSelector(Selectable):
    """``- selector``."""

    selector: Selectable

    def to_cql(self) -> str:
        return f"- {self.selector.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSelector(Selectable):
    """``[a, b]`` built from selectors."""

    items: tuple[Selectable, ...]

    def to_cql(self) -> str:
        return "[" + ", ".join(s.to_cql() for s in self.items) + "]"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSelector(Selectable):
    """``{a, b}`` built from selectors (``{}`` included)."""

    items: tuple[Selectable, ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(s.to_cql() for s in self.items) + "}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MapSelector(Selectable):
    """``{k: v}`` built from selectors: a map or a user type, the receiver decides."""

    entries: tuple[tuple[Selectable, Selectable], ...]

    def to_cql(self) -> str:
        return "{" + ", ".join(f"{k.to_cql()}: {v.to_cql()}" for k, v in self.entries) + "}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TupleSelector(Selectable):
    """``(a, b)``; with one item, a selector between parentheses."""

    items: tuple[Selectable, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(s.to_cql() for s in self.items) + ")"


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector(Node):
    """One entry of the select clause: a selectable and its ``AS`` alias."""

    selectable: Selectable
    alias: str | None = None

    def to_cql(self) -> str:
        rendered = self.selectable.to_cql()
        return rendered if self.alias is None else f"{rendered} AS {ident(self.alias)}"
