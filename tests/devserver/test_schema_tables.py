"""Table and keyspace DDL rules as Cassandra 4.1 words them: CREATE TABLE's PRIMARY KEY and
CLUSTERING ORDER BY checks, ALTER TABLE's refused actions, compaction options a strategy does
not understand, and the ignored graph_engine keyspace option."""

from __future__ import annotations

import pytest
from cassandra import AlreadyExists
from cassandra.cluster import Session
from cassandra.protocol import ConfigurationException

from invalid import invalid_message


def test_primary_key_columns_must_be_declared_once_and_not_static(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    assert "Unknown column 'nope' referenced in PRIMARY KEY for table 't1'" in invalid_message(
        session, f"CREATE TABLE {ks}.t1 (k int, v int, PRIMARY KEY (k, nope))"
    )
    assert "Duplicate column 'k' in PRIMARY KEY clause for table 't2'" in invalid_message(
        session, f"CREATE TABLE {ks}.t2 (k int, v int, PRIMARY KEY (k, k))"
    )
    assert "Static column 's' cannot be part of the PRIMARY KEY" in invalid_message(
        session, f"CREATE TABLE {ks}.t3 (k int, c int, s int static, PRIMARY KEY (k, c, s))"
    )
    assert f"Duplicate column 'v' declaration for table '{ks}.t4'" in invalid_message(
        session, f"CREATE TABLE {ks}.t4 (k int PRIMARY KEY, v int, v text)"
    )


def test_clustering_order_must_name_every_clustering_column_in_order(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    message = "Clustering key columns must exactly match columns in CLUSTERING ORDER BY directive"
    table = "(k int, c1 int, c2 int, v int, PRIMARY KEY (k, c1, c2))"
    for order in ("c2 DESC", "c2 DESC, c1 ASC", "v DESC", "c1 ASC, c2 DESC, v ASC"):
        statement = f"CREATE TABLE {ks}.t {table} WITH CLUSTERING ORDER BY ({order})"
        assert message in invalid_message(session, statement), order
    assert message in invalid_message(
        session, f"CREATE TABLE {ks}.t (k int PRIMARY KEY) WITH CLUSTERING ORDER BY (k ASC)"
    )
    session.execute(f"CREATE TABLE {ks}.t {table} WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC)")
    order = {
        r.column_name: r.clustering_order
        for r in session.execute(
            "SELECT column_name, clustering_order FROM system_schema.columns "
            f"WHERE keyspace_name = '{ks}' AND table_name = 't'"
        )
    }
    assert (order["c1"], order["c2"], order["v"]) == ("asc", "desc", "none")


def test_alter_table_refuses_type_changes_and_drop_compact_storage(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    session.execute(f"CREATE TABLE {ks}.t (k int PRIMARY KEY, v int)")
    assert "Altering column types is no longer supported" in invalid_message(
        session, f"ALTER TABLE {ks}.t ALTER v TYPE bigint"
    )
    # drop_compact_storage_enabled is off in a stock cassandra.yaml.
    assert "DROP COMPACT STORAGE is disabled. Enable in cassandra.yaml to use." in invalid_message(
        session, f"ALTER TABLE {ks}.t DROP COMPACT STORAGE"
    )
    assert f"Table '{ks}.nope' doesn't exist" in invalid_message(
        session, f"ALTER TABLE {ks}.nope ALTER v TYPE bigint"
    )
    session.execute(f"ALTER TABLE IF EXISTS {ks}.nope ALTER v TYPE bigint")


def test_graph_engine_keyspace_option_is_ignored_with_a_warning(session: Session) -> None:
    name = "ks_ignored_dse_option"
    result = session.execute(
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1} AND graph_engine = 'Core'"
    )
    try:
        assert result.response_future.warnings == [
            "The unsupported graph property 'graph_engine' was ignored."
        ]
        described = session.execute(f"DESCRIBE KEYSPACE {name}").one().create_statement
        assert "graph_engine" not in described
    finally:
        session.execute(f"DROP KEYSPACE {name}")


def test_compaction_options_a_strategy_does_not_understand_are_refused(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    with pytest.raises(ConfigurationException) as info:
        session.execute(
            f"CREATE TABLE {ks}.t (k int PRIMARY KEY) WITH compaction = "
            "{'class': 'LeveledCompactionStrategy', 'compaction_window_unit': 'HOURS'}"
        )
    assert (
        "Properties specified [compaction_window_unit] are not understood by "
        "LeveledCompactionStrategy"
    ) in str(info.value)
    session.execute(
        f"CREATE TABLE {ks}.lcs (k int PRIMARY KEY) WITH compaction = "
        "{'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 160, 'fanout_size': 10, "
        "'tombstone_threshold': 0.2, 'unchecked_tombstone_compaction': 'true', "
        "'bucket_low': 0.5}"
    )
    session.execute(
        f"CREATE TABLE {ks}.twcs (k int PRIMARY KEY) WITH compaction = "
        "{'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', "
        "'compaction_window_size': 1, 'min_threshold': 2, 'enabled': 'true'}"
    )


def test_renaming_a_missing_column_fails_in_the_column_lookup(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    session.execute(f"CREATE TABLE {ks}.t (k int, c int, PRIMARY KEY (k, c))")
    # RenameColumns' getExistingColumn fails before its IF EXISTS check is reached.
    for rename in ("RENAME nope TO x", "RENAME IF EXISTS nope TO x"):
        assert f"Undefined column name nope in table {ks}.t" in invalid_message(
            session, f"ALTER TABLE {ks}.t {rename}"
        ), rename
    session.execute(f"ALTER TABLE {ks}.t RENAME c TO c2")


def test_an_existing_table_ends_create_table_before_its_definition_is_checked(
    session: Session, keyspace: str
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY, v int)")
    # CreateTableStatement.apply looks the table up before it builds the new definition.
    session.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.t (k int, PRIMARY KEY (nope))")
    with pytest.raises(AlreadyExists):
        session.execute(f"CREATE TABLE {keyspace}.t (k int, PRIMARY KEY (nope))")
    columns = session.execute(
        "SELECT column_name FROM system_schema.columns "
        "WHERE keyspace_name = %s AND table_name = 't'",
        (keyspace,),
    )
    assert sorted(row.column_name for row in columns) == ["k", "v"]
