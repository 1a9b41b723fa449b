"""A connection to Cassandra as the copy engine uses it: one driver Cluster and Session, lazily.

:class:`CassandraConnection` holds what a pipeline's ``connections:`` entry says (hosts,
keyspace, credentials, local data center, consistency) and opens the driver session on first
use, from any thread. The session routes every request to a replica of its partition
(``TokenAwarePolicy`` over ``DCAwareRoundRobinPolicy``), names cassflow as the client
application (``system_views.clients`` shows it), and bounds every wait: connecting, the
control connection, each request.

Without ``hosts`` (``None`` or an empty list) the connection starts an embedded
:class:`~cassflow.devserver.DevServer` in-process. Its data lives in ``embedded_data_dir``
(the pipeline runner passes ``<state dir>/dev/<name>`` so that separate commands of one project
see the same tables), or in memory when that is ``None``.

The password is a :class:`pydantic.SecretStr`, usually a ``${secret:...}`` reference: it is
resolved at each authentication (:class:`~cassflow.access._auth.SecretAuthProvider`), so a
rotated secret is picked up by the next connection, and it never appears in ``repr()``, in
errors or in logs.

With ``guard=True`` (what pipelines and ``cassflow copy`` use) :meth:`session` returns a
:class:`~cassflow.access._session.GuardedSession`: statements on a keyspace other than the
connection's (and reads of its ``read_keyspaces`` and the system keyspaces) are refused before
they are sent. ``identity`` (a :class:`~cassflow.access._identity.TaskIdentity`) names the
task as the client's application name and version, which every connection sends in its
STARTUP message (``system_views.clients.client_options`` shows them).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cassandra import ConsistencyLevel, DriverException
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    FallthroughRetryPolicy,
    TokenAwarePolicy,
)
from cassandra.query import tuple_factory
from pydantic import SecretStr

from cassflow import __version__
from cassflow.access._auth import SecretAuthProvider
from cassflow.access._guard import KeyspaceGuard
from cassflow.access._identity import TaskIdentity
from cassflow.access._session import GuardedSession
from cassflow.access._startup import identified_connection_class
from cassflow.copy._model import CopyError

if TYPE_CHECKING:
    from cassflow.devserver import DevServer

log = logging.getLogger(__name__)

#: Execution profile whose rows are plain tuples (the copy engine's sources read with it).
TUPLE_ROWS_PROFILE = "cassflow-tuples"
#: Execution profile of the copy engine's writes: the driver retries nothing itself, so that
#: every error reaches the sink, which retries by class with backoff and tells the throttle
#: (the driver's default policy would retry an overloaded or unavailable answer at once on
#: the next host, hiding the distress signal and wrapping the error in NoHostAvailable).
WRITE_PROFILE = "cassflow-writes"

# Seconds to wait for a TCP connection, and for the control connection's schema and topology
# queries: the driver's defaults (5 s, 2 s) are short for a busy cluster or a cold dev server.
_CONNECT_TIMEOUT = 10.0
_CONTROL_TIMEOUT = 10.0
# Schema agreement after DDL (ALTER TABLE ADD under the add_columns drift policy).
_SCHEMA_AGREEMENT_WAIT = 30
# Reconnecting to a node whose connections dropped (a restart, a rotation that closes
# sessions): first after 0.2 s, doubling up to 10 s. The driver's default starts at 1 s and
# grows to 10 minutes, longer than a copy's retries wait for a node to come back.
_RECONNECT_BASE_DELAY = 0.2
_RECONNECT_MAX_DELAY = 10.0


def consistency_level(name: str) -> int:
    """The driver's consistency level for a name such as ``LOCAL_QUORUM`` (any case)."""
    value = ConsistencyLevel.name_to_value.get(name.strip().upper())
    if value is None:
        known = ", ".join(sorted(ConsistencyLevel.name_to_value))
        raise CopyError(f"unknown consistency level {name!r} (expected one of: {known})")
    return int(value)


class CassandraConnection:
    """The driver Cluster and Session for one configured connection; thread-safe.

    Nothing connects until :meth:`session` (or :meth:`table`) is first called. No ``hosts``
    (``None`` or empty) starts an embedded dev server on 127.0.0.1 and connects to it; its
    data lives in ``embedded_data_dir``, or in memory (gone on :meth:`close`) when ``None``.

    ``guard`` binds the session to ``keyspace`` (reads also of ``read_keyspaces``); it is off
    by default for callers that pass keyspaces of their own to sources and sinks, and on in
    every connection a pipeline builds. ``allow_auth`` lets a guarded session manage roles.
    ``identity``, when given, replaces ``application_name``/``application_version``.
    """

    def __init__(
        self,
        name: str,
        *,
        hosts: list[str] | None,
        port: int = 9042,
        keyspace: str,
        username: str | None = None,
        password: SecretStr | None = None,
        local_dc: str | None = None,
        consistency: str = "LOCAL_ONE",
        protocol_version: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        application_name: str = "cassflow",
        application_version: str = __version__,
        request_timeout: float = 30.0,
        embedded_data_dir: str | Path | None = None,
        read_keyspaces: Collection[str] = (),
        guard: bool = False,
        allow_auth: bool = False,
        identity: TaskIdentity | None = None,
    ) -> None:
        if password is not None and not isinstance(password, SecretStr):
            raise TypeError("password must be a pydantic.SecretStr")
        if password is not None and username is None:
            raise CopyError(f"connection {name}: a password was given without a username")
        if request_timeout <= 0:
            raise CopyError(f"connection {name}: request_timeout must be positive")
        self.name = name
        #: Contact points; ``None`` for the embedded dev server.
        self.hosts = list(hosts) if hosts else None
        self.port = port
        self.keyspace = keyspace
        self.username = username
        self._password = password
        self.local_dc = local_dc
        #: The driver's consistency level for statements that do not choose their own.
        self.consistency = consistency_level(consistency)
        self.protocol_version = protocol_version
        self.ssl_context = ssl_context
        #: The task behind the connection (None: only the application name/version below).
        self.identity = identity
        self.application_name = identity.application_name if identity else application_name
        self.application_version = identity.application_version if identity else application_version
        #: Other keyspaces a guarded session may read.
        self.read_keyspaces = tuple(read_keyspaces)
        self.guard = guard
        self.allow_auth = allow_auth
        self.request_timeout = request_timeout
        self.embedded_data_dir = Path(embedded_data_dir) if embedded_data_dir is not None else None
        self._lock = threading.Lock()
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._guarded: GuardedSession | None = None
        self._server: DevServer | None = None

    def __repr__(self) -> str:
        where = "embedded dev server" if self.hosts is None else f"{self.hosts}:{self.port}"
        secret = "" if self._password is None else ", password='**********'"
        return (
            f"CassandraConnection({self.name!r}, {where}, keyspace={self.keyspace!r}, "
            f"username={self.username!r}{secret})"
        )

    @property
    def embedded(self) -> bool:
        """Whether this connection runs its own dev server."""
        return self.hosts is None

    @property
    def embedded_address(self) -> tuple[str, int] | None:
        """Where the embedded dev server listens (starting it if need be), for other
        processes to connect to; None for a connection to a cluster."""
        if self.hosts is not None:
            return None
        self.unguarded_session()
        assert self._server is not None
        return self._server.host, self._server.port

    @property
    def contact(self) -> str:
        """Where the connection goes, for reports: ``h1,h2:port`` or the dev server's data."""
        if self.hosts is None:
            where = self.embedded_data_dir if self.embedded_data_dir is not None else "in memory"
            return f"embedded dev server ({where})"
        return f"{','.join(self.hosts)}:{self.port}"

    # --- the session ---------------------------------------------------------------------

    @property
    def cluster(self) -> Cluster:
        """The driver Cluster (connecting first if needed): metadata, token map, shutdown."""
        self.unguarded_session()
        assert self._cluster is not None
        return self._cluster

    def session(self) -> Session:
        """The driver Session, created on first use (from any thread, exactly once); with
        ``guard``, wrapped in a :class:`GuardedSession` (the same interface)."""
        if not self.guard:
            return self.unguarded_session()
        guarded = self._guarded
        if guarded is not None:
            return guarded
        session = self.unguarded_session()
        with self._lock:
            if self._guarded is None or self._guarded.unguarded is not session:
                guard = KeyspaceGuard(
                    self.keyspace, self.read_keyspaces, allow_auth=self.allow_auth, name=self.name
                )
                self._guarded = GuardedSession(session, guard)
            return self._guarded

    def unguarded_session(self) -> Session:
        """The driver Session itself, even when ``guard`` is set: for cassflow's own
        bookkeeping statements (checkpoints in a keyspace the pipeline file names), never for
        statements a user wrote."""
        session = self._session
        if session is not None:
            return session
        with self._lock:
            if self._session is None:
                self._session = self._connect()
            return self._session

    def _connect(self) -> Session:
        hosts, port = self._contact_points()
        cluster: Cluster | None = None
        try:
            cluster = Cluster(
                hosts,
                port=port,
                auth_provider=self._auth_provider(),
                execution_profiles={
                    EXEC_PROFILE_DEFAULT: self._profile(),
                    TUPLE_ROWS_PROFILE: self._profile(row_factory=tuple_factory),
                    WRITE_PROFILE: self._profile(retry_policy=FallthroughRetryPolicy()),
                },
                ssl_context=self.ssl_context,
                application_name=self.application_name,
                application_version=self.application_version,
                connection_class=identified_connection_class(
                    self.application_name, self.application_version
                ),
                connect_timeout=_CONNECT_TIMEOUT,
                control_connection_timeout=_CONTROL_TIMEOUT,
                reconnection_policy=ExponentialReconnectionPolicy(
                    _RECONNECT_BASE_DELAY, _RECONNECT_MAX_DELAY
                ),
                max_schema_agreement_wait=_SCHEMA_AGREEMENT_WAIT,
                **self._version_option(),
            )
            session = cluster.connect()
        except Exception as exc:
            if cluster is not None:
                cluster.shutdown()
            self._stop_server()
            raise CopyError(
                f"connection {self.name}: cannot connect to Cassandra at {self.contact}"
                f"{'' if self.username is None else ' as ' + self.username}: "
                f"{self._scrub(_describe(exc))}"
            ) from None  # the driver's exception may hold the authenticator; keep it out
        self._cluster = cluster
        log.info("connection %s: connected to %s", self.name, self.contact)
        return session

    def _version_option(self) -> dict[str, int]:
        # Left out, the driver negotiates down from its newest version; None is not "unset".
        if self.protocol_version is None:
            # The embedded dev server speaks v5, as Cassandra 4.1 does: no need to negotiate.
            return {} if self.hosts is not None else {"protocol_version": 5}
        return {"protocol_version": self.protocol_version}

    def _contact_points(self) -> tuple[list[str], int]:
        if self.hosts is not None:
            return self.hosts, self.port
        # The dev server (and its SQLite, asyncio, cql parser) is only needed without hosts.
        from cassflow.devserver import DevServer  # noqa: PLC0415

        server = DevServer("127.0.0.1", 0, data_dir=self.embedded_data_dir)
        try:
            server.start()
        except Exception as exc:  # a data directory that cannot be opened, a busy SQLite file
            raise CopyError(
                f"connection {self.name}: cannot start the embedded dev server "
                f"({self.embedded_data_dir or 'in memory'}): {_describe(exc)}"
            ) from exc
        self._server = server
        log.info(
            "connection %s: embedded dev server on 127.0.0.1:%d, data in %s",
            self.name,
            server.port,
            self.embedded_data_dir or "memory",
        )
        return ["127.0.0.1"], server.port

    def _auth_provider(self) -> SecretAuthProvider | None:
        if self.username is None:
            return None
        # Resolved at each authentication: a rotated secret reaches the next connection.
        return SecretAuthProvider(self.username, self._password)

    def _profile(self, **kwargs: Any) -> ExecutionProfile:
        # A policy instance per profile: the driver tells each profile's policy about hosts
        # going up and down, and a shared instance would hear everything twice.
        policy = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=self.local_dc or ""))
        return ExecutionProfile(
            load_balancing_policy=policy,
            consistency_level=self.consistency,
            request_timeout=self.request_timeout,
            **kwargs,
        )

    def _scrub(self, text: str) -> str:
        """``text`` without the password, should any layer below ever have echoed it."""
        if self._password is not None:
            secret = self._password.get_secret_value()
            if secret:
                text = text.replace(secret, "**********")
        return text

    # --- schema --------------------------------------------------------------------------

    def table(self, keyspace: str, table: str, *, refresh: bool = False) -> Any:
        """The driver's ``TableMetadata`` of ``keyspace.table``.

        The driver's schema metadata is refreshed when the table is not known yet (created
        by another client a moment ago) or when ``refresh`` is set (its columns may have
        changed). Names are matched exactly, then as CQL reads an unquoted name (lower case).
        An unknown keyspace or table raises :class:`CopyError` listing what exists.
        """
        cluster = self.cluster
        found = self._lookup(keyspace, table)
        if found is None or refresh:
            self._refresh(cluster, keyspace, table)
            found = self._lookup(keyspace, table)
        if found is not None:
            return found
        keyspaces = cluster.metadata.keyspaces
        ks_meta = keyspaces.get(keyspace) or keyspaces.get(keyspace.lower())
        if ks_meta is None:
            names = ", ".join(sorted(k for k in keyspaces if not _is_system(k)))
            raise CopyError(
                f"keyspace {keyspace} does not exist (the cluster has: {names or 'none'})"
            )
        tables = ", ".join(sorted(ks_meta.tables)) or "no tables"
        raise CopyError(
            f"table {keyspace}.{table} does not exist (keyspace {ks_meta.name} has: {tables})"
        )

    def _lookup(self, keyspace: str, table: str) -> Any:
        assert self._cluster is not None
        keyspaces = self._cluster.metadata.keyspaces
        ks_meta = keyspaces.get(keyspace) or keyspaces.get(keyspace.lower())
        if ks_meta is None:
            return None
        return ks_meta.tables.get(table) or ks_meta.tables.get(table.lower())

    def _refresh(self, cluster: Cluster, keyspace: str, table: str) -> None:
        known = self._lookup(keyspace, table)
        try:
            if known is not None:
                cluster.refresh_table_metadata(known.keyspace_name, known.name)
            else:
                # A table (or keyspace) the driver has not seen yet, perhaps created by another
                # client a moment ago: read the whole schema again, which also lists what
                # exists for the error message.
                cluster.refresh_schema_metadata()
        except (DriverException, NoHostAvailable, OSError) as exc:
            raise CopyError(
                f"cannot read the schema of {keyspace}.{table} from {self.contact}: "
                f"{_describe(exc)}"
            ) from exc

    def wait_for_schema_agreement(self, what: str) -> None:
        """Wait (bounded) until every node has the same schema version, after DDL."""
        cluster = self.cluster
        try:
            agreed = cluster.control_connection.wait_for_schema_agreement(
                wait_time=_SCHEMA_AGREEMENT_WAIT
            )
        except (DriverException, NoHostAvailable, OSError) as exc:
            raise CopyError(f"{what}: cannot check schema agreement: {_describe(exc)}") from exc
        if not agreed:
            raise CopyError(
                f"{what}: the nodes did not agree on the schema within "
                f"{_SCHEMA_AGREEMENT_WAIT} s; check that every node is up, then run again"
            )

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Shut down the driver cluster and the embedded dev server, if any."""
        with self._lock:
            cluster, self._cluster, self._session = self._cluster, None, None
            self._guarded = None
            if cluster is not None:
                cluster.shutdown()
            self._stop_server()

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> CassandraConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_system(keyspace: str) -> bool:
    return keyspace.startswith("system") or keyspace in {"dse_system", "solr_admin"}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NoHostAvailable) and getattr(exc, "errors", None):
        # NoHostAvailable's text is a dict repr; say what each host answered instead.
        return "; ".join(f"{host}: {_describe(error)}" for host, error in exc.errors.items())
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
