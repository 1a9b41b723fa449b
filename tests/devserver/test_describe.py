"""Server-side DESCRIBE (Cassandra 4.0+ ``DescribeStatement``) through the unmodified driver.

The expected CREATE statements are Cassandra 4.1's text; against a real 5.0 (with
``CASSFLOW_TEST_HOSTS``) the two options 5.0 adds are expected as well.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.query import SimpleStatement

_LIST_COLUMNS = ["keyspace_name", "type", "name"]
_ELEMENT_COLUMNS = [*_LIST_COLUMNS, "create_statement"]


def _rows(session: Session, query: str, fetch_size: int | None = None) -> list[dict[str, object]]:
    result = session.execute(SimpleStatement(query, fetch_size=fetch_size))
    return [dict(zip(result.column_names, row, strict=True)) for row in result]


def _columns(session: Session, query: str) -> list[str]:
    return list(session.execute(query).column_names)


def _is_50(session: Session) -> bool:
    version = session.execute("SELECT release_version FROM system.local").one()[0]
    return str(version).startswith("5.")


def _options(session: Session, **changes: str) -> str:
    """The WITH block Cassandra writes after ``) WITH `` (CLUSTERING ORDER BY not included)."""
    options = {
        "additional_write_policy": "'99p'",
        "bloom_filter_fp_chance": "0.01",
        "caching": "{'keys': 'ALL', 'rows_per_partition': 'NONE'}",
        "cdc": "false",
        "comment": "''",
        "compaction": (
            "{'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy', "
            "'max_threshold': '32', 'min_threshold': '4'}"
        ),
        "compression": (
            "{'chunk_length_in_kb': '16', "
            "'class': 'org.apache.cassandra.io.compress.LZ4Compressor'}"
        ),
        "memtable": "'default'",
        "crc_check_chance": "1.0",
        "default_time_to_live": "0",
        "extensions": "{}",
        "gc_grace_seconds": "864000",
        "max_index_interval": "2048",
        "memtable_flush_period_in_ms": "0",
        "min_index_interval": "128",
        "read_repair": "'BLOCKING'",
        "speculative_retry": "'99p'",
    }
    options.update(changes)
    names = list(options)
    if _is_50(session):  # TableParams.appendCqlTo of 5.0
        names.insert(names.index("bloom_filter_fp_chance"), "allow_auto_snapshot")
        names.insert(names.index("max_index_interval"), "incremental_backups")
        options.setdefault("allow_auto_snapshot", "true")
        options.setdefault("incremental_backups", "true")
    return "\n    AND ".join(f"{n} = {options[n]}" for n in names) + ";"


@pytest.fixture(scope="module")
def session(cluster: Cluster) -> Iterator[Session]:
    """A session of this module's own: DESCRIBE answers depend on the session keyspace, and
    other modules may leave the shared session in one."""
    session = cluster.connect()
    yield session
    session.shutdown()


@pytest.fixture
def ks_session(cluster: Cluster, keyspace: str) -> Iterator[Session]:
    """A session of its own whose keyspace is ``keyspace`` (as after ``USE``)."""
    session = cluster.connect(keyspace)
    yield session
    session.shutdown()


def test_describe_keyspaces_lists_every_keyspace_sorted(session: Session, keyspace: str) -> None:
    assert _columns(session, "DESCRIBE KEYSPACES") == _LIST_COLUMNS
    rows = _rows(session, "DESC KEYSPACES")
    names = [r["name"] for r in rows]
    assert {"system", "system_schema", "system_views", keyspace} <= set(names)
    assert names == sorted(names, key=str.lower)
    assert all(r["type"] == "keyspace" and r["keyspace_name"] == r["name"] for r in rows)


def test_describe_keyspace_is_the_keyspace_then_its_tables(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.zeta (id int PRIMARY KEY)")
    session.execute(f"CREATE TABLE {keyspace}.Alpha (id int PRIMARY KEY)")
    session.execute(f"CREATE TABLE {keyspace}.beta (id int PRIMARY KEY, v text)")
    assert _columns(session, f"DESCRIBE KEYSPACE {keyspace}") == _ELEMENT_COLUMNS
    rows = _rows(session, f"DESCRIBE KEYSPACE {keyspace}")
    assert [(r["type"], r["name"]) for r in rows] == [
        ("keyspace", keyspace),
        ("table", "alpha"),
        ("table", "beta"),
        ("table", "zeta"),
    ]
    assert rows[0]["create_statement"] == (
        f"CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', "
        "'replication_factor': '1'}  AND durable_writes = true;"
    )
    assert rows[2]["create_statement"] == (
        f"CREATE TABLE {keyspace}.beta (\n    id int PRIMARY KEY,\n    v text\n) WITH "
        + _options(session)
    )
    only = _rows(session, f"DESCRIBE ONLY KEYSPACE {keyspace}")
    assert [(r["type"], r["name"]) for r in only] == [("keyspace", keyspace)]


def test_describe_keyspace_with_network_topology_and_no_durable_writes(
    session: Session,
) -> None:
    name = f"d_{uuid.uuid4().hex[:12]}"
    dc = session.execute("SELECT data_center FROM system.local").one()[0]
    session.execute(
        f"CREATE KEYSPACE {name} WITH replication = {{'class': 'NetworkTopologyStrategy', "
        f"'{dc}': 1}} AND durable_writes = false"
    )
    try:
        rows = _rows(session, f"DESCRIBE KEYSPACE {name}")
        assert rows == [
            {
                "keyspace_name": name,
                "type": "keyspace",
                "name": name,
                "create_statement": f"CREATE KEYSPACE {name} WITH replication = "
                f"{{'class': 'NetworkTopologyStrategy', '{dc}': '1'}}"
                "  AND durable_writes = false;",
            }
        ]
    finally:
        session.execute(f"DROP KEYSPACE {name}")


def test_describe_table_writes_columns_key_order_and_options(
    session: Session, keyspace: str
) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.events (p int, a text, c timestamp, d int, s int static, "
        "v list<int>, b frozen<map<int, text>>, e set<text>, z text, "
        "PRIMARY KEY ((p, a), c, d)) WITH CLUSTERING ORDER BY (c DESC, d ASC) "
        "AND comment = 'it''s here' AND gc_grace_seconds = 3600 AND default_time_to_live = 60 "
        "AND compaction = {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 64} "
        "AND compression = {'enabled': false} AND caching = {'keys': 'NONE'} "
        "AND bloom_filter_fp_chance = 0.1 AND crc_check_chance = 0.5 "
        "AND speculative_retry = 'ALWAYS' AND read_repair = 'NONE'"
    )
    rows = _rows(session, f"DESCRIBE TABLE {keyspace}.events")
    assert [(r["keyspace_name"], r["type"], r["name"]) for r in rows] == [
        (keyspace, "table", "events")
    ]
    # Key columns in key order; then statics and regulars, single-cell before multi-cell.
    options = _options(
        session,
        bloom_filter_fp_chance="0.1",
        caching="{'keys': 'NONE', 'rows_per_partition': 'NONE'}",
        comment="'it''s here'",
        compaction=(
            "{'class': 'org.apache.cassandra.db.compaction.LeveledCompactionStrategy', "
            "'max_threshold': '32', 'min_threshold': '4', 'sstable_size_in_mb': '64'}"
        ),
        compression="{'enabled': 'false'}",
        crc_check_chance="0.5",
        default_time_to_live="60",
        gc_grace_seconds="3600",
        read_repair="'NONE'",
        speculative_retry="'ALWAYS'",
    )
    assert rows[0]["create_statement"] == (
        f"CREATE TABLE {keyspace}.events (\n"
        "    p int,\n"
        "    a text,\n"
        "    c timestamp,\n"
        "    d int,\n"
        "    s int static,\n"
        "    b frozen<map<int, text>>,\n"
        "    z text,\n"
        "    e set<text>,\n"
        "    v list<int>,\n"
        "    PRIMARY KEY ((p, a), c, d)\n"
        ") WITH CLUSTERING ORDER BY (c DESC, d ASC)\n"
        f"    AND {options}"
    )


def test_describe_table_quotes_names_that_need_it(session: Session, keyspace: str) -> None:
    session.execute(
        f'CREATE TABLE {keyspace}."MyTable" ("Key" int, "select" int, "with space" text, '
        'PRIMARY KEY ("Key", "select"))'
    )
    rows = _rows(session, f'DESCRIBE TABLE {keyspace}."MyTable"')
    assert rows[0]["name"] == '"MyTable"'
    assert rows[0]["create_statement"] == (
        f'CREATE TABLE {keyspace}."MyTable" (\n'
        '    "Key" int,\n'
        '    "select" int,\n'
        '    "with space" text,\n'
        '    PRIMARY KEY ("Key", "select")\n'
        ') WITH CLUSTERING ORDER BY ("select" ASC)\n'
        f"    AND {_options(session)}"
    )


def test_describe_table_uses_the_session_keyspace(ks_session: Session, keyspace: str) -> None:
    ks_session.execute("CREATE TABLE t (id int PRIMARY KEY)")
    rows = _rows(ks_session, "DESCRIBE TABLE t")
    assert rows[0]["create_statement"].startswith(f"CREATE TABLE {keyspace}.t (\n")


def test_describe_tables_with_a_keyspace_in_use_lists_only_it(
    ks_session: Session, session: Session, keyspace: str
) -> None:
    ks_session.execute("CREATE TABLE b (id int PRIMARY KEY)")
    ks_session.execute("CREATE TABLE a (id int PRIMARY KEY)")
    assert _columns(ks_session, "DESCRIBE TABLES") == _LIST_COLUMNS
    assert _rows(ks_session, "DESCRIBE TABLES") == [
        {"keyspace_name": keyspace, "type": "table", "name": "a"},
        {"keyspace_name": keyspace, "type": "table", "name": "b"},
    ]
    everywhere = _rows(session, "DESCRIBE TABLES")
    assert {"keyspace_name": "system_schema", "type": "table", "name": "tables"} in everywhere
    assert {"keyspace_name": keyspace, "type": "table", "name": "a"} in everywhere
    assert _rows(ks_session, "DESCRIBE FUNCTIONS") == []
    assert _rows(ks_session, "DESCRIBE AGGREGATES") == []


def test_describe_schema_holds_user_keyspaces_only(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY)")
    rows = _rows(session, "DESCRIBE SCHEMA")
    keyspaces = {r["keyspace_name"] for r in rows}
    assert keyspace in keyspaces
    assert not keyspaces & {"system", "system_schema", "system_auth", "system_views"}
    mine = [(r["type"], r["name"]) for r in rows if r["keyspace_name"] == keyspace]
    assert mine == [("keyspace", keyspace), ("table", "t")]
    full = {r["keyspace_name"] for r in _rows(session, "DESCRIBE FULL SCHEMA")}
    assert {"system", "system_schema", keyspace} <= full


def test_describe_generic_name_resolves_keyspace_then_table(
    ks_session: Session, session: Session, keyspace: str
) -> None:
    ks_session.execute("CREATE TABLE t (id int PRIMARY KEY)")
    as_keyspace = _rows(session, f"DESCRIBE {keyspace}")
    assert [(r["type"], r["name"]) for r in as_keyspace] == [("keyspace", keyspace), ("table", "t")]
    as_table = _rows(ks_session, "DESCRIBE t")
    assert [(r["type"], r["name"]) for r in as_table] == [("table", "t")]
    qualified = _rows(session, f"DESCRIBE {keyspace}.t")
    assert qualified == as_table
    with pytest.raises(InvalidRequest, match=f"'nothing' not found in keyspace '{keyspace}'"):
        ks_session.execute("DESCRIBE nothing")


def test_describe_errors_carry_cassandras_messages(session: Session, keyspace: str) -> None:
    cases = {
        "DESCRIBE KEYSPACE nope_ks": "'nope_ks' not found in keyspaces",
        f"DESCRIBE TABLE {keyspace}.nope": f"Table 'nope' not found in keyspace '{keyspace}'",
        f"DESCRIBE TYPE {keyspace}.nope": f"User defined type 'nope' not found in '{keyspace}'",
        f"DESCRIBE FUNCTION {keyspace}.nope": (
            f"User defined function 'nope' not found in '{keyspace}'"
        ),
        f"DESCRIBE MATERIALIZED VIEW {keyspace}.nope": (
            f"Materialized view 'nope' not found in '{keyspace}'"
        ),
        "DESCRIBE TABLE nope": "No keyspace specified and no current keyspace",
        "DESCRIBE KEYSPACE": "No keyspace specified and no current keyspace",
    }
    for query, message in cases.items():
        with pytest.raises(InvalidRequest) as info:
            session.execute(query)
        assert message in str(info.value), query


def test_describe_cluster_adds_range_ownership_for_a_user_keyspace(
    session: Session, ks_session: Session
) -> None:
    assert _columns(session, "DESCRIBE CLUSTER") == ["cluster", "partitioner", "snitch"]
    row = _rows(session, "DESCRIBE CLUSTER")[0]
    assert row["partitioner"] == "Murmur3Partitioner"
    assert row["cluster"] == session.execute("SELECT cluster_name FROM system.local").one()[0]
    in_keyspace = _rows(ks_session, "DESCRIBE CLUSTER")[0]
    assert list(in_keyspace) == ["cluster", "partitioner", "snitch", "range_ownership"]
    local = session.execute("SELECT tokens FROM system.local").one()[0]
    ownership = in_keyspace["range_ownership"]
    assert set(local) <= set(ownership)
    assert all(len(endpoints) >= 1 for endpoints in ownership.values())
    # Each endpoint is InetAddressAndPort.toString(): "[host]/address:port".
    local_address = session.execute("SELECT broadcast_address FROM system.local").one()[0]
    endpoints = {e for owners in ownership.values() for e in owners}
    assert any(re.fullmatch(rf"[^/]*/{re.escape(str(local_address))}:\d+", e) for e in endpoints)
    assert all(re.fullmatch(r"[^/]*/[\[\]0-9a-fA-F.:]+:\d+", e) for e in endpoints), endpoints


def test_describe_table_with_internals_has_the_id_and_replays_dropped_columns(
    session: Session, keyspace: str
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY, gone text, kept int)")
    session.execute(f"ALTER TABLE {keyspace}.t DROP gone")
    table_id = session.execute(
        "SELECT id FROM system_schema.tables WHERE keyspace_name = %s AND table_name = 't'",
        [keyspace],
    ).one()[0]
    dropped_time = session.execute(
        "SELECT dropped_time FROM system_schema.dropped_columns "
        "WHERE keyspace_name = %s AND table_name = 't'",
        [keyspace],
    ).one()[0]
    rows = _rows(session, f"DESCRIBE TABLE {keyspace}.t WITH INTERNALS")
    text = rows[0]["create_statement"]
    assert text.startswith(
        f"CREATE TABLE {keyspace}.t (\n    id int PRIMARY KEY,\n    kept int,\n    gone text\n"
        f") WITH ID = {table_id}\n    AND additional_write_policy = '99p'\n"
    )
    millis = (dropped_time - datetime(1970, 1, 1)) // timedelta(milliseconds=1)
    last = text.rsplit("\n", 1)[1]
    assert last.startswith(f"ALTER TABLE {keyspace}.t DROP gone USING TIMESTAMP ")
    # system_schema keeps milliseconds; the statement has the drop's microseconds.
    assert int(last.removesuffix(";").rsplit(" ", 1)[1]) // 1000 == millis
    plain = _rows(session, f"DESCRIBE TABLE {keyspace}.t")[0]["create_statement"]
    assert "gone" not in plain
    assert "ID =" not in plain


def test_describe_virtual_table_is_commented_out(session: Session) -> None:
    rows = _rows(session, "DESCRIBE TABLE system_views.clients")
    text = rows[0]["create_statement"]
    assert text.startswith(
        "/*\nWarning: Table system_views.clients is a virtual table and cannot be recreated "
        "with CQL.\nStructure, for reference:\nVIRTUAL TABLE system_views.clients (\n"
    )
    assert text.endswith("\n    AND comment = 'currently connected clients';\n*/")
    keyspace = _rows(session, "DESCRIBE ONLY KEYSPACE system_views")[0]["create_statement"]
    assert keyspace == (
        "/*\nWarning: Keyspace system_views is a virtual keyspace and cannot be recreated with "
        "CQL.\nStructure, for reference:\nVIRTUAL KEYSPACE system_views;\n*/"
    )


def test_describe_pages_by_rows_and_fails_a_page_after_a_schema_change(
    session: Session, keyspace: str
) -> None:
    for name in ("a", "b", "c", "d", "e"):
        session.execute(f"CREATE TABLE {keyspace}.{name} (id int PRIMARY KEY)")
    whole = _rows(session, f"DESCRIBE KEYSPACE {keyspace}")
    assert len(whole) == 6
    assert _rows(session, f"DESCRIBE KEYSPACE {keyspace}", fetch_size=2) == whole
    result = session.execute(SimpleStatement(f"DESCRIBE KEYSPACE {keyspace}", fetch_size=2))
    assert len(result.current_rows) == 2
    assert result.has_more_pages
    session.execute(f"CREATE TABLE {keyspace}.f (id int PRIMARY KEY)")
    with pytest.raises(InvalidRequest, match="The schema has changed since the previous page"):
        result.fetch_next_page()


def test_describe_types_lists_and_orders_user_types_by_dependency(
    session: Session, ks_session: Session, keyspace: str
) -> None:
    session.execute(f"CREATE TYPE {keyspace}.zaddr (street text, tags list<text>)")
    session.execute(
        f'CREATE TYPE {keyspace}.person (name text, home frozen<zaddr>, "Nick" tuple<int, text>)'
    )
    session.execute(
        f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY, p person, fp frozen<person>, "
        "l list<frozen<zaddr>>)"
    )
    assert _rows(ks_session, "DESCRIBE TYPES") == [
        {"keyspace_name": keyspace, "type": "type", "name": "person"},
        {"keyspace_name": keyspace, "type": "type", "name": "zaddr"},
    ]
    person = (
        f"CREATE TYPE {keyspace}.person (\n    name text,\n    home frozen<zaddr>,\n"
        '    "Nick" frozen<tuple<int, text>>\n);'
    )
    assert _rows(session, f"DESCRIBE TYPE {keyspace}.person") == [
        {"keyspace_name": keyspace, "type": "type", "name": "person", "create_statement": person}
    ]
    rows = _rows(session, f"DESCRIBE KEYSPACE {keyspace}")
    # A type comes after the types it uses; then the tables.
    assert [(r["type"], r["name"]) for r in rows] == [
        ("keyspace", keyspace),
        ("type", "zaddr"),
        ("type", "person"),
        ("table", "t"),
    ]
    assert rows[1]["create_statement"] == (
        f"CREATE TYPE {keyspace}.zaddr (\n    street text,\n    tags list<text>\n);"
    )
    # Non-frozen collections and user types are multi-cell: after the single-cell columns.
    assert rows[3]["create_statement"].startswith(
        f"CREATE TABLE {keyspace}.t (\n    id int PRIMARY KEY,\n    fp frozen<person>,\n"
        "    l list<frozen<zaddr>>,\n    p person\n) WITH "
    )
