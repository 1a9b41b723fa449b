"""Hooks on a connection with dynamic credentials: a role of the task's own, dropped after."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from airflow_env import AirflowHome, connection_env, use_connections
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Session

from clusters import connect

pytestmark = pytest.mark.devserver_only  # a server with authentication of our own


@pytest.fixture
def admin() -> Iterator[tuple[Any, Session]]:
    from cassflow.devserver import DevServer

    with DevServer(auth=True) as server:
        cluster = connect(
            ([server.host], server.port),
            protocol_version=5,
            auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
        )
        session = cluster.connect()
        session.execute(
            "CREATE KEYSPACE shop WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        try:
            yield server, session
        finally:
            cluster.shutdown()


def _dynamic_connection(server: Any) -> dict[str, str]:
    return connection_env(
        "cf_dyn", conn_type="cassflow", host=server.host, port=server.port, schema="shop",
        login="cassandra", password="cassandra",
        extra={"dynamic_credentials": True, "lease_ttl": "10m"},
    )  # fmt: skip


@contextmanager
def _leases_heard() -> Iterator[_Messages]:
    """What the lease code logs (Airflow's logging setup takes records away from pytest's
    caplog: this listens on the logger itself)."""
    heard = _Messages()
    logger = logging.getLogger("cassflow.pipeline._dynamic")
    logger.addHandler(heard)
    level, logger.level = logger.level, logging.INFO
    try:
        yield heard
    finally:
        logger.removeHandler(heard)
        logger.setLevel(level)


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_statements_run_as_a_leased_role_dropped_afterwards(
    airflow_home: AirflowHome,
    admin: tuple[Any, Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cassflow.airflow import CqlOperator
    from cassflow.airflow._compat import DAG

    server, session = admin
    use_connections(monkeypatch, _dynamic_connection(server))
    roles_before = {row.role for row in session.execute("LIST ROLES")}
    with DAG("cf_dyn", schedule=None):
        cql = CqlOperator(
            task_id="schema",
            cassflow_conn_id="cf_dyn",
            sql="CREATE TABLE shop.t (id int PRIMARY KEY, v text);"
            "INSERT INTO shop.t (id, v) VALUES (1, 'one');",
        )
    ti = SimpleNamespace(dag_id="cf_dyn", task_id="schema", run_id="r1", try_number=1, map_index=-1)
    with _leases_heard() as heard:
        assert cql.execute({"ti": ti}) == 2  # type: ignore[arg-type]

    assert [tuple(r) for r in session.execute("SELECT id, v FROM shop.t")] == [(1, "one")]
    issued = [m for m in heard.messages if "logs in as role" in m]
    assert len(issued) == 1, heard.messages
    role = issued[0].split("logs in as role ", 1)[1].split(" ", 1)[0]
    assert role != "cassandra"
    assert any(f"role {role} dropped" in m for m in heard.messages)
    assert {row.role for row in session.execute("LIST ROLES")} == roles_before


def test_a_record_sensor_polls_as_a_leased_role_that_may_read_its_table(
    airflow_home: AirflowHome, admin: tuple[Any, Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cassflow.airflow import CassandraRecordSensor
    from cassflow.airflow._compat import DAG

    server, session = admin
    session.execute("CREATE TABLE shop.r (k int PRIMARY KEY, v int)")
    session.execute("INSERT INTO shop.r (k, v) VALUES (5, 50)")
    session.execute("CREATE TABLE shop.other (k int PRIMARY KEY)")
    use_connections(monkeypatch, _dynamic_connection(server))
    roles_before = {row.role for row in session.execute("LIST ROLES")}
    with DAG("cf_dyn_sensor", schedule=None):
        sensor = CassandraRecordSensor(
            task_id="row", cassflow_conn_id="cf_dyn", table="r", keys={"k": 5}
        )
    ti = SimpleNamespace(
        dag_id="cf_dyn_sensor", task_id="row", run_id="r1", try_number=1, map_index=-1
    )
    with _leases_heard() as heard:
        try:
            assert sensor.poke({"ti": ti}) is True  # type: ignore[arg-type]
            # The lease may read what the sensor reads, and nothing else.
            lease = sensor.hook({"ti": ti}).get_session()  # type: ignore[arg-type]
            with pytest.raises(Exception, match=r"(?i)permission|unauthorized"):
                lease.execute("SELECT * FROM shop.other")
        finally:
            sensor.close()
    issued = [m for m in heard.messages if "logs in as role" in m]
    assert len(issued) == 1, heard.messages
    assert "(lease until" in issued[0]
    assert "1 grants)" in issued[0]
    assert {row.role for row in session.execute("LIST ROLES")} == roles_before
