"""From specs to parts: connections, sources and sinks built from a pipeline's datasets.

Relative file paths are resolved against a base directory (the pipeline file's directory),
secret references are resolved here, at the last moment, into ``SecretStr`` values (a Cassandra
password at each authentication, so a rotated one is picked up), and Cassandra connections are
opened once per run and shared by every activity that names them. Every connection is bound
to its keyspace (the keyspace guard refuses statements on others, reads of its
``read_keyspaces`` aside), speaks TLS when its spec says so, and carries the run's identity.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cassandra.cluster import Session
from pydantic import SecretStr

from cassflow.access import resolve_secrets
from cassflow.access._identity import TaskIdentity
from cassflow.access._tls import tls_context
from cassflow.copy._cassandra import CassandraSink, CassandraSource
from cassflow.copy._connect import CassandraConnection
from cassflow.copy._files import FileSink, FileSource
from cassflow.copy._model import CopyError, Sink, Source
from cassflow.copy._sql import SqlSink, SqlSource
from cassflow.copy._throttle import AimdThrottle
from cassflow.errors import CassflowError
from cassflow.pipeline._spec import (
    ConnectionSpec,
    DatasetSpec,
    FileDatasetSpec,
    SqlDatasetSpec,
    TableDatasetSpec,
)


def _is_url(path: str) -> bool:
    return "://" in path


class Connections:
    """The Cassandra connections of one run, opened on first use and closed together."""

    def __init__(
        self,
        specs: dict[str, ConnectionSpec],
        *,
        state_dir: Path,
        application_name: str = "cassflow",
        identity: TaskIdentity | None = None,
    ) -> None:
        self.specs = specs
        self.state_dir = state_dir
        self.application_name = application_name
        #: The run's identity, sent by every connection (else just ``application_name``).
        self.identity = identity
        self._open: dict[str, CassandraConnection] = {}

    def get(self, name: str) -> CassandraConnection:
        """The connection called ``name`` (opened lazily: sessions start on first request)."""
        if name in self._open:
            return self._open[name]
        try:
            spec = self.specs[name]
        except KeyError:
            raise CopyError(f"no connection called {name!r}") from None

        auth = spec.auth
        connection = CassandraConnection(
            name,
            hosts=spec.hosts,
            port=spec.port,
            keyspace=spec.keyspace,
            username=auth.username if auth else None,
            # The reference itself: resolved at each authentication.
            password=auth.password if auth and auth.password else None,
            local_dc=spec.local_dc,
            consistency=spec.consistency or "LOCAL_ONE",
            protocol_version=spec.protocol_version,
            ssl_context=_ssl_context(name, spec),
            application_name=self.application_name,
            request_timeout=spec.request_timeout,
            embedded_data_dir=spec.data_dir or str(self.state_dir / "dev" / name),
            read_keyspaces=spec.read_keyspaces,
            guard=True,
            identity=self.identity,
        )
        self._open[name] = connection
        return connection

    def close(self) -> None:
        """Close every connection that was opened."""
        for connection in self._open.values():
            connection.close()
        self._open.clear()


@contextmanager
def spec_session(
    name: str,
    spec: ConnectionSpec,
    *,
    application_name: str,
    state_dir: Path = Path(".cassflow"),
) -> Iterator[Session]:
    """An unguarded driver session of one connection spec, built as a pipeline builds its
    connections (TLS, timeouts, the password resolved at login), closed afterwards: for
    cassflow's own administrative commands (roles, leases, rotation), whose role and permission
    statements the keyspace guard would refuse."""
    opened = Connections({name: spec}, state_dir=state_dir, application_name=application_name)
    try:
        yield opened.get(name).unguarded_session()
    finally:
        opened.close()


class DatasetFactory:
    """Builds sources and sinks for a pipeline's datasets."""

    def __init__(self, connections: Connections, base_dir: Path) -> None:
        self.connections = connections
        self.base_dir = base_dir

    def _path(self, path: str) -> str:
        if _is_url(path) or os.path.isabs(path):
            return path
        return str(self.base_dir / path)

    def _storage(self, spec: FileDatasetSpec) -> dict[str, Any]:
        resolved: dict[str, Any] = {}
        for key, value in spec.storage.items():
            secret = resolve_secrets(value) if isinstance(value, str) else None
            resolved[key] = secret.get_secret_value() if secret is not None else value
        return resolved

    def _table(self, spec: TableDatasetSpec) -> tuple[CassandraConnection, str]:
        connection = self.connections.get(spec.connection)
        conn_spec = self.connections.specs[spec.connection]
        keyspace = spec.keyspace or conn_spec.keyspace
        return connection, keyspace

    def source(self, spec: DatasetSpec) -> Source:
        """A source reading ``spec``."""
        if isinstance(spec, FileDatasetSpec):
            return FileSource(
                self._path(spec.path), spec.format, dict(spec.options), self._storage(spec)
            )
        if isinstance(spec, TableDatasetSpec):
            connection, keyspace = self._table(spec)
            return CassandraSource(
                connection,
                keyspace,
                spec.table,
                columns=spec.columns,
                consistency=spec.consistency,
                fetch_size=spec.fetch_size,
                writetime_columns=tuple(spec.writetime_columns),
                ttl_columns=tuple(spec.ttl_columns),
            )
        return SqlSource(
            _sql_url(spec),
            table=spec.table,
            query=spec.query,
            key=spec.key,
            chunk_rows=spec.chunk_rows,
        )

    def sink(self, spec: DatasetSpec, throttle: AimdThrottle) -> Sink:
        """A sink writing ``spec``; Cassandra sinks adapt their concurrency with ``throttle``."""
        if isinstance(spec, FileDatasetSpec):
            return FileSink(
                self._path(spec.path), spec.format, dict(spec.options), self._storage(spec)
            )
        if isinstance(spec, TableDatasetSpec):
            connection, keyspace = self._table(spec)
            return CassandraSink(
                connection,
                keyspace,
                spec.table,
                consistency=spec.consistency,
                batch_size=spec.batch_size,
                max_batch_bytes=spec.max_batch_bytes,
                max_batch_partitions=spec.max_batch_partitions,
                batch_mode=spec.batch_mode,
                throttle=throttle,
                ttl=spec.ttl,
                ttl_column=spec.ttl_column,
                timestamp_column=spec.timestamp_column,
                allow_non_idempotent=spec.allow_non_idempotent,
            )
        if spec.table is None:
            raise CopyError("a SQL dataset written to needs a 'table' (a query is read-only)")
        return SqlSink(_sql_url(spec), table=spec.table, create=spec.create, mode=spec.mode)


def _ssl_context(name: str, spec: ConnectionSpec) -> ssl.SSLContext | None:
    """The TLS context of a connection's ``tls:`` block (None without one)."""
    tls = spec.tls
    if tls is None:
        return None
    try:
        return tls_context(
            tls.ca_file,
            tls.cert_file,
            tls.key_file,
            resolve_secrets(tls.key_password),
            check_hostname=tls.check_hostname,
        )
    except CassflowError as exc:
        raise CopyError(f"connection {name}: tls: {exc}") from None


def _sql_url(spec: SqlDatasetSpec) -> SecretStr:
    url = resolve_secrets(spec.url)
    assert url is not None  # the spec requires a url
    return url
