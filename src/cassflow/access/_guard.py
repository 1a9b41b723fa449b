"""The client-side keyspace guard: a connection touches only the keyspace it is bound to.

A connection profile is bound to one keyspace and may read a few others. Before a statement
leaves the client, :class:`KeyspaceGuard` parses it with :mod:`cassflow.cql` (so comments,
quoted names and batches are read exactly as Cassandra reads them) and refuses it with a
:class:`KeyspaceGuardError` when it would touch anything else:

* writes, DDL and ``TRUNCATE`` only on the bound keyspace;
* ``SELECT`` (and ``DESCRIBE``, ``USE``) also on the connection's read keyspaces and on the
  system keyspaces drivers and tools read;
* functions only from those keyspaces;
* role and permission statements (``CREATE ROLE``, ``GRANT``, ``LIST ROLES``...) not at all,
  unless the guard allows them (a broker connection that issues credentials).

Unqualified names use the session's keyspace, which ``USE`` changes afterwards, as Cassandra
does; with no keyspace yet the statement goes on and the server refuses it. Text that does not
parse is refused too (the guard fails closed): Cassandra would refuse it with the same syntax
error. The guard narrows what a client can do by mistake; the server's grants stay the
security boundary.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, fields, is_dataclass

from cassflow.cql import (
    Batch,
    CqlError,
    CreateMaterializedView,
    Describe,
    FunctionCall,
    FunctionSelector,
    Node,
    Statement,
    Use,
    Verb,
    classify,
    script_statements,
)
from cassflow.errors import CassflowError

#: Keyspaces every connection may read: schema, node and client information, traces.
SYSTEM_KEYSPACES = frozenset(
    {
        "system",
        "system_schema",
        "system_views",
        "system_virtual_schema",
        "system_distributed",
        "system_traces",
    }
)

# Parsed statements per text: the copy engine sends the same few texts again and again.
_PARSE_CACHE_SIZE = 1024


class KeyspaceGuardError(CassflowError):
    """A statement would touch a keyspace (or manage roles) outside the connection's binding."""


class KeyspaceGuard:
    """Checks statements against a keyspace binding; see the module docstring.

    ``bound`` and ``read`` are keyspace names as stored (case-sensitive: ``Shop`` is the
    quoted ``"Shop"``, ``shop`` is ``shop``, ``SHOP`` or ``"shop"``). ``keyspace`` is the
    session's keyspace for unqualified names at the start (None: none chosen yet); :meth:`check`
    follows ``USE`` statements from there. Thread-safe apart from that keyspace, which a
    session's own bookkeeping passes to :meth:`verify` instead.
    """

    def __init__(
        self,
        bound: str,
        read: Collection[str] = (),
        *,
        allow_auth: bool = False,
        keyspace: str | None = None,
        name: str | None = None,
    ) -> None:
        if not bound:
            raise ValueError("a keyspace guard needs the keyspace it is bound to")
        self.bound = bound
        self.read = frozenset(read) - {bound}
        self.allow_auth = allow_auth
        #: The keyspace unqualified names refer to (changed by checked ``USE`` statements).
        self.keyspace = keyspace
        #: The connection's name, for messages.
        self.name = name

    def __repr__(self) -> str:
        return (
            f"KeyspaceGuard(bound={self.bound!r}, read={sorted(self.read)!r}, "
            f"allow_auth={self.allow_auth})"
        )

    def describe(self) -> str:
        """The binding in words, as errors say it."""
        who = f"connection {self.name}" if self.name else "this connection"
        reads = f"{', '.join(sorted(self.read))} and " if self.read else ""
        return (
            f"{who} is bound to keyspace {self.bound} and may also read {reads}the system keyspaces"
        )

    def check(self, text: str) -> None:
        """Refuse ``text`` (one statement or a script) unless every statement stays within the
        binding; then remember the keyspace its ``USE`` statements leave the session in."""
        self.keyspace = self.verify(text, self.keyspace)

    def verify(self, text: str, keyspace: str | None) -> str | None:
        """Like :meth:`check` with ``keyspace`` as the session's keyspace; returns the keyspace
        after the statements (changed by ``USE``) and changes nothing in the guard."""
        for written, statement in _parse(text):
            keyspace = self._statement(written, statement, keyspace)
        return keyspace

    def _statement(self, written: str, statement: Statement, keyspace: str | None) -> str | None:
        classification = classify(statement)
        verb = _verb_name(statement, classification.verb)
        if classification.verb is Verb.AUTH:
            if not self.allow_auth:
                raise KeyspaceGuardError(
                    f"refused {verb} ({_excerpt(written)}): {self.describe()}, but it does "
                    "not manage roles or permissions; use a connection that may"
                )
            return keyspace
        for use in _uses(statement, classification.verb, classification.keyspace):
            name = use.keyspace if use.keyspace is not None else keyspace
            if name is None:
                continue  # no keyspace yet: the server refuses it ("No keyspace has been ...")
            if not self._allowed(name, use.access):
                readable = name in self.read or name in SYSTEM_KEYSPACES
                may = "only read" if readable else f"not {use.access.replace('write', 'write to')}"
                raise KeyspaceGuardError(
                    f"refused {verb} on keyspace {name} ({_excerpt(written)}): "
                    f"{self.describe()}; it may {may} keyspace {name}"
                )
        if isinstance(statement, Use):
            return statement.keyspace
        return keyspace

    def _allowed(self, keyspace: str, access: str) -> bool:
        if keyspace == self.bound:
            return True
        return access == "read" and (keyspace in self.read or keyspace in SYSTEM_KEYSPACES)


@dataclass(frozen=True, slots=True)
class _Target:
    """One keyspace a statement touches (None: the session's), and how."""

    keyspace: str | None
    #: ``read`` (SELECT, DESCRIBE, USE, calling a function) or ``write`` (anything else).
    access: str


def _uses(statement: Statement, verb: Verb, keyspace: str | None) -> Iterator[_Target]:
    """Every keyspace ``statement`` touches (None: the session's), with the kind of access."""
    # Anything not known to only read counts as a write (the guard fails closed).
    reads = verb in (Verb.SELECT, Verb.USE) or isinstance(statement, Describe)
    access = "read" if reads else "write"
    if isinstance(statement, Batch):
        for inner in statement.statements:
            yield _Target(inner.table.keyspace, "write")
    else:
        yield _Target(keyspace, access)
    if isinstance(statement, CreateMaterializedView):
        yield _Target(statement.base_table.keyspace, "write")
    for function_keyspace in _function_keyspaces(statement):
        yield _Target(function_keyspace, "read")


def _function_keyspaces(node: Node) -> Iterator[str]:
    """The keyspaces of the keyspace-qualified functions ``node`` calls."""
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, FunctionCall | FunctionSelector) and item.function.keyspace:
            yield item.function.keyspace
        if isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, Node) and is_dataclass(item):
            stack.extend(getattr(item, f.name) for f in fields(item))


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _parse_cached(text: str) -> tuple[tuple[str, Statement], ...]:
    return tuple(script_statements(text))


def _parse(text: str) -> tuple[tuple[str, Statement], ...]:
    try:
        statements = _parse_cached(text)
    except CqlError as exc:
        # Fail closed: what cannot be classified is not sent (Cassandra would refuse it too).
        raise KeyspaceGuardError(
            f"refused a statement that does not parse ({_excerpt(text)}): {exc}"
        ) from None
    if not statements:
        raise KeyspaceGuardError("refused an empty statement")
    return statements


def _verb_name(statement: Statement, verb: Verb) -> str:
    """``INSERT``, ``CREATE TABLE``, ``GRANT``... from the statement's class."""
    if verb is Verb.MODIFY and isinstance(statement, Batch):
        return "BATCH"
    name = type(statement).__name__.removesuffix("Permissions")
    words: list[str] = []
    for char in name:
        if char.isupper() and words:
            words.append(" ")
        words.append(char.upper())
    return "".join(words)


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
