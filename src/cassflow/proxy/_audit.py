"""The proxy's audit trail: one JSON line per request, and the Prometheus series built from it.

Every request that reached authorization becomes one :class:`AuditRecord`: when, who (the
token's subject, groups and issuer), from where, what (the statement text with passwords
masked, or the prepared id and the text it was prepared from), on which keyspaces and tables,
the decision and the rule behind it, how many rows came back and how long it took. Bound values
are never part of a record: they travel in the request's value list, which is not read here,
and secrets in role statements are masked before a record is made.

:class:`AuditLog` appends records to a file (created ``0600``: statement texts can hold
literals) or writes them to standard output, one line each, flushed, from any thread.
:class:`ProxyMetrics` counts the same records for Prometheus.
"""

from __future__ import annotations

import bisect
import json
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["AuditLog", "AuditRecord", "ProxyMetrics", "targets_of"]

#: Seconds: a proxied request on a local network up to a struggling cluster's timeouts.
_LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 10)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What one request was and what became of it (never bound values, never secrets)."""

    subject: str | None
    client: str
    request: Literal["QUERY", "PREPARE", "EXECUTE", "BATCH"]
    decision: Literal["allowed", "denied"]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    groups: tuple[str, ...] = ()
    issuer: str | None = None
    connection: int | None = None
    #: The statement text as audited (passwords masked); for a BATCH, its texts joined by "; ".
    statement: str | None = None
    #: An EXECUTE's prepared id, in hex (its text is ``statement``).
    prepared_id: str | None = None
    #: ``keyspace.table`` (or ``keyspace``) of every target the request touches.
    targets: tuple[str, ...] = ()
    rule: str | None = None
    #: Why it was denied, or the error the answer carried.
    reason: str | None = None
    #: The ERROR code name of the answer, when it was one (the node's or the proxy's).
    error: str | None = None
    rows: int = 0
    latency_ms: float = 0.0

    def to_json(self) -> str:
        """The record as one line of JSON (no newline)."""
        data: dict[str, Any] = {
            "time": self.at.astimezone(UTC).isoformat(timespec="milliseconds"),
            "subject": self.subject,
            "groups": list(self.groups),
            "issuer": self.issuer,
            "client": self.client,
            "connection": self.connection,
            "request": self.request,
            "statement": self.statement,
            "prepared_id": self.prepared_id,
            "targets": list(self.targets),
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "error": self.error,
            "rows": self.rows,
            "latency_ms": round(self.latency_ms, 3),
        }
        return json.dumps({k: v for k, v in data.items() if v not in (None, [])})


class AuditLog:
    """Writes audit records as JSON lines to ``target``: a path (appended to; a new file is
    created with mode 0600) or ``"-"`` for standard output. Thread-safe."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._owned: IO[str] | None = None
        if str(target) == "-":
            self.location = "stdout"
            self._out: IO[str] = sys.stdout
            return
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._owned = self._out = os.fdopen(handle, "a", encoding="utf-8")
        self.location = str(path)

    def write(self, record: AuditRecord) -> None:
        """Append one record, as one line, flushed."""
        line = record.to_json() + "\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()

    def close(self) -> None:
        """Close the file (standard output stays open)."""
        with self._lock:
            if self._owned is not None:
                self._owned.close()
                self._owned = None


class _RequestSeries(Collector):
    """``cassflow_proxy_requests`` and ``cassflow_proxy_request_seconds``, counted in plain
    lists on the event loop and turned into metric families when scraped.

    prometheus_client's Counter and Histogram take a lock and walk their children on every
    update; at one update per proxied request that was a tenth of the proxy's time. A scrape
    may see one request counted and not yet timed: Prometheus rates tolerate that.
    """

    def __init__(self) -> None:
        # (request kind, decision) -> count; request kind -> [bucket counts..., sum]
        self._requests: dict[tuple[str, str], int] = {}
        self._latency: dict[str, list[float]] = {}

    def count(self, request: str, decision: str, latency_s: float) -> None:
        key = (request, decision)
        self._requests[key] = self._requests.get(key, 0) + 1
        cells = self._latency.get(request)
        if cells is None:
            cells = self._latency[request] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        cells[bisect.bisect_left(_LATENCY_BUCKETS, latency_s)] += 1
        cells[-1] += latency_s

    def collect(self) -> Iterator[Metric]:
        """The two families, as they are now (prometheus_client calls this at each scrape)."""
        requests = CounterMetricFamily(
            "cassflow_proxy_requests",
            "Requests by kind and decision.",
            labels=["request", "decision"],
        )
        for (request, decision), value in list(self._requests.items()):
            requests.add_metric([request, decision], value)
        yield requests
        latency = HistogramMetricFamily(
            "cassflow_proxy_request_seconds",
            "Seconds from a request's arrival to its answer.",
            labels=["request"],
        )
        for request, cells in list(self._latency.items()):
            counts = cells[:-1]
            cumulative, buckets = 0.0, []
            for bound, count in zip((*_LATENCY_BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append((_bound_text(bound), cumulative))
            latency.add_metric([request], buckets, cells[-1])
        yield latency


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class ProxyMetrics:
    """Prometheus series of a proxy: requests and denials, latency, upstream errors and
    connections, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._series = _RequestSeries()
        self.registry.register(self._series)
        self.denials = Counter(
            "cassflow_proxy_denials",
            "Denied requests by the rule that decided (or 'none': no rule matched).",
            ["rule"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "cassflow_proxy_upstream_errors",
            "Error answers from the cluster (or the proxy's own OVERLOADED), by error code.",
            ["code"],
            registry=self.registry,
        )
        self.client_connections = Gauge(
            "cassflow_proxy_client_connections",
            "Client connections open now.",
            registry=self.registry,
        )
        self.upstream_connections = Gauge(
            "cassflow_proxy_upstream_connections",
            "Connections to the cluster open now.",
            registry=self.registry,
        )

    def observe(self, record: AuditRecord) -> None:
        """Count one request from its audit record."""
        self.count(
            record.request,
            record.decision,
            record.latency_ms / 1000,
            rule=record.rule,
            error=record.error,
        )

    def count(
        self,
        request: str,
        decision: str,
        latency_s: float,
        *,
        rule: str | None = None,
        error: str | None = None,
    ) -> None:
        """Count one request: its kind (QUERY...), decision, latency, the denying rule, the
        error an allowed one ended with."""
        self._series.count(request, decision, latency_s)
        if decision == "denied":
            self.denials.labels(rule or "none").inc()
        elif error is not None:
            self.upstream_errors.labels(error).inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return bytes(generate_latest(self.registry))


def targets_of(pairs: Sequence[tuple[str | None, str | None]]) -> tuple[str, ...]:
    """``keyspace.table`` (or ``keyspace``) for each (keyspace, table) pair, in order, once."""
    seen: dict[str, None] = {}
    for keyspace, table in pairs:
        if keyspace is None:
            continue
        seen.setdefault(keyspace if table is None else f"{keyspace}.{table}", None)
    return tuple(seen)
