"""CassflowHook: Airflow connections read as cassflow connections, lazily, with identity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow_env import AirflowHome, airflow_connections, cassflow_connection, connection_env
from cassandra.cluster import Session

from cassflow.access._identity import TaskIdentity
from cassflow.airflow import CassflowHook, get_provider_info
from cassflow.airflow._connection import ConnectionFieldError


def test_init_does_no_network_work() -> None:
    # A connection that does not even exist: building the hook must not look it up.
    hook = CassflowHook("no_such_connection", keyspace="ks")
    assert hook.cassflow_conn_id == "no_such_connection"
    assert "no_such_connection" in repr(hook)


def test_connection_fields_become_a_bound_connection(contact: tuple[list[str], int]) -> None:
    env = cassflow_connection(
        "cf_fields", contact, "shop", local_dc="dc1", read_keyspaces="ref, other",
        consistency="LOCAL_QUORUM", request_timeout=12,
    )  # fmt: skip
    with airflow_connections(env):
        spec = CassflowHook("cf_fields").connection_spec()
        rebound = CassflowHook("cf_fields", keyspace="audit").connection_spec()
    assert spec.hosts == contact[0]
    assert spec.port == contact[1]
    assert spec.keyspace == "shop"
    assert spec.read_keyspaces == ["ref", "other"]
    assert spec.local_dc == "dc1"
    assert spec.consistency == "LOCAL_QUORUM"
    assert spec.request_timeout == 12
    assert rebound.keyspace == "audit"


def test_cassandra_provider_connections_are_read() -> None:
    env = connection_env(
        "legacy",
        conn_type="cassandra",
        host="10.0.0.1,10.0.0.2",
        port=9142,
        schema="shop",
        login="loader",
        password="pw-legacy-1",
        extra={
            "ssl_options": {"ca_certs": "/etc/ca.pem"},
            "load_balancing_policy": "DCAwareRoundRobinPolicy",
            "load_balancing_policy_args": {"local_dc": "dc2"},
            "cql_version": "3.4.6",
            "protocol_version": 4,
        },
    )
    with airflow_connections(env):
        spec = CassflowHook("legacy").connection_spec()
    assert spec.hosts == ["10.0.0.1", "10.0.0.2"]
    assert spec.port == 9142
    assert spec.tls is not None
    assert spec.tls.ca_file == "/etc/ca.pem"
    assert spec.local_dc == "dc2"
    assert spec.protocol_version == 4
    assert spec.auth is not None
    assert spec.auth.username == "loader"
    assert "pw-legacy-1" not in repr(spec)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"conn_type": "cassflow", "host": "h"}, "names no keyspace"),
        (
            {"conn_type": "cassflow", "schema": "ks", "extra": {"loacl_dc": "x"}},
            "unknown extra field(s) loacl_dc",
        ),
        (
            {"conn_type": "cassflow", "schema": "ks", "extra": {"protocol_version": 9}},
            "protocol_version",
        ),
    ],
)
def test_bad_connections_name_the_field(fields: dict[str, Any], expected: str) -> None:
    with (
        airflow_connections(connection_env("cf_bad", **fields)),
        pytest.raises(ConnectionFieldError) as caught,
    ):
        CassflowHook("cf_bad").connection_spec()
    assert "'cf_bad'" in str(caught.value)
    assert expected in str(caught.value)


def test_session_is_bound_and_carries_the_task_identity(
    contact: tuple[list[str], int], session: Session, keyspace: str
) -> None:
    identity = TaskIdentity(
        "etl", "load", "run-7", dag_id="etl", task_id="load", try_number=2, map_index=3
    )
    with airflow_connections(cassflow_connection("cf_identity", contact, keyspace)):
        hook = CassflowHook("cf_identity", identity=identity)
        try:
            bound = hook.get_session()
            bound.execute("CREATE TABLE t (k int PRIMARY KEY)")
            with pytest.raises(Exception, match="keyspace"):
                bound.execute("CREATE TABLE other_ks.t (k int PRIMARY KEY)")
            rows = list(session.execute("SELECT client_options FROM system_views.clients"))
        finally:
            hook.close()
    names = {(r[0] or {}).get("APPLICATION_NAME") for r in rows}
    versions = {(r[0] or {}).get("APPLICATION_VERSION") for r in rows}
    assert "airflow:etl/load" in names
    assert "run=run-7;try=2;map=3" in versions


def test_test_connection_reports_success_and_failure(
    contact: tuple[list[str], int], keyspace: str
) -> None:
    env = cassflow_connection("cf_ok", contact, keyspace)
    env.update(
        connection_env(
            "cf_down", conn_type="cassflow", host="127.0.0.1", port=1, schema="ks",
            login="u", password="pw-never-shown-42", extra={"request_timeout": 2},
        )
    )  # fmt: skip
    with airflow_connections(env):
        ok, message = CassflowHook("cf_ok").test_connection()
        failed, why = CassflowHook("cf_down").test_connection()
    assert ok, message
    assert f"keyspace {keyspace}" in message
    assert not failed
    assert "127.0.0.1" in why
    assert "pw-never-shown-42" not in why


def test_provider_is_discovered(airflow_home: AirflowHome) -> None:
    providers = airflow_home.airflow("providers", "list", "--output", "json")
    assert providers.returncode == 0, providers.stdout[-3000:]
    assert any(p["package_name"] == "cassflow" for p in _json_list(providers.stdout))
    hooks = airflow_home.airflow("providers", "hooks", "--output", "json")
    entries = _json_list(hooks.stdout)
    ours = [h for h in entries if h.get("connection_type") == "cassflow"]
    assert ours, hooks.stdout[-3000:]
    assert ours[0]["class"] == "cassflow.airflow._hook.CassflowHook"


def test_provider_info_declares_the_connection_form() -> None:
    info = get_provider_info()
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "cassflow"
    assert conn_type["ui-field-behaviour"]["relabeling"]["schema"] == "Keyspace"
    assert {"local_dc", "ca_file", "dynamic_credentials"} <= set(conn_type["conn-fields"])
    assert CassflowHook.get_ui_field_behaviour() == conn_type["ui-field-behaviour"]


def _json_list(text: str) -> list[dict[str, Any]]:
    """The JSON array an ``airflow ... --output json`` command printed (after any log lines)."""
    start = text.index("[")
    data: list[dict[str, Any]] = json.loads(text[start : text.rindex("]") + 1])
    return data


def test_connections_of_a_pipeline_file(tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "name: p\nconnections:\n  shop: {keyspace: shop}\n"
        "  remote: {hosts: [10.1.1.1], port: 9142, keyspace: sales}\n"
        "activities:\n  - name: ddl\n    cql: {connection: shop, statements: ['SELECT 1']}\n",
        encoding="utf-8",
    )
    shop = CassflowHook("shop", pipeline_file=pipeline, state_dir=tmp_path / "state")
    remote = CassflowHook("remote", pipeline_file=pipeline, keyspace="other")
    assert shop.connection_spec().data_dir == str(tmp_path / "state" / "dev" / "shop")
    assert remote.connection_spec().hosts == ["10.1.1.1"]
    assert remote.connection_spec().keyspace == "other"
    with pytest.raises(ConnectionFieldError, match=r"no connection called 'nope'.*remote, shop"):
        CassflowHook("nope", pipeline_file=pipeline).connection_spec()
