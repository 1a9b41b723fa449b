"""Batch size and spread warnings (Cassandra's ``BatchStatement.verifyBatchSize`` and
``verifyBatchType``), seen by the driver in ``ResponseFuture.warnings``.

Cassandra's defaults: warn over 5 KiB, fail over 50 KiB (batches of more than one partition
only), warn for non-LOGGED batches over more than 10 partitions.
"""

from __future__ import annotations

import re

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from cassflow.devserver._batch_limits import _java_set

_SIZE_WARNING = re.compile(
    r"Batch for \[(?P<tables>[^\]]+)\] is of size (?P<size>\d+), exceeding specified "
    r"threshold of 5120 by (?P<by>\d+)\."
)


def _warnings(session: Session, statement: object) -> list[str]:
    future = session.execute_async(statement)
    future.result()
    return list(future.warnings or [])


def _text_batch(kind: str, statements: list[str]) -> SimpleStatement:
    body = " ".join(s + ";" for s in statements)
    return SimpleStatement(f"BEGIN {kind}BATCH {body} APPLY BATCH")


def _two_partitions(table: str, value_size: int) -> SimpleStatement:
    """A LOGGED batch writing a ``value_size``-character text to partitions 1 and 2."""
    value = "x" * value_size
    return _text_batch(
        "", [f"INSERT INTO {table} (p, c, v) VALUES ({p}, 1, '{value}')" for p in (1, 2)]
    )


@pytest.fixture
def table(session: Session, keyspace: str) -> str:
    session.execute(f"CREATE TABLE {keyspace}.t (p int, c int, v text, PRIMARY KEY (p, c))")
    return f"{keyspace}.t"


def test_a_batch_over_5_kib_across_partitions_warns_with_its_size(
    session: Session, table: str
) -> None:
    warnings = _warnings(session, _two_partitions(table, 3000))
    assert len(warnings) == 1
    match = _SIZE_WARNING.fullmatch(warnings[0])
    assert match is not None, warnings
    assert match["tables"] == table
    size = int(match["size"])
    # Two 3000-byte cells plus Cassandra's per-row and per-cell overheads.
    assert 6000 < size < 6300
    assert int(match["by"]) == size - 5120
    assert session.execute(f"SELECT count(*) FROM {table}").one()[0] == 2


def test_a_prepared_batch_message_warns_too(session: Session, table: str) -> None:
    insert = session.prepare(f"INSERT INTO {table} (p, c, v) VALUES (?, ?, ?)")
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for p in range(3):
        batch.add(insert, (p, 0, "y" * 2000))
    warnings = _warnings(session, batch)
    assert len(warnings) == 1
    assert _SIZE_WARNING.fullmatch(warnings[0]) is not None


def test_a_batch_under_the_threshold_has_no_warning(session: Session, table: str) -> None:
    assert _warnings(session, _two_partitions(table, 2000)) == []


def test_a_batch_over_50_kib_across_partitions_fails_and_writes_nothing(
    session: Session, table: str
) -> None:
    with pytest.raises(InvalidRequest, match="Batch too large"):
        session.execute(_two_partitions(table, 30000))
    assert session.execute(f"SELECT count(*) FROM {table}").one()[0] == 0


def test_a_large_single_partition_batch_is_neither_warned_nor_refused(
    session: Session, table: str
) -> None:
    big = "s" * 30000
    batch = _text_batch(
        "", [f"INSERT INTO {table} (p, c, v) VALUES (7, {c}, '{big}')" for c in (1, 2)]
    )
    assert _warnings(session, batch) == []
    assert session.execute(f"SELECT count(*) FROM {table} WHERE p = 7").one()[0] == 2


def test_an_unlogged_batch_over_ten_partitions_warns(session: Session, table: str) -> None:
    def batch(kind: str, partitions: int) -> SimpleStatement:
        return _text_batch(
            kind, [f"INSERT INTO {table} (p, c) VALUES ({p}, 0)" for p in range(partitions)]
        )

    assert _warnings(session, batch("UNLOGGED ", 10)) == []
    assert _warnings(session, batch("UNLOGGED ", 11)) == [
        f"Unlogged batch covering 11 partitions detected against table [{table}]. You should "
        "use a logged batch for atomicity, or asynchronous writes for performance."
    ]
    assert _warnings(session, batch("", 11)) == []


def test_the_unlogged_warning_names_every_table(
    session: Session, keyspace: str, table: str
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.u (p int PRIMARY KEY, v int)")
    statements = [f"INSERT INTO {table} (p, c) VALUES ({p}, 0)" for p in range(6)]
    statements += [f"INSERT INTO {keyspace}.u (p, v) VALUES ({p}, 0)" for p in range(6, 12)]
    warnings = _warnings(session, _text_batch("UNLOGGED ", statements))
    assert len(warnings) == 1
    match = re.fullmatch(
        r"Unlogged batch covering 12 partitions detected against tables \[(.+)\]\. You should "
        r"use a logged batch for atomicity, or asynchronous writes for performance\.",
        warnings[0],
    )
    assert match is not None, warnings
    assert set(match[1].split(", ")) == {table, f"{keyspace}.u"}


def test_a_counter_batch_over_ten_partitions_warns(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.hits (p int PRIMARY KEY, n counter)")
    statements = [f"UPDATE {keyspace}.hits SET n = n + 1 WHERE p = {p}" for p in range(11)]
    warnings = _warnings(session, _text_batch("COUNTER ", statements))
    assert warnings == [
        f"Unlogged batch covering 11 partitions detected against table [{keyspace}.hits]. You "
        "should use a logged batch for atomicity, or asynchronous writes for performance."
    ]


def test_a_logged_batch_on_a_table_without_gc_grace_warns(session: Session, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.nogc (p int PRIMARY KEY, v int) WITH gc_grace_seconds = 0"
    )
    statement = f"INSERT INTO {keyspace}.nogc (p, v) VALUES (1, 1)"
    assert _warnings(session, _text_batch("", [statement])) == [
        f"Executing a LOGGED BATCH on table [{keyspace}.nogc], configured with a "
        "gc_grace_seconds of 0. The gc_grace_seconds is used to TTL batchlog entries, so "
        "setting gc_grace_seconds too low on tables involved in an atomic batch might cause "
        "batchlog entries to expire before being replayed."
    ]
    assert _warnings(session, _text_batch("UNLOGGED ", [statement])) == []


def test_table_sets_print_in_java_hash_set_order() -> None:
    # Java: String.hashCode("b") = 98, ("a") = 97, ("q") = 113 -> buckets 2, 1, 1 of 16.
    assert _java_set(["b", "a", "q"]) == "[a, q, b]"
    assert _java_set(["a", "a"]) == "[a]"


def test_collections_are_sized_a_cell_per_element(session: Session, keyspace: str) -> None:
    """A set of 100 20-byte texts is 100 cells in Cassandra (16 bytes of timestamp, TTL and
    deletion time each, plus the element as the cell path), not one 2.4 KB value."""
    session.execute(f"CREATE TABLE {keyspace}.tags (p int, c int, s set<text>, PRIMARY KEY (p, c))")
    elements = ", ".join(f"'{i:020d}'" for i in range(100))
    batch = _text_batch(
        "",
        [f"INSERT INTO {keyspace}.tags (p, c, s) VALUES ({p}, 1, {{{elements}}})" for p in (1, 2)],
    )
    warnings = _warnings(session, batch)
    assert len(warnings) == 1
    match = _SIZE_WARNING.fullmatch(warnings[0])
    assert match is not None, warnings
    # Per partition: 100 cells of 36 bytes, the set's deletion time, the row and update.
    assert 7200 < int(match["size"]) < 7450
