"""The dev server's footprint and speed through the unmodified driver.

Measures, with ``cassflow dev`` running as its own process (as users run it):

* cold start: from spawning ``cassflow dev --memory --port 0`` to the first answered query
  (the process's "listening on" line, then a driver connection and ``SELECT`` on system.local);
* idle RSS: the server process's resident memory after start, before any user data;
* prepared INSERT rows/s: ``execute_concurrent_with_args`` of a prepared single-row INSERT;
* paged read rows/s: ``SELECT *`` of the same table with fetch_size 5000.

Run: ``.venv/bin/python bench/devserver.py [--rows 50000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import SimpleStatement


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(rows: int) -> dict[str, Any]:
    """Start a server, measure, stop it."""
    script = Path(sys.executable).parent / "cassflow"
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(script), "dev", "--memory", "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        match = None
        while match is None:
            line = process.stderr.readline()
            if not line:
                raise RuntimeError("cassflow dev exited before listening")
            match = re.search(r"listening on ([\d.]+):(\d+)", line)
        cluster = Cluster([match[1]], port=int(match[2]), protocol_version=5)
        session = cluster.connect()
        session.execute("SELECT key FROM system.local")
        cold_start = time.perf_counter() - started
        idle_rss = _rss_mb(process.pid)
        session.execute(
            "CREATE KEYSPACE bench WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute("CREATE TABLE bench.kv (k int PRIMARY KEY, v text, n bigint)")
        insert = session.prepare("INSERT INTO bench.kv (k, v, n) VALUES (?, ?, ?)")
        params = [(i, f"value-{i}", i * 7) for i in range(rows)]
        began = time.perf_counter()
        results = execute_concurrent_with_args(session, insert, params, concurrency=64)
        insert_seconds = time.perf_counter() - began
        assert all(ok for ok, _ in results)
        began = time.perf_counter()
        read = sum(
            1 for _ in session.execute(SimpleStatement("SELECT * FROM bench.kv", fetch_size=5000))
        )
        read_seconds = time.perf_counter() - began
        assert read == rows
        loaded_rss = _rss_mb(process.pid)
        cluster.shutdown()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "cold_start_seconds": round(cold_start, 3),
        "idle_rss_mb": round(idle_rss, 1),
        "rss_after_load_mb": round(loaded_rss, 1),
        "rows": rows,
        "prepared_insert_rows_per_s": round(rows / insert_seconds),
        "paged_read_rows_per_s": round(rows / read_seconds),
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows to insert and read back")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.rows)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, value in figures.items():
        print(f"{name:30} {value}")


if __name__ == "__main__":
    main()
