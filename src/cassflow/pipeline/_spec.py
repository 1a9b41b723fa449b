"""The pipeline file, as pydantic models: connections, datasets, activities.

The shape is the one in the project's design notes::

    name: orders_daily
    connections:                 # one per keyspace ("linked services")
      shop:
        keyspace: shop
        auth: {username: loader, password: "${secret:env:SHOP_PASSWORD}"}
    datasets:
      orders_csv: {format: csv, path: data/orders/*.csv}
      orders:     {connection: shop, table: orders}
    activities:
      - name: load_orders
        copy: {from: orders_csv, to: orders, max_errors: 100}
      - name: settle
        after: [load_orders]
        wait: {compaction: {connection: shop, max_pending: 0}, timeout: 10m}

Every model forbids unknown keys, so a typo is an error that names the key, not a silently
ignored setting. Cross-references (datasets naming connections, copies naming datasets,
``after`` naming activities, cycles) are checked after the fields.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

Name = Annotated[str, Field(pattern=_NAME)]


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``250ms``, ``30s``, ``10m``, ``2h``, ``1d`` or a plain number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 10m, 2h)")
    return float(match[1]) * _UNITS[match[2]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AuthSpec(_Model):
    """How a connection logs in. Passwords are secrets: write ``${secret:...}`` references."""

    username: str | None = None
    password: SecretStr | None = None
    #: These are a broker's credentials: each activity logs in as a role issued for it alone
    #: (a lease with exactly its grants), dropped when it ends (docs/credentials.md).
    dynamic: bool = False
    #: How long such a role lives at most (``30m``, ``2h``): past it, ``creds reap`` drops it.
    lease_ttl: str = "1h"

    @field_validator("lease_ttl")
    @classmethod
    def _duration(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("lease_ttl must be a positive duration such as 30m or 2h")
        return value


class TlsSpec(_Model):
    """TLS to the cluster: the CA that signed the nodes' certificates, and a client certificate
    for clusters that require one. Relative paths are relative to the working directory."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    #: The client key's password: write a ``${secret:...}`` reference.
    key_password: SecretStr | None = None
    #: Check that a node's certificate names the address it is reached at.
    check_hostname: bool = True


class ConnectionSpec(_Model):
    """A Cassandra connection bound to one keyspace. No ``hosts``: the embedded dev server."""

    hosts: list[str] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 9042
    keyspace: Name
    #: Other keyspaces this connection may read.
    read_keyspaces: list[Name] = []
    auth: AuthSpec | None = None
    tls: TlsSpec | None = None
    local_dc: str | None = None
    #: Default consistency of reads and writes (dsbulk's default: LOCAL_ONE).
    consistency: str | None = None
    protocol_version: Annotated[int, Field(ge=3, le=5)] | None = None
    #: Seconds before a request times out on the client.
    request_timeout: Annotated[float, Field(gt=0)] = 30.0
    #: Where the embedded dev server keeps its data (no ``hosts``); default .cassflow/dev/<name>.
    data_dir: str | None = None

    @model_validator(mode="after")
    def _dynamic_needs_a_broker(self) -> ConnectionSpec:
        auth = self.auth
        if auth is not None and auth.dynamic:
            if not self.hosts:
                raise ValueError(
                    "auth.dynamic needs a cluster with authentication (hosts); the embedded "
                    "dev server runs without it"
                )
            if auth.username is None or auth.password is None:
                raise ValueError("auth.dynamic needs the broker's username and password")
        return self


class FileDatasetSpec(_Model):
    """Files on any fsspec path (local, s3://, az://), globs allowed."""

    format: Literal["csv", "jsonl", "parquet"]
    path: str
    #: Format options (CSV dialect, compression, ...), passed to the reader/writer.
    options: dict[str, str | int | float | bool] = {}
    #: fsspec storage options (endpoint_url, key, secret, account_name, ...); values may be
    #: ``${secret:...}`` references, resolved when the files are opened.
    storage: dict[str, str | int | float | bool] = {}


class TableDatasetSpec(_Model):
    """A Cassandra table reached through a connection."""

    connection: Name
    table: Name
    #: Another keyspace than the connection's (one of its ``read_keyspaces`` for reads).
    keyspace: Name | None = None
    #: Columns to read (default: all, in schema order).
    columns: list[str] | None = None
    consistency: str | None = None
    #: Rows per page when reading.
    fetch_size: Annotated[int, Field(ge=1)] = 5000
    #: Rows sent together in one UNLOGGED batch when writing (at most).
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 32
    #: What a batch holds: whole partitions that have the same replicas (``replica``, the
    #: default, as dsbulk's REPLICA_SET and cqlsh COPY), rows of one partition (``partition``,
    #: as dsbulk's PARTITION_KEY), or no batches (``none``).
    batch_mode: Literal["replica", "partition", "none"] = "replica"
    #: A batch's size at most, as Cassandra measures it (its ``batch_size_warn_threshold``).
    max_batch_bytes: Annotated[int, Field(ge=1)] = 5 * 1024
    #: Partitions one batch may span at most (Cassandra warns over 10).
    max_batch_partitions: Annotated[int, Field(ge=1)] = 10
    #: Time to live of written rows, in seconds.
    ttl: Annotated[int, Field(ge=0)] | None = None
    #: Source fields that carry each row's TTL / write time (microseconds) when writing.
    ttl_column: str | None = None
    timestamp_column: str | None = None
    #: Columns whose write time / TTL is read along (as ``<column>_writetime`` / ``_ttl``).
    writetime_columns: list[str] = []
    ttl_columns: list[str] = []
    #: Allow writes that are not idempotent (counter tables); a redone slice then counts twice.
    allow_non_idempotent: bool = False


class SqlDatasetSpec(_Model):
    """A SQL table or query through SQLAlchemy."""

    #: A SQLAlchemy URL; put the password in as a ``${secret:...}`` reference.
    url: str
    table: str | None = None
    query: str | None = None
    #: An integer column to cut the table into key ranges (default: its primary key).
    key: str | None = None
    chunk_rows: Annotated[int, Field(ge=1)] = 5000
    #: When writing: create a missing table; upsert (redo-safe) or plain insert.
    create: bool = True
    mode: Literal["upsert", "insert"] = "upsert"

    @model_validator(mode="after")
    def _one_source(self) -> SqlDatasetSpec:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' and 'query'")
        return self


DatasetSpec = FileDatasetSpec | TableDatasetSpec | SqlDatasetSpec


class CopySpec(_Model):
    """Copy one dataset into another."""

    source: Name = Field(alias="from")
    target: Name = Field(alias="to")
    #: Abort after this many bad records (a count) or this share of them ("5%"); -1: never.
    max_errors: Annotated[int, Field(ge=-1)] | Annotated[str, Field(pattern=r"^\d+(\.\d+)?%$")] = (
        100
    )
    #: Target column -> source field; default: every field under its own name.
    columns: dict[str, str] | None = None
    #: Source fields the target lacks: fail (default), ignore_extra, add_columns.
    schema_drift: Literal["fail", "ignore_extra", "add_columns"] = "fail"
    #: Slices worked on at once, and how many slices to cut a splittable source into.
    workers: Annotated[int, Field(ge=1, le=256)] = 4
    #: Worker processes that move the slices (the ``workers`` spread over them), or ``auto``:
    #: one per core (up to 8) for loads of 32 MiB of files or more into a Cassandra table,
    #: else none (threads of the run's process), as measured faster by bench/workers.py.
    processes: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = "auto"
    splits: Annotated[int, Field(ge=1)] | None = None
    #: Requests in flight to Cassandra at the start (adapted by AIMD up to max_concurrency).
    concurrency: Annotated[int, Field(ge=1)] = 32
    max_concurrency: Annotated[int, Field(ge=1)] = 256
    #: Back off when answers come this many times slower than the fastest seen (a queue is
    #: building up on the cluster); null: only timeouts and overload errors count.
    latency_rise: Annotated[float, Field(gt=1)] | None = 3.0
    #: A hard cap on written rows per second.
    max_rows_per_second: Annotated[float, Field(gt=0)] | None = None
    #: Attempts per slice on transient errors.
    slice_attempts: Annotated[int, Field(ge=1)] = 4
    #: After the copy, read the target back: row count and a checksum of the key columns.
    verify: bool = False


class CompactionWaitSpec(_Model):
    """Wait until pending + running compactions are at or below ``max_pending``."""

    connection: Name
    table: Name | None = None
    max_pending: Annotated[int, Field(ge=0)] = 0


class WaitSpec(_Model):
    """Wait for a condition (compaction for now), at most ``timeout``."""

    compaction: CompactionWaitSpec
    timeout: str | float = "10m"
    poll_interval: str | float = "5s"

    @field_validator("timeout", "poll_interval")
    @classmethod
    def _duration(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value


class CqlSpec(_Model):
    """Run CQL statements (inline or from a .cql file) on a connection."""

    connection: Name
    statements: list[str] = []
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CqlSpec:
        if bool(self.statements) == (self.file is not None):
            raise ValueError("give exactly one of 'statements' and 'file'")
        return self


class ActivitySpec(_Model):
    """One step: a copy, a CQL run or a wait, after the activities it names."""

    name: Name
    after: list[Name] = []
    copy_: CopySpec | None = Field(default=None, alias="copy")
    cql: CqlSpec | None = None
    wait: WaitSpec | None = None

    @model_validator(mode="after")
    def _one_action(self) -> ActivitySpec:
        given = [
            k
            for k in ("copy", "cql", "wait")
            if getattr(self, k + ("_" if k == "copy" else "")) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "an activity does exactly one of 'copy', 'cql' and 'wait'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class CheckpointsSpec(_Model):
    """Checkpoints in a Cassandra table, shared by the workers of a distributed run (default:
    a SQLite file in the state directory)."""

    connection: Name
    table: Name = "cassflow_checkpoints"
    #: Another keyspace than the connection's (it must exist; the table is created).
    keyspace: Name | None = None


class PipelineSpec(_Model):
    """A whole pipeline file."""

    name: Name
    connections: dict[Name, ConnectionSpec] = {}
    datasets: dict[Name, DatasetSpec] = {}
    activities: list[ActivitySpec]
    checkpoints: CheckpointsSpec | None = None

    @model_validator(mode="after")
    def _references(self) -> PipelineSpec:
        for name, dataset in self.datasets.items():
            if isinstance(dataset, TableDatasetSpec) and dataset.connection not in self.connections:
                raise ValueError(
                    f"dataset {name!r} names unknown connection {dataset.connection!r}"
                )
        if self.checkpoints is not None and self.checkpoints.connection not in self.connections:
            raise ValueError(f"checkpoints name unknown connection {self.checkpoints.connection!r}")
        seen: set[str] = set()
        for activity in self.activities:
            if activity.name in seen:
                raise ValueError(f"two activities are called {activity.name!r}")
            seen.add(activity.name)
        for activity in self.activities:
            for dependency in activity.after:
                if dependency not in seen:
                    raise ValueError(
                        f"activity {activity.name!r} runs after unknown activity {dependency!r}"
                    )
            if activity.copy_ is not None:
                ends = (("from", activity.copy_.source), ("to", activity.copy_.target))
                for role, reference in ends:
                    if reference not in self.datasets:
                        raise ValueError(
                            f"activity {activity.name!r} copies {role} unknown dataset "
                            f"{reference!r}"
                        )
            for spec in (activity.cql, activity.wait.compaction if activity.wait else None):
                if spec is not None and spec.connection not in self.connections:
                    raise ValueError(
                        f"activity {activity.name!r} names unknown connection {spec.connection!r}"
                    )
        _check_acyclic(self.activities)
        return self


def _check_acyclic(activities: list[ActivitySpec]) -> None:
    after = {a.name: list(a.after) for a in activities}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise ValueError("activities depend on each other in a cycle: " + " -> ".join(cycle))
        state[name] = 1
        for dependency in after[name]:
            visit(dependency, [*path, name])
        state[name] = 2

    for name in after:
        visit(name, [])
