"""dag_from_pipeline: the pipeline file `cassflow run` executes, as a DAG that Airflow runs."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from airflow_env import AirflowHome
from cassandra.cluster import Session

from cassflow.airflow import dag_from_pipeline
from cassflow.airflow._pipeline_operator import PipelineActivityOperator
from cassflow.pipeline._build import Connections
from cassflow.pipeline._loader import PipelineError
from cassflow.pipeline._spec import ConnectionSpec

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
_STARTED = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")


def _quickstart(tmp_path: Path) -> Path:
    """A copy of the quickstart (its outputs land in the copy, not in the repository)."""
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns("out", ".cassflow"))
    return folder / "pipeline.yaml"


def _dag_file(dag_folder: Path, name: str, body: str) -> None:
    (dag_folder / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


def _embedded_rows(state_dir: Path, keyspace: str, query: str) -> list[tuple[object, ...]]:
    """Rows of the embedded dev server whose data the DAG's tasks left in ``state_dir``."""
    connections = Connections({"dev": ConnectionSpec(keyspace=keyspace)}, state_dir=state_dir)
    try:
        return [tuple(row) for row in connections.get("dev").session().execute(query)]
    finally:
        connections.close()


def test_activities_become_tasks_and_after_their_dependencies(tmp_path: Path) -> None:
    path = tmp_path / "etl.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: etl
            connections:
              shop:
                hosts: [10.0.0.1]
                keyspace: shop
                auth: {username: loader, password: "${secret:env:CF_NEVER_SET_ANYWHERE}"}
            datasets:
              raw: {format: csv, path: data/*.csv}
              orders: {connection: shop, table: orders}
              out: {format: parquet, path: out/orders/}
            activities:
              - name: schema
                cql: {connection: shop, statements: ["CREATE TABLE t (k int PRIMARY KEY)"]}
              - name: load
                after: [schema]
                copy: {from: raw, to: orders}
              - name: audit
                after: [schema]
                cql: {connection: shop, statements: ["SELECT k FROM t"]}
              - name: export
                after: [load, audit]
                copy: {from: orders, to: out}
            """
        )
    )
    dag = dag_from_pipeline(path, tags=["cassflow"])
    assert dag.dag_id == "etl"
    assert set(dag.tags) == {"cassflow"}
    tasks = {task.task_id: task for task in dag.tasks}
    assert set(tasks) == {"schema", "load", "audit", "export"}
    assert tasks["schema"].upstream_task_ids == set()
    assert tasks["load"].upstream_task_ids == {"schema"}
    assert tasks["audit"].upstream_task_ids == {"schema"}
    assert tasks["export"].upstream_task_ids == {"load", "audit"}
    for name, task in tasks.items():
        assert isinstance(task, PipelineActivityOperator)
        assert task.activity == name
        assert task.pipeline_file == str(path)
    # A copy's target is the task's asset; the secret reference was not resolved to build it.
    assert [a.uri for a in tasks["load"].outlets] == ["cassandra://10.0.0.1:9042/shop/orders"]
    assert [a.uri for a in tasks["export"].outlets] == [f"file://{tmp_path}/out/orders"]
    assert tasks["schema"].outlets == []
    renamed = dag_from_pipeline(str(path), dag_id="etl_nightly", state_dir=str(tmp_path / "s"))
    assert renamed.dag_id == "etl_nightly"
    assert {t.state_dir for t in renamed.tasks} == {str(tmp_path / "s")}
    # Tasks on a cluster may run side by side; on an embedded dev server they take turns.
    assert dag.max_active_tasks > 1
    quickstart = dag_from_pipeline(_quickstart(tmp_path))
    assert (quickstart.max_active_tasks, quickstart.max_active_runs) == (1, 1)
    assert dag_from_pipeline(_quickstart(tmp_path / "b"), max_active_tasks=4).max_active_tasks == 4


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            "name: p\nactivities:\n  - name: a\n    cql: {connection: c, statments: [x]}\n",
            "activities.0.cql.statments",
        ),
        ("name: p\nactivites: []\n", "activites"),
    ],
)
def test_a_bad_pipeline_file_names_the_file_and_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(PipelineError) as caught:
        dag_from_pipeline(path)
    message = str(caught.value)
    assert str(path) in message
    assert key in message


def test_a_missing_pipeline_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=re.escape(str(tmp_path / "nope.yaml"))):
        dag_from_pipeline(tmp_path / "nope.yaml")


def test_quickstart_runs_as_a_dag_one_task_per_activity(
    airflow_home: AirflowHome, dag_folder: Path, tmp_path: Path
) -> None:
    pipeline = _quickstart(tmp_path)
    state = tmp_path / "state"
    _dag_file(
        dag_folder,
        "quickstart_dag",
        f"""\
        from cassflow.airflow import dag_from_pipeline

        dag = dag_from_pipeline({str(pipeline)!r}, state_dir={str(state)!r})
        """,
    )
    result = airflow_home.dags_test("quickstart").check()

    # Each activity ran as its own task, in the order `after` gives.
    assert _STARTED.findall(result.output) == ["create_schema", "load_orders", "export_orders"]
    for activity in ("create_schema", "load_orders", "export_orders"):
        assert f"activity {activity}: done" in result.output
    # Rows landed exactly: 1,000 CSV records, 2 of them bad (quarantined), 998 in the table
    # (kept by the embedded server between the tasks) and 998 in the Parquet export.
    assert "read 1,000  written 998  quarantined 2" in result.output
    table = _embedded_rows(state, "shop", "SELECT customer, order_id FROM shop.orders")
    exported = ds.dataset(pipeline.parent / "out" / "orders", format="parquet").to_table()
    assert len(table) == 998
    assert exported.num_rows == 998
    keys = zip(exported["customer"].to_pylist(), exported["order_id"].to_pylist(), strict=True)
    assert sorted(keys) == sorted(table)
    # One pipeline run for the DAG run: every task logged the same run id.
    run_ids = set(re.findall(r"run (af\.quickstart\.pipeline\.[0-9a-f]+)", result.output))
    assert len(run_ids) == 1


def test_a_retried_task_resumes_the_dag_runs_pipeline_run(
    airflow_home: AirflowHome,
    dag_folder: Path,
    tmp_path: Path,
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
) -> None:
    hosts, port = contact
    folder = tmp_path / "retry"
    (folder / "parts").mkdir(parents=True)
    (folder / "parts" / "a.csv").write_text("k,v\n1,a\n2,b\n3,c\n")
    (folder / "parts" / "b.csv").write_text("k,v\n4,d\nnot-a-number,e\n6,f\n")
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(
        textwrap.dedent(
            f"""\
            name: retried
            connections:
              cluster: {{hosts: {hosts}, port: {port}, keyspace: {keyspace}}}
            datasets:
              parts: {{format: csv, path: parts/*.csv}}
              t: {{connection: cluster, table: t}}
            activities:
              - name: schema
                cql:
                  connection: cluster
                  statements: ["CREATE TABLE {keyspace}.t (k int PRIMARY KEY, v text)"]
              - name: settle
                after: [schema]
                wait:
                  compaction: {{connection: cluster, table: t}}
                  timeout: 60s
                  poll_interval: 1s
              - name: load
                after: [settle]
                copy: {{from: parts, to: t, max_errors: 0, workers: 1}}
            """
        )
    )
    # The first try of `load` fails on the bad record of b.csv (a.csv is done by then); the
    # retry callback then allows bad records, and the retry resumes: a.csv is not read again.
    _dag_file(
        dag_folder,
        "retried_dag",
        f"""\
        from datetime import timedelta
        from pathlib import Path

        from cassflow.airflow import dag_from_pipeline

        PIPELINE = Path({str(pipeline)!r})


        def allow_bad_records(context):
            text = PIPELINE.read_text()
            PIPELINE.write_text(text.replace("max_errors: 0", "max_errors: 10"))


        dag = dag_from_pipeline(
            PIPELINE,
            state_dir={str(tmp_path / "state")!r},
            default_args={{
                "retries": 1,
                "retry_delay": timedelta(0),
                "on_retry_callback": allow_bad_records,
            }},
        )
        """,
    )
    result = airflow_home.dags_test("retried").check()

    assert _STARTED.findall(result.output) == ["schema", "settle", "load", "load"]
    assert "1 bad records, more than max_errors (0)" in result.output
    assert "resumed: 1 slices already done, 1 run now" in result.output
    assert "read 6  written 5  quarantined 1" in result.output
    rows = {(r.k, r.v) for r in session.execute(f"SELECT k, v FROM {keyspace}.t")}
    assert rows == {(1, "a"), (2, "b"), (3, "c"), (4, "d"), (6, "f")}
