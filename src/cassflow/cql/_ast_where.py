"""AST of WHERE relations, IF conditions, UPDATE operations and DELETE selections."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cassflow.cql._ast import Term
from cassflow.cql._node import Node, QualifiedName
from cassflow.cql._quote import ident


class Operator(StrEnum):
    """Relation and condition operators, valued by their CQL spelling."""

    EQ = "="
    NEQ = "!="
    LT = "<"
    LTE = "<="
    GT = ">"
    GTE = ">="
    IN = "IN"
    CONTAINS = "CONTAINS"
    CONTAINS_KEY = "CONTAINS KEY"
    LIKE = "LIKE"
    IS_NOT = "IS NOT"


@dataclass(frozen=True, slots=True, kw_only=True)
class InValues(Term):
    """The parenthesised list after ``IN``: terms for one column, tuples (or markers) for
    several. ``IN ?`` has a :class:`BindMarker` in its place instead."""

    items: tuple[Term, ...]

    def to_cql(self) -> str:
        return "(" + ", ".join(t.to_cql() for t in self.items) + ")"


class Relation(Node):
    """One restriction of a WHERE clause."""

    __slots__ = ()


def _right(operator: Operator, value: Term) -> str:
    return "IS NOT NULL" if operator is Operator.IS_NOT else f"{operator.value} {value.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleColumnRelation(Relation):
    """``column op value``: comparisons, ``IN (...)``/``IN ?``, ``CONTAINS [KEY]``, ``LIKE``,
    ``IS NOT NULL`` (whose value is :class:`Null`)."""

    column: str
    operator: Operator
    value: Term

    def to_cql(self) -> str:
        return f"{ident(self.column)} {_right(self.operator, self.value)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ElementRelation(Relation):
    """``column[key] op value`` on a map."""

    column: str
    key: Term
    operator: Operator
    value: Term

    def to_cql(self) -> str:
        return f"{ident(self.column)}[{self.key.to_cql()}] {_right(self.operator, self.value)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiColumnRelation(Relation):
    """``(a, b) op (1, 2)`` / ``(a, b) op ?`` / ``(a, b) IN ((1, 2), ...)``."""

    columns: tuple[str, ...]
    operator: Operator
    value: Term

    def to_cql(self) -> str:
        names = ", ".join(ident(c) for c in self.columns)
        return f"({names}) {_right(self.operator, self.value)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRelation(Relation):
    """``token(a, b) op value``."""

    columns: tuple[str, ...]
    operator: Operator
    value: Term

    def to_cql(self) -> str:
        names = ", ".join(ident(c) for c in self.columns)
        return f"token({names}) {_right(self.operator, self.value)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomIndexExpression(Relation):
    """``expr(index_name, value)`` for custom indexes."""

    index: QualifiedName
    value: Term

    def to_cql(self) -> str:
        return f"expr({self.index.to_cql()}, {self.value.to_cql()})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ordering(Node):
    """One ``ORDER BY`` entry; ``ann`` is the vector of ``ORDER BY c ANN OF vector``."""

    column: str
    descending: bool = False
    ann: Term | None = None

    def to_cql(self) -> str:
        text = ident(self.column)
        if self.ann is not None:
            text += f" ANN OF {self.ann.to_cql()}"
        return text + " DESC" if self.descending else text


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnCondition(Node):
    """One ``IF`` condition of a lightweight transaction: on a column, on one element of a
    collection (``element``) or on one field of a user type (``field``)."""

    column: str
    operator: Operator
    value: Term
    element: Term | None = None
    field: str | None = None

    def to_cql(self) -> str:
        target = ident(self.column)
        if self.element is not None:
            target += f"[{self.element.to_cql()}]"
        if self.field is not None:
            target += f".{ident(self.field)}"
        return f"{target} {self.operator.value} {self.value.to_cql()}"


class Operation(Node):
    """One assignment of an UPDATE's SET clause."""

    __slots__ = ()
    column: str

    def compatible_with(self, other: Operation) -> bool:
        """Whether both may update the same column in one statement (Cassandra's
        ``Operation.RawUpdate.isCompatibleWith``, seen from the operation already there)."""
        if isinstance(self, SetValue):
            # Setting a column twice, or setting it and changing it, would look random.
            return False
        if isinstance(self, SetField) and isinstance(other, SetField):
            return other.field != self.field
        return not isinstance(other, SetValue)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetValue(Operation):
    """``c = value``."""

    column: str
    value: Term

    def to_cql(self) -> str:
        return f"{ident(self.column)} = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetElement(Operation):
    """``c[key] = value``."""

    column: str
    key: Term
    value: Term

    def to_cql(self) -> str:
        return f"{ident(self.column)}[{self.key.to_cql()}] = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetField(Operation):
    """``c.field = value``."""

    column: str
    field: str
    value: Term

    def to_cql(self) -> str:
        return f"{ident(self.column)}.{ident(self.field)} = {self.value.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Addition(Operation):
    """``c = c + value`` or ``c += value`` (counters, collections, numbers)."""

    column: str
    value: Term

    def to_cql(self) -> str:
        name = ident(self.column)
        return f"{name} = {name} + {self.value.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Subtraction(Operation):
    """``c = c - value`` or ``c -= value``."""

    column: str
    value: Term

    def to_cql(self) -> str:
        name = ident(self.column)
        return f"{name} = {name} - {self.value.to_cql()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepend(Operation):
    """``c = value + c`` (lists)."""

    column: str
    value: Term

    def to_cql(self) -> str:
        name = ident(self.column)
        return f"{name} = {self.value.to_cql()} + {name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Deletion(Node):
    """One selection of a DELETE: a column, ``c[key]`` or ``c.field``."""

    column: str
    element: Term | None = None
    field: str | None = None

    def to_cql(self) -> str:
        text = ident(self.column)
        if self.element is not None:
            return f"{text}[{self.element.to_cql()}]"
        if self.field is not None:
            return f"{text}.{ident(self.field)}"
        return text
