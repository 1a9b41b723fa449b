"""Every session names its task: in system_views.clients, in log records, in metric labels."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session

from cassflow.access._identity import (
    LABEL_NAMES,
    IdentityFilter,
    TaskIdentity,
    current_identity,
    install_identity_filter,
    use_identity,
)
from cassflow.copy._connect import CassandraConnection
from cassflow.pipeline._build import Connections
from cassflow.pipeline._run import PipelineRunner
from cassflow.pipeline._spec import ConnectionSpec, PipelineSpec
from commands import connection_spec

AIRFLOW_ENV = {
    "AIRFLOW_CTX_DAG_ID": "orders_daily",
    "AIRFLOW_CTX_TASK_ID": "load_orders",
    "AIRFLOW_CTX_DAG_RUN_ID": "scheduled__2026-11-21T00:00:00+00:00",
    "AIRFLOW_CTX_TRY_NUMBER": "2",
    "AIRFLOW_CTX_MAP_INDEX": "3",
}


def _client_options(session: Any) -> list[dict[str, str]]:
    rows = session.execute("SELECT client_options FROM system_views.clients")
    return [dict(row.client_options or {}) for row in rows]


def test_the_application_name_is_visible_in_system_views_clients(
    contact: tuple[list[str], int], keyspace: str
) -> None:
    hosts, port = contact
    identity = TaskIdentity("orders", "load_orders", "run-42")
    with CassandraConnection(
        "shop", hosts=hosts, port=port, keyspace=keyspace, guard=True, identity=identity
    ) as connection:
        options = _client_options(connection.session())
    mine = [o for o in options if o.get("APPLICATION_NAME") == "cassflow:orders/load_orders"]
    # The control connection and the pool's connection both carry it.
    assert mine, options
    assert all(o["APPLICATION_VERSION"] == "run=run-42" for o in mine)
    assert all(o["DRIVER_NAME"] == "Apache Cassandra Python Driver" for o in mine)


def test_a_pipeline_connection_carries_the_airflow_task(
    contact: tuple[list[str], int], keyspace: str, tmp_path: Path
) -> None:
    identity = TaskIdentity.from_environment("orders", environ=AIRFLOW_ENV)
    spec = ConnectionSpec.model_validate(connection_spec(contact, keyspace))
    connections = Connections({"shop": spec}, state_dir=tmp_path, identity=identity)
    try:
        options = _client_options(connections.get("shop").session())
    finally:
        connections.close()
    names = {o.get("APPLICATION_NAME"): o.get("APPLICATION_VERSION") for o in options}
    assert names.get("airflow:orders_daily/load_orders") == (
        "run=scheduled__2026-11-21T00:00:00+00:00;try=2;map=3"
    )


def test_airflow_variables_are_mapped() -> None:
    identity = TaskIdentity.from_environment("orders", "load", environ=AIRFLOW_ENV)
    assert identity.in_airflow
    assert (identity.dag_id, identity.task_id, identity.try_number, identity.map_index) == (
        "orders_daily",
        "load_orders",
        2,
        3,
    )
    assert identity.run_id == "scheduled__2026-11-21T00:00:00+00:00"
    assert identity.application_name == "airflow:orders_daily/load_orders"
    unmapped = TaskIdentity.from_environment(
        "orders", run_id="mine", environ={**AIRFLOW_ENV, "AIRFLOW_CTX_MAP_INDEX": "-1"}
    )
    assert unmapped.run_id == "mine"  # a given run id wins
    assert unmapped.application_version == "run=mine;try=2"
    plain = TaskIdentity.from_environment("orders", "load", "r1", environ={})
    assert not plain.in_airflow
    assert (plain.application_name, plain.application_version) == ("cassflow:orders/load", "run=r1")
    labels = identity.labels()
    assert tuple(labels) == LABEL_NAMES
    assert labels["task_id"] == "load_orders"
    assert plain.labels()["dag_id"] == ""


def test_log_records_carry_the_identity_in_every_thread() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(IdentityFilter())
    log = logging.getLogger("cassflow.test_identity")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("before")
        with use_identity(TaskIdentity("orders", "load", "r7")):
            log.info("inside")
            worker = threading.Thread(target=log.info, args=("from a worker thread",))
            worker.start()
            worker.join(timeout=10)
        log.info("after")
    finally:
        log.removeHandler(handler)
    stamped = {r.getMessage(): r.identity for r in records}  # type: ignore[attr-defined]
    assert stamped == {
        "before": "-",
        "inside": "cassflow:orders/load run=r7",
        "from a worker thread": "cassflow:orders/load run=r7",
        "after": "-",
    }
    assert current_identity() is None


def test_install_adds_one_filter_to_the_handlers() -> None:
    logger = logging.getLogger("cassflow.test_identity.install")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        first = install_identity_filter(logger)
        again = install_identity_filter(logger)
        assert first is again
        assert handler.filters == [first]
    finally:
        logger.removeHandler(handler)


def test_the_runner_stamps_each_activity(
    contact: tuple[list[str], int],
    keyspace: str,
    session: Session,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = PipelineSpec.model_validate(
        {
            "name": "stamped",
            "connections": {"db": connection_spec(contact, keyspace)},
            "activities": [
                {
                    "name": "make_table",
                    "cql": {
                        "connection": "db",
                        "statements": [f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY)"],
                    },
                },
                {
                    "name": "fill",
                    "after": ["make_table"],
                    "cql": {
                        "connection": "db",
                        "statements": [f"INSERT INTO {keyspace}.t (k) VALUES (1)"],
                    },
                },
            ],
        }
    )
    caplog.handler.addFilter(IdentityFilter())
    with caplog.at_level(logging.INFO, logger="cassflow.pipeline"):
        report = PipelineRunner(spec, state_dir=tmp_path, run_id="run-9").run()
    assert report.ok, report.summary()
    stamps = {
        r.identity  # type: ignore[attr-defined]
        for r in caplog.records
        if "statement 1 of 1" in r.getMessage()
    }
    assert stamps == {"cassflow:stamped/make_table run=run-9", "cassflow:stamped/fill run=run-9"}
    assert session.execute(f"SELECT k FROM {keyspace}.t").one()[0] == 1
