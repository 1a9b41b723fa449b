"""Native scalar functions and CAST through the driver: values, result column names and types,
functions in WHERE, writetime()/ttl() rules, as Cassandra 4.1 answers them."""

from __future__ import annotations

import datetime
import decimal
import re
import time
import uuid

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.util import Date

from columns import column_types


@pytest.fixture
def typed(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.f"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, i int, f float, d double, m decimal, "
        "t text, ts timestamp, dt date, u timeuuid, b blob, bo boolean, ip inet)"
    )
    session.execute(
        f"INSERT INTO {table} (k, i, f, d, m, t, ts, dt, u, b, bo, ip) VALUES (1, 42, 2.5, "
        "-1.75, 12.50, 'hello', '2021-03-04 05:06:07.089+0000', '2021-03-04', "
        "50554d6e-29bb-11e5-b345-feff819cdc9f, 0x00000007, true, '10.0.0.1')"
    )
    return table


def test_cast_between_numbers_and_to_text(session: Session, typed: str) -> None:
    result = session.execute(
        f"SELECT CAST(i AS text), CAST(i AS double), CAST(f AS int), CAST(d AS int), "
        f"CAST(m AS double), CAST(i AS decimal), CAST(i AS varint), CAST(f AS text), "
        f"CAST(bo AS text), CAST(ip AS text), CAST(u AS timestamp), CAST(ts AS date), "
        f"CAST(ts AS text), CAST(dt AS timestamp) FROM {typed} WHERE k = 1"
    )
    assert result.column_names == [
        "cast(i as text)",
        "cast(i as double)",
        "cast(f as int)",
        "cast(d as int)",
        "cast(m as double)",
        "cast(i as decimal)",
        "cast(i as varint)",
        "cast(f as text)",
        "cast(bo as text)",
        "cast(ip as text)",
        "cast(u as timestamp)",
        "cast(ts as date)",
        "cast(ts as text)",
        "cast(dt as timestamp)",
    ]
    row = result.one()
    assert tuple(row)[:10] == (
        "42",
        42.0,
        2,
        -1,
        12.5,
        decimal.Decimal("42.0"),
        42,
        "2.5",
        "true",
        "10.0.0.1",
    )
    assert row[10] == datetime.datetime(2015, 7, 14, 0, 0, 18, 805000)
    assert row[11] == Date(datetime.date(2021, 3, 4))
    assert row[12] == "2021-03-04T05:06:07.089Z"
    assert row[13] == datetime.datetime(2021, 3, 4)


def test_cast_to_own_type_is_the_column(session: Session, typed: str) -> None:
    result = session.execute(f"SELECT CAST(i AS int) FROM {typed} WHERE k = 1")
    assert result.column_names == ["i"]
    assert result.one()[0] == 42


def test_impossible_cast_is_refused(session: Session, typed: str) -> None:
    with pytest.raises(InvalidRequest, match="t cannot be cast to int"):
        session.execute(f"SELECT CAST(t AS int) FROM {typed}")


def test_time_functions(session: Session, typed: str) -> None:
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    result = session.execute(
        f"SELECT now(), uuid(), toTimestamp(now()), currentTimestamp(), currentDate(), "
        f"toDate(ts), toUnixTimestamp(ts), toTimestamp(dt), toDate(u), dateOf(u), "
        f"unixTimestampOf(u), currentTimeUUID() FROM {typed} WHERE k = 1"
    )
    assert result.column_names == [
        "system.now()",
        "system.uuid()",
        "system.totimestamp(system.now())",
        "system.currenttimestamp()",
        "system.currentdate()",
        "system.todate(ts)",
        "system.tounixtimestamp(ts)",
        "system.totimestamp(dt)",
        "system.todate(u)",
        "system.dateof(u)",
        "system.unixtimestampof(u)",
        "system.currenttimeuuid()",
    ]
    row = result.one()
    assert [row[0].version, row[1].version, row[11].version] == [1, 4, 1]
    after = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    slack = datetime.timedelta(seconds=1)
    assert before - slack <= row[2] <= after + slack
    assert before - slack <= row[3] <= after + slack
    assert row[4] in (Date(before.date()), Date(after.date()))
    assert row[5] == Date(datetime.date(2021, 3, 4))
    assert row[6] == 1614834367089
    assert row[7] == datetime.datetime(2021, 3, 4)
    assert row[8] == Date(datetime.date(2015, 7, 14))
    assert row[9] == datetime.datetime(2015, 7, 14, 0, 0, 18, 805000)
    assert row[10] == 1436832018805


def test_min_and_max_timeuuid_bound_a_time_range(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.ev (k int, t timeuuid, PRIMARY KEY (k, t))")
    base = 1_600_000_000_000  # ms
    for offset in range(5):
        stamp = uuid.UUID(fields=_time_fields(base + offset * 1000), version=1)
        session.execute(f"INSERT INTO {keyspace}.ev (k, t) VALUES (0, {stamp})")
    rows = session.execute(
        f"SELECT toUnixTimestamp(t) FROM {keyspace}.ev WHERE k = 0 "
        "AND t > maxTimeuuid('2020-09-13 12:26:41+0000') "
        "AND t < minTimeuuid('2020-09-13 12:26:44+0000')"
    )
    assert [r[0] for r in rows] == [base + 2000, base + 3000]
    low = session.execute("SELECT minTimeuuid('2020-09-13 12:26:40+0000') FROM system.local").one()
    assert low[0].time == (base * 10_000) + 0x01B21DD213814000


def _time_fields(millis: int) -> tuple[int, int, int, int, int, int]:
    ticks = millis * 10_000 + 0x01B21DD213814000
    return (
        ticks & 0xFFFFFFFF,
        (ticks >> 32) & 0xFFFF,
        (ticks >> 48) & 0x0FFF | 0x1000,
        0x80,
        0x80,
        0x808080808080,
    )


def test_blob_conversions(session: Session, typed: str) -> None:
    result = session.execute(
        f"SELECT intAsBlob(i), blobAsInt(b), textAsBlob(t), blobAsText(textAsBlob('x')) "
        f"FROM {typed} WHERE k = 1"
    )
    assert result.column_names == [
        "system.intasblob(i)",
        "system.blobasint(b)",
        "system.textasblob(t)",
        "system.blobastext(system.textasblob('x'))",
    ]
    assert tuple(result.one()) == (b"\x00\x00\x00\x2a", 7, b"hello", "x")
    with pytest.raises(InvalidRequest, match="is not a valid binary representation for type"):
        session.execute(f"SELECT blobAsBigint(b) FROM {typed} WHERE k = 1")


def test_function_argument_type_mismatch_is_refused(session: Session, typed: str) -> None:
    with pytest.raises(
        InvalidRequest,
        match=re.escape("Invalid call to function todate, none of its type signatures match"),
    ):
        session.execute(f"SELECT toDate(i) FROM {typed}")
    with pytest.raises(InvalidRequest, match="Unknown function"):
        session.execute(f"SELECT nosuchfunction(i) FROM {typed}")


def test_token_in_selection_and_where(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.tk (k int PRIMARY KEY, v int)")
    for k in range(10):
        session.execute(f"INSERT INTO {keyspace}.tk (k, v) VALUES ({k}, {k})")
    result = session.execute(f"SELECT k, token(k) FROM {keyspace}.tk")
    assert result.column_names == ["k", "system.token(k)"]
    tokens = {r.k: r[1] for r in result}
    pivot = tokens[3]
    above = session.execute(f"SELECT k FROM {keyspace}.tk WHERE token(k) > token(3)")
    assert sorted(r.k for r in above) == sorted(k for k, t in tokens.items() if t > pivot)


def test_functions_in_insert_values(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.iv (k int PRIMARY KEY, u timeuuid, ts timestamp)")
    session.execute(f"INSERT INTO {keyspace}.iv (k, u, ts) VALUES (1, now(), toTimestamp(now()))")
    row = session.execute(f"SELECT u, ts, dateOf(u) FROM {keyspace}.iv WHERE k = 1").one()
    assert row.u.version == 1
    assert abs((row.ts - row[2]).total_seconds()) < 1
    assert abs(row.ts.timestamp() - time.time()) < 60


def test_writetime_and_ttl(session: Session, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.wt (k int PRIMARY KEY, v int, l list<int>, fl frozen<list<int>>)"
    )
    session.execute(
        f"INSERT INTO {keyspace}.wt (k, v, l, fl) VALUES (1, 2, [1], [2]) "
        "USING TIMESTAMP 1000 AND TTL 5000"
    )
    result = session.execute(f"SELECT writetime(v), ttl(v), writetime(fl) FROM {keyspace}.wt")
    assert result.column_names == ["writetime(v)", "ttl(v)", "writetime(fl)"]
    row = result.one()
    assert (row[0], row[2]) == (1000, 1000)
    assert 4900 < row[1] <= 5000
    with pytest.raises(
        InvalidRequest, match="Cannot use selection function writeTime on non-frozen collection l"
    ):
        session.execute(f"SELECT writetime(l) FROM {keyspace}.wt")
    with pytest.raises(
        InvalidRequest, match="Cannot use selection function ttl on PRIMARY KEY part k"
    ):
        session.execute(f"SELECT ttl(k) FROM {keyspace}.wt")


def test_typed_literal_selector(session: Session, typed: str) -> None:
    result = session.execute(f"SELECT (int)3, k FROM {typed} WHERE k = 1")
    assert result.column_names == ["(int)3", "k"]
    assert tuple(result.one()) == (3, 1)
    with pytest.raises(InvalidRequest, match="Cannot infer type for term 3"):
        session.execute(f"SELECT 3 FROM {typed}")


def test_bind_markers_in_function_arguments(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.pm (k int, t timeuuid, b blob, PRIMARY KEY (k, t))")
    insert = session.prepare(f"INSERT INTO {keyspace}.pm (k, t, b) VALUES (?, now(), intAsBlob(?))")
    assert [c.name for c in insert.column_metadata] == ["k", "arg0(system.intasblob)"]
    session.execute(insert, (1, 7))
    since = session.prepare(
        f"SELECT k, blobAsInt(b) FROM {keyspace}.pm WHERE k = ? AND t > maxTimeuuid(?)"
    )
    assert [c.name for c in since.column_metadata] == ["k", "arg0(system.maxtimeuuid)"]
    past = datetime.datetime(2000, 1, 1)
    assert [tuple(r) for r in session.execute(since, (1, past))] == [(1, 7)]
    by_token = session.prepare(f"SELECT k FROM {keyspace}.pm WHERE token(k) >= token(?)")
    assert [c.name for c in by_token.column_metadata] == ["arg0(system.token)"]
    assert [r.k for r in session.execute(by_token, (1,))] == [1]


def test_numeric_casts_narrow_as_java_does(session: Session, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.nc (k int PRIMARY KEY, b bigint, d double, m decimal, "
        "v varint, i int)"
    )
    session.execute(
        f"INSERT INTO {keyspace}.nc (k, b, d, m, v, i) VALUES (1, 2147483648, 1e10, "
        "4294967297.9, 18446744073709551617, 300)"
    )
    row = session.execute(
        f"SELECT CAST(b AS int), CAST(d AS int), CAST(d AS smallint), CAST(m AS int), "
        f"CAST(v AS bigint), CAST(i AS tinyint), CAST(m AS varint), CAST(v AS double) "
        f"FROM {keyspace}.nc WHERE k = 1"
    ).one()
    # Integers and decimals keep their low bits; doubles saturate (to int, then to short).
    assert tuple(row) == (-2147483648, 2147483647, -1, 1, 1, 44, 4294967297, 1.8446744073709552e19)


def test_decimal_cast_to_text_is_plain(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.dt (k int PRIMARY KEY, m decimal)")
    session.execute(f"INSERT INTO {keyspace}.dt (k, m) VALUES (1, 12.50)")
    session.execute(f"INSERT INTO {keyspace}.dt (k, m) VALUES (2, -0.5e-10)")
    session.execute(f"INSERT INTO {keyspace}.dt (k, m) VALUES (3, 1e3)")
    rows = session.execute(f"SELECT k, CAST(m AS text), toJson(m) FROM {keyspace}.dt")
    # CAST writes BigDecimal.toPlainString, JSON BigDecimal.toString.
    assert sorted(tuple(r) for r in rows) == [
        (1, "12.50", "12.50"),
        (2, "-0.00000000005", "-5E-11"),
        (3, "1000", "1E+3"),
    ]


def test_token_of_any_selectors_and_its_argument_count(session: Session, keyspace: str) -> None:
    # TokenFct hashes its arguments as the partition key, whichever selectors give them.
    session.execute(f"CREATE TABLE {keyspace}.tc (k int, c int, PRIMARY KEY (k, c))")
    session.execute(f"INSERT INTO {keyspace}.tc (k, c) VALUES (1, 2)")
    session.execute(f"INSERT INTO {keyspace}.tc (k, c) VALUES (2, 1)")
    result = session.execute(f"SELECT k, c, token(k), token(c) FROM {keyspace}.tc")
    assert result.column_names == ["k", "c", "system.token(k)", "system.token(c)"]
    rows = list(result)
    by_key = {r.k: r[2] for r in rows}
    assert {r[3] for r in rows} == {by_key[1], by_key[2]}
    with pytest.raises(InvalidRequest, match=r"system\.token: 1 required but 2 provided"):
        session.execute(f"SELECT token(k, c) FROM {keyspace}.tc")


def test_blob_parameters_read_any_value(session: Session, keyspace: str) -> None:
    # BytesType reads anything: Cassandra 4.1 resolves a call with no exact overload to the
    # blob one (min/max of a collection compare its bytes and give a blob).
    session.execute(
        f"CREATE TABLE {keyspace}.anyb (k int PRIMARY KEY, v int, a ascii, fl frozen<list<int>>)"
    )
    session.execute(f"INSERT INTO {keyspace}.anyb (k, v, a, fl) VALUES (1, 5, 'x', [1])")
    session.execute(f"INSERT INTO {keyspace}.anyb (k, v, a, fl) VALUES (2, 6, 'y', [2, 3])")
    row = session.execute(f"SELECT blobAsInt(v), blobAsText(a) FROM {keyspace}.anyb WHERE k = 1")
    assert list(row.one()) == [5, "x"]
    result = session.execute(f"SELECT min(fl), max(fl) FROM {keyspace}.anyb")
    assert column_types(result) == ["blob", "blob"]
    low, high = result.one()
    assert low == bytes.fromhex("000000010000000400000001")
    assert high == bytes.fromhex("0000000200000004000000020000000400000003")
    with pytest.raises(InvalidRequest, match="Invalid call to function sum, none of its type"):
        session.execute(f"SELECT sum(fl) FROM {keyspace}.anyb")
