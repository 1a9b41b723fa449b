"""Paging of plain SELECTs: every fetch size gives the same rows as one page, whatever row a
page ends on (the end of a partition of an IN, a DISTINCT partition, a system table row)."""

from __future__ import annotations

from typing import Any

import pytest
from cassandra.cluster import Session
from cassandra.query import SimpleStatement


@pytest.fixture
def parts(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.pg"
    session.execute(
        f"CREATE TABLE {table} (p int, c int, v int, st int static, PRIMARY KEY (p, c))"
    )
    insert = session.prepare(f"INSERT INTO {table} (p, c, v) VALUES (?, ?, ?)")
    for p in range(4):
        session.execute(f"INSERT INTO {table} (p, st) VALUES ({p}, {p})")
        for c in range(5 if p != 3 else 0):
            session.execute(insert, (p, c, p * 10 + c))
    return table


def _paged(session: Session, query: str, fetch_size: int) -> list[Any]:
    result = session.execute(SimpleStatement(query, fetch_size=fetch_size))
    rows = list(result.current_rows)
    while result.has_more_pages:
        result.fetch_next_page()
        rows += list(result.current_rows)
    return rows


@pytest.mark.parametrize("fetch_size", [1, 2, 3, 5])
@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM {t} WHERE p IN (1, 2)",
        "SELECT JSON p, c FROM {t} WHERE p IN (2, 1, 3)",
        "SELECT DISTINCT p, st FROM {t}",
        "SELECT DISTINCT p, st FROM {t} WHERE p IN (0, 1, 3)",
        "SELECT * FROM {t} PER PARTITION LIMIT 2 LIMIT 5",
        "SELECT p, c FROM {t} WHERE v > 12 ALLOW FILTERING",
    ],
)
def test_pages_add_up_to_the_whole(
    session: Session, parts: str, query: str, fetch_size: int
) -> None:
    text = query.format(t=parts)
    whole = list(session.execute(SimpleStatement(text, fetch_size=1000)))
    assert _paged(session, text, fetch_size) == whole
    assert whole


def test_distinct_pages_give_each_partition_once(session: Session, parts: str) -> None:
    rows = _paged(session, f"SELECT DISTINCT p, st FROM {parts}", 1)
    assert sorted((r.p, r.st) for r in rows) == [(p, p) for p in range(4)]


def test_system_table_pages(session: Session, parts: str) -> None:
    keyspace = parts.split(".", maxsplit=1)[0]
    query = (
        "SELECT keyspace_name, table_name, column_name FROM system_schema.columns "
        f"WHERE keyspace_name = '{keyspace}'"
    )
    whole = list(session.execute(SimpleStatement(query, fetch_size=1000)))
    assert len(whole) == 4
    assert _paged(session, query, 1) == whole
