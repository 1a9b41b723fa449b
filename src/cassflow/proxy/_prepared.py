"""Prepared statements per identity, and the statements of a BATCH message.

Cassandra gives a prepared statement an id anyone who knows it can EXECUTE. The proxy does
not: :class:`PreparedRegistry` remembers, per identity, the ids the server returned to that
identity's PREPAREs through the proxy, with the statement they stand for (text, the keyspace
it was resolved against, its facts). An EXECUTE, or a BATCH entry, with an id the identity did
not prepare is refused; one it did prepare is checked again against the current policy, so a
rule removed after the PREPARE takes effect at the next EXECUTE.

An unknown id is answered as Cassandra answers one it has evicted: an UNPREPARED error
carrying the id. A driver that prepared the statement itself then prepares it again (through
the proxy, so it is authorized again) and retries; one that merely learnt another identity's
id holds no text to prepare and is refused for good. Each identity keeps at most
``max_per_identity`` ids (least recently used dropped first) and the registry at most
``max_identities`` identities, so a client cannot grow the proxy's memory without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Final

from cassflow.protocol import ErrorCode
from cassflow.proxy._requests import (
    NOT_BATCHABLE,
    ClientState,
    Decide,
    RequestFact,
    RequestRefusedError,
    ResolvedStatement,
    check_facts,
    resolve_query,
)

#: Prepared statements one identity keeps (Cassandra's own cache holds thousands per node).
DEFAULT_MAX_PER_IDENTITY: Final = 5000
#: Identities with prepared statements the registry keeps.
DEFAULT_MAX_IDENTITIES: Final = 10_000

UNKNOWN_PREPARED: Final = "unknown prepared statement for this identity"


class PreparedRegistry:
    """Prepared ids per identity; see the module docstring. Thread-safe."""

    def __init__(
        self,
        *,
        max_per_identity: int = DEFAULT_MAX_PER_IDENTITY,
        max_identities: int = DEFAULT_MAX_IDENTITIES,
    ) -> None:
        if max_per_identity < 1 or max_identities < 1:
            raise ValueError("a prepared registry keeps at least one statement and identity")
        self._max_per_identity = max_per_identity
        self._max_identities = max_identities
        self._lock = threading.Lock()
        self._by_identity: OrderedDict[Hashable, OrderedDict[bytes, ResolvedStatement]] = (
            OrderedDict()
        )

    def __repr__(self) -> str:
        with self._lock:
            sizes = sum(len(ids) for ids in self._by_identity.values())
            return f"PreparedRegistry(identities={len(self._by_identity)}, statements={sizes})"

    def register(
        self, identity_key: Hashable, prepared_id: bytes, statement: ResolvedStatement
    ) -> None:
        """Remember that the server answered ``identity_key``'s PREPARE of ``statement``
        (resolved and authorized before it was forwarded) with ``prepared_id``."""
        with self._lock:
            ids = self._by_identity.get(identity_key)
            if ids is None:
                ids = self._by_identity[identity_key] = OrderedDict()
                while len(self._by_identity) > self._max_identities:
                    self._by_identity.popitem(last=False)
            self._by_identity.move_to_end(identity_key)
            ids[prepared_id] = statement
            ids.move_to_end(prepared_id)
            while len(ids) > self._max_per_identity:
                ids.popitem(last=False)

    def lookup(self, identity_key: Hashable, prepared_id: bytes) -> ResolvedStatement:
        """The statement ``identity_key`` prepared as ``prepared_id``; raise
        :class:`RequestRefusedError` (UNPREPARED, with the id) when it prepared none."""
        with self._lock:
            ids = self._by_identity.get(identity_key)
            if ids is None or prepared_id not in ids:
                raise RequestRefusedError(
                    f"{UNKNOWN_PREPARED} (id {prepared_id.hex()})",
                    code=ErrorCode.UNPREPARED,
                    prepared_id=prepared_id,
                )
            ids.move_to_end(prepared_id)
            self._by_identity.move_to_end(identity_key)
            return ids[prepared_id]

    def check_execute(
        self, identity_key: Hashable, prepared_id: bytes, decide: Decide
    ) -> ResolvedStatement:
        """The statement of an EXECUTE, after checking its facts with ``decide`` (the policy
        as it is now); raise :class:`RequestRefusedError` for an unknown id or a denial."""
        statement = self.lookup(identity_key, prepared_id)
        check_facts(statement.facts, decide, context="prepared ")
        return statement

    def forget(self, identity_key: Hashable) -> None:
        """Drop every prepared id of ``identity_key`` (e.g. when its access is revoked)."""
        with self._lock:
            self._by_identity.pop(identity_key, None)


def resolve_batch(
    statements: Iterable[str | bytes],
    state: ClientState,
    registry: PreparedRegistry,
    *,
    keyspace_option: str | None = None,
) -> list[ResolvedStatement]:
    """The statements of a BATCH message, each CQL text (resolved with the batch's v5
    ``keyspace_option``, else the connection's keyspace) or a prepared id (looked up for this
    identity; its keyspace was fixed when it was prepared). As Cassandra, refuses an entry
    that is not INSERT, UPDATE or DELETE."""
    resolved: list[ResolvedStatement] = []
    for entry in statements:
        if isinstance(entry, bytes):
            statement = registry.lookup(state.identity_key, entry)
        else:
            statement = resolve_query(entry, state, keyspace_option=keyspace_option)
        if not statement.batchable:
            raise RequestRefusedError(NOT_BATCHABLE, code=ErrorCode.INVALID)
        resolved.append(statement)
    return resolved


def actions_for_batch(
    statements: Iterable[str | bytes],
    state: ClientState,
    registry: PreparedRegistry,
    *,
    keyspace_option: str | None = None,
) -> list[RequestFact]:
    """Every fact of a BATCH message's statements (see :func:`resolve_batch`)."""
    resolved = resolve_batch(statements, state, registry, keyspace_option=keyspace_option)
    return [fact for statement in resolved for fact in statement.facts]
