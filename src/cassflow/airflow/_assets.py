"""Datasets as Airflow assets, so that downstream DAGs can be scheduled on what a copy wrote.

A Cassandra table is ``cassandra://host:port/keyspace/table`` (the first contact point; an
embedded dev server is ``cassandra://embedded-<connection>:9042/...``); files are
their own URLs (``file:///abs/path``, ``s3://bucket/key``); a SQL table is its SQLAlchemy URL
without credentials, ``/<table>`` appended. :func:`sanitize_uri` is the provider's normaliser
for the ``cassandra`` scheme (``asset-uris`` in :func:`get_provider_info`).
"""

from __future__ import annotations

import os
from urllib.parse import SplitResult, urlsplit, urlunsplit

from cassflow.pipeline._spec import (
    ConnectionSpec,
    DatasetSpec,
    FileDatasetSpec,
    SqlDatasetSpec,
    TableDatasetSpec,
)

_DEFAULT_PORT = 9042


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Check and normalise a ``cassandra://host:port/keyspace/table`` URI (Airflow calls it
    with the split URI); lower-cases the host, adds the default port."""
    parts = [p for p in uri.path.split("/") if p]
    if not uri.hostname or len(parts) != 2:
        raise ValueError(
            f"a cassandra asset URI is cassandra://host:port/keyspace/table, not {uri.geturl()!r}"
        )
    port = uri.port or _DEFAULT_PORT
    return uri._replace(netloc=f"{uri.hostname.lower()}:{port}", path="/" + "/".join(parts))


def table_uri(connection: ConnectionSpec, keyspace: str, table: str, name: str = "") -> str:
    """The asset URI of ``keyspace.table`` reached through ``connection``."""
    # An embedded dev server has no address of its own: its connection's name stands in.
    host = connection.hosts[0] if connection.hosts else f"embedded-{name or 'dev'}"
    netloc = f"{host.lower()}:{connection.port}"
    return f"cassandra://{netloc}/{keyspace}/{table}"


def dataset_uri(
    spec: DatasetSpec, connections: dict[str, ConnectionSpec], *, base_dir: str = "."
) -> str:
    """The asset URI of a pipeline dataset."""
    if isinstance(spec, TableDatasetSpec):
        connection = connections[spec.connection]
        return table_uri(
            connection, spec.keyspace or connection.keyspace, spec.table, spec.connection
        )
    if isinstance(spec, FileDatasetSpec):
        if "://" in spec.path:
            return spec.path
        path = spec.path if os.path.isabs(spec.path) else os.path.join(base_dir, spec.path)
        return "file://" + os.path.abspath(path)
    return _sql_uri(spec)


def _sql_uri(spec: SqlDatasetSpec) -> str:
    """A SQL dataset's URL with user, password and query string dropped."""
    parts = urlsplit(spec.url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    scheme = parts.scheme.split("+", 1)[0]
    path = parts.path.rstrip("/")
    name = spec.table if spec.table is not None else "query"
    return urlunsplit((scheme, netloc, f"{path}/{name}", "", ""))
