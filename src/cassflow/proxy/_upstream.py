"""The proxy's connections to Cassandra: a pool keyed by protocol version and keyspace.

Every upstream connection is a :class:`cassflow.protocol.Connection` in the client role over
an asyncio stream (TLS when the config has an ``ssl_context``). It logs in with SASL PLAIN
when the node asks, the password being a secret reference resolved with
:func:`cassflow.access.resolve_secrets` at each connection (a rotated secret reaches the next
connection), and then ``USE``\\ s its keyspace if it has one.

Why a keyspace per connection: ``USE`` changes the keyspace of a whole connection, and many
clients share one. So connections are grouped by the keyspace they use (as cql-proxy keeps a
session per keyspace) and by protocol version (a v5 request cannot travel on a v4
connection); a client's request goes on a connection of its own version and keyspace.

Requests are multiplexed: each gets a free stream id of its connection and a callback that
receives the answer. When every stream of every allowed connection is taken the caller waits,
bounded by ``acquire_timeout`` (backpressure). Connections are opened on demand; a host that
cannot be reached is retried after an exponential backoff. A request in flight when its
connection is lost is answered with OVERLOADED (see :data:`LOST_CONNECTION_ERROR`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from cassflow.access import resolve_secrets
from cassflow.protocol import (
    CLOSED,
    NEED_DATA,
    SUPPORTED_VERSIONS,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Connection,
    Envelope,
    ErrorMessage,
    Message,
    Opcode,
    Options,
    Overloaded,
    ProtocolError,
    Query,
    RawFrame,
    Ready,
    RemoteProtocolError,
    ResultHead,
    ResultKind,
    Role,
    ServerError,
    SetKeyspaceResult,
    Startup,
    Supported,
    body_offset,
    decode_envelope,
    downgrade_version,
    peek_result,
)

log = logging.getLogger(__name__)

#: What a request gets when its upstream connection is lost before the answer. OVERLOADED is
#: an answer every driver treats as "try again elsewhere" (the Python driver's retry policy
#: retries on the next host, the Java driver retries idempotent requests) and, unlike closing
#: the client's connection, it does not fail the client's other requests in flight.
LOST_CONNECTION_ERROR: Final = "upstream connection to {host} lost before the answer"

_SERVER_CQL_VERSION: Final = "3.0.0"

#: Receives the answer to one request (the proxy's upstream reader calls it): a RESULT as the
#: node sent it, with its head (kind, rows), or any other answer decoded (and None).
ResponseCallback = Callable[[Envelope | RawFrame, ResultHead | None], None]

#: What upstream connections are grouped by: protocol version, keyspace, login.
_Key = tuple[int, str | None, str | None]

#: Answers passed on undecoded; ERRORs (rare, and read for the audit) are decoded.
_RELAYED_ANSWERS: Final = frozenset({int(Opcode.RESULT)})


class UpstreamError(Exception):
    """No upstream connection could be had; ``answer`` is what the client should get."""

    def __init__(self, answer: ErrorMessage) -> None:
        super().__init__(answer.message)
        self.answer = answer


@dataclass(frozen=True, slots=True)
class UpstreamHost:
    """One Cassandra node the proxy may connect to."""

    host: str
    port: int = 9042


@dataclass(frozen=True, slots=True)
class UpstreamLogin:
    """A Cassandra role the proxy logs in as; ``password`` as in :class:`UpstreamConfig`."""

    username: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class UpstreamConfig:
    """Where and how the proxy connects to Cassandra.

    ``hosts`` are tried in order: requests go to the first reachable one and move on to the
    next when it fails (keeping all clients on one node keeps prepared ids valid for all of
    them). ``password`` may be a secret reference (``${secret:env:NAME}``, see
    :mod:`cassflow.access`); it is resolved at each connection and never kept resolved.
    ``logins`` are further roles by name, for the policy rules that name one (``login:``):
    their requests travel on connections logged in as that role, so that Cassandra's own
    permissions for it apply too.
    """

    hosts: Sequence[UpstreamHost]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    logins: Mapping[str, UpstreamLogin] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None
    #: Host name checked against the node's certificate (default: the host connected to).
    server_hostname: str | None = None
    #: Connections per (protocol version, keyspace, login).
    connections_per_key: int = 2
    #: Stream ids one connection may have in flight (Cassandra allows 32768).
    max_streams_per_connection: int = 2048
    #: How long a request may wait for a free stream or a new connection.
    acquire_timeout: float = 5.0
    connect_timeout: float = 5.0
    #: Backoff before retrying a host that failed: doubles from ``reconnect_min`` up to the max.
    reconnect_min: float = 0.1
    reconnect_max: float = 10.0

    def __post_init__(self) -> None:
        if not self.hosts:
            raise ValueError("an upstream needs at least one host")
        if self.connections_per_key < 1 or not 1 <= self.max_streams_per_connection <= 32768:
            raise ValueError(
                "connections_per_key >= 1 and 1 <= max_streams_per_connection <= 32768"
            )


class UpstreamConnection(asyncio.Protocol):
    """One logged-in connection to a node, multiplexing requests by stream id.

    It is the transport's protocol: answers are dispatched as their bytes arrive
    (``data_received``), with no task in between; ``on_answers`` runs after each batch of
    them (the proxy writes out the answers it queued for its clients).
    """

    def __init__(
        self, host: UpstreamHost, version: int, keyspace: str | None, login: str | None = None
    ) -> None:
        self.host = host
        self.version = version
        #: The name of the upstream login (``UpstreamConfig.logins``); None: the default one.
        self.login = login
        #: The keyspace the connection uses: set by the USE at open, moved by any later USE.
        self.keyspace = keyspace
        self.conn = Connection(Role.CLIENT, version=version)
        self.closed = False
        self._pending: dict[int, ResponseCallback] = {}
        #: Requests to send at the next flush (on v5 they then share segments).
        self._out: list[tuple[RawFrame, int]] = []
        self._transport: asyncio.Transport | None = None
        #: Set while open()/probe() wait for an answer; answers go to callbacks once None.
        self._setup: asyncio.Future[None] | None = None
        self._ready = False
        self.on_close: Callable[[UpstreamConnection], None] = lambda _conn: None
        self.on_keyspace: Callable[[UpstreamConnection], None] = lambda _conn: None
        self.on_answers: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return f"UpstreamConnection({self.host.host}:{self.host.port}, v{self.version})"

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    @property
    def has_output(self) -> bool:
        """Whether submitted requests wait for :meth:`flush`."""
        return bool(self._out)

    async def open(self, config: UpstreamConfig) -> None:
        """Connect, start up, log in and USE the keyspace; raise UpstreamError if refused."""
        await self._connect(config)
        answer = await self._exchange(Startup(options={"CQL_VERSION": _SERVER_CQL_VERSION}))
        if isinstance(answer, Authenticate):
            answer = await self._exchange(AuthResponse(token=_plain_token(config, self.login)))
            if isinstance(answer, AuthChallenge):
                answer = ServerError(message="upstream asked for more than SASL PLAIN")
        if not isinstance(answer, Ready | AuthSuccess):
            # Not the node's error as is: an AUTHENTICATION ERROR answering a query would read
            # as the client's own credentials being wrong.
            detail = answer.message if isinstance(answer, ErrorMessage) else answer.opcode.name
            raise UpstreamError(
                ServerError(
                    message=f"upstream {self.host.host}:{self.host.port} refused the proxy's "
                    f"login: {detail}"
                )
            )
        if self.keyspace is not None:
            answer = await self._exchange(Query(query=f"USE {_quoted(self.keyspace)}"))
            if not isinstance(answer, SetKeyspaceResult):
                raise UpstreamError(_as_error(answer, "upstream refused USE"))
            self.keyspace = answer.keyspace
        self._ready = True  # no request was submitted yet, so no answer can be waiting

    async def probe(self, config: UpstreamConfig) -> Mapping[str, tuple[str, ...]]:
        """Connect and ask OPTIONS (before STARTUP): what the node supports."""
        await self._connect(config)
        answer = await self._exchange(Options())
        if not isinstance(answer, Supported):
            raise UpstreamError(_as_error(answer, "upstream did not answer OPTIONS"))
        return answer.options

    async def _connect(self, config: UpstreamConfig) -> None:
        hostname = (config.server_hostname or self.host.host) if config.ssl_context else None
        await asyncio.get_running_loop().create_connection(
            lambda: self,
            self.host.host,
            self.host.port,
            ssl=config.ssl_context,
            server_hostname=hostname,
        )

    async def _exchange(self, message: Message) -> Message:
        """Send one request during setup and wait for its answer."""
        assert self._transport is not None
        stream = self.conn.free_stream_id()
        self._transport.write(self.conn.send(Envelope(stream=stream, message=message)))
        while True:
            event = self.conn.next_event()
            if isinstance(event, Envelope):
                return event.message
            if event is CLOSED or self.closed:
                raise ConnectionError(f"{self.host.host}:{self.host.port} closed the connection")
            self._setup = asyncio.get_running_loop().create_future()
            try:
                await self._setup
            finally:
                self._setup = None

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The transport is up (asyncio calls this)."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Bytes from the node (asyncio calls this)."""
        self.conn.receive_data(data)
        self._received()

    def eof_received(self) -> bool:
        """The node closed its side (asyncio calls this): close ours too."""
        self.conn.receive_data(b"")
        self._received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone (asyncio calls this)."""
        if exc is not None:
            log.info("upstream %s:%s: %s", self.host.host, self.host.port, exc)
        self.conn.receive_data(b"")
        self._wake_setup()
        self.close()

    def _received(self) -> None:
        if not self._ready:
            self._wake_setup()
            return
        try:
            keep = self._dispatch()
        finally:
            self.on_answers()
        if not keep:
            self.close()

    def _wake_setup(self) -> None:
        if self._setup is not None and not self._setup.done():
            self._setup.set_result(None)

    def submit_frame(self, frame: RawFrame, callback: ResponseCallback) -> None:
        """Send a request frame (uncompressed; its stream id is replaced) and call
        ``callback`` with the answer."""
        if self.closed:
            raise ProtocolError(f"the upstream connection to {self.host.host} is closed")
        stream = self.conn.free_stream_id()
        self._pending[stream] = callback
        # Requests sent in one loop turn leave in one write: one syscall, not one per request.
        self._out.append((frame, stream))
        if len(self._out) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write the requests submitted so far (else they leave at the loop's next turn)."""
        out, self._out = self._out, []
        if not out or self.closed or self._transport is None:
            return
        try:
            self._transport.write(self.conn.relay_frames(out))
        except ProtocolError as exc:  # a request this connection cannot carry: a bug
            log.error("upstream %s: cannot send: %s", self.host.host, exc)
            self.close()

    def _dispatch(self) -> bool:
        while True:
            try:
                event = self.conn.next_relay_event(_RELAYED_ANSWERS)
            except RemoteProtocolError as exc:
                log.warning("upstream %s broke the protocol: %s", self.host.host, exc)
                if exc.stream is not None and exc.stream in self._pending:
                    self._undecodable(exc.stream, exc)
                if exc.fatal:
                    return False
                continue
            if event is NEED_DATA:
                return True
            if event is CLOSED:
                return False
            if event.stream not in self._pending:  # an EVENT: never registered for, not expected
                continue
            if isinstance(event, RawFrame):
                self._answer_frame(event)
                continue
            callback = self._pending.pop(event.stream)
            callback(event, None)

    def _answer_frame(self, frame: RawFrame) -> None:
        try:
            head = peek_result(frame.body, body_offset(frame))
            if head.kind is ResultKind.SET_KEYSPACE:  # the connection's keyspace moves
                answer = decode_envelope(frame, self.version)
                assert isinstance(answer.message, SetKeyspaceResult)
                self.keyspace = answer.message.keyspace
                self.on_keyspace(self)
                self._pending.pop(frame.stream)(answer, None)
                return
        except RemoteProtocolError as exc:
            log.warning("upstream %s sent an undecodable answer: %s", self.host.host, exc)
            self._undecodable(frame.stream, exc)
            return
        self._pending.pop(frame.stream)(frame, head)

    def _undecodable(self, stream: int, exc: Exception) -> None:
        answer = ServerError(message=f"undecodable answer from upstream: {exc}")
        self._pending.pop(stream)(Envelope(stream=stream, message=answer), None)

    def close(self) -> None:
        """Close; every request in flight gets OVERLOADED (see LOST_CONNECTION_ERROR)."""
        if self.closed:
            return
        self.closed = True
        if self._transport is not None:
            self._transport.close()
        self._wake_setup()
        pending, self._pending = self._pending, {}
        lost = Overloaded(message=LOST_CONNECTION_ERROR.format(host=self.host.host))
        for stream, callback in pending.items():
            callback(Envelope(stream=stream, message=lost), None)
        self.on_close(self)


def _quoted(name: str) -> str:
    """``name`` as a quoted identifier: exact whatever its case (USE takes it as written)."""
    return '"' + name.replace('"', '""') + '"'


def _plain_token(config: UpstreamConfig, login: str | None) -> bytes:
    username, reference = config.username, config.password
    if login is not None:
        credentials = config.logins.get(login)
        if credentials is None:  # the proxy checks policies against its logins: a bug
            raise UpstreamError(ServerError(message=f"no upstream login named {login!r}"))
        username, reference = credentials.username, credentials.password
    password = resolve_secrets(reference)
    secret = password.get_secret_value() if password is not None else ""
    return b"\x00" + (username or "").encode() + b"\x00" + secret.encode()


def _as_error(answer: Message, context: str) -> ErrorMessage:
    if isinstance(answer, ErrorMessage):
        return answer
    return ServerError(message=f"{context}: unexpected {answer.opcode.name}")


class UpstreamPool:
    """Upstream connections by (protocol version, keyspace), opened on demand."""

    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self._connections: list[UpstreamConnection] = []
        self._opening: dict[_Key, int] = {}
        self._changed = asyncio.Event()
        self._preferred = 0
        self._retry_at: dict[UpstreamHost, float] = {}
        self._backoff: dict[UpstreamHost, float] = {}
        self.closed = False
        #: Called after each batch of answers from any connection (set by the proxy).
        self.on_answers: Callable[[], None] = lambda: None
        #: The SUPPORTED options of the node :meth:`probe_versions` reached.
        self.probed_options: Mapping[str, tuple[str, ...]] = {}

    @property
    def connections(self) -> tuple[UpstreamConnection, ...]:
        """The open connections."""
        return tuple(self._connections)

    async def probe_versions(self) -> tuple[int, ...]:
        """The protocol versions both the proxy's codec and the first reachable node speak.

        Asks OPTIONS at the newest version, stepping down as the node's refusal says (as
        drivers negotiate), and reads the node's PROTOCOL_VERSIONS (beta versions left out);
        a node that does not list them speaks the version it answered and those below.
        """
        errors = []
        for host in self.config.hosts:
            try:
                version, options = await self._probe_host(host)
            except (OSError, TimeoutError, ProtocolError, UpstreamError) as exc:
                errors.append(f"{host.host}:{host.port}: {type(exc).__name__}: {exc}")
                continue
            self.probed_options = options
            offered = set()
            for listed in options.get("PROTOCOL_VERSIONS", ()):
                number, _, name = listed.partition("/")
                if number.isdigit() and not name.endswith("-beta"):
                    offered.add(int(number))
            if not offered:
                offered = {v for v in SUPPORTED_VERSIONS if v <= version}
            common = tuple(v for v in SUPPORTED_VERSIONS if v in offered)
            if common:
                return common
            errors.append(f"{host.host}:{host.port}: no protocol version in common")
        raise ConnectionError("no upstream host reachable: " + "; ".join(errors))

    async def _probe_host(self, host: UpstreamHost) -> tuple[int, Mapping[str, tuple[str, ...]]]:
        version = int(max(SUPPORTED_VERSIONS))
        while True:
            probe = UpstreamConnection(host, version, None)
            try:
                return version, await asyncio.wait_for(
                    probe.probe(self.config), self.config.connect_timeout
                )
            except UpstreamError as exc:
                lower = downgrade_version(exc.answer, version)
                if lower is None:
                    raise
                version = int(lower)
            finally:
                probe.close()

    def try_acquire(
        self, version: int, keyspace: str | None, login: str | None = None
    ) -> UpstreamConnection | None:
        """A connection of ``version`` using ``keyspace``, logged in as ``login``, with a free
        stream, if one is open now (the common case, without a trip through the event loop);
        else None."""
        best: UpstreamConnection | None = None
        for connection in self._connections:
            if (
                connection.version == version
                and connection.keyspace == keyspace
                and connection.login == login
                and not connection.closed
                and (best is None or connection.in_flight < best.in_flight)
            ):
                best = connection
        if best is None or best.in_flight >= self.config.max_streams_per_connection:
            return None
        return None if self.closed else best

    async def acquire(
        self, version: int, keyspace: str | None, login: str | None = None
    ) -> UpstreamConnection:
        """A connection of ``version`` using ``keyspace``, logged in as ``login`` (a name of
        ``UpstreamConfig.logins``, None for the default), with a free stream.

        Waits (up to ``acquire_timeout``) while every such connection is full; raises
        UpstreamError with OVERLOADED when the wait runs out or no host can be reached, and
        with the node's own error when it refuses the login or the keyspace.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.acquire_timeout
        key = (version, keyspace, login)
        while True:
            if self.closed:
                raise UpstreamError(Overloaded(message="the proxy is shutting down"))
            candidates = [
                c
                for c in self._connections
                if (c.version, c.keyspace, c.login) == key and not c.closed
            ]
            best = min(candidates, key=lambda c: c.in_flight, default=None)
            limit = self.config.max_streams_per_connection
            if best is not None and best.in_flight < limit:
                return best
            if len(candidates) + self._opening.get(key, 0) < self.config.connections_per_key:
                return await self._open(key, deadline)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise UpstreamError(
                    Overloaded(message="every upstream stream is busy; try again later")
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def _answered(self) -> None:
        self.on_answers()  # looked up at each call: the proxy may set it after connections open

    def flush(self) -> None:
        """Write out every connection's submitted requests now."""
        for connection in self._connections:
            if connection.has_output:
                connection.flush()

    def release(self) -> None:
        """Wake the requests waiting for a stream (call when an answer frees one)."""
        self._changed.set()

    async def _open(self, key: _Key, deadline: float) -> UpstreamConnection:
        self._opening[key] = self._opening.get(key, 0) + 1
        try:
            return await self._open_on_some_host(key, deadline)
        finally:
            self._opening[key] -= 1
            self._changed.set()

    async def _open_on_some_host(self, key: _Key, deadline: float) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        hosts = self.config.hosts
        order = [hosts[(self._preferred + i) % len(hosts)] for i in range(len(hosts))]
        errors: list[str] = []
        while True:
            for host in order:
                if self._retry_at.get(host, 0.0) > loop.time():
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                connection = UpstreamConnection(host, *key)
                timeout = min(self.config.connect_timeout, remaining)
                try:
                    await asyncio.wait_for(connection.open(self.config), timeout)
                except UpstreamError:
                    connection.close()
                    raise  # the node answered: its refusal is the client's answer
                except (OSError, TimeoutError, ProtocolError) as exc:
                    connection.close()
                    # Running out of this request's own wait says nothing about the host.
                    if not isinstance(exc, TimeoutError) or timeout >= self.config.connect_timeout:
                        self._failed(host, loop.time())
                    errors.append(f"{host.host}:{host.port}: {type(exc).__name__}")
                    continue
                self._backoff.pop(host, None)
                self._retry_at.pop(host, None)
                self._preferred = hosts.index(host)
                connection.on_close = self._forget
                connection.on_keyspace = lambda _c: self._changed.set()
                connection.on_answers = self._answered
                self._connections.append(connection)
                return connection
            next_try = min(self._retry_at.get(h, 0.0) for h in order)
            if next_try >= deadline or loop.time() >= deadline or self.closed:
                detail = "; ".join(errors) or "no connection could be opened in time"
                raise UpstreamError(Overloaded(message=f"no upstream host reachable ({detail})"))
            await asyncio.sleep(max(0.0, next_try - loop.time()))

    def _failed(self, host: UpstreamHost, now: float) -> None:
        backoff = min(
            self.config.reconnect_max, self._backoff.get(host, self.config.reconnect_min / 2) * 2
        )
        self._backoff[host] = backoff
        self._retry_at[host] = now + backoff

    def _forget(self, connection: UpstreamConnection) -> None:
        with contextlib.suppress(ValueError):
            self._connections.remove(connection)
        self._changed.set()

    def close(self) -> None:
        """Close every connection (their requests in flight get OVERLOADED)."""
        self.closed = True
        for connection in list(self._connections):
            connection.close()
        self._changed.set()


__all__ = [
    "LOST_CONNECTION_ERROR",
    "UpstreamConfig",
    "UpstreamConnection",
    "UpstreamError",
    "UpstreamHost",
    "UpstreamLogin",
    "UpstreamPool",
]
