"""writetime(), ttl() and Cassandra 5.0's maxwritetime() in selectors: values, names, the
columns they refuse."""

from __future__ import annotations

import os

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session


@pytest.fixture
def cells(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.cells"
    session.execute(
        f"CREATE TABLE {table} (p int, c int, v int, s int STATIC, fm frozen<map<int, int>>, "
        "m map<int, int>, PRIMARY KEY (p, c))"
    )
    session.execute(
        f"INSERT INTO {table} (p, c, v, s, fm, m) VALUES (1, 1, 10, 5, {{1: 1}}, {{1: 1}}) "
        "USING TIMESTAMP 1000 AND TTL 600"
    )
    return table


def test_writetime_and_ttl_of_simple_and_frozen_cells(session: Session, cells: str) -> None:
    result = session.execute(
        f"SELECT writetime(v), ttl(v), writetime(s), writetime(fm) FROM {cells}"
    )
    assert result.column_names == ["writetime(v)", "ttl(v)", "writetime(s)", "writetime(fm)"]
    row = result.one()
    assert row[0] == 1000
    assert 0 < row[1] <= 600
    assert row[2:] == (1000, 1000)


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("writetime(p)", "Cannot use selection function writeTime on PRIMARY KEY part p"),
        ("ttl(c)", "Cannot use selection function ttl on PRIMARY KEY part c"),
        ("writetime(m)", "Cannot use selection function writeTime on non-frozen collection m"),
    ],
)
def test_refused_cells(session: Session, cells: str, selector: str, message: str) -> None:
    if os.environ.get("CASSFLOW_TEST_HOSTS") and selector == "writetime(m)":
        version = session.execute("SELECT release_version FROM system.local").one()
        if int(version.release_version.split(".")[0]) >= 5:
            pytest.skip("Cassandra 5 gives writetime of non-frozen collections")
    with pytest.raises(InvalidRequest) as info:
        session.execute(f"SELECT {selector} FROM {cells}")
    assert message.lower() in str(info.value).lower()


@pytest.mark.devserver_only
def test_maxwritetime_of_one_cell(session: Session, cells: str) -> None:
    # Cassandra 5.0's maxwritetime: the dev server (4.1.8) has it as an addition.
    result = session.execute(f"SELECT maxwritetime(v), maxwritetime(fm) FROM {cells}")
    assert result.column_names == ["maxwritetime(v)", "maxwritetime(fm)"]
    assert tuple(result.one()) == (1000, 1000)
