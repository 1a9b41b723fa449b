"""System tables: Cassandra 4.1's definitions, their rows, and the driver reading them.

The expected column sets below are written out from Cassandra 4.1's sources
(``SystemKeyspace``, ``SchemaKeyspace``, ``AuthKeyspace``, ``SystemDistributedKeyspace``,
``TraceKeyspace``, ``ClientsTable``, ``SettingsTable``, ``SSTableTasksTable``,
``ThreadPoolsTable``, ``VirtualSchemaKeyspace``): (partition key, clustering columns,
{column: CQL type}). Types are spelled as ``system_schema.columns.type`` shows them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from cassandra.connection import DefaultEndPoint
from cassandra.metadata import Metadata, Murmur3Token, SchemaParserV4, get_schema_parser
from cassandra.policies import SimpleConvictionPolicy
from cassandra.pool import Host

from cassflow.devserver._schema import (
    ClusteringOrder,
    ColumnMetadata,
    Schema,
    TableMetadata,
    UserType,
)
from cassflow.devserver._schema_changes import (
    alter_table_drop,
    create_keyspace,
    create_table,
    create_type,
)
from cassflow.devserver._schema_options import TableOptions
from cassflow.devserver._system_tables import (
    GENERATED_TABLES,
    ClientInfo,
    CompactionState,
    CompactionTask,
    NodeInfo,
    default_settings,
    system_keyspaces,
    system_rows,
    system_table_id,
)
from cassflow.protocol import DataType
from cassflow.protocol import TypeCode as C

TABLE_PARAMS = {
    "additional_write_policy": "text",
    "bloom_filter_fp_chance": "double",
    "caching": "frozen<map<text, text>>",
    "cdc": "boolean",
    "comment": "text",
    "compaction": "frozen<map<text, text>>",
    "compression": "frozen<map<text, text>>",
    "crc_check_chance": "double",
    "dclocal_read_repair_chance": "double",
    "default_time_to_live": "int",
    "extensions": "frozen<map<text, blob>>",
    "gc_grace_seconds": "int",
    "id": "uuid",
    "max_index_interval": "int",
    "memtable": "text",
    "memtable_flush_period_in_ms": "int",
    "min_index_interval": "int",
    "read_repair": "text",
    "read_repair_chance": "double",
    "speculative_retry": "text",
}

Spec = tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]

CASSANDRA_41: dict[tuple[str, str], Spec] = {
    # --- system (SystemKeyspace) -----------------------------------------------------------
    ("system", "IndexInfo"): (("table_name",), ("index_name",), {
        "table_name": "text", "index_name": "text", "value": "blob"}),
    ("system", "available_ranges"): (("keyspace_name",), (), {
        "keyspace_name": "text", "ranges": "set<blob>"}),
    ("system", "available_ranges_v2"): (("keyspace_name",), (), {
        "keyspace_name": "text", "full_ranges": "set<blob>", "transient_ranges": "set<blob>"}),
    ("system", "batches"): (("id",), (), {
        "id": "timeuuid", "mutations": "list<blob>", "version": "int"}),
    ("system", "built_views"): (("keyspace_name",), ("view_name",), {
        "keyspace_name": "text", "view_name": "text", "status_replicated": "boolean"}),
    ("system", "local"): (("key",), (), {
        "key": "text", "bootstrapped": "text", "broadcast_address": "inet",
        "broadcast_port": "int", "cluster_name": "text", "cql_version": "text",
        "data_center": "text", "gossip_generation": "int", "host_id": "uuid",
        "listen_address": "inet", "listen_port": "int", "native_protocol_version": "text",
        "partitioner": "text", "rack": "text", "release_version": "text",
        "rpc_address": "inet", "rpc_port": "int", "schema_version": "uuid",
        "tokens": "set<text>", "truncated_at": "map<uuid, blob>"}),
    ("system", "paxos"): (("row_key",), ("cf_id",), {
        "row_key": "blob", "cf_id": "uuid", "in_progress_ballot": "timeuuid",
        "in_progress_read_ballot": "timeuuid", "most_recent_commit": "blob",
        "most_recent_commit_at": "timeuuid", "most_recent_commit_version": "int",
        "proposal": "blob", "proposal_ballot": "timeuuid", "proposal_version": "int"}),
    ("system", "paxos_repair_history"): (("keyspace_name",), ("table_name",), {
        "keyspace_name": "text", "table_name": "text",
        "points": "frozen<list<frozen<tuple<blob, timeuuid>>>>"}),
    ("system", "peers"): (("peer",), (), {
        "peer": "inet", "data_center": "text", "host_id": "uuid", "preferred_ip": "inet",
        "rack": "text", "release_version": "text", "rpc_address": "inet",
        "schema_version": "uuid", "tokens": "set<text>"}),
    ("system", "peers_v2"): (("peer",), ("peer_port",), {
        "peer": "inet", "peer_port": "int", "data_center": "text", "host_id": "uuid",
        "preferred_ip": "inet", "preferred_port": "int", "rack": "text",
        "release_version": "text", "native_address": "inet", "native_port": "int",
        "schema_version": "uuid", "tokens": "set<text>"}),
    ("system", "prepared_statements"): (("prepared_id",), (), {
        "prepared_id": "blob", "logged_keyspace": "text", "query_string": "text"}),
    ("system", "repairs"): (("parent_id",), (), {
        "parent_id": "timeuuid", "started_at": "timestamp", "last_update": "timestamp",
        "repaired_at": "timestamp", "state": "int", "coordinator": "inet",
        "coordinator_port": "int", "participants": "set<inet>", "participants_wp": "set<text>",
        "ranges": "set<blob>", "cfids": "set<uuid>"}),
    ("system", "size_estimates"): (("keyspace_name",), ("table_name", "range_start", "range_end"), {
        "keyspace_name": "text", "table_name": "text", "range_start": "text",
        "range_end": "text", "mean_partition_size": "bigint", "partitions_count": "bigint"}),
    ("system", "sstable_activity"): (("keyspace_name", "columnfamily_name", "generation"), (), {
        "keyspace_name": "text", "columnfamily_name": "text", "generation": "int",
        "rate_120m": "double", "rate_15m": "double"}),
    ("system", "sstable_activity_v2"): (("keyspace_name", "table_name", "id"), (), {
        "keyspace_name": "text", "table_name": "text", "id": "text", "rate_120m": "double",
        "rate_15m": "double"}),
    ("system", "table_estimates"): (
        ("keyspace_name",), ("table_name", "range_type", "range_start", "range_end"), {
            "keyspace_name": "text", "table_name": "text", "range_type": "text",
            "range_start": "text", "range_end": "text", "mean_partition_size": "bigint",
            "partitions_count": "bigint"}),
    ("system", "top_partitions"): (("keyspace_name",), ("table_name", "top_type"), {
        "keyspace_name": "text", "table_name": "text", "top_type": "text",
        "top": "frozen<list<frozen<tuple<text, bigint>>>>", "last_update": "timestamp"}),
    ("system", "transferred_ranges"): (("operation", "keyspace_name"), ("peer",), {
        "operation": "text", "peer": "inet", "keyspace_name": "text", "ranges": "set<blob>"}),
    ("system", "transferred_ranges_v2"): (("operation", "keyspace_name"), ("peer", "peer_port"), {
        "operation": "text", "peer": "inet", "peer_port": "int", "keyspace_name": "text",
        "ranges": "set<blob>"}),
    ("system", "view_builds_in_progress"): (
        ("keyspace_name",), ("view_name", "start_token", "end_token"), {
            "keyspace_name": "text", "view_name": "text", "start_token": "text",
            "end_token": "text", "last_token": "text", "keys_built": "bigint"}),
    # --- system_schema (SchemaKeyspace) ----------------------------------------------------
    ("system_schema", "keyspaces"): (("keyspace_name",), (), {
        "keyspace_name": "text", "durable_writes": "boolean",
        "replication": "frozen<map<text, text>>"}),
    ("system_schema", "tables"): (("keyspace_name",), ("table_name",), {
        "keyspace_name": "text", "table_name": "text", "flags": "frozen<set<text>>",
        **TABLE_PARAMS}),
    ("system_schema", "columns"): (("keyspace_name",), ("table_name", "column_name"), {
        "keyspace_name": "text", "table_name": "text", "column_name": "text",
        "clustering_order": "text", "column_name_bytes": "blob", "kind": "text",
        "position": "int", "type": "text"}),
    ("system_schema", "dropped_columns"): (("keyspace_name",), ("table_name", "column_name"), {
        "keyspace_name": "text", "table_name": "text", "column_name": "text",
        "dropped_time": "timestamp", "kind": "text", "type": "text"}),
    ("system_schema", "triggers"): (("keyspace_name",), ("table_name", "trigger_name"), {
        "keyspace_name": "text", "table_name": "text", "trigger_name": "text",
        "options": "frozen<map<text, text>>"}),
    ("system_schema", "views"): (("keyspace_name",), ("view_name",), {
        "keyspace_name": "text", "view_name": "text", "base_table_id": "uuid",
        "base_table_name": "text", "where_clause": "text", "include_all_columns": "boolean",
        **TABLE_PARAMS}),
    ("system_schema", "types"): (("keyspace_name",), ("type_name",), {
        "keyspace_name": "text", "type_name": "text", "field_names": "frozen<list<text>>",
        "field_types": "frozen<list<text>>"}),
    ("system_schema", "functions"): (("keyspace_name",), ("function_name", "argument_types"), {
        "keyspace_name": "text", "function_name": "text",
        "argument_types": "frozen<list<text>>", "argument_names": "frozen<list<text>>",
        "body": "text", "language": "text", "return_type": "text",
        "called_on_null_input": "boolean"}),
    ("system_schema", "aggregates"): (("keyspace_name",), ("aggregate_name", "argument_types"), {
        "keyspace_name": "text", "aggregate_name": "text",
        "argument_types": "frozen<list<text>>", "final_func": "text", "initcond": "text",
        "return_type": "text", "state_func": "text", "state_type": "text"}),
    ("system_schema", "indexes"): (("keyspace_name",), ("table_name", "index_name"), {
        "keyspace_name": "text", "table_name": "text", "index_name": "text", "kind": "text",
        "options": "frozen<map<text, text>>"}),
    # --- system_auth (AuthKeyspace) --------------------------------------------------------
    ("system_auth", "roles"): (("role",), (), {
        "role": "text", "is_superuser": "boolean", "can_login": "boolean",
        "salted_hash": "text", "member_of": "set<text>"}),
    ("system_auth", "role_members"): (("role",), ("member",), {
        "role": "text", "member": "text"}),
    ("system_auth", "role_permissions"): (("role",), ("resource",), {
        "role": "text", "resource": "text", "permissions": "set<text>"}),
    ("system_auth", "resource_role_permissons_index"): (("resource",), ("role",), {
        "resource": "text", "role": "text"}),
    ("system_auth", "network_permissions"): (("role",), (), {
        "role": "text", "dcs": "frozen<set<text>>"}),
    # --- system_distributed (SystemDistributedKeyspace) ------------------------------------
    ("system_distributed", "repair_history"): (("keyspace_name", "columnfamily_name"), ("id",), {
        "keyspace_name": "text", "columnfamily_name": "text", "id": "timeuuid",
        "parent_id": "timeuuid", "range_begin": "text", "range_end": "text",
        "coordinator": "inet", "coordinator_port": "int", "participants": "set<inet>",
        "participants_v2": "set<text>", "exception_message": "text",
        "exception_stacktrace": "text", "status": "text", "started_at": "timestamp",
        "finished_at": "timestamp"}),
    ("system_distributed", "parent_repair_history"): (("parent_id",), (), {
        "parent_id": "timeuuid", "keyspace_name": "text", "columnfamily_names": "set<text>",
        "started_at": "timestamp", "finished_at": "timestamp", "exception_message": "text",
        "exception_stacktrace": "text", "requested_ranges": "set<text>",
        "successful_ranges": "set<text>", "options": "map<text, text>"}),
    ("system_distributed", "view_build_status"): (("keyspace_name", "view_name"), ("host_id",), {
        "keyspace_name": "text", "view_name": "text", "host_id": "uuid", "status": "text"}),
    ("system_distributed", "partition_denylist"): (("ks_name", "table_name"), ("key",), {
        "ks_name": "text", "table_name": "text", "key": "blob"}),
    # --- system_traces (TraceKeyspace) -----------------------------------------------------
    ("system_traces", "sessions"): (("session_id",), (), {
        "session_id": "uuid", "command": "text", "client": "inet", "coordinator": "inet",
        "coordinator_port": "int", "duration": "int", "parameters": "map<text, text>",
        "request": "text", "started_at": "timestamp"}),
    ("system_traces", "events"): (("session_id",), ("event_id",), {
        "session_id": "uuid", "event_id": "timeuuid", "activity": "text", "source": "inet",
        "source_port": "int", "source_elapsed": "int", "thread": "text"}),
    # --- system_views (ClientsTable, SettingsTable, SSTableTasksTable, ThreadPoolsTable) ----
    ("system_views", "clients"): (("address",), ("port",), {
        "address": "inet", "port": "int", "hostname": "text", "username": "text",
        "connection_stage": "text", "protocol_version": "int",
        "client_options": "frozen<map<text, text>>", "driver_name": "text",
        "driver_version": "text", "request_count": "bigint", "ssl_enabled": "boolean",
        "ssl_protocol": "text", "ssl_cipher_suite": "text"}),
    ("system_views", "settings"): (("name",), (), {"name": "text", "value": "text"}),
    ("system_views", "sstable_tasks"): (("keyspace_name",), ("table_name", "task_id"), {
        "keyspace_name": "text", "table_name": "text", "task_id": "uuid",
        "completion_ratio": "double", "kind": "text", "progress": "bigint", "total": "bigint",
        "unit": "text"}),
    ("system_views", "thread_pools"): (("name",), (), {
        "name": "text", "active_tasks": "int", "active_tasks_limit": "int",
        "pending_tasks": "int", "completed_tasks": "bigint", "blocked_tasks": "bigint",
        "blocked_tasks_all_time": "bigint"}),
    # --- system_virtual_schema (VirtualSchemaKeyspace) -------------------------------------
    ("system_virtual_schema", "keyspaces"): (("keyspace_name",), (), {"keyspace_name": "text"}),
    ("system_virtual_schema", "tables"): (("keyspace_name",), ("table_name",), {
        "keyspace_name": "text", "table_name": "text", "comment": "text"}),
    ("system_virtual_schema", "columns"): (("keyspace_name",), ("table_name", "column_name"), {
        "keyspace_name": "text", "table_name": "text", "column_name": "text",
        "clustering_order": "text", "column_name_bytes": "blob", "kind": "text",
        "position": "int", "type": "text"}),
}  # fmt: skip

INT, TEXT = DataType(C.INT), DataType(C.VARCHAR)
NODE = NodeInfo(
    host_id=uuid.UUID("2f1a3f4e-0c8b-4b7e-9b55-6a1d2b3c4d5e"), gossip_generation=1_700_000_000
)


def all_tables() -> dict[tuple[str, str], TableMetadata]:
    return {(ks.name, name): t for ks in system_keyspaces() for name, t in ks.tables.items()}


# --- definitions ------------------------------------------------------------------------------


def test_every_modelled_system_table_is_in_the_spec() -> None:
    assert set(all_tables()) == set(CASSANDRA_41)


@pytest.mark.parametrize("key", sorted(CASSANDRA_41), ids=".".join)
def test_system_table_matches_cassandra_41(key: tuple[str, str]) -> None:
    partition_key, clustering, columns = CASSANDRA_41[key]
    table = all_tables()[key]
    assert tuple(c.name for c in table.partition_key) == partition_key
    assert tuple(c.name for c in table.clustering_columns) == clustering
    assert all(c.clustering_order is ClusteringOrder.ASC for c in table.clustering_columns)
    assert {c.name: c.cql_type for c in table.columns} == columns
    assert not table.static_columns
    assert table.id == system_table_id(*key)


def test_system_table_ids_are_cassandras() -> None:
    # TableId.forSystemTable, as seen in the data directory names of any Cassandra node.
    assert system_table_id("system", "local") == uuid.UUID("7ad54392-bcdd-35a6-8417-4e047860b377")
    assert system_table_id("system", "peers") == uuid.UUID("37f71aca-7dc2-383b-a706-72528af04d4f")
    assert system_table_id("system_auth", "roles") == uuid.UUID(
        "5bc52802-de25-35ed-aeab-188eecebb090"
    )
    assert system_table_id("system_traces", "sessions") == uuid.UUID(
        "c5e99f16-8677-3914-b17e-960613512345"
    )


def test_system_keyspace_params_and_table_options() -> None:
    schema = Schema.initial()
    replication = {name: dict(ks.replication) for name, ks in schema.keyspaces.items()}
    locator = "org.apache.cassandra.locator."
    assert replication["system"] == {"class": locator + "LocalStrategy"}
    assert replication["system_schema"] == {"class": locator + "LocalStrategy"}
    assert replication["system_auth"]["replication_factor"] == "1"
    assert replication["system_distributed"]["replication_factor"] == "3"
    assert replication["system_traces"]["replication_factor"] == "2"
    assert replication["system_views"] == replication["system_virtual_schema"] == {}

    def options(ks: str, table: str) -> TableOptions:
        found = schema.table(ks, table)
        assert found is not None
        return found.options

    local = options("system", "local")
    assert (local.gc_grace_seconds, local.memtable_flush_period_in_ms) == (0, 3600000)
    assert local.comment == "information about the local node"
    assert options("system", "batches").compaction["min_threshold"] == "2"
    assert options("system", "paxos").compaction["class"].endswith("LeveledCompactionStrategy")
    assert options("system_schema", "tables").gc_grace_seconds == 604800
    assert options("system_auth", "roles").gc_grace_seconds == 7776000
    assert options("system_traces", "events").gc_grace_seconds == 0
    repairs = options("system_distributed", "repair_history")
    assert repairs.default_time_to_live == 2592000
    assert repairs.compaction["class"].endswith("TimeWindowCompactionStrategy")
    assert options("system_distributed", "view_build_status").gc_grace_seconds == 864000


# --- rows -------------------------------------------------------------------------------------


def user_schema() -> Schema:
    """A schema with tables of every kind: composite keys, DESC order, statics, collections,
    tuples, frozen and non-frozen UDTs, a counter table, a dropped column, custom options."""
    schema = create_keyspace(
        Schema.initial(), "app", {"class": "SimpleStrategy", "replication_factor": 1}
    ).schema
    schema = create_keyspace(
        schema,
        "multi",
        {"class": "NetworkTopologyStrategy", "datacenter1": 1},
        durable_writes=False,
    ).schema
    address = UserType(
        keyspace="app",
        name="address",
        field_names=("street", "zip", "tags"),
        field_types=(TEXT, INT, DataType.list_of(TEXT)),
        field_frozen=(False, False, True),
    )
    schema = create_type(schema, address).schema
    udt = address.data_type
    events = TableMetadata(
        keyspace="app",
        name="events",
        columns=(
            ColumnMetadata.partition_key("tenant", TEXT, 0),
            ColumnMetadata.partition_key("day", DataType(C.DATE), 1),
            ColumnMetadata.clustering("at", DataType(C.TIMESTAMP), 0, ClusteringOrder.DESC),
            ColumnMetadata.clustering("id", DataType(C.TIMEUUID), 1),
            ColumnMetadata.static("owner", TEXT),
            ColumnMetadata.regular("payload", DataType(C.BLOB)),
            ColumnMetadata.regular("tags", DataType.set_of(TEXT)),
            ColumnMetadata.regular("attrs", DataType.map_of(TEXT, DataType.list_of(INT))),
            ColumnMetadata.regular("frozen_list", DataType.list_of(INT), frozen=True),
            ColumnMetadata.regular("pair", DataType.tuple_of(INT, DataType.set_of(TEXT))),
            ColumnMetadata.regular("home", udt, frozen=True),
            ColumnMetadata.regular("work", udt),
            ColumnMetadata.regular("took", DataType(C.DURATION)),
            ColumnMetadata.regular("gone", DataType(C.BIGINT)),
        ),
        options=TableOptions().with_changes(
            {
                "comment": "event log",
                "compaction": {"class": "LeveledCompactionStrategy"},
                "default_time_to_live": 86400,
                "gc_grace_seconds": 3600,
                "speculative_retry": "ALWAYS",
            }
        ),
    )
    schema = create_table(schema, events).schema
    schema = alter_table_drop(
        schema, "app", "events", ["gone"], timestamp=1_700_000_000_123_456
    ).schema
    counts = TableMetadata(
        keyspace="multi",
        name="counts",
        columns=(
            ColumnMetadata.partition_key("k", INT),
            ColumnMetadata.regular("hits", DataType(C.COUNTER)),
        ),
    )
    schema = create_table(schema, counts).schema
    simple = TableMetadata(
        keyspace="app",
        name="kv",
        columns=(ColumnMetadata.partition_key("k", TEXT), ColumnMetadata.regular("v", TEXT)),
    )
    return create_table(schema, simple).schema


def test_system_local_row() -> None:
    schema = Schema.initial()
    (row,) = system_rows("system", "local", schema=schema, node=NODE)  # type: ignore[misc]
    assert list(row) == list(CASSANDRA_41["system", "local"][2])
    assert row["key"] == "local"
    assert row["cluster_name"] == "Test Cluster"
    assert (row["data_center"], row["rack"]) == ("datacenter1", "rack1")
    assert row["release_version"].startswith("4.1.")
    assert (row["cql_version"], row["native_protocol_version"]) == ("3.4.6", "5")
    assert row["partitioner"] == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert row["bootstrapped"] == "COMPLETED"
    assert row["host_id"] == NODE.host_id
    assert row["schema_version"] == schema.version
    assert (row["rpc_address"], row["rpc_port"]) == ("127.0.0.1", 9042)
    assert (row["listen_address"], row["broadcast_address"]) == ("127.0.0.1", "127.0.0.1")
    assert len(row["tokens"]) == 16
    assert list(row["tokens"]) == sorted(row["tokens"])  # set<text>: sorted as text
    assert row["gossip_generation"] == 1_700_000_000
    assert row["truncated_at"] is None
    assert system_rows("system", "peers", schema=schema, node=NODE) == ()
    assert system_rows("system", "peers_v2", schema=schema, node=NODE) == ()


def test_tokens_build_the_drivers_token_map() -> None:
    schema = user_schema()
    metadata = Metadata()
    metadata._rebuild_all(get_schema_parser(FakeConnection(schema), NODE.release_version, None, 5))
    host = Host(DefaultEndPoint("127.0.0.1"), SimpleConvictionPolicy, "datacenter1", "rack1")
    (row,) = system_rows("system", "local", schema=schema, node=NODE)  # type: ignore[misc]
    metadata.rebuild_token_map(row["partitioner"], {host: row["tokens"]})
    tokens = sorted(Murmur3Token.from_string(t).value for t in row["tokens"])
    assert tokens == sorted(int(t) for t in NODE.tokens)
    assert metadata.get_replicas("app", b"some key") == [host]
    assert metadata.get_replicas("multi", b"some key") == [host]


def test_schema_version_moves_with_the_schema() -> None:
    initial = Schema.initial()
    changed = user_schema()
    (before,) = system_rows("system", "local", schema=initial, node=NODE)  # type: ignore[misc]
    (after,) = system_rows("system", "local", schema=changed, node=NODE)  # type: ignore[misc]
    assert before["schema_version"] == initial.version
    assert after["schema_version"] == changed.version != initial.version


def test_system_schema_rows_describe_user_and_system_tables() -> None:
    schema = user_schema()

    def rows(table: str) -> Sequence[Mapping[str, Any]]:
        found = system_rows("system_schema", table, schema=schema, node=NODE)
        assert found is not None
        return found

    keyspaces = [r["keyspace_name"] for r in rows("keyspaces")]
    # Partitions come in token order, as from Cassandra.
    assert keyspaces == sorted(keyspaces, key=lambda k: Murmur3Token.hash_fn(k.encode()))
    assert set(keyspaces) == {
        "system",
        "system_schema",
        "system_auth",
        "system_distributed",
        "system_traces",
        "app",
        "multi",
    }
    tables = {(r["keyspace_name"], r["table_name"]): r for r in rows("tables")}
    assert ("system", "local") in tables
    assert ("system_views", "clients") not in tables  # virtual: in system_virtual_schema
    events = tables["app", "events"]
    assert events["flags"] == ("compound",)
    assert tables["multi", "counts"]["flags"] == ("compound", "counter")
    assert events["comment"] == "event log"
    assert events["speculative_retry"] == "ALWAYS"
    assert (events["cdc"], events["memtable"]) == (None, None)
    assert (events["read_repair_chance"], events["dclocal_read_repair_chance"]) == (0.0, 0.0)
    columns = {
        (r["table_name"], r["column_name"]): r
        for r in rows("columns")
        if r["keyspace_name"] == "app"
    }
    assert columns["events", "tenant"]["kind"] == "partition_key"
    assert columns["events", "day"]["position"] == 1
    assert columns["events", "at"]["clustering_order"] == "desc"
    assert columns["events", "id"]["clustering_order"] == "asc"
    assert columns["events", "owner"]["kind"] == "static"
    assert columns["events", "owner"]["position"] == -1
    assert columns["events", "payload"]["clustering_order"] == "none"
    assert columns["events", "home"]["type"] == "frozen<address>"
    assert columns["events", "work"]["type"] == "address"
    assert columns["events", "pair"]["type"] == "frozen<tuple<int, frozen<set<text>>>>"
    assert columns["events", "attrs"]["type"] == "map<text, frozen<list<int>>>"
    assert columns["events", "home"]["column_name_bytes"] == b"home"
    (dropped,) = rows("dropped_columns")
    assert (dropped["column_name"], dropped["type"], dropped["kind"]) == (
        "gone",
        "bigint",
        "regular",
    )
    assert dropped["dropped_time"] == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)
    (udt,) = rows("types")
    assert udt["field_names"] == ("street", "zip", "tags")
    assert udt["field_types"] == ("text", "int", "frozen<list<text>>")
    for empty in ("triggers", "views", "functions", "aggregates", "indexes"):
        assert rows(empty) == ()


def test_virtual_schema_rows() -> None:
    schema = Schema.initial()
    keyspaces = system_rows("system_virtual_schema", "keyspaces", schema=schema, node=NODE)
    assert keyspaces == (
        {"keyspace_name": "system_views"},
        {"keyspace_name": "system_virtual_schema"},
    )
    tables = system_rows("system_virtual_schema", "tables", schema=schema, node=NODE)
    assert tables is not None
    assert {
        "keyspace_name": "system_views",
        "table_name": "clients",
        "comment": "currently connected clients",
    } in tables
    columns = system_rows("system_virtual_schema", "columns", schema=schema, node=NODE)
    assert columns is not None
    port = next(c for c in columns if (c["table_name"], c["column_name"]) == ("clients", "port"))
    assert (port["kind"], port["position"], port["clustering_order"]) == ("clustering", 0, "asc")


def test_clients_rows() -> None:
    clients = [
        ClientInfo(address="127.0.0.1", port=50002, username="anonymous", protocol_version=5,
                   driver_name="DataStax Python Driver", driver_version="3.30.1", request_count=7,
                   client_options={"DRIVER_VERSION": "3.30.1", "CQL_VERSION": "3.0.0"}),
        ClientInfo(address="10.0.0.2", port=40000, connection_stage="authenticating",
                   keyspace="app"),
        ClientInfo(address="127.0.0.1", port=50001, hostname="localhost"),
    ]  # fmt: skip
    rows = system_rows(
        "system_views", "clients", schema=Schema.initial(), node=NODE, clients=clients
    )
    assert rows is not None
    assert [(r["address"], r["port"]) for r in rows] == [
        ("10.0.0.2", 40000),
        ("127.0.0.1", 50001),
        ("127.0.0.1", 50002),
    ]
    first, second, third = rows
    # SELECT * order: key columns, then the others alphabetically (as cqlsh shows them).
    assert list(third) == [
        "address", "port", "client_options", "connection_stage", "driver_name",
        "driver_version", "hostname", "protocol_version", "request_count", "ssl_cipher_suite",
        "ssl_enabled", "ssl_protocol", "username",
    ]  # fmt: skip
    assert first["hostname"] == "10.0.0.2"
    assert first["connection_stage"] == "authenticating"
    assert second["hostname"] == "localhost"
    assert third["client_options"] == {"CQL_VERSION": "3.0.0", "DRIVER_VERSION": "3.30.1"}
    assert (third["username"], third["request_count"], third["ssl_enabled"]) == (
        "anonymous",
        7,
        False,
    )


def test_settings_rows() -> None:
    rows = system_rows("system_views", "settings", schema=Schema.initial(), node=NODE)
    assert rows is not None
    settings = {r["name"]: r["value"] for r in rows}
    assert [r["name"] for r in rows] == sorted(settings)
    assert settings["batch_size_warn_threshold"] == "5KiB"
    assert settings["batch_size_fail_threshold"] == "50KiB"
    assert settings["native_transport_port"] == "9042"
    assert settings["authenticator"] == "AllowAllAuthenticator"
    assert settings["authorizer"] == "AllowAllAuthorizer"
    assert default_settings(NODE, auth=True)["authenticator"] == "PasswordAuthenticator"
    custom = system_rows(
        "system_views",
        "settings",
        schema=Schema.initial(),
        node=NODE,
        settings={"b": "2", "a": "1"},
    )
    assert custom == ({"name": "a", "value": "1"}, {"name": "b", "value": "2"})


def test_sstable_tasks_and_thread_pools_rows() -> None:
    task_b = CompactionTask(
        keyspace="app", table="kv", task_id=uuid.uuid1(), progress=25, total=100
    )
    task_a = CompactionTask(keyspace="app", table="events", task_id=uuid.uuid1(), total=0)
    state = CompactionState(
        active=(task_b, task_a), pending={("app", "kv"): 2, ("app", "events"): 1}, completed=9
    )
    tasks = system_rows(
        "system_views", "sstable_tasks", schema=Schema.initial(), node=NODE, compaction=state
    )
    assert tasks is not None
    assert [t["table_name"] for t in tasks] == ["events", "kv"]
    assert (tasks[0]["completion_ratio"], tasks[1]["completion_ratio"]) == (1.0, 0.25)
    assert (tasks[1]["kind"], tasks[1]["unit"], tasks[1]["progress"], tasks[1]["total"]) == (
        "compaction",
        "bytes",
        25,
        100,
    )
    pools = system_rows(
        "system_views", "thread_pools", schema=Schema.initial(), node=NODE, compaction=state
    )
    assert pools is not None
    by_name = {p["name"]: p for p in pools}
    assert [p["name"] for p in pools] == sorted(by_name)
    compaction = by_name["CompactionExecutor"]
    assert (
        compaction["active_tasks"],
        compaction["pending_tasks"],
        compaction["completed_tasks"],
    ) == (2, 3, 9)
    assert compaction["active_tasks_limit"] == 2
    assert by_name["ReadStage"]["active_tasks"] == 0
    idle = system_rows("system_views", "sstable_tasks", schema=Schema.initial(), node=NODE)
    assert idle == ()


def test_only_generated_tables_have_rows() -> None:
    schema = Schema.initial()
    assert system_rows("system_auth", "roles", schema=schema, node=NODE) is None
    assert system_rows("system", "paxos", schema=schema, node=NODE) is None
    assert system_rows("app", "kv", schema=schema, node=NODE) is None
    for keyspace, table in GENERATED_TABLES:
        assert system_rows(keyspace, table, schema=schema, node=NODE) is not None


@pytest.mark.parametrize("key", sorted(GENERATED_TABLES), ids=".".join)
def test_generated_rows_serialize_with_their_column_types(key: tuple[str, str]) -> None:
    schema = user_schema()
    table = schema.table(*key)
    assert table is not None
    clients = [ClientInfo(address="::1", port=1, client_options={"a": "b"})]
    state = CompactionState(
        active=(CompactionTask(keyspace="app", table="kv", task_id=uuid.uuid4()),)
    )
    rows = system_rows(*key, schema=schema, node=NODE, clients=clients, compaction=state)
    assert rows is not None
    for row in rows:
        assert list(row) == [c.name for c in table.columns]
        for column in table.columns:
            encoded = column.type.serialize(row[column.name], 4)
            decoded = column.type.deserialize(encoded, 4)
            value = row[column.name]
            if isinstance(value, dt.datetime):  # the driver decodes naive UTC datetimes
                decoded = decoded.replace(tzinfo=dt.UTC)
            if isinstance(value, tuple):  # sets and lists, in Cassandra's order
                assert list(decoded) == list(value)
            elif isinstance(value, dict):  # maps, in key order
                assert list(decoded.items()) == list(value.items())
            else:
                assert decoded == value


def test_schema_rows_are_computed_once_per_schema() -> None:
    schema = user_schema()
    first = system_rows("system_schema", "columns", schema=schema, node=NODE)
    assert system_rows("system_schema", "columns", schema=schema, node=NODE) is first
    bigger = create_table(
        schema,
        TableMetadata(
            keyspace="app", name="more", columns=(ColumnMetadata.partition_key("k", INT),)
        ),
    ).schema
    again = system_rows("system_schema", "columns", schema=bigger, node=NODE)
    assert again is not first
    assert again is not None
    assert any(r["table_name"] == "more" for r in again)


# --- the driver's own metadata parser ---------------------------------------------------------


class FakeResult:
    """What the parser reads from a Rows response: column names and decoded rows."""

    def __init__(self, column_names: list[str], parsed_rows: list[tuple[Any, ...]]) -> None:
        self.column_names = column_names
        self.parsed_rows = parsed_rows


class FakeConnection:
    """Answers the schema parser's queries from :func:`system_rows`, through the wire codecs."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.queries: list[str] = []

    def wait_for_responses(self, *messages: Any, **_options: Any) -> list[tuple[bool, FakeResult]]:
        return [(True, self._answer(m.query)) for m in messages]

    def _answer(self, query: str) -> FakeResult:
        self.queries.append(query)
        match = re.search(r"from (\w+)\.(\w+)", query, re.IGNORECASE)
        assert match is not None, query
        keyspace, name = match.groups()
        table = self.schema.table(keyspace, name)
        rows = system_rows(keyspace, name, schema=self.schema, node=NODE)
        assert table is not None
        assert rows is not None
        where = dict(re.findall(r"(\w+) = '([^']*)'", query))
        selected = [r for r in rows if all(str(r[k]) == v for k, v in where.items())]
        return FakeResult(
            [c.name for c in table.columns],
            [
                tuple(c.type.deserialize(c.type.serialize(r[c.name], 4), 4) for c in table.columns)
                for r in selected
            ],
        )


EXPECTED_EVENTS_CQL = """CREATE TABLE app.events (
    tenant text,
    day date,
    at timestamp,
    id timeuuid,
    attrs map<text, frozen<list<int>>>,
    frozen_list frozen<list<int>>,
    home frozen<address>,
    owner text static,
    pair frozen<tuple<int, frozen<set<text>>>>,
    payload blob,
    tags set<text>,
    took duration,
    work address,
    PRIMARY KEY ((tenant, day), at, id)
) WITH CLUSTERING ORDER BY (at DESC, id ASC)
    AND additional_write_policy = '99p'
    AND bloom_filter_fp_chance = 0.01
    AND caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'}
    AND comment = 'event log'
    AND compaction = {'class': 'org.apache.cassandra.db.compaction.LeveledCompactionStrategy', 'max_threshold': '32', 'min_threshold': '4'}
    AND compression = {'chunk_length_in_kb': '16', 'class': 'org.apache.cassandra.io.compress.LZ4Compressor'}
    AND crc_check_chance = 1.0
    AND default_time_to_live = 86400
    AND gc_grace_seconds = 3600
    AND max_index_interval = 2048
    AND memtable_flush_period_in_ms = 0
    AND min_index_interval = 128
    AND read_repair = 'BLOCKING'
    AND speculative_retry = 'ALWAYS'"""  # noqa: E501


@pytest.fixture(scope="module")
def driver_metadata() -> Metadata:
    """The driver's Metadata, rebuilt by the parser it picks for our release_version."""
    connection = FakeConnection(user_schema())
    parser = get_schema_parser(connection, NODE.release_version, None, 5)
    assert type(parser) is SchemaParserV4
    metadata = Metadata()
    metadata._rebuild_all(parser)
    assert any("system_virtual_schema.columns" in q for q in connection.queries)
    return metadata


def test_driver_sees_every_keyspace(driver_metadata: Metadata) -> None:
    keyspaces = driver_metadata.keyspaces
    assert set(keyspaces) == {
        "system", "system_schema", "system_auth", "system_distributed", "system_traces",
        "system_views", "system_virtual_schema", "app", "multi",
    }  # fmt: skip
    assert keyspaces["system_views"].virtual
    assert keyspaces["system_virtual_schema"].virtual
    assert not keyspaces["app"].virtual
    app = keyspaces["app"]
    assert app.durable_writes
    assert (
        app.replication_strategy.export_for_schema()
        == "{'class': 'SimpleStrategy', 'replication_factor': '1'}"
    )
    multi = keyspaces["multi"]
    assert not multi.durable_writes
    assert (
        multi.replication_strategy.export_for_schema()
        == "{'class': 'NetworkTopologyStrategy', 'datacenter1': '1'}"
    )
    assert keyspaces["system"].replication_strategy.name == "LocalStrategy"
    for keyspace in keyspaces.values():
        for table in keyspace.tables.values():
            assert table._exc_info is None, (keyspace.name, table.name)


def test_driver_builds_the_user_tables(driver_metadata: Metadata) -> None:
    events = driver_metadata.keyspaces["app"].tables["events"]
    assert [c.name for c in events.partition_key] == ["tenant", "day"]
    assert [c.name for c in events.clustering_key] == ["at", "id"]
    assert [c.is_reversed for c in events.clustering_key] == [True, False]
    assert events.columns["owner"].is_static
    assert events.columns["work"].cql_type == "address"
    assert not events.is_compact_storage
    assert events.options["default_time_to_live"] == 86400
    assert events.options["cdc"] is None
    assert "memtable" not in events.options
    assert events.as_cql_query(formatted=True) == EXPECTED_EVENTS_CQL
    counts = driver_metadata.keyspaces["multi"].tables["counts"]
    assert counts.columns["hits"].cql_type == "counter"
    kv = driver_metadata.keyspaces["app"].tables["kv"]
    assert kv.as_cql_query().startswith("CREATE TABLE app.kv (k text PRIMARY KEY, v text)")


def test_driver_builds_the_user_types(driver_metadata: Metadata) -> None:
    address = driver_metadata.keyspaces["app"].user_types["address"]
    assert address.field_names == ["street", "zip", "tags"]
    assert address.field_types == ["text", "int", "frozen<list<text>>"]
    assert address.as_cql_query() == (
        "CREATE TYPE app.address (street text, zip int, tags frozen<list<text>>)"
    )


def test_driver_builds_the_system_and_virtual_tables(driver_metadata: Metadata) -> None:
    local = driver_metadata.keyspaces["system"].tables["local"]
    assert [c.name for c in local.partition_key] == ["key"]
    assert local.columns["tokens"].cql_type == "set<text>"
    assert local.options["gc_grace_seconds"] == 0
    clients = driver_metadata.keyspaces["system_views"].tables["clients"]
    assert clients.virtual
    assert [c.name for c in clients.clustering_key] == ["port"]
    assert clients.columns["client_options"].cql_type == "frozen<map<text, text>>"
    assert clients.options == {"comment": "currently connected clients"}
    for (keyspace, name), (partition_key, clustering, columns) in CASSANDRA_41.items():
        table = driver_metadata.keyspaces[keyspace].tables[name]
        assert tuple(c.name for c in table.partition_key) == partition_key
        assert tuple(c.name for c in table.clustering_key) == clustering
        assert {c.name: c.cql_type for c in table.columns.values()} == columns


def test_driver_refreshes_one_table_after_ddl() -> None:
    """After a schema change event the driver re-reads one table with WHERE clauses."""
    connection = FakeConnection(user_schema())
    parser = get_schema_parser(connection, NODE.release_version, None, 5)
    table = parser.get_table({}, "app", "events")
    assert table.as_cql_query(formatted=True) == EXPECTED_EVENTS_CQL
    assert parser.get_table({}, "app", "missing") is None
    keyspace = parser.get_keyspace({}, "multi")
    assert keyspace.name == "multi"
    assert not keyspace.durable_writes
    assert parser.get_type({}, "app", "address").field_names == ["street", "zip", "tags"]
