"""The dev server's footprint and speed through the unmodified driver.

Measures, with ``cassflow dev`` running as its own process (as users run it, so that the
server and the clients do not share a GIL):

* cold start: from spawning ``cassflow dev --port 0`` to the first answered query (the
  process's "listening on" line, then a driver connection and ``SELECT`` on system.local);
* idle RSS: the server process's resident memory after start, before any user data;
* the bulk workloads of the loader and unloader benchmarks, on a table of 8 columns
  (``pk int, ck int`` and six regular columns of text, bigint, double, timestamp, uuid and
  boolean):

  - ``insert``: pipelined single-row prepared INSERTs (``execute_concurrent_with_args``,
    ``--concurrency`` requests in flight per client), one row per partition;
  - ``batch_same``: UNLOGGED batches of 32 prepared INSERTs into one partition each (what the
    cassflow loader sends for clustered tables);
  - ``batch_mixed``: UNLOGGED batches of 20 prepared INSERTs of 20 partitions (what
    ``cqlsh COPY FROM`` sends: rows grouped by replica, and one node is every replica);
  - ``token_scan``: ``SELECT * ... WHERE token(pk) > ? AND token(pk) <= ?`` over 32 ranges
    covering the ring, fetch_size 5000 (what ``cqlsh COPY TO`` and the unloader do);
  - ``paged_read``: ``SELECT *`` of the whole table, fetch_size 5000.

  Each prints rows/s (wall clock, from the moment every client is ready until the last one
  is done) and the server's CPU time per row (from /proc: what the server itself costs,
  whatever the clients cost).

``--clients N`` runs N client processes side by side (the rows are split among them), as
cqlsh COPY does with its worker processes; with one client the driver itself can be the
limit. ``--data`` uses a data directory (SQLite WAL on disk) instead of ``--memory``.

Run: ``.venv/bin/python -P bench/devserver.py [--rows 50000] [--clients 1] [--data] [--json]``
(``-P``: bench/copy.py would otherwise shadow the standard library's ``copy`` module, which the
driver imports). The machine may be shared: the server CPU per row is the steadier figure.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, PreparedStatement, SimpleStatement

KEYSPACE = "bench"
TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS {ks}.{table} (pk int, ck int, name text, amount bigint, "
    "ratio double, at timestamp, ref uuid, flag boolean, PRIMARY KEY (pk, ck))"
)
INSERT = (
    "INSERT INTO {ks}.{table} (pk, ck, name, amount, ratio, at, ref, flag) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
SCAN_RANGES = 32
FETCH_SIZE = 5000
_MIN_TOKEN, _MAX_TOKEN = -(2**63), 2**63 - 1
_EPOCH = datetime.datetime(2024, 1, 1)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    # Fields 14 and 15 of /proc/pid/stat: user and system time in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _row(i: int, pk: int, ck: int) -> tuple[Any, ...]:
    return (
        pk,
        ck,
        f"name-{i}",
        i * 7,
        i / 3,
        _EPOCH + datetime.timedelta(seconds=i),
        uuid.UUID(int=i),
        i % 2 == 0,
    )


def _rows(workload: str, first: int, last: int) -> list[tuple[Any, ...]]:
    if workload == "batch_same":
        return [_row(i, i // 32, i % 32) for i in range(first, last)]
    return [_row(i, i, 0) for i in range(first, last)]


def _connect(host: str, port: int) -> tuple[Cluster, Session]:
    cluster = Cluster([host], port=port, protocol_version=5, connect_timeout=30)
    return cluster, cluster.connect()


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(
    insert: PreparedStatement, rows: Sequence[tuple[Any, ...]], size: int
) -> list[BatchStatement]:
    batches = []
    for chunk in _chunks(rows, size):
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for row in chunk:
            batch.add(insert, row)
        batches.append(batch)
    return batches


def _token_ranges() -> list[tuple[int, int]]:
    step = (_MAX_TOKEN - _MIN_TOKEN) // SCAN_RANGES
    bounds = [_MIN_TOKEN + i * step for i in range(SCAN_RANGES)] + [_MAX_TOKEN]
    return list(itertools.pairwise(bounds))


def _client(
    address: tuple[str, int],
    workload: str,
    share: tuple[int, int],
    concurrency: int,
    barrier: Barrier,
    results: Any,
) -> None:
    """One client process: prepares its work, waits for the others, runs it, reports."""
    cluster, session = _connect(*address)
    try:
        work = _prepare_work(session, workload, share, concurrency)
        barrier.wait(timeout=300)
        began = time.perf_counter()
        count = work()
        results.put((count, time.perf_counter() - began))
    finally:
        cluster.shutdown()


def _prepare_work(
    session: Session, workload: str, share: tuple[int, int], concurrency: int
) -> Callable[[], int]:
    first, last = share
    table = "same" if workload == "batch_same" else "rows"
    if workload in ("insert", "batch_same", "batch_mixed"):
        insert = session.prepare(INSERT.format(ks=KEYSPACE, table=table))
        rows = _rows(workload, first, last)
        if workload == "insert":

            def run_inserts() -> int:
                results = execute_concurrent_with_args(
                    session, insert, rows, concurrency=concurrency, raise_on_first_error=True
                )
                return len(results)

            return run_inserts
        size = 32 if workload == "batch_same" else 20
        batches = _batches(insert, rows, size)
        sizes = [len(chunk) for chunk in _chunks(rows, size)]

        def run_batches() -> int:
            return run_concurrently(session, batches, sizes, concurrency)

        return run_batches
    if workload == "token_scan":
        scan = session.prepare(
            f"SELECT * FROM {KEYSPACE}.rows WHERE token(pk) > ? AND token(pk) <= ?"
        )
        scan.fetch_size = FETCH_SIZE
        queries: list[tuple[Any, tuple[int, ...]]] = [
            (scan, bounds) for bounds in _token_ranges()[first:last]
        ]
        if first == 0:  # the ranges leave out the minimum token itself, as COPY TO's do
            minimum = f"SELECT * FROM {KEYSPACE}.rows WHERE token(pk) = {_MIN_TOKEN}"
            queries.append((SimpleStatement(minimum, fetch_size=FETCH_SIZE), ()))

        def run_scan() -> int:
            return sum(sum(1 for _ in session.execute(q, p)) for q, p in queries)

        return run_scan
    assert workload == "paged_read"

    def run_read() -> int:
        statement = SimpleStatement(f"SELECT * FROM {KEYSPACE}.rows", fetch_size=FETCH_SIZE)
        return sum(1 for _ in session.execute(statement))

    return run_read


def run_concurrently(
    session: Session, batches: Sequence[BatchStatement], sizes: Sequence[int], concurrency: int
) -> int:
    """Run ``batches`` (of ``sizes`` rows) with ``concurrency`` in flight; rows written."""
    results = execute_concurrent(
        session, [(b, ()) for b in batches], concurrency=concurrency, raise_on_first_error=True
    )
    return sum(size for (ok, _), size in zip(results, sizes, strict=True) if ok)


@contextmanager
def _server(data: bool) -> Iterator[tuple[subprocess.Popen[str], str, int, float]]:
    script = Path(sys.executable).parent / "cassflow"
    with tempfile.TemporaryDirectory() as directory:
        storage = ["--data", directory] if data else ["--memory"]
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(script), "dev", "--port", "0", *storage], stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stderr is not None
            match = None
            while match is None:
                line = process.stderr.readline()
                if not line:
                    raise RuntimeError("cassflow dev exited before listening")
                match = re.search(r"listening on ([\d.]+):(\d+)", line)
            yield process, match[1], int(match[2]), started
        finally:
            process.terminate()
            process.wait(timeout=60)


def _run_clients(
    address: tuple[str, int], workload: str, total: int, clients: int, concurrency: int, pid: int
) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(clients + 1)
    results = context.Queue()
    per_client = -(-total // clients)
    processes = [
        context.Process(
            target=_client,
            args=(
                address,
                workload,
                (n * per_client, min(total, (n + 1) * per_client)),
                concurrency,
                barrier,
                results,
            ),
        )
        for n in range(clients)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=300)
    cpu_before = _cpu_seconds(pid)
    began = time.perf_counter()
    counts = [results.get(timeout=3600) for _ in processes]
    elapsed = time.perf_counter() - began
    cpu = _cpu_seconds(pid) - cpu_before
    for process in processes:
        process.join(timeout=60)
    rows = sum(count for count, _ in counts)
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed),
        "server_cpu_us_per_row": round(cpu / rows * 1e6, 1) if rows else float("nan"),
    }


def measure(
    rows: int, clients: int, concurrency: int, data: bool, workloads: Sequence[str]
) -> dict[str, Any]:
    """Start a server, measure, stop it."""
    figures: dict[str, Any] = {"rows": rows, "clients": clients, "storage": "data dir"}
    if not data:
        figures["storage"] = "memory"
    with _server(data) as (process, host, port, started):
        cluster, session = _connect(host, port)
        session.execute("SELECT key FROM system.local")
        figures["cold_start_seconds"] = round(time.perf_counter() - started, 3)
        figures["idle_rss_mb"] = round(_rss_mb(process.pid), 1)
        session.execute(
            f"CREATE KEYSPACE {KEYSPACE} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        for table in ("rows", "same"):
            session.execute(TABLE_DDL.format(ks=KEYSPACE, table=table))
        cluster.shutdown()
        for workload in workloads:
            if workload in ("token_scan", "paged_read") and "insert" not in workloads:
                raise SystemExit(f"{workload} reads what 'insert' writes; measure both")
            total = SCAN_RANGES if workload == "token_scan" else rows
            parallel = 1 if workload == "paged_read" else min(clients, total)
            in_flight = concurrency if workload == "insert" else max(1, concurrency // 4)
            result = _run_clients((host, port), workload, total, parallel, in_flight, process.pid)
            if result["rows"] != rows:
                raise RuntimeError(f"{workload}: {result['rows']} rows, expected {rows}")
            figures[workload] = result
        figures["rss_after_load_mb"] = round(_rss_mb(process.pid), 1)
    return figures


WORKLOADS = ("insert", "batch_same", "batch_mixed", "token_scan", "paged_read")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows per write workload")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument(
        "--concurrency", type=int, default=128, help="requests in flight per client (inserts)"
    )
    parser.add_argument("--data", action="store_true", help="a data directory, not --memory")
    parser.add_argument(
        "--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS), help="workloads to run"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.rows, args.clients, args.concurrency, args.data, args.only)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, value in figures.items():
        if isinstance(value, dict):
            print(
                f"{name:22} {value['rows_per_s']:>10,} rows/s  "
                f"{value['server_cpu_us_per_row']:>7} us server CPU/row  "
                f"({value['rows']:,} rows in {value['seconds']} s)"
            )
        else:
            print(f"{name:22} {value}")


if __name__ == "__main__":
    main()
