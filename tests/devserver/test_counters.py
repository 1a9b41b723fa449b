"""Counter tables through the driver: increments, counter batches, deletes, and every
restriction Cassandra enforces, with its error texts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cassandra.cluster import Cluster, Session
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType

from invalid import refused


@pytest.fixture
def counters(cluster: Cluster, keyspace: str) -> Iterator[Session]:
    # A session of its own: the shared one must not keep a keyspace that is dropped after.
    session = cluster.connect(keyspace)
    session.execute("CREATE TABLE c (k int PRIMARY KEY, n counter, m counter)")
    session.execute("CREATE TABLE plain (k int PRIMARY KEY, v int)")
    yield session
    session.shutdown()


def test_increments_and_decrements(counters: Session) -> None:
    counters.execute("UPDATE c SET n = n + 5, m = m - 2 WHERE k = 1")
    counters.execute("UPDATE c SET n = n - 1 WHERE k = 1")
    update = counters.prepare("UPDATE c SET n = n + ? WHERE k = ?")
    counters.execute(update, (10, 1))
    row = counters.execute("SELECT n, m FROM c WHERE k = 1").one()
    assert (row.n, row.m) == (14, -2)


def test_unset_increment_changes_nothing(counters: Session) -> None:
    update = counters.prepare("UPDATE c SET n = n + ?, m = m + ? WHERE k = ?")
    counters.execute(update, (UNSET_VALUE, UNSET_VALUE, 4))
    assert counters.execute("SELECT * FROM c WHERE k = 4").one() is None
    counters.execute(update, (UNSET_VALUE, 3, 4))
    row = counters.execute("SELECT n, m FROM c WHERE k = 4").one()
    assert (row.n, row.m) == (None, 3)


def test_counter_batch_and_delete(counters: Session) -> None:
    batch = BatchStatement(batch_type=BatchType.COUNTER)
    batch.add("UPDATE c SET n = n + 1 WHERE k = 2")
    batch.add("UPDATE c SET n = n + 2 WHERE k = 3")
    counters.execute(batch)
    counters.execute("BEGIN COUNTER BATCH UPDATE c SET n = n + 1 WHERE k = 2; APPLY BATCH")
    assert counters.execute("SELECT n FROM c WHERE k = 2").one().n == 2
    counters.execute("DELETE FROM c WHERE k = 2")
    assert counters.execute("SELECT n FROM c WHERE k = 2").one() is None
    assert counters.execute("SELECT n FROM c WHERE k = 3").one().n == 2


def test_create_table_restrictions(counters: Session) -> None:
    refused(
        counters,
        "CREATE TABLE bad (k int PRIMARY KEY, n counter, v int)",
        "Cannot mix counter and non counter columns in the same table",
    )
    refused(
        counters,
        "CREATE TABLE bad (k counter PRIMARY KEY, n counter)",
        "counter type is not supported for PRIMARY KEY column 'k'",
    )


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            "UPDATE c SET n = 5 WHERE k = 1",
            "Cannot set the value of counter column n (counters can only be "
            "incremented/decremented, not set)",
        ),
        (
            "UPDATE c SET n = 1 + n WHERE k = 1",
            "Invalid operation (n = 1 + n) for non list column n",
        ),
        (
            "UPDATE c USING TTL 10 SET n = n + 1 WHERE k = 1",
            "Cannot provide custom TTL for counter updates",
        ),
        (
            "UPDATE c USING TIMESTAMP 10 SET n = n + 1 WHERE k = 1",
            "Cannot provide custom timestamp for counter updates",
        ),
        (
            "DELETE FROM c USING TIMESTAMP 10 WHERE k = 1",
            "Cannot provide custom timestamp for counter updates",
        ),
        (
            "INSERT INTO c (k, n) VALUES (1, 1)",
            "INSERT statements are not allowed on counter tables, use UPDATE instead",
        ),
        ("UPDATE c SET n = n + null WHERE k = 1", "Invalid null value for counter increment"),
        (
            "UPDATE plain SET v = v + 1 WHERE k = 1",
            "Invalid operation (v = v + 1) for non counter column v",
        ),
        (
            "BEGIN BATCH UPDATE c SET n = n + 1 WHERE k = 1; APPLY BATCH",
            "Cannot include a counter statement in a logged batch",
        ),
        (
            "BEGIN COUNTER BATCH UPDATE plain SET v = 1 WHERE k = 1; APPLY BATCH",
            "Cannot include non-counter statement in a counter batch",
        ),
        (
            "BEGIN UNLOGGED BATCH UPDATE c SET n = n + 1 WHERE k = 1; "
            "UPDATE plain SET v = 1 WHERE k = 1; APPLY BATCH",
            "Counter and non-counter mutations cannot exist in the same batch",
        ),
        (
            "BEGIN COUNTER BATCH USING TIMESTAMP 5 UPDATE c SET n = n + 1 WHERE k = 1; APPLY BATCH",
            "Cannot provide custom timestamp for counter BATCH",
        ),
    ],
)
def test_refusals(counters: Session, statement: str, message: str) -> None:
    refused(counters, statement, message)
    assert counters.execute("SELECT * FROM c WHERE k = 1").one() is None


def test_protocol_batch_refusals(counters: Session) -> None:
    logged = BatchStatement(batch_type=BatchType.LOGGED)
    logged.add("UPDATE c SET n = n + 1 WHERE k = 1")
    refused(counters, logged, "Cannot include a counter statement in a logged batch")
    counter = BatchStatement(batch_type=BatchType.COUNTER)
    counter.add("UPDATE plain SET v = 1 WHERE k = 1")
    refused(counters, counter, "Cannot include non-counter statement in a counter batch")
