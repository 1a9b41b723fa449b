"""Copy slices in worker threads of one process, or in several processes: which is faster?

The runner (:class:`cassflow.copy.CopyRun`) works on slices in threads. This bench measures
the alternative, on the same data and the same server, in both directions:

* UNLOAD: a table of ``--rows`` rows (8 columns: bigint key, text, int, double, timestamp,
  boolean, uuid, decimal; loaded first with the driver, ``execute_concurrent_with_args`` of a
  prepared INSERT) to a Parquet directory, from 16 token-range slices;
* LOAD: the same rows as 16 CSV files (one slice each) into a second, fresh table.

Each direction runs as

* **threads**: one :class:`CopyRun` with ``workers=W`` (W = 2 and 4) in this process;
* **processes**: P = 2 processes (``multiprocessing`` 'spawn' context), each building its own
  :class:`CassandraConnection`, source and sink and running a :class:`CopyRun` with W / P
  threads over its share of the plan (slices ``i`` with ``i % P == k``), under its own run id
  and its own SQLite checkpoint file.

Times are wall clock: for threads from building the connection to the end of the run (in a
process that has imported cassflow.copy and pyarrow already, as the CLI's runner has); for
processes from spawning the pool to the last process joined (start-up, imports and connecting
included: they are part of what processes cost). ``run`` is the slowest ``CopyRun.execute()``
alone, ``setup`` the slowest imports and connecting. Client CPU is this process's (threads)
or the children's (processes) user + system time; server CPU is the dev server's, from /proc
(none with ``--hosts``). Every run is checked:
the table's rows counted over token ranges (and three rows read back), the Parquet files'
rows summed from their footers, and nothing quarantined. Each variant runs ``--repeat`` times
(interleaved, so that a busy neighbour on a shared machine spreads over all of them).

Without ``--hosts`` a dev server is started as its own process (``cassflow dev --port 0
--memory``). With ``--hosts`` any Cassandra 4.1/5.0 is used (no authentication; keyspaces
``bench_workers`` and ``bench_workers_load`` are dropped and created with ``--replication``).

Run: ``.venv/bin/python bench/workers.py [--rows 200000] [--hosts HOST:PORT] [--repeat 2]``.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path, and bench/copy.py would then
# be imported as the standard library's ``copy`` (dataclasses, argparse and the driver import it).
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse
import csv
import importlib.util
import multiprocessing
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

SOURCE_KEYSPACE = "bench_workers"
LOAD_KEYSPACE = "bench_workers_load"
SPLITS = 16
PROCESSES = 2
WORKERS = (2, 4)


def _bench_copy() -> ModuleType:
    """bench/copy.py (its data, dev server, counts), under a name that is not ``copy``."""
    name = "cassflow_bench_copy"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("copy.py"))
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


# --- one share of a copy: run by the parent (threads) and by each child (processes) ----------


class ShareSource:
    """A source's slices ``i`` with ``i % shares == share``: one process's part of a plan."""

    def __init__(self, inner: Any, share: int, shares: int) -> None:
        self.inner = inner
        self.share = share
        self.shares = shares
        self.location = f"{inner.location} [share {share + 1} of {shares}]"

    def fields(self) -> list[Any]:
        """The inner source's fields."""
        return list(self.inner.fields())

    def plan(self, splits: int) -> list[Any]:
        """Every ``shares``-th slice of the inner plan, starting at ``share``."""
        every = self.inner.plan(splits)
        return [s for i, s in enumerate(every) if i % self.shares == self.share]

    def read(self, spec: Mapping[str, Any]) -> Iterator[Any]:
        """The inner source's rows of one slice."""
        return iter(self.inner.read(spec))

    def close(self) -> None:
        """Close the inner source."""
        self.inner.close()


@dataclass(frozen=True)
class Job:
    """What one CopyRun does; plain data, so that it pickles to a spawned process."""

    direction: str  # "unload" (table -> Parquet) or "load" (CSV files -> table)
    hosts: list[str]
    port: int
    work: str
    name: str  # the variant and repetition, for run ids, checkpoint files, quarantine
    threads: int
    share: int = 0
    shares: int = 1


def run_share(job: Job) -> dict[str, Any]:
    """Build a connection, source and sink and run one CopyRun over ``job``'s share.

    Returns the report's counts and timings (JSON-able, to cross process boundaries).
    """
    began = time.perf_counter()
    from cassflow.copy import (
        AimdThrottle,
        CassandraConnection,
        CassandraSink,
        CassandraSource,
        CopyOptions,
        CopyRun,
        FileSink,
        FileSource,
        Quarantine,
        SqliteCheckpointStore,
        new_run_id,
    )

    work = Path(job.work)
    keyspace = SOURCE_KEYSPACE if job.direction == "unload" else LOAD_KEYSPACE
    connection = CassandraConnection(
        f"bench-{job.name}-{job.share}",
        hosts=job.hosts,
        port=job.port,
        keyspace=keyspace,
        request_timeout=120,
    )
    throttle = AimdThrottle()
    try:
        source: Any
        sink: Any
        if job.direction == "unload":
            source = CassandraSource(connection, SOURCE_KEYSPACE, "t", splits=SPLITS)
            sink = FileSink(str(work / "out" / job.name), "parquet")
        else:
            source = FileSource(str(work / "csv"), "csv")
            sink = CassandraSink(connection, LOAD_KEYSPACE, "t", throttle=throttle)
        run_id = f"{new_run_id()}-{job.name}-{job.share}"
        copy_run = CopyRun(
            ShareSource(source, job.share, job.shares),
            sink,
            run_id=run_id,
            store=SqliteCheckpointStore(work / "state" / f"{job.name}-{job.share}.sqlite"),
            quarantine=Quarantine(work / "quarantine", run_id),
            options=CopyOptions(workers=job.threads, splits=SPLITS, max_errors=0),
            throttle=throttle,
        )
        connection.session()  # connect before the clock of the run itself starts
        ready = time.perf_counter()
        try:
            report = copy_run.execute()
        finally:
            source.close()
            sink.close()
        return {
            "read": report.counts.read,
            "written": report.counts.written,
            "quarantined": report.counts.quarantined,
            "slices": sum(report.slices.values()),
            "failure": report.failure,
            "setup": ready - began,
            "run": report.seconds,
        }
    finally:
        connection.close()


# --- the variants ------------------------------------------------------------------------------


@dataclass
class Measured:
    """One variant's run: wall seconds, rows moved, CPU, and what went wrong if anything."""

    direction: str
    variant: str
    repetition: int
    seconds: float = 0.0
    run_seconds: float = 0.0
    setup_seconds: float = 0.0
    rows: int = 0
    client_cpu: float = 0.0
    server_cpu: float | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Rows per wall second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _spawned(workers: int, processes: int = PROCESSES) -> str:
    return f"processes P={processes} x {workers // processes} threads"


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(pid: int | None) -> float | None:
    """The dev server's CPU seconds so far; None without one."""
    if pid is None:
        return None
    # Fields 14 and 15 of /proc/<pid>/stat: user and system time, in clock ticks.
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Bench:
    """Where the data is, how to reach the cluster, and the checks after each run."""

    work: Path
    cluster: Any  # bench/copy.py's Cluster: schema, token-range counts, read-backs
    hosts: list[str]
    port: int
    rows: int
    server_pid: int | None

    def run(self, direction: str, workers: int, processes: int, repetition: int) -> Measured:
        """One variant: ``processes`` == 1 runs ``workers`` threads here; more spawn."""
        kind = "threads" if processes == 1 else "processes"
        variant = f"threads W={workers}" if processes == 1 else _spawned(workers, processes)
        name = f"{direction}-{kind}-w{workers}-r{repetition}"
        result = Measured(direction, variant, repetition)
        if direction == "load":
            self.cluster.fresh_keyspace(LOAD_KEYSPACE)
        shutil.rmtree(self.work / "out" / name, ignore_errors=True)
        jobs = [
            Job(direction, self.hosts, self.port, str(self.work), name, workers // processes, k,
                processes)
            for k in range(processes)
        ]  # fmt: skip
        server = _server_cpu(self.server_pid)
        try:
            if processes == 1:
                cpu = _cpu(resource.RUSAGE_SELF)
                began = time.perf_counter()
                shares = [run_share(jobs[0])]
                result.seconds = time.perf_counter() - began
                result.client_cpu = _cpu(resource.RUSAGE_SELF) - cpu
            else:
                cpu = _cpu(resource.RUSAGE_CHILDREN)
                began = time.perf_counter()
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(processes, mp_context=context) as pool:
                    shares = list(pool.map(run_share, jobs))
                result.seconds = time.perf_counter() - began
                # The pool has joined its processes, so their CPU is in RUSAGE_CHILDREN.
                result.client_cpu = _cpu(resource.RUSAGE_CHILDREN) - cpu
        except Exception as exc:  # a failed variant is reported, the others still run
            result.error = f"{type(exc).__name__}: {exc}"
            return result
        if server is not None:
            result.server_cpu = (_server_cpu(self.server_pid) or 0.0) - server
        result.run_seconds = max(s["run"] for s in shares)
        result.setup_seconds = max(s["setup"] for s in shares)
        return self._check(result, shares, name)

    def _check(self, result: Measured, shares: list[dict[str, Any]], name: str) -> Measured:
        failures = [s["failure"] for s in shares if s["failure"]]
        read = sum(s["read"] for s in shares)
        written = sum(s["written"] for s in shares)
        bad = sum(s["quarantined"] for s in shares)
        slices = sum(s["slices"] for s in shares)
        if failures:
            result.error = "; ".join(failures)
        elif bad or read != self.rows or written != self.rows or slices != SPLITS:
            result.error = (
                f"reports: {read} read, {written} written, {bad} quarantined over {slices} "
                f"slices; expected {self.rows} rows over {SPLITS} slices"
            )
        if result.direction == "unload":
            result.rows = _bench_copy().parquet_rows(self.work / "out" / name)
            shutil.rmtree(self.work / "out" / name, ignore_errors=True)  # room for the next
        else:
            result.rows = self.cluster.count(LOAD_KEYSPACE)
            if result.error is None and result.rows == self.rows:
                ids = sorted({0, self.rows // 2, self.rows - 1})
                result.error = self.cluster.check_rows(LOAD_KEYSPACE, ids)
        if result.error is None and result.rows != self.rows:
            result.error = f"{result.rows} rows at the target, expected {self.rows}"
        return result


# --- the data ----------------------------------------------------------------------------------


def load_source_table(cluster: Any, rows: int) -> float:
    """Create the source table and insert rows 0 .. rows-1 with the driver; seconds taken."""
    from cassandra.concurrent import execute_concurrent_with_args

    data = _bench_copy()
    cluster.fresh_keyspace(SOURCE_KEYSPACE)
    insert = cluster.session.prepare(
        f"INSERT INTO {SOURCE_KEYSPACE}.t ({', '.join(data.COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(data.COLUMNS))})"
    )
    began = time.perf_counter()
    for outcome in execute_concurrent_with_args(
        cluster.session,
        insert,
        (data.expected_row(i) for i in range(rows)),
        concurrency=64,
        raise_on_first_error=True,
        results_generator=True,
    ):
        del outcome
    seconds = time.perf_counter() - began
    counted = cluster.count(SOURCE_KEYSPACE)
    if counted != rows:
        raise RuntimeError(f"{SOURCE_KEYSPACE}.t holds {counted} rows after loading {rows}")
    return seconds


def write_csv_parts(directory: Path, rows: int, parts: int) -> None:
    """Rows 0 .. rows-1 as ``parts`` CSV files of consecutive rows, each with a header."""
    data = _bench_copy()
    directory.mkdir(parents=True, exist_ok=True)
    bounds = [rows * n // parts for n in range(parts + 1)]
    for n in range(parts):
        with (directory / f"part-{n:02d}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(data.COLUMNS)
            for i in range(bounds[n], bounds[n + 1]):
                writer.writerow(data._csv_fields(data.expected_row(i)))


# --- the run -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path, hosts: list[str], port: int,
        server_pid: int | None = None) -> list[Measured]:  # fmt: skip
    """Load the source table, write the CSV parts, run every variant ``--repeat`` times."""
    cluster = _bench_copy().Cluster(hosts, port, args.replication)
    # The threads variants run in this process, as the CLI's runner does: with its imports
    # done, which a spawned process pays for again (and is timed paying for).
    for module in ("cassflow.copy", "pyarrow.parquet"):
        importlib.import_module(module)
    try:
        seconds = load_source_table(cluster, args.rows)
        print(f"loaded {SOURCE_KEYSPACE}.t with {args.rows:,} rows by the driver in "
              f"{seconds:.1f} s", flush=True)  # fmt: skip
        write_csv_parts(work / "csv", args.rows, SPLITS)
        bench = Bench(work, cluster, hosts, port, args.rows, server_pid)
        results: list[Measured] = []
        for repetition in range(1, args.repeat + 1):
            for direction in ("unload", "load"):
                for workers in WORKERS:
                    for processes in (1, PROCESSES):
                        result = bench.run(direction, workers, processes, repetition)
                        results.append(result)
                        status = result.error or f"{result.rate:,.0f} rows/s"
                        print(f"  #{repetition} {direction:6} {result.variant:30} "
                              f"{result.seconds:6.2f} s  {status}", flush=True)  # fmt: skip
        return results
    finally:
        if not args.keep:
            cluster.drop(SOURCE_KEYSPACE)
            cluster.drop(LOAD_KEYSPACE)
        cluster.shutdown()


def report(results: list[Measured]) -> bool:
    """Print every run and the processes / threads ratios; True if every run checked out."""
    print()
    print(f"{'':6} {'variant':30} {'#':>2} {'wall s':>7} {'rows/s':>9} {'run s':>6} "
          f"{'setup s':>7} {'client CPU':>10} {'server CPU':>10}")  # fmt: skip
    for r in sorted(results, key=lambda r: (r.direction != "unload", r.variant, r.repetition)):
        if r.error:
            print(f"{r.direction:6} {r.variant:30} {r.repetition:>2} FAILED: {r.error}")
            continue
        server = f"{r.server_cpu:9.2f}s" if r.server_cpu is not None else f"{'-':>10}"
        print(f"{r.direction:6} {r.variant:30} {r.repetition:>2} {r.seconds:7.2f} "
              f"{r.rate:9,.0f} {r.run_seconds:6.2f} {r.setup_seconds:7.2f} "
              f"{r.client_cpu:9.2f}s {server}")  # fmt: skip
    print()
    print("processes / threads, rows per wall second (> 1: processes faster), per repetition:")
    for direction in ("unload", "load"):
        for workers in WORKERS:
            mine = [r for r in results if r.direction == direction]
            threads = [r for r in mine if r.variant == f"threads W={workers}"]
            spawned = [r for r in mine if r.variant == _spawned(workers)]
            ratios = [
                f"{p.rate / t.rate:.2f}"
                for t, p in zip(threads, spawned, strict=True)
                if t.error is None and p.error is None and t.rate > 0
            ]
            print(f"  {direction:6} W={workers}: {', '.join(ratios) or 'n/a (failed runs)'}")
    return all(r.error is None for r in results)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows to unload and load")
    parser.add_argument(
        "--hosts", help="HOST[:PORT][,HOST...] of a Cassandra cluster; default: a dev server"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each variant")
    parser.add_argument(
        "--replication",
        default="{'class': 'SimpleStrategy', 'replication_factor': 1}",
        help="replication of the bench_workers* keyspaces",
    )
    parser.add_argument("--keep", action="store_true", help="keep the files and the keyspaces")
    parser.add_argument("--workdir", type=Path, help="where the files go (default: a temp dir)")
    args = parser.parse_args()
    if args.rows < SPLITS or args.repeat < 1:
        parser.error(f"--rows must be at least {SPLITS} and --repeat at least 1")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="cassflow-bench-workers-"))
    work.mkdir(parents=True, exist_ok=True)
    data = _bench_copy()
    try:
        if args.hosts:
            hosts, port = data._parse_hosts(args.hosts)
            results = run(args, work, hosts, port)
        else:
            with data.dev_server(None, work / "devserver.log") as (port, pid):
                print(f"dev server (own process, --memory) on 127.0.0.1:{port}", flush=True)
                results = run(args, work, ["127.0.0.1"], port, pid)
        ok = report(results)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
