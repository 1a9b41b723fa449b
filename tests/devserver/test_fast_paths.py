"""The dev server's fast paths answer exactly as its general ones: kept INSERT plans of
prepared statements (quick value checks, statics, unset values, plans dropped by DDL) and
result rows built straight from storage for plain projections (checked against the general
row assembly, which a selector like ``writetime()`` forces)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, SimpleStatement

from cassflow.devserver import DevServer
from cassflow.protocol import (
    NEED_DATA,
    Connection,
    Envelope,
    ErrorMessage,
    Execute,
    Prepare,
    PreparedResult,
    Query,
    QueryParameters,
    Ready,
    Role,
    Startup,
    VoidResult,
)


@pytest.fixture
def table(session: Session, keyspace: str) -> Iterator[str]:
    name = f"{keyspace}.fast"
    session.execute(
        f"CREATE TABLE {name} (k int, c int, s text static, v text, n bigint, "
        "PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)"
    )
    yield name
    session.execute(f"DROP TABLE IF EXISTS {name}")


def test_prepared_inserts_with_statics_unset_and_batches(session: Session, table: str) -> None:
    insert = session.prepare(f"INSERT INTO {table} (k, c, s, v, n) VALUES (?, ?, ?, ?, ?)")
    session.execute(insert, (1, 1, "s1", "a", 10))
    session.execute(insert, (1, 2, UNSET_VALUE, "b", UNSET_VALUE))
    session.execute(insert, (1, 1, UNSET_VALUE, UNSET_VALUE, 11))  # keeps v = 'a'
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for c in range(3, 6):
        batch.add(insert, (2, c, f"s{c}", None, c))
    session.execute(batch)
    rows = sorted(tuple(r) for r in session.execute(f"SELECT k, c, s, v, n FROM {table}"))
    assert rows == [
        (1, 1, "s1", "a", 11),
        (1, 2, "s1", "b", None),
        (2, 3, "s5", None, 3),
        (2, 4, "s5", None, 4),
        (2, 5, "s5", None, 5),
    ]
    with pytest.raises(InvalidRequest, match="Invalid null value in condition for column k"):
        session.execute(insert, (None, 1, None, None, None))
    with pytest.raises(InvalidRequest, match="Invalid null value in condition for column c"):
        session.execute(insert, (3, None, None, None, None))


def test_a_prepared_insert_follows_the_table_through_ddl(session: Session, table: str) -> None:
    insert = session.prepare(f"INSERT INTO {table} (k, c, v) VALUES (?, ?, ?)")
    session.execute(insert, (1, 1, "before"))
    session.execute(f"ALTER TABLE {table} ADD extra int")
    session.execute(insert, (1, 2, "after"))  # re-prepared by the driver if need be
    with_extra = session.prepare(f"INSERT INTO {table} (k, c, v, extra) VALUES (?, ?, ?, ?)")
    session.execute(with_extra, (1, 3, "extra", 7))
    rows = sorted(tuple(r) for r in session.execute(f"SELECT c, v, extra FROM {table}"))
    assert rows == [(1, "before", None), (2, "after", None), (3, "extra", 7)]


def _receive(sock_recv: object, conn: Connection, count: int) -> list[Envelope]:
    answers: list[Envelope] = []
    while len(answers) < count:
        event = conn.next_event()
        if event is NEED_DATA:
            data = sock_recv()  # type: ignore[operator]
            assert data, "the server closed the connection"
            conn.receive_data(data)
            continue
        assert isinstance(event, Envelope)
        answers.append(event)
    return answers


@pytest.mark.devserver_only
@pytest.mark.parametrize(
    ("values", "error"),
    [
        ((b"\x00\x00\x00\x01", b"\x00\x00\x01", b"x"), "Expected 4 or 0 byte int"),
        ((b"\x00\x00\x00\x01", b"\x00\x00\x00\x02", b"\xff\xfe"), "validating value for v"),
        ((b"\x00\x00\x00\x01", b"\x00\x00\x00\x02", b"fine"), None),
        ((b"\x00\x00\x00\x01", b"\x00\x00\x00\x03", b""), None),
    ],
)
def test_bound_values_are_validated_as_before(values: tuple[bytes, ...], error: str | None) -> None:
    with (
        DevServer() as server,
        socket.create_connection((server.host, server.port), timeout=10) as sock,
    ):
        conn = Connection(Role.CLIENT, version=4)
        startup = Startup(options={"CQL_VERSION": "3.0.0"})
        sock.sendall(conn.send(Envelope(stream=0, message=startup)))
        assert isinstance(_receive(lambda: sock.recv(65536), conn, 1)[0].message, Ready)
        setup = [
            "CREATE KEYSPACE q WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            "CREATE TABLE q.t (k int, c int, v text, PRIMARY KEY (k, c))",
        ]
        for i, text in enumerate(setup):
            sock.sendall(conn.send(Envelope(stream=i + 1, message=Query(query=text))))
            _receive(lambda: sock.recv(65536), conn, 1)
        prepare = Prepare(query="INSERT INTO q.t (k, c, v) VALUES (?, ?, ?)")
        sock.sendall(conn.send(Envelope(stream=5, message=prepare)))
        prepared = _receive(lambda: sock.recv(65536), conn, 1)[0].message
        assert isinstance(prepared, PreparedResult)
        # Twice: once planned, once from the kept plan.
        for stream in (6, 7):
            execute = Execute(query_id=prepared.query_id, parameters=QueryParameters(values=values))
            sock.sendall(conn.send(Envelope(stream=stream, message=execute)))
            answer = _receive(lambda: sock.recv(65536), conn, 1)[0].message
            if error is None:
                assert isinstance(answer, VoidResult)
            else:
                assert isinstance(answer, ErrorMessage)
                assert error in answer.message


def _rows(session: Session, query: str, fetch_size: int) -> list[tuple[object, ...]]:
    statement = SimpleStatement(query, fetch_size=fetch_size)
    return [tuple(r) for r in session.execute(statement)]


def test_plain_projections_read_as_the_general_path(session: Session, table: str) -> None:
    insert = session.prepare(f"INSERT INTO {table} (k, c, s, v, n) VALUES (?, ?, ?, ?, ?)")
    for k in range(12):
        for c in range(k % 4):
            session.execute(insert, (k, c, f"s{k}", None if c == 1 else f"v{k}.{c}", k * c))
    session.execute(f"UPDATE {table} SET s = 'static only' WHERE k = 100")
    session.execute(f"DELETE v FROM {table} WHERE k = 3 AND c = 2")
    where = [
        "",
        " WHERE token(k) > -3000000000000000000 AND token(k) <= 4000000000000000000",
        " WHERE k = 3",
        " WHERE k IN (2, 100, 3)",
        " WHERE k = 3 AND c >= 1",
    ]
    for clause in where:
        for fetch_size in (2, 5000):
            plain = _rows(session, f"SELECT k, c, s, v, n FROM {table}{clause}", fetch_size)
            general = _rows(
                session, f"SELECT k, c, s, v, n, writetime(s) FROM {table}{clause}", fetch_size
            )
            assert plain == [row[:5] for row in general], clause
            star = session.execute(
                SimpleStatement(f"SELECT * FROM {table}{clause}", fetch_size=fetch_size)
            )
            assert [(r.k, r.c, r.s, r.v, r.n) for r in star] == plain, clause
            aliased = _rows(session, f"SELECT v AS x, k FROM {table}{clause}", fetch_size)
            assert aliased == [(row[3], row[0]) for row in plain], clause
    assert (100, None, "static only", None, None) in _rows(
        session, f"SELECT k, c, s, v, n FROM {table}", 3
    )


@pytest.mark.parametrize(
    ("columns", "key"),
    [
        ("k int, k2 text, c int, v text, n bigint", "PRIMARY KEY ((k, k2), c)"),
        ("k int, k2 text, v text, n bigint", "PRIMARY KEY ((k, k2))"),
    ],
)
def test_scans_without_statics_read_as_the_general_path(
    session: Session, keyspace: str, columns: str, key: str
) -> None:
    name = f"{keyspace}.nostatic"
    session.execute(f"CREATE TABLE {name} ({columns}, {key})")
    try:
        clustered = " c int" in columns
        names = "k, k2, c, v, n" if clustered else "k, k2, v, n"
        marks = ", ".join("?" * len(names.split(", ")))
        insert = session.prepare(f"INSERT INTO {name} ({names}) VALUES ({marks})")
        for k in range(15):
            for c in range(k % 3 + 1):
                v = None if (k + c) % 4 == 0 else f"v{k}.{c}"
                row = (k, f"p{k}", c, v, k * c) if clustered else (k, f"p{k}", v, k)
                session.execute(insert, row)
        session.execute(
            f"UPDATE {name} SET v = null, n = null WHERE k = 4 AND k2 = 'p4'"
            + (" AND c = 0" if clustered else "")
        )  # the row lives on through its marker
        clauses = ["", " WHERE token(k, k2) > -4000000000000000000 AND token(k, k2) <= 0"]
        for clause in clauses:
            for fetch_size in (3, 5000):
                plain = _rows(session, f"SELECT {names} FROM {name}{clause}", fetch_size)
                general = _rows(
                    session, f"SELECT {names}, writetime(v) FROM {name}{clause}", fetch_size
                )
                assert plain == [row[:-1] for row in general], clause
                assert len(plain) == (30 if clustered else 15) or clause
                star = session.execute(
                    SimpleStatement(f"SELECT * FROM {name}{clause}", fetch_size=fetch_size)
                )
                assert [tuple(getattr(r, c) for c in names.split(", ")) for r in star] == plain
                reordered = _rows(session, f"SELECT n, k FROM {name}{clause}", fetch_size)
                assert reordered == [(row[-1], row[0]) for row in plain], clause
    finally:
        session.execute(f"DROP TABLE IF EXISTS {name}")
