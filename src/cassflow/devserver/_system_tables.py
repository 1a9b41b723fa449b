"""Rows of the system tables drivers and cqlsh read, computed from the schema and the node.

:func:`system_rows` answers for the tables whose content Cassandra generates rather than
stores: ``system.local`` (and the always empty ``system.peers`` / ``system.peers_v2`` of a
single node), every ``system_schema`` and ``system_virtual_schema`` table, and
``system_views.clients`` / ``settings`` / ``sstable_tasks`` / ``thread_pools``. Other tables
(``system_auth.*``, ``system_traces.*``, ...) are the caller's to store; for them it returns
None.

Rows are dicts holding every column of the table, keyed and ordered as the table's columns,
in Cassandra's row order (partitions by token for ``system_schema``, by key for the virtual
tables, then clustering order). Values are what the column's
:meth:`~cassflow.protocol.DataType.serialize` takes: ``str`` for text and inet, ``uuid.UUID``,
``datetime`` (UTC), ``bytes``, sets as sorted tuples, lists as tuples, maps as dicts in key
order. The rows are shared between calls: treat them as read-only. The schema rows are
computed once per schema version, ``system.local`` once per (node, schema version): the
driver reads them on every connection and after every DDL.

The table definitions themselves are in :mod:`cassflow.devserver._system_keyspaces`
(re-exported here as :func:`system_keyspaces`).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cassandra.metadata import Murmur3Token

from cassflow.devserver._schema import KeyspaceMetadata, Schema, TableMetadata
from cassflow.devserver._system_keyspaces import system_keyspaces, system_table_id

__all__ = [
    "CQL_VERSION",
    "GENERATED_TABLES",
    "NATIVE_PROTOCOL_VERSION",
    "PARTITIONER",
    "RELEASE_VERSION",
    "ClientInfo",
    "CompactionState",
    "CompactionTask",
    "NodeInfo",
    "default_settings",
    "default_tokens",
    "system_keyspaces",
    "system_rows",
    "system_table_id",
]

#: The Cassandra release the dev server claims to be (drivers pick their schema parser by it).
RELEASE_VERSION = "4.1.8"
#: ``QueryProcessor.CQL_VERSION`` of Cassandra 4.1.
CQL_VERSION = "3.4.6"
#: ``ProtocolVersion.CURRENT`` of Cassandra 4.1, as system.local writes it.
NATIVE_PROTOCOL_VERSION = "5"
PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"

Row = dict[str, Any]


def default_tokens(count: int = 16) -> tuple[str, ...]:
    """``count`` Murmur3 tokens spread evenly over the ring (4.1's default num_tokens is 16)."""
    step = 2**64 // count
    return tuple(str(-(2**63) + step // 2 + i * step) for i in range(count))


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """What ``system.local`` says about the node.

    Keep ``host_id`` stable across restarts (persist it): drivers key hosts by it.
    ``broadcast_*`` default to the listen address and port; ``rpc_*`` is the native transport
    address and port clients use.
    """

    host_id: uuid.UUID = field(default_factory=uuid.uuid4)
    cluster_name: str = "Test Cluster"
    data_center: str = "datacenter1"
    rack: str = "rack1"
    listen_address: str = "127.0.0.1"
    listen_port: int = 7000
    broadcast_address: str | None = None
    broadcast_port: int | None = None
    rpc_address: str = "127.0.0.1"
    rpc_port: int = 9042
    release_version: str = RELEASE_VERSION
    cql_version: str = CQL_VERSION
    native_protocol_version: str = NATIVE_PROTOCOL_VERSION
    partitioner: str = PARTITIONER
    tokens: tuple[str, ...] = field(default_factory=default_tokens)
    bootstrapped: str = "COMPLETED"
    #: Seconds since the epoch when the node started (gossip's generation number).
    gossip_generation: int = field(default_factory=lambda: int(time.time()))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """One connected client, as ``system_views.clients`` shows it.

    ``connection_stage`` is ``established``, ``authenticating`` or ``ready``; ``username`` is
    ``anonymous`` once an AllowAllAuthenticator connection is ready. ``client_options`` are
    the STARTUP options. ``hostname`` defaults to the address (Cassandra 4.1 does not resolve
    it). ``keyspace`` (the connection's USE keyspace) is kept for the server's own use: the
    4.1 table has no column for it (5.0 adds ``keyspace_name``).
    """

    address: str
    port: int
    hostname: str | None = None
    username: str | None = None
    connection_stage: str = "ready"
    protocol_version: int | None = None
    client_options: Mapping[str, str] | None = None
    driver_name: str | None = None
    driver_version: str | None = None
    request_count: int = 0
    ssl_enabled: bool = False
    ssl_protocol: str | None = None
    ssl_cipher_suite: str | None = None
    keyspace: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactionTask:
    """A running sstable task (``system_views.sstable_tasks``); ``kind`` as OperationType."""

    keyspace: str
    table: str
    task_id: uuid.UUID
    kind: str = "compaction"
    progress: int = 0
    total: int = 0
    unit: str = "bytes"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactionState:
    """A snapshot of compaction activity: running tasks, queued work, the executor's counters.

    ``pending`` counts queued compactions per (keyspace, table); the CompactionExecutor row of
    ``system_views.thread_pools`` shows ``len(active)`` active tasks, their sum pending,
    ``completed`` completed and ``concurrent_compactors`` as its limit.
    """

    active: tuple[CompactionTask, ...] = ()
    pending: Mapping[tuple[str, str], int] = field(default_factory=dict)
    completed: int = 0
    concurrent_compactors: int = 2


def default_settings(node: NodeInfo, *, auth: bool = False) -> dict[str, str]:
    """A Cassandra 4.1 node's common settings, by their 4.1 names and in their 4.1 units.

    ``auth`` switches to PasswordAuthenticator and CassandraAuthorizer. Pass the result,
    amended, to :func:`system_rows` as ``settings``.
    """
    return {
        "allocate_tokens_for_local_replication_factor": "3",
        "authenticator": "PasswordAuthenticator" if auth else "AllowAllAuthenticator",
        "authorizer": "CassandraAuthorizer" if auth else "AllowAllAuthorizer",
        "auto_snapshot": "true",
        "batch_size_fail_threshold": "50KiB",
        "batch_size_warn_threshold": "5KiB",
        "cas_contention_timeout": "1000ms",
        "cdc_enabled": "false",
        "client_encryption_options_enabled": "false",
        "cluster_name": node.cluster_name,
        "column_index_size": "64KiB",
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "compaction_throughput": "64MiB/s",
        "concurrent_counter_writes": "32",
        "concurrent_reads": "32",
        "concurrent_writes": "32",
        "counter_write_request_timeout": "5000ms",
        "drop_compact_storage_enabled": "false",
        "endpoint_snitch": "SimpleSnitch",
        "gc_warn_threshold": "1000ms",
        "hinted_handoff_enabled": "true",
        "incremental_backups": "false",
        "listen_address": node.listen_address,
        "materialized_views_enabled": "false",
        "max_hint_window": "3h",
        "max_value_size": "256MiB",
        "native_transport_max_frame_size": "16MiB",
        "native_transport_port": str(node.rpc_port),
        "num_tokens": str(len(node.tokens)),
        "partitioner": node.partitioner,
        "range_request_timeout": "10000ms",
        "read_request_timeout": "5000ms",
        "request_timeout": "10000ms",
        "role_manager": "CassandraRoleManager",
        "rpc_address": node.rpc_address,
        "sasi_indexes_enabled": "false",
        "server_encryption_options_internode_encryption": "none",
        "slow_query_log_timeout": "500ms",
        "start_native_transport": "true",
        "storage_port": str(node.listen_port),
        "tombstone_failure_threshold": "100000",
        "tombstone_warn_threshold": "1000",
        "transient_replication_enabled": "false",
        "truncate_request_timeout": "60000ms",
        "unlogged_batch_across_partitions_warn_threshold": "10",
        "user_defined_functions_enabled": "false",
        "write_request_timeout": "2000ms",
    }


# --- entry point ------------------------------------------------------------------------------


def system_rows(
    keyspace: str,
    table: str,
    *,
    schema: Schema,
    node: NodeInfo,
    clients: Sequence[ClientInfo] = (),
    settings: Mapping[str, str] | None = None,
    compaction: CompactionState | None = None,
) -> Sequence[Row] | None:
    """Every row of ``keyspace.table`` if it is one of :data:`GENERATED_TABLES`, else None.

    ``settings`` defaults to :func:`default_settings` of ``node``; ``compaction`` to an idle
    node. The caller filters, projects and pages the rows as for any table.
    """
    key = (keyspace, table)
    if key == ("system", "local"):
        return _local_rows(node, schema.version)
    if key in (("system", "peers"), ("system", "peers_v2")):
        return ()
    if keyspace in ("system_schema", "system_virtual_schema"):
        return _schema_rows(schema).get(key)
    if keyspace == "system_views":
        match table:
            case "clients":
                return _clients(clients)
            case "settings":
                return _settings(default_settings(node) if settings is None else settings)
            case "sstable_tasks":
                return _sstable_tasks(compaction or CompactionState())
            case "thread_pools":
                return _thread_pools(compaction or CompactionState())
    return None


# --- system.local -----------------------------------------------------------------------------


def _shape(table: TableMetadata, values: Mapping[str, Any]) -> Row:
    """A row with every column of ``table``, in column order (absent columns are null)."""
    return {c.name: values.get(c.name) for c in table.columns}


@functools.cache
def _definition(keyspace: str, table: str) -> TableMetadata:
    for ks in system_keyspaces():
        if ks.name == keyspace:
            return ks.tables[table]
    raise KeyError(f"{keyspace}.{table}")


@functools.lru_cache(maxsize=16)
def _local_rows(node: NodeInfo, schema_version: uuid.UUID) -> tuple[Row, ...]:
    row = {
        "key": "local",
        "bootstrapped": node.bootstrapped,
        "broadcast_address": node.broadcast_address or node.listen_address,
        "broadcast_port": node.listen_port if node.broadcast_port is None else node.broadcast_port,
        "cluster_name": node.cluster_name,
        "cql_version": node.cql_version,
        "data_center": node.data_center,
        "gossip_generation": node.gossip_generation,
        "host_id": node.host_id,
        "listen_address": node.listen_address,
        "listen_port": node.listen_port,
        "native_protocol_version": node.native_protocol_version,
        "partitioner": node.partitioner,
        "rack": node.rack,
        "release_version": node.release_version,
        "rpc_address": node.rpc_address,
        "rpc_port": node.rpc_port,
        "schema_version": schema_version,
        "tokens": tuple(sorted(node.tokens)),
        "truncated_at": None,
    }
    return (_shape(_definition("system", "local"), row),)


# --- system_schema and system_virtual_schema ---------------------------------------------------


def _token_order(name: str) -> tuple[int, bytes]:
    key = name.encode()
    return Murmur3Token.hash_fn(key), key


def _table_params(table: TableMetadata) -> Row:
    options = table.options
    return {
        "additional_write_policy": options.additional_write_policy,
        "bloom_filter_fp_chance": options.bloom_filter_fp_chance,
        "caching": dict(options.caching),
        # Written only on nodes with cdc_enabled (the dev server's is off), as Cassandra does.
        "cdc": None,
        "comment": options.comment,
        "compaction": dict(options.compaction),
        "compression": dict(options.compression),
        "crc_check_chance": options.crc_check_chance,
        "dclocal_read_repair_chance": 0.0,
        "default_time_to_live": options.default_time_to_live,
        "extensions": dict(sorted(options.extensions.items())),
        "gc_grace_seconds": options.gc_grace_seconds,
        "id": table.id,
        "max_index_interval": options.max_index_interval,
        # Written only for a non-default memtable configuration.
        "memtable": None if options.memtable == "default" else options.memtable,
        "memtable_flush_period_in_ms": options.memtable_flush_period_in_ms,
        "min_index_interval": options.min_index_interval,
        "read_repair": options.read_repair,
        "read_repair_chance": 0.0,
        "speculative_retry": options.speculative_retry,
    }


def _column_rows(table: TableMetadata) -> list[Row]:
    return [
        {
            "keyspace_name": table.keyspace,
            "table_name": table.name,
            "column_name": c.name,
            "clustering_order": c.clustering_order.value,
            "column_name_bytes": c.name.encode(),
            "kind": c.kind.value,
            "position": c.position,
            "type": c.cql_type,
        }
        for c in sorted(table.columns, key=lambda c: c.name.encode())
    ]


def _by_name(mapping: Mapping[str, Any]) -> list[Any]:
    return [mapping[name] for name in sorted(mapping, key=str.encode)]


@functools.lru_cache(maxsize=4)
def _schema_rows(schema: Schema) -> dict[tuple[str, str], tuple[Row, ...]]:
    out: dict[tuple[str, str], list[Row]] = {
        ("system_schema", name): []
        for name in (
            "keyspaces", "tables", "columns", "dropped_columns", "triggers", "views", "types",
            "functions", "aggregates", "indexes",
        )
    }  # fmt: skip
    stored: list[KeyspaceMetadata] = []
    virtual: list[KeyspaceMetadata] = []
    for ks in schema.keyspaces.values():
        (virtual if ks.virtual else stored).append(ks)
    for ks in sorted(stored, key=lambda k: _token_order(k.name)):
        out["system_schema", "keyspaces"].append(
            {
                "keyspace_name": ks.name,
                "durable_writes": ks.durable_writes,
                "replication": dict(sorted(ks.replication.items())),
            }
        )
        for table in _by_name(ks.tables):
            out["system_schema", "tables"].append(
                {
                    "keyspace_name": ks.name,
                    "table_name": table.name,
                    "flags": table.flags,
                    **_table_params(table),
                }
            )
            out["system_schema", "columns"].extend(_column_rows(table))
            for dropped in sorted(table.dropped_columns, key=lambda d: d.name.encode()):
                out["system_schema", "dropped_columns"].append(
                    {
                        "keyspace_name": ks.name,
                        "table_name": table.name,
                        "column_name": dropped.name,
                        # Cassandra keeps milliseconds.
                        "dropped_time": dt.datetime.fromtimestamp(
                            dropped.dropped_time // 1000 / 1000, dt.UTC
                        ),
                        "kind": dropped.kind.value,
                        "type": dropped.cql_type,
                    }
                )
            for index in sorted(table.indexes, key=lambda i: i.name.encode()):
                out["system_schema", "indexes"].append(
                    {
                        "keyspace_name": ks.name,
                        "table_name": table.name,
                        "index_name": index.name,
                        "kind": index.kind,
                        "options": {"target": index.target},
                    }
                )
        for udt in _by_name(ks.user_types):
            out["system_schema", "types"].append(
                {
                    "keyspace_name": ks.name,
                    "type_name": udt.name,
                    "field_names": udt.field_names,
                    "field_types": udt.field_cql_types,
                }
            )
    vks = "system_virtual_schema"
    out[vks, "keyspaces"] = []
    out[vks, "tables"] = []
    out[vks, "columns"] = []
    for ks in sorted(virtual, key=lambda k: k.name.encode()):
        out[vks, "keyspaces"].append({"keyspace_name": ks.name})
        for table in _by_name(ks.tables):
            out[vks, "tables"].append(
                {
                    "keyspace_name": ks.name,
                    "table_name": table.name,
                    "comment": table.options.comment,
                }
            )
            out[vks, "columns"].extend(_column_rows(table))
    return {key: tuple(_shape(_definition(*key), row) for row in rows) for key, rows in out.items()}


# --- system_views -----------------------------------------------------------------------------


def _clients(clients: Sequence[ClientInfo]) -> tuple[Row, ...]:
    table = _definition("system_views", "clients")

    def order(c: ClientInfo) -> tuple[bytes, int]:
        return ipaddress.ip_address(c.address).packed, c.port

    return tuple(
        _shape(
            table,
            {
                "address": c.address,
                "port": c.port,
                "hostname": c.hostname or c.address,
                "username": c.username,
                "connection_stage": c.connection_stage,
                "protocol_version": c.protocol_version,
                "client_options": None
                if c.client_options is None
                else dict(sorted(c.client_options.items())),
                "driver_name": c.driver_name,
                "driver_version": c.driver_version,
                "request_count": c.request_count,
                "ssl_enabled": c.ssl_enabled,
                "ssl_protocol": c.ssl_protocol,
                "ssl_cipher_suite": c.ssl_cipher_suite,
            },
        )
        for c in sorted(clients, key=order)
    )


def _settings(settings: Mapping[str, str]) -> tuple[Row, ...]:
    return tuple(
        {"name": name, "value": settings[name]} for name in sorted(settings, key=str.encode)
    )


def _uuid_order(value: uuid.UUID) -> tuple[int, int, bytes]:
    # UUIDType: by version, then time-based UUIDs by timestamp, others by bytes.
    version = value.version or 0
    return version, value.time if version == 1 else 0, value.bytes


def _sstable_tasks(compaction: CompactionState) -> tuple[Row, ...]:
    tasks = sorted(
        compaction.active,
        key=lambda t: (t.keyspace.encode(), t.table.encode(), _uuid_order(t.task_id)),
    )
    table = _definition("system_views", "sstable_tasks")
    return tuple(
        _shape(
            table,
            {
                "keyspace_name": t.keyspace,
                "table_name": t.table,
                "task_id": t.task_id,
                "completion_ratio": 1.0 if t.total == 0 else t.progress / t.total,
                "kind": t.kind,
                "progress": t.progress,
                "total": t.total,
                "unit": t.unit,
            },
        )
        for t in tasks
    )


#: Thread pools of an idle 4.1 node and their maximum sizes (``active_tasks_limit``).
_IDLE_POOLS = {
    "CacheCleanupExecutor": 1,
    "GossipStage": 1,
    "HintsDispatcher": 2,
    "MemtableFlushWriter": 2,
    "MemtablePostFlush": 1,
    "MemtableReclaimMemory": 1,
    "MigrationStage": 1,
    "MiscStage": 1,
    "MutationStage": 32,
    "Native-Transport-Requests": 128,
    "PendingRangeCalculator": 1,
    "ReadStage": 32,
    "RequestResponseStage": 8,
    "Sampler": 1,
    "SecondaryIndexManagement": 1,
    "ValidationExecutor": 2147483647,
    "ViewBuildExecutor": 1,
}


def _thread_pools(compaction: CompactionState) -> tuple[Row, ...]:
    rows = {
        name: {
            "name": name,
            "active_tasks": 0,
            "active_tasks_limit": limit,
            "pending_tasks": 0,
            "completed_tasks": 0,
            "blocked_tasks": 0,
            "blocked_tasks_all_time": 0,
        }
        for name, limit in _IDLE_POOLS.items()
    }
    rows["CompactionExecutor"] = {
        "name": "CompactionExecutor",
        "active_tasks": len(compaction.active),
        "active_tasks_limit": compaction.concurrent_compactors,
        "pending_tasks": sum(compaction.pending.values()),
        "completed_tasks": compaction.completed,
        "blocked_tasks": 0,
        "blocked_tasks_all_time": 0,
    }
    table = _definition("system_views", "thread_pools")
    return tuple(_shape(table, rows[name]) for name in sorted(rows, key=str.encode))


#: The (keyspace, table) pairs :func:`system_rows` generates.
GENERATED_TABLES: frozenset[tuple[str, str]] = frozenset(
    {("system", "local"), ("system", "peers"), ("system", "peers_v2")}
    | {("system_views", name) for name in ("clients", "settings", "sstable_tasks", "thread_pools")}
    | {
        (ks.name, name)
        for ks in system_keyspaces()
        if ks.name in ("system_schema", "system_virtual_schema")
        for name in ks.tables
    }
)
