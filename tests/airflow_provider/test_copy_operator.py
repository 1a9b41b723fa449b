"""CassandraCopyOperator in real Airflow: loads and exports exactly, retries resume, assets.

Each DAG file is written into the test's DAG folder and run with ``airflow dags test`` (every
task of one DAG run, retries honoured with retry_delay=0); what the run did is read back from
the cluster, the files it wrote, the Airflow metadata database (XComs, asset events) and the
reports cassflow saves under its state directory.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow.parquet as pq
import pytest
from airflow_env import AirflowHome, cassflow_connection, connection_env, use_connections
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Session
from cassandra.murmur3 import murmur3

from cassflow.airflow._assets import table_uri
from cassflow.airflow._identity import checkpoint_run_id
from cassflow.copy._slicing import token_ranges
from cassflow.pipeline._spec import ConnectionSpec
from clusters import connect

DAG_HEADER = """\
from datetime import datetime, timedelta

from airflow.sdk import DAG

from cassflow.airflow import CassandraCopyOperator, CqlOperator
"""


def _write_dag(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(DAG_HEADER + textwrap.dedent(body), encoding="utf-8")


def _xcoms(home: AirflowHome, dag_id: str) -> dict[str, Any]:
    """The return values the DAG's tasks pushed (task id -> value)."""
    with sqlite3.connect(home.path / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value'",
            (dag_id,),
        ).fetchall()
    # SQLite hands a JSON number back as a number, anything else as its JSON text.
    return {t: json.loads(v) if isinstance(v, str | bytes) else v for t, v in rows}


def _dag_run_id(home: AirflowHome, dag_id: str) -> str:
    with sqlite3.connect(home.path / "airflow.db") as db:
        ((run_id,),) = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ?", (dag_id,))
    return str(run_id)


def _saved_report(home: AirflowHome, dag_id: str, task_id: str) -> dict[str, Any]:
    """The pipeline report the runner saved for the task instance's checkpoint run."""
    run = checkpoint_run_id(dag_id, task_id, _dag_run_id(home, dag_id))
    path = home.path / "cassflow" / "reports" / f"{run}.json"
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


# --- a whole flow: schema from a .cql file, a CSV load, a Parquet export -------------------

#: (id, customer, amount): some customers hold a comma and quotes.
CSV_ROWS = [
    (i, f'customer {i}, "vip"' if i % 7 == 0 else f"c{i}", f"{i}.{i % 100:02d}")
    for i in range(1, 41)
]


def test_schema_load_export_with_assets(
    airflow_home: AirflowHome,
    dag_folder: Path,
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
    tmp_path: Path,
) -> None:
    (dag_folder / "orders_schema.cql").write_text(
        "-- the orders table of {{ dag.dag_id }}\n"
        "CREATE TABLE IF NOT EXISTS orders (\n"
        "    id int PRIMARY KEY, customer text, amount decimal\n"
        ");\n",
        encoding="utf-8",
    )
    lines = ["id,customer,amount"]
    lines += [f'{i},"{c.replace(chr(34), chr(34) * 2)}",{a}' for i, c, a in CSV_ROWS]
    lines.insert(20, "not-a-number,bad row,1.00")  # quarantined, with its reason
    (dag_folder / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "export"
    _write_dag(
        dag_folder,
        "cf_flow",
        f"""
        with DAG("cf_flow", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
            schema = CqlOperator(task_id="schema", sql="orders_schema.cql",
                                 cassflow_conn_id="cf_main")
            load = CassandraCopyOperator(
                task_id="load", source="orders.csv", target="cassandra://cf_main/orders",
                max_errors=3, copy_options={{"workers": 2}},
            )
            export = CassandraCopyOperator(
                task_id="export", source={{"connection": "cf_main", "table": "orders"}},
                target={{"format": "parquet", "path": "{out}/"}}, copy_options={{"splits": 8}},
            )
            schema >> load >> export
        """,
    )
    env = cassflow_connection("cf_main", contact, keyspace)
    result = airflow_home.dags_test("cf_flow", env=env).check()

    # The table holds every good row exactly; the bad one is in the quarantine, with why.
    rows = {
        r.id: (r.customer, r.amount) for r in session.execute(f"SELECT * FROM {keyspace}.orders")
    }
    assert rows == {i: (c, Decimal(a)) for i, c, a in CSV_ROWS}

    xcoms = _xcoms(airflow_home, "cf_flow")
    assert xcoms["schema"] == 1
    load = xcoms["load"]
    assert load["ok"] is True
    assert load["rows"] == {"read": 41, "written": 40, "quarantined": 1, "skipped": 0}
    quarantined = "".join(Path(f).read_text(encoding="utf-8") for f in load["quarantine_files"])
    assert "not-a-number" in quarantined
    assert "id" in quarantined  # the reason names the column it could not convert
    assert _saved_report(airflow_home, "cf_flow", "load")["activities"][0]["copy"] == load

    export = xcoms["export"]
    assert export["rows"] == {"read": 40, "written": 40, "quarantined": 0, "skipped": 0}
    assert export["slices"] == {"done": 8}
    table = pq.read_table(out)
    exported = dict(
        zip(table.column("id").to_pylist(),
            zip(table.column("customer").to_pylist(), table.column("amount").to_pylist(),
                strict=True), strict=True)
    )  # fmt: skip
    assert {k: (c, Decimal(str(a))) for k, (c, a) in exported.items()} == rows

    # Assets: the load reads the CSV (relative to the DAG's folder) and writes the table;
    # the export reads the table and writes the directory. Airflow recorded the outlets.
    hosts, port = contact
    orders = table_uri(
        ConnectionSpec(hosts=hosts, port=port, keyspace=keyspace), keyspace, "orders"
    )
    with sqlite3.connect(airflow_home.path / "airflow.db") as db:
        inlets = dict(
            db.execute(
                "SELECT r.task_id, a.uri FROM task_inlet_asset_reference r "
                "JOIN asset a ON a.id = r.asset_id WHERE r.dag_id = 'cf_flow'"
            ).fetchall()
        )
        events = {
            uri
            for (uri,) in db.execute(
                "SELECT a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                "WHERE e.source_dag_id = 'cf_flow'"
            )
        }
    assert inlets == {"load": f"file://{dag_folder / 'orders.csv'}", "export": orders}
    assert events == {orders, f"file://{out}"}
    assert "statement 1 of 1" in result.output


# --- a failed try resumes on the next --------------------------------------------------------


def _keys_in_the_last_slices(count: int) -> list[int]:
    """Int keys none of which is in the first two of four token ranges: one in the third, the
    others in the fourth (Murmur3 tokens, as the cluster computes them)."""
    ranges = token_ranges(4)
    third: list[int] = []
    fourth: list[int] = []
    k = 0
    while not third or len(fourth) < count - 1:
        token = murmur3(struct.pack(">i", k))
        if ranges[2].start < token <= ranges[2].end and not third:
            third.append(k)
        elif ranges[3].start < token and len(fourth) < count - 1:
            fourth.append(k)
        k += 1
    return third + fourth


PASSWORD = "Pw-airflow-9c41e7-secret"


@contextmanager
def _auth_server(tmp_path: Path) -> Iterator[Any]:
    from cassflow.devserver import DevServer

    with DevServer(auth=True) as server:
        cluster = connect(
            ([server.host], server.port),
            auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
        )
        try:
            admin = cluster.connect()
            admin.execute(
                "CREATE KEYSPACE shop WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            admin.execute(f"CREATE ROLE loader WITH LOGIN = true AND PASSWORD = '{PASSWORD}'")
            admin.execute("GRANT ALL PERMISSIONS ON KEYSPACE shop TO loader")
            yield server, admin
        finally:
            cluster.shutdown()


@pytest.mark.devserver_only
def test_a_retry_resumes_the_done_slices_and_no_password_shows(
    airflow_home: AirflowHome, dag_folder: Path, tmp_path: Path
) -> None:
    keys = _keys_in_the_last_slices(60)
    with _auth_server(tmp_path) as (server, admin):
        admin.execute("CREATE TABLE shop.src (k int PRIMARY KEY, v text)")
        admin.execute("CREATE TABLE shop.dst (k int PRIMARY KEY, v text)")
        insert = admin.prepare("INSERT INTO shop.src (k, v) VALUES (?, ?)")
        for k in keys:
            admin.execute(insert, (k, f"value {k}"))
        # Four token-range slices, one at a time, in ring order: the first two hold no rows
        # and finish without a write; the third holds one row, whose write then times out on
        # every one of its five request attempts, which fails the try (slice_attempts: 1) and
        # stops it before the fourth slice. The rule has then fired its count and is gone.
        rule = server.faults.add(
            {"fault": "write_timeout", "keyspace": "shop", "table": "dst", "count": 5}
        )
        _write_dag(
            dag_folder,
            "cf_resume",
            """
            with DAG("cf_resume", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
                CassandraCopyOperator(
                    task_id="copy", source="cassandra://cf_auth/src",
                    target={"connection": "cf_auth", "table": "dst"},
                    copy_options={"splits": 4, "workers": 1, "slice_attempts": 1},
                    checkpoints_conn_id="cf_auth",
                    retries=1, retry_delay=timedelta(0),
                )
            """,
        )
        env = connection_env(
            "cf_auth", conn_type="cassflow", host=server.host, port=server.port,
            schema="shop", login="loader", password=PASSWORD,
        )  # fmt: skip
        result = airflow_home.dags_test("cf_resume", env=env).check()
        copied = {r.k: r.v for r in admin.execute("SELECT k, v FROM shop.dst")}
        fired = server.faults.fired(rule)
        checkpoints = list(admin.execute("SELECT * FROM shop.cassflow_checkpoints"))

    assert fired == 5
    assert copied == {k: f"value {k}" for k in keys}
    report = _xcoms(airflow_home, "cf_resume")["copy"]
    assert report["ok"] is True
    assert report["rows"]["read"] == report["rows"]["written"] == len(keys)
    assert report["slices"] == {"done": 4}
    assert report["resumed_slices"] == 2  # done by the first try, not redone
    assert report["slices_run"] == 2
    assert "resumes checkpoint run" in result.output  # the first try's failure says so
    assert checkpoints  # the shared checkpoint table of checkpoints_conn_id was used

    # The password is nowhere: not in Airflow's output or task logs, nor in anything
    # cassflow wrote (reports, checkpoints, quarantine), nor in the XCom.
    logs = airflow_home.log_text()
    assert "WriteTimeout" in result.output + logs
    written = b"".join(
        p.read_bytes() for p in (airflow_home.path / "cassflow").rglob("*") if p.is_file()
    )
    assert PASSWORD not in result.output
    assert PASSWORD not in logs
    assert PASSWORD.encode() not in written
    assert PASSWORD not in json.dumps(report)


# --- parse time ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"copy_options": {"wokers": 2}}, "copy_options: unknown key(s) wokers"),
        ({"copy_options": {"max_errors": 2}}, "max_errors: a parameter of its own"),
        ({"copy_options": {"workers": 0}}, "copy_options['workers']"),
        ({"max_errors": "lots"}, "max_errors"),
        ({"schema_drift": "sometimes"}, "schema_drift"),
    ],
)
def test_bad_settings_are_refused_when_the_dag_is_parsed(
    airflow_home: AirflowHome, settings: dict[str, Any], expected: str
) -> None:
    from cassflow.airflow import CassandraCopyOperator

    with pytest.raises(ValueError, match="CassandraCopyOperator 'bad'") as caught:
        CassandraCopyOperator(task_id="bad", source="/in/a.csv", target="/out/", **settings)
    assert "'bad'" in str(caught.value)
    assert expected in str(caught.value)


def test_assets_of_an_unknown_connection_are_a_parse_error(airflow_home: AirflowHome) -> None:
    from cassflow.airflow import CassandraCopyOperator

    with pytest.raises(ValueError, match=r"no_such_conn.*declare_assets=False"):
        CassandraCopyOperator(
            task_id="t", source="/in/a.csv", target="cassandra://no_such_conn/ks.t"
        )
    # A table dataset dict without "connection" is on cassflow_conn_id.
    with pytest.raises(ValueError, match=r"other_missing_conn.*declare_assets=False"):
        CassandraCopyOperator(
            task_id="t", source={"table": "orders"}, target="/out/",
            cassflow_conn_id="other_missing_conn",
        )  # fmt: skip
    # Without assets nothing is looked up until the task runs; templated ends are not declared.
    quiet = CassandraCopyOperator(
        task_id="t", source="/in/a.csv", target="cassandra://no_such_conn/ks.t",
        declare_assets=False,
    )  # fmt: skip
    templated = CassandraCopyOperator(
        task_id="t", source="/in/{{ ds }}.csv", target="cassandra://no_such_conn/ks.t"
    )
    assert quiet.outlets == []
    assert templated.inlets == templated.outlets == []


# --- on_kill -----------------------------------------------------------------------------------


def _done_slices(state_dir: Path) -> int:
    path = state_dir / "checkpoints.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        try:
            ((done,),) = db.execute("SELECT count(*) FROM slices WHERE state = 'done'")
        except sqlite3.OperationalError:  # the store is being created
            return 0
    return int(done)


def test_on_kill_stops_the_copy_and_the_next_try_resumes(
    airflow_home: AirflowHome,
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Airflow calls on_kill() from the task process's SIGTERM handler while execute() runs;
    # here the test's thread plays that part (a real SIGTERM cannot be timed to the copy).
    from cassflow.airflow import CassandraCopyOperator
    from cassflow.airflow._compat import DAG, AirflowException

    session.execute(f"CREATE TABLE {keyspace}.k (id int PRIMARY KEY, v text)")
    data = tmp_path / "data"
    data.mkdir()
    for part in range(10):
        rows = "".join(f"{part * 20 + i},v{part * 20 + i}\n" for i in range(20))
        (data / f"part{part}.csv").write_text("id,v\n" + rows, encoding="utf-8")
    use_connections(monkeypatch, cassflow_connection("cf_kill", contact, keyspace))
    state = tmp_path / "state"
    with DAG("cf_kill", schedule=None):
        op = CassandraCopyOperator(
            task_id="copy", source=f"{data}/*.csv", target="cassandra://cf_kill/k",
            state_dir=str(state),
            # One slice at a time, 100 rows/s: two seconds for the whole copy.
            copy_options={"workers": 1, "max_rows_per_second": 100, "processes": 1},
        )  # fmt: skip
    ti = SimpleNamespace(
        dag_id="cf_kill", task_id="copy", run_id="manual_kill", try_number=1, map_index=-1
    )
    outcome: dict[str, Any] = {}

    def first_try() -> None:
        try:
            op.execute({"ti": ti})  # type: ignore[arg-type]
        except AirflowException as exc:
            outcome["error"] = str(exc)

    runner = threading.Thread(target=first_try)
    runner.start()
    deadline = time.monotonic() + 30
    while _done_slices(state) < 1 and runner.is_alive() and time.monotonic() < deadline:
        threading.Event().wait(0.02)  # polls the checkpoint store for the first done slice
    op.on_kill()
    runner.join(30)
    assert not runner.is_alive()
    assert "Airflow killed the task" in outcome["error"]
    assert "resumes checkpoint run" in outcome["error"]
    done = _done_slices(state)
    assert 1 <= done < 10

    ti.try_number = 2
    report = op.execute({"ti": ti})  # type: ignore[arg-type]
    assert report["resumed_slices"] == done
    assert report["rows"]["written"] == 200
    copied = dict(session.execute(f"SELECT id, v FROM {keyspace}.k").all())
    assert copied == {i: f"v{i}" for i in range(200)}


# --- an embedded dev server (a connection without hosts) ---------------------------------------


def _dev_server_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "cassflow-dev" and t.is_alive())


def test_embedded_dev_server_connections_are_closed_after_each_task(
    airflow_home: AirflowHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three tasks in turn on one embedded dev server's data (kept under the state directory):
    # each must stop its server when it ends, or the next could not open the data, and
    # nothing would be left running in the worker.
    from cassflow.airflow import CassandraCopyOperator, CqlOperator
    from cassflow.airflow._compat import DAG

    monkeypatch.setenv("CASSFLOW_STATE_DIR", str(tmp_path / "state"))
    use_connections(monkeypatch, connection_env("cf_emb", conn_type="cassflow", schema="emb"))
    (tmp_path / "in.csv").write_text("id,v\n1,one\n2,two\n3,three\n", encoding="utf-8")
    running = _dev_server_threads()
    with DAG("cf_emb", schedule=None):
        schema = CqlOperator(
            task_id="schema", cassflow_conn_id="cf_emb",
            sql="CREATE KEYSPACE IF NOT EXISTS emb WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1};"
                "CREATE TABLE IF NOT EXISTS emb.t (id int PRIMARY KEY, v text);",
        )  # fmt: skip
        load = CassandraCopyOperator(
            task_id="load", source=str(tmp_path / "in.csv"), target="cassandra://cf_emb/t"
        )
        export = CassandraCopyOperator(
            task_id="export", source="cassandra://cf_emb/t", target=str(tmp_path / "out.jsonl")
        )
    assert [a.uri for a in load.outlets] == ["cassandra://embedded-cf_emb:9042/emb/t"]
    for task in (schema, load, export):
        ti = SimpleNamespace(
            dag_id="cf_emb", task_id=task.task_id, run_id="manual_emb", try_number=1, map_index=-1
        )
        task.execute({"ti": ti})
        assert _dev_server_threads() == running, f"{task.task_id} left its dev server running"
    parts = sorted(p for p in (tmp_path / "out.jsonl").rglob("*") if p.is_file())
    exported = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
    assert sorted((r["id"], r["v"]) for r in exported) == [(1, "one"), (2, "two"), (3, "three")]

    # The load cleared after it succeeded (its next try): it copies again, not "already done".
    ti = SimpleNamespace(
        dag_id="cf_emb", task_id="load", run_id="manual_emb", try_number=2, map_index=-1
    )
    again = load.execute({"ti": ti})
    assert again["rows"]["written"] == 3
    assert ".r2/" in again["run_id"]


def test_copy_options_rendered_as_json_text_are_read() -> None:
    from cassflow.airflow._copy_run import rendered_options

    assert rendered_options('{"workers": 3}') == {"workers": 3}
    assert rendered_options(None) == {}
    with pytest.raises(ValueError, match="copy_options: rendered to 'workers=3'"):
        rendered_options("workers=3")
