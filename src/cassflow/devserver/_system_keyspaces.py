"""The system keyspaces of Cassandra 4.1 and their tables, as schema objects.

Column sets, types, keys, comments and the table options that differ from the defaults follow
Cassandra 4.1's sources: ``SystemKeyspace`` (system), ``SchemaKeyspace`` (system_schema),
``AuthKeyspace`` (system_auth), ``SystemDistributedKeyspace`` (system_distributed),
``TraceKeyspace`` (system_traces), and the virtual tables of ``system_views`` and
``system_virtual_schema``. Table ids are Cassandra's ``TableId.forSystemTable``: the MD5
name-based UUID of the keyspace name followed by the table name.

Not modelled: ``system.compaction_history``, ``system.peer_events`` and
``system.peer_events_v2`` (their 4.1 column types could not be confirmed), the system views
other than clients, settings, sstable_tasks and thread_pools, and the Paxos index on
``system.paxos``.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import replace

from cassflow.devserver._schema import (
    ClusteringOrder,
    ColumnMetadata,
    KeyspaceMetadata,
    TableMetadata,
)
from cassflow.devserver._schema_options import (
    LCS,
    LOCAL_STRATEGY,
    SIMPLE_STRATEGY,
    STCS,
    TWCS,
    TableOptions,
)
from cassflow.devserver._schema_types import parse_cql_type


def system_table_id(keyspace: str, table: str) -> uuid.UUID:
    """``TableId.forSystemTable``: ``UUID.nameUUIDFromBytes(keyspace + table)``."""
    digest = hashlib.md5((keyspace + table).encode(), usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest, version=3)


def _split(spec: str) -> list[str]:
    """Split ``a int, b map<text, int>`` at the commas outside angle brackets."""
    parts, depth, current = [], 0, ""
    for char in spec:
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _table(
    keyspace: str,
    name: str,
    columns: str,
    partition_key: tuple[str, ...],
    clustering: tuple[str, ...] = (),
    *,
    options: TableOptions,
    virtual: bool = False,
) -> TableMetadata:
    """A table from ``"name type, ..."`` and its key columns (clustering ascending)."""
    built: list[ColumnMetadata] = []
    for item in _split(columns):
        column_name, type_text = item.split(None, 1)
        dtype, frozen = parse_cql_type(type_text)
        if column_name in partition_key:
            built.append(
                ColumnMetadata.partition_key(
                    column_name, dtype, partition_key.index(column_name), frozen=frozen
                )
            )
        elif column_name in clustering:
            built.append(
                ColumnMetadata.clustering(
                    column_name,
                    dtype,
                    clustering.index(column_name),
                    ClusteringOrder.ASC,
                    frozen=frozen,
                )
            )
        else:
            built.append(ColumnMetadata.regular(column_name, dtype, frozen=frozen))
    return TableMetadata(
        keyspace=keyspace,
        name=name,
        columns=tuple(built),
        id=system_table_id(keyspace, name),
        options=options,
        virtual=virtual,
    )


_HOUR_MS = 3_600_000


def _system(
    name: str,
    comment: str,
    columns: str,
    pk: tuple[str, ...],
    ck: tuple[str, ...] = (),
    *,
    compaction: Mapping[str, str] | None = None,
) -> TableMetadata:
    options = TableOptions(
        comment=comment, gc_grace_seconds=0, memtable_flush_period_in_ms=_HOUR_MS
    )
    if compaction is not None:
        options = replace(options, compaction=dict(compaction))
    return _table("system", name, columns, pk, ck, options=options)


def _system_tables() -> list[TableMetadata]:
    available = "available keyspace/ranges during bootstrap/replace that are ready to be served"
    transferred = "record of transferred ranges for streaming operation"
    peers = "information about known peers in the cluster"
    activity = "historic sstable read rates"
    return [
        _system("IndexInfo", "built column indexes",
                "table_name text, index_name text, value blob", ("table_name",), ("index_name",)),
        _system("available_ranges", available,
                "keyspace_name text, ranges set<blob>", ("keyspace_name",)),
        _system("available_ranges_v2", available,
                "keyspace_name text, full_ranges set<blob>, transient_ranges set<blob>",
                ("keyspace_name",)),
        _system("batches", "batches awaiting replay",
                "id timeuuid, mutations list<blob>, version int", ("id",),
                compaction={"class": STCS, "max_threshold": "32", "min_threshold": "2"}),
        _system("built_views", "built views",
                "keyspace_name text, view_name text, status_replicated boolean",
                ("keyspace_name",), ("view_name",)),
        _system("local", "information about the local node",
                "key text, bootstrapped text, broadcast_address inet, broadcast_port int, "
                "cluster_name text, cql_version text, data_center text, gossip_generation int, "
                "host_id uuid, listen_address inet, listen_port int, "
                "native_protocol_version text, partitioner text, rack text, "
                "release_version text, rpc_address inet, rpc_port int, schema_version uuid, "
                "tokens set<varchar>, truncated_at map<uuid, blob>", ("key",)),
        _system("paxos", "in-progress paxos proposals",
                "row_key blob, cf_id uuid, in_progress_ballot timeuuid, "
                "in_progress_read_ballot timeuuid, most_recent_commit blob, "
                "most_recent_commit_at timeuuid, most_recent_commit_version int, proposal blob, "
                "proposal_ballot timeuuid, proposal_version int", ("row_key",), ("cf_id",),
                compaction={"class": LCS, "max_threshold": "32", "min_threshold": "4"}),
        _system("paxos_repair_history", "paxos repair history",
                "keyspace_name text, table_name text, points frozen<list<tuple<blob, timeuuid>>>",
                ("keyspace_name",), ("table_name",)),
        _system("peers", peers,
                "peer inet, data_center text, host_id uuid, preferred_ip inet, rack text, "
                "release_version text, rpc_address inet, schema_version uuid, "
                "tokens set<varchar>", ("peer",)),
        _system("peers_v2", peers,
                "peer inet, peer_port int, data_center text, host_id uuid, preferred_ip inet, "
                "preferred_port int, rack text, release_version text, native_address inet, "
                "native_port int, schema_version uuid, tokens set<varchar>",
                ("peer",), ("peer_port",)),
        _system("prepared_statements", "prepared statements",
                "prepared_id blob, logged_keyspace text, query_string text", ("prepared_id",)),
        _system("repairs", "repairs",
                "parent_id timeuuid, started_at timestamp, last_update timestamp, "
                "repaired_at timestamp, state int, coordinator inet, coordinator_port int, "
                "participants set<inet>, participants_wp set<text>, ranges set<blob>, "
                "cfids set<uuid>", ("parent_id",)),
        _system("size_estimates",
                "per-table primary range size estimates, table is deprecated in favor of "
                "table_estimates",
                "keyspace_name text, table_name text, range_start text, range_end text, "
                "mean_partition_size bigint, partitions_count bigint",
                ("keyspace_name",), ("table_name", "range_start", "range_end")),
        _system("sstable_activity", activity,
                "keyspace_name text, columnfamily_name text, generation int, rate_120m double, "
                "rate_15m double", ("keyspace_name", "columnfamily_name", "generation")),
        _system("sstable_activity_v2", activity,
                "keyspace_name text, table_name text, id text, rate_120m double, "
                "rate_15m double", ("keyspace_name", "table_name", "id")),
        _system("table_estimates", "per-table range size estimates",
                "keyspace_name text, table_name text, range_type text, range_start text, "
                "range_end text, mean_partition_size bigint, partitions_count bigint",
                ("keyspace_name",), ("table_name", "range_type", "range_start", "range_end")),
        _system("top_partitions", "Stores the top partitions",
                "keyspace_name text, table_name text, top_type text, "
                "top frozen<list<tuple<text, bigint>>>, last_update timestamp",
                ("keyspace_name",), ("table_name", "top_type")),
        _system("transferred_ranges", transferred,
                "operation text, peer inet, keyspace_name text, ranges set<blob>",
                ("operation", "keyspace_name"), ("peer",)),
        _system("transferred_ranges_v2", transferred,
                "operation text, peer inet, peer_port int, keyspace_name text, ranges set<blob>",
                ("operation", "keyspace_name"), ("peer", "peer_port")),
        _system("view_builds_in_progress", "views builds current progress",
                "keyspace_name text, view_name text, start_token varchar, end_token varchar, "
                "last_token varchar, keys_built bigint",
                ("keyspace_name",), ("view_name", "start_token", "end_token")),
    ]  # fmt: skip


_TABLE_PARAMS = (
    "bloom_filter_fp_chance double, caching frozen<map<text, text>>, comment text, "
    "compaction frozen<map<text, text>>, compression frozen<map<text, text>>, memtable text, "
    "crc_check_chance double, dclocal_read_repair_chance double, default_time_to_live int, "
    "extensions frozen<map<text, blob>>"
)
_TABLE_PARAMS_2 = (
    "max_index_interval int, memtable_flush_period_in_ms int, min_index_interval int, "
    "read_repair_chance double, speculative_retry text, additional_write_policy text, "
    "cdc boolean, read_repair text"
)


def _schema_tables() -> list[TableMetadata]:
    def table(name: str, comment: str, columns: str, ck: tuple[str, ...] = ()) -> TableMetadata:
        options = TableOptions(
            comment=comment, gc_grace_seconds=604800, memtable_flush_period_in_ms=_HOUR_MS
        )
        return _table("system_schema", name, columns, ("keyspace_name",), ck, options=options)

    return [
        table("keyspaces", "keyspace definitions",
              "keyspace_name text, durable_writes boolean, replication frozen<map<text, text>>"),
        table("tables", "table definitions",
              f"keyspace_name text, table_name text, {_TABLE_PARAMS}, flags frozen<set<text>>, "
              f"gc_grace_seconds int, id uuid, {_TABLE_PARAMS_2}", ("table_name",)),
        table("columns", "column definitions",
              "keyspace_name text, table_name text, column_name text, clustering_order text, "
              "column_name_bytes blob, kind text, position int, type text",
              ("table_name", "column_name")),
        table("dropped_columns", "dropped column registry",
              "keyspace_name text, table_name text, column_name text, dropped_time timestamp, "
              "kind text, type text", ("table_name", "column_name")),
        table("triggers", "trigger definitions",
              "keyspace_name text, table_name text, trigger_name text, "
              "options frozen<map<text, text>>", ("table_name", "trigger_name")),
        table("views", "view definitions",
              "keyspace_name text, view_name text, base_table_id uuid, base_table_name text, "
              f"where_clause text, {_TABLE_PARAMS}, gc_grace_seconds int, id uuid, "
              f"include_all_columns boolean, {_TABLE_PARAMS_2}", ("view_name",)),
        table("types", "user defined type definitions",
              "keyspace_name text, type_name text, field_names frozen<list<text>>, "
              "field_types frozen<list<text>>", ("type_name",)),
        table("functions", "user defined function definitions",
              "keyspace_name text, function_name text, argument_types frozen<list<text>>, "
              "argument_names frozen<list<text>>, body text, language text, return_type text, "
              "called_on_null_input boolean", ("function_name", "argument_types")),
        table("aggregates", "user defined aggregate definitions",
              "keyspace_name text, aggregate_name text, argument_types frozen<list<text>>, "
              "final_func text, initcond text, return_type text, state_func text, "
              "state_type text", ("aggregate_name", "argument_types")),
        table("indexes", "secondary index definitions",
              "keyspace_name text, table_name text, index_name text, kind text, "
              "options frozen<map<text, text>>", ("table_name", "index_name")),
    ]  # fmt: skip


def _auth_tables() -> list[TableMetadata]:
    def table(
        name: str, comment: str, columns: str, pk: str, ck: tuple[str, ...] = ()
    ) -> TableMetadata:
        options = TableOptions(comment=comment, gc_grace_seconds=7776000)
        return _table("system_auth", name, columns, (pk,), ck, options=options)

    return [
        table("roles", "role definitions",
              "role text, is_superuser boolean, can_login boolean, salted_hash text, "
              "member_of set<text>", "role"),
        table("role_members", "role memberships lookup table",
              "role text, member text", "role", ("member",)),
        table("role_permissions", "permissions granted to db roles",
              "role text, resource text, permissions set<text>", "role", ("resource",)),
        table("resource_role_permissons_index",
              "index of db roles with permissions granted on a resource",
              "resource text, role text", "resource", ("role",)),
        table("network_permissions", "user network permissions",
              "role text, dcs frozen<set<text>>", "role"),
    ]  # fmt: skip


def _distributed_tables() -> list[TableMetadata]:
    def table(
        name: str,
        comment: str,
        columns: str,
        pk: tuple[str, ...],
        ck: tuple[str, ...] = (),
        *,
        repair: bool = False,
    ) -> TableMetadata:
        options = TableOptions(comment=comment)
        if repair:  # 30 days of history, in daily windows
            options = replace(
                options,
                default_time_to_live=2592000,
                compaction={
                    "class": TWCS,
                    "compaction_window_size": "1",
                    "compaction_window_unit": "DAYS",
                    "max_threshold": "32",
                    "min_threshold": "4",
                },
            )
        return _table("system_distributed", name, columns, pk, ck, options=options)

    return [
        table("repair_history", "Repair history",
              "keyspace_name text, columnfamily_name text, id timeuuid, parent_id timeuuid, "
              "range_begin text, range_end text, coordinator inet, coordinator_port int, "
              "participants set<inet>, participants_v2 set<text>, exception_message text, "
              "exception_stacktrace text, status text, started_at timestamp, "
              "finished_at timestamp", ("keyspace_name", "columnfamily_name"), ("id",),
              repair=True),
        table("parent_repair_history", "Repair history",
              "parent_id timeuuid, keyspace_name text, columnfamily_names set<text>, "
              "started_at timestamp, finished_at timestamp, exception_message text, "
              "exception_stacktrace text, requested_ranges set<text>, "
              "successful_ranges set<text>, options map<text, text>", ("parent_id",),
              repair=True),
        table("view_build_status", "Materialized View build status",
              "keyspace_name text, view_name text, host_id uuid, status text",
              ("keyspace_name", "view_name"), ("host_id",)),
        table("partition_denylist", "Partition keys which have been denied access",
              "ks_name text, table_name text, key blob", ("ks_name", "table_name"), ("key",)),
    ]  # fmt: skip


def _traces_tables() -> list[TableMetadata]:
    def table(name: str, comment: str, columns: str, ck: tuple[str, ...] = ()) -> TableMetadata:
        options = TableOptions(comment=comment, gc_grace_seconds=0)
        return _table("system_traces", name, columns, ("session_id",), ck, options=options)

    return [
        table("sessions", "tracing sessions",
              "session_id uuid, command text, client inet, coordinator inet, "
              "coordinator_port int, duration int, parameters map<text, text>, request text, "
              "started_at timestamp"),
        table("events", "tracing events",
              "session_id uuid, event_id timeuuid, activity text, source inet, source_port int, "
              "source_elapsed int, thread text", ("event_id",)),
    ]  # fmt: skip


def _virtual(
    name: str,
    comment: str,
    columns: str,
    pk: tuple[str, ...],
    ck: tuple[str, ...] = (),
    *,
    keyspace: str,
) -> TableMetadata:
    return _table(
        keyspace, name, columns, pk, ck, options=TableOptions(comment=comment), virtual=True
    )


def _views_tables() -> list[TableMetadata]:
    ks = "system_views"
    return [
        _virtual("clients", "currently connected clients",
                 "address inet, port int, hostname text, username text, connection_stage text, "
                 "protocol_version int, client_options frozen<map<text, text>>, "
                 "driver_name text, driver_version text, request_count bigint, "
                 "ssl_enabled boolean, ssl_protocol text, ssl_cipher_suite text",
                 ("address",), ("port",), keyspace=ks),
        _virtual("settings", "current settings",
                 "name text, value text", ("name",), keyspace=ks),
        _virtual("sstable_tasks", "current sstable tasks",
                 "keyspace_name text, table_name text, task_id uuid, completion_ratio double, "
                 "kind text, progress bigint, total bigint, unit text",
                 ("keyspace_name",), ("table_name", "task_id"), keyspace=ks),
        _virtual("thread_pools", "",
                 "name text, active_tasks int, active_tasks_limit int, pending_tasks int, "
                 "completed_tasks bigint, blocked_tasks bigint, blocked_tasks_all_time bigint",
                 ("name",), keyspace=ks),
    ]  # fmt: skip


def _virtual_schema_tables() -> list[TableMetadata]:
    ks = "system_virtual_schema"
    return [
        _virtual("keyspaces", "virtual keyspace definitions",
                 "keyspace_name text", ("keyspace_name",), keyspace=ks),
        _virtual("tables", "virtual table definitions",
                 "keyspace_name text, table_name text, comment text",
                 ("keyspace_name",), ("table_name",), keyspace=ks),
        _virtual("columns", "virtual column definitions",
                 "keyspace_name text, table_name text, column_name text, clustering_order text, "
                 "column_name_bytes blob, kind text, position int, type text",
                 ("keyspace_name",), ("table_name", "column_name"), keyspace=ks),
    ]  # fmt: skip


def _keyspace(
    name: str, replication: Mapping[str, str], tables: list[TableMetadata], *, virtual: bool = False
) -> KeyspaceMetadata:
    return KeyspaceMetadata(
        name=name,
        replication=dict(replication),
        durable_writes=True,
        tables={t.name: t for t in tables},
        virtual=virtual,
    )


def _simple(rf: int) -> dict[str, str]:
    return {"class": SIMPLE_STRATEGY, "replication_factor": str(rf)}


@functools.cache
def system_keyspaces() -> tuple[KeyspaceMetadata, ...]:
    """Every system keyspace of a fresh Cassandra 4.1 node (built once)."""
    local = {"class": LOCAL_STRATEGY}
    return (
        _keyspace("system", local, _system_tables()),
        _keyspace("system_schema", local, _schema_tables()),
        _keyspace("system_auth", _simple(1), _auth_tables()),
        _keyspace("system_distributed", _simple(3), _distributed_tables()),
        _keyspace("system_traces", _simple(2), _traces_tables()),
        _keyspace("system_views", {}, _views_tables(), virtual=True),
        _keyspace("system_virtual_schema", {}, _virtual_schema_tables(), virtual=True),
    )
