"""A load under injected faults: 5% write timeouts, 1% overload, added latency.

The dev server's fault rules make it answer as a struggling Cassandra does. The copy must
still finish with the exact target, and its report must show the retries and the throttle's
backoffs that got it there.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cassflow.devserver import DevServer
from cassflow.observe import CopyMetrics
from cassflow.pipeline import PipelineSpec
from cassflow.pipeline._run import PipelineRunner
from clusters import connect
from commands import connection_spec

pytestmark = pytest.mark.devserver_only

FILES = 4
ROWS_PER_FILE = 1500


def _write_csv(directory: Path) -> dict[tuple[int, int], str]:
    directory.mkdir()
    expected = {}
    for number in range(FILES):
        with (directory / f"part{number}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["pk", "ck", "v"])
            for i in range(number * ROWS_PER_FILE, (number + 1) * ROWS_PER_FILE):
                key, value = (i // 8, i % 8), f"value {i}"
                writer.writerow([*key, value])
                expected[key] = value
    return expected


def test_a_copy_under_timeouts_overload_and_latency_is_exact(tmp_path: Path) -> None:
    expected = _write_csv(tmp_path / "in")
    with DevServer() as server:
        contact = ([server.host], server.port)
        cluster = connect(contact)
        try:
            session = cluster.connect()
            session.execute(
                "CREATE KEYSPACE shop WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            session.execute("CREATE TABLE shop.t (pk int, ck int, v text, PRIMARY KEY (pk, ck))")
            timeouts = server.faults.add(
                {"fault": "write_timeout", "statement": "INSERT|BATCH", "probability": 0.05}
            )
            overload = server.faults.add(
                {"fault": "overloaded", "statement": "INSERT|BATCH", "probability": 0.01}
            )
            latency = server.faults.add(
                {"fault": "latency", "statement": "INSERT|BATCH", "delay_ms": 20}
            )
            spec = PipelineSpec.model_validate(
                {
                    "name": "faults",
                    "connections": {"db": connection_spec(contact, "shop")},
                    "datasets": {
                        "files": {"format": "csv", "path": str(tmp_path / "in" / "*.csv")},
                        "table": {"connection": "db", "table": "t"},
                    },
                    "activities": [
                        {"name": "load", "copy": {"from": "files", "to": "table", "workers": 2}}
                    ],
                }
            )
            metrics = CopyMetrics()
            report = PipelineRunner(spec, state_dir=tmp_path / "state", metrics=metrics).run()
            fired = {
                "timeouts": server.faults.fired(timeouts),
                "overload": server.faults.fired(overload),
                "latency": server.faults.fired(latency),
            }
            server.faults.clear()
            stored = {(r.pk, r.ck): r.v for r in session.execute("SELECT pk, ck, v FROM shop.t")}
        finally:
            cluster.shutdown()

    assert report.ok, report.summary()
    (activity,) = report.activities
    copy = activity.report
    assert copy is not None
    assert stored == expected
    total = FILES * ROWS_PER_FILE
    assert (copy.counts.read, copy.counts.written, copy.counts.quarantined) == (total, total, 0)
    assert fired["timeouts"] > 0, fired
    assert fired["latency"] > 0, fired
    assert copy.retries >= fired["timeouts"] + fired["overload"]
    assert copy.errors.get("WriteTimeout", 0) == fired["timeouts"], copy.errors
    assert copy.throttle.decreases > 0
    summary = copy.summary()
    assert "retries" in summary
    assert "throttled" in summary

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in text_string_to_metric_families(metrics.exposition().decode())
        for s in m.samples
    }
    labels = (("activity", "load"), ("pipeline", "faults"))

    def sample(name: str, *extra: tuple[str, str]) -> float:
        return samples.get((name, tuple(sorted(labels + extra))), 0.0)

    assert sample("cassflow_rows_written_total") == total
    assert sample("cassflow_retries_total") == copy.retries
    timeout_errors = sample(
        "cassflow_errors_total", ("error_class", "transient"), ("exception", "WriteTimeout")
    )
    assert timeout_errors == fired["timeouts"]
    assert sample("cassflow_throttle_events_total", ("kind", "decrease")) == copy.throttle.decreases
    writes = sample("cassflow_request_seconds_count", ("operation", "write"))
    assert writes >= sample("cassflow_batch_rows_count") > 0
    assert sample("cassflow_batch_rows_sum") == total
    assert sample("cassflow_requests_in_flight") == 0
