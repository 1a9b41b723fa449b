"""The dev server's network side: asyncio over the sans-IO protocol codec.

One :class:`~cassflow.protocol.Connection` per client. Requests are answered as they come,
each on its own stream (so answers can overtake one another, as with Cassandra); STARTUP,
authentication, OPTIONS and REGISTER are handled here, everything that touches data goes to
the request handler (the executor). Fault rules are consulted before a request reaches it.
Schema changes are pushed to every connection that REGISTERed for them.

Group commit: the requests that arrive in one turn of the event loop, on every connection,
run in one storage transaction (each statement in a savepoint of its own, so one failing
statement leaves its neighbours applied). Their answers wait in per-connection queues; at the
end of the turn the transaction commits, then each connection's answers go out in one write.
No answer leaves before the writes it acknowledges are committed; if the commit fails, the
answers are dropped and their connections closed, so nothing uncommitted is ever acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cassflow.devserver._faults import Fault, FaultInjector, FaultKind
from cassflow.protocol import (
    CLOSED,
    NEED_DATA,
    SUPPORTED_COMPRESSION,
    SUPPORTED_VERSIONS,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    BadCredentials,
    Batch,
    Connection,
    Envelope,
    ErrorMessage,
    EventType,
    Execute,
    Message,
    Options,
    Prepare,
    ProtocolViolation,
    Query,
    Ready,
    Register,
    RemoteProtocolError,
    Role,
    SchemaChange,
    SchemaChangeEvent,
    ServerError,
    Startup,
    Supported,
)

log = logging.getLogger(__name__)

#: What Cassandra 4.1 announces in SUPPORTED for the CQL language version.
SERVER_CQL_VERSION = "3.4.6"
PASSWORD_AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"
_READ_CHUNK = 256 * 1024


@dataclass(slots=True)
class ClientSession:
    """What the server knows about one client connection (also system_views.clients)."""

    connection_id: int
    address: str
    port: int
    protocol_version: int | None = None
    driver_name: str | None = None
    driver_version: str | None = None
    #: Every STARTUP option, keys upper-cased (as Cassandra 4.1 keeps them).
    client_options: dict[str, str] | None = None
    username: str | None = None
    keyspace: str | None = None
    requests: int = 0
    authenticated: bool = False
    registered: set[EventType] = field(default_factory=set)

    @property
    def stage(self) -> str:
        """Cassandra's connection_stage for system_views.clients."""
        return "ready" if self.authenticated else "authenticating"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A handler's answer to one request."""

    message: Message
    warnings: tuple[str, ...] = ()
    schema_change: SchemaChange | None = None


class RequestHandler(Protocol):
    """What the server needs from the executor."""

    def target(
        self, session: ClientSession, message: Message
    ) -> tuple[str | None, str | None, str | None]:
        """The CQL text, keyspace and table a request touches (for fault rules)."""

    def handle(self, session: ClientSession, message: Message) -> Outcome:
        """Run a QUERY, PREPARE, EXECUTE or BATCH."""

    def trace(
        self,
        session: ClientSession,
        message: Message,
        outcome: Outcome,
        started_at: float,
        duration_us: int,
    ) -> uuid.UUID:
        """Record a request the client asked to trace; returns its tracing session id."""


class Transactions(Protocol):
    """The storage's group transaction (see the module docstring)."""

    def begin(self) -> None:
        """Open a transaction that later writes join."""

    def commit(self) -> None:
        """Make every write since :meth:`begin` durable (or raise, having rolled them back)."""


class Authenticator(Protocol):
    """Checks SASL PLAIN credentials."""

    def authenticate(self, username: str, password: str) -> bool:
        """Whether this role may log in with this password."""


class _Client:
    """One client connection: reads, answers, pushes events."""

    def __init__(
        self,
        server: CqlServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: ClientSession,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.session = session
        self.conn = Connection(Role.SERVER, supported_versions=server.protocol_versions)
        self.closed = False
        #: Answers (or raw error replies) waiting for the end of the loop turn, in order.
        self.queued: list[Envelope | bytes] = []

    def send(self, envelope: Envelope | bytes) -> None:
        """Queue an answer; it is written at the end of the turn, after the group commit."""
        if self.closed:
            return
        self.queued.append(envelope)
        self.server.flush_soon(self)

    def write_queued(self) -> None:
        """Encode and write every queued answer in one go (the server calls it after commit)."""
        queued, self.queued = self.queued, []
        if self.closed or not queued:
            return
        chunks: list[bytes] = []
        failed = False
        run: list[Envelope] = []  # consecutive answers: on v5 they share segments
        for item in [*queued, b""]:
            if isinstance(item, Envelope):
                run.append(item)
                continue
            if run:
                try:
                    chunks.append(self.conn.send_many(run))
                except Exception:
                    log.exception("cannot answer streams %s", [e.stream for e in run])
                    failed = True
                    break
                run = []
            chunks.append(item)
        try:
            self.writer.write(b"".join(chunks))
        except Exception:
            log.exception("cannot write to client %s", self.session.address)
            failed = True
        if failed:
            self.abort()

    def drop_queued(self) -> None:
        """Forget the queued answers and close: they may acknowledge uncommitted writes."""
        self.queued = []
        self.abort()

    def abort(self) -> None:
        """Close without writing what is queued."""
        if not self.closed:
            self.closed = True
            self.writer.close()

    def close(self) -> None:
        """Close after the answers queued so far are committed and written."""
        if self.closed:
            return
        if self.queued:
            self.server.flush()
        self.abort()

    async def run(self) -> None:
        try:
            while not self.closed:
                data = await self.reader.read(_READ_CHUNK)
                self.conn.receive_data(data)
                if not self._drain_events():
                    break
                # Flow control: read no more before this turn's answers are out and drained.
                await self.server.flushed()
                await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    def _drain_events(self) -> bool:
        """Answer every complete request received; False once the connection must end."""
        while True:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:
                if exc.reply:
                    self.send(exc.reply)
                log.debug("client %s broke the protocol: %s", self.session.address, exc)
                if exc.fatal:
                    return False
                continue
            if event is NEED_DATA:
                return True
            if event is CLOSED:
                return False
            assert isinstance(event, Envelope)
            self._dispatch(event)

    def _dispatch(self, request: Envelope) -> None:
        message = request.message
        self.session.requests += 1
        if self.session.protocol_version is None:
            self.session.protocol_version = self.conn.version
        if isinstance(message, Options):
            self._answer(request, self.server.supported())
        elif isinstance(message, Startup):
            self._answer(request, self._startup(message))
        elif isinstance(message, AuthResponse):
            self._answer(request, self._auth_response(message))
        elif isinstance(message, Register):
            self.session.registered.update(message.event_types)
            self._answer(request, Ready())
        elif isinstance(message, Query | Prepare | Execute | Batch):
            self._run(request)
        else:  # the codec lets only requests through; anything else is our bug
            self._answer(request, ServerError(message=f"unexpected {message.opcode.name}"))

    def _answer(self, request: Envelope, message: Message, warnings: tuple[str, ...] = ()) -> None:
        self.send(Envelope(stream=request.stream, message=message, warnings=warnings))

    def _startup(self, startup: Startup) -> Message:
        options = startup.options
        cql_version = options.get("CQL_VERSION")
        if cql_version is None:
            return ProtocolViolation(message="CQL_VERSION is mandatory")
        if not cql_version.startswith("3."):
            return ProtocolViolation(message=f"Unknown CQL version {cql_version}")
        compression = options.get("COMPRESSION")
        if compression is not None and compression.lower() not in SUPPORTED_COMPRESSION:
            return ProtocolViolation(message=f"Unknown compression algorithm: {compression}")
        self.session.client_options = {key.upper(): value for key, value in options.items()}
        self.session.driver_name = options.get("DRIVER_NAME")
        self.session.driver_version = options.get("DRIVER_VERSION")
        if self.server.authenticator is not None:
            return Authenticate(authenticator=PASSWORD_AUTHENTICATOR)
        self.session.authenticated = True
        return Ready()

    def _auth_response(self, response: AuthResponse) -> Message:
        authenticator = self.server.authenticator
        assert authenticator is not None  # the codec refuses AUTH_RESPONSE before AUTHENTICATE
        # SASL PLAIN: [authzid] NUL authcid NUL password.
        parts = (response.token or b"").split(b"\x00")
        if len(parts) != 3:
            return BadCredentials(message="Authentication failed: malformed SASL PLAIN token")
        username = parts[1].decode("utf-8", "replace")
        password = parts[2].decode("utf-8", "replace")
        if not authenticator.authenticate(username, password):
            return BadCredentials(
                message=f"Provided username {username} and/or password are incorrect"
            )
        self.session.username = username
        self.session.authenticated = True
        return AuthSuccess(token=None)

    def _run(self, request: Envelope) -> None:
        handler = self.server.handler
        fault = None
        if self.server.faults.active:
            statement, keyspace, table = handler.target(self.session, request.message)
            executes = not isinstance(request.message, Prepare)
            fault = self.server.faults.check(statement, keyspace, table, executes=executes)
        if fault is None:
            self._execute(request)
            return
        self._apply_fault(request, fault)

    def _apply_fault(self, request: Envelope, fault: Fault) -> None:
        log.info("fault rule %s: %s on stream %s", fault.rule_id, fault.kind, request.stream)
        if fault.error is not None:
            self._answer(request, fault.error)
        elif fault.kind is FaultKind.LATENCY:
            self.server.loop_call_later(fault.delay_seconds, lambda: self._execute(request))
        elif fault.kind is FaultKind.DROP_CONNECTION:
            self.close()
        # NO_RESPONSE: the request is swallowed; the client's own timeout must fire.

    def _execute(self, request: Envelope) -> None:
        if self.closed:
            return
        self.server.join_group()
        started = time.time()
        tracing_id = None
        try:
            outcome = self.server.handler.handle(self.session, request.message)
            if request.tracing and not isinstance(outcome.message, ErrorMessage):
                elapsed_us = int((time.time() - started) * 1_000_000)
                tracing_id = self.server.handler.trace(
                    self.session, request.message, outcome, started, elapsed_us
                )
        except Exception as exc:  # a bug in the executor must not kill the connection
            log.exception("request on stream %s failed", request.stream)
            outcome = Outcome(message=ServerError(message=f"{type(exc).__name__}: {exc}"))
        self.send(
            Envelope(
                stream=request.stream,
                message=outcome.message,
                warnings=outcome.warnings,
                tracing=tracing_id is not None,
                tracing_id=tracing_id,
            )
        )
        if outcome.schema_change is not None:
            self.server.broadcast_schema_change(outcome.schema_change)


class CqlServer:
    """The listening side: accepts clients and keeps track of them."""

    def __init__(
        self,
        handler: RequestHandler,
        *,
        authenticator: Authenticator | None = None,
        faults: FaultInjector | None = None,
        protocol_versions: tuple[int, ...] = tuple(SUPPORTED_VERSIONS),
        transactions: Transactions | None = None,
    ) -> None:
        self.handler = handler
        self.authenticator = authenticator
        self.faults = faults or FaultInjector()
        self.protocol_versions = protocol_versions
        self.transactions = transactions
        self.clients: dict[int, _Client] = {}
        self._ids = itertools.count(1)
        self._group_open = False
        #: Clients with queued answers (a dict: insertion-ordered, no duplicates).
        self._dirty: dict[_Client, None] = {}
        self._flushed: asyncio.Future[None] | None = None
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] | None = None

    def supported(self) -> Message:
        """The SUPPORTED answer, as Cassandra 4.1 gives it."""
        return Supported(
            options={
                "CQL_VERSION": (SERVER_CQL_VERSION,),
                "COMPRESSION": SUPPORTED_COMPRESSION,
                "PROTOCOL_VERSIONS": tuple(f"{v}/v{v}" for v in self.protocol_versions),
            }
        )

    def sessions(self) -> list[ClientSession]:
        """Sessions of the connected clients (for system_views.clients)."""
        return [client.session for client in self.clients.values()]

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (0: a free port); returns the bound address."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, host, port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])
        return self.address

    async def stop(self) -> None:
        """Stop listening and close every client connection."""
        if self._server is not None:
            self._server.close()
            for client in list(self.clients.values()):
                client.close()
            self.flush()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    # --- group commit ------------------------------------------------------------------------

    def join_group(self) -> None:
        """Make the request about to run part of this turn's group transaction."""
        if self._group_open or self.transactions is None:
            return
        try:
            self.transactions.begin()
        except Exception:  # e.g. the storage is closing: each write then commits on its own
            log.debug("no group transaction", exc_info=True)
            return
        self._group_open = True
        self._schedule_flush()

    def flush_soon(self, client: _Client) -> None:
        """Note that ``client`` has queued answers; they go out at the end of the turn."""
        self._dirty[client] = None
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flushed is None:
            loop = asyncio.get_running_loop()
            self._flushed = loop.create_future()
            loop.call_soon(self.flush)

    async def flushed(self) -> None:
        """Wait until this turn's answers are written (returns at once if none are queued)."""
        if self._flushed is not None:
            await asyncio.shield(self._flushed)

    def flush(self) -> None:
        """Commit the group transaction, then write every queued answer."""
        waiter, self._flushed = self._flushed, None
        committed = True
        if self._group_open:
            assert self.transactions is not None
            self._group_open = False
            try:
                self.transactions.commit()
            except Exception:
                log.exception("group commit failed; closing the connections it would answer")
                committed = False
        dirty, self._dirty = self._dirty, {}
        try:
            for client in dirty:
                if committed:
                    client.write_queued()
                else:
                    client.drop_queued()
        finally:  # readers paused on this turn must resume whatever happened
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def loop_call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the server's loop after ``delay`` seconds."""
        assert self._loop is not None
        self._loop.call_later(delay, callback)

    def broadcast_schema_change(self, change: SchemaChange) -> None:
        """Push a SCHEMA_CHANGE event to every client registered for it."""
        event = Envelope(stream=-1, message=SchemaChangeEvent(change=change))
        for client in list(self.clients.values()):
            if EventType.SCHEMA_CHANGE in client.session.registered:
                client.send(event)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        session = ClientSession(connection_id=next(self._ids), address=peer[0], port=peer[1])
        client = _Client(self, reader, writer, session)
        self.clients[session.connection_id] = client
        try:
            await client.run()
        finally:
            self.clients.pop(session.connection_id, None)


__all__ = [
    "PASSWORD_AUTHENTICATOR",
    "SERVER_CQL_VERSION",
    "Authenticator",
    "ClientSession",
    "CqlServer",
    "Outcome",
    "RequestHandler",
    "Transactions",
]
