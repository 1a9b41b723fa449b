"""``classify``: verb, keyspace and table as written, bind markers, LWT."""

from __future__ import annotations

import pytest

from cassflow.cql import Classification, Verb, classify, parse_statement


@pytest.mark.parametrize(
    ("text", "verb", "keyspace", "table"),
    [
        ("SELECT * FROM ks.t", Verb.SELECT, "ks", "t"),
        ("SELECT * FROM t", Verb.SELECT, None, "t"),
        ("INSERT INTO t (a) VALUES (1)", Verb.MODIFY, None, "t"),
        ("UPDATE ks.t SET a = 1 WHERE k = 1", Verb.MODIFY, "ks", "t"),
        ("DELETE FROM t WHERE k = 1", Verb.MODIFY, None, "t"),
        ("TRUNCATE ks.t", Verb.MODIFY, "ks", "t"),
        ("USE ks", Verb.USE, "ks", None),
        ("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy'}", Verb.DDL, "ks", None),
        ("DROP KEYSPACE ks", Verb.DDL, "ks", None),
        ("CREATE TABLE ks.t (k int PRIMARY KEY)", Verb.DDL, "ks", "t"),
        ("ALTER TABLE t ADD v int", Verb.DDL, None, "t"),
        ("DROP TABLE t", Verb.DDL, None, "t"),
        ("CREATE INDEX ON ks.t (v)", Verb.DDL, "ks", "t"),
        ("DROP INDEX ks.i", Verb.DDL, "ks", None),
        ("CREATE TYPE ks.a (x int)", Verb.DDL, "ks", None),
        (
            "CREATE MATERIALIZED VIEW ks.v AS SELECT * FROM ks.t PRIMARY KEY (k)",
            Verb.DDL,
            "ks",
            "v",
        ),
        ("DROP FUNCTION ks.f", Verb.DDL, "ks", None),
        ("CREATE ROLE r", Verb.AUTH, None, None),
        ("LIST USERS", Verb.AUTH, None, None),
        ("GRANT SELECT ON ks.t TO r", Verb.AUTH, "ks", "t"),
        ("GRANT SELECT ON KEYSPACE ks TO r", Verb.AUTH, "ks", None),
        ("GRANT r1 TO r2", Verb.AUTH, None, None),
        ("DESCRIBE TABLE ks.t", Verb.OTHER, "ks", "t"),
        ("DESCRIBE KEYSPACES", Verb.OTHER, None, None),
    ],
)
def test_verbs_and_targets(text: str, verb: Verb, keyspace: str | None, table: str | None) -> None:
    result = classify(parse_statement(text))
    assert (result.verb, result.keyspace, result.table) == (verb, keyspace, table)


def test_bind_markers_and_names() -> None:
    result = classify(
        parse_statement("SELECT * FROM t WHERE a = ? AND b IN :bs AND c = :c LIMIT ?")
    )
    assert result.bind_count == 4
    assert result.bind_names == (None, "bs", "c", None)


def test_batch_lists_every_table_and_counts_markers_across_it() -> None:
    result = classify(
        parse_statement(
            "BEGIN BATCH USING TIMESTAMP ? INSERT INTO ks.a (k) VALUES (?); "
            "UPDATE b SET v = :v WHERE k = ? IF v = ?; INSERT INTO ks.a (k) VALUES (?) APPLY BATCH"
        )
    )
    assert result == Classification(
        verb=Verb.MODIFY,
        tables=(("ks", "a"), (None, "b")),
        bind_count=6,
        bind_names=(None, None, "v", None, None, None),
        conditional=True,
    )
    single = classify(parse_statement("BEGIN BATCH INSERT INTO a (k) VALUES (1) APPLY BATCH"))
    assert (single.keyspace, single.table, single.conditional) == (None, "a", False)


@pytest.mark.parametrize(
    ("text", "conditional"),
    [
        ("INSERT INTO t (k) VALUES (1) IF NOT EXISTS", True),
        ("INSERT INTO t (k) VALUES (1)", False),
        ("UPDATE t SET v = 1 WHERE k = 1 IF EXISTS", True),
        ("UPDATE t SET v = 1 WHERE k = 1 IF v = 2", True),
        ("DELETE FROM t WHERE k = 1 IF EXISTS", True),
        ("DELETE FROM t WHERE k = 1", False),
        ("SELECT * FROM t", False),
    ],
)
def test_conditional(text: str, conditional: bool) -> None:
    assert classify(parse_statement(text)).conditional is conditional
