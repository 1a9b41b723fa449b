"""INSERT JSON through the driver: values of every type decoded as Cassandra's fromJson
does, DEFAULT NULL / DEFAULT UNSET, bind markers, case-sensitive keys and the errors."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import re
import uuid
from collections.abc import Iterator

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.util import Date, SortedSet, Time


@pytest.fixture
def js(cluster: Cluster, keyspace: str) -> Iterator[Session]:
    # A session of its own: the shared one must not keep a keyspace that is dropped after.
    session = cluster.connect(keyspace)
    session.execute(
        'CREATE TABLE t (k int, c text, "Mixed" int, v int, big bigint, f float, d double, '
        "dec decimal, vi varint, b boolean, bl blob, u uuid, tu timeuuid, ts timestamp, "
        "dt date, tm time, ip inet, du duration, l list<int>, s set<text>, "
        "m map<int, text>, tp tuple<int, text>, fm map<text, frozen<list<int>>>, "
        "PRIMARY KEY (k, c))"
    )
    yield session
    session.shutdown()


def _refused(session: Session, statement: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        session.execute(statement)


def test_every_type_round_trips(js: Session) -> None:
    tu = uuid.uuid1()
    js.execute(
        "INSERT INTO t JSON '"
        '{"k": 1, "c": "a", "\\"Mixed\\"": 7, "v": "8", "big": 9000000000, "f": 1.5, '
        '"d": "2.25", "dec": 1.10, "vi": 123456789012345678901234567890, "b": "true", '
        '"bl": "0xcafe", "u": "4a4d2ff6-8f2e-4f4e-9b1c-1b8a6fd7c3a1", '
        f'"tu": "{tu}", "ts": "2024-01-02 03:04:05.678Z", "dt": "2024-02-29", '
        '"tm": "12:34:56.789", "ip": "::1", "du": "1h2m", "l": [3, 1, 2], '
        '"s": ["b", "a", "b"], "m": {"2": "two", "1": "one"}, "tp": [5, "five"], '
        '"fm": {"x": [1, 2]}}'
        "'"
    )
    row = js.execute("SELECT * FROM t WHERE k = 1 AND c = 'a'").one()
    assert row.Mixed == 7
    assert row.v == 8
    assert row.big == 9000000000
    assert row.f == 1.5
    assert row.d == 2.25
    assert row.dec == decimal.Decimal("1.10")
    assert row.vi == 123456789012345678901234567890
    assert row.b is True
    assert row.bl == b"\xca\xfe"
    assert row.u == uuid.UUID("4a4d2ff6-8f2e-4f4e-9b1c-1b8a6fd7c3a1")
    assert row.tu == tu
    assert row.ts == datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)
    assert row.dt == Date(datetime.date(2024, 2, 29))
    assert row.tm == Time(datetime.time(12, 34, 56, 789000))
    assert row.ip == str(ipaddress.ip_address("::1"))
    assert row.du.nanoseconds == 3_720_000_000_000
    assert row.l == [3, 1, 2]
    assert row.s == SortedSet(["a", "b"])
    assert row.m == {1: "one", 2: "two"}
    assert row.tp == (5, "five")
    assert row.fm == {"x": [1, 2]}


def test_vector(js: Session) -> None:
    js.execute("CREATE TABLE vec (k int PRIMARY KEY, e vector<float, 3>)")
    js.execute('INSERT INTO vec JSON \'{"k": 1, "e": [1.0, 2.5, -3]}\'')
    assert js.execute("SELECT e FROM vec WHERE k = 1").one().e == [1.0, 2.5, -3.0]
    _refused(
        js,
        'INSERT INTO vec JSON \'{"k": 2, "e": [1.0]}\'',
        "Error decoding JSON value for e: Expected 3 elements, but got 1",
    )


def test_timestamp_as_milliseconds(js: Session) -> None:
    js.execute('INSERT INTO t JSON \'{"k": 2, "c": "a", "ts": 1700000000000}\'')
    row = js.execute("SELECT ts FROM t WHERE k = 2 AND c = 'a'").one()
    assert row.ts == datetime.datetime(2023, 11, 14, 22, 13, 20)


def test_default_null_and_default_unset(js: Session) -> None:
    js.execute("INSERT INTO t (k, c, v, big) VALUES (3, 'a', 1, 2)")
    js.execute('INSERT INTO t JSON \'{"k": 3, "c": "a", "v": 10}\' DEFAULT UNSET')
    row = js.execute("SELECT v, big FROM t WHERE k = 3 AND c = 'a'").one()
    assert (row.v, row.big) == (10, 2)
    js.execute('INSERT INTO t JSON \'{"k": 3, "c": "a", "v": 11}\'')  # DEFAULT NULL
    row = js.execute("SELECT v, big FROM t WHERE k = 3 AND c = 'a'").one()
    assert (row.v, row.big) == (11, None)
    js.execute('INSERT INTO t JSON \'{"k": 3, "c": "a", "v": 12}\' DEFAULT NULL')
    assert js.execute("SELECT v FROM t WHERE k = 3 AND c = 'a'").one().v == 12


def test_bind_marker(js: Session) -> None:
    insert = js.prepare("INSERT INTO t JSON ?")
    js.execute(insert, ['{"k": 4, "c": "b", "l": [1]}'])
    js.execute("INSERT INTO t JSON %s", ['{"k": 4, "c": "c", "l": [2]}'])
    rows = js.execute("SELECT c, l FROM t WHERE k = 4")
    assert [(r.c, r.l) for r in rows] == [("b", [1]), ("c", [2])]


def test_if_not_exists(js: Session) -> None:
    first = js.execute('INSERT INTO t JSON \'{"k": 5, "c": "a", "v": 1}\' IF NOT EXISTS')
    assert first.one()[0] is True
    second = js.execute('INSERT INTO t JSON \'{"k": 5, "c": "a", "v": 2}\' IF NOT EXISTS')
    assert second.one()[0] is False
    assert js.execute("SELECT v FROM t WHERE k = 5 AND c = 'a'").one().v == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"k": 1, "c": "a", "nope": 1}', "JSON values map contains unrecognized column: nope"),
        ('{"k": 1, "c": "a", "mixed": 1}', "JSON values map contains unrecognized column: mixed"),
        (
            '{"k": 1, "c": "a", "v": "x"}',
            "Error decoding JSON value for v: Unable to make int from 'x'",
        ),
        (
            '{"k": 1, "c": 5}',
            "Error decoding JSON value for c: Expected a UTF-8 string, but got a Integer: 5",
        ),
        (
            '{"k": 1, "c": "a", "bl": "cafe"}',
            "Error decoding JSON value for bl: String representation of blob is missing 0x "
            "prefix: cafe",
        ),
        (
            '{"k": 1, "c": "a", "l": 3}',
            "Error decoding JSON value for l: Expected a list, but got a Integer: 3",
        ),
        (
            '{"k": 1, "c": "a", "tp": [1, "a", 2]}',
            "Error decoding JSON value for tp: Tuple contains extra items (expected 2, got 3)",
        ),
        (
            '{"k": 1, "c": "a", "v": 2147483648}',
            "Error decoding JSON value for v: Expected an int value, but got a Long: 2147483648",
        ),
        (
            '{"k": 1, "c": "a", "v": 1.5}',
            "Error decoding JSON value for v: Expected an int value, but got a Double: 1.5",
        ),
        ("[1]", "Could not decode JSON string as a map"),
        ("{not json", "Could not decode JSON string as a map"),
        ("null", "Got null for INSERT JSON values"),
    ],
)
def test_errors(js: Session, document: str, message: str) -> None:
    _refused(js, f"INSERT INTO t JSON '{document}'", message)
