"""Group commit in the dev server: requests that arrive together share one SQLite transaction,
yet each statement applies or fails on its own, and nothing is acknowledged before it is
committed. Dev-server internals, so skipped when CASSFLOW_TEST_HOSTS is set."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cassandra.concurrent import execute_concurrent_with_args

from cassflow.devserver import DevServer
from cassflow.devserver._storage import Storage, StorageError
from cassflow.protocol import (
    NEED_DATA,
    Connection,
    Envelope,
    ErrorMessage,
    Query,
    Ready,
    Role,
    Startup,
    VoidResult,
)
from clusters import connect

pytestmark = pytest.mark.devserver_only

KEYSPACE_DDL = (
    "CREATE KEYSPACE g WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
)
TABLE_DDL = "CREATE TABLE g.t (k int PRIMARY KEY, v int)"


def _receive(sock: socket.socket, conn: Connection, count: int) -> list[Envelope]:
    answers: list[Envelope] = []
    while len(answers) < count:
        event = conn.next_event()
        if event is NEED_DATA:
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            conn.receive_data(data)
            continue
        assert isinstance(event, Envelope)
        answers.append(event)
    return answers


@contextmanager
def _raw_client(server: DevServer, version: int = 4) -> Iterator[tuple[socket.socket, Connection]]:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        conn = Connection(Role.CLIENT, version=version)
        sock.sendall(
            conn.send(Envelope(stream=0, message=Startup(options={"CQL_VERSION": "3.0.0"})))
        )
        [ready] = _receive(sock, conn, 1)
        assert isinstance(ready.message, Ready)
        yield sock, conn


@pytest.mark.parametrize("version", [4, 5])  # v5: the answers share segments
def test_a_failing_statement_among_pipelined_ones_leaves_the_others_applied(version: int) -> None:
    with DevServer() as server:
        cluster = connect(([server.host], server.port))
        session = cluster.connect()
        session.execute(KEYSPACE_DDL)
        session.execute(TABLE_DDL)
        requests: list[str] = []
        good: set[int] = set()
        for k in range(60):
            if k % 10 == 3:
                requests.append(f"INSERT INTO g.t (k, v) VALUES (null, {k})")
            else:
                requests.append(f"INSERT INTO g.t (k, v) VALUES ({k}, {k * 2})")
                good.add(k)
        # A batch is atomic: its good half is undone with its bad half, and only it.
        requests.insert(
            30,
            "BEGIN UNLOGGED BATCH INSERT INTO g.t (k, v) VALUES (1000, 1); "
            "INSERT INTO g.t (k, v) VALUES (null, 2) APPLY BATCH",
        )
        with _raw_client(server, version) as (sock, conn):
            # One write: the requests reach the server together and run as one group.
            burst = b"".join(
                conn.send(Envelope(stream=i + 1, message=Query(query=q)))
                for i, q in enumerate(requests)
            )
            sock.sendall(burst)
            answers = _receive(sock, conn, len(requests))
        by_stream = {a.stream: a.message for a in answers}
        assert sorted(by_stream) == list(range(1, len(requests) + 1))
        for i, query in enumerate(requests):
            message = by_stream[i + 1]
            if "null" in query:
                assert isinstance(message, ErrorMessage), query
                assert "null" in message.message
            else:
                assert isinstance(message, VoidResult), query
        rows = {row.k: row.v for row in session.execute("SELECT k, v FROM g.t")}
        assert rows == {k: k * 2 for k in good}
        cluster.shutdown()


def test_storage_group_transaction_keeps_statements_apart(tmp_path: Path) -> None:
    store = Storage(tmp_path / "db.sqlite3")
    table = "00000000-0000-0000-0000-000000000001"
    store.begin()
    assert store.in_transaction
    with pytest.raises(StorageError):
        store.begin()
    store.write(table, 1, b"a", b"", {"v": b"1"}, timestamp=10, row_marker=True)

    def failing_statement() -> None:
        with store.transaction():
            store.write(table, 2, b"b", b"", {"v": b"2"}, timestamp=10, row_marker=True)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_statement()
    store.write(table, 3, b"c", b"", {"v": b"3"}, timestamp=10, row_marker=True)
    store.commit()
    assert not store.in_transaction
    with pytest.raises(StorageError):
        store.commit()
    store.close()
    reopened = Storage(tmp_path / "db.sqlite3")
    assert [row.pk for row in reopened.scan(table)] == [b"a", b"c"]
    reopened.close()


def _start(data_dir: Path) -> tuple[subprocess.Popen[str], str, int]:
    script = Path(sys.executable).parent / "cassflow"
    process = subprocess.Popen(
        [str(script), "dev", "--port", "0", "--data", str(data_dir)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        found = re.search(r"listening on ([\d.]+):(\d+)", line)
        if found:
            return process, found[1], int(found[2])
    process.kill()
    process.wait(timeout=10)
    raise AssertionError("cassflow dev did not start")


def test_a_kill_after_the_acknowledgement_loses_no_write(tmp_path: Path) -> None:
    process, host, port = _start(tmp_path)
    try:
        cluster = connect(([host], port))
        session = cluster.connect()
        session.execute(KEYSPACE_DDL)
        session.execute(TABLE_DDL)
        insert = session.prepare("INSERT INTO g.t (k, v) VALUES (?, ?)")
        results = execute_concurrent_with_args(
            session, insert, [(k, -k) for k in range(600)], concurrency=100
        )
        assert all(ok for ok, _ in results)
        process.kill()  # SIGKILL: no shutdown, no final commit
        process.wait(timeout=30)
        cluster.shutdown()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    process, host, port = _start(tmp_path)
    try:
        cluster = connect(([host], port))
        rows = {row.k: row.v for row in cluster.connect().execute("SELECT k, v FROM g.t")}
        assert rows == {k: -k for k in range(600)}
        cluster.shutdown()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_failed_group_commit_acknowledges_nothing_and_the_server_goes_on() -> None:
    with DevServer() as server:
        cluster = connect(([server.host], server.port))
        session = cluster.connect()
        session.execute(KEYSPACE_DDL)
        session.execute(TABLE_DDL)
        storage = server._storage
        assert storage is not None
        real_commit = storage.commit

        def failing_commit() -> None:  # what a full disk does: the commit is refused
            storage.rollback()
            raise sqlite3.OperationalError("database or disk is full")

        storage.commit = failing_commit  # type: ignore[method-assign]
        try:
            with _raw_client(server) as (sock, conn):
                insert = Query(query="INSERT INTO g.t (k, v) VALUES (1, 1)")
                sock.sendall(conn.send(Envelope(stream=1, message=insert)))
                # No answer: the connection is closed instead of acknowledging a lost write.
                assert sock.recv(65536) == b""
        finally:
            storage.commit = real_commit  # type: ignore[method-assign]
        session.execute("INSERT INTO g.t (k, v) VALUES (2, 2)")
        rows = {row.k: row.v for row in session.execute("SELECT k, v FROM g.t")}
        assert rows == {2: 2}
        cluster.shutdown()


def test_storage_rollback_forgets_the_group(tmp_path: Path) -> None:
    store = Storage(tmp_path / "db.sqlite3")
    table = "00000000-0000-0000-0000-000000000002"
    store.write(table, 1, b"a", b"", {"v": b"1"}, timestamp=10, row_marker=True)
    store.begin()
    store.write(table, 2, b"b", b"", {"v": b"2"}, timestamp=10, row_marker=True)
    store.delete_partition(table, 1, b"a", timestamp=20)
    store.rollback()
    assert not store.in_transaction
    with pytest.raises(StorageError):
        store.rollback()
    store.write(table, 1, b"a", b"", {"v": b"3"}, timestamp=15)  # the deletion was undone
    assert [(row.pk, row.cells["v"].value) for row in store.scan(table)] == [(b"a", b"3")]
    store.close()
