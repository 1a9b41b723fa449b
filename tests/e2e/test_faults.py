"""A load under injected faults: 5% write timeouts, 1% overload, added latency.

The dev server's fault rules make it answer as a struggling Cassandra does. The copy must
still finish with the exact target, and its report must show the retries and the throttle's
backoffs that got it there.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cassflow.devserver import DevServer
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
            report = PipelineRunner(spec, state_dir=tmp_path / "state").run()
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
