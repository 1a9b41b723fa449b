"""INSERT JSON through the driver: values of every type decoded as Cassandra's fromJson
does, DEFAULT NULL / DEFAULT UNSET, bind markers, case-sensitive keys and the errors."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import uuid
from collections.abc import Iterator

import pytest
from cassandra.cluster import Cluster, Session
from cassandra.util import Date, SortedSet, Time

from invalid import refused


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
    refused(
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
            "Error decoding JSON value for bl: Value 'cafe' is not a valid blob representation: "
            "String representation of blob is missing 0x prefix: cafe",
        ),
        (
            '{"k": 1, "c": "a", "bl": "0x123"}',
            "Value '0x123' is not a valid blob representation: cannot parse '123' as hex bytes",
        ),
        ('{"k": 1, "c": "a", "bl": 12}', "Value '12' is not a valid blob representation"),
        ('{"k": 1, "c": "a", "tp": [1]}', "Tuple is missing items (expected 2): [1]"),
        (
            '{"k": 1, "c": "a", "u": "zz"}',
            "Error decoding JSON value for u: Unable to make UUID from 'zz'",
        ),
        (
            '{"k": 1, "c": "a", "u": 12}',
            "Expected a string representation of a uuid, but got a Integer: 12",
        ),
        (
            '{"k": 1, "c": "a", "tu": "550e8400-e29b-41d4-a716-446655440000"}',
            "Error decoding JSON value for tu: TimeUUID supports only version 1 UUIDs",
        ),
        (
            '{"k": 1, "c": "a", "tu": 7}',
            "Expected a string representation of a timeuuid, but got a Integer: 7",
        ),
        ('{"k": 1, "c": "a", "v": true}', "Expected an int value, but got a Boolean: true"),
        (
            '{"k": 1, "c": "a", "big": "x"}',
            "Error decoding JSON value for big: Unable to make long from 'x'",
        ),
        (
            '{"k": 1, "c": "a", "big": 9223372036854775808}',
            "Expected a bigint value, but got a BigInteger: 9223372036854775808",
        ),
        (
            '{"k": 1, "c": "a", "dec": "x"}',
            "Value 'x' is not a valid representation of a decimal value",
        ),
        (
            '{"k": 1, "c": "a", "dec": true}',
            "Value 'true' is not a valid representation of a decimal value",
        ),
        (
            '{"k": 1, "c": "a", "vi": 1.5}',
            "Value '1.5' is not a valid representation of a varint value",
        ),
        (
            '{"k": 1, "c": "a", "vi": ""}',
            "Value '' is not a valid representation of a varint value",
        ),
        ('{"k": 1, "c": "a", "d": NaN}', "Could not decode JSON string as a map"),
        (
            '{"k": 1, "c": "a", "l": 3}',
            "Error decoding JSON value for l: Expected a list, but got a Integer: 3",
        ),
        (
            '{"k": 1, "c": "a", "tp": [1, "a", 2]}',
            "Error decoding JSON value for tp: Tuple contains extra items (expected 2): [1, a, 2]",
        ),
        (
            '{"k": 1, "c": "a", "v": 2147483648}',
            "Error decoding JSON value for v: Expected an int value, but got a Long: 2147483648",
        ),
        (
            '{"k": 1, "c": "a", "v": 1.5}',
            "Error decoding JSON value for v: Expected an int value, but got a Double: 1.5",
        ),
        (
            '{"k": 1, "c": "a", "l": "[1"}',
            "Error decoding JSON value for l: Error decoding JSON string: ",
        ),
        (
            '{"k": 1, "c": "a", "ts": 1000}',
            "Expected a long or a datestring representation of a timestamp value, but got a "
            "Integer: 1000",
        ),
        ("[1]", "Could not decode JSON string as a map"),
        ("{not json", "Could not decode JSON string as a map"),
        ("null", "Got null for INSERT JSON values"),
    ],
)
def test_errors(js: Session, document: str, message: str) -> None:
    refused(js, f"INSERT INTO t JSON '{document}'", message)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            '{"k": 1, "sm": 70000}',
            "Error decoding JSON value for sm: Unable to make short from '70000'",
        ),
        ('{"k": 1, "sm": 1.5}', "Unable to make short from '1.5'"),
        ('{"k": 1, "sm": true}', "Expected a short value, but got a Boolean: true"),
        (
            '{"k": 1, "ti": "300"}',
            "Error decoding JSON value for ti: Unable to make byte from '300'",
        ),
        ('{"k": 1, "ti": [1]}', "Expected a byte value, but got a ArrayList: [1]"),
        (
            '{"k": 1, "ip": 5}',
            "Expected a string representation of an inet value, but got a Integer: 5",
        ),
        (
            '{"k": 1, "dt": 5}',
            "Expected a string representation of a date value, but got a Integer: 5",
        ),
        (
            '{"k": 1, "tm": 5}',
            "Expected a string representation of a time value, but got a Integer: 5",
        ),
        ('{"k": 1, "tm": "xyz"}', "(TimeType) Unable to coerce 'xyz' to a formatted time (long)"),
        (
            '{"k": 1, "du": 5}',
            "Expected a string representation of a duration, but got a Integer: 5",
        ),
        (
            '{"k": 1, "db": "xyz"}',
            "Error decoding JSON value for db: Unable to make double from 'xyz'",
        ),
        ('{"k": 1, "db": false}', "Expected a double value, but got a Boolean: false"),
        (
            '{"k": 1, "s": {"a": 1}}',
            "Expected a list (representing a set), but got a LinkedHashMap: {a=1}",
        ),
    ],
)
def test_errors_of_other_types(
    cluster: Cluster, keyspace: str, document: str, message: str
) -> None:
    session = cluster.connect(keyspace)
    try:
        session.execute(
            "CREATE TABLE IF NOT EXISTS small (k int PRIMARY KEY, sm smallint, ti tinyint, "
            "ip inet, dt date, tm time, du duration, db double, s set<text>)"
        )
        refused(session, f"INSERT INTO small JSON '{document}'", message)
    finally:
        session.shutdown()


def test_numbers_java_reads(js: Session) -> None:
    """Numbers as strings are read as Java reads them: signs, exponents, NaN and Infinity."""
    js.execute(
        'INSERT INTO t JSON \'{"k": 9, "c": "n", "v": "+5", "big": "-7", "d": "NaN", '
        '"f": "-Infinity", "dec": "1.5E+3", "vi": "+12"}\''
    )
    row = js.execute("SELECT v, big, d, f, dec, vi FROM t WHERE k = 9 AND c = 'n'").one()
    assert (row.v, row.big, row.vi) == (5, -7, 12)
    assert row.d != row.d
    assert row.f == float("-inf")
    assert row.dec == decimal.Decimal("1.5E+3")
    refused(
        js, 'INSERT INTO t JSON \'{"k": 9, "c": "n", "v": " 5"}\'', "Unable to make int from ' 5'"
    )
