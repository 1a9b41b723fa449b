"""LZ4 compression negotiated by the driver: v4 frame compression and v5 segment compression.

Each test runs at protocol v4 (compressed frame bodies) and v5 (compressed segments, with
frames larger than a segment split over several), with results of several MB and with many
small concurrent requests; every answer is compared with what was written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement

from clusters import connect

pytest.importorskip("lz4", reason="the driver needs the lz4 package for compression='lz4'")

_VALUE_SIZE = 100_000


@pytest.fixture(params=[4, 5], ids=["v4-frames", "v5-segments"])
def lz4_session(
    request: pytest.FixtureRequest, contact: tuple[list[str], int], keyspace: str
) -> Iterator[Session]:
    """A session of a cluster that negotiated LZ4 at the parametrized protocol version."""
    cluster: Cluster = connect(contact, compression="lz4", protocol_version=request.param)
    try:
        session = cluster.connect(keyspace)
        assert cluster.protocol_version == request.param
        connection = cluster.control_connection._connection
        assert connection is not None
        assert connection.compressor is not None
        yield session
    finally:
        cluster.shutdown()


def _value(i: int) -> str:
    """About 100 KB of text: even rows compress well, odd rows hardly at all."""
    if i % 2 == 0:
        return (f"row {i} " * (_VALUE_SIZE // 6))[:_VALUE_SIZE]
    chunks, seed = [], f"seed-{i}".encode()
    while sum(map(len, chunks)) < _VALUE_SIZE:
        seed = hashlib.sha256(seed).digest()
        chunks.append(seed.hex())
    return "".join(chunks)[:_VALUE_SIZE]


def test_the_server_sees_the_compression_the_driver_asked_for(lz4_session: Session) -> None:
    version = lz4_session.cluster.protocol_version
    rows = lz4_session.execute("SELECT protocol_version, client_options FROM system_views.clients")
    compressed = [
        r
        for r in rows
        if r.protocol_version == version and (r.client_options or {}).get("COMPRESSION") == "lz4"
    ]
    assert compressed


def test_results_of_several_megabytes_arrive_exact(lz4_session: Session) -> None:
    lz4_session.execute("CREATE TABLE big (p int, c int, v text, PRIMARY KEY (p, c))")
    insert = lz4_session.prepare("INSERT INTO big (p, c, v) VALUES (0, ?, ?)")
    count = 48  # 4.8 MB in one page
    execute_concurrent_with_args(
        lz4_session, insert, [(i, _value(i)) for i in range(count)], concurrency=8
    )
    result = lz4_session.execute(
        SimpleStatement("SELECT c, v FROM big WHERE p = 0", fetch_size=count)
    )
    rows = list(result.current_rows)
    assert [r.c for r in rows] == list(range(count))
    assert all(r.v == _value(r.c) for r in rows)
    # The same data over many pages, and one value on its own.
    paged = lz4_session.execute(SimpleStatement("SELECT c, v FROM big WHERE p = 0", fetch_size=5))
    assert [(r.c, r.v) for r in paged] == [(r.c, r.v) for r in rows]
    one = lz4_session.execute("SELECT v FROM big WHERE p = 0 AND c = 7").one()
    assert one.v == _value(7)


def test_many_small_concurrent_requests_get_their_own_answers(lz4_session: Session) -> None:
    lz4_session.execute("CREATE TABLE small (k int PRIMARY KEY, v text)")
    insert = lz4_session.prepare("INSERT INTO small (k, v) VALUES (?, ?)")
    count = 1500
    results = execute_concurrent_with_args(
        lz4_session, insert, [(k, f"value-{k}") for k in range(count)], concurrency=64
    )
    assert all(ok for ok, _ in results)
    select = lz4_session.prepare("SELECT k, v FROM small WHERE k = ?")
    answers = execute_concurrent_with_args(
        lz4_session, select, [(k,) for k in range(count)], concurrency=64
    )
    for k, (ok, result) in enumerate(answers):
        assert ok
        assert list(result) == [(k, f"value-{k}")]
    total = lz4_session.execute(SimpleStatement("SELECT k, v FROM small", fetch_size=100))
    assert sorted((r.k, r.v) for r in total) == [(k, f"value-{k}") for k in range(count)]


def test_v4_answers_come_as_compressed_frames(contact: tuple[list[str], int]) -> None:
    cluster = connect(contact, compression="lz4", protocol_version=4)
    try:
        session = cluster.connect()
        pool = next(iter(session._pools.values()))
        connection = pool._connection
        original = connection.decompressor
        calls: list[int] = []

        def counting(data: bytes) -> bytes:
            calls.append(len(data))
            return original(data)

        connection.decompressor = counting
        row = session.execute("SELECT release_version FROM system.local").one()
        assert row.release_version
        assert calls  # the frame carried the compression flag and an LZ4 body
    finally:
        cluster.shutdown()
