"""The sensors' triggers, run directly with asyncio: serialization, one event, errors as errors."""

from __future__ import annotations

import asyncio
import importlib
import socket
import threading
import time
from typing import Any

import pytest
from airflow_env import cassflow_connection, connection_env, use_connections
from cassandra.cluster import Session

from cassflow.airflow._triggers import (
    CassandraCompactionTrigger,
    CassandraRecordTrigger,
    CassandraSchemaAgreementTrigger,
    CassandraTableTrigger,
    CassflowSensorTrigger,
)

COMMON: dict[str, Any] = {
    "cassflow_conn_id": "cf_trig",
    "keyspace": None,
    "pipeline_file": None,
    "state_dir": None,
    "identity": {
        "pipeline": "etl",
        "activity": "wait",
        "run_id": "manual__1",
        "dag_id": "etl",
        "task_id": "wait",
        "try_number": 1,
        "map_index": None,
    },
    "poll_interval": 0.1,
    "deadline": None,
}

TRIGGERS: list[tuple[type[CassflowSensorTrigger], dict[str, Any]]] = [
    (CassandraCompactionTrigger, {"table": "events", "max_pending": 2}),
    (CassandraSchemaAgreementTrigger, {}),
    (CassandraTableTrigger, {"table": "ks.events"}),
    (CassandraRecordTrigger, {"table": "events", "keys": {"id": 7, "day": "2024-01-31"}}),
]


def first_event(trigger: CassflowSensorTrigger, timeout: float = 30) -> dict[str, Any]:
    """The trigger's one event (and that there is no second one), within ``timeout`` s."""

    async def run() -> dict[str, Any]:
        events = trigger.run()
        event = await asyncio.wait_for(anext(events), timeout)
        assert await asyncio.wait_for(anext(events, None), timeout) is None
        payload: dict[str, Any] = event.payload
        return payload

    return asyncio.run(run())


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(("cls", "own"), TRIGGERS, ids=[c.__name__ for c, _ in TRIGGERS])
def test_serialize_round_trips(cls: type[CassflowSensorTrigger], own: dict[str, Any]) -> None:
    trigger = cls(**COMMON, **own)
    classpath, kwargs = trigger.serialize()
    assert kwargs == {**COMMON, **own}
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name) is cls
    assert cls(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(("cls", "own"), TRIGGERS, ids=[c.__name__ for c, _ in TRIGGERS])
def test_connection_error_is_an_error_event(
    cls: type[CassflowSensorTrigger],
    own: dict[str, Any],
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = connection_env(
        "cf_trig", conn_type="cassflow", host="127.0.0.1", port=closed_port, schema="ks",
        login="loader", password="pw-trigger-secret-9", extra={"request_timeout": 2},
    )  # fmt: skip
    use_connections(monkeypatch, env)
    started = time.monotonic()
    event = first_event(cls(**COMMON, **own))
    assert event["status"] == "error", event
    assert event["retryable"] is True
    assert f"127.0.0.1:{closed_port}" in event["message"]
    assert "pw-trigger-secret-9" not in repr(event)
    assert time.monotonic() - started < 25


def test_triggers_fire_success_once_satisfied(
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_connections(monkeypatch, cassflow_connection("cf_trig", contact, keyspace))
    session.execute(
        f"CREATE TABLE {keyspace}.events (id int, day date, n int, PRIMARY KEY (id, day))"
    )
    session.execute(f"INSERT INTO {keyspace}.events (id, day, n) VALUES (7, '2024-01-31', 1)")

    record = first_event(
        CassandraRecordTrigger(**COMMON, table="events", keys={"id": 7, "day": "2024-01-31"})
    )
    assert record["status"] == "success", record
    assert record["polls"] == 1
    assert record["waited_for"] is None

    table = first_event(CassandraTableTrigger(**COMMON, table=f"{keyspace}.EVENTS"))
    assert table["status"] == "success", table
    assert table["details"] == {"keyspace": keyspace, "table": "events"}

    schema = first_event(CassandraSchemaAgreementTrigger(**COMMON))
    assert schema["status"] == "success", schema
    assert len(set(schema["details"]["versions"].values())) == 1

    # A limit no cluster under test exceeds: the point is the answer's shape per node.
    compaction = first_event(
        CassandraCompactionTrigger(**COMMON, table="events", max_pending=10**6)
    )
    assert compaction["status"] == "success", compaction
    assert compaction["details"]["nodes"], compaction


def test_trigger_waits_until_the_row_appears(
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_connections(monkeypatch, cassflow_connection("cf_trig", contact, keyspace))
    session.execute(f"CREATE TABLE {keyspace}.orders (id uuid PRIMARY KEY, n int)")
    order = "5f0c8e0e-6a43-4c1e-9f51-0d2b7c0a9b11"
    trigger = CassandraRecordTrigger(**COMMON, table="orders", keys={"id": order})
    # Told when the trigger has looked once (connecting may take a while on a busy machine).
    looked = threading.Event()
    check = trigger.check()

    class Look:
        def reads(self) -> list[str]:
            return check.reads()

        def __call__(self, hook: Any) -> Any:
            probe = check(hook)
            looked.set()
            return probe

    monkeypatch.setattr(trigger, "check", Look)

    async def run() -> dict[str, Any]:
        events = trigger.run()
        waiting = asyncio.ensure_future(anext(events))
        # The trigger must have looked and be waiting (not done) before the row exists; then
        # it must fire.
        assert await asyncio.to_thread(looked.wait, 15)
        assert not waiting.done()
        await asyncio.to_thread(
            session.execute, f"INSERT INTO {keyspace}.orders (id, n) VALUES ({order}, 1)"
        )
        payload: dict[str, Any] = (await asyncio.wait_for(waiting, 15)).payload
        return payload

    event = asyncio.run(run())
    assert event["status"] == "success", event
    assert event["polls"] >= 2
    assert event["waited_for"] == f"no row of {keyspace}.orders with these id yet"


def test_deadline_gives_a_timeout_event(
    contact: tuple[list[str], int], keyspace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connections(monkeypatch, cassflow_connection("cf_trig", contact, keyspace))
    trigger = CassandraTableTrigger(
        **{**COMMON, "deadline": time.time() + 1.0}, table="never_created"
    )
    event = first_event(trigger)
    assert event["status"] == "timeout", event
    assert event["polls"] >= 2
    assert f"{keyspace}.never_created does not exist yet" in event["message"]


def test_bad_arguments_are_non_retryable_error_events(
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_connections(monkeypatch, cassflow_connection("cf_trig", contact, keyspace))
    session.execute(
        f"CREATE TABLE {keyspace}.events (id int, day date, n int, PRIMARY KEY (id, day))"
    )
    partial = first_event(
        CassandraRecordTrigger(**COMMON, table="events", keys={"day": "2024-01-31"})
    )
    assert partial["status"] == "error"
    assert partial["retryable"] is False
    assert "whole partition key" in partial["message"]
    assert "missing id" in partial["message"]
    missing = first_event(CassandraRecordTrigger(**COMMON, table="nope", keys={"id": 1}))
    assert missing["status"] == "error"
    assert f"table {keyspace}.nope does not exist" in missing["message"]
    bad_name = first_event(CassandraTableTrigger(**COMMON, table="a.b.c"))
    assert bad_name["status"] == "error"
    assert "table='a.b.c'" in bad_name["message"]
