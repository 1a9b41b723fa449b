"""Prometheus metrics of copy runs, in a registry of their own.

Every metric carries ``pipeline`` and ``activity`` labels so that one Prometheus can follow
many runs; error counters are labelled by error class (transient/terminal) and exception
name, throttle events by kind, quarantined rows by category. A long-running process serves
them over HTTP (:meth:`CopyMetrics.serve`); a batch run pushes them to a Pushgateway when it
ends (:meth:`CopyMetrics.push`).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    push_to_gateway,
    start_http_server,
)

_LABELS = ("pipeline", "activity")
#: Seconds: from sub-millisecond dev server answers to a struggling cluster's timeouts.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class CopyMetrics:
    """The metrics of copy runs; pass one instance to every part of a run."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.rows_read = Counter(
            "cassflow_rows_read", "Records read from sources.", _LABELS, registry=r
        )
        self.rows_written = Counter(
            "cassflow_rows_written", "Records written to sinks.", _LABELS, registry=r
        )
        self.rows_quarantined = Counter(
            "cassflow_rows_quarantined",
            "Records sent to the quarantine, by category.",
            (*_LABELS, "category"),
            registry=r,
        )
        self.bytes_read = Counter(
            "cassflow_bytes_read", "Bytes read from sources.", _LABELS, registry=r
        )
        self.bytes_written = Counter(
            "cassflow_bytes_written", "Bytes written to sinks.", _LABELS, registry=r
        )
        self.errors = Counter(
            "cassflow_errors",
            "Errors by class (transient/terminal) and exception.",
            (*_LABELS, "error_class", "exception"),
            registry=r,
        )
        self.retries = Counter(
            "cassflow_retries", "Retried requests and slices.", _LABELS, registry=r
        )
        self.throttle_events = Counter(
            "cassflow_throttle_events",
            "Throttle decisions: decrease, increase, rate_wait.",
            (*_LABELS, "kind"),
            registry=r,
        )
        self.in_flight = Gauge(
            "cassflow_requests_in_flight",
            "Requests sent and not answered yet.",
            _LABELS,
            registry=r,
        )
        self.batch_size = Histogram(
            "cassflow_batch_rows",
            "Rows per write batch.",
            _LABELS,
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "cassflow_request_seconds",
            "Request latency.",
            (*_LABELS, "operation"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def for_sink(self, pipeline: str, activity: str) -> SinkMetrics:
        """The series a sink feeds while it writes, bound to one run's labels."""
        return SinkMetrics(self, pipeline, activity)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return bytes(generate_latest(self.registry))

    def serve(self, port: int, address: str = "127.0.0.1") -> int:
        """Serve /metrics on ``address:port`` (0: any free port) in a daemon thread; returns
        the port."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return int(server.server_port)

    def push(self, gateway: str, job: str) -> None:
        """Push every metric to a Pushgateway (end of a batch run)."""
        push_to_gateway(gateway, job=job, registry=self.registry)


class SinkMetrics:
    """What a sink reports per request: in flight, latency, batch sizes, errors, retries.

    The children are bound once (``labels()`` costs a lock and a dict lookup per call).
    """

    def __init__(self, metrics: CopyMetrics, pipeline: str, activity: str) -> None:
        self._metrics = metrics
        self._labels = (pipeline, activity)
        self.in_flight = metrics.in_flight.labels(pipeline, activity)
        self.batch_rows = metrics.batch_size.labels(pipeline, activity)
        self.write_seconds = metrics.latency.labels(pipeline, activity, "write")
        self.retries = metrics.retries.labels(pipeline, activity)

    def error(self, error_class: str, exception: str) -> None:
        """Count one failed request."""
        self._metrics.errors.labels(*self._labels, error_class, exception).inc()
