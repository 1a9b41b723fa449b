"""copy_task_group in real Airflow: one copy planned into slices, one mapped task instance per
slice, a shared checkpoint table, a final report; a slice that fails its first try is retried
by Airflow alone, the other slices not redone."""

from __future__ import annotations

import inspect
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from airflow_env import (
    AirflowHome,
    DagRunResult,
    airflow_connections,
    cassflow_connection,
    connection_env,
)
from cassandra.cluster import Session

from cassflow.copy._cassandra import CassandraSink
from clusters import connect, scratch_keyspace

FILES = 6
ROWS = 5
PASSWORD = "pw-slices-never-shown-7"

DAG_FILE = """
from datetime import datetime, timedelta

from airflow.sdk import DAG

from cassflow.airflow import copy_task_group

with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    copy_task_group(
        "load",
        source={source!r},
        target={target!r},
        checkpoints_conn_id={conn_id!r},
        copy_options={copy_options!r},
        pushgateway={pushgateway!r},
        retry_delay=timedelta(0),
    )
"""


def write_files(directory: Path, *, bad: tuple[int, int] | None = None) -> dict[int, tuple]:
    """FILES CSV files of ROWS rows each; ``bad`` = (file, row) gets a quantity that does not
    convert. Returns the rows that must arrive, by id."""
    directory.mkdir(parents=True)
    expected: dict[int, tuple] = {}
    for file in range(FILES):
        lines = ["id,name,qty"]
        for row in range(ROWS):
            key = file * 100 + row
            if (file, row) == bad:
                lines.append(f"{key},item-{key},lots")
                continue
            lines.append(f"{key},item-{key},{key % 7}")
            expected[key] = (key, f"item-{key}", key % 7)
        (directory / f"part-{file}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return expected


def write_dag(
    dag_folder: Path, dag_id: str, data: Path, keyspace: str, table: str, **settings: Any
) -> None:
    text = DAG_FILE.format(
        dag_id=dag_id,
        source=str(data / "*.csv"),
        target=f"cassandra://{dag_id}/{keyspace}.{table}",
        conn_id=dag_id,
        copy_options=settings.get("copy_options"),
        pushgateway=settings.get("pushgateway"),
    )
    (dag_folder / f"{dag_id}.py").write_text(text, encoding="utf-8")


def task_instances(home: AirflowHome, dag_id: str) -> dict[tuple[str, int], tuple[str, int]]:
    """(task id, map index) -> (state, try number), from the metadata database."""
    with sqlite3.connect(home.path / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = ?",
            (dag_id,),
        ).fetchall()
    return {(t, m): (s, n) for t, m, s, n in rows}


def checkpoints(session: Session, keyspace: str) -> list[tuple[str, str, int, int]]:
    """(slice id, state, attempts, written) of every slice, in plan order."""
    rows = session.execute(
        f"SELECT position, slice_id, state, attempts, written FROM {keyspace}.cassflow_checkpoints"
    )
    return [(r[1], r[2], r[3], r[4]) for r in sorted(rows) if r[0] >= 0]


def saved_report(home: AirflowHome, dag_id: str) -> dict[str, Any]:
    (path,) = (home.path / "cassflow" / "reports").glob(f"af.{dag_id}.load.*.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


class Pushgateway:
    """Records what is pushed to it (a Pushgateway's PUT /metrics/job/<job>)."""

    def __init__(self) -> None:
        self.pushes: list[tuple[str, str]] = []
        pushes = self.pushes

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"] or 0))
                pushes.append((self.path, body.decode("utf-8", "replace")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pushgateway() -> Iterator[Pushgateway]:
    gateway = Pushgateway()
    yield gateway
    gateway.close()


def test_slices_run_as_mapped_tasks_and_the_report_adds_up(
    airflow_home: AirflowHome,
    dag_folder: Path,
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
    tmp_path: Path,
    pushgateway: Pushgateway,
) -> None:
    dag_id = "cf_slices"
    session.execute(f"CREATE TABLE {keyspace}.items (id int PRIMARY KEY, name text, qty int)")
    expected = write_files(tmp_path / "data", bad=(2, 3))
    write_dag(
        dag_folder, dag_id, tmp_path / "data", keyspace, "items", pushgateway=pushgateway.address
    )
    hosts, port = contact
    env = connection_env(
        dag_id, conn_type="cassflow", host=",".join(hosts), port=port, schema=keyspace,
        login="loader", password=PASSWORD,
    )  # fmt: skip
    result = airflow_home.dags_test(dag_id, env=env).check()

    rows = {r[0]: tuple(r) for r in session.execute(f"SELECT id, name, qty FROM {keyspace}.items")}
    assert rows == expected

    # One mapped instance per slice, each run once; the plan and finalize tasks around them.
    slices = checkpoints(session, keyspace)
    assert [(s[1], s[2]) for s in slices] == [("done", 1)] * FILES
    instances = task_instances(airflow_home, dag_id)
    assert {k: v for k, v in instances.items() if k[0] == "load.slice"} == {
        ("load.slice", i): ("success", 1) for i in range(FILES)
    }
    assert instances[("load.plan", -1)] == ("success", 1)
    assert instances[("load.finalize", -1)] == ("success", 1)

    report = saved_report(airflow_home, dag_id)
    assert report["ok"] is True
    assert report["rows"] == {
        "read": FILES * ROWS,
        "written": FILES * ROWS - 1,
        "quarantined": 1,
        "skipped": 0,
    }
    assert report["slices"] == {"done": FILES}
    assert sum(s[3] for s in slices) == FILES * ROWS - 1
    (quarantine,) = report["quarantine_files"]
    (entry,) = [json.loads(line) for line in Path(quarantine).read_text().splitlines()]
    assert entry["source"].endswith("part-2.csv:5")  # the header is line 1
    assert entry["slice"] == slices[2][0]

    # Each slice's task ran with its own identity: its map index, on the slice it was given.
    tasks = report["tasks"]
    assert [t["slice_id"] for t in tasks] == [s[0] for s in slices]
    for index, task in enumerate(tasks):
        assert task["status"] == "done"
        assert task["identity"]["map_index"] == str(index)
        assert task["identity"]["task_id"] == "load.slice"
        assert task["application_name"] == f"airflow:{dag_id}/load.slice"
        assert f";map={index}" in task["application_version"]
        assert task["rows"]["read"] == ROWS
    assert tasks[2]["quarantined_by_category"] == {"convert": 1}

    # The totals went to the Pushgateway, under the pipeline's job.
    ((path, body),) = pushgateway.pushes
    assert path.startswith(f"/metrics/job/cassflow_{dag_id}")
    assert f'cassflow_rows_written_total{{activity="load",pipeline="{dag_id}_load"}} 29.0' in (
        body
    ), body
    assert 'category="convert"' in body

    everything = result.output + airflow_home.log_text() + json.dumps(report)
    assert PASSWORD not in everything


@pytest.mark.devserver_only
def test_a_slice_failing_its_first_try_is_retried_by_airflow_alone(
    airflow_home: AirflowHome, dag_folder: Path, tmp_path: Path
) -> None:
    from cassflow.devserver import DevServer

    dag_id = "cf_slice_retry"
    expected = write_files(tmp_path / "data")
    with DevServer() as server:
        cluster = connect(([server.host], server.port))
        try:
            session = cluster.connect()
            with scratch_keyspace(session) as keyspace:
                columns = "id int PRIMARY KEY, name text, qty int"
                session.execute(f"CREATE TABLE {keyspace}.retried_items ({columns})")
                # Each slice's rows go in one batch (one request); the sink tries a request
                # `tries` times, and the engine (slice_attempts=1) does not redo the slice. The
                # tasks of `dags test` run one at a time, so the first slice to write fails its
                # task's first try, and only that slice and try.
                tries = inspect.signature(CassandraSink).parameters["request_attempts"].default
                rule = server.faults.add(
                    {"fault": "write_timeout", "statement": r"insert into\s+\S*retried_items",
                     "count": tries}
                )  # fmt: skip
                write_dag(
                    dag_folder, dag_id, tmp_path / "data", keyspace, "retried_items",
                    copy_options={"slice_attempts": 1},
                )  # fmt: skip
                env = cassflow_connection(dag_id, ([server.host], server.port), keyspace)
                result = airflow_home.dags_test(dag_id, env=env)
                check_retried_run(result, airflow_home, dag_id, session, keyspace, expected)
                assert server.faults.fired(rule) == tries
        finally:
            cluster.shutdown()


def check_retried_run(
    result: DagRunResult,
    home: AirflowHome,
    dag_id: str,
    session: Session,
    keyspace: str,
    expected: dict[int, tuple],
) -> None:
    result.check()
    rows = session.execute(f"SELECT id, name, qty FROM {keyspace}.retried_items")
    assert {r[0]: tuple(r) for r in rows} == expected

    slices = checkpoints(session, keyspace)
    assert [s[1] for s in slices] == ["done"] * FILES
    attempts = [s[2] for s in slices]
    assert sorted(attempts) == [1] * (FILES - 1) + [2]  # the done slices were not redone
    failed = attempts.index(2)

    instances = task_instances(home, dag_id)
    assert {k: v for k, v in instances.items() if k[0] == "load.slice"} == {
        ("load.slice", i): ("success", 2 if i == failed else 1) for i in range(FILES)
    }
    assert "WriteTimeout" in result.output

    report = saved_report(home, dag_id)
    assert report["rows"]["read"] == report["rows"]["written"] == FILES * ROWS
    assert report["retries"] == 1
    retried = report["tasks"][failed]
    assert retried["slice_id"] == slices[failed][0]
    assert retried["identity"]["try_number"] == "2"
    assert retried["rows"]["written"] == ROWS


def test_a_rerun_plans_only_the_slices_left_and_finalize_needs_them_all(
    contact: tuple[list[str], int], session: Session, keyspace: str, tmp_path: Path
) -> None:
    """The three steps in this process (no scheduler): what a rerun of a DAG run sees."""
    from cassflow.access._identity import TaskIdentity
    from cassflow.airflow._sliced_copy import SlicedCopy, SlicedCopySettings, copy_settings

    session.execute(f"CREATE TABLE {keyspace}.items (id int PRIMARY KEY, name text, qty int)")
    expected = write_files(tmp_path / "data")
    settings = SlicedCopySettings(
        source="data/*.csv",  # relative to base_dir (the DAG file's folder, in a task)
        target={"table": "items"},  # no connection: cassflow_conn_id's
        checkpoints_conn_id="cf_steps",
        cassflow_conn_id="cf_steps",
        copy=copy_settings(
            splits=None, columns=None, max_errors=0, schema_drift="fail", verify=True,
            copy_options=None,
        ),
        state_dir=str(tmp_path / "state"),
    )  # fmt: skip

    def step(task: str, map_index: int | None = None) -> SlicedCopy:
        identity = TaskIdentity(
            "dag", task, "run-1", dag_id="dag", task_id=task, try_number=1, map_index=map_index
        )
        return SlicedCopy(
            settings, dag_id="dag", group_id="load", dag_run_id="run-1", identity=identity,
            base_dir=tmp_path,
        )  # fmt: skip

    with airflow_connections(cassflow_connection("cf_steps", contact, keyspace)):
        with step("load.plan") as plan:
            todo = plan.plan()
        assert len(todo) == FILES
        with step("load.slice", 0) as first:
            assert first.run_slice(todo[0]).status == "done"
        with step("load.finalize") as early:
            incomplete = early.finalize([], None)
        assert not incomplete.ok
        assert incomplete.failure is not None
        assert incomplete.failure.startswith(f"slices not done: {todo[1]} (pending)")
        assert incomplete.counts.read == ROWS

        with step("load.plan") as again:  # the rerun: the same checkpoint run
            assert again.run_id == plan.run_id
            left = again.plan()
        assert left == todo[1:]
        with step("load.slice", 0) as redone:
            outcome = redone.run_slice(todo[0])
        assert outcome.status == "already_done"
        assert outcome.to_json()["rows"]["read"] == ROWS
        for index, slice_id in enumerate(left):
            with step("load.slice", index) as worker:
                assert worker.run_slice(slice_id).status == "done"
        with step("load.finalize") as final:
            report = final.finalize([], None)

    assert report.ok, report.failure
    assert report.counts.read == report.counts.written == FILES * ROWS
    assert report.verification is not None
    assert report.verification["ok"] is True
    assert report.target.startswith(f"cassandra://{contact[0][0]}:{contact[1]}/{keyspace}/items")
    assert report.source == f"file://{tmp_path}/data/*.csv"
    assert [s[2] for s in checkpoints(session, keyspace)] == [1] * FILES
    rows = session.execute(f"SELECT id, name, qty FROM {keyspace}.items")
    assert {r[0]: tuple(r) for r in rows} == expected

    # The group cleared after it succeeded: it copies again, under the run's next generation.
    session.execute(f"TRUNCATE {keyspace}.items")
    with airflow_connections(cassflow_connection("cf_steps", contact, keyspace)):
        with step("load.plan") as cleared:
            redo = cleared.plan()
            assert cleared.run_id == f"{plan.run_id}.r2"
        assert len(redo) == FILES
        for index, slice_id in enumerate(redo):
            with step("load.slice", index) as worker:
                assert worker.run_slice(slice_id).status == "done"
                assert worker.run_id == f"{plan.run_id}.r2"
        with step("load.finalize") as final_again:
            second = final_again.finalize([], None)
    assert second.ok, second.failure
    assert second.run_id == f"{plan.run_id}.r2"
    assert second.counts.written == FILES * ROWS
    rows = session.execute(f"SELECT id, name, qty FROM {keyspace}.items")
    assert {r[0]: tuple(r) for r in rows} == expected


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"checkpoints_conn_id": ""}, "checkpoints_conn_id"),
        ({"copy_options": {"slice_atempts": 1}}, "unknown key(s) slice_atempts"),
        ({"copy_options": {"max_errors": 5}}, "max_errors: a parameter of its own"),
        ({"copy_options": {"processes": 4}}, "processes does not apply"),
        ({"max_errors": "lots"}, "max_errors"),
        ({"splits": 0}, "splits"),
        ({"schema_drift": "merge"}, "schema_drift"),
        ({"slice_retries": -1}, "slice_retries"),
        ({"checkpoints_table": "bad-table!"}, "checkpoints_table"),
    ],
)
def test_bad_settings_fail_the_dag_file_naming_the_parameter(
    airflow_home: AirflowHome, settings: dict[str, Any], named: str
) -> None:
    from airflow.sdk import DAG

    from cassflow.airflow import copy_task_group

    arguments: dict[str, Any] = {
        "source": "data/*.csv",
        "target": "cassandra://shop/shop.items",
        "checkpoints_conn_id": "shop",
        **settings,
    }
    with DAG("cf_bad_settings", schedule=None), pytest.raises(ValueError, match=re.escape(named)):
        copy_task_group("load", **arguments)


def test_the_group_chains_and_maps_its_slices(airflow_home: AirflowHome) -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    from cassflow.airflow import copy_task_group

    with DAG("cf_group_shape", schedule=None) as dag:
        before, after = EmptyOperator(task_id="before"), EmptyOperator(task_id="after")
        group = copy_task_group(
            "load", source="data/*.csv", target="cassandra://shop/shop.items",
            checkpoints_conn_id="shop", slice_retries=3, pool="copies",
        )  # fmt: skip
        before >> group >> after
    tasks = dag.task_dict
    assert set(tasks) == {"before", "after", "load.plan", "load.slice", "load.finalize"}
    assert tasks["load.plan"].upstream_task_ids == {"before"}
    assert tasks["load.slice"].upstream_task_ids == {"load.plan"}
    assert tasks["load.finalize"].upstream_task_ids == {"load.slice"}
    assert tasks["after"].upstream_task_ids == {"load.finalize"}
    assert tasks["load.slice"].retries == 3
    assert tasks["load.plan"].pool == tasks["load.slice"].pool == "copies"
    assert tasks["load.finalize"].trigger_rule == "none_failed"


def test_the_checkpoint_table_must_be_on_a_shared_cluster(tmp_path: Path) -> None:
    from cassflow.access._identity import TaskIdentity
    from cassflow.airflow._sliced_copy import SlicedCopy, SlicedCopySettings
    from cassflow.copy._model import CopyError

    settings = SlicedCopySettings(
        source="data/*.csv", target="cassandra://cf_embedded/items",
        checkpoints_conn_id="cf_embedded",
    )  # fmt: skip
    env = connection_env("cf_embedded", conn_type="cassflow", schema="shop")
    with airflow_connections(env), pytest.raises(CopyError) as caught:
        SlicedCopy(
            settings, dag_id="dag", group_id="load", dag_run_id="run-1",
            identity=TaskIdentity("dag"), base_dir=tmp_path,
        )  # fmt: skip
    assert "checkpoints_conn_id: connection 'cf_embedded' names no hosts" in str(caught.value)
