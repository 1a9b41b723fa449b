"""Token ranges cover the ring exactly once, in code and through the driver."""

from __future__ import annotations

import itertools

import pytest
from cassandra.cluster import Cluster
from hypothesis import given
from hypothesis import strategies as st

from cassflow.copy._slicing import MAX_TOKEN, MIN_TOKEN, token_ranges
from cassflow.devserver import DevServer


@given(splits=st.integers(1, 4096), token=st.integers(MIN_TOKEN, MAX_TOKEN))
def test_every_token_belongs_to_exactly_one_range(splits: int, token: int) -> None:
    ranges = token_ranges(splits)
    assert len(ranges) == splits
    assert sum(r.contains(token) for r in ranges) == 1


def test_edges() -> None:
    ranges = token_ranges(4)
    assert ranges[0].contains(MIN_TOKEN)
    assert ranges[-1].contains(MAX_TOKEN)
    assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
    assert len({r.slice_id for r in ranges}) == 4
    with pytest.raises(ValueError, match="at least 1"):
        token_ranges(0)


def test_where_clause_quotes_names() -> None:
    clause, values = token_ranges(2)[1].where(["tenant", "Day"])
    assert clause == 'token(tenant, "Day") > ? AND token(tenant, "Day") <= ?'
    assert values == (token_ranges(2)[1].start, MAX_TOKEN)


def test_slices_read_every_row_once_through_the_driver() -> None:
    with DevServer() as server:
        cluster = Cluster([server.host], port=server.port)
        session = cluster.connect()
        session.execute(
            "CREATE KEYSPACE s WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute("CREATE TABLE s.t (a int, b text, v int, PRIMARY KEY ((a, b)))")
        insert = session.prepare("INSERT INTO s.t (a, b, v) VALUES (?, ?, ?)")
        for i in range(500):
            session.execute(insert, (i, str(i % 7), i))
        seen: list[int] = []
        for token_range in token_ranges(16):
            clause, values = token_range.where(["a", "b"])
            statement = session.prepare(f"SELECT a, b, token(a, b) FROM s.t WHERE {clause}")
            for row in session.execute(statement, values):
                assert token_range.contains(row[2])
                seen.append(row.a)
        assert sorted(seen) == list(range(500))
        cluster.shutdown()
