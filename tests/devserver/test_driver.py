"""The unmodified cassandra-driver against the dev server (or CASSFLOW_TEST_HOSTS)."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import itertools
import uuid

import pytest
from cassandra import AlreadyExists, InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.metadata import Murmur3Token
from cassandra.protocol import SyntaxException
from cassandra.query import SimpleStatement
from cassandra.util import Date, Duration, Time


def test_connects_with_default_settings(cluster: Cluster, session: Session) -> None:
    assert cluster.protocol_version >= 4
    local = session.execute("SELECT release_version, partitioner FROM system.local").one()
    assert local.release_version.startswith(("4.", "5."))
    assert local.partitioner == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert cluster.metadata.token_map is not None  # token-aware routing has its ring


def test_metadata_follows_ddl(session: Session, cluster: Cluster, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.events (tenant text, day date, at timestamp, id uuid, "
        "payload text, seen boolean static, PRIMARY KEY ((tenant, day), at, id)) "
        "WITH CLUSTERING ORDER BY (at DESC, id ASC) AND default_time_to_live = 3600"
    )
    table = cluster.metadata.keyspaces[keyspace].tables["events"]
    assert [c.name for c in table.partition_key] == ["tenant", "day"]
    assert [c.name for c in table.clustering_key] == ["at", "id"]
    assert [c.is_reversed for c in table.clustering_key] == [True, False]
    assert table.columns["seen"].is_static
    assert table.options["default_time_to_live"] == 3600


def test_many_rows_by_paging_and_token_ranges(session: Session, keyspace: str) -> None:
    count = 100_000
    session.execute(f"CREATE TABLE {keyspace}.kv (k int PRIMARY KEY, v text)")
    insert = session.prepare(f"INSERT INTO {keyspace}.kv (k, v) VALUES (?, ?)")
    assert insert.routing_key_indexes == [0]
    results = execute_concurrent_with_args(
        session, insert, [(i, f"value-{i}") for i in range(count)], concurrency=64
    )
    assert all(ok for ok, _ in results)

    paged = session.execute(SimpleStatement(f"SELECT k, v FROM {keyspace}.kv", fetch_size=5000))
    keys = [row.k for row in paged]
    assert len(keys) == count
    assert set(keys) == set(range(count))

    # 16 token ranges covering the whole ring, as dsbulk's splits do.
    lowest, highest = -(2**63), 2**63 - 1
    step = (highest - lowest) // 16
    bounds = [lowest + i * step for i in range(16)] + [highest]
    scan = session.prepare(f"SELECT k FROM {keyspace}.kv WHERE token(k) > ? AND token(k) <= ?")
    seen: list[int] = []
    first = session.execute(f"SELECT k FROM {keyspace}.kv WHERE token(k) = {lowest}")
    seen += [row.k for row in first]
    for start, end in itertools.pairwise(bounds):
        for row in session.execute(scan, (start, end)):
            token = Murmur3Token.hash_fn(row.k.to_bytes(4, "big", signed=True))
            assert start < token <= end
            seen.append(row.k)
    assert len(seen) == count
    assert set(seen) == set(range(count))


ALL_TYPES = {
    "a": ("ascii", "plain ascii"),
    "b": ("bigint", -(2**63)),
    "bl": ("blob", b"\x00\xff\x10"),
    "bo": ("boolean", True),
    "d": ("date", Date(datetime.date(2024, 2, 29))),
    "de": ("decimal", decimal.Decimal("-12345.678900")),
    "do": ("double", 1.5e300),
    "du": ("duration", Duration(1, 2, 3_000_000_000)),
    "f": ("float", 0.5),
    "i": ("inet", "2001:db8::1"),
    "it": ("int", -(2**31)),
    "s": ("smallint", -32768),
    "t": ("text", "ünïcödé ✓"),
    "ti": ("time", Time(86_399_999_999_999)),
    "ts": ("timestamp", datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)),
    "tu": ("timeuuid", uuid.UUID("e7c2b8f0-1c9a-11ef-9a1b-0242ac120002")),
    "tn": ("tinyint", 127),
    "u": ("uuid", uuid.UUID("123e4567-e89b-42d3-a456-426614174000")),
    "vc": ("varchar", ""),
    "vi": ("varint", 2**100),
    "l": ("list<int>", [3, 1, 2]),
    "se": ("set<text>", {"b", "a"}),
    "m": ("map<text, int>", {"x": 1, "y": 2}),
    "fl": ("frozen<list<text>>", ["q"]),
}


def test_every_type_round_trips(session: Session, keyspace: str) -> None:
    columns = ", ".join(f"{name} {cql}" for name, (cql, _) in ALL_TYPES.items())
    session.execute(f"CREATE TABLE {keyspace}.all_types (k int PRIMARY KEY, {columns})")
    names = list(ALL_TYPES)
    insert = session.prepare(
        f"INSERT INTO {keyspace}.all_types (k, {', '.join(names)}) "
        f"VALUES (?, {', '.join('?' * len(names))})"
    )
    session.execute(insert, [1] + [value for _, value in ALL_TYPES.values()])
    session.execute(f"INSERT INTO {keyspace}.all_types (k) VALUES (2)")
    row = session.execute(f"SELECT * FROM {keyspace}.all_types WHERE k = 1").one()
    for name, (_, value) in ALL_TYPES.items():
        got = getattr(row, name)
        if name == "i":
            assert ipaddress.ip_address(got) == ipaddress.ip_address(value)
        elif name == "se":
            assert set(got) == value
        elif name == "m":
            assert dict(got) == value
        else:
            assert got == value, name
    empty = session.execute(f"SELECT * FROM {keyspace}.all_types WHERE k = 2").one()
    assert all(getattr(empty, name) is None for name in names)


def test_clustering_slices_and_order(session: Session, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE {keyspace}.ts (p int, c int, d text, v int, PRIMARY KEY (p, c, d)) "
        "WITH CLUSTERING ORDER BY (c DESC, d ASC)"
    )
    insert = session.prepare(f"INSERT INTO {keyspace}.ts (p, c, d, v) VALUES (?, ?, ?, ?)")
    for c in range(5):
        for d in "ab":
            session.execute(insert, (1, c, d, c * 10))
    rows = session.execute(f"SELECT c, d FROM {keyspace}.ts WHERE p = 1")
    assert [(r.c, r.d) for r in rows][:4] == [(4, "a"), (4, "b"), (3, "a"), (3, "b")]
    rows = session.execute(f"SELECT c FROM {keyspace}.ts WHERE p = 1 AND c > 1 AND c <= 3")
    assert [r.c for r in rows] == [3, 3, 2, 2]
    rows = session.execute(f"SELECT c, d FROM {keyspace}.ts WHERE p = 1 ORDER BY c ASC LIMIT 3")
    assert [(r.c, r.d) for r in rows] == [(0, "b"), (0, "a"), (1, "b")]
    rows = session.execute(f"SELECT c FROM {keyspace}.ts WHERE p = 1 AND c IN (1, 3) AND d = 'b'")
    assert sorted(r.c for r in rows) == [1, 3]
    rows = session.execute(f"SELECT c FROM {keyspace}.ts WHERE p = 1 AND v = 20 ALLOW FILTERING")
    assert [r.c for r in rows] == [2, 2]
    with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
        session.execute(f"SELECT c FROM {keyspace}.ts WHERE v = 20")


def test_updates_deletes_ttl_and_writetime(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.u (k int PRIMARY KEY, v int, l list<int>)")
    session.execute(f"UPDATE {keyspace}.u USING TIMESTAMP 1000 SET v = 1 WHERE k = 1")
    session.execute(f"UPDATE {keyspace}.u USING TIMESTAMP 999 SET v = 2 WHERE k = 1")
    row = session.execute(f"SELECT v, writetime(v) FROM {keyspace}.u WHERE k = 1").one()
    assert (row.v, row.writetime_v) == (1, 1000)  # last write wins, by timestamp
    session.execute(f"UPDATE {keyspace}.u SET l = l + [1, 2] WHERE k = 1")
    session.execute(f"UPDATE {keyspace}.u SET l = [0] + l WHERE k = 1")
    assert session.execute(f"SELECT l FROM {keyspace}.u WHERE k = 1").one().l == [0, 1, 2]
    session.execute(f"INSERT INTO {keyspace}.u (k, v) VALUES (2, 5) USING TTL 1000")
    ttl = session.execute(f"SELECT ttl(v) FROM {keyspace}.u WHERE k = 2").one()[0]
    assert 990 <= ttl <= 1000
    session.execute(f"DELETE v FROM {keyspace}.u WHERE k = 1")
    assert session.execute(f"SELECT v FROM {keyspace}.u WHERE k = 1").one().v is None
    session.execute(f"DELETE FROM {keyspace}.u WHERE k = 1")
    assert session.execute(f"SELECT * FROM {keyspace}.u WHERE k = 1").one() is None


def test_errors_are_cassandras(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.e (k int, c int, v int, PRIMARY KEY (k, c))")
    with pytest.raises(SyntaxException):
        session.execute(f"SELEC * FROM {keyspace}.e")
    with pytest.raises(AlreadyExists):
        session.execute(f"CREATE TABLE {keyspace}.e (k int PRIMARY KEY)")
    with pytest.raises(InvalidRequest, match=r"does not exist|unconfigured table"):
        session.execute(f"SELECT * FROM {keyspace}.missing")
    with pytest.raises(InvalidRequest, match="Undefined column name nope"):
        session.execute(f"SELECT nope FROM {keyspace}.e")
    with pytest.raises(InvalidRequest, match="Some clustering keys are missing: c"):
        session.execute(f"INSERT INTO {keyspace}.e (k, v) VALUES (1, 1)")
    with pytest.raises(InvalidRequest, match="Some partition key parts are missing: k"):
        session.execute(f"UPDATE {keyspace}.e SET v = 1 WHERE c = 1")


def test_batches(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.b (k int, c int, v text, PRIMARY KEY (k, c))")
    session.execute(
        f"BEGIN UNLOGGED BATCH INSERT INTO {keyspace}.b (k, c, v) VALUES (1, 1, 'a'); "
        f"INSERT INTO {keyspace}.b (k, c, v) VALUES (1, 2, 'b'); APPLY BATCH"
    )
    from cassandra.query import BatchStatement, BatchType

    insert = session.prepare(f"INSERT INTO {keyspace}.b (k, c, v) VALUES (?, ?, ?)")
    batch = BatchStatement(batch_type=BatchType.LOGGED)
    for c in range(3, 6):
        batch.add(insert, (1, c, str(c)))
    session.execute(batch)
    rows = session.execute(f"SELECT c FROM {keyspace}.b WHERE k = 1")
    assert [r.c for r in rows] == [1, 2, 3, 4, 5]
