"""``auth: {dynamic: true}``: each activity logs in as a role issued for it alone, dropped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster

from cassflow.pipeline import PipelineRunner, PipelineSpec

pytestmark = pytest.mark.devserver_only  # a server with authentication of our own


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from cassflow.devserver import DevServer

    with DevServer(auth=True) as dev:
        yield dev


@pytest.fixture(scope="module")
def admin(server: Any) -> Iterator[Any]:
    cluster = Cluster(
        [server.host],
        port=server.port,
        protocol_version=5,
        auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
    )
    session = cluster.connect()
    session.execute(
        "CREATE KEYSPACE shop WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute("CREATE TABLE shop.src (id int PRIMARY KEY, v text)")
    session.execute("CREATE TABLE shop.dst (id int PRIMARY KEY, v text)")
    session.execute("CREATE TABLE shop.secret (id int PRIMARY KEY, v text)")
    for i in range(40):
        session.execute("INSERT INTO shop.src (id, v) VALUES (%s, %s)", (i, f"v{i}"))
    yield session
    cluster.shutdown()


def _roles(admin: Any) -> set[str]:
    return {row.role for row in admin.execute("LIST ROLES")}


def _spec(server: Any, activities: list[dict[str, Any]]) -> PipelineSpec:
    broker = {"username": "cassandra", "password": "${secret:env:BROKER_PW}", "dynamic": True}
    return PipelineSpec.model_validate(
        {
            "name": "dyn",
            "connections": {
                "shop": {
                    "hosts": [server.host],
                    "port": server.port,
                    "keyspace": "shop",
                    "auth": {**broker, "lease_ttl": "10m"},
                }
            },
            "datasets": {
                "src": {"connection": "shop", "table": "src"},
                "dst": {"connection": "shop", "table": "dst"},
                "secret": {"connection": "shop", "table": "secret"},
                "out": {"format": "jsonl", "path": "out/"},
            },
            "activities": activities,
        }
    )


def test_each_activity_gets_a_role_of_its_own_with_only_its_grants(
    server: Any, admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_PW", "cassandra")
    before = _roles(admin)
    spec = _spec(
        server,
        # Worker processes log in with the activity's lease too.
        [{"name": "copy", "copy": {"from": "src", "to": "dst", "verify": True, "processes": 2}}],
    )
    report = PipelineRunner(spec, base_dir=tmp_path, state_dir=tmp_path / "state").run()
    (copy,) = report.activities
    assert copy.status == "done", copy.message
    assert copy.report is not None
    assert copy.report.counts.written == 40
    copied = sorted(tuple(r) for r in admin.execute("SELECT id, v FROM shop.dst"))
    assert copied == [(i, f"v{i}") for i in range(40)]
    # Every lease role was dropped when its activity ended, and its record with it.
    assert _roles(admin) == before
    assert list(admin.execute("SELECT role FROM shop.cassflow_leases")) == []


def test_a_lease_holds_exactly_its_activitys_grants(
    server: Any, admin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_PW", "cassandra")
    # A cql activity that reads shop.src is granted SELECT on it; its statement that writes
    # shop.secret is not planned (it is not in the activity), so the server refuses it.
    spec = _spec(
        server,
        [
            {
                "name": "reader",
                "cql": {"connection": "shop", "statements": ["SELECT * FROM shop.src"]},
            },
            {"name": "load", "copy": {"from": "src", "to": "dst"}},
        ],
    )
    runner = PipelineRunner(spec, base_dir=tmp_path, state_dir=tmp_path / "state")
    report = runner.run()
    assert [a.status for a in report.activities] == ["done", "done"]

    from cassflow.pipeline._build import Connections
    from cassflow.pipeline._dynamic import ActivityConnections

    shared = Connections(dict(spec.connections), state_dir=tmp_path / "state")
    try:
        leased = ActivityConnections(shared, spec, "reader", tmp_path)
        session = leased.get("shop").session()
        assert len(list(session.execute("SELECT * FROM shop.src"))) == 40
        with pytest.raises(Exception, match=r"(?i)unauthorized|permission"):
            session.execute("INSERT INTO shop.src (id, v) VALUES (99, 'x')")
        with pytest.raises(Exception, match=r"(?i)unauthorized|permission"):
            session.execute("SELECT * FROM shop.secret")
        role = leased.specs["shop"].auth.username  # type: ignore[union-attr]
        assert role in _roles(admin)
        leased.close()
        assert role not in _roles(admin)
    finally:
        shared.close()


def test_dynamic_credentials_need_a_cluster_and_a_broker() -> None:
    with pytest.raises(ValueError, match=r"auth\.dynamic needs a cluster with authentication"):
        PipelineSpec.model_validate(
            {
                "name": "p",
                "connections": {
                    "dev": {
                        "keyspace": "k",
                        "auth": {"username": "u", "password": "p", "dynamic": True},
                    }
                },
                "activities": [],
            }
        )
