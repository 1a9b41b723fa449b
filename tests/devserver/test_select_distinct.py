"""SELECT DISTINCT's rules as Cassandra's SelectStatement checks them."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session


@pytest.fixture
def parts(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.parts"
    session.execute(
        f"CREATE TABLE {table} (p int, q int, c int, v int, s int STATIC, PRIMARY KEY ((p, q), c))"
    )
    for p, c in ((1, 1), (1, 2), (2, 1)):
        session.execute(f"INSERT INTO {table} (p, q, c, v, s) VALUES ({p}, 0, {c}, 1, {p})")
    return table


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT DISTINCT p FROM {t}", "must request all the partition key columns (missing q)"),
        ("SELECT DISTINCT s FROM {t}", "must request all the partition key columns (missing p)"),
        (
            "SELECT DISTINCT count(*) FROM {t}",
            "must request all the partition key columns (missing p)",
        ),
        (
            "SELECT DISTINCT p, q FROM {t} PER PARTITION LIMIT 1",
            "PER PARTITION LIMIT is not allowed with SELECT DISTINCT queries",
        ),
        (
            "SELECT DISTINCT p, q FROM {t} WHERE c = 1 ALLOW FILTERING",
            "SELECT DISTINCT with WHERE clause only supports restriction by partition key "
            "and/or static columns.",
        ),
        (
            "SELECT DISTINCT * FROM {t}",
            "must only request partition key columns and/or static columns (not c)",
        ),
    ],
)
def test_refused_distinct_queries(session: Session, parts: str, query: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        session.execute(query.format(t=parts))
    assert message in str(info.value)


def test_accepted_distinct_queries(session: Session, parts: str) -> None:
    rows = session.execute(f"SELECT DISTINCT p, q, s FROM {parts}")
    assert sorted((r.p, r.q, r.s) for r in rows) == [(1, 0, 1), (2, 0, 2)]
    # Given partitions: the key need not be selected.
    one = session.execute(f"SELECT DISTINCT s FROM {parts} WHERE p = 1 AND q = 0").one()
    assert one.s == 1
    counted = session.execute(f"SELECT DISTINCT p, q, count(*) FROM {parts}").one()
    assert counted.count == 2
    static = session.execute(f"SELECT DISTINCT p, q FROM {parts} WHERE s = 2 ALLOW FILTERING")
    assert [(r.p, r.q) for r in static] == [(2, 0)]
