"""cassflow's bulk load and unload next to ``cqlsh COPY`` and a per-row ``session.execute`` loop.

One run, side by side, on the same data and the same server:

* load a CSV of ``--rows`` rows (8 columns: bigint key, text, int, double, timestamp with ms,
  boolean, uuid, decimal) into a table, with (1) ``cassflow copy data.csv cassandra://...``,
  (2) ``cqlsh`` ``COPY ks.t (cols) FROM 'data.csv' WITH HEADER=true`` (its defaults, so
  NUMPROCESSES is min(cpu count - 1, 16)) and (3) a loop of ``session.execute(prepared, row)``
  over the CSV, one row at a time, capped at ``--loop-rows`` rows and extrapolated;
* unload the table with (4) ``cassflow copy cassandra://... out/ --to-format parquet`` and
  (5) ``COPY ks.t (cols) TO 'out.csv' WITH HEADER=true``.

Every contender runs in its own keyspace (dropped and created fresh); each load is checked by
counting the table's rows over token ranges and reading back three rows, each unload by
counting the rows it wrote. cassflow and cqlsh run as subprocesses and are timed wall clock,
start to exit (interpreter start-up included for both); their peak RSS is the VmHWM of their
largest process, and of all their processes added up (cqlsh's and cassflow's worker processes
included). cassflow's peak RSS is measured at 100,000 rows and at ``--rows``.

Without ``--hosts`` a dev server is started as its own process (``cassflow dev --port 0
--data <tmp>``), so that the server and the clients never share a GIL; its CPU is not the
clients'. With ``--hosts`` any Cassandra 4.1/5.0 is used (no authentication; keyspaces
``bench_*`` are dropped and created with ``--replication``).

Timestamps are written as ``2024-01-01 00:00:00.123+0000``: cqlsh 6.2's COPY FROM matches a
``T`` separator only as the literal ``'T'``, so ``2024-01-01T00:00:00.123Z`` loads as midnight
(its date part only), without an error.

Run: ``.venv/bin/python bench/copy.py [--rows 1000000] [--hosts HOST:PORT] [--skip-loop]``.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path, and this file would then be
# imported as the standard library's ``copy`` (dataclasses, argparse and the driver import it).
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse
import contextlib
import csv
import datetime
import decimal
import itertools
import json
import re
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

COLUMNS = ("id", "name", "qty", "price", "at", "active", "ref", "amount")
TABLE = "t"
TABLE_DDL = (
    "CREATE TABLE {ks}.t (id bigint PRIMARY KEY, name text, qty int, price double, "
    "at timestamp, active boolean, ref uuid, amount decimal)"
)
RSS_ROWS = 100_000
COUNT_RANGES = 64
_MIN_TOKEN, _MAX_TOKEN = -(2**63), 2**63 - 1
_EPOCH = datetime.datetime(2024, 1, 1)  # naive is UTC, as the driver returns
_CQLSH_FORMAT = "%Y-%m-%d %H:%M:%S.%f%z"
_BIN = Path(sys.executable).parent


# --- the data ---------------------------------------------------------------------------------


def expected_row(i: int) -> tuple[Any, ...]:
    """Row ``i`` as the driver reads it back (naive UTC datetimes)."""
    name = f"customer {i % 10_007}, branch {i % 13}" if i % 10 == 0 else f"customer-{i:08d}"
    at = _EPOCH + datetime.timedelta(seconds=i * 37, milliseconds=i % 1000)
    return (
        i,
        name,
        (i * 7_919) % 100_000 - 50_000,
        (i * 37 % 10_000_000) / 100,
        at,
        i % 3 != 0,
        uuid.UUID(int=(i * 0x9E3779B97F4A7C15_F39CC0605CEDC835) % 2**128),
        decimal.Decimal(f"{i % 100_000}.{i % 100:02d}"),
    )


def _csv_fields(row: tuple[Any, ...]) -> list[str]:
    i, name, qty, price, at, active, ref, amount = row
    stamp = f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d}+0000"
    return [str(i), name, str(qty), repr(price), stamp, "true" if active else "false", str(ref),
            str(amount)]  # fmt: skip


def write_csv(paths: dict[Path, int]) -> None:
    """Write each path with rows ``0 .. n-1`` (and a header), all in one pass over the rows."""
    handles = {path: path.open("w", newline="", encoding="utf-8") for path in paths}
    try:
        writers = {path: csv.writer(handle) for path, handle in handles.items()}
        for writer in writers.values():
            writer.writerow(COLUMNS)
        most = max(paths.values())
        for i in range(most):
            fields = _csv_fields(expected_row(i))
            for path, writer in writers.items():
                if i < paths[path]:
                    writer.writerow(fields)
    finally:
        for handle in handles.values():
            handle.close()


def _typed(fields: list[str]) -> tuple[Any, ...]:
    """A CSV record as the Python values a hand-written loader would bind."""
    i, name, qty, price, at, active, ref, amount = fields
    return (
        int(i),
        name,
        int(qty),
        float(price),
        datetime.datetime.strptime(at, _CQLSH_FORMAT),
        active == "true",
        uuid.UUID(ref),
        decimal.Decimal(amount),
    )


# --- processes --------------------------------------------------------------------------------


@dataclass
class Measured:
    """What one contender did: rows, wall seconds, peak RSS, and what went wrong if anything."""

    contender: str
    kind: str  # "load" or "unload"
    rows: int = 0
    seconds: float = 0.0
    peak_rss_mib: float | None = None
    #: The peaks of all its processes added up (worker processes included).
    total_rss_mib: float | None = None
    #: Set when only ``rows`` of these were moved and timed: the rate is extrapolated.
    out_of: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    #: CPU seconds the dev server spent meanwhile (None with --hosts).
    server_cpu: float | None = None
    #: CPU seconds the contender's own processes (children included) spent.
    client_cpu: float | None = None

    @property
    def rate(self) -> float:
        """Rows per second, of the rows actually moved."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class Ran(NamedTuple):
    """How a contender's command ran."""

    code: int
    seconds: float
    #: The largest peak resident set of any of its processes (MiB).
    peak_mib: float
    #: Its processes' peaks added up (MiB): what they held at most, all together.
    total_mib: float
    #: CPU seconds of the command and the children it waited for.
    cpu: float


def run_measured(command: Sequence[str], log: Path, timeout: float) -> Ran:
    """Run ``command`` to completion and measure it (see :class:`Ran`).

    The CPU seconds are the child's user + system time and its own waited-for children's
    (cqlsh's and cassflow's worker processes), from ``RUSAGE_CHILDREN`` before and after.

    Peaks are ``VmHWM`` (``/proc/<pid>/status``) of the child and of every process under it,
    read while they run: a fresh process image's high-water mark, unlike ``ru_maxrss``,
    which starts from the parent's RSS when the child is forked (a child of a 900 MiB
    process "peaks" at 900 MiB). They are read every 20 ms, so growth in a process's last
    instants can be missed: fine for the contenders, which run for seconds. Past
    ``timeout`` seconds the child is killed.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("wb") as out:
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        peaks: dict[int, int] = {}
        deadline = began + timeout
        while True:
            for pid in _process_tree(process.pid):
                peaks[pid] = max(peaks.get(pid, 0), _high_water_kib(pid))
            try:
                process.wait(timeout=min(0.02, max(0.0, deadline - time.perf_counter())))
                break
            except subprocess.TimeoutExpired:
                if time.perf_counter() >= deadline:
                    process.kill()
                    process.wait()
                    out.write(f"\nbench: killed after the --timeout of {timeout:.0f} s\n".encode())
                    break
        elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    largest = max(peaks.values(), default=0)
    return Ran(process.returncode, elapsed, largest / 1024, sum(peaks.values()) / 1024, cpu)


def _process_tree(pid: int) -> list[int]:
    """``pid`` and every process under it, as far as /proc shows them now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):  # the task ended meanwhile
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def _high_water_kib(pid: int) -> int:
    """A running process's peak resident set (VmHWM) in KiB; 0 once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(match[1]) if match else 0


def _tail(log: Path, lines: int = 12) -> str:
    """The last non-blank lines of a log (progress lines end in carriage returns)."""
    text = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n    ".join(["", *kept])


@contextmanager
def dev_server(
    data_dir: Path | None, log: Path, deadline: float = 60.0
) -> Iterator[tuple[int, int]]:
    """Start ``cassflow dev`` as its own process; yield its port and pid once it listens."""
    storage = ["--data", str(data_dir)] if data_dir else ["--memory"]
    command = [str(_BIN / "cassflow"), "dev", "--port", "0", *storage]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        until = time.monotonic() + deadline
        port = None
        while port is None:
            match = re.search(r"listening on [\d.]+:(\d+)", log.read_text(errors="replace"))
            if match:
                port = int(match[1])
            elif process.poll() is not None:
                raise RuntimeError(f"cassflow dev exited ({process.returncode}): {_tail(log)}")
            elif time.monotonic() > until:
                raise RuntimeError(f"cassflow dev not listening after {deadline:.0f} s")
            else:
                time.sleep(0.05)  # polling a log file for a line; nothing to wait on instead
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the cluster side -------------------------------------------------------------------------


class Cluster:
    """The bench's own driver session: schema, counts and read-backs."""

    def __init__(self, hosts: list[str], port: int, replication: str) -> None:
        from cassandra.cluster import Cluster as DriverCluster

        self.hosts, self.port, self.replication = hosts, port, replication
        self._cluster = DriverCluster(hosts, port=port, connect_timeout=30)
        self.session = self._cluster.connect()
        self.session.default_timeout = 120

    def fresh_keyspace(self, keyspace: str) -> None:
        """Drop ``keyspace`` if there, create it and the table."""
        self.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        self.session.execute(f"CREATE KEYSPACE {keyspace} WITH replication = {self.replication}")
        self.session.execute(TABLE_DDL.format(ks=keyspace))

    def drop(self, keyspace: str) -> None:
        """Drop ``keyspace`` if there."""
        self.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")

    def count(self, keyspace: str) -> int:
        """Rows of the table, counted over token ranges (no whole-table count(*) timeout)."""
        step = (_MAX_TOKEN - _MIN_TOKEN) // COUNT_RANGES
        bounds = [_MIN_TOKEN + n * step for n in range(COUNT_RANGES)] + [_MAX_TOKEN]
        ranged = self.session.prepare(
            f"SELECT count(*) FROM {keyspace}.{TABLE} WHERE token(id) > ? AND token(id) <= ?"
        )
        lowest = f"SELECT count(*) FROM {keyspace}.{TABLE} WHERE token(id) = {_MIN_TOKEN}"
        total = self.session.execute(lowest).one()[0]
        for low, high in itertools.pairwise(bounds):
            total += self.session.execute(ranged, (low, high)).one()[0]
        return int(total)

    def check_rows(self, keyspace: str, ids: Sequence[int]) -> str | None:
        """None if rows ``ids`` read back as generated; else what differs."""
        select = self.session.prepare(
            f"SELECT {', '.join(COLUMNS)} FROM {keyspace}.{TABLE} WHERE id = ?"
        )
        for i in ids:
            row = self.session.execute(select, (i,)).one()
            want = expected_row(i)
            if row is None:
                return f"row id={i} is missing"
            if tuple(row) != want:
                return f"row id={i} reads back as {tuple(row)!r}, expected {want!r}"
        return None

    def shutdown(self) -> None:
        """Close the driver's connections."""
        self._cluster.shutdown()


# --- contenders -------------------------------------------------------------------------------


@dataclass
class Bench:
    """Everything a contender needs: where the data is and how to reach the cluster."""

    work: Path
    cluster: Cluster
    timeout: float
    cassflow_args: list[str]
    server_pid: int | None = None
    #: Extra arguments of the load / the unload only (e.g. a table's --to-option).
    load_args: list[str] = field(default_factory=list)
    unload_args: list[str] = field(default_factory=list)
    connections: Path = field(init=False)

    def __post_init__(self) -> None:
        self.connections = self.work / "connections.yaml"
        hosts = json.dumps(self.cluster.hosts)
        lines = [
            f"{ks}: {{hosts: {hosts}, port: {self.cluster.port}, keyspace: {ks}, "
            "request_timeout: 120}"
            for ks in ("bench_cassflow", "bench_rss")
        ]
        self.connections.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _cassflow(self, name: str, source: str, target: str, extra: list[str]) -> Measured:
        log = self.work / f"{name}.log"
        command = [
            str(_BIN / "cassflow"), "copy", source, target,
            "--connections", str(self.connections),
            "--state-dir", str(self.work / "state"),
            "--quiet", *extra, *self.cassflow_args,
        ]  # fmt: skip
        report = self.work / f"{name}.json"
        report.unlink(missing_ok=True)
        command += ["--report", str(report)]
        cpu = self._server_cpu()
        ran = run_measured(command, log, self.timeout)
        code = ran.code
        result = Measured("cassflow copy", "", seconds=ran.seconds, peak_rss_mib=ran.peak_mib)
        result.total_rss_mib, result.client_cpu = ran.total_mib, ran.cpu
        result.server_cpu = self._server_cpu(cpu)
        if code != 0:
            result.error = f"exit {code}: {_tail(log)}"
        elif report.exists():
            copied = json.loads(report.read_text(encoding="utf-8"))["activities"][0]["copy"]
            counts = copied["rows"]
            result.notes.append(
                f"its own report: {counts['written']:,} written, {counts['quarantined']:,} "
                f"quarantined, {copied['rows_per_second']:,.0f} rows/s over "
                f"{copied['seconds']:.2f} s (start-up and connecting left out)"
            )
            if counts["quarantined"]:
                result.error = f"{counts['quarantined']} rows quarantined: {_tail(log)}"
        return result

    def cassflow_load(self, csv_path: Path, keyspace: str, rows: int) -> Measured:
        """(1) cassflow copy CSV -> table."""
        self.cluster.fresh_keyspace(keyspace)
        target = f"cassandra://{keyspace}/{keyspace}.{TABLE}"
        result = self._cassflow(
            f"load_{keyspace}_{rows}", str(csv_path), target, list(self.load_args)
        )
        result.contender, result.kind = "cassflow copy CSV -> table", "load"
        return self._verify_load(result, keyspace, rows)

    def cassflow_unload(self, keyspace: str, rows: int) -> Measured:
        """(4) cassflow copy table -> Parquet directory."""
        out = self.work / f"out_{keyspace}_parquet"
        shutil.rmtree(out, ignore_errors=True)
        source = f"cassandra://{keyspace}/{keyspace}.{TABLE}"
        result = self._cassflow(
            f"unload_{keyspace}_{rows}",
            source,
            f"{out}/",
            ["--to-format", "parquet", *self.unload_args],
        )
        result.contender, result.kind = "cassflow copy table -> Parquet", "unload"
        if result.error is None:
            result.rows = parquet_rows(out)
            if result.rows != rows:
                result.error = f"wrote {result.rows} rows to {out}, expected {rows}"
        return result

    def _server_cpu(self, since: float | None = None) -> float | None:
        """The dev server's CPU seconds so far, or since ``since``; None without one."""
        if self.server_pid is None:
            return None
        # Fields 14 and 15 of /proc/<pid>/stat: user and system time, in clock ticks.
        stat = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        return total - since if since is not None else total

    def _cqlsh(self, name: str, statement: str, result: Measured) -> tuple[int, str, Path]:
        """Run ``statement`` in cqlsh, timed into ``result``: (exit code, output, log)."""
        log = self.work / f"{name}.log"
        command = [
            str(_BIN / "cqlsh"), self.cluster.hosts[0], str(self.cluster.port),
            "--request-timeout", "120", "-e", statement,
        ]  # fmt: skip
        cpu = self._server_cpu()
        ran = run_measured(command, log, self.timeout)
        code, result.seconds, result.client_cpu = ran.code, ran.seconds, ran.cpu
        result.peak_rss_mib, result.total_rss_mib = ran.peak_mib, ran.total_mib
        result.server_cpu = self._server_cpu(cpu)
        output = log.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"Using (\d+) child processes", output)
        if match:
            result.notes.append(f"NUMPROCESSES={match[1]} (its default)")
        return code, output, log

    def cqlsh_works(self) -> str | None:
        """None if cqlsh connects and queries; else the statement and its output."""
        statement = "SELECT release_version FROM system.local"
        code, output, _ = self._cqlsh("cqlsh_check", statement, Measured("cqlsh", "check"))
        if code != 0 or "release_version" not in output:
            return f"cqlsh -e {statement!r}: exit {code}: {output.strip()[-2000:]}"
        return None

    def cqlsh_load(self, csv_path: Path, keyspace: str, rows: int) -> Measured:
        """(2) cqlsh COPY FROM, with its defaults."""
        self.cluster.fresh_keyspace(keyspace)
        statement = (
            f"COPY {keyspace}.{TABLE} ({', '.join(COLUMNS)}) FROM '{csv_path}' WITH HEADER=true"
        )
        result = Measured("cqlsh COPY FROM", "load")
        code, output, log = self._cqlsh(f"load_{keyspace}", statement, result)
        if code != 0 or re.search(r"(\d+) rows imported", output) is None:
            result.error = f"{statement}: exit {code}: {_tail(log)}"
            return result
        return self._verify_load(result, keyspace, rows)

    def cqlsh_unload(self, keyspace: str, rows: int) -> Measured:
        """(5) cqlsh COPY TO one CSV file, with its defaults."""
        out = self.work / f"out_{keyspace}.csv"
        out.unlink(missing_ok=True)
        statement = f"COPY {keyspace}.{TABLE} ({', '.join(COLUMNS)}) TO '{out}' WITH HEADER=true"
        result = Measured("cqlsh COPY TO (CSV)", "unload")
        code, _, log = self._cqlsh(f"unload_{keyspace}", statement, result)
        if code != 0 or not out.exists():
            result.error = f"{statement}: exit {code}: {_tail(log)}"
            return result
        with out.open(newline="", encoding="utf-8") as handle:
            result.rows = sum(1 for _ in csv.reader(handle)) - 1
        if result.rows != rows:
            result.error = f"wrote {result.rows} rows to {out}, expected {rows}"
        return result

    def loop_load(self, csv_path: Path, keyspace: str, rows: int, cap: int) -> Measured:
        """(3) one ``session.execute(prepared, row)`` per CSV row, up to ``cap`` rows."""
        self.cluster.fresh_keyspace(keyspace)
        session = self.cluster.session
        insert = session.prepare(
            f"INSERT INTO {keyspace}.{TABLE} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))})"
        )
        done = min(cap, rows)
        cpu = self._server_cpu()
        began = time.perf_counter()
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            for record in itertools.islice(reader, done):
                session.execute(insert, _typed(record))
        seconds = time.perf_counter() - began
        result = Measured("per-row session.execute loop", "load", seconds=seconds)
        result.server_cpu = self._server_cpu(cpu)
        if done < rows:
            result.out_of = rows
        return self._verify_load(result, keyspace, done)

    def _verify_load(self, result: Measured, keyspace: str, rows: int) -> Measured:
        if result.error is not None:
            return result
        result.rows = self.cluster.count(keyspace)
        if result.rows != rows:
            result.error = f"the table holds {result.rows} rows, expected {rows}"
            return result
        problem = self.cluster.check_rows(keyspace, sorted({0, rows // 2, rows - 1}))
        if problem:
            result.error = problem
        return result


def parquet_rows(directory: Path) -> int:
    """Rows in every Parquet file under ``directory``, from the files' footers."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in directory.rglob("*.parquet"))


# --- the run ----------------------------------------------------------------------------------


def _parse_hosts(text: str) -> tuple[list[str], int]:
    hosts, port = [], 9042
    for item in text.split(","):
        host, sep, number = item.strip().rpartition(":")
        if not sep:
            host, number = number, ""
        hosts.append(host)
        port = int(number) if number else port
    return hosts, port


def run(
    args: argparse.Namespace,
    work: Path,
    hosts: list[str],
    port: int,
    server_pid: int | None = None,
) -> tuple[list[Measured], list[Measured]]:
    """Generate the data, run every contender: what each did at ``--rows``, and at 100k."""
    rows: int = args.rows
    data = work / "data.csv"
    small = work / f"data_{RSS_ROWS}.csv"
    files = {data: rows} | ({small: RSS_ROWS} if rows > RSS_ROWS else {})
    began = time.perf_counter()
    write_csv(files)
    print(f"generated {data} ({rows:,} rows, {data.stat().st_size / 2**20:.1f} MiB) in "
          f"{time.perf_counter() - began:.1f} s", flush=True)  # fmt: skip
    cluster = Cluster(hosts, port, args.replication)
    bench = Bench(
        work,
        cluster,
        args.timeout,
        args.cassflow_arg,
        server_pid,
        load_args=args.load_arg,
        unload_args=args.unload_arg,
    )
    results: list[Measured] = []
    small_results: list[Measured] = []

    def step(result: Measured, into: list[Measured] = results) -> None:
        status = "FAILED (below)" if result.error else f"{result.rate:,.0f} rows/s"
        print(f"  {result.kind:6} {result.contender:32} {status}", flush=True)
        into.append(result)

    keyspaces = ["bench_cassflow", "bench_cqlsh", "bench_loop", "bench_rss"]
    try:
        problem = None if args.skip_cqlsh else bench.cqlsh_works()
        if problem:
            print(f"cqlsh does not work against {hosts[0]}:{port}; skipping it:\n  {problem}")
        with_cqlsh = not args.skip_cqlsh and problem is None
        loaded: list[str] = []  # keyspaces holding all rows, checked
        for keyspace, load in (
            ("bench_cassflow", bench.cassflow_load),
            ("bench_cqlsh", bench.cqlsh_load if with_cqlsh else None),
        ):
            if load is not None:
                step(load(data, keyspace, rows))
                loaded += [keyspace] if results[-1].error is None else []
        if not args.skip_loop:
            step(bench.loop_load(data, "bench_loop", rows, args.loop_rows))
        if loaded:  # both unloads read the same table: cassflow's if its load worked
            step(bench.cassflow_unload(loaded[0], rows))
            if with_cqlsh:
                step(bench.cqlsh_unload(loaded[0], rows))
        if rows > RSS_ROWS:
            if not args.keep:
                cluster.drop("bench_cqlsh")  # room on the server for the 100k run
            result = bench.cassflow_load(small, "bench_rss", RSS_ROWS)
            step(result, small_results)
            if result.error is None:
                step(bench.cassflow_unload("bench_rss", RSS_ROWS), small_results)
    finally:
        if not args.keep:
            for keyspace in keyspaces:
                cluster.drop(keyspace)
        cluster.shutdown()
    return results, small_results


def report(main: list[Measured], small: list[Measured]) -> bool:
    """Print the table, the ratios and the RSS lines; True if every contender succeeded."""
    baseline = {r.kind: r for r in main if r.contender.startswith("cqlsh") and r.error is None}
    print()
    print(f"{'':6} {'contender':32} {'rows':>11} {'seconds':>9} {'rows/s':>10} {'vs cqlsh':>9} "
          f"{'server CPU s':>12} {'client CPU s':>12}")  # fmt: skip
    for r in main:
        if r.error:
            print(f"{r.kind:6} {r.contender:32} FAILED: {r.error}")
            continue
        cqlsh = baseline.get(r.kind)
        ratio = f"{r.rate / cqlsh.rate:8.2f}x" if cqlsh else f"{'n/a':>9}"
        cpu = f"{r.server_cpu:12.1f}" if r.server_cpu is not None else f"{'-':>12}"
        own = f"{r.client_cpu:12.1f}" if r.client_cpu is not None else f"{'-':>12}"
        print(f"{r.kind:6} {r.contender:32} {r.rows:>11,} {r.seconds:>9.2f} {r.rate:>10,.0f} "
              f"{ratio} {cpu} {own}")  # fmt: skip
        for note in r.notes:
            print(f"{'':8}{note}")
        if r.out_of:
            estimate = r.out_of / r.rate if r.rate else float("inf")
            print(f"{'':8}only {r.rows:,} of {r.out_of:,} rows run; rows/s measured on them, "
                  f"{r.out_of:,} rows would take ~{estimate:,.0f} s (extrapolated)")  # fmt: skip
    print()
    for kind, target in (("load", 2.0), ("unload", 3.0)):
        ours = next(
            (r for r in main if r.kind == kind and r.contender.startswith("cassflow")), None
        )
        cqlsh = baseline.get(kind)
        if ours and cqlsh and ours.error is None:
            times = ours.rate / cqlsh.rate
            verdict = "met" if times >= target else "NOT met"
            print(f"target {kind}: >= {target:.0f}x cqlsh COPY; measured {times:.2f}x ({verdict})")
            if ours.server_cpu and cqlsh.server_cpu:
                # A server that is busy all the time serves rows / (its CPU per row) rows/s.
                ceiling = ours.rows / ours.server_cpu
                print(f"{'':8}dev server CPU per row: {ours.server_cpu / ours.rows * 1e6:.0f} us "
                      f"for cassflow, {cqlsh.server_cpu / cqlsh.rows * 1e6:.0f} us for cqlsh "
                      f"(busy {cqlsh.server_cpu / cqlsh.seconds:.0%} of its run); no client "
                      f"sending what cassflow sends gets past {ceiling:,.0f} rows/s = "
                      f"{ceiling / cqlsh.rate:.2f}x cqlsh against this server")  # fmt: skip
    print()
    for r in small + main:
        if r.contender.startswith("cassflow") and r.peak_rss_mib and r.error is None:
            print(f"peak RSS {r.contender:32} {r.rows:>11,} rows: {r.peak_rss_mib:8.1f} MiB "
                  f"(largest process; {r.total_rss_mib or 0:.1f} MiB all processes)")  # fmt: skip
    for r in main:
        if r.contender.startswith("cqlsh") and r.peak_rss_mib and r.error is None:
            print(f"peak RSS {r.contender:32} {r.rows:>11,} rows: {r.peak_rss_mib:8.1f} MiB "
                  f"(largest process; {r.total_rss_mib or 0:.1f} MiB all processes)")  # fmt: skip
    for r in small:
        if r.error:
            print(f"{r.kind} of {r.rows:,} rows for the RSS figure FAILED: {r.error}")
    return all(r.error is None for r in main + small)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to load and unload")
    parser.add_argument(
        "--hosts", help="HOST[:PORT][,HOST...] of a Cassandra cluster; default: a dev server"
    )
    parser.add_argument(
        "--memory", action="store_true", help="dev server: --memory instead of a data directory"
    )
    parser.add_argument("--keep", action="store_true", help="keep the files and the keyspaces")
    parser.add_argument("--skip-loop", action="store_true", help="no per-row loop")
    parser.add_argument("--skip-cqlsh", action="store_true", help="no cqlsh COPY")
    parser.add_argument(
        "--loop-rows", type=int, default=20_000, help="rows the per-row loop runs (extrapolated)"
    )
    parser.add_argument(
        "--replication",
        default="{'class': 'SimpleStrategy', 'replication_factor': 1}",
        help="replication of the bench_* keyspaces",
    )
    parser.add_argument(
        "--cassflow-arg", action="append", default=[], metavar="ARG",
        help="extra argument for every 'cassflow copy' (repeat: --cassflow-arg=--workers=8)",
    )  # fmt: skip
    parser.add_argument(
        "--load-arg", action="append", default=[], metavar="ARG",
        help="extra argument for the loads only (--load-arg=--to-option=batch_mode=partition)",
    )  # fmt: skip
    parser.add_argument(
        "--unload-arg", action="append", default=[], metavar="ARG",
        help="extra argument for the unloads only (--unload-arg=--workers=8)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per contender")
    parser.add_argument("--workdir", type=Path, help="where the files go (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.rows < 1 or args.loop_rows < 1:
        parser.error("--rows and --loop-rows must be positive")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="cassflow-bench-copy-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.hosts:
            hosts, port = _parse_hosts(args.hosts)
            full, small = run(args, work, hosts, port)
        else:
            data_dir = None if args.memory else work / "devserver"
            with dev_server(data_dir, work / "devserver.log") as (port, pid):
                print(f"dev server (own process) on 127.0.0.1:{port}, "
                      f"{'memory' if data_dir is None else data_dir}", flush=True)  # fmt: skip
                full, small = run(args, work, ["127.0.0.1"], port, pid)
        ok = report(full, small)
        if args.json:
            figures = [r.__dict__ | {"rows_per_s": round(r.rate)} for r in full + small]
            args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
