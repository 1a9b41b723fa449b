"""Copy metrics: counted, labelled, served over HTTP as Prometheus reads them."""

from __future__ import annotations

import urllib.request

from cassflow.observe import CopyMetrics


def test_metrics_are_labelled_and_exposed() -> None:
    metrics = CopyMetrics()
    labels = {"pipeline": "orders_daily", "activity": "load_orders"}
    metrics.rows_read.labels(**labels).inc(100)
    metrics.rows_written.labels(**labels).inc(98)
    metrics.rows_quarantined.labels(**labels, category="convert").inc(2)
    metrics.errors.labels(**labels, error_class="transient", exception="WriteTimeout").inc()
    metrics.throttle_events.labels(**labels, kind="decrease").inc()
    metrics.batch_size.labels(**labels).observe(20)
    metrics.latency.labels(**labels, operation="write").observe(0.004)
    text = metrics.exposition().decode()
    assert 'cassflow_rows_read_total{activity="load_orders",pipeline="orders_daily"} 100.0' in text
    assert 'category="convert"' in text
    assert 'exception="WriteTimeout"' in text
    assert "cassflow_request_seconds_bucket" in text


def test_served_over_http() -> None:
    metrics = CopyMetrics()
    metrics.rows_written.labels(pipeline="p", activity="a").inc(5)
    port = metrics.serve(0)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    assert 'cassflow_rows_written_total{activity="a",pipeline="p"} 5.0' in body
