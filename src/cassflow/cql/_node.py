"""The base class of every AST node, and the qualified names most statements carry."""

from __future__ import annotations

from dataclasses import dataclass

from cassflow.cql._quote import qualified


class Node:
    """An AST node: a frozen, slotted dataclass that renders back to CQL.

    ``str(node)`` is ``node.to_cql()``: text that parses back to an equal node (a statement,
    a term, a type...).
    """

    __slots__ = ()

    def to_cql(self) -> str:
        """The node as CQL text."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_cql()


@dataclass(frozen=True, slots=True, kw_only=True)
class QualifiedName(Node):
    """``[keyspace.]name`` as written: ``keyspace`` is None when the statement leaves it to
    the session's keyspace. Unquoted names are folded to lower case, quoted ones kept."""

    keyspace: str | None = None
    name: str

    def to_cql(self) -> str:
        return qualified(self.keyspace, self.name)


class Statement(Node):
    """A complete CQL statement."""

    __slots__ = ()
