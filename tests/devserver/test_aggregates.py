"""Aggregates and GROUP BY through the driver: Cassandra 4.1's result names, types, values,
errors and warnings (AggregateFcts, SelectStatement's GROUP BY rules, ClientWarn)."""

from __future__ import annotations

import decimal
import re

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.util import Duration

NO_PARTITION_KEY = "Aggregation query used without partition key"
IN_PARTITIONS = "Aggregation query used on multiple partition keys (IN restriction)"


@pytest.fixture
def grouped(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.g"
    session.execute(
        f"CREATE TABLE {table} (p int, c1 int, c2 int, v int, s int STATIC, "
        "PRIMARY KEY (p, c1, c2))"
    )
    rows = [(1, 1, 1, 10), (1, 1, 2, 20), (1, 2, 1, 30), (2, 1, 1, 40), (2, 2, 2, 50)]
    insert = session.prepare(f"INSERT INTO {table} (p, c1, c2, v) VALUES (?, ?, ?, ?)")
    for row in rows:
        session.execute(insert, row)
    return table


def _warnings(result: object) -> list[str]:
    return list(result.response_future.warnings or [])  # type: ignore[attr-defined]


def test_group_by_partition_key_gives_one_row_per_partition(session: Session, grouped: str) -> None:
    result = session.execute(f"SELECT p, count(*), sum(v) FROM {grouped} GROUP BY p")
    assert result.column_names == ["p", "count", "system.sum(v)"]
    assert sorted(tuple(r) for r in result) == [(1, 3, 60), (2, 2, 90)]
    assert _warnings(result) == [NO_PARTITION_KEY]


def test_group_by_clustering_prefix(session: Session, grouped: str) -> None:
    rows = session.execute(f"SELECT p, c1, max(v), c2 FROM {grouped} WHERE p = 1 GROUP BY p, c1")
    # Plain columns show the group's first row.
    assert [tuple(r) for r in rows] == [(1, 1, 20, 1), (1, 2, 30, 1)]
    assert _warnings(rows) == []
    # A column restricted by = may be left out of the GROUP BY.
    skipped = session.execute(f"SELECT c1, count(*) FROM {grouped} WHERE p = 1 GROUP BY c1")
    assert [tuple(r) for r in skipped] == [(1, 2), (2, 1)]


def test_group_by_without_aggregate_and_limits_count_groups(session: Session, grouped: str) -> None:
    rows = session.execute(f"SELECT p, c1, v FROM {grouped} GROUP BY p, c1")
    assert sorted(tuple(r) for r in rows) == [(1, 1, 10), (1, 2, 30), (2, 1, 40), (2, 2, 50)]
    limited = session.execute(f"SELECT p, c1 FROM {grouped} WHERE p = 1 GROUP BY p, c1 LIMIT 1")
    assert [tuple(r) for r in limited] == [(1, 1)]
    per_partition = session.execute(
        f"SELECT p, c1, count(*) FROM {grouped} GROUP BY p, c1 PER PARTITION LIMIT 1"
    )
    assert sorted(tuple(r) for r in per_partition) == [(1, 1, 2), (2, 1, 1)]


@pytest.mark.parametrize(
    ("group_by", "message"),
    [
        ("v", "Group by is currently only supported on the columns of the PRIMARY KEY, got v"),
        (
            "p, c2",
            "Group by currently only support groups of columns following their declared order "
            "in the PRIMARY KEY",
        ),
        (
            "c1",
            "Group by currently only support groups of columns following their declared order "
            "in the PRIMARY KEY",
        ),
    ],
)
def test_group_by_errors(session: Session, grouped: str, group_by: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        session.execute(f"SELECT count(*) FROM {grouped} GROUP BY {group_by}")


def test_group_by_part_of_partition_key_is_refused(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.two (a int, b int, c int, PRIMARY KEY ((a, b), c))")
    with pytest.raises(
        InvalidRequest, match="Group by is not supported on only a part of the partition key"
    ):
        session.execute(f"SELECT count(*) FROM {keyspace}.two GROUP BY a")


def test_aggregate_without_group_by_is_one_row(session: Session, grouped: str) -> None:
    result = session.execute(
        f"SELECT p, count(*), count(1), count(v), min(v), max(v), avg(v) FROM {grouped}"
    )
    assert result.column_names == [
        "p",
        "count",
        "count",
        "system.count(v)",
        "system.min(v)",
        "system.max(v)",
        "system.avg(v)",
    ]
    rows = list(result)
    assert len(rows) == 1
    assert tuple(rows[0])[1:] == (5, 5, 5, 10, 50, 30)
    assert rows[0].p in (1, 2)
    # LIMIT applies to the result row, not to the rows aggregated.
    assert session.execute(f"SELECT count(*) FROM {grouped} LIMIT 2").one()[0] == 5


def test_aggregates_over_no_rows(session: Session, grouped: str) -> None:
    row = session.execute(
        f"SELECT count(*), count(v), sum(v), avg(v), min(v), max(v), c1 FROM {grouped} WHERE p = 99"
    ).one()
    assert tuple(row) == (0, 0, 0, 0, None, None, None)
    assert list(session.execute(f"SELECT p, count(*) FROM {grouped} WHERE p = 99 GROUP BY p")) == []


def test_in_restriction_warning(session: Session, grouped: str) -> None:
    result = session.execute(f"SELECT count(*) FROM {grouped} WHERE p IN (1, 2)")
    assert result.one()[0] == 5
    assert _warnings(result) == [IN_PARTITIONS]


def test_sum_and_avg_keep_the_argument_type(session: Session, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.n (k int, c int, i int, b bigint, t tinyint, f float, "
        "d double, m decimal, vi varint, PRIMARY KEY (k, c))"
    )
    insert = session.prepare(
        f"INSERT INTO {keyspace}.n (k, c, i, b, t, f, d, m, vi) VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    session.execute(insert, (1, 1, 1, 100, 1.5, 1.0, decimal.Decimal("1.5"), 1))
    session.execute(insert, (2, 2, 2, 100, 2.0, 2.5, decimal.Decimal("2.25"), 2))
    session.execute(insert, (3, -4, 4, 100, 0.5, 4.0, decimal.Decimal("0.5"), -10))
    row = session.execute(
        f"SELECT sum(i), avg(i), sum(b), avg(b), sum(t), avg(t), sum(f), avg(f), sum(d), avg(d), "
        f"sum(m), avg(m), sum(vi), avg(vi) FROM {keyspace}.n WHERE k = 0"
    ).one()
    # avg of integers is an integer division (truncated toward zero); tinyint sums wrap.
    assert tuple(row) == (
        -1,
        0,
        7,
        2,
        44,
        100,
        4.0,
        pytest.approx(4.0 / 3),
        7.5,
        2.5,
        decimal.Decimal("4.25"),
        decimal.Decimal("1.42"),
        -7,
        -2,
    )


def test_min_max_on_text_and_timestamps(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.w (k int, c int, t text, PRIMARY KEY (k, c))")
    for c, text in enumerate(["pear", "apple", "zebra", "Zoo"]):
        session.execute(f"INSERT INTO {keyspace}.w (k, c, t) VALUES (0, {c}, '{text}')")
    row = session.execute(f"SELECT min(t), max(t) FROM {keyspace}.w WHERE k = 0").one()
    assert tuple(row) == ("Zoo", "zebra")


def test_aggregate_of_text_is_refused(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.s (k int PRIMARY KEY, t text)")
    with pytest.raises(
        InvalidRequest,
        match=re.escape("Invalid call to function sum, none of its type signatures match"),
    ):
        session.execute(f"SELECT sum(t) FROM {keyspace}.s")


def test_min_max_of_durations_compare_bytes(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.du (k int PRIMARY KEY, d duration)")
    session.execute(f"INSERT INTO {keyspace}.du (k, d) VALUES (1, 1d)")
    session.execute(f"INSERT INTO {keyspace}.du (k, d) VALUES (2, 2h)")
    # DurationType orders by bytes: months, then days, then nanoseconds as vints.
    row = session.execute(f"SELECT min(d), max(d) FROM {keyspace}.du").one()
    assert tuple(row) == (Duration(0, 0, 7_200_000_000_000), Duration(0, 1, 0))


def test_aliases_name_aggregate_columns(session: Session, grouped: str) -> None:
    result = session.execute(f"SELECT count(*) AS n, min(v) AS low FROM {grouped} WHERE p = 2")
    assert result.column_names == ["n", "low"]
    assert tuple(result.one()) == (2, 40)


def test_functions_over_aggregates(session: Session, grouped: str) -> None:
    result = session.execute(
        f"SELECT cast(count(*) as int), toJson(max(v)), blobAsInt(intAsBlob(min(v))), "
        f"CAST(avg(v) AS double) FROM {grouped} WHERE p = 1"
    )
    assert result.column_names == [
        "cast(count as int)",
        "system.tojson(system.max(v))",
        "system.blobasint(system.intasblob(system.min(v)))",
        "cast(system.avg(v) as double)",
    ]
    assert tuple(result.one()) == (3, "30", 10, 20.0)
    with pytest.raises(
        InvalidRequest,
        match="aggregate functions cannot be used as arguments of aggregate functions",
    ):
        session.execute(f"SELECT max(sum(v)) FROM {grouped}")


def test_aggregate_of_a_function(session: Session, grouped: str) -> None:
    row = session.execute(
        f"SELECT max(writetime(v)), sum(CAST(v AS bigint)) FROM {grouped} WHERE p = 2"
    ).one()
    assert row[0] > 0
    assert row[1] == 90
