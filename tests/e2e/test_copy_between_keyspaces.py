"""``cassflow copy`` from one keyspace to another of the same cluster, by address URLs: the
implied connection is bound to the target's keyspace and reads the source's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra.cluster import Session

from commands import run_cassflow


@pytest.fixture
def other_keyspace(session: Session) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    session.execute(
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    yield name
    session.execute(f"DROP KEYSPACE IF EXISTS {name}")


def test_copy_between_two_keyspaces_of_one_cluster(
    session: Session,
    keyspace: str,
    other_keyspace: str,
    contact: tuple[list[str], int],
    tmp_path: Path,
) -> None:
    for ks in (keyspace, other_keyspace):
        session.execute(f"CREATE TABLE {ks}.t (id int PRIMARY KEY, v text)")
    rows = [(i, f"v{i}") for i in range(50)]
    insert = session.prepare(f"INSERT INTO {keyspace}.t (id, v) VALUES (?, ?)")
    for row in rows:
        session.execute(insert, row)
    hosts, port = contact
    address = f"{hosts[0]}:{port}"
    result = run_cassflow(
        [
            "copy",
            f"cassandra://{address}/{keyspace}.t",
            f"cassandra://{address}/{other_keyspace}.t",
            "--state-dir",
            str(tmp_path / "state"),
            "--quiet",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    copied = sorted(tuple(r) for r in session.execute(f"SELECT id, v FROM {other_keyspace}.t"))
    assert copied == rows
