"""What a request asks to do, in the terms the proxy's policy decides with.

Every QUERY and PREPARE text is parsed with :mod:`cassflow.cql` (so comments, quoted names and
batches are read exactly as Cassandra reads them) and turned into :class:`RequestFact` s: a
verb (``SELECT``, ``MODIFY``, ``DDL``, ``AUTH`` or ``USE``), the keyspace and the table it
touches. Names are resolved as Cassandra resolves them:

* a keyspace written in the text wins; else the keyspace of the request (the v5 ``keyspace``
  field of QUERY, PREPARE and BATCH); else the connection's keyspace, set by a ``USE`` once
  the server has acknowledged it (:meth:`ClientState.on_use_succeeded`);
* unquoted names fold to lower case, quoted ones keep their case (``"Shop"`` is not
  ``shop``); the request's keyspace field is taken as written, as Cassandra takes it;
* a statement that needs a keyspace and has none is refused with Cassandra's own message.

Some statements yield more than one fact: each statement of a BATCH, the read of a lightweight
transaction (its ``IF`` reveals the row), the base table of a materialized view, and every
function called from another keyspace. Text that does not parse is refused with the error
Cassandra would answer (the proxy fails closed); so is QUERY text holding more than one
statement, which Cassandra does not accept either. See docs/proxy-authorization.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Final

from cassflow.access._guard import _excerpt, _function_keyspaces, _verb_name
from cassflow.cql import (
    AllFunctionsResource,
    AlterRole,
    AlterUser,
    Batch,
    Classification,
    CqlError,
    CqlInvalidError,
    CqlSyntaxError,
    CreateMaterializedView,
    CreateRole,
    CreateUser,
    Delete,
    Describe,
    FunctionResource,
    GrantPermissions,
    Insert,
    KeyspaceResource,
    ListPermissions,
    Resource,
    RevokePermissions,
    Statement,
    TableResource,
    Update,
    Use,
    Verb,
    classify,
    parse_statement,
)
from cassflow.errors import CassflowError
from cassflow.protocol import ErrorCode

#: Cassandra's message for an unqualified name on a connection without a keyspace.
NO_KEYSPACE: Final = (
    "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename"
)
#: Cassandra's message for a BATCH entry that is not INSERT, UPDATE or DELETE.
NOT_BATCHABLE: Final = (
    "Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed."
)
# Cassandra's message (its spelling) for an unqualified function in GRANT/REVOKE/LIST.
_UNQUALIFIED_FUNCTION: Final = (
    "In this context function name must be explictly qualified by a keyspace"
)

# The keyspace of Cassandra's built-in functions (no one can add functions to it).
_NATIVE_FUNCTIONS: Final = "system"
_REDACTED: Final = "*****"
_PASSWORD: Final = re.compile("password", re.IGNORECASE)
# Resolved statements per (text, keyspace): clients send the same few texts again and again.
_CACHE_SIZE: Final = 4096


class RequestRefusedError(CassflowError):
    """The proxy refuses a request before it reaches Cassandra.

    ``code`` is the CQL error the client gets: ``SYNTAX_ERROR`` or ``INVALID`` for text
    Cassandra would refuse the same way, ``UNAUTHORIZED`` for a policy denial, ``UNPREPARED``
    (with ``prepared_id``) for a prepared id this identity did not prepare through the proxy.
    The message never holds bound values or passwords.
    """

    def __init__(self, message: str, *, code: ErrorCode, prepared_id: bytes | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.prepared_id = prepared_id


@dataclass(slots=True)
class ClientState:
    """One client connection as authorization sees it: whose it is and its keyspace.

    ``identity_key`` names the identity (prepared statements are tracked per identity, across
    its connections). ``keyspace`` is the connection's keyspace for unqualified names; it
    changes only when the server acknowledges a ``USE`` (its SET_KEYSPACE result), never when
    the USE is merely sent.
    """

    identity_key: Hashable
    keyspace: str | None = None

    def on_use_succeeded(self, keyspace: str) -> None:
        """The server answered a ``USE`` with SET_KEYSPACE ``keyspace`` (its stored name)."""
        self.keyspace = keyspace


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFact:
    """One thing a statement does: ``verb`` on ``keyspace`` (and ``table``, None when the
    statement acts on the keyspace as a whole, or on no keyspace at all for role statements).

    ``statement_kind`` names the statement (``SELECT``, ``INSERT``, ``CREATE INDEX``,
    ``GRANT``...). ``because`` says why a fact exists that is not the statement's own target
    (the read of a conditional update, a view's base table, a function from another keyspace).
    """

    verb: Verb
    keyspace: str | None
    table: str | None
    statement_kind: str
    because: str | None = None

    def describe(self) -> str:
        """The fact in words, as denials say it: ``SELECT on shop.orders``."""
        if self.keyspace is None:
            where = ""
        elif self.table is None:
            where = f" on keyspace {self.keyspace}"
        else:
            where = f" on {self.keyspace}.{self.table}"
        why = f" ({self.because})" if self.because else ""
        return f"{self.verb.value}{where}{why}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedStatement:
    """A parsed statement with its names resolved, ready to authorize and to remember.

    ``keyspace`` is the keyspace unqualified names were resolved against (the request's
    keyspace field, else the connection's): the forwarder must run the statement upstream with
    exactly this keyspace (the v5 keyspace field), or Cassandra could resolve a name against
    another one. ``audit_text`` is ``text`` with passwords replaced by ``*****``.
    ``batchable`` says whether a BATCH message may carry it (INSERT, UPDATE, DELETE).
    ``conditional`` says whether it has an IF (it alone uses the serial consistency);
    ``batch_size`` is the number of statements of a ``BEGIN BATCH`` text (None otherwise).
    """

    text: str
    keyspace: str | None
    statement_kind: str
    facts: tuple[RequestFact, ...]
    audit_text: str
    batchable: bool
    conditional: bool = False
    batch_size: int | None = None


#: Decides one fact: None allows it, a string is the reason it is denied.
Decide = Callable[[RequestFact], str | None]


def resolve_query(
    text: str, state: ClientState, *, keyspace_option: str | None = None
) -> ResolvedStatement:
    """Parse and resolve the text of a QUERY or PREPARE (one statement); raise
    :class:`RequestRefusedError` for text Cassandra would refuse before reaching the schema."""
    keyspace = keyspace_option if keyspace_option is not None else state.keyspace
    return _resolve(text, keyspace)


def actions_for_query(
    text: str, state: ClientState, *, keyspace_option: str | None = None
) -> list[RequestFact]:
    """The facts of a QUERY or PREPARE text (one per statement of a BATCH, and more; see the
    module docstring); raise :class:`RequestRefusedError` for text that does not parse."""
    return list(resolve_query(text, state, keyspace_option=keyspace_option).facts)


def check_facts(facts: Iterable[RequestFact], decide: Decide, *, context: str = "") -> None:
    """Raise :class:`RequestRefusedError` (Unauthorized) at the first fact ``decide`` denies;
    ``context`` prefixes the message (``prepared ``)."""
    for fact in facts:
        reason = decide(fact)
        if reason is not None:
            raise RequestRefusedError(
                f"{context}{fact.statement_kind} refused: {fact.describe()}: {reason}",
                code=ErrorCode.UNAUTHORIZED,
            )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _resolve(text: str, keyspace: str | None) -> ResolvedStatement:
    try:
        statement = parse_statement(text)
    except CqlError as exc:
        # Answered as Cassandra answers it: the proxy fails closed on what it cannot read.
        code = ErrorCode.INVALID if isinstance(exc, CqlInvalidError) else ErrorCode.SYNTAX_ERROR
        message = str(exc)
        if _PASSWORD.search(text):
            # Parser messages quote the text around the error, which may be the password.
            message = "the statement sets a password and does not parse (details withheld)"
            if isinstance(exc, CqlSyntaxError):
                message = f"line {exc.line}:{exc.column} {message}"
        raise RequestRefusedError(message, code=code) from None
    classification = classify(statement)
    kind = _verb_name(statement, classification.verb)
    return ResolvedStatement(
        text=text,
        keyspace=keyspace,
        statement_kind=kind,
        facts=tuple(_Resolver(keyspace, kind, text).facts(statement, classification)),
        audit_text=_audit_text(text, statement),
        batchable=isinstance(statement, Insert | Update | Delete),
        conditional=classification.conditional,
        batch_size=len(statement.statements) if isinstance(statement, Batch) else None,
    )


@dataclass(frozen=True, slots=True)
class _Resolver:
    """Turns one parsed statement into facts, with ``keyspace`` for unqualified names."""

    keyspace: str | None
    kind: str
    text: str

    def facts(self, statement: Statement, classification: Classification) -> Iterator[RequestFact]:
        verb = classification.verb
        if isinstance(statement, Batch):
            for inner in statement.statements:
                yield from self._data(inner, Verb.MODIFY, classify(inner))
        elif isinstance(statement, Describe):
            # DESCRIBE renders the schema tables every client may read; Cassandra checks no
            # permission for it either.
            yield self._fact(Verb.SELECT, "system_schema", None, "DESCRIBE reads the schema")
        elif isinstance(statement, Use):
            yield self._fact(Verb.USE, statement.keyspace, None)
        elif verb in (Verb.SELECT, Verb.MODIFY):
            yield from self._data(statement, verb, classification)
        elif verb is Verb.DDL:
            yield from self._ddl(statement, classification.keyspace, classification.table)
        elif verb is Verb.AUTH:
            yield self._auth(statement)
        else:  # not reached with today's grammar; refuse what cannot be classified
            raise RequestRefusedError(
                f"{self.kind} cannot be authorized by the proxy ({_excerpt(self.text)})",
                code=ErrorCode.UNAUTHORIZED,
            )

    def _data(
        self, statement: Statement, verb: Verb, classification: Classification
    ) -> Iterator[RequestFact]:
        """SELECT, INSERT, UPDATE, DELETE, TRUNCATE (and each statement of a BATCH)."""
        table = classification.tables[0]
        keyspace = self._qualify(table[0])
        yield self._fact(verb, keyspace, table[1])
        if classification.conditional:
            # Cassandra checks SELECT too: the answer to an IF reveals the row's values.
            yield self._fact(Verb.SELECT, keyspace, table[1], "its IF condition reads the row")
        yield from self._functions(statement, keyspace)

    def _ddl(
        self, statement: Statement, keyspace: str | None, table: str | None
    ) -> Iterator[RequestFact]:
        """Schema changes: on a table (or view) when one is named, else on the keyspace."""
        keyspace = self._qualify(keyspace)
        yield self._fact(Verb.DDL, keyspace, table)
        if isinstance(statement, CreateMaterializedView):
            base = statement.base_table
            yield self._fact(
                Verb.DDL, self._qualify(base.keyspace), base.name, "the base table of the view"
            )
        yield from self._functions(statement, keyspace)

    def _auth(self, statement: Statement) -> RequestFact:
        """Role and permission statements: on the resource they grant, if any."""
        resource: Resource | None = None
        if isinstance(statement, GrantPermissions | RevokePermissions | ListPermissions):
            resource = statement.resource
        if isinstance(resource, TableResource):
            return self._fact(
                Verb.AUTH, self._qualify(resource.table.keyspace), resource.table.name
            )
        if isinstance(resource, KeyspaceResource):
            return self._fact(Verb.AUTH, resource.keyspace, None)
        if isinstance(resource, AllFunctionsResource):
            return self._fact(Verb.AUTH, resource.keyspace, None)
        if isinstance(resource, FunctionResource):
            if resource.function.keyspace is None:
                raise RequestRefusedError(_UNQUALIFIED_FUNCTION, code=ErrorCode.INVALID)
            return self._fact(Verb.AUTH, resource.function.keyspace, None)
        return self._fact(Verb.AUTH, None, None)

    def _functions(self, statement: Statement, keyspace: str) -> Iterator[RequestFact]:
        """A function named with another keyspace is that keyspace's code: Cassandra resolves
        unqualified names among the native functions and the statement's own keyspace only.
        ``system.`` names the native functions, which Cassandra lets every login call."""
        for other in dict.fromkeys(_function_keyspaces(statement)):
            if other not in (keyspace, _NATIVE_FUNCTIONS):
                yield self._fact(Verb.SELECT, other, None, f"calls a function of keyspace {other}")

    def _qualify(self, keyspace: str | None) -> str:
        if keyspace is not None:
            return keyspace
        if self.keyspace is None:
            raise RequestRefusedError(NO_KEYSPACE, code=ErrorCode.INVALID)
        return self.keyspace

    def _fact(
        self, verb: Verb, keyspace: str | None, table: str | None, because: str | None = None
    ) -> RequestFact:
        return RequestFact(
            verb=verb, keyspace=keyspace, table=table, statement_kind=self.kind, because=because
        )


def _audit_text(text: str, statement: Statement) -> str:
    """``text``, or the statement re-rendered with its passwords masked when it has any."""
    if isinstance(statement, CreateRole | AlterRole):
        options = statement.options
        if options.password is None and options.hashed_password is None:
            return text
        masked = replace(
            options,
            password=None if options.password is None else _REDACTED,
            hashed_password=None if options.hashed_password is None else _REDACTED,
        )
        return replace(statement, options=masked).to_cql()
    if isinstance(statement, CreateUser | AlterUser):
        if statement.password is None and statement.hashed_password is None:
            return text
        return replace(
            statement,
            password=None if statement.password is None else _REDACTED,
            hashed_password=None if statement.hashed_password is None else _REDACTED,
        ).to_cql()
    return text
