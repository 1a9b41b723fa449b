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

import json
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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


class ProxyMetrics:
    """Prometheus series of a proxy: requests and denials, latency, upstream errors and
    connections, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "cassflow_proxy_requests",
            "Requests by kind and decision.",
            ["request", "decision"],
            registry=self.registry,
        )
        self.denials = Counter(
            "cassflow_proxy_denials",
            "Denied requests by the rule that decided (or 'none': no rule matched).",
            ["rule"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cassflow_proxy_request_seconds",
            "Seconds from a request's arrival to its answer.",
            ["request"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "cassflow_proxy_upstream_errors",
            "Error answers from the cluster (or the proxy's own OVERLOADED), by error code.",
            ["code"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
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
        children = self._children.get((request, decision))
        if children is None:  # labels() costs more than the counting itself: look up once
            children = (
                self.requests.labels(request, decision),
                self.latency.labels(request),
            )
            self._children[(request, decision)] = children
        children[0].inc()
        children[1].observe(latency_s)
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
