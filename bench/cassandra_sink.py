"""Rows per second of the Cassandra sink writing into a dev server run as a separate process.

Run by hand: ``.venv/bin/python -P bench/cassandra_sink.py [--rows 200000] [--workers 4]``
(``-P``: keep ``bench/`` off ``sys.path``, where ``bench/copy.py`` would shadow the standard
library's ``copy``).

The dev server (``cassflow dev --memory``) runs in its own process so that the server's work
does not share the benchmark's interpreter. A table of 8 columns (``id`` partition key,
``seq`` clustering column, six regular columns of int, bigint, text, double, boolean,
timestamp) is loaded by ``--workers`` slice writers in parallel threads, in chunks of 5000
rows, the way the runner drives a sink. Rows come as CSV text (every value goes through its
column's converter), as a CSV load sends them, or with ``--typed`` as Python values of the
column types, as a Parquet or Cassandra source sends them.

Shapes of input, each timed once per mode:

* ``unique``: every row is its own partition (single statements);
* ``wide``: partitions of ``--per-partition`` rows (UNLOGGED batches per partition).

Modes (the sink's ``batch_mode``): ``partition`` (rows of one partition only), ``none`` (every
row alone) and ``replica`` (the default): whole partitions with the same replicas batched
together, at most 10 per batch, as cqlsh groups them. The dev server is one node, so every row
has the same replica and ``replica`` batches any 10 partitions. The client's
CPU time per row (this process: converting, binding, grouping, the driver's work) shows how
much of a row's cost is the sink's own, whatever the server.

Measured on the 2-core dev machine (shared with other work, so +-30 %), 200k rows of CSV text,
when ``replica`` batches held up to 32 partitions (now 10):
``unique`` 2,000 rows/s with ``partition`` (all single statements; client 143 us/row) and
6,300 with ``replica`` (26 us/row); ``wide`` 7,000 with ``partition`` (34 us/row) and 8,600
with ``replica``. The dev server's per-request cost bounds these figures; the client alone
would carry some 7,000 single statements or 30,000 batched rows per second per core.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cassflow.copy._cassandra import CassandraSink
from cassflow.copy._connect import CassandraConnection
from cassflow.copy._model import Chunk, DriftPolicy, Field

COLUMNS = ("id", "seq", "qty", "total", "name", "score", "active", "at")
CHUNK = 5000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[bytes]:
    cassflow = Path(sys.executable).with_name("cassflow")
    server = subprocess.Popen(
        [str(cassflow), "dev", "--port", str(port), "--memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("the dev server exited at start") from None
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the dev server did not listen within 60 s")


def _typed_rows(count: int, per_partition: int) -> list[tuple[Any, ...]]:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        (
            i // per_partition,
            i % per_partition,
            i % 1000,
            i * 31,
            f"name {i % 997}",
            i * 0.25,
            bool(i % 2),
            base + timedelta(minutes=i % 50_000),
        )
        for i in range(count)
    ]


def _rows(count: int, per_partition: int) -> list[tuple[Any, ...]]:
    return [
        (
            str(i // per_partition),
            str(i % per_partition),
            str(i % 1000),
            str(i * 31),
            f"name {i % 997}",
            f"{i * 0.25:.2f}",
            "true" if i % 2 else "false",
            f"2024-01-{i % 28 + 1:02d}T10:{i % 60:02d}:00Z",
        )
        for i in range(count)
    ]


def _load(
    conn: CassandraConnection, table: str, rows: list[tuple[Any, ...]], mode: str, workers: int
) -> tuple[float, float, CassandraSink]:
    sink = CassandraSink(conn, "bench", table, batch_mode=mode)
    sink.prepare([Field(c) for c in COLUMNS], DriftPolicy.FAIL)
    chunks = [
        Chunk(COLUMNS, "bench.csv", rows=rows[k : k + CHUNK], lines=list(range(k, k + CHUNK)))
        for k in range(0, len(rows), CHUNK)
    ]
    errors: list[BaseException] = []

    def work(part: list[Chunk], slice_id: str) -> None:
        try:
            writer = sink.open_slice(slice_id)
            for chunk in part:
                result = writer.write(chunk)
                assert not result.bad, result.bad[:3]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(chunks[w::workers], f"s{w}")) for w in range(workers)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if errors:
        raise errors[0]
    return elapsed, cpu, sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--per-partition", type=int, default=10)
    parser.add_argument("--modes", default="partition,none,replica")
    parser.add_argument("--shapes", default="unique,wide")
    parser.add_argument("--typed", action="store_true", help="Python values, not CSV text")
    args = parser.parse_args()
    port = _free_port()
    server = _start_server(port)
    conn = CassandraConnection("bench", hosts=["127.0.0.1"], port=port, keyspace="bench")
    try:
        session = conn.session()
        session.execute(
            "CREATE KEYSPACE bench WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        values = "Python values" if args.typed else "CSV text"
        print(f"{args.rows} rows of 8 columns ({values}), {args.workers} writers, :{port}")
        for shape in args.shapes.split(","):
            make = _typed_rows if args.typed else _rows
            rows = make(args.rows, 1 if shape == "unique" else args.per_partition)
            for mode in args.modes.split(","):
                table = f"{shape}_{mode}"
                session.execute(
                    f"CREATE TABLE bench.{table} (id int, seq int, qty int, total bigint, "
                    "name text, score double, active boolean, at timestamp, "
                    "PRIMARY KEY (id, seq))"
                )
                elapsed, cpu, sink = _load(conn, table, rows, mode, args.workers)
                stats = sink.stats
                print(
                    f"{shape:7} {mode:9} {args.rows / elapsed:9,.0f} rows/s  "
                    f"({elapsed:.1f} s, client CPU {cpu / args.rows * 1e6:.0f} us/row; "
                    f"{stats.batches} batches, {stats.statements} statements, "
                    f"{stats.retries} retries)"
                )
    finally:
        conn.close()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
