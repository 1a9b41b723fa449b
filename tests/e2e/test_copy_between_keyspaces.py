"""``cassflow copy`` from one keyspace to another of the same cluster, by address URLs: the
implied connection is bound to the target's keyspace and reads the source's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra.cluster import Session

from clusters import scratch_keyspace
from commands import run_cassflow


@pytest.fixture
def other_keyspace(session: Session) -> Iterator[str]:
    with scratch_keyspace(session) as name:
        yield name


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
