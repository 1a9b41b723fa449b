"""The sensors: pokes in-process against the cluster under test, and every mode in real Airflow.

The compaction DAG runs ``airflow dags test`` against a dev server of the test's own whose
simulated compactions drain over a few seconds: each compaction sensor (deferred, rescheduled,
poking) must first see the work that its upstream task's writes queued, wait, and succeed once
it has drained.
"""

from __future__ import annotations

import json
import re
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)
from airflow_env import AirflowHome, cassflow_connection, connection_env, use_connections
from cassandra.cluster import Session

from cassflow.airflow import (
    CassandraCompactionSensor,
    CassandraRecordSensor,
    CassandraSchemaAgreementSensor,
    CassandraTableSensor,
)
from cassflow.airflow._sensors import CassflowSensor
from cassflow.airflow._triggers import CassandraRecordTrigger, CassandraTableTrigger
from cassflow.copy._model import CopyError
from cassflow.devserver import DevServer
from cassflow.devserver._compaction import CompactionSimulator
from clusters import connect

SECRET = "pw-sensor-secret-31"


def context() -> dict[str, Any]:
    """What the sensors read of an Airflow context: the task instance's identity."""
    ti = SimpleNamespace(
        dag_id="etl", task_id="wait", run_id="manual__1", try_number=1, map_index=-1
    )
    return {"ti": ti}


@pytest.fixture
def bound(contact: tuple[list[str], int], keyspace: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Connection ``cf_sensor`` to the cluster under test, bound to a fresh keyspace, with a
    password (which the cluster under test may ignore, but nothing may show)."""
    env = connection_env(
        "cf_sensor", conn_type="cassflow", host=",".join(contact[0]), port=contact[1],
        schema=keyspace, login="cassandra", password=SECRET,
    )  # fmt: skip
    use_connections(monkeypatch, env)
    return keyspace


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> int:
    """Connection ``cf_down``: a port nothing listens on, a password, short timeouts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    env = connection_env(
        "cf_down", conn_type="cassflow", host="127.0.0.1", port=port, schema="ks",
        login="loader", password=SECRET, extra={"request_timeout": 2},
    )  # fmt: skip
    use_connections(monkeypatch, env)
    return port


def poke(sensor: CassflowSensor) -> bool:
    try:
        return sensor.poke(context())  # type: ignore[arg-type]
    finally:
        sensor.close()


def test_record_sensor_false_only_when_absent(bound: str, session: Session) -> None:
    session.execute(f"CREATE TABLE {bound}.events (id int, day date, n int, PRIMARY KEY (id, day))")
    sensor = CassandraRecordSensor(
        task_id="rec", cassflow_conn_id="cf_sensor", table="events", keys={"id": "7"}
    )
    assert poke(sensor) is False
    session.execute(f"INSERT INTO {bound}.events (id, day, n) VALUES (7, '2024-01-31', 1)")
    assert poke(sensor) is True
    by_clustering = CassandraRecordSensor(
        task_id="rec2", cassflow_conn_id="cf_sensor", table=f"{bound}.events",
        keys={"id": 7, "day": "2024-02-01"},
    )  # fmt: skip
    assert poke(by_clustering) is False


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"day": "2024-01-31"}, "whole partition key of {ks}.events (id); missing id"),
        ({"id": 1, "n": 2}, "'n' is not a primary key column of {ks}.events"),
        ({"id": 1, "seq": 2}, "must be a prefix of (day, seq); got seq"),
        ({"id": "seven"}, "keys['id']: expected an int"),
        ({}, "keys={}: expected a mapping"),
        ({"id": None}, "keys['id']: a primary key value cannot be null"),
    ],
)
def test_record_sensor_refuses_keys_that_are_not_a_key_lookup(
    bound: str, session: Session, keys: dict[str, Any], expected: str
) -> None:
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {bound}.events "
        "(id int, day date, seq int, n int, PRIMARY KEY (id, day, seq))"
    )
    sensor = CassandraRecordSensor(
        task_id="rec", cassflow_conn_id="cf_sensor", table="events", keys=keys
    )
    with pytest.raises(AirflowFailException) as caught:
        poke(sensor)
    assert expected.replace("{ks}", bound) in str(caught.value)


def test_record_sensor_on_a_missing_table_is_an_error(bound: str) -> None:
    sensor = CassandraRecordSensor(
        task_id="rec", cassflow_conn_id="cf_sensor", table="nope", keys={"id": 1}
    )
    with pytest.raises(Exception, match=f"table {bound}.nope does not exist"):
        poke(sensor)


def test_table_sensor_sees_a_new_table_at_once(bound: str, session: Session) -> None:
    sensor = CassandraTableSensor(task_id="tbl", cassflow_conn_id="cf_sensor", table="Later")
    quoted = CassandraTableSensor(task_id="tbl", cassflow_conn_id="cf_sensor", table='"Later"')
    assert poke(sensor) is False
    session.execute(f"CREATE TABLE {bound}.later (k int PRIMARY KEY)")
    assert poke(sensor) is True  # unquoted names are read in lower case, as CQL reads them
    assert poke(quoted) is False  # "Later" is another table


def test_schema_agreement_on_the_cluster(bound: str) -> None:
    sensor = CassandraSchemaAgreementSensor(task_id="schema", cassflow_conn_id="cf_sensor")
    assert poke(sensor) is True


@pytest.mark.parametrize(
    "sensor",
    [
        CassandraRecordSensor(task_id="r", cassflow_conn_id="cf_down", table="t", keys={"k": 1}),
        CassandraTableSensor(task_id="t", cassflow_conn_id="cf_down", table="t"),
        CassandraSchemaAgreementSensor(task_id="s", cassflow_conn_id="cf_down"),
        CassandraCompactionSensor(task_id="c", cassflow_conn_id="cf_down"),
    ],
    ids=["record", "table", "schema", "compaction"],
)
def test_a_connection_error_raises_never_false(sensor: CassflowSensor, unreachable: int) -> None:
    with pytest.raises(CopyError, match="cannot connect to Cassandra") as caught:
        poke(sensor)
    assert f"127.0.0.1:{unreachable}" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_deferrable_sensor_defers_only_when_not_yet(
    bound: str, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    session.execute(f"CREATE TABLE {bound}.events (id int PRIMARY KEY, n int)")
    waiting = CassandraRecordSensor(
        task_id="rec", cassflow_conn_id="cf_sensor", table="events", keys={"id": 3},
        deferrable=True, poke_interval=2, timeout=90,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(context())  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, CassandraRecordTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None
    assert deferred.value.timeout.total_seconds() == 90
    _, kwargs = trigger.serialize()
    assert SECRET not in json.dumps(kwargs)
    assert SECRET not in caplog.text
    assert kwargs["cassflow_conn_id"] == "cf_sensor"
    assert kwargs["keys"] == {"id": 3}
    assert kwargs["poll_interval"] == 2
    assert kwargs["identity"]["dag_id"] == "etl"
    assert kwargs["identity"]["task_id"] == "wait"
    session.execute(f"INSERT INTO {bound}.events (id, n) VALUES (3, 1)")
    assert waiting.execute(context()) is None  # type: ignore[arg-type]
    table = CassandraTableSensor(
        task_id="tbl", cassflow_conn_id="cf_sensor", table="other", deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        table.execute(context())  # type: ignore[arg-type]
    assert isinstance(deferred.value.trigger, CassandraTableTrigger)


def test_deferrable_mode_refuses_values_a_trigger_cannot_carry(
    bound: str, session: Session
) -> None:
    import datetime

    session.execute(f"CREATE TABLE {bound}.days (day date PRIMARY KEY)")
    sensor = CassandraRecordSensor(
        task_id="rec", cassflow_conn_id="cf_sensor", table="days",
        keys={"day": datetime.date(2024, 1, 31)}, deferrable=True,
    )  # fmt: skip
    with pytest.raises(AirflowFailException, match="JSON values"):
        sensor.execute(context())  # type: ignore[arg-type]


def test_execute_complete_reads_the_event() -> None:
    sensor = CassandraTableSensor(task_id="tbl", table="t", deferrable=True)
    ok = {"status": "success", "message": "table ks.t exists", "polls": 3, "waited_for": "x"}
    assert sensor.execute_complete(context(), ok) is None  # type: ignore[arg-type]
    with pytest.raises(AirflowSensorTimeout, match=r"timed out: table ks\.t does not exist"):
        sensor.execute_complete(
            context(),  # type: ignore[arg-type]
            {"status": "timeout", "message": "timed out: table ks.t does not exist yet"},
        )
    with pytest.raises(AirflowFailException, match="not a table name"):
        sensor.execute_complete(
            context(),  # type: ignore[arg-type]
            {"status": "error", "message": "not a table name", "retryable": False},
        )
    with pytest.raises(AirflowException, match="cannot connect") as caught:
        sensor.execute_complete(
            context(),  # type: ignore[arg-type]
            {"status": "error", "message": "cannot connect", "retryable": True},
        )
    assert not isinstance(caught.value, AirflowFailException | AirflowSensorTimeout)


def test_bad_max_pending_is_refused(bound: str) -> None:
    with pytest.raises(ValueError, match="max_pending=-1"):
        CassandraCompactionSensor(task_id="c", max_pending=-1)
    # A template that renders to something else than a count fails the task, not a retry.
    rendered = CassandraCompactionSensor(
        task_id="c", cassflow_conn_id="cf_sensor", max_pending="lots"
    )
    with pytest.raises(AirflowFailException, match="max_pending='lots': expected a whole"):
        poke(rendered)
    counted = CassandraCompactionSensor(task_id="c", cassflow_conn_id="cf_sensor", max_pending="7")
    try:
        probe = counted.probe(context())  # type: ignore[arg-type]
    finally:
        counted.close()
    assert probe.details["max_pending"] == 7
    assert probe.details["nodes"]


# --- in real Airflow ---------------------------------------------------------------------

_DAG = """
import os
from datetime import datetime

from airflow.sdk import DAG, task

from cassflow.airflow import (
    CassandraCompactionSensor,
    CassandraRecordSensor,
    CassandraSchemaAgreementSensor,
    CassandraTableSensor,
)

KEYSPACE = {keyspace!r}
ROWS = {rows}


def write(table):
    from cassandra.cluster import Cluster

    cluster = Cluster(
        [os.environ["CF_DEV_HOST"]], port=int(os.environ["CF_DEV_PORT"]),
        connect_timeout=10, control_connection_timeout=10,
    )
    try:
        session = cluster.connect()
        session.execute(
            f"CREATE TABLE IF NOT EXISTS {{KEYSPACE}}.{{table}} (k int PRIMARY KEY, v int)"
        )
        insert = session.prepare(f"INSERT INTO {{KEYSPACE}}.{{table}} (k, v) VALUES (?, ?)")
        for i in range(ROWS):
            session.execute(insert, (i, i))
    finally:
        cluster.shutdown()


with DAG(
    "cf_sensors",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={{"table": "c", "max_pending": "0", "key": "5"}},
):
    @task
    def write_a():
        write("a")

    @task
    def write_b():
        write("b")

    @task
    def write_c():
        write("c")

    deferred = CassandraCompactionSensor(
        task_id="compaction_deferred", cassflow_conn_id="cf_dev", table="a",
        deferrable=True, poke_interval=0.5, timeout=60,
    )
    rescheduled = CassandraCompactionSensor(
        task_id="compaction_rescheduled", cassflow_conn_id="cf_dev", table="b",
        mode="reschedule", poke_interval=1, timeout=60,
    )
    poked = CassandraCompactionSensor(
        task_id="compaction_poked", cassflow_conn_id="cf_dev", table="{{{{ params.table }}}}",
        max_pending="{{{{ params.max_pending }}}}", mode="poke", poke_interval=0.5, timeout=60,
    )
    record = CassandraRecordSensor(
        task_id="record", cassflow_conn_id="cf_dev", table="c",
        keys={{"k": "{{{{ params.key }}}}"}}, poke_interval=0.5, timeout=30,
    )
    table = CassandraTableSensor(
        task_id="table", cassflow_conn_id="cf_dev", table=KEYSPACE + ".c", deferrable=True,
    )
    schema = CassandraSchemaAgreementSensor(
        task_id="schema", cassflow_conn_id="cf_dev", deferrable=True, timeout=30,
    )
    write_a() >> deferred >> write_b() >> rescheduled >> write_c() >> poked >> record
    # Times out in the trigger; soft_fail turns the sensor timeout into a skip.
    never = CassandraTableSensor(
        task_id="never", cassflow_conn_id="cf_dev", table="never_created",
        deferrable=True, poke_interval=0.5, timeout=2, soft_fail=True,
    )
    record >> table >> schema >> never
"""


@pytest.fixture
def compacting_server() -> Iterator[DevServer]:
    """A dev server whose writes queue compactions that drain in a few seconds: 100 rows
    queue about four, run one at a time for two seconds each (the margin a slow machine needs
    between a write task's end and its sensor's first look)."""
    simulator = CompactionSimulator(
        flush_cells=20, seconds_per_compaction=2.0, concurrent_compactors=1
    )
    with DevServer(compaction=simulator) as server:
        yield server


@pytest.mark.devserver_only
def test_sensors_in_airflow_wait_for_compactions_to_drain(
    airflow_home: AirflowHome, dag_folder: Path, compacting_server: DevServer
) -> None:
    cluster = connect(([compacting_server.host], compacting_server.port))
    try:
        cluster.connect().execute(
            "CREATE KEYSPACE shop WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
    finally:
        cluster.shutdown()
    (dag_folder / "cf_sensors.py").write_text(
        textwrap.dedent(_DAG.format(keyspace="shop", rows=100)), encoding="utf-8"
    )
    contact = ([compacting_server.host], compacting_server.port)
    env = cassflow_connection("cf_dev", contact, "shop")
    env.update(CF_DEV_HOST=compacting_server.host, CF_DEV_PORT=str(compacting_server.port))
    result = airflow_home.dags_test("cf_sensors", env=env).check()
    output = result.output + airflow_home.log_text()

    # Deferred: looked once, saw the queued work, deferred; the trigger polled while it drained.
    assert re.search(
        r"not yet: compactions of shop\.a above 0 \(127\.0\.0\.1: [1-9]\d*\); defer", output
    )
    assert "running trigger in line" in output
    released = re.search(
        r"satisfied: compactions of shop\.a at most 0 on every node \(after (\d+) check", output
    )
    assert released, output[-6000:]
    assert int(released[1]) >= 2
    assert re.search(r"it waited while: compactions of shop\.a above 0", output)
    # Rescheduled: the first poke saw work, the task was rescheduled, a later try succeeded.
    assert re.search(r"not yet: compactions of shop\.b above 0", output)
    assert "up_for_reschedule" in output.lower()
    assert "satisfied: compactions of shop.b at most 0" in output
    # Poking, with templated table and max_pending.
    assert re.search(r"not yet: compactions of shop\.c above 0", output)
    assert "satisfied: compactions of shop.c at most 0" in output
    # The other sensors, satisfied on their first look.
    assert "satisfied: a row of shop.c with these k exists" in output
    assert "satisfied: table shop.c exists" in output
    assert re.search(r"satisfied: 1 live node\(s\) agree on schema", output)
    # The trigger's deadline: a sensor timeout, which soft_fail makes a skip.
    assert re.search(
        r"timed out: table shop\.never_created does not exist yet \(after [2-9]\d* check", output
    )
    assert "Skipping due to soft_fail" in output
