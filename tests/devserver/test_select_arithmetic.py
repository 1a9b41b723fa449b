"""Arithmetic operators in selectors (Cassandra 4.0+ OperationFcts): result types, column
names, Java's arithmetic, date/timestamp plus or minus a duration, and the errors."""

from __future__ import annotations

import datetime
import decimal
import math

import pytest
from cassandra import FunctionFailure, InvalidRequest
from cassandra.cluster import Session
from cassandra.util import Date, Duration

from columns import column_types


@pytest.fixture
def nums(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.nums"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, v int, b bigint, t tinyint, f float, "
        "d double, dc decimal, vi varint, ts timestamp, dt date, tx text)"
    )
    session.execute(
        f"INSERT INTO {table} (k, v, b, t, f, d, dc, vi, ts, dt, tx) VALUES (1, 5, 7, 3, 1.5, "
        "2.5, 10.5, 100, '2024-01-31 00:00:00+0000', '2024-01-31', 'x')"
    )
    return table


def test_numeric_operations_types_and_names(session: Session, nums: str) -> None:
    result = session.execute(
        "SELECT v + 1, -v, v * b, t + 1, t + t, f + v, b + f, dc / 3, vi % 7, v / 2, v - 7, "
        f"d * 2 FROM {nums} WHERE k = 1"
    )
    assert result.column_names == [
        "v + 1",
        "-v",
        "v * b",
        "t + 1",
        "t + t",
        "f + v",
        "b + f",
        "dc / 3",
        "vi % 7",
        "v / 2",
        "v - 7",
        "d * 2",
    ]
    assert column_types(result) == [
        "int",
        "int",
        "bigint",
        "int",
        "tinyint",
        "float",
        "double",
        "decimal",
        "varint",
        "int",
        "int",
        "double",
    ]
    assert list(result.one()) == [6, -5, 35, 4, 6, 6.5, 8.5, decimal.Decimal("3.5"), 2, 2, -2, 5.0]


def test_java_integer_semantics(session: Session, nums: str) -> None:
    row = session.execute(
        f"SELECT (int)-7 / 2, (int)-7 % 2, (int)2147483647 + 1, t * t * t * t * t, "
        f"(bigint)9223372036854775807 + 1 FROM {nums} WHERE k = 1"
    ).one()
    # Truncating division, the remainder keeps the dividend's sign, ints wrap.
    assert list(row) == [-3, -1, -2147483648, -13, -9223372036854775808]


def test_literal_types_follow_cassandras_preferred_types(session: Session, nums: str) -> None:
    result = session.execute(
        f"SELECT v + 1.5, v + 3000000000, 1 + 1, (bigint)1 + 1, v + 99999999999999999999 "
        f"FROM {nums} WHERE k = 1"
    )
    assert column_types(result) == ["double", "bigint", "int", "bigint", "varint"]
    assert list(result.one()) == [6.5, 3000000005, 2, 2, 100000000000000000004]
    assert result.column_names[2:4] == ["1 + 1", "(bigint)1 + 1"]


def test_decimal_division_keeps_32_digits(session: Session, nums: str) -> None:
    row = session.execute(f"SELECT dc / 3, (decimal)1 / 3 FROM {nums} WHERE k = 1").one()
    assert row[0] == decimal.Decimal("3.5")
    assert row[1] == decimal.Decimal("0." + "3" * 32)


def test_float_division_by_zero_follows_ieee(session: Session, nums: str) -> None:
    row = session.execute(f"SELECT d / 0, f % 0, -d / 0 FROM {nums} WHERE k = 1").one()
    assert row[0] == math.inf
    assert math.isnan(row[1])
    assert row[2] == -math.inf


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("v / 0", "the operation 'int / int' failed: / by zero"),
        ("v % 0", "the operation 'int % int' failed: / by zero"),
        ("vi / 0", "the operation 'varint / int' failed: BigInteger divide by zero"),
        ("dc / 0", "the operation 'decimal / int' failed: Division by zero"),
        (
            "dt + 1h",
            "the operation 'date + duration' failed: The duration must have a day precision. "
            "Was: 1h",
        ),
    ],
)
def test_failing_operations(session: Session, nums: str, selector: str, message: str) -> None:
    with pytest.raises(FunctionFailure) as info:
        session.execute(f"SELECT {selector} FROM {nums} WHERE k = 1")
    assert message in str(info.value)


def test_temporal_arithmetic(session: Session, nums: str) -> None:
    result = session.execute(
        f"SELECT ts - 1d, ts + 1mo, dt + 1mo, dt - 1y2mo3d, ts + 1h30m FROM {nums} WHERE k = 1"
    )
    assert column_types(result) == ["timestamp", "timestamp", "date", "date", "timestamp"]
    row = result.one()
    assert row[0] == datetime.datetime(2024, 1, 30)
    assert row[1] == datetime.datetime(2024, 2, 29)  # the day is clamped to the month's end
    assert row[2] == Date(datetime.date(2024, 2, 29))
    assert row[3] == Date(datetime.date(2022, 11, 27))
    assert row[4] == datetime.datetime(2024, 1, 31, 1, 30)


def test_nulls_aggregates_json_and_aliases(session: Session, nums: str) -> None:
    session.execute(f"INSERT INTO {nums} (k, v) VALUES (2, 1)")
    rows = session.execute(f"SELECT k, b + 1 AS nb FROM {nums} WHERE k IN (1, 2)")
    assert [(r.k, r.nb) for r in rows] == [(1, 8), (2, None)]
    row = session.execute(f"SELECT max(v) + 1, count(*) * 2 FROM {nums}").one()
    assert list(row) == [6, 4]
    text = session.execute(f"SELECT JSON v * 2 AS twice FROM {nums} WHERE k = 1").one()[0]
    assert text == '{"twice": 10}'


def test_bind_markers_in_operations(session: Session, nums: str) -> None:
    prepared = session.prepare(f"SELECT ts - ?, v + (bigint)? FROM {nums} WHERE k = ?")
    binds = [c.type.cql_parameterized_type() for c in prepared.column_metadata]
    assert binds == ["duration", "bigint", "int"]
    row = session.execute(prepared, [Duration(0, 1, 0), 10, 1]).one()
    assert list(row) == [datetime.datetime(2024, 1, 30), 15]
    with pytest.raises(InvalidRequest, match="Ambiguous '\\+' operation with args v and \\?"):
        session.prepare(f"SELECT v + ? FROM {nums}")


def test_unsupported_operations(session: Session, nums: str) -> None:
    with pytest.raises(InvalidRequest, match="the '\\+' operation is not supported between tx"):
        session.execute(f"SELECT tx + 1 FROM {nums}")
    with pytest.raises(InvalidRequest, match="the '\\*' operation is not supported between ts"):
        session.execute(f"SELECT ts * 2 FROM {nums}")
    with pytest.raises(InvalidRequest, match=r"Invalid call to function system\._negate, none"):
        session.execute(f"SELECT -tx FROM {nums}")
    with pytest.raises(InvalidRequest, match="Ambiguous negation: use type casts to disambiguate"):
        session.prepare(f"SELECT -? FROM {nums}")
