"""Slices moved by worker processes: exact results, accounting, metrics, dying workers.

The pipelines here load files into a table of the cluster under test with ``processes: 2``;
the worker processes are real (``spawn``), each with its own connection.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

from cassandra.cluster import Session

from cassflow.copy._runner import Progress
from cassflow.observe import CopyMetrics
from cassflow.pipeline import PipelineRunner, PipelineSpec
from commands import connection_spec

FILES = 6
ROWS_PER_FILE = 300
#: Rows that do not convert: (file, line) -> the bad value of ``qty``.
BAD = {(1, 7): "seven", (4, 300): "1.5"}


def _write_files(directory: Path) -> list[tuple[int, str, int]]:
    directory.mkdir()
    good = []
    for n in range(FILES):
        lines = ["id,name,qty"]
        for i in range(ROWS_PER_FILE):
            key = n * ROWS_PER_FILE + i
            line_number = i + 2
            qty = BAD.get((n, line_number), str(key % 97))
            lines.append(f"{key},name {key},{qty}")
            if (n, line_number) not in BAD:
                good.append((key, f"name {key}", key % 97))
        (directory / f"part{n}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return good


def _spec(
    contact: tuple[list[str], int],
    keyspace: str,
    options: dict[str, Any] | None = None,
    **copy: Any,
) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {
            "name": "procs",
            "connections": {"db": connection_spec(contact, keyspace)},
            "datasets": {
                "files": {"path": "in/*.csv", "format": "csv", "options": options or {}},
                "table": {"connection": "db", "table": "t"},
            },
            "activities": [
                {"name": "load", "copy": {"from": "files", "to": "table", "processes": 2, **copy}}
            ],
        }
    )


def test_worker_processes_load_exactly_and_account_for_every_row(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY, name text, qty int)")
    good = _write_files(tmp_path / "in")
    metrics = CopyMetrics()
    runner = PipelineRunner(
        _spec(contact, keyspace), base_dir=tmp_path, state_dir=tmp_path / "state", metrics=metrics
    )
    report = runner.run()

    assert report.ok, report.summary()
    (load,) = report.activities
    assert load.report is not None
    counts = load.report.counts
    assert (counts.read, counts.written, counts.quarantined) == (
        FILES * ROWS_PER_FILE,
        len(good),
        len(BAD),
    )
    stored = sorted(tuple(r) for r in session.execute(f"SELECT id, name, qty FROM {keyspace}.t"))
    assert stored == sorted(good)
    # The workers wrote the quarantine, under the run's directory, with file:line and reason.
    entries = [
        json.loads(line)
        for path in load.report.quarantine_files
        for line in Path(path).read_text(encoding="utf-8").splitlines()
    ]
    assert sorted((Path(e["source"]).name, e["reason"][:10]) for e in entries) == [
        ("part1.csv:7", "column qty"),
        ("part4.csv:300", "column qty"),
    ]
    # The workers' per-request metrics reached the run's registry.
    labels = {"pipeline": "procs", "activity": "load"}
    written = metrics.registry.get_sample_value("cassflow_rows_written_total", labels)
    assert written == len(good)
    batches = metrics.registry.get_sample_value("cassflow_batch_rows_count", labels)
    assert batches is not None
    assert batches > 0
    latencies = metrics.registry.get_sample_value(
        "cassflow_request_seconds_count", {**labels, "operation": "write"}
    )
    assert latencies is not None
    assert latencies >= batches
    assert multiprocessing.active_children() == []  # every worker was joined


def test_a_worker_killed_mid_run_has_its_slices_redone_by_the_others(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY, name text, qty int)")
    good = _write_files(tmp_path / "in")
    killed: list[int] = []

    def kill_one_worker(progress: Progress) -> None:
        workers = multiprocessing.active_children()
        if not killed and progress.rows_read and workers:
            killed.append(workers[0].pid or 0)
            os.kill(killed[0], signal.SIGKILL)

    runner = PipelineRunner(
        # A rate cap keeps the copy going well after the first chunk is counted.
        _spec(contact, keyspace, {"chunk_rows": 100}, max_rows_per_second=900),
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
        progress=lambda _name: kill_one_worker,
    )
    report = runner.run()

    assert killed, "no worker was running to be killed"
    assert report.ok, report.summary()
    (load,) = report.activities
    assert load.report is not None
    assert load.report.counts.written == len(good)
    assert load.report.retries >= 1
    assert load.report.errors.get("TransientError", 0) >= 1
    stored = sorted(tuple(r) for r in session.execute(f"SELECT id, name, qty FROM {keyspace}.t"))
    assert stored == sorted(good)


def test_the_error_budget_holds_across_worker_processes(
    session: Session, keyspace: str, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    session.execute(f"CREATE TABLE {keyspace}.t (id int PRIMARY KEY, name text, qty int)")
    _write_files(tmp_path / "in")
    report = PipelineRunner(
        _spec(contact, keyspace, max_errors=1), base_dir=tmp_path, state_dir=tmp_path / "state"
    ).run()
    assert not report.ok
    (load,) = report.activities
    assert load.report is not None
    assert "more than max_errors (1)" in (load.report.failure or "")
    counts = load.report.counts
    assert counts.read == counts.written + counts.quarantined + counts.skipped


def test_workers_reach_an_embedded_dev_server_in_the_run_process(tmp_path: Path) -> None:
    good = _write_files(tmp_path / "in")
    spec = PipelineSpec.model_validate(
        {
            "name": "embedded",
            "connections": {"dev": {"keyspace": "shop"}},  # no hosts: embedded
            "datasets": {
                "files": {"path": "in/*.csv", "format": "csv"},
                "table": {"connection": "dev", "table": "t"},
            },
            "activities": [
                {
                    "name": "schema",
                    "cql": {
                        "connection": "dev",
                        "statements": [
                            "CREATE KEYSPACE shop WITH replication = "
                            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
                            "CREATE TABLE shop.t (id int PRIMARY KEY, name text, qty int)",
                        ],
                    },
                },
                {
                    "name": "load",
                    "after": ["schema"],
                    "copy": {
                        "from": "files",
                        "to": "table",
                        "processes": 2,
                        "max_errors": 10,
                        "verify": True,
                    },
                },
            ],
        }
    )
    report = PipelineRunner(spec, base_dir=tmp_path, state_dir=tmp_path / "state").run()
    assert report.ok, report.summary()
    load = report.activities[1].report
    assert load is not None
    assert load.counts.written == len(good)
    assert load.verification is not None
    assert load.verification["ok"] is True
