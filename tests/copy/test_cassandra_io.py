"""The Cassandra source and sink through the unmodified driver, against the dev server (or the
cluster named by CASSFLOW_TEST_HOSTS): what is written reads back exactly, token-range slices
read every row once, drift policies, bad rows, retries under injected faults, counters.

Rows are checked with the fixtures' own driver session, not with the code under test.
"""

from __future__ import annotations

import itertools
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from cassandra.cluster import Session
from cassandra.cqltypes import Int32Type, LongType, UTF8Type
from cassandra.query import BatchStatement

from cassflow.copy._cassandra import CassandraSink, CassandraSource, default_splits
from cassflow.copy._connect import CassandraConnection
from cassflow.copy._model import Chunk, CopyError, DriftPolicy, Field
from cassflow.copy._retry import Backoff, RetryExhaustedError
from cassflow.copy._throttle import AimdThrottle

FAST = Backoff(base=0.001, cap=0.01)


@pytest.fixture(scope="module")
def connection(contact: tuple[list[str], int]) -> Iterator[CassandraConnection]:
    hosts, port = contact
    with CassandraConnection("test", hosts=hosts, port=port, keyspace="unused") as conn:
        yield conn


def rows_of(session: Session, query: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(query)]


def write(sink: CassandraSink, columns: tuple[str, ...], rows: list[tuple[Any, ...]], **kw: Any):
    chunk = Chunk(columns, "test.csv", rows=rows, lines=list(range(2, len(rows) + 2)), **kw)
    return sink.open_slice("s1").write(chunk)


# --- write, read back ------------------------------------------------------------------------


WIDE = """CREATE TABLE {ks}.wide (
    region text, shard int, seq int, name text, score double, amount decimal, tags set<text>,
    attrs map<text, int>, items list<int>, at timestamp, ref uuid, raw blob,
    PRIMARY KEY ((region, shard), seq))"""
WIDE_COLUMNS = (
    "region",
    "shard",
    "seq",
    "name",
    "score",
    "amount",
    "tags",
    "attrs",
    "items",
    "at",
    "ref",
    "raw",
)


def wide_rows() -> list[tuple[Any, ...]]:
    """50 partitions of 5 rows, then 40 partitions of one row."""
    at = datetime(2024, 5, 17, 8, 30, 15, 123000, tzinfo=UTC).replace(tzinfo=None)
    rows = []
    for p in range(90):
        for seq in range(5 if p < 50 else 1):
            rows.append(
                (
                    f"r{p % 7}",
                    p,
                    seq,
                    f"name {p}/{seq} é",
                    p + seq / 8,
                    Decimal(f"{p}.{seq:02d}"),
                    {f"t{seq}", "all"},
                    {"a": p, "b": seq},
                    [seq, p, seq],
                    at,
                    uuid.UUID(int=p * 10 + seq),
                    bytes([p, seq, 0, 255]),
                )
            )
    return rows


def test_written_rows_read_back_exactly_with_batches_per_partition(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(WIDE.format(ks=keyspace))
    rows = wide_rows()
    sink = CassandraSink(connection, keyspace, "wide", backoff=FAST, batch_mode="partition")
    fields = [Field(c) for c in WIDE_COLUMNS]
    drift = sink.prepare(fields, DriftPolicy.FAIL)
    assert drift.extra == drift.missing == drift.added == ()

    result = write(sink, WIDE_COLUMNS, rows)

    assert result.written == len(rows)
    assert result.bad == []
    stored = rows_of(session, f"SELECT {', '.join(WIDE_COLUMNS)} FROM {keyspace}.wide")
    assert sorted(_plain(r) for r in stored) == sorted(_plain(r) for r in rows)
    # 50 partitions of 5 rows went as one batch each; 40 single-row partitions as statements.
    assert sink.stats.batches == 50
    assert sink.stats.batch_rows == {5: 50}
    assert sink.stats.statements == 40
    assert sink.stats.rows == len(rows)
    assert sink.stats.retries == 0


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with driver collection types (SortedSet, OrderedMapSerializedKey) as plain ones,
    comparable to what was written."""
    out = []
    for value in row:
        if isinstance(value, set | frozenset) or type(value).__name__ == "SortedSet":
            out.append(tuple(sorted(value)))
        elif isinstance(value, dict) or type(value).__name__ == "OrderedMapSerializedKey":
            out.append(tuple(sorted(dict(value).items())))
        elif isinstance(value, list):
            out.append(tuple(value))
        else:
            out.append(value)
    return tuple(out)


def test_batches_respect_batch_size_and_bytes(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.log (k int, seq int, body text, PRIMARY KEY (k, seq))"
    )
    rows = [(k, seq, "x" * 100) for k in range(4) for seq in range(7)]
    by_count = CassandraSink(connection, keyspace, "log", batch_size=3, batch_mode="partition")
    by_count.prepare([Field("k"), Field("seq"), Field("body")], DriftPolicy.FAIL)
    assert write(by_count, ("k", "seq", "body"), rows).written == len(rows)
    # 7 rows of a partition: batches of 3, 3, then the odd row alone.
    assert by_count.stats.batch_rows == {3: 8}
    assert by_count.stats.statements == 4

    # Each row counts 8 + 3 * 8 + (4 + 4 + 100) = 140 bytes: 300 bytes hold two rows.
    by_bytes = CassandraSink(
        connection, keyspace, "log", max_batch_bytes=300, batch_mode="partition"
    )
    by_bytes.prepare([Field("k"), Field("seq"), Field("body")], DriftPolicy.FAIL)
    assert write(by_bytes, ("k", "seq", "body"), rows).written == len(rows)
    assert by_bytes.stats.batch_rows == {2: 12}
    assert by_bytes.stats.statements == 4

    unbatched = CassandraSink(connection, keyspace, "log", batch_size=1)
    unbatched.prepare([Field("k"), Field("seq"), Field("body")], DriftPolicy.FAIL)
    assert write(unbatched, ("k", "seq", "body"), rows).written == len(rows)
    assert unbatched.stats.batches == 0
    assert unbatched.stats.statements == len(rows)
    assert len(rows_of(session, f"SELECT k FROM {keyspace}.log")) == len(rows)


# --- token-range reads -----------------------------------------------------------------------


def test_token_range_slices_read_every_row_exactly_once(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.events (a int, b text, c int, v text, PRIMARY KEY ((a, b), c))"
    )
    insert = session.prepare(f"INSERT INTO {keyspace}.events (a, b, c, v) VALUES (?, ?, ?, ?)")
    expected = [(a, f"b{a % 3}", c, f"v{a}.{c}") for a in range(300) for c in range(a % 3 + 1)]
    for row in expected:
        session.execute(insert, row)
    source = CassandraSource(connection, keyspace, "events", fetch_size=37)

    fields = source.fields()
    assert [(f.name, f.cql_type, f.key) for f in fields] == [
        ("a", Int32Type, True),
        ("b", fields[1].cql_type, True),
        ("c", Int32Type, False),
        ("v", fields[3].cql_type, False),
    ]
    assert issubclass(fields[1].cql_type, UTF8Type)
    plan = source.plan(7)
    assert len(plan) == 7
    assert len({slice_id for slice_id, _ in plan}) == 7
    assert source.plan(7) == plan  # the same plan every time, for resume

    seen: Counter[tuple[Any, ...]] = Counter()
    chunks = 0
    for _, spec in plan:
        for chunk in source.read(spec):
            chunks += 1
            assert chunk.columns == ("a", "b", "c", "v")
            assert chunk.origin == f"{keyspace}.events"
            assert chunk.key_indexes == (0, 1)
            assert 0 < len(chunk.rows) <= 37
            seen.update(chunk.rows)
    assert seen == Counter(expected)
    assert chunks >= len(expected) // 37
    assert all(isinstance(row, tuple) for row in seen)


def test_source_plan_sizes_and_chosen_columns(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.kv (k int PRIMARY KEY, v text, w int)")
    session.execute(f"INSERT INTO {keyspace}.kv (k, v, w) VALUES (1, 'one', 10)")
    source = CassandraSource(connection, keyspace, "kv", columns=["W", "k"])
    assert len(source.plan(0)) == default_splits()
    assert len(CassandraSource(connection, keyspace, "kv", splits=3).plan(50)) == 3
    assert [f.name for f in source.fields()] == ["k", "w"]  # schema order
    assert [row for _, spec in source.plan(1) for c in source.read(spec) for row in c.rows] == [
        (1, 10)
    ]
    with pytest.raises(CopyError, match=r"has no column nope \(its columns: k, v, w\)"):
        CassandraSource(connection, keyspace, "kv", columns=["nope"]).fields()
    with pytest.raises(CopyError, match=r"writetime\(\) needs a regular column; k is part"):
        CassandraSource(connection, keyspace, "kv", writetime_columns=["k"]).fields()
    with pytest.raises(CopyError, match="not a token range slice"):
        next(source.read({"name": "s1"}))


def test_writetime_and_ttl_pass_through_to_another_table(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    for name in ("src", "dst"):
        session.execute(f"CREATE TABLE {keyspace}.{name} (k int PRIMARY KEY, v text)")
    for k in range(20):
        session.execute(
            f"INSERT INTO {keyspace}.src (k, v) VALUES ({k}, 'v{k}') "
            f"USING TIMESTAMP {1_000_000 + k} AND TTL {5000 + k}"
        )
    source = CassandraSource(
        connection, keyspace, "src", writetime_columns=["v"], ttl_columns=["v"]
    )
    fields = source.fields()
    assert [(f.name, f.cql_type) for f in fields][2:] == [
        ("v_writetime", LongType),
        ("v_ttl", Int32Type),
    ]
    sink = CassandraSink(
        connection, keyspace, "dst", timestamp_column="v_writetime", ttl_column="v_ttl"
    )
    drift = sink.prepare(fields, DriftPolicy.FAIL)
    assert drift.extra == ()
    for _, spec in source.plan(3):
        for chunk in source.read(spec):
            assert sink.open_slice("s").write(chunk).written == len(chunk.rows)

    copied = rows_of(session, f"SELECT k, v, writetime(v), ttl(v) FROM {keyspace}.dst")
    assert sorted((k, v, wt) for k, v, wt, _ in copied) == [
        (k, f"v{k}", 1_000_000 + k) for k in range(20)
    ]
    assert all(5000 + k - 60 <= ttl <= 5000 + k for k, _, _, ttl in copied)


# --- drift -----------------------------------------------------------------------------------


def test_drift_fail_names_the_fields_and_the_columns(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.orders (id int PRIMARY KEY, total int)")
    sink = CassandraSink(connection, keyspace, "orders")
    with pytest.raises(CopyError) as info:
        sink.prepare([Field("Id"), Field("total"), Field("note"), Field("qty")], DriftPolicy.FAIL)
    message = str(info.value)
    assert f"table {keyspace}.orders has no column for field(s) note, qty" in message
    assert "(its columns: id, total)" in message
    with pytest.raises(CopyError, match=r"no field for primary key column\(s\) id"):
        sink.prepare([Field("total")], DriftPolicy.FAIL)


def test_drift_ignore_extra_leaves_them_out(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.orders (id int PRIMARY KEY, total int, note text)")
    sink = CassandraSink(connection, keyspace, "orders")
    drift = sink.prepare([Field("Id"), Field("TOTAL"), Field("extra")], DriftPolicy.IGNORE_EXTRA)
    assert drift.extra == ("extra",)
    assert drift.missing == ("note",)
    result = write(sink, ("Id", "TOTAL", "extra"), [(1, 10, "x"), (2, 20, "y")])
    assert result.written == 2
    assert sorted(rows_of(session, f"SELECT id, total, note FROM {keyspace}.orders")) == [
        (1, 10, None),
        (2, 20, None),
    ]


def test_drift_add_columns_alters_the_table(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.orders (id int PRIMARY KEY, total int)")
    sink = CassandraSink(connection, keyspace, "orders")
    fields = [Field("id"), Field("total"), Field("qty", cql_type=Int32Type), Field("Note")]
    drift = sink.prepare(fields, DriftPolicy.ADD_COLUMNS)
    assert drift.added == ("qty", "Note")
    result = write(sink, ("id", "total", "qty", "Note"), [(1, 10, 3, "first"), (2, 20, 4, None)])
    assert result.written == 2
    assert sorted(rows_of(session, f'SELECT id, total, qty, "Note" FROM {keyspace}.orders')) == [
        (1, 10, 3, "first"),
        (2, 20, 4, None),
    ]
    table = connection.table(keyspace, "orders")
    assert table.columns["qty"].cql_type == "int"
    assert table.columns["Note"].cql_type == "text"
    # Prepared again (another worker, a resumed run): nothing left to add.
    assert (
        CassandraSink(connection, keyspace, "orders").prepare(fields, DriftPolicy.ADD_COLUMNS).added
        == ()
    )


# --- bad rows --------------------------------------------------------------------------------


def test_conversion_failures_and_null_keys_become_bad_records(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.m (id int, seq int, v int, PRIMARY KEY (id, seq))")
    sink = CassandraSink(connection, keyspace, "m")
    sink.prepare([Field("id"), Field("seq"), Field("v")], DriftPolicy.FAIL)
    rows = [
        ("1", "1", "10"),
        ("1", "2", "ten"),  # line 3: not an integer
        (None, "1", "5"),  # line 4: null partition key
        ("2", None, "5"),  # line 5: null clustering key
        ("3", "1", None),  # written, v left unset
    ]
    result = write(sink, ("id", "seq", "v"), rows)

    assert result.written == 2
    assert [(b.position, b.category) for b in result.bad] == [
        ("test.csv:3", "convert"),
        ("test.csv:4", "convert"),
        ("test.csv:5", "convert"),
    ]
    assert result.bad[0].reason.startswith("column v: ")
    assert result.bad[0].record == {"id": "1", "seq": "2", "v": "ten"}
    assert result.bad[1].reason == "primary key column id is null"
    assert result.bad[2].reason == "primary key column seq is null"
    assert sorted(rows_of(session, f"SELECT id, seq, v FROM {keyspace}.m")) == [
        (1, 1, 10),
        (3, 1, None),
    ]


def test_a_row_refused_inside_a_batch_is_isolated(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (k text, seq int, v text, PRIMARY KEY (k, seq))")
    sink = CassandraSink(connection, keyspace, "t", ttl_column="ttl")
    sink.prepare([Field("k"), Field("seq"), Field("v"), Field("ttl")], DriftPolicy.FAIL)
    rows = [
        ("a", 1, "x", 100),
        ("a", 2, "y", -1),  # Cassandra refuses a negative TTL: the whole batch fails
        ("a", 3, "z", None),
        ("", 1, "empty key", None),  # refused as a single statement: "Key may not be empty"
        ("b", 1, "w", 100),
    ]
    result = write(sink, ("k", "seq", "v", "ttl"), rows)

    assert result.written == 3
    assert sorted((b.position, b.category) for b in result.bad) == [
        ("test.csv:3", "write"),
        ("test.csv:5", "write"),
    ]
    reasons = {b.position: b.reason for b in result.bad}
    assert "TTL" in reasons["test.csv:3"]
    assert "empty" in reasons["test.csv:5"]
    assert sink.stats.split_batches == 1
    assert sink.stats.refused == 2
    assert sink.stats.errors_by_class == {"InvalidRequest": 3}
    assert sorted(rows_of(session, f"SELECT k, seq, v FROM {keyspace}.t")) == [
        ("a", 1, "x"),
        ("a", 3, "z"),
        ("b", 1, "w"),
    ]


# --- idempotence -----------------------------------------------------------------------------


def test_counter_tables_are_refused_unless_allowed(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.hits (page text PRIMARY KEY, n counter)")
    fields = [Field("page"), Field("n")]
    with pytest.raises(CopyError, match="is a counter table"):
        CassandraSink(connection, keyspace, "hits").prepare(fields, DriftPolicy.FAIL)

    sink = CassandraSink(connection, keyspace, "hits", allow_non_idempotent=True)
    sink.prepare(fields, DriftPolicy.FAIL)
    assert write(sink, ("page", "n"), [("home", 2), ("about", 1)]).written == 2
    assert write(sink, ("page", "n"), [("home", 3)]).written == 1
    assert sorted(rows_of(session, f"SELECT page, n FROM {keyspace}.hits")) == [
        ("about", 1),
        ("home", 5),
    ]


def test_lists_with_an_explicit_timestamp_are_refused_unless_allowed(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.l (k int PRIMARY KEY, items list<int>)")
    fields = [Field("k"), Field("items"), Field("ts")]
    sink = CassandraSink(connection, keyspace, "l", timestamp_column="ts")
    with pytest.raises(CopyError, match="list column"):
        sink.prepare(fields, DriftPolicy.FAIL)
    # Without an explicit timestamp a redone INSERT replaces the whole list: allowed.
    plain = CassandraSink(connection, keyspace, "l")
    plain.prepare(fields[:2], DriftPolicy.FAIL)
    for _ in range(2):  # the same slice written twice
        assert write(plain, ("k", "items"), [(1, [1, 2, 3])]).written == 1
    assert rows_of(session, f"SELECT items FROM {keyspace}.l") == [([1, 2, 3],)]


# --- connection ------------------------------------------------------------------------------


def test_table_lookup_names_what_exists(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.orders (id int PRIMARY KEY)")
    session.execute(f"CREATE TABLE {keyspace}.customers (id int PRIMARY KEY)")
    assert connection.table(keyspace, "orders").name == "orders"
    assert connection.table(keyspace, "Orders").name == "orders"  # as CQL reads it unquoted
    with pytest.raises(CopyError) as info:
        connection.table(keyspace, "orderz")
    assert str(info.value) == (
        f"table {keyspace}.orderz does not exist (keyspace {keyspace} has: customers, orders)"
    )
    with pytest.raises(CopyError, match=r"keyspace nope_ks does not exist \(the cluster has: "):
        connection.table("nope_ks", "orders")
    assert connection.cluster.application_name == "cassflow"
    assert connection.cluster.application_version


# --- dev server only: faults, auth, the embedded server --------------------------------------


@pytest.fixture
def faulty() -> Iterator[Any]:
    from cassflow.devserver import DevServer

    with DevServer() as server:
        yield server


def _setup(server: Any, ddl: str) -> CassandraConnection:
    conn = CassandraConnection("faulty", hosts=[server.host], port=server.port, keyspace="f")
    session = conn.session()
    session.execute(
        "CREATE KEYSPACE f WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(ddl)
    return conn


@pytest.mark.devserver_only
def test_transient_errors_are_retried_and_slow_the_throttle(faulty: Any) -> None:
    conn = _setup(faulty, "CREATE TABLE f.e (k int, seq int, v text, PRIMARY KEY (k, seq))")
    throttle = AimdThrottle(initial_concurrency=16, cooldown=0.0)
    sink = CassandraSink(conn, "f", "e", throttle=throttle, request_attempts=30, backoff=FAST)
    sink.prepare([Field("k"), Field("seq"), Field("v")], DriftPolicy.FAIL)
    faulty.faults.add(
        {"fault": "write_timeout", "statement": "INSERT INTO f.e", "probability": 0.25}
    )
    faulty.faults.add({"fault": "overloaded", "statement": "INSERT INTO f.e", "probability": 0.1})
    rows = [(k, seq, f"{k}.{seq}") for k in range(150) for seq in range(k % 3 + 1)]

    result = write(sink, ("k", "seq", "v"), rows)

    assert result.written == len(rows)
    assert result.bad == []
    faulty.faults.clear()
    stored = rows_of(conn.session(), "SELECT k, seq, v FROM f.e")
    assert sorted(stored) == sorted(rows)
    assert sink.stats.retries > 0
    assert set(sink.stats.errors_by_class) <= {"WriteTimeout", "OverloadedErrorMessage"}
    assert sink.stats.errors_by_class.get("WriteTimeout", 0) > 0
    assert sum(sink.stats.errors_by_class.values()) == sink.stats.retries
    assert throttle.stats.decreases > 0
    assert throttle.concurrency < 16
    conn.close()


@pytest.mark.devserver_only
def test_retries_run_out_then_the_redone_slice_writes_everything(faulty: Any) -> None:
    conn = _setup(faulty, "CREATE TABLE f.e (k int PRIMARY KEY, v text)")
    sink = CassandraSink(conn, "f", "e", request_attempts=3, backoff=FAST)
    sink.prepare([Field("k"), Field("v")], DriftPolicy.FAIL)
    rows = [(k, f"v{k}") for k in range(40)]
    rule = faulty.faults.add({"fault": "unavailable", "statement": "INSERT INTO f.e"})
    with pytest.raises(RetryExhaustedError) as info:
        write(sink, ("k", "v"), rows)
    assert info.value.attempts == 3
    assert type(info.value.last).__name__ == "Unavailable"
    assert faulty.faults.fired(rule) >= 3
    faulty.faults.remove(rule)
    # The runner redoes the slice: same rows again, nothing doubled.
    assert write(sink, ("k", "v"), rows).written == 40
    assert sorted(rows_of(conn.session(), "SELECT k, v FROM f.e")) == rows
    conn.close()


@pytest.mark.devserver_only
def test_requests_in_flight_stay_within_the_throttle(faulty: Any) -> None:
    conn = _setup(faulty, "CREATE TABLE f.e (k int PRIMARY KEY, v text)")
    throttle = AimdThrottle(initial_concurrency=2, max_concurrency=2)
    sink = CassandraSink(conn, "f", "e", throttle=throttle, batch_mode="none")
    sink.prepare([Field("k"), Field("v")], DriftPolicy.FAIL)
    faulty.faults.add({"fault": "latency", "statement": "INSERT INTO f.e", "delay_ms": 50})
    started = time.monotonic()
    assert write(sink, ("k", "v"), [(k, "v") for k in range(16)]).written == 16
    # Two at a time, 50 ms each: at least 8 rounds.
    assert time.monotonic() - started >= 8 * 0.05
    conn.close()


@pytest.mark.devserver_only
def test_a_wrong_password_is_refused_without_showing_it() -> None:
    from pydantic import SecretStr

    from cassflow.devserver import DevServer

    with DevServer(auth=True) as server:
        secret = SecretStr("Hunter2-not-the-password")
        conn = CassandraConnection(
            "secured",
            hosts=[server.host],
            port=server.port,
            keyspace="k",
            username="cassandra",
            password=secret,
        )
        assert "Hunter2" not in repr(conn)
        with pytest.raises(CopyError) as info:
            conn.session()
        text = f"{info.value} {info.value!r} {info.value.__cause__!r}"
        assert "Hunter2" not in text
        assert "as cassandra" in str(info.value)
        assert "Bad credentials" in str(info.value)
        good = CassandraConnection(
            "secured",
            hosts=[server.host],
            port=server.port,
            keyspace="k",
            username="cassandra",
            password=SecretStr("cassandra"),
        )
        with good:
            assert rows_of(good.session(), "SELECT key FROM system.local") == [("local",)]


@pytest.mark.devserver_only
def test_the_embedded_server_keeps_data_across_connections(tmp_path: Any) -> None:
    data = tmp_path / "dev"
    with CassandraConnection("embedded", hosts=None, keyspace="e", embedded_data_dir=data) as conn:
        session = conn.session()
        session.execute(
            "CREATE KEYSPACE e WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute("CREATE TABLE e.t (k int PRIMARY KEY, v text)")
        sink = CassandraSink(conn, "e", "t")
        sink.prepare([Field("k"), Field("v")], DriftPolicy.FAIL)
        assert write(sink, ("k", "v"), [(1, "one"), (2, "two")]).written == 2
        port = conn.cluster.metadata.all_hosts()[0].endpoint.port
    # Closed: the server no longer listens.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert any(data.iterdir())

    with CassandraConnection("embedded", hosts=None, keyspace="e", embedded_data_dir=data) as again:
        source = CassandraSource(again, "e", "t")
        rows = [row for _, spec in source.plan(2) for c in source.read(spec) for row in c.rows]
        assert sorted(rows) == [(1, "one"), (2, "two")]


@pytest.mark.devserver_only
def test_empty_hosts_start_an_in_memory_embedded_server() -> None:
    conn = CassandraConnection("scratch", hosts=[], keyspace="s")
    assert conn.embedded
    assert conn.contact == "embedded dev server (in memory)"
    with conn:
        assert rows_of(conn.session(), "SELECT key FROM system.local") == [("local",)]
        port = conn.cluster.metadata.all_hosts()[0].endpoint.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_replica_batch_mode_batches_partitions_that_share_replicas(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.r (k int PRIMARY KEY, v text)")
    rows = [(k, f"v{k}") for k in range(40)]
    sink = CassandraSink(connection, keyspace, "r", batch_mode="replica", batch_size=8)
    sink.prepare([Field("k"), Field("v")], DriftPolicy.FAIL)
    assert write(sink, ("k", "v"), rows).written == 40
    assert sorted(rows_of(session, f"SELECT k, v FROM {keyspace}.r")) == rows
    # 40 partitions over fewer replica sets than that: some share a batch.
    assert sink.stats.batches > 0
    assert max(sink.stats.batch_rows) <= 8
    assert sum(n * b for n, b in sink.stats.batch_rows.items()) + sink.stats.statements == 40
    with pytest.raises(CopyError, match="batch_mode must be one of replica, partition, none"):
        CassandraSink(connection, keyspace, "r", batch_mode="token")


def test_replica_batches_keep_partitions_whole_and_under_the_partition_cap(
    session: Session, keyspace: str, connection: CassandraConnection
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.wide (k int, seq int, v text, PRIMARY KEY (k, seq))")
    # 30 partitions of 1 to 5 rows, interleaved in the input.
    rows = [(k, seq, f"{k}.{seq}") for seq in range(5) for k in range(30) if seq <= k % 5]
    sink = CassandraSink(connection, keyspace, "wide", batch_size=12, max_batch_partitions=3)
    assert sink.batch_mode == "replica"  # the default
    # What each batch carries, in order: the routing key (the partition) of every statement.
    batches: dict[int, list[bytes]] = {}
    add = BatchStatement.add

    def recording_add(batch: BatchStatement, statement: Any, *args: Any) -> Any:
        batches.setdefault(id(batch), []).append(statement.routing_key)
        return add(batch, statement, *args)

    sink.prepare([Field("k"), Field("seq"), Field("v")], DriftPolicy.FAIL)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BatchStatement, "add", recording_add)
        assert write(sink, ("k", "seq", "v"), rows).written == len(rows)
    assert sorted(rows_of(session, f"SELECT k, seq, v FROM {keyspace}.wide")) == sorted(rows)
    stats = sink.stats
    assert sum(n * b for n, b in stats.batch_rows.items()) + stats.statements == len(rows)
    assert max(stats.batch_rows) <= 12
    keys_per_batch = []
    for keys in batches.values():
        runs = [key for key, _ in itertools.groupby(keys)]
        # A partition's rows sit together in a batch, and a batch spans at most 3 of them.
        assert len(runs) == len(set(runs)) <= 3
        keys_per_batch.append(len(runs))
    assert max(keys_per_batch) == 3  # partitions that share replicas did get packed
