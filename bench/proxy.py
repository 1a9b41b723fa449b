"""Prepared INSERT and SELECT through ``cassflow proxy`` next to the same requests sent directly.

One run, on the same server: for each number of requests in flight (``--levels``, default 1,
32 and 128), ``--requests`` prepared INSERTs, then as many prepared SELECTs by key, first on a
direct driver session, then on a session through the proxy (logged in with an identity token;
the policy allows the bench keyspace; audit off, as a deployment with audit to a file pays for
it separately). Per contender: requests per second and the p50/p99 latency of each request
(submit to answer, on the client). The ratios: proxy throughput / direct throughput, and the
latency the proxy adds at p50.

Without ``--hosts`` a dev server (``cassflow dev --memory``) runs as its own process; the proxy
always runs as its own process (``cassflow proxy --config``), so that neither shares the
client's interpreter. With ``--hosts`` any Cassandra 4.1/5.0 is used (no authentication;
keyspace ``bench_proxy`` is dropped and created).

Run: ``.venv/bin/python bench/proxy.py [--requests 5000] [--levels 1,32,128] [--rounds 3]
[--hosts H:P]``.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path, and bench/copy.py would then
# be imported as the standard library's ``copy`` (dataclasses imports it).
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

KEYSPACE = "bench_proxy"
ISSUER = "https://bench.invalid"
AUDIENCE = "cassflow-proxy"
_BIN = Path(sys.executable).parent


@dataclass
class Figure:
    """One contender at one level: throughput and latency."""

    path: str  # "direct" or "proxy"
    operation: str  # "insert" or "select"
    in_flight: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    round: int = 0
    #: CPU microseconds per request: the client (this process), the proxy, the dev server.
    client_cpu_us: float | None = None
    proxy_cpu_us: float | None = None
    server_cpu_us: float | None = None

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def run_level(
    session: Any, prepared: Any, params: Sequence[tuple[Any, ...]], in_flight: int
) -> tuple[float, list[float], int]:
    """Send ``params`` with ``in_flight`` requests outstanding: (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    finished = threading.Event()
    pending = iter(params)
    outstanding = 0

    def send() -> None:
        nonlocal outstanding
        with lock:
            item = next(pending, None)
            if item is None:
                if outstanding == 0:
                    finished.set()
                return
            outstanding += 1
        began = time.perf_counter()
        future = session.execute_async(prepared, item)
        future.add_callbacks(done, failed, callback_args=(began,), errback_args=(began,))

    def done(_rows: Any, began: float) -> None:
        nonlocal outstanding
        with lock:
            latencies.append(time.perf_counter() - began)
            outstanding -= 1
        send()

    def failed(_error: BaseException, began: float) -> None:
        nonlocal errors, outstanding
        with lock:
            errors += 1
            latencies.append(time.perf_counter() - began)
            outstanding -= 1
        send()

    started = time.perf_counter()
    for _ in range(in_flight):
        send()
    if not finished.wait(timeout=600):
        raise RuntimeError(f"requests at {in_flight} in flight did not finish in 600 s")
    return time.perf_counter() - started, latencies, errors


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0.0


@contextmanager
def _process(
    command: list[str], log: Path, pattern: str, deadline: float = 60.0
) -> Iterator[tuple[int, int]]:
    """Run ``command``; yield (the port its log announces (``pattern`` has one group), pid)."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        until = time.monotonic() + deadline
        while True:
            match = re.search(pattern, log.read_text(errors="replace"))
            if match:
                break
            if process.poll() is not None:
                raise RuntimeError(
                    f"{command[1]} exited: {log.read_text(errors='replace')[-2000:]}"
                )
            if time.monotonic() > until:
                raise RuntimeError(f"{command[1]} did not start in {deadline:.0f} s")
            time.sleep(0.05)  # polling a log file for a line; nothing to wait on instead
        yield int(match[1]), process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far; 0.0 for None."""
    if pid is None:
        return 0.0
    # Fields 14 and 15 of /proc/<pid>/stat: user and system time, in clock ticks.
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def _proxy_files(work: Path, hosts: list[str], port: int) -> tuple[Path, str]:
    """A proxy configuration for the cluster and a token it accepts."""
    from cryptography.hazmat.primitives import serialization

    from cassflow.proxy._keys import generate_key, issue_token

    key = generate_key("ec")
    (work / "public.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (work / "policy.yaml").write_text(json.dumps({
        "version": 1,
        "defaults": {"max_page_size": None, "max_consistency": "ALL"},
        "rules": [{
            "name": "bench", "match": {"subjects": ["bench"]},
            "allow": [{"keyspace": KEYSPACE, "verbs": ["SELECT", "MODIFY"]}],
        }],
    }))  # fmt: skip
    config = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "upstream": {"hosts": [f"{h}:{port}" for h in hosts]},
        "tokens": {"issuer": ISSUER, "audience": AUDIENCE, "public_keys": ["public.pem"]},
        "policy": "policy.yaml",
    }
    (work / "proxy.yaml").write_text(json.dumps(config))
    token = issue_token(key, subject="bench", issuer=ISSUER, audience=AUDIENCE, ttl=3600)
    return work / "proxy.yaml", token


def measure(
    hosts: list[str],
    port: int,
    proxy_port: int,
    token: str,
    requests: int,
    levels: Sequence[int],
    pids: dict[str, int | None],
    rounds: int = 3,
) -> list[Figure]:
    """Every contender at every level, ``rounds`` times, interleaved per level (the order of
    the two paths alternates from round to round, so that a server slowing down over the run
    weighs on both alike).

    ``pids`` names the ``proxy`` and ``server`` processes whose CPU time is counted (a
    server of ``--hosts`` is None: not measured).
    """
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster

    direct = Cluster(hosts, port=port, connect_timeout=20)
    via = Cluster(
        ["127.0.0.1"],
        port=proxy_port,
        auth_provider=PlainTextAuthProvider("token", token),
        connect_timeout=20,
    )
    figures: list[Figure] = []
    try:
        session = direct.connect()
        session.execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")
        session.execute(
            f"CREATE KEYSPACE {KEYSPACE} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(f"CREATE TABLE {KEYSPACE}.t (id int PRIMARY KEY, v text, n bigint)")
        sessions = [("direct", session), ("proxy", via.connect())]
        runs = [
            (level, round_, path, s)
            for level in levels
            for round_ in range(rounds)
            for path, s in (sessions if round_ % 2 == 0 else sessions[::-1])
        ]
        for level, round_, path, s in runs:
            insert = s.prepare(f"INSERT INTO {KEYSPACE}.t (id, v, n) VALUES (?, ?, ?)")
            select = s.prepare(f"SELECT v, n FROM {KEYSPACE}.t WHERE id = ?")
            rows = [(i, f"value {i}", i * 7) for i in range(requests)]
            for operation, prepared, params in (
                ("insert", insert, rows),
                ("select", select, [(i,) for i in range(requests)]),
            ):
                before = _cpu_now(pids)
                seconds, latencies, errors = run_level(s, prepared, params, level)
                cpu = {k: (v - before[k]) * 1e6 / requests for k, v in _cpu_now(pids).items()}
                figure = Figure(
                    path, operation, level, requests, seconds,
                    _percentile(latencies, 0.5), _percentile(latencies, 0.99), errors,
                    round_, cpu["client"], cpu["proxy"],
                    cpu["server"] if pids["server"] else None,
                )  # fmt: skip
                figures.append(figure)
                print(f"  {path:6} {operation:6} {level:>4} in flight: "
                      f"{figure.rate:>9,.0f} req/s  p50 {figure.p50_ms:6.2f} ms  "
                      f"p99 {figure.p99_ms:6.2f} ms  errors {errors}  CPU/request: "
                      f"client {cpu['client']:.0f} proxy {cpu['proxy']:.0f} server "
                      f"{cpu['server']:.0f} us", flush=True)  # fmt: skip
        session.execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")
    finally:
        via.shutdown()
        direct.shutdown()
    return figures


def _cpu_now(pids: dict[str, int | None]) -> dict[str, float]:
    return {
        "client": time.process_time(),
        "proxy": cpu_seconds(pids["proxy"]),
        "server": cpu_seconds(pids["server"]),
    }


def report(figures: list[Figure]) -> None:
    """The ratios, per operation and level: proxy / direct throughput and the p50 latency
    the proxy adds, each the median over the rounds (with the range of the rounds)."""
    print()
    print(f"{'operation':10} {'in flight':>9} {'proxy/direct req/s (median, range)':>36} "
          f"{'added p50 ms (median)':>22}")  # fmt: skip
    keys = dict.fromkeys((f.operation, f.in_flight) for f in figures)
    for operation, in_flight in keys:
        ratios, added = [], []
        for figure in figures:
            if (figure.path, figure.operation, figure.in_flight) != ("proxy", operation, in_flight):
                continue
            base = next(
                f for f in figures
                if (f.path, f.operation, f.in_flight, f.round)
                == ("direct", operation, in_flight, figure.round)
            )  # fmt: skip
            ratios.append(figure.rate / base.rate if base.rate else 0.0)
            added.append(figure.p50_ms - base.p50_ms)
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"{operation:10} {in_flight:>9} {statistics.median(ratios):>22.2f}x ({spread:>9}) "
              f"{statistics.median(added):>22.2f}")  # fmt: skip
    print("\ntarget: >= 0.85x direct throughput at 128 in flight; p50 added latency <= 0.3 ms")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000, help="requests per contender")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level (medians)")
    parser.add_argument("--levels", default="1,32,128", help="requests in flight, comma-separated")
    parser.add_argument("--hosts", help="HOST:PORT of a Cassandra node; default: a dev server")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="cassflow-bench-proxy-") as tmp:
        work = Path(tmp)
        with contextmanager_or_dev(args.hosts, work) as (hosts, port, server_pid):
            config, token = _proxy_files(work, hosts, port)
            command = [str(_BIN / "cassflow"), "proxy", "--config", str(config)]
            pattern = r"listening on [\d.]+:(\d+)"
            with _process(command, work / "proxy.log", pattern) as (proxy, proxy_pid):
                print(f"cluster {hosts[0]}:{port}, proxy 127.0.0.1:{proxy}", flush=True)
                pids = {"proxy": proxy_pid, "server": server_pid}
                figures = measure(
                    hosts, port, proxy, token, args.requests, levels, pids, args.rounds
                )
    report(figures)
    if args.json:
        args.json.write_text(json.dumps([asdict(f) | {"rate": f.rate} for f in figures], indent=2))


@contextmanager
def contextmanager_or_dev(
    hosts: str | None, work: Path
) -> Iterator[tuple[list[str], int, int | None]]:
    """The cluster of ``--hosts``, or a dev server of our own for the run (and its pid)."""
    if hosts:
        host, _, port_text = hosts.partition(":")
        yield [host], int(port_text or 9042), None
        return
    command = [str(_BIN / "cassflow"), "dev", "--port", "0", "--memory"]
    with _process(command, work / "dev.log", r"listening on [\d.]+:(\d+)") as (port, pid):
        yield ["127.0.0.1"], port, pid


if __name__ == "__main__":
    main()
