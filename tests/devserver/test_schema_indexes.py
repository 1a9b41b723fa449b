"""Built-in secondary indexes through the driver: CREATE / DROP INDEX with Cassandra 4.1's
rules and messages, system_schema.indexes and the driver's metadata, DESCRIBE output, the
columns an index protects, and queries an index serves without ALLOW FILTERING."""

from __future__ import annotations

from pathlib import Path

import pytest
from cassandra.cluster import Session
from cassandra.protocol import ConfigurationException

from clusters import dev_server_session
from invalid import invalid_message

_FILTERING = "Cannot execute this query as it might involve data filtering"


def _table(session: Session, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.t (k int, c int, v int, w int, s set<text>, "
        "m map<text, int>, fl frozen<list<int>>, d duration, PRIMARY KEY (k, c))"
    )


def test_create_index_rules_and_messages(session: Session, keyspace: str) -> None:
    ks = keyspace
    _table(session, ks)
    session.execute(f"CREATE INDEX ON {ks}.t (v)")
    # A second index on the same target: a generated name, then refused as a duplicate.
    assert "Index t_v_idx_1 is a duplicate of existing index t_v_idx" in invalid_message(
        session, f"CREATE INDEX ON {ks}.t (v)"
    )
    session.execute(f"CREATE INDEX IF NOT EXISTS ON {ks}.t (v)")
    session.execute(f"CREATE INDEX by_keys ON {ks}.t (keys(m))")
    assert "Index 'by_keys' already exists" in invalid_message(
        session, f"CREATE INDEX by_keys ON {ks}.t (w)"
    )
    session.execute(f"CREATE INDEX IF NOT EXISTS by_keys ON {ks}.t (w)")
    cases = {
        f"CREATE INDEX ON {ks}.t (fl)": "Cannot create values() index on frozen column fl. "
        "Frozen collections are immutable and must be fully indexed by using the 'full(fl)' "
        "modifier",
        f"CREATE INDEX ON {ks}.t (full(s))": "full() indexes can only be created on frozen "
        "collections",
        f"CREATE INDEX ON {ks}.t (keys(s))": "Cannot create index on keys of column s with "
        "non-map type",
        f"CREATE INDEX ON {ks}.t (keys(v))": "Cannot create keys() index on v. Non-collection "
        "columns only support simple indexes",
        f"CREATE INDEX ON {ks}.t (d)": "Secondary indexes are not supported on duration columns",
        f"CREATE INDEX ON {ks}.t (k)": "Cannot create secondary index on the only partition "
        "key column k",
        f"CREATE INDEX ON {ks}.t (nope)": f"Undefined column name nope in table {ks}.t",
        f"CREATE INDEX ON {ks}.nope (v)": "Table 'nope' doesn't exist",
        f"CREATE INDEX x ON {ks}.t (v) WITH OPTIONS = {{'a': 'b'}}": "Cannot specify options "
        "for a non-CUSTOM index",
    }
    for statement, message in cases.items():
        assert message in invalid_message(session, statement), statement
    session.execute(f"CREATE TABLE {ks}.counts (k int PRIMARY KEY, n counter)")
    assert "Secondary indexes on counter tables aren't supported" in invalid_message(
        session, f"CREATE INDEX ON {ks}.counts (n)"
    )


def test_indexes_in_system_schema_driver_metadata_and_describe(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    _table(session, ks)
    for target in ("v", "s", "keys(m)", "entries(m)", "full(fl)", "c"):
        session.execute(f"CREATE INDEX ON {ks}.t ({target})")
    session.execute(f"CREATE INDEX by_values ON {ks}.t (values(m))")
    rows = session.execute(
        f"SELECT index_name, kind, options FROM system_schema.indexes WHERE keyspace_name = '{ks}'"
    )
    assert [(r.index_name, r.kind, dict(r.options)) for r in rows] == [
        ("by_values", "COMPOSITES", {"target": "values(m)"}),
        ("t_c_idx", "COMPOSITES", {"target": "c"}),
        ("t_fl_idx", "COMPOSITES", {"target": "full(fl)"}),
        ("t_m_idx", "COMPOSITES", {"target": "keys(m)"}),
        ("t_m_idx_1", "COMPOSITES", {"target": "entries(m)"}),
        ("t_s_idx", "COMPOSITES", {"target": "values(s)"}),
        ("t_v_idx", "COMPOSITES", {"target": "v"}),
    ]
    # The driver refreshed the table on the SCHEMA_CHANGE (UPDATED TABLE) results.
    indexes = session.cluster.metadata.keyspaces[ks].tables["t"].indexes
    assert indexes["t_v_idx"].index_options == {"target": "v"}
    assert indexes["t_m_idx_1"].as_cql_query() == f"CREATE INDEX t_m_idx_1 ON {ks}.t (entries(m))"
    # DESCRIBE TABLE: the table, then its indexes by name.
    described = list(session.execute(f"DESCRIBE TABLE {ks}.t"))
    assert [(r.type, r.name) for r in described] == [
        ("table", "t"),
        ("index", "by_values"),
        ("index", "t_c_idx"),
        ("index", "t_fl_idx"),
        ("index", "t_m_idx"),
        ("index", "t_m_idx_1"),
        ("index", "t_s_idx"),
        ("index", "t_v_idx"),
    ]
    assert described[3].create_statement == f"CREATE INDEX t_fl_idx ON {ks}.t (full(fl));"
    index = session.execute(f"DESCRIBE INDEX {ks}.t_s_idx").one()
    assert (index.keyspace_name, index.type, index.name) == (ks, "index", "t_s_idx")
    assert index.create_statement == f"CREATE INDEX t_s_idx ON {ks}.t (values(s));"
    generic = session.execute(f"DESCRIBE {ks}.t_m_idx").one()
    assert generic.create_statement == f"CREATE INDEX t_m_idx ON {ks}.t (keys(m));"
    in_keyspace = [(r.type, r.name) for r in session.execute(f"DESCRIBE KEYSPACE {ks}")]
    assert in_keyspace[:3] == [("keyspace", ks), ("table", "t"), ("index", "by_values")]
    assert f"Table for existing index 'nope' not found in '{ks}'" in invalid_message(
        session, f"DESCRIBE INDEX {ks}.nope"
    )


def test_indexed_columns_cannot_be_dropped_or_renamed_until_the_index_is(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    _table(session, ks)
    session.execute(f"CREATE INDEX by_v ON {ks}.t (v)")
    session.execute(f"CREATE INDEX by_c ON {ks}.t (c)")
    assert (
        "Cannot drop column v because it has dependent secondary indexes (by_v)"
        in invalid_message(session, f"ALTER TABLE {ks}.t DROP v")
    )
    assert (
        "Can't rename column c because it has dependent secondary indexes (by_c)"
        in invalid_message(session, f"ALTER TABLE {ks}.t RENAME c TO c2")
    )
    session.execute(f"DROP INDEX {ks}.by_v")
    assert f"Index '{ks}.by_v' doesn't exist" in invalid_message(session, f"DROP INDEX {ks}.by_v")
    session.execute(f"DROP INDEX IF EXISTS {ks}.by_v")
    session.execute(f"ALTER TABLE {ks}.t DROP v")
    assert "by_v" not in session.cluster.metadata.keyspaces[ks].tables["t"].indexes
    session.execute(f"DROP TABLE {ks}.t")
    _table(session, ks)
    session.execute(f"CREATE INDEX by_v ON {ks}.t (v)")  # the name is free again


def test_queries_an_index_serves_need_no_allow_filtering(session: Session, keyspace: str) -> None:
    ks = keyspace
    _table(session, ks)
    for target in ("v", "s", "keys(m)", "values(m)", "full(fl)", "c"):
        session.execute(f"CREATE INDEX ON {ks}.t ({target})")
    insert = session.prepare(
        f"INSERT INTO {ks}.t (k, c, v, w, s, m, fl) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    session.execute(insert, (1, 1, 10, 0, {"a"}, {"x": 1}, [1, 2]))
    session.execute(insert, (2, 1, 20, 0, {"b"}, {"y": 2}, [3]))
    session.execute(insert, (2, 2, 10, 1, {"a", "b"}, {"x": 3}, [3]))

    def keys(query: str) -> set[tuple[int, int]]:
        return {(r.k, r.c) for r in session.execute(f"SELECT k, c FROM {ks}.t WHERE {query}")}

    assert keys("v = 10") == {(1, 1), (2, 2)}
    assert keys("s CONTAINS 'b'") == {(2, 1), (2, 2)}
    assert keys("m CONTAINS KEY 'x'") == {(1, 1), (2, 2)}
    assert keys("m CONTAINS 3") == {(2, 2)}
    assert keys("fl = [3]") == {(2, 1), (2, 2)}
    assert keys("c = 2") == {(2, 2)}
    assert keys("k = 2 AND v = 10") == {(2, 2)}
    prepared = session.prepare(f"SELECT k, c FROM {ks}.t WHERE v = ?")
    assert {(r.k, r.c) for r in session.execute(prepared, (20,))} == {(2, 1)}
    # Two restrictions left to filter, an unindexed column, or an operator the index does not
    # serve: ALLOW FILTERING is still needed.
    for query in ("v = 10 AND s CONTAINS 'a'", "v = 10 AND w = 1", "v > 10", "w = 1"):
        assert _FILTERING in invalid_message(session, f"SELECT k, c FROM {ks}.t WHERE {query}"), (
            query
        )
    assert keys("v = 10 AND w = 1 ALLOW FILTERING") == {(2, 2)}


@pytest.mark.devserver_only
def test_indexes_survive_a_restart(tmp_path: Path) -> None:
    with dev_server_session(tmp_path) as (_, session):
        session.execute(
            "CREATE KEYSPACE ks WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
        session.execute("CREATE INDEX by_v ON ks.t (v)")
        session.execute("INSERT INTO ks.t (k, v) VALUES (1, 'a')")
    with dev_server_session(tmp_path) as (cluster, session):
        assert "by_v" in cluster.metadata.keyspaces["ks"].tables["t"].indexes
        assert [r.k for r in session.execute("SELECT k FROM ks.t WHERE v = 'a'")] == [1]


def test_map_entry_restrictions_filter_or_use_an_entries_index(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    session.execute(
        f"CREATE TABLE {ks}.e (k int, c int, m map<text, int>, fm frozen<map<text, int>>, "
        "l list<int>, v int, PRIMARY KEY (k, c))"
    )
    session.execute(f"INSERT INTO {ks}.e (k, c, m, v) VALUES (1, 1, {{'x': 1, 'y': 2}}, 1)")
    session.execute(f"INSERT INTO {ks}.e (k, c, m, v) VALUES (1, 2, {{'x': 2}}, 2)")
    session.execute(f"INSERT INTO {ks}.e (k, c, m, v) VALUES (2, 1, {{'y': 1}}, 3)")

    def keys(where: str) -> set[tuple[int, int]]:
        return {(r.k, r.c) for r in session.execute(f"SELECT k, c FROM {ks}.e WHERE {where}")}

    assert keys("m['x'] = 1 ALLOW FILTERING") == {(1, 1)}
    assert keys("k = 1 AND m['x'] = 2 ALLOW FILTERING") == {(1, 2)}
    by_entry = session.prepare(f"SELECT k, c FROM {ks}.e WHERE m[?] = ? ALLOW FILTERING")
    assert [c.name for c in by_entry.column_metadata] == ["key(m)", "value(m)"]
    assert {(r.k, r.c) for r in session.execute(by_entry, ("y", 1))} == {(2, 1)}
    cases = {
        "m['x'] = 1": _FILTERING,
        "m['x'] > 1 ALLOW FILTERING": "Only EQ relations are supported on map entries",
        "fm['x'] = 1 ALLOW FILTERING": "Map-entry equality predicates on frozen map column fm "
        "are not supported",
        "l[0] = 1 ALLOW FILTERING": "Indexes on list entries (l[index] = value) are not "
        "currently supported.",
        "v['x'] = 1 ALLOW FILTERING": "Column v cannot be used as a map",
    }
    for where, message in cases.items():
        assert message in invalid_message(session, f"SELECT k FROM {ks}.e WHERE {where}"), where
    session.execute(f"CREATE INDEX ON {ks}.e (entries(m))")
    assert keys("m['x'] = 1") == {(1, 1)}
    assert _FILTERING in invalid_message(
        session, f"SELECT k FROM {ks}.e WHERE m['x'] = 1 AND v = 1"
    )


def test_custom_indexes_cassandra_41_cannot_load_are_refused(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    session.execute(f"CREATE TABLE {ks}.c (k int PRIMARY KEY, v text)")
    assert "CUSTOM index requires specifiying the index class" in invalid_message(
        session, f"CREATE CUSTOM INDEX ON {ks}.c (v)"
    )
    with pytest.raises(ConfigurationException) as info:
        session.execute(f"CREATE CUSTOM INDEX ON {ks}.c (v) USING 'com.example.NoSuchIndex'")
    assert "Unable to find custom indexer class 'com.example.NoSuchIndex'" in str(info.value)
