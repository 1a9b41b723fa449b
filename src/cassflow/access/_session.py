"""A driver Session that checks every statement against a :class:`KeyspaceGuard` first.

:class:`GuardedSession` wraps an unmodified ``cassandra.cluster.Session``: ``execute``,
``execute_async``, ``prepare`` and ``set_keyspace`` refuse a statement outside the connection's
binding before anything is sent; every other attribute is the wrapped session's, so code
written for a driver Session (the copy engine, CQL activities, waits) works unchanged.

What is checked: query strings (after the driver would fill in ``%s`` parameters),
``SimpleStatement`` and the simple statements of a ``BatchStatement``, as text. Bound
statements are let through when their prepared statement was prepared through this session
(its text was checked then); a bound statement prepared elsewhere is refused.

The keyspace of unqualified names is the session's (``USE`` changes it once the server has
answered). While a ``USE`` is in flight a statement is checked against both keyspaces, so a
statement sent concurrently cannot slip into a keyspace that is not yet the session's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from cassandra.metadata import protect_name
from cassandra.query import (
    BatchStatement,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    bind_params,
)

from cassflow.access._guard import KeyspaceGuard, KeyspaceGuardError


class GuardedSession:
    """A driver Session whose statements are checked by ``guard`` before they are sent."""

    def __init__(self, session: Any, guard: KeyspaceGuard) -> None:
        self._session = session
        self._guard = guard
        self._lock = threading.Lock()
        # Ids of the statements prepared (and so checked) through this session.
        self._prepared: set[bytes] = set()
        # Keyspaces of USE statements sent but not answered yet, with how many of each.
        self._pending_use: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"GuardedSession({self._guard!r}, keyspace={self._session.keyspace!r})"

    def __getattr__(self, name: str) -> Any:
        # Only reached for what this class does not define: the driver session's attributes.
        return getattr(self._session, name)

    @property
    def guard(self) -> KeyspaceGuard:
        """The guard every statement passes."""
        return self._guard

    @property
    def unguarded(self) -> Any:
        """The wrapped driver session (for cassflow's own bookkeeping statements)."""
        return self._session

    # --- the checked entry points ----------------------------------------------------------

    def execute(self, query: Any, parameters: Any = None, *args: Any, **kwargs: Any) -> Any:
        """``Session.execute``, after the guard accepted the statement."""
        use = self._check(query, parameters)
        if use is None:
            return self._session.execute(query, parameters, *args, **kwargs)
        self._use_started(use)
        try:
            return self._session.execute(query, parameters, *args, **kwargs)
        finally:
            self._use_done(use)

    def execute_async(self, query: Any, parameters: Any = None, *args: Any, **kwargs: Any) -> Any:
        """``Session.execute_async``, after the guard accepted the statement."""
        use = self._check(query, parameters)
        if use is None:
            return self._session.execute_async(query, parameters, *args, **kwargs)
        self._use_started(use)
        try:
            future = self._session.execute_async(query, parameters, *args, **kwargs)
        except BaseException:
            self._use_done(use)
            raise
        future.add_callbacks(
            callback=lambda _result: self._use_done(use),
            errback=lambda _error: self._use_done(use),
        )
        return future

    def prepare(self, query: Any, custom_payload: Any = None, keyspace: str | None = None) -> Any:
        """``Session.prepare``, after the guard accepted the statement; the prepared
        statement's bound statements are then let through."""
        text = query.query_string if isinstance(query, SimpleStatement) else query
        if not isinstance(text, str):
            raise KeyspaceGuardError(
                f"refused to prepare a {type(query).__name__}: expected a CQL string"
            )
        self._verify(text, keyspace)
        prepared = self._session.prepare(query, custom_payload, keyspace)
        with self._lock:
            self._prepared.add(prepared.query_id)
        return prepared

    def set_keyspace(self, keyspace: str) -> None:
        """``Session.set_keyspace`` (a ``USE``), through the guard."""
        self.execute(f"USE {protect_name(keyspace)}")

    # --- checks ----------------------------------------------------------------------------

    def _check(self, query: Any, parameters: Any) -> str | None:
        """Refuse ``query`` unless the guard accepts it; the keyspace it USEs, if any."""
        if isinstance(query, str):
            return self._verify(_bound_text(query, parameters, self._session), None)
        if isinstance(query, SimpleStatement):
            text = _bound_text(query.query_string, parameters, self._session)
            return self._verify(text, query.keyspace)
        if isinstance(query, BoundStatement):
            self._check_prepared(query.prepared_statement.query_id, query.prepared_statement)
            return None
        if isinstance(query, PreparedStatement):
            self._check_prepared(query.query_id, query)
            return None
        if isinstance(query, BatchStatement):
            for prepared, statement, _values in _batch_items(query):
                if prepared:
                    self._check_prepared(statement, None)
                else:
                    self._verify(statement, query.keyspace)
            return None
        raise KeyspaceGuardError(
            f"refused a {type(query).__name__}: a guarded session sends CQL strings, simple, "
            "prepared and batch statements"
        )

    def _check_prepared(self, query_id: bytes, prepared: PreparedStatement | None) -> None:
        if query_id in self._prepared:
            return
        text = prepared.query_string if prepared is not None else "a prepared statement"
        raise KeyspaceGuardError(
            f"refused {text!r}: it was not prepared through this guarded session, so its "
            f"keyspace was never checked; prepare it with this session "
            f"({self._guard.describe()})"
        )

    def _verify(self, text: str, statement_keyspace: str | None) -> str | None:
        """Check ``text`` in every keyspace it may run in; the keyspace a USE switches to."""
        with self._lock:
            candidates = {self._session.keyspace, *self._pending_use}
        if statement_keyspace is not None:
            # Protocol v5 sends the statement's keyspace along; older ones use the session's.
            candidates.add(statement_keyspace)
        # Without a USE each check leaves its own keyspace; a USE leaves its target in all.
        after = {self._guard.verify(text, keyspace) for keyspace in candidates}
        new = [keyspace for keyspace in after - candidates if keyspace is not None]
        return new[0] if new else None

    def _use_started(self, keyspace: str) -> None:
        with self._lock:
            self._pending_use[keyspace] = self._pending_use.get(keyspace, 0) + 1

    def _use_done(self, keyspace: str) -> None:
        with self._lock:
            left = self._pending_use.get(keyspace, 0) - 1
            if left > 0:
                self._pending_use[keyspace] = left
            else:
                self._pending_use.pop(keyspace, None)


def _bound_text(query: str, parameters: Any, session: Any) -> str:
    """The text the driver sends: ``%s`` parameters filled in (when any are given)."""
    if not parameters:
        return query
    return str(bind_params(query, parameters, session.encoder))


def _batch_items(batch: BatchStatement) -> Iterable[tuple[bool, Any, Any]]:
    # The driver keeps a batch's statements as (is_prepared, query id or text, values) and
    # offers no public accessor; the attribute has been stable since driver 2.0.
    items: Iterable[tuple[bool, Any, Any]] = batch._statements_and_parameters
    return items
