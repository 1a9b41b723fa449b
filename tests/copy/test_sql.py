"""SQL sources and sinks against a real PostgreSQL (tests/pg.py) and real SQLite files.

A table of many column types must come out of a copy exactly as it went in; key ranges must
cover every row once; bad values and refused rows must be quarantined alone, with positions
naming the table and key; a redone slice must not duplicate rows; the sink must take the
Cassandra driver's Python values; and the password must never show.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import sqlite3
import tempfile
import uuid
from collections import namedtuple
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cassandra import cqltypes
from cassandra import util as cql_util
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from cassflow.copy._checkpoint import SqliteCheckpointStore, new_run_id
from cassflow.copy._model import (
    BadRecord,
    Chunk,
    CopyError,
    DriftPolicy,
    Field,
)
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._retry import Backoff
from cassflow.copy._runner import CopyOptions, CopyRun
from cassflow.copy._sql import SqlSink, SqlSource, key_ranges
from cassflow.copy._sqlalchemy import SqlTransientError
from pg import PostgresServer

# --- helpers ------------------------------------------------------------------------------------


def pg_execute(server: PostgresServer, *statements: str) -> None:
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        dbname=server.database,
        connect_timeout=10,
    ) as conn:
        for statement in statements:
            conn.execute(statement)


def pg_rows(server: PostgresServer, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        dbname=server.database,
        connect_timeout=10,
    ) as conn:
        return list(conn.execute(query).fetchall())


def copy(source: SqlSource, sink: SqlSink, splits: int = 4) -> list[BadRecord]:
    """Every slice of ``source`` into ``sink``; the bad records."""
    sink.prepare(source.fields(), DriftPolicy.FAIL)
    bad: list[BadRecord] = []
    for slice_id, spec in source.plan(splits):
        writer = sink.open_slice(slice_id)
        for chunk in source.read(spec):
            result = writer.write(chunk)
            assert result.written + len(result.bad) == len(chunk.rows)
            bad.extend(result.bad)
        writer.commit()
    return bad


@pytest.fixture
def pg(postgres: PostgresServer) -> PostgresServer:
    """The session's server with a clean ``public`` schema for this test."""
    pg_execute(postgres, "DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")
    return postgres


# --- PostgreSQL ---------------------------------------------------------------------------------

_PG_TYPES = """
    id integer PRIMARY KEY, big bigint, small smallint, amount numeric(12, 3), ratio real,
    score double precision, flag boolean, name text, code varchar(8), born date,
    seen timestamptz, local_seen timestamp, at time, data bytea, ident uuid, addr inet,
    tags text[], counts integer[], doc jsonb, doc2 json, span interval
"""

_PG_ROWS = """
INSERT INTO {table} VALUES
 (1, 9223372036854775807, -32768, 123456789.125, 1.5, 2.25, true, 'zoë ☃', 'abc',
  '2024-02-29', '2024-05-01 10:00:00.123456+02', '2024-05-01 10:00:00.5', '23:59:59.999999',
  '\\x00ff10', 'c0ffee00-0000-4000-8000-000000000001', '10.0.0.1', '{{a,"b c",NULL}}',
  '{{1,2,3}}', '{{"k": [1, 2.5, null], "s": "x"}}', '{{"a": 1}}',
  '1 year 2 mons 3 days 04:05:06.789'),
 (2, -1, 0, -0.001, -0.0, -1e300, false, '', 'x', '0001-01-01', '1970-01-01 00:00:00+00',
  '1970-01-01 00:00:00', '00:00:00', '', '00000000-0000-0000-0000-000000000000', '::1',
  '{{}}', '{{}}', '[]', '[1, 2]', '-5 days'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL)
"""


def test_postgresql_table_copies_exactly_into_another_table(pg: PostgresServer) -> None:
    pg_execute(
        pg,
        f"CREATE TABLE src ({_PG_TYPES})",
        _PG_ROWS.format(table="src"),
        "INSERT INTO src (id, name) SELECT g, 'row ' || g FROM generate_series(4, 250) g",
        f"CREATE TABLE dst ({_PG_TYPES})",
    )
    source = SqlSource(pg.url(), table="src", chunk_rows=7)
    sink = SqlSink(pg.url(), table="dst", create=False, batch_rows=5)
    try:
        assert copy(source, sink, splits=5) == []
    finally:
        source.close()
        sink.close()
    columns = "id, big, small, amount, ratio, score, flag, name, code, born, seen, local_seen, "
    columns += "at, data, ident, addr, tags, counts, doc, doc2::text, span"
    expected = pg_rows(pg, f"SELECT {columns} FROM src ORDER BY id")
    assert pg_rows(pg, f"SELECT {columns} FROM dst ORDER BY id") == expected
    assert len(expected) == 250


def test_postgresql_fields_are_typed_as_cql(pg: PostgresServer) -> None:
    pg_execute(pg, f"CREATE TABLE src ({_PG_TYPES})")
    source = SqlSource(pg.url(), table="src")
    try:
        fields = {f.name: f for f in source.fields()}
    finally:
        source.close()
    names = {name: f.cql_type.cql_parameterized_type() for name, f in fields.items()}
    assert names == {
        "id": "int",
        "big": "bigint",
        "small": "smallint",
        "amount": "decimal",
        "ratio": "float",
        "score": "double",
        "flag": "boolean",
        "name": "text",
        "code": "text",
        "born": "date",
        "seen": "timestamp",
        "local_seen": "timestamp",
        "at": "time",
        "data": "blob",
        "ident": "uuid",
        "addr": "inet",
        "tags": "list<text>",
        "counts": "list<int>",
        "doc": "text",
        "doc2": "text",
        "span": "duration",
    }
    assert [n for n, f in fields.items() if f.key] == ["id"]


def test_postgresql_table_created_by_the_sink_holds_the_values(pg: PostgresServer) -> None:
    pg_execute(pg, f"CREATE TABLE src ({_PG_TYPES})", _PG_ROWS.format(table="src"))
    source = SqlSource(pg.url(), table="src")
    sink = SqlSink(pg.url(), table="made", create=True)
    try:
        assert copy(source, sink) == []
    finally:
        source.close()
        sink.close()
    types = dict(
        pg_rows(
            pg,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'made'",
        )
    )
    assert types["id"] == "integer"
    assert types["seen"] == "timestamp with time zone"
    assert types["ident"] == "uuid"
    assert types["addr"] == "inet"
    assert types["tags"] == "jsonb"  # list<text>: collections become JSON documents
    assert types["span"] == "character varying"  # duration: its canonical text
    assert types["doc"] == "text"  # a JSON document reads as (CQL) text
    assert pg_rows(
        pg,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
        "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'made'::regclass "
        "AND i.indisprimary",
    ) == [("id",)]
    plain = "id, big, small, amount, ratio, score, flag, name, code, born, seen, at, data, ident"
    assert pg_rows(pg, f"SELECT {plain} FROM made ORDER BY id") == pg_rows(
        pg, f"SELECT {plain} FROM src ORDER BY id"
    )
    assert pg_rows(pg, "SELECT tags, counts, doc, span, addr FROM made WHERE id = 1") == [
        (
            ["a", "b c", None],
            [1, 2, 3],
            '{"k": [1, 2.5, null], "s": "x"}',
            "1y2mo3d4h5m6s789ms",
            ipaddress.ip_address("10.0.0.1"),
        )
    ]


def test_query_source_streams_typed_result_columns(pg: PostgresServer) -> None:
    pg_execute(
        pg,
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text, total numeric(10,2))",
        "INSERT INTO orders SELECT g, 'c' || (g % 7), g * 1.5 FROM generate_series(1, 1000) g",
    )
    query = (
        "SELECT customer, count(*)::int AS n, sum(total) AS total, now()::date AS day "
        "FROM orders WHERE customer LIKE 'c%' GROUP BY customer ORDER BY customer;"
    )
    source = SqlSource(pg.url(), query=query, chunk_rows=3)
    try:
        fields = source.fields()
        plan = source.plan(8)
        chunks = [c for _, spec in plan for c in source.read(spec)]
    finally:
        source.close()
    assert [(f.name, f.cql_type.cql_parameterized_type()) for f in fields] == [
        ("customer", "text"),
        ("n", "int"),
        ("total", "decimal"),
        ("day", "date"),
    ]
    assert plan == [("query", {"kind": "query"})]
    assert [len(c.rows) for c in chunks] == [3, 3, 1]
    rows = [r[:3] for c in chunks for r in c.rows]
    expected = pg_rows(
        pg,
        "SELECT 'c' || k, count(*)::int, sum(g * 1.5)::numeric(10,2) FROM "
        "(SELECT g, g % 7 AS k FROM generate_series(1, 1000) g) s GROUP BY k ORDER BY 1",
    )
    assert rows == expected
    assert {c.origin for c in chunks} == {"query"}


def test_a_query_that_does_not_run_fails_naming_the_error(pg: PostgresServer) -> None:
    source = SqlSource(pg.url(), query="SELECT nope FROM missing_table")
    try:
        with pytest.raises(CopyError, match="missing_table"):
            source.plan(1)
    finally:
        source.close()


def test_composite_key_table_is_read_page_by_page_in_key_order(pg: PostgresServer) -> None:
    pg_execute(
        pg,
        "CREATE TABLE events (day date, seq text, payload text, PRIMARY KEY (day, seq))",
        "INSERT INTO events SELECT DATE '2024-01-01' + (g % 5), 's' || g, 'p' || g "
        "FROM generate_series(1, 103) g",
    )
    source = SqlSource(pg.url(), table="events", chunk_rows=10)
    try:
        plan = source.plan(8)
        chunks = [c for _, spec in plan for c in source.read(spec)]
    finally:
        source.close()
    assert plan == [("events:keyset", {"kind": "keyset", "order": ["day", "seq"]})]
    rows = [r for c in chunks for r in c.rows]
    assert rows == pg_rows(pg, "SELECT day, seq, payload FROM events ORDER BY day, seq")
    assert all(len(c.rows) <= 10 for c in chunks)
    assert chunks[0].key_indexes == (0, 1)


def test_bad_values_and_refused_rows_are_quarantined_alone(pg: PostgresServer) -> None:
    pg_execute(
        pg,
        "CREATE TABLE src (id integer PRIMARY KEY, qty text, code text)",
        "INSERT INTO src VALUES (1, '5', 'ok'), (17, 'many', 'ok'), (3, '7', 'too long a code'),"
        " (4, '99999999999', 'ok'), (5, '8', 'fine')",
        "CREATE TABLE dst (id integer PRIMARY KEY, qty integer, code varchar(5))",
    )
    source = SqlSource(pg.url(), table="src")
    sink = SqlSink(pg.url(), table="dst", create=False)
    try:
        bad = copy(source, sink, splits=1)
    finally:
        source.close()
        sink.close()
    by_position = {b.position: b for b in bad}
    assert set(by_position) == {"src id=17", "src id=3", "src id=4"}
    assert by_position["src id=17"].category == "convert"
    assert "column qty" in by_position["src id=17"].reason
    assert "32-bit integer" in by_position["src id=17"].reason
    assert by_position["src id=4"].category == "convert"
    refused = by_position["src id=3"]
    assert refused.category == "write"
    assert "too long" in refused.reason
    assert pg.password not in refused.reason
    assert "postgresql" not in refused.reason  # the DB's message, not the URL
    assert refused.record == {"id": 3, "qty": "7", "code": "too long a code"}
    assert pg_rows(pg, "SELECT id, qty, code FROM dst ORDER BY id") == [
        (1, 5, "ok"),
        (5, 8, "fine"),
    ]


def test_insert_mode_quarantines_duplicates_and_upsert_redo_does_not_duplicate(
    pg: PostgresServer,
) -> None:
    pg_execute(pg, "CREATE TABLE dst (id integer PRIMARY KEY, v text)")
    fields = [Field("id", cqltypes.Int32Type, key=True), Field("v", cqltypes.UTF8Type)]
    chunk = Chunk(("id", "v"), "in", rows=[(i, f"v{i}") for i in range(1, 51)], key_indexes=(0,))
    upsert = SqlSink(pg.url(), table="dst", create=False, batch_rows=8)
    insert = SqlSink(pg.url(), table="dst", create=False, mode="insert")
    try:
        upsert.prepare(fields, DriftPolicy.FAIL)
        for _attempt in range(2):  # a slice redone after a failure
            result = upsert.open_slice("s1").write(chunk)
            assert (result.written, result.bad) == (50, [])
        changed = Chunk(("id", "v"), "in", rows=[(2, "new"), (2, "newer"), (3, None)])
        assert upsert.open_slice("s2").write(changed).written == 3
        insert.prepare(fields, DriftPolicy.FAIL)
        again = insert.open_slice("s3").write(
            Chunk(("id", "v"), "in", rows=[(60, "a"), (1, "dup"), (61, "b")], key_indexes=(0,))
        )
    finally:
        upsert.close()
        insert.close()
    assert pg_rows(pg, "SELECT count(*) FROM dst") == [(52,)]
    assert pg_rows(pg, "SELECT id, v FROM dst WHERE id IN (2, 3) ORDER BY id") == [
        (2, "newer"),
        (3, None),
    ]
    assert again.written == 2
    assert [(b.position, b.category) for b in again.bad] == [("in id=1", "write")]
    assert "duplicate key" in again.bad[0].reason


def test_upsert_into_a_table_without_primary_key_is_refused(pg: PostgresServer) -> None:
    pg_execute(pg, "CREATE TABLE log (id integer, v text)")
    sink = SqlSink(pg.url(), table="log", create=False)
    fields = [Field("id", cqltypes.Int32Type), Field("v", cqltypes.UTF8Type)]
    try:
        with pytest.raises(CopyError, match=r"has no primary key.*set mode: insert"):
            sink.prepare(fields, DriftPolicy.FAIL)
        with pytest.raises(CopyError, match="has no primary key"):
            SqlSink(pg.url(), table="new_log").prepare(fields, DriftPolicy.FAIL)
        assert SqlSink(pg.url(), table="log", mode="insert").prepare(fields, DriftPolicy.FAIL)
    finally:
        sink.close()
    assert pg_rows(pg, "SELECT to_regclass('new_log')") == [(None,)]


def test_drift_policies(pg: PostgresServer) -> None:
    pg_execute(pg, "CREATE TABLE dst (id integer PRIMARY KEY, a text, old text)")
    fields = [
        Field("id", cqltypes.Int32Type, key=True),
        Field("a", cqltypes.UTF8Type),
        Field("b", cqltypes.LongType),
        Field("c", cqltypes.ListType.apply_parameters([cqltypes.Int32Type])),
    ]
    chunk = Chunk(("id", "a", "b", "c"), "in", rows=[(1, "x", 7, [1, 2])])
    with pytest.raises(CopyError, match="no column for the incoming field\\(s\\) b, c"):
        SqlSink(pg.url(), table="dst").prepare(fields, DriftPolicy.FAIL)
    ignoring = SqlSink(pg.url(), table="dst")
    drift = ignoring.prepare(fields, DriftPolicy.IGNORE_EXTRA)
    assert (drift.extra, drift.missing, drift.added) == (("b", "c"), ("old",), ())
    assert ignoring.open_slice("s").write(chunk).written == 1
    adding = SqlSink(pg.url(), table="dst")
    drift = adding.prepare(fields, DriftPolicy.ADD_COLUMNS)
    assert (drift.extra, drift.added) == ((), ("b", "c"))
    assert adding.open_slice("s").write(chunk).written == 1
    ignoring.close()
    adding.close()
    assert pg_rows(pg, "SELECT id, a, b, c, old FROM dst") == [(1, "x", 7, [1, 2], None)]


def test_cassandra_driver_values_are_written(pg: PostgresServer, tmp_path: Path) -> None:
    """What the Cassandra source hands over, for every CQL type, into a created table."""
    point = namedtuple("point", ["x", "y"])  # the driver's UDT shape
    map_type = cqltypes.MapType.apply_parameters([cqltypes.UTF8Type, cqltypes.Int32Type])
    mapping = cql_util.OrderedMapSerializedKey(cqltypes.UTF8Type, 4)
    mapping._insert_unchecked("b", b"b", 2)
    mapping._insert_unchecked("a", b"a", 1)
    udt = cqltypes.UserType.make_udt_class(
        "ks", "point", ["x", "y"], [cqltypes.Int32Type, cqltypes.UTF8Type]
    )
    ident = uuid.uuid4()
    columns: list[tuple[str, Any, Any]] = [
        ("id", cqltypes.Int32Type, 1),
        ("big", cqltypes.LongType, -(2**63)),
        ("small", cqltypes.ShortType, 7),
        ("tiny", cqltypes.ByteType, -8),
        ("huge", cqltypes.IntegerType, 10**30),
        ("money", cqltypes.DecimalType, Decimal("-1.0500")),
        ("ratio", cqltypes.FloatType, 0.5),
        ("score", cqltypes.DoubleType, 1e-300),
        ("flag", cqltypes.BooleanType, True),
        ("name", cqltypes.UTF8Type, "zoë"),
        ("ascii", cqltypes.AsciiType, "abc"),
        ("day", cqltypes.SimpleDateType, cql_util.Date(dt.date(2024, 2, 29))),
        ("at", cqltypes.TimeType, cql_util.Time("10:11:12.123456")),
        ("seen", cqltypes.DateType, dt.datetime(2024, 5, 1, 10, 0, 0, 123000)),
        ("span", cqltypes.DurationType, cql_util.Duration(14, 3, 4_000_000_005)),
        ("data", cqltypes.BytesType, b"\x00\xff"),
        ("ident", cqltypes.UUIDType, ident),
        ("tid", cqltypes.TimeUUIDType, uuid.UUID("e3b1c0a0-0c10-11ef-8000-000000000000")),
        ("addr", cqltypes.InetAddressType, "2001:db8::1"),
        ("items", cqltypes.ListType.apply_parameters([cqltypes.DecimalType]), [Decimal("1.1")]),
        (
            "kinds",
            cqltypes.SetType.apply_parameters([cqltypes.UTF8Type]),
            cql_util.SortedSet(["b", "a"]),
        ),
        ("counts", map_type, mapping),
        (
            "pair",
            cqltypes.TupleType.apply_parameters([cqltypes.Int32Type, cqltypes.UTF8Type]),
            (1, "x"),
        ),
        ("where_", udt, point(1, "y")),
    ]
    fields = [Field(n, t, key=(n == "id")) for n, t, _ in columns]
    chunk = Chunk(tuple(n for n, _, _ in columns), "ks.t", rows=[tuple(v for *_, v in columns)])
    sqlite_url = f"sqlite:///{tmp_path / 'driver.db'}"
    for url in (pg.url(), sqlite_url):
        sink = SqlSink(url, table="from_cassandra")
        try:
            sink.prepare(fields, DriftPolicy.FAIL)
            result = sink.open_slice("s").write(chunk)
        finally:
            sink.close()
        assert result.written == 1, [b.reason for b in result.bad]
    [row] = pg_rows(pg, "SELECT * FROM from_cassandra")
    assert row == (
        1,
        -(2**63),
        7,
        -8,
        Decimal(10**30),
        Decimal("-1.0500"),
        0.5,
        1e-300,
        True,
        "zoë",
        "abc",
        dt.date(2024, 2, 29),
        dt.time(10, 11, 12, 123456),
        dt.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=dt.UTC),
        "1y2mo3d4s5ns",
        b"\x00\xff",
        ident,
        uuid.UUID("e3b1c0a0-0c10-11ef-8000-000000000000"),
        ipaddress.ip_address("2001:db8::1"),
        ["1.1"],
        ["a", "b"],
        {"b": 2, "a": 1},
        [1, "x"],
        {"x": 1, "y": "y"},
    )
    with sqlite3.connect(tmp_path / "driver.db") as conn:
        [lite] = conn.execute("SELECT ident, addr, span, counts, seen FROM from_cassandra")
    assert lite == (
        str(ident),
        "2001:db8::1",
        "1y2mo3d4s5ns",
        '{"b": 2, "a": 1}',
        "2024-05-01 10:00:00.123000",
    )


def test_text_values_from_csv_are_parsed_by_column_type(pg: PostgresServer) -> None:
    pg_execute(
        pg,
        "CREATE TABLE dst (id bigint PRIMARY KEY, seen timestamptz, ok boolean, amount numeric,"
        " day date, ident uuid, data bytea, at time, tags integer[])",
    )
    sink = SqlSink(pg.url(), table="dst", create=False)
    fields = [
        Field(n) for n in ("id", "seen", "ok", "amount", "day", "ident", "data", "at", "tags")
    ]
    chunk = Chunk(
        tuple(f.name for f in fields),
        "data/in.csv",
        rows=[
            (
                "42",
                "2024-05-01T10:00:00Z",
                "true",
                "1.50",
                "2024-05-01",
                "c0ffee00-0000-4000-8000-000000000001",
                "0x00ff",
                "10:11:12",
                "[1, 2]",
            ),
            ("43", "yesterday", "true", "1", "2024-05-01", None, None, None, None),
        ],
        lines=[2, 3],
    )
    try:
        sink.prepare(fields, DriftPolicy.FAIL)
        result = sink.open_slice("s").write(chunk)
    finally:
        sink.close()
    assert result.written == 1
    [bad] = result.bad
    assert (bad.position, bad.category) == ("data/in.csv:3", "convert")
    assert "column seen" in bad.reason
    assert "ISO 8601" in bad.reason
    assert pg_rows(pg, "SELECT * FROM dst") == [
        (
            42,
            dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC),
            True,
            Decimal("1.50"),
            dt.date(2024, 5, 1),
            uuid.UUID("c0ffee00-0000-4000-8000-000000000001"),
            b"\x00\xff",
            dt.time(10, 11, 12),
            [1, 2],
        ),
    ]


def test_full_copy_through_the_runner_and_a_lost_connection_is_transient(
    pg: PostgresServer, tmp_path: Path
) -> None:
    pg_execute(
        pg,
        "CREATE TABLE src (id integer PRIMARY KEY, v text)",
        "INSERT INTO src SELECT g, 'v' || g FROM generate_series(-500, 1500) g",
    )
    store = SqliteCheckpointStore(tmp_path / "checkpoints.sqlite3")
    run_id = new_run_id()
    source = SqlSource(pg.url(), table="src", chunk_rows=100)
    sink = SqlSink(pg.url(), table="dst")
    try:
        report = CopyRun(
            source,
            sink,
            run_id=run_id,
            store=store,
            quarantine=Quarantine(tmp_path / "quarantine", run_id),
            options=CopyOptions(splits=6, backoff=Backoff(base=0.001, cap=0.01)),
        ).execute()
    finally:
        store.close()
    assert report.failure is None
    assert (report.counts.read, report.counts.written) == (2001, 2001)
    assert pg_password_free(report.dumps(), pg)
    assert pg_rows(pg, "SELECT count(*), min(id), max(id) FROM dst") == [(2001, -500, 1500)]

    # The server ends the reading connection mid-stream: the runner must see a transient error.
    chunks = source.read(source.plan(1)[0][1])
    next(chunks)
    pg_execute(
        pg,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        "AND datname = current_database()",
    )
    with pytest.raises(SqlTransientError):
        for _chunk in chunks:
            pass
    source.close()
    sink.close()


def test_failing_to_connect_during_a_slice_is_transient(pg: PostgresServer) -> None:
    pg_execute(
        pg,
        "CREATE TABLE src (id integer PRIMARY KEY)",
        "INSERT INTO src SELECT generate_series(1, 10)",
    )
    source = SqlSource(pg.url(), table="src")
    # The database's owner can close it to new connections, as a restarting server would be.
    other = PostgresServer(pg.host, pg.port, pg.user, pg.password, "postgres")
    try:
        plan = source.plan(2)
        source.close()  # no pooled connection left: the next read must connect
        pg_execute(other, f"ALTER DATABASE {pg.database} CONNECTION LIMIT 0")
        with pytest.raises(SqlTransientError) as failed:
            next(iter(source.read(plan[0][1])))
    finally:
        pg_execute(other, f"ALTER DATABASE {pg.database} CONNECTION LIMIT -1")
        source.close()
    assert "too many connections" in str(failed.value)
    assert pg.password not in str(failed.value)


def pg_password_free(text: str, server: PostgresServer) -> bool:
    return server.password not in text


def test_password_never_shows(pg: PostgresServer) -> None:
    wrong = "Wr0ng-s3cret-Passw0rd"
    url = pg.url(password=wrong)
    source = SqlSource(SecretStr(url), table="anything")
    sink = SqlSink(url, table="anything")
    for thing in (source, sink):
        assert wrong not in thing.location
        assert wrong not in repr(thing)
        assert "***" in thing.location
    with pytest.raises(CopyError) as failed:
        source.fields()
    assert wrong not in str(failed.value)
    assert "password authentication failed" in str(failed.value)
    with pytest.raises(CopyError) as failed:
        sink.prepare([Field("id", cqltypes.Int32Type, key=True)], DriftPolicy.FAIL)
    assert wrong not in str(failed.value)
    in_query = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.database}?password={wrong}"
    query_source = SqlSource(in_query, query="SELECT 1")
    assert wrong not in query_source.location
    with pytest.raises(CopyError) as failed:
        query_source.fields()
    assert wrong not in str(failed.value)
    for thing in (source, sink, query_source):
        thing.close()


# --- SQLite -------------------------------------------------------------------------------------

_SQLITE_TYPES = """
    id INTEGER PRIMARY KEY, big BIGINT, amount NUMERIC(10, 2), score DOUBLE, flag BOOLEAN,
    name TEXT, code VARCHAR(10), born DATE, seen DATETIME, at TIME, data BLOB, doc JSON, loose
"""


def _sqlite(path: Path, *statements: str, params: list[tuple[Any, ...]] | None = None) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
        if params:
            conn.executemany(f"INSERT INTO src VALUES ({', '.join('?' * len(params[0]))})", params)
    conn.close()


def test_sqlite_table_copies_exactly(tmp_path: Path) -> None:
    source_db, target_db = tmp_path / "a.db", tmp_path / "b.db"
    rows = [
        (
            1,
            2**62,
            "12.50",
            0.25,
            1,
            "zoë",
            "abc",
            "2024-02-29",
            "2024-05-01 10:00:00.500000",
            "10:11:12.000000",
            b"\x00\xff",
            '{"a":[1,null]}',
            5,
        ),
        (
            2,
            -1,
            "-0.01",
            -1e300,
            0,
            "",
            "",
            "0001-01-01",
            "1970-01-01 00:00:00.000000",
            "00:00:00.000000",
            b"",
            "[]",
            "text",
        ),
        (3, *([None] * 12)),
        *[
            (i, i, None, None, None, f"r{i}", None, None, None, None, None, None, None)
            for i in range(4, 120)
        ],
    ]
    _sqlite(source_db, f"CREATE TABLE src ({_SQLITE_TYPES})", params=rows)
    _sqlite(target_db, f"CREATE TABLE dst ({_SQLITE_TYPES})")
    source = SqlSource(f"sqlite:///{source_db}", table="src", chunk_rows=9)
    sink = SqlSink(f"sqlite:///{target_db}", table="dst", create=False)
    try:
        assert copy(source, sink, splits=3) == []
        made = SqlSink(f"sqlite:///{target_db}", table="made")
        assert copy(source, made) == []
        made.close()
    finally:
        source.close()
        sink.close()
    with sqlite3.connect(source_db) as a, sqlite3.connect(target_db) as b:
        expected = a.execute("SELECT * FROM src ORDER BY id").fetchall()
        assert b.execute("SELECT * FROM dst ORDER BY id").fetchall() == expected
        assert b.execute("SELECT id, name, big FROM made ORDER BY id").fetchall() == [
            r[:1] + r[5:6] + r[1:2] for r in expected
        ]
    a.close()
    b.close()


def test_missing_sqlite_database_and_table_are_named(tmp_path: Path) -> None:
    missing = SqlSource(f"sqlite:///{tmp_path / 'nope.db'}", table="t")
    with pytest.raises(CopyError, match=r"no SQLite database at .*nope\.db"):
        missing.fields()
    _sqlite(tmp_path / "a.db", "CREATE TABLE other (id INTEGER PRIMARY KEY)")
    source = SqlSource(f"sqlite:///{tmp_path / 'a.db'}", table="t")
    with pytest.raises(CopyError, match="no table t"):
        source.fields()
    keyed = SqlSource(f"sqlite:///{tmp_path / 'a.db'}", table="other", key="nope")
    with pytest.raises(CopyError, match=r"no column nope .*has: id"):
        keyed.plan(2)
    sink = SqlSink(f"sqlite:///{tmp_path / 'a.db'}", table="t", create=False)
    with pytest.raises(CopyError, match=r"no table t .*create: true"):
        sink.prepare([Field("id", key=True)], DriftPolicy.FAIL)
    for thing in (missing, source, keyed, sink):
        thing.close()


def test_sqlite_query_source_passes_driver_values_untyped(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    _sqlite(
        path,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT, v REAL)",
        "INSERT INTO t VALUES (1, '10:30', 0.5), (2, 'x%y', NULL), (3, ':name', 2)",
    )
    query = (
        "SELECT id, at, v * 2 AS twice FROM t WHERE at LIKE '%:%' OR at LIKE '%\\%%' ESCAPE '\\'"
    )
    source = SqlSource(f"sqlite:///{path}", query=query, chunk_rows=2)
    try:
        fields = source.fields()
        rows = [r for _, spec in source.plan(4) for c in source.read(spec) for r in c.rows]
    finally:
        source.close()
    assert fields == [Field("id"), Field("at"), Field("twice")]
    assert sorted(rows) == [(1, "10:30", 1.0), (2, "x%y", None), (3, ":name", 4.0)]


def test_short_passwords_are_blanked_only_where_they_stand_alone() -> None:
    from cassflow.copy._sqlalchemy import describe

    text = describe(ValueError("connection to port 5432 failed for u:p@h (p)"), "p")
    assert text == "connection to port 5432 failed for u:***@h (***)"
    assert describe(ValueError("xxsecret12yy"), "secret12") == "xx***yy"


# --- key ranges ---------------------------------------------------------------------------------


@given(
    low=st.integers(-(2**63), 2**63 - 1),
    width=st.integers(0, 2**64),
    splits=st.integers(1, 50),
    probes=st.lists(st.integers(-(2**64), 2**64), max_size=20),
)
def test_key_ranges_cover_every_integer_once(
    low: int, width: int, splits: int, probes: list[int]
) -> None:
    high = low + width
    ranges = key_ranges(low, high, splits)
    assert len(ranges) == min(splits, width + 1)
    assert ranges[0][0] is None
    assert ranges[-1][1] is None
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start  # contiguous: [lo, hi) then [hi, ...)
    for key in [low, high, *probes]:
        hits = [
            (lo, hi) for lo, hi in ranges if (lo is None or key >= lo) and (hi is None or key < hi)
        ]
        assert len(hits) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.sets(st.integers(-(2**63), 2**63 - 1) | st.integers(-50, 50), max_size=60),
    splits=st.integers(1, 12),
    with_nulls=st.booleans(),
)
def test_key_range_slices_read_every_row_once(
    keys: set[int], splits: int, with_nulls: bool
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "keys.db"
        rows = [(k, f"v{k}") for k in keys] + ([(None, "null")] * 3 if with_nulls else [])
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (n INTEGER, v TEXT)")
            conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
        conn.close()
        source = SqlSource(f"sqlite:///{path}", table="t", key="n", chunk_rows=7)
        try:
            plan = source.plan(splits)
            assert source.plan(splits) == plan  # stable
            read = [r for _, spec in plan for c in source.read(spec) for r in c.rows]
        finally:
            source.close()
    assert sorted(read, key=repr) == sorted(rows, key=repr)
    assert len({slice_id for slice_id, _ in plan}) == len(plan)
