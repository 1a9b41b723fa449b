"""The proxy's CQL server: speaks the native protocol to clients, forwards what policy allows.

Clients (unmodified drivers, cqlsh) connect as to Cassandra. Each connection is driven by a
:class:`cassflow.protocol.Connection` in the server role, so framing, v5 segments, LZ4
compression, version negotiation (an unsupported version is refused as Cassandra refuses it)
and malformed frames (a PROTOCOL_ERROR answer, or the connection closed when the byte stream
cannot be trusted) behave as Cassandra's. The proxy always asks for authentication
(``org.apache.cassandra.auth.PasswordAuthenticator``, SASL PLAIN) and hands the username and
password to the injected ``authenticate`` callable.

Two callables are the extension points the policy layer plugs into:

* ``authenticate(username, password) -> identity`` runs in a worker thread (it may fetch
  keys); an exception refuses the login, its message becoming the AUTHENTICATION ERROR text.
  The password never appears in that text (it is masked if the callable quotes it).
* ``authorize(identity, request) -> str | ErrorMessage | None`` runs on the event loop for
  every QUERY, PREPARE, EXECUTE and BATCH before anything is sent upstream; None allows, a
  string refuses with an UNAUTHORIZED (0x2100) error carrying it, an ERROR message is sent as
  it is (UNPREPARED for a prepared id the identity never prepared, so that drivers prepare
  again; SYNTAX_ERROR or INVALID for text Cassandra would refuse the same way). An exception
  refuses too (fail closed).
* ``pace(identity, request) -> float``, optional, runs after an allowing ``authorize``: the
  seconds to hold the request before it is forwarded (rate limits slow a client down instead
  of failing its requests); at most :data:`MAX_PACE` seconds.
* ``route(identity, request) -> str | None``, optional, runs after an allowing ``authorize``:
  the upstream login (a name of ``UpstreamConfig.logins``) the request runs as; None, or no
  ``route``, is the upstream's default login. An exception refuses the request.

``on_request_done(identity, request, outcome, latency_s, rows)`` is called once per request
that reached ``authorize``, when its answer is sent: audit and metrics hang off it.

The hot path is a relay: QUERY, PREPARE, EXECUTE and BATCH frames are taken undecoded
(:meth:`Connection.next_relay_event`), an EXECUTE is only peeked at (its prepared id,
consistency and page size; the bound values stay where they are), and the frame goes upstream
as it came, under a new stream id. Answers come back the same way: a RESULT is peeked at (its
kind, its row count) and passed on as it is, unless it must be rewritten (system.local /
peers) or remembered (PREPARED). Nothing is decoded and encoded again on the way.

REGISTER is answered READY and no EVENT is ever pushed: topology and status events would name
the upstream nodes, which clients must not see, and schema events are not needed for
correctness (drivers refresh their schema metadata after their own DDL's SCHEMA_CHANGE
result, which is forwarded).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Literal

from cassflow.cql import CqlError, Use, parse_statement
from cassflow.protocol import (
    CLOSED,
    NEED_DATA,
    SUPPORTED_COMPRESSION,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    BadCredentials,
    ColumnSpec,
    Connection,
    Envelope,
    ErrorMessage,
    Execute,
    ExecuteHead,
    Message,
    Opcode,
    Options,
    Overloaded,
    Prepare,
    PreparedResult,
    ProtocolError,
    ProtocolViolation,
    Query,
    RawFrame,
    Ready,
    Register,
    RemoteProtocolError,
    ResultHead,
    ResultKind,
    Role,
    RowsResult,
    ServerError,
    SetKeyspaceResult,
    Startup,
    Supported,
    Unauthorized,
    body_offset,
    decode_envelope,
    peek_execute,
)
from cassflow.proxy._system_rewrite import (
    ProxyAddress,
    SystemTable,
    rewrite_rows,
    system_table_of,
)
from cassflow.proxy._upstream import (
    UpstreamConfig,
    UpstreamConnection,
    UpstreamError,
    UpstreamPool,
)

log = logging.getLogger(__name__)

#: The authenticator class drivers expect for username/password logins.
PASSWORD_AUTHENTICATOR: Final = "org.apache.cassandra.auth.PasswordAuthenticator"
_DEFAULT_CQL_VERSION: Final = ("3.4.6",)
_START_TIMEOUT: Final = 30.0
_PARSE_CACHE_SIZE: Final = 512
#: The requests relayed undecoded (everything else is answered by the proxy itself).
_RELAYED_OPCODES: Final = {
    int(opcode): opcode for opcode in (Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH)
}
_RELAYED_REQUESTS: Final = frozenset(_RELAYED_OPCODES)


class ProxyRequest:
    """One request as ``authorize`` sees it.

    ``keyspace`` is the client's session keyspace (from its USE; a v5 request may name its
    own in ``message``). ``connection_id`` tells the client connections apart (unique for the
    proxy's lifetime), e.g. to keep state per connection. An EXECUTE comes with its
    ``execute`` head (prepared id, consistency, page size), read without decoding its bound
    values; ``message`` decodes the whole request from ``frame`` when it is first asked for.
    """

    __slots__ = (
        "_message",
        "client_address",
        "connection_id",
        "execute",
        "frame",
        "keyspace",
        "opcode",
        "protocol_version",
        "stream",
    )

    def __init__(
        self,
        *,
        opcode: Opcode,
        stream: int,
        protocol_version: int,
        keyspace: str | None,
        message: Message | None = None,
        frame: RawFrame | None = None,
        execute: ExecuteHead | None = None,
        client_address: str = "",
        connection_id: int = 0,
    ) -> None:
        if message is None and frame is None and execute is None:
            raise ValueError("a request needs its message, its frame or its EXECUTE head")
        self.opcode = opcode
        self.stream = stream
        self.protocol_version = protocol_version
        self.keyspace = keyspace
        self._message = message
        self.frame = frame
        self.execute = execute
        self.client_address = client_address
        self.connection_id = connection_id

    def __repr__(self) -> str:  # no bound values: they may be anything the client sent
        return (
            f"ProxyRequest({self.opcode.name}, stream={self.stream}, "
            f"connection={self.connection_id}, client={self.client_address!r})"
        )

    @property
    def message(self) -> Message:
        """The request, decoded (from ``frame`` on first use)."""
        if self._message is None:
            if self.frame is None:
                raise LookupError("this request was made from its EXECUTE head alone")
            self._message = decode_envelope(self.frame, self.protocol_version).message
        return self._message

    @property
    def prepared_id(self) -> bytes | None:
        """The prepared id an EXECUTE runs; None for the other requests."""
        if self.execute is not None:
            return self.execute.query_id
        if self.opcode is Opcode.EXECUTE:
            message = self.message
            assert isinstance(message, Execute)
            return message.query_id
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestOutcome:
    """How a request ended.

    ``decision`` is the proxy's; ``error_code``/``error_message`` describe an ERROR answer
    (the node's, or the proxy's own: UNAUTHORIZED for a denial, OVERLOADED when no upstream
    stream was free). ``prepared_id`` is the id a PREPARE got; ``keyspace`` the one a USE set.
    """

    decision: Literal["allowed", "denied"]
    denial: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    prepared_id: bytes | None = None
    keyspace: str | None = None


#: The outcome of most requests: allowed, answered with no error.
_ALLOWED: Final = RequestOutcome(decision="allowed")

AuthenticateFn = Callable[[str, str], Any]
AuthorizeFn = Callable[[Any, ProxyRequest], "str | ErrorMessage | None"]
PaceFn = Callable[[Any, ProxyRequest], float]
RouteFn = Callable[[Any, ProxyRequest], "str | None"]

#: The longest ``pace`` may hold a request (a driver's request timeout is 10-12 s by default).
MAX_PACE: Final = 5.0
RequestDoneFn = Callable[[Any, ProxyRequest, RequestOutcome, float, int], None]


@dataclass(frozen=True, slots=True)
class _SystemPrepared:
    table: SystemTable
    columns: tuple[ColumnSpec, ...] | None


class _Client(asyncio.Protocol):
    """One client connection: reads requests, answers them, forwards the allowed ones.

    It is the transport's protocol: the requests in each chunk of bytes are handled as the
    chunk arrives (``data_received``), and their answers leave in one write at its end. Only
    the login (which may fetch keys), a rate limit's hold and a wait for an upstream stream
    are deferred; while a login is checked, reading pauses, so that nothing overtakes it.
    """

    def __init__(self, proxy: ProxyServer) -> None:
        self.proxy = proxy
        self.conn = Connection(Role.SERVER, supported_versions=proxy.protocol_versions)
        self.connection_id = next(proxy.connection_ids)
        self.identity: Any = None
        self.keyspace: str | None = None
        self.peer = ""
        self.address = ProxyAddress(proxy.advertised_host or proxy.listen_host, proxy.port)
        self.closed = False
        #: Encoded answers, and relayed frames to encode at the flush (on v5 they then share
        #: segments).
        self._out: list[bytes | tuple[RawFrame, int]] = []
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        #: Why reading is paused: "login" (a login is being checked), "writing" (the client
        #: does not read its answers: take no more requests from it).
        self._paused: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A client connected (asyncio calls this)."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        sockname = transport.get_extra_info("sockname") or (self.proxy.listen_host, 0)
        self.address = ProxyAddress(self.proxy.advertised_host or sockname[0], self.proxy.port)
        self.proxy.client_opened(self)

    def data_received(self, data: bytes) -> None:
        """Bytes from the client (asyncio calls this)."""
        self.conn.receive_data(data)
        self._process()

    def eof_received(self) -> bool:
        """The client closed its side (asyncio calls this): answer what came, then close."""
        self.conn.receive_data(b"")
        self._process()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone (asyncio calls this)."""
        if exc is not None:
            log.debug("client %s: %s", self.peer, exc)
        self.closed = True
        self._out.clear()
        self.proxy.client_closed(self)

    def pause_writing(self) -> None:
        """The client's answers pile up unread (asyncio calls this)."""
        self._pause("writing")

    def resume_writing(self) -> None:
        """The client reads its answers again (asyncio calls this)."""
        self._resume("writing")

    def _pause(self, reason: str) -> None:
        if not self._paused and self._transport is not None and not self.closed:
            self._transport.pause_reading()
        self._paused.add(reason)

    def _resume(self, reason: str) -> None:
        self._paused.discard(reason)
        if not self._paused and self._transport is not None and not self.closed:
            self._transport.resume_reading()

    # --- output ------------------------------------------------------------------------------

    def _send(self, envelope: Envelope) -> None:
        if self.closed:
            return
        try:
            data = self.conn.send(envelope)
        except ProtocolError as exc:
            log.warning("cannot answer stream %s of %s: %s", envelope.stream, self.peer, exc)
            try:
                data = self.conn.send(
                    Envelope(stream=envelope.stream, message=ServerError(message=str(exc)))
                )
            except ProtocolError:
                self.close()
                return
        self._write(data)

    def _write(self, data: bytes | tuple[RawFrame, int]) -> None:
        if self.closed:
            return
        if not self._out:
            self.proxy.output_waiting(self)
        self._out.append(data)

    def flush(self) -> None:
        """Write the queued answers in one go."""
        out, self._out = self._out, []
        if not out or self.closed or self._transport is None:
            return
        try:
            self._transport.write(self._encode(out))
        except ProtocolError as exc:  # a relayed answer the connection cannot take: a bug
            log.error("cannot answer %s: %s; closing its connection", self.peer, exc)
            self.close()
        except (ConnectionError, OSError, RuntimeError):
            self.close()

    def _encode(self, out: list[bytes | tuple[RawFrame, int]]) -> bytes:
        """The bytes of queued answers, consecutive relayed frames encoded together."""
        chunks: list[bytes] = []
        frames: list[tuple[RawFrame, int]] = []
        for item in out:
            if isinstance(item, tuple):
                frames.append(item)
                continue
            if frames:
                chunks.append(self.conn.relay_frames(frames))
                frames = []
            chunks.append(item)
        if frames:
            chunks.append(self.conn.relay_frames(frames))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def close(self) -> None:
        """Write what is queued and close."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        for task in self._tasks:
            task.cancel()
        if self._transport is not None:
            self._transport.close()

    # --- input -------------------------------------------------------------------------------

    def _process(self) -> None:
        """Handle the complete requests received (unless a login is being checked)."""
        if "login" in self._paused or self.closed:
            return
        try:
            keep = self._drain()
        except Exception:  # a bug must cost this connection only, never the proxy
            log.exception("client %s: unexpected error", self.peer)
            keep = False
        self.proxy.pool.flush()  # the requests of this chunk leave together
        if keep:
            self.flush()
        else:
            self.close()

    def _drain(self) -> bool:
        """Handle every complete request received; False once the connection must end."""
        while not self.closed and "login" not in self._paused:
            try:
                event = self.conn.next_relay_event(_RELAYED_REQUESTS)
            except RemoteProtocolError as exc:
                if exc.reply:
                    self._write(exc.reply)
                log.debug("client %s broke the protocol: %s", self.peer, exc)
                if exc.fatal:
                    return False
                continue
            except ProtocolError as exc:
                log.debug("client %s: %s", self.peer, exc)
                return False
            if event is NEED_DATA:
                return True
            if event is CLOSED:
                return False
            if isinstance(event, RawFrame):
                self._forward(event)
            else:
                assert isinstance(event, Envelope)
                self._handle(event)
        return not self.closed

    def _handle(self, request: Envelope) -> None:
        message = request.message
        if isinstance(message, Options):
            self._answer(request, self.proxy.supported())
        elif isinstance(message, Startup):
            self._answer(request, self._startup(message))
        elif isinstance(message, AuthResponse):
            self._pause("login")
            self._spawn(self._login_then_go_on(request, message))
        elif isinstance(message, Register):
            self._answer(request, Ready())  # no events are ever pushed (module docstring)
        else:  # the codec lets only requests through; the others came as relayed frames
            self._answer(request, ServerError(message=f"unexpected {message.opcode.name}"))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer(self, request: Envelope, message: Message) -> None:
        self._send(Envelope(stream=request.stream, message=message))

    def _startup(self, startup: Startup) -> Message:
        cql_version = startup.options.get("CQL_VERSION")
        if cql_version is None:
            return ProtocolViolation(message="CQL_VERSION is mandatory")
        if not cql_version.startswith("3."):
            return ProtocolViolation(message=f"Unknown CQL version {cql_version}")
        compression = startup.compression
        if compression is not None and compression.lower() not in SUPPORTED_COMPRESSION:
            return ProtocolViolation(message=f"Unknown compression algorithm: {compression}")
        return Authenticate(authenticator=PASSWORD_AUTHENTICATOR)

    async def _login_then_go_on(self, request: Envelope, response: AuthResponse) -> None:
        """Answer a login, then handle what the client sent meanwhile."""
        try:
            answer = await self._login(response)
        finally:
            self._paused.discard("login")
        self._answer(request, answer)
        self._resume("login")
        self._process()

    async def _login(self, response: AuthResponse) -> Message:
        # SASL PLAIN: [authzid] NUL authcid NUL password.
        parts = (response.token or b"").split(b"\x00")
        if len(parts) != 3:
            return BadCredentials(message="Authentication failed: malformed SASL PLAIN token")
        username = parts[1].decode("utf-8", "replace")
        password = parts[2].decode("utf-8", "replace")
        try:
            identity = await self._loop.run_in_executor(
                None, self.proxy.authenticate, username, password
            )
        except Exception as exc:
            text = str(exc) or "Bad credentials"
            if password:
                text = text.replace(password, "***")
            return BadCredentials(message=text)
        self.identity = identity
        return AuthSuccess(token=None)

    # --- forwarding --------------------------------------------------------------------------

    def _request_of(self, frame: RawFrame) -> ProxyRequest | None:
        """The request a relayed frame carries; None (after answering PROTOCOL_ERROR on its
        stream, as Cassandra does) when its body is malformed."""
        opcode = _RELAYED_OPCODES[frame.opcode]
        version = frame.version
        message: Message | None = None
        head = None
        try:
            if opcode is Opcode.EXECUTE:
                head = peek_execute(frame.body, body_offset(frame), version)
            else:
                message = decode_envelope(frame, version).message
        except RemoteProtocolError as exc:
            reason = str(exc)
            if not reason.startswith("malformed"):
                reason = f"malformed {opcode.name} body: {reason}"
            self._send(Envelope(stream=frame.stream, message=ProtocolViolation(message=reason)))
            return None
        return ProxyRequest(
            opcode=opcode,
            stream=frame.stream,
            protocol_version=version,
            keyspace=self.keyspace,
            message=message,
            frame=frame,
            execute=head,
            client_address=self.peer,
            connection_id=self.connection_id,
        )

    def _forward(self, frame: RawFrame) -> None:
        started = self._loop.time()
        request = self._request_of(frame)
        if request is None:
            return
        login = None
        try:
            denial = self.proxy.authorize(self.identity, request)
            if denial is None and self.proxy.route is not None:
                login = self.proxy.route(self.identity, request)
        except Exception:
            log.exception("authorize raised for %s; refusing (fail closed)", self.peer)
            denial = "Access denied: the authorization check failed"
        if denial is not None:
            answer = denial if isinstance(denial, ErrorMessage) else Unauthorized(message=denial)
            self._send(Envelope(stream=frame.stream, message=answer))
            outcome = RequestOutcome(
                decision="denied",
                denial=answer.message,
                error_code=int(answer.code),
                error_message=answer.message,
            )
            self.proxy.request_done(self.identity, request, outcome, started, 0)
            return
        wait = self._pace(request)
        if wait > 0:  # the rate limit's hold, not a synchronisation
            self._loop.call_later(wait, self._send_upstream, request, started, login)
        else:
            self._send_upstream(request, started, login)

    def _send_upstream(self, request: ProxyRequest, started: float, login: str | None) -> None:
        """Submit an allowed request on an upstream connection logged in as ``login``
        (waiting for one if need be)."""
        # The keyspace the request was authorized in, not the client's now: a USE answered
        # while this request was held must not move it to another keyspace.
        keyspace = request.keyspace
        if request.execute is None:
            keyspace = _route_keyspace(request.message, keyspace)
        upstream = self.proxy.pool.try_acquire(request.protocol_version, keyspace, login)
        if upstream is None:
            self._spawn(self._send_when_acquired(request, started, keyspace, login))
            return
        self._submit(upstream, request, started)

    async def _send_when_acquired(
        self, request: ProxyRequest, started: float, keyspace: str | None, login: str | None
    ) -> None:
        try:
            upstream = await self.proxy.pool.acquire(request.protocol_version, keyspace, login)
        except UpstreamError as exc:
            self._upstream_failed(request, started, exc.answer)
            return
        except asyncio.CancelledError:  # the client went away; the request never left
            self._upstream_failed(request, started, Overloaded(message="the client closed"))
            raise
        self._submit(upstream, request, started)
        upstream.flush()

    def _submit(self, upstream: UpstreamConnection, request: ProxyRequest, started: float) -> None:
        system = self._system_table(request)
        assert request.frame is not None
        try:
            upstream.submit_frame(
                request.frame,
                lambda answer, head: self._relay(request, answer, head, system, started),
            )
        except ProtocolError as exc:
            self._upstream_failed(request, started, ServerError(message=str(exc)))

    def _upstream_failed(self, request: ProxyRequest, started: float, error: ErrorMessage) -> None:
        self._send(Envelope(stream=request.stream, message=error))
        self.flush()
        outcome = RequestOutcome(
            decision="allowed", error_code=int(error.code), error_message=error.message
        )
        self.proxy.request_done(self.identity, request, outcome, started, 0)

    def _pace(self, request: ProxyRequest) -> float:
        """How long ``pace`` says to hold an allowed request (0 without one, or if it fails)."""
        if self.proxy.pace is None:
            return 0.0
        try:
            return min(max(float(self.proxy.pace(self.identity, request)), 0.0), MAX_PACE)
        except Exception:
            log.exception("pace raised for %s; not holding the request", self.peer)
            return 0.0

    def _system_table(self, request: ProxyRequest) -> _SystemPrepared | None:
        """Whether the answer needs the system table rewrite (see ``_system_rewrite``)."""
        if request.execute is not None:
            return self.proxy.system_prepared.get(request.execute.query_id)
        message = request.message
        table = None
        if isinstance(message, Query):
            table = system_table_of(message.query, message.parameters.keyspace or request.keyspace)
        elif isinstance(message, Prepare):
            table = system_table_of(message.query, message.keyspace or request.keyspace)
        elif isinstance(message, Execute):
            return self.proxy.system_prepared.get(message.query_id)
        return None if table is None else _SystemPrepared(table, None)

    def _relay(
        self,
        request: ProxyRequest,
        answer: Envelope | RawFrame,
        head: ResultHead | None,
        system: _SystemPrepared | None,
        started: float,
    ) -> None:
        """Send the upstream's ``answer`` back on the client's stream (upstream reader calls).

        A RESULT frame (``head`` says what it holds) goes back as it came, unless it is one
        to rewrite (``system``) or to remember (PREPARED): those are decoded.
        """
        self.proxy.pool.release()
        if isinstance(answer, RawFrame):
            assert head is not None
            kind = head.kind
            if kind is not ResultKind.PREPARED and (system is None or kind is not ResultKind.ROWS):
                self._write((answer, request.stream))
                self.proxy.request_done(self.identity, request, _ALLOWED, started, head.rows)
                return
            answer = _decoded(answer, request.protocol_version)
        message = answer.message
        outcome = RequestOutcome(decision="allowed")
        rows = 0
        if isinstance(message, RowsResult):
            if system is not None:
                message = self._rewrite(message, system, request.protocol_version)
            rows = len(message.rows)
        elif isinstance(message, PreparedResult):
            outcome = RequestOutcome(decision="allowed", prepared_id=message.query_id)
            if system is not None:
                self.proxy.system_prepared[message.query_id] = _SystemPrepared(
                    system.table, message.result_metadata.columns
                )
        elif isinstance(message, SetKeyspaceResult):
            self.keyspace = message.keyspace
            outcome = RequestOutcome(decision="allowed", keyspace=message.keyspace)
        elif isinstance(message, ErrorMessage):
            outcome = RequestOutcome(
                decision="allowed", error_code=int(message.code), error_message=message.message
            )
        self._send(
            Envelope(
                stream=request.stream,
                message=message,
                tracing_id=answer.tracing_id,
                warnings=answer.warnings if request.protocol_version >= 4 else (),
                custom_payload=answer.custom_payload,
            )
        )
        self.proxy.request_done(self.identity, request, outcome, started, rows)

    def _rewrite(self, result: RowsResult, system: _SystemPrepared, version: int) -> RowsResult:
        try:
            return rewrite_rows(result, system.table, system.columns, self.address, version)
        except Exception:  # never pass the upstream's addresses on: no rows rather than those
            log.exception("cannot rewrite a system.%s answer", system.table.value)
            return RowsResult(metadata=result.metadata, rows=())


def _decoded(frame: RawFrame, version: int) -> Envelope:
    """The answer a relayed frame holds, or a SERVER_ERROR saying it cannot be decoded."""
    try:
        return decode_envelope(frame, version)
    except RemoteProtocolError as exc:
        return Envelope(
            stream=frame.stream,
            message=ServerError(message=f"undecodable answer from upstream: {exc}"),
        )


def _route_keyspace(message: Message, keyspace: str | None) -> str | None:
    """The keyspace of the upstream connection a request goes on.

    A USE goes on a connection already using the keyspace it names (so that no connection
    another client shares switches keyspace under it); the node's answer then moves the
    client to that keyspace. Everything else goes on a connection using ``keyspace``, the
    client's when the request was authorized.
    """
    if isinstance(message, Query):
        target = _use_target(message.query)
        if target is not None:
            return target
    return keyspace


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@functools.lru_cache(maxsize=_PARSE_CACHE_SIZE)
def _use_target(query: str) -> str | None:
    if "use" not in query.lower():  # cheap pre-check: most requests are not USE
        return None
    try:
        statement = parse_statement(query)
    except CqlError:
        return None
    return statement.keyspace if isinstance(statement, Use) else None


class ProxyServer:
    """The CQL proxy: listens for clients and forwards to an upstream pool.

    Use :meth:`start_async`/:meth:`stop_async` on a running loop, or :meth:`start`/:meth:`stop`
    to run it on its own thread. ``advertised_host`` is the address ``system.local`` reports
    (default: the local address each client reached the proxy at).
    """

    def __init__(
        self,
        listen_host: str,
        listen_port: int,
        upstream: UpstreamConfig,
        authenticate: AuthenticateFn,
        authorize: AuthorizeFn,
        on_request_done: RequestDoneFn | None = None,
        *,
        advertised_host: str | None = None,
        pace: PaceFn | None = None,
        route: RouteFn | None = None,
    ) -> None:
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.upstream = upstream
        self.authenticate = authenticate
        self.authorize = authorize
        self.on_request_done = on_request_done
        self.pace = pace
        self.route = route
        self.advertised_host = advertised_host
        self.protocol_versions: tuple[int, ...] = ()
        self.port = listen_port
        #: Prepared ids of statements reading system.local / peers, for EXECUTE rewrites.
        self.system_prepared: dict[bytes, _SystemPrepared] = {}
        self._upstream_options: dict[str, tuple[str, ...]] = {}
        self._pool: UpstreamPool | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[_Client] = set()
        #: Clients with answers queued, written out together (see :meth:`flush_clients`).
        self._waiting_output: list[_Client] = []
        #: Numbers the client connections (ProxyRequest.connection_id).
        self.connection_ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pool(self) -> UpstreamPool:
        """The upstream pool (exists once started)."""
        if self._pool is None:
            raise RuntimeError("the proxy is not started")
        return self._pool

    @property
    def client_count(self) -> int:
        """Client connections open now."""
        return len(self._clients)

    def supported(self) -> Supported:
        """The SUPPORTED answer: the upstream's CQL version, the proxy's codec options."""
        return Supported(
            options={
                "CQL_VERSION": self._upstream_options.get("CQL_VERSION", _DEFAULT_CQL_VERSION),
                "COMPRESSION": SUPPORTED_COMPRESSION,
                "PROTOCOL_VERSIONS": tuple(f"{v}/v{v}" for v in self.protocol_versions),
            }
        )

    def request_done(
        self,
        identity: Any,
        request: ProxyRequest,
        outcome: RequestOutcome,
        started: float,
        rows: int,
    ) -> None:
        """Report a finished request to ``on_request_done`` (its errors are logged only)."""
        if self.on_request_done is None:
            return
        latency = asyncio.get_running_loop().time() - started
        try:
            self.on_request_done(identity, request, outcome, latency, rows)
        except Exception:
            log.exception("on_request_done failed")

    # --- asyncio API -------------------------------------------------------------------------

    async def start_async(self) -> tuple[str, int]:
        """Probe the upstream, then listen; returns the bound (host, port)."""
        pool = UpstreamPool(self.upstream)
        probe_host = self.upstream.hosts[0]
        self.protocol_versions = await pool.probe_versions()
        self._upstream_options = dict(pool.probed_options)
        log.info("upstream %s speaks protocol %s", probe_host.host, self.protocol_versions)
        pool.on_answers = self.flush_clients
        self._pool = pool
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Client(self), self.listen_host, self.listen_port
        )
        sockname = self._server.sockets[0].getsockname()
        self.port = int(sockname[1])
        return str(sockname[0]), self.port

    async def stop_async(self) -> None:
        """Stop listening, close every client and upstream connection."""
        if self._server is not None:
            self._server.close()
        for client in list(self._clients):
            client.close()
        if self._pool is not None:
            self._pool.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    def client_opened(self, client: _Client) -> None:
        """A client connection is up (the client calls this)."""
        self._clients.add(client)

    def client_closed(self, client: _Client) -> None:
        """A client connection is gone (the client calls this)."""
        self._clients.discard(client)

    def output_waiting(self, client: _Client) -> None:
        """``client`` queued its first answer since its last write: write it out after the
        upstream answers now being dispatched, or at the loop's next turn."""
        if not self._waiting_output:
            asyncio.get_running_loop().call_soon(self.flush_clients)
        self._waiting_output.append(client)

    def flush_clients(self) -> None:
        """Write out every client's queued answers (one write per client)."""
        waiting, self._waiting_output = self._waiting_output, []
        for client in waiting:
            client.flush()

    def close_upstream_connections(self) -> None:
        """Close every upstream connection (thread-safe), e.g. after the upstream secret was
        rotated: the next requests open new ones, logging in with the secret resolved anew.
        Requests in flight on them are answered OVERLOADED."""
        loop = self._loop
        if loop is not None and loop.is_running() and not _on_loop(loop):
            done: concurrent.futures.Future[None] = concurrent.futures.Future()

            def close() -> None:
                self._close_upstream_connections()
                done.set_result(None)

            loop.call_soon_threadsafe(close)
            done.result(timeout=10)
        else:
            self._close_upstream_connections()

    def _close_upstream_connections(self) -> None:
        for connection in self.pool.connections:
            connection.close()

    # --- thread API --------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        """Run the proxy on a thread of its own; returns the bound (host, port)."""
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[tuple[str, int]] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                started.set_result(loop.run_until_complete(self.start_async()))
            except BaseException as exc:
                started.set_exception(exc)
            else:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="cassflow-proxy", daemon=True)
        self._thread.start()
        try:
            return started.result(timeout=_START_TIMEOUT)
        except BaseException:
            self._loop = self._thread = None
            raise

    def stop(self) -> None:
        """Stop the proxy started with :meth:`start`."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self.stop_async(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = None


__all__ = [
    "PASSWORD_AUTHENTICATOR",
    "AuthenticateFn",
    "AuthorizeFn",
    "ProxyRequest",
    "ProxyServer",
    "RequestDoneFn",
    "RequestOutcome",
    "RouteFn",
]
