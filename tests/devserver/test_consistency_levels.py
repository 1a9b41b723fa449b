"""Consistency levels as one Cassandra node answers them: levels needing more replicas than
are alive fail with Unavailable, ANY is for writes only, serial reads touch one partition."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from cassandra import ConsistencyLevel, InvalidRequest, Unavailable
from cassandra.cluster import NoHostAvailable, Session
from cassandra.query import SimpleStatement


def _run(session: Session, query: str, level: int) -> object:
    return session.execute(SimpleStatement(query, consistency_level=level))


def _unavailable(session: Session, query: str, level: int) -> Unavailable:
    with pytest.raises((Unavailable, NoHostAvailable)) as caught:
        _run(session, query, level)
    error = caught.value
    if isinstance(error, NoHostAvailable):
        (error,) = error.errors.values()
    assert isinstance(error, Unavailable)
    return error


@pytest.fixture(autouse=True)
def _one_node(session: Session) -> None:
    # With CASSFLOW_TEST_HOSTS these hold for a one-node cluster, as local Cassandras are.
    if list(session.execute("SELECT peer FROM system.peers")):
        pytest.skip("written for a cluster of one node")


@pytest.fixture
def rf3(session: Session) -> Iterator[str]:
    """A keyspace of replication factor 3: one live replica on one node."""
    name = f"rf3_{uuid.uuid4().hex[:12]}"
    session.execute(
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 3}"
    )
    try:
        session.execute(f"CREATE TABLE {name}.t (p int PRIMARY KEY, v int)")
        yield name
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {name}")


def test_quorum_of_three_replicas_is_unavailable_on_one_node(session: Session, rf3: str) -> None:
    insert = f"INSERT INTO {rf3}.t (p, v) VALUES (1, 1)"
    error = _unavailable(session, insert, ConsistencyLevel.QUORUM)
    assert "Cannot achieve consistency level QUORUM" in str(error)
    assert (error.consistency, error.required_replicas, error.alive_replicas) == (
        ConsistencyLevel.QUORUM,
        2,
        1,
    )
    _unavailable(session, insert, ConsistencyLevel.LOCAL_QUORUM)
    _unavailable(session, insert, ConsistencyLevel.ALL)
    _unavailable(session, insert, ConsistencyLevel.TWO)
    assert _run(session, f"SELECT v FROM {rf3}.t WHERE p = 1", ConsistencyLevel.ONE).one() is None
    _run(session, insert, ConsistencyLevel.ONE)
    _run(session, insert, ConsistencyLevel.ANY)
    select = f"SELECT v FROM {rf3}.t WHERE p = 1"
    assert _run(session, select, ConsistencyLevel.LOCAL_ONE).one().v == 1
    error = _unavailable(session, select, ConsistencyLevel.QUORUM)
    assert error.required_replicas == 2


def test_conditional_writes_and_serial_reads_need_the_replicas_that_exist(
    session: Session, rf3: str
) -> None:
    # Paxos counts the replicas the ring has (one here), not the replication factor.
    result = _run(
        session, f"INSERT INTO {rf3}.t (p, v) VALUES (2, 2) IF NOT EXISTS", ConsistencyLevel.ONE
    )
    assert result.one()[0] is True
    row = _run(session, f"SELECT v FROM {rf3}.t WHERE p = 2", ConsistencyLevel.SERIAL).one()
    assert row.v == 2


def test_one_replica_serves_every_level(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (p int PRIMARY KEY, v int)")
    for level in (ConsistencyLevel.QUORUM, ConsistencyLevel.ALL, ConsistencyLevel.LOCAL_QUORUM):
        _run(session, f"INSERT INTO {keyspace}.t (p, v) VALUES (1, 1)", level)
        assert _run(session, f"SELECT v FROM {keyspace}.t", level).one().v == 1
    _unavailable(session, f"SELECT v FROM {keyspace}.t", ConsistencyLevel.THREE)


def test_reads_refuse_any_and_serial_reads_take_one_partition(
    session: Session, keyspace: str
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (p int PRIMARY KEY, v int)")
    with pytest.raises(InvalidRequest, match="ANY ConsistencyLevel is only supported for writes"):
        _run(session, f"SELECT * FROM {keyspace}.t", ConsistencyLevel.ANY)
    one_partition = "SERIAL/LOCAL_SERIAL consistency may only be requested for one partition"
    for where in ("", " WHERE p IN (1, 2)"):
        with pytest.raises(InvalidRequest, match=one_partition):
            _run(session, f"SELECT * FROM {keyspace}.t{where}", ConsistencyLevel.SERIAL)
    for where in (" WHERE p = 1", " WHERE p IN (1)"):
        assert not list(
            _run(session, f"SELECT * FROM {keyspace}.t{where}", ConsistencyLevel.SERIAL)
        )
