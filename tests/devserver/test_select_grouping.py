"""GROUP BY results in pages of groups (Cassandra's AggregationQueryPager) and the warnings
SelectStatement sends with aggregation queries."""

from __future__ import annotations

from typing import Any

import pytest
from cassandra.cluster import Session
from cassandra.query import SimpleStatement

WITHOUT_KEY = "Aggregation query used without partition key"
ON_IN = "Aggregation query used on multiple partition keys (IN restriction)"


@pytest.fixture
def grouped(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.g"
    session.execute(f"CREATE TABLE {table} (p int, c int, d int, v int, PRIMARY KEY (p, c, d))")
    insert = session.prepare(f"INSERT INTO {table} (p, c, d, v) VALUES (?, ?, ?, ?)")
    for p in range(3):
        for c in range(5):
            for d in range(2):
                session.execute(insert, (p, c, d, p * 100 + c * 10 + d))
    return table


def _pages(session: Session, query: str, fetch_size: int) -> tuple[list[Any], int, list[str]]:
    result = session.execute(SimpleStatement(query, fetch_size=fetch_size))
    rows, pages = list(result.current_rows), 1
    warnings = list(result.response_future.warnings or [])
    while result.has_more_pages:
        result.fetch_next_page()
        rows += list(result.current_rows)
        pages += 1
    return rows, pages, warnings


def test_groups_come_in_pages(session: Session, grouped: str) -> None:
    query = f"SELECT p, c, count(*), sum(v) FROM {grouped} GROUP BY p, c"
    rows, pages, _ = _pages(session, query, 2)
    whole = list(session.execute(SimpleStatement(query, fetch_size=1000)))
    assert len(rows) == 15
    assert pages >= 8
    assert rows == whole
    assert all(r.count == 2 for r in rows)
    assert sorted((r.p, r.c, r.system_sum_v) for r in rows)[:2] == [(0, 0, 1), (0, 1, 21)]


def test_grouped_pages_keep_the_limits(session: Session, grouped: str) -> None:
    limited, _, _ = _pages(
        session, f"SELECT p, c, count(*) FROM {grouped} GROUP BY p, c LIMIT 7", 2
    )
    assert len(limited) == 7
    per_partition, _, _ = _pages(
        session, f"SELECT p, c, count(*) FROM {grouped} GROUP BY p, c PER PARTITION LIMIT 2", 2
    )
    assert sorted((r.p, r.c) for r in per_partition) == [(p, c) for p in range(3) for c in range(2)]


def test_group_by_without_aggregates_and_json_pages(session: Session, grouped: str) -> None:
    rows, pages, warnings = _pages(session, f"SELECT p, c FROM {grouped} WHERE p = 1 GROUP BY c", 2)
    assert [(r.p, r.c) for r in rows] == [(1, c) for c in range(5)]
    assert pages == 3
    assert warnings == []
    texts, _, _ = _pages(session, f"SELECT JSON c, max(v) FROM {grouped} WHERE p = 2 GROUP BY c", 3)
    assert [t[0] for t in texts][:2] == [
        '{"c": 0, "system.max(v)": 201}',
        '{"c": 1, "system.max(v)": 211}',
    ]


@pytest.mark.parametrize(
    ("where", "group_by", "expected"),
    [
        ("", "", [WITHOUT_KEY]),
        ("", "GROUP BY p", [WITHOUT_KEY]),  # GROUP BY alone is an aggregation
        ("WHERE p = 1", "", []),
        ("WHERE p IN (1, 2)", "", [ON_IN]),
        ("WHERE p IN (1, 2)", "GROUP BY p", [ON_IN]),
        ("WHERE token(p) > 0", "", []),
        ("WHERE c = 1 ALLOW FILTERING", "", [WITHOUT_KEY]),
    ],
)
def test_aggregation_warnings(
    session: Session, grouped: str, where: str, group_by: str, expected: list[str]
) -> None:
    selector = "p, count(*)" if group_by else "count(*)"
    result = session.execute(f"SELECT {selector} FROM {grouped} {where} {group_by}")
    warnings = [w for w in result.response_future.warnings or [] if "Aggregation" in w]
    assert warnings == expected


def test_plain_selects_do_not_warn(session: Session, grouped: str) -> None:
    result = session.execute(f"SELECT p, c FROM {grouped}")
    assert not result.response_future.warnings


def test_system_tables_warn_too(session: Session, grouped: str) -> None:
    keyspace = grouped.split(".", maxsplit=1)[0]
    scan = session.execute("SELECT count(*) FROM system_schema.tables")
    assert WITHOUT_KEY in (scan.response_future.warnings or [])
    one = session.execute(
        f"SELECT count(*) FROM system_schema.tables WHERE keyspace_name = '{keyspace}'"
    )
    assert one.one().count == 1
    assert not [w for w in one.response_future.warnings or [] if "Aggregation" in w]
