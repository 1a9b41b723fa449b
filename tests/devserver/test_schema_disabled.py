"""Schema statements a stock Cassandra 4.1 refuses: materialized views, SASI indexes and
user-defined functions (so aggregates) are switched off in its default ``cassandra.yaml``, so
a node answers with the texts below, and drops of views, functions or aggregates (none can
exist) as drops of missing objects."""

from __future__ import annotations

from cassandra.cluster import Session

from invalid import invalid_message


def test_materialized_views_are_disabled(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.base (k int PRIMARY KEY, v int)")
    assert "Materialized views are disabled. Enable in cassandra.yaml to use." in invalid_message(
        session,
        f"CREATE MATERIALIZED VIEW {keyspace}.by_v AS SELECT * FROM {keyspace}.base "
        "WHERE v IS NOT NULL AND k IS NOT NULL PRIMARY KEY (v, k)",
    )
    assert f"Materialized view '{keyspace}.by_v' doesn't exist" in invalid_message(
        session, f"DROP MATERIALIZED VIEW {keyspace}.by_v"
    )
    session.execute(f"DROP MATERIALIZED VIEW IF EXISTS {keyspace}.by_v")
    assert f"Materialized view '{keyspace}.by_v' doesn't exist" in invalid_message(
        session, f"ALTER MATERIALIZED VIEW {keyspace}.by_v WITH comment = 'x'"
    )


def test_sasi_indexes_are_disabled(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.sasi (k int PRIMARY KEY, v text)")
    assert "SASI indexes are disabled. Enable in cassandra.yaml to use." in invalid_message(
        session,
        f"CREATE CUSTOM INDEX ON {keyspace}.sasi (v) "
        "USING 'org.apache.cassandra.index.sasi.SASIIndex' WITH OPTIONS = {'mode': 'CONTAINS'}",
    )


def test_user_defined_functions_are_disabled(session: Session, keyspace: str) -> None:
    create = (
        f"FUNCTION {keyspace}.twice (a int) RETURNS NULL ON NULL INPUT RETURNS int "
        "LANGUAGE java AS 'return a * 2;'"
    )
    assert (
        "User-defined functions are disabled in cassandra.yaml - set "
        "user_defined_functions_enabled=true to enable"
    ) in invalid_message(session, f"CREATE {create}")
    assert "Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives" in invalid_message(
        session, f"CREATE OR REPLACE {create.replace('FUNCTION', 'FUNCTION IF NOT EXISTS', 1)}"
    )
    assert f"Function '{keyspace}.twice' doesn't exist" in invalid_message(
        session, f"DROP FUNCTION {keyspace}.twice"
    )
    assert f"Function '{keyspace}.twice(int, text)' doesn't exist" in invalid_message(
        session, f"DROP FUNCTION {keyspace}.twice(int, text)"
    )
    session.execute(f"DROP FUNCTION IF EXISTS {keyspace}.twice")


def test_aggregates_find_no_state_function(session: Session, keyspace: str) -> None:
    # A user-defined aggregate needs a user-defined state function, and none can exist.
    assert f"State function {keyspace}.acc(int, int) doesn't exist" in invalid_message(
        session, f"CREATE AGGREGATE {keyspace}.total (int) SFUNC acc STYPE int INITCOND 0"
    )
    assert "Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives" in invalid_message(
        session, f"CREATE OR REPLACE AGGREGATE IF NOT EXISTS {keyspace}.t (int) SFUNC a STYPE int"
    )
    assert "State type 'frozen<list<int>>' cannot be frozen" in invalid_message(
        session, f"CREATE AGGREGATE {keyspace}.t (int) SFUNC a STYPE frozen<list<int>>"
    )
    assert "Keyspace 'no_such_keyspace' doesn't exist" in invalid_message(
        session, "CREATE AGGREGATE no_such_keyspace.t (int) SFUNC a STYPE int"
    )
    assert f"Aggregate '{keyspace}.total(int)' doesn't exist" in invalid_message(
        session, f"DROP AGGREGATE {keyspace}.total (int)"
    )
    session.execute(f"DROP AGGREGATE IF EXISTS {keyspace}.total")
