"""The rules Cassandra 4.1 applies to INSERT, UPDATE and DELETE, through the driver: what
each refuses in its WHERE clause (with the modification's own messages, in Cassandra's
order), USING TTL / TIMESTAMP with null and unset bound values, and range deletions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.cqltypes import CounterColumnType
from cassandra.query import UNSET_VALUE

from invalid import refused


@pytest.fixture
def ws(cluster: Cluster, keyspace: str) -> Iterator[Session]:
    # A session of its own: the shared one must not keep a keyspace that is dropped after.
    session = cluster.connect(keyspace)
    session.execute("CREATE TABLE t (p int, c int, s int static, v int, PRIMARY KEY (p, c))")
    session.execute(
        "CREATE TABLE t2 (p int, q int, c int, d int, v int, PRIMARY KEY ((p, q), c, d))"
    )
    session.execute(
        "CREATE TABLE ttl (p int, c int, v int, PRIMARY KEY (p, c)) "
        "WITH default_time_to_live = 1000"
    )
    session.execute("CREATE TABLE cnt (p int PRIMARY KEY, n counter)")
    yield session
    session.shutdown()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            "UPDATE t SET v = 1 WHERE token(p) = 1 AND c = 1",
            "The token function cannot be used in WHERE clauses for UPDATE statements",
        ),
        (
            "DELETE FROM t WHERE token(p) > 1",
            "The token function cannot be used in WHERE clauses for DELETE statements",
        ),
        ("DELETE FROM t2 WHERE p = 1", "Some partition key parts are missing: q"),
        (
            "UPDATE t SET v = 1 WHERE (p, c) = (1, 1)",
            "Multi-column relations can only be applied to clustering columns but was applied "
            "to: p",
        ),
        (
            "UPDATE t2 SET v = 1 WHERE q = 1 AND c = 1 AND d = 1",
            "Some partition key parts are missing: p",
        ),
        (
            "UPDATE t SET v = 1 WHERE p > 1 AND c = 1",
            "Only EQ and IN relation are supported on the partition key (unless you use the "
            "token() function) for UPDATE statements",
        ),
        (
            "DELETE FROM t WHERE p > 1",
            "Only EQ and IN relation are supported on the partition key (unless you use the "
            "token() function) for DELETE statements",
        ),
        (
            "UPDATE t SET v = 1 WHERE p = 1 AND c > 1",
            "Slice restrictions are not supported on the clustering columns in UPDATE statements",
        ),
        (
            "UPDATE t2 SET v = 1 WHERE p = 1 AND q = 1 AND (c, d) > (1, 1)",
            "Slice restrictions are not supported on the clustering columns in UPDATE statements",
        ),
        (
            "UPDATE t2 SET v = 1 WHERE p = 1 AND q = 1 AND c = 1",
            "Some clustering keys are missing: d",
        ),
        # The clustering columns are checked before the other columns.
        ("UPDATE t SET v = 1 WHERE p = 1 AND v = 1", "Some clustering keys are missing: c"),
        # Cassandra's message ends with a space.
        (
            "UPDATE t SET v = 1 WHERE p = 1 AND c = 1 AND v = 1",
            "Non PRIMARY KEY columns found in where clause: v ",
        ),
        (
            "DELETE FROM t WHERE p = 1 AND v = 1",
            "Non PRIMARY KEY columns found in where clause: v ",
        ),
        (
            "DELETE v FROM t WHERE p = 1 AND c > 2",
            "Range deletions are not supported for specific columns",
        ),
        ("DELETE v FROM t WHERE p = 1", "Range deletions are not supported for specific columns"),
        (
            "DELETE v FROM t2 WHERE p = 1 AND q = 1 AND c = 1",
            "Range deletions are not supported for specific columns",
        ),
        (
            "UPDATE t SET s = 1 WHERE p = 1 AND c = 1",
            "Invalid restrictions on clustering columns since the UPDATE statement modifies "
            "only static columns",
        ),
        (
            "DELETE s FROM t WHERE p = 1 AND c > 1",
            "Invalid restrictions on clustering columns since the DELETE statement modifies "
            "only static columns",
        ),
    ],
)
def test_where_refusals(ws: Session, statement: str, message: str) -> None:
    refused(ws, statement, message)


def test_range_and_static_deletions_apply(ws: Session) -> None:
    for c in range(5):
        ws.execute("INSERT INTO t (p, c, s, v) VALUES (1, %s, 7, %s)", (c, c))
    ws.execute("DELETE FROM t WHERE p = 1 AND c > 2")
    ws.execute("DELETE FROM t WHERE p = 1 AND c >= 0 AND c < 1")
    ws.execute("DELETE s FROM t WHERE p = 1")
    rows = ws.execute("SELECT c, s, v FROM t WHERE p = 1")
    assert [tuple(r) for r in rows] == [(1, None, 1), (2, None, 2)]


def test_null_and_unset_ttl(ws: Session) -> None:
    insert = ws.prepare("INSERT INTO ttl (p, c, v) VALUES (?, ?, ?) USING TTL ?")
    ws.execute(insert, (1, 1, 1, None))  # null: no TTL, not even the table's default
    ws.execute(insert, (1, 2, 1, UNSET_VALUE))  # unset: the table's default
    ws.execute(insert, (1, 3, 1, 0))  # 0: no TTL
    ws.execute(insert, (1, 4, 1, 50))
    ttls = [r[0] for r in ws.execute("SELECT ttl(v) FROM ttl WHERE p = 1")]
    assert ttls[0] is None
    assert ttls[2] is None
    assert 990 <= ttls[1] <= 1000
    assert 40 <= ttls[3] <= 50


def test_null_and_unset_timestamp(ws: Session) -> None:
    insert = ws.prepare("INSERT INTO t (p, c, v) VALUES (?, ?, ?) USING TIMESTAMP ?")
    _refused_prepared(ws, insert, (2, 1, 1, None), "Invalid null value of timestamp")
    ws.execute(insert, (2, 1, 1, UNSET_VALUE))  # unset: the current time
    ws.execute(insert, (2, 2, 1, 1234))
    times = [r[0] for r in ws.execute("SELECT writetime(v) FROM t WHERE p = 2")]
    assert times[0] > 1_500_000_000_000_000
    assert times[1] == 1234
    delete = ws.prepare("DELETE FROM t USING TIMESTAMP ? WHERE p = ? AND c = ?")
    _refused_prepared(ws, delete, (None, 2, 2), "Invalid null value of timestamp")
    ws.execute(delete, (1233, 2, 2))  # older than the row: it stays
    assert ws.execute("SELECT v FROM t WHERE p = 2 AND c = 2").one() is not None
    batch = ws.prepare(
        "BEGIN BATCH USING TIMESTAMP ? INSERT INTO t (p, c, v) VALUES (3, 1, 1) APPLY BATCH"
    )
    _refused_prepared(ws, batch, (None,), "Invalid null value of timestamp")


def _refused_prepared(
    session: Session, statement: object, values: tuple[object, ...], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        session.execute(statement, values)  # type: ignore[arg-type]


def test_counter_increment_is_typed_counter(ws: Session) -> None:
    update = ws.prepare("UPDATE cnt SET n = n + ? WHERE p = ?")
    assert update.column_metadata[0].type is CounterColumnType
    ws.execute(update, (3, 1))
    assert ws.execute("SELECT n FROM cnt WHERE p = 1").one().n == 3
    refused(
        ws,
        "UPDATE cnt SET n = n + 1.5 WHERE p = 1",
        'Invalid FLOAT constant (1.5) for "n" of type counter',
    )


def test_null_and_unset_keys(ws: Session) -> None:
    """An INSERT's key values are read as a WHERE clause's EQ relations: the same words."""
    insert = ws.prepare("INSERT INTO t (p, c, v) VALUES (?, ?, ?)")
    for values, message in (
        ((None, 1, 1), "Invalid null value in condition for column p"),
        ((1, None, 1), "Invalid null value in condition for column c"),
        ((1, UNSET_VALUE, 1), "Invalid unset value for column c"),
    ):
        _refused_prepared(ws, insert, values, message)
    refused(
        ws,
        "INSERT INTO t (p, c, v) VALUES (1, null, 1)",
        "Invalid null value in condition for column c",
    )
    refused(ws, "INSERT INTO t JSON '{\"c\": 1}'", "Invalid null value in condition for column p")
    refused(ws, "INSERT INTO t JSON '{\"c\": 1}' DEFAULT UNSET", "Invalid unset value for column p")
    update = ws.prepare("UPDATE t SET v = 1 WHERE p = ? AND c = ?")
    _refused_prepared(ws, update, (1, None), "Invalid null value in condition for column c")
    _refused_prepared(ws, update, (1, UNSET_VALUE), "Invalid unset value for column c")


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("INSERT INTO t (p, c, v, v) VALUES (1, 1, 1, 2)", "The column names contains duplicates"),
        ("INSERT INTO t (p, c, c, v) VALUES (1, 1, 1, 2)", "The column names contains duplicates"),
        ("INSERT INTO t (p, c, v) VALUES (1, 1, 1, 2)", "Unmatched column names/values"),
        ("INSERT INTO t (p, v) VALUES (1, 1)", "Some clustering keys are missing: c"),
        ("INSERT INTO t (c, v) VALUES (1, 1)", "Some partition key parts are missing: p"),
        ("INSERT INTO t (p, s, v) VALUES (1, 1, 1)", "Some clustering keys are missing: c"),
        (
            "INSERT INTO t (p, c, v) VALUES (1, 1, 1) USING TTL -1",
            "A TTL must be greater or equal to 0, but was -1",
        ),
        (
            "INSERT INTO t (p, c, v) VALUES (1, 1, 1) USING TTL 630720001",
            "ttl is too large. requested (630720001) maximum (630720000)",
        ),
        (
            "INSERT INTO cnt (p, n) VALUES (1, 1)",
            "INSERT statements are not allowed on counter tables, use UPDATE instead",
        ),
    ],
)
def test_insert_refusals(ws: Session, statement: str, message: str) -> None:
    refused(ws, statement, message)


def test_static_only_insert_writes_the_static_row(ws: Session) -> None:
    ws.execute("INSERT INTO t (p, s) VALUES (9, 4)")
    assert [tuple(r) for r in ws.execute("SELECT p, c, s, v FROM t WHERE p = 9")] == [
        (9, None, 4, None)
    ]
