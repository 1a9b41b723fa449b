"""Dev server features beyond Cassandra's own behaviour: auth servers of their own, restarts on
the same data, fault rules, the command line. Skipped when CASSFLOW_TEST_HOSTS is set."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cassandra import (
    OperationTimedOut,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteTimeout,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionShutdown
from cassandra.policies import FallthroughRetryPolicy, RoundRobinPolicy

from cassflow.devserver import DevServer

pytestmark = pytest.mark.devserver_only

KEYSPACE_DDL = (
    "CREATE KEYSPACE {} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
)


def cluster_for(server: DevServer, **kwargs: object) -> Cluster:
    profile = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(),
        retry_policy=FallthroughRetryPolicy(),
        request_timeout=10,
    )
    return Cluster(  # type: ignore[arg-type]
        [server.host],
        port=server.port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=10,
        **kwargs,
    )


def test_restart_on_the_same_data_keeps_every_row(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path) as server:
        cluster = cluster_for(server)
        session = cluster.connect()
        session.execute(KEYSPACE_DDL.format("keep"))
        session.execute("CREATE TABLE keep.t (k int, c int, v text, PRIMARY KEY (k, c))")
        insert = session.prepare("INSERT INTO keep.t (k, c, v) VALUES (?, ?, ?)")
        for i in range(500):
            session.execute(insert, (i % 7, i, f"v{i}"))
        session.execute("DELETE FROM keep.t WHERE k = 0 AND c = 0")
        cluster.shutdown()
    with DevServer(data_dir=tmp_path) as server:
        cluster = cluster_for(server)
        session = cluster.connect()
        rows = list(session.execute("SELECT c, v FROM keep.t"))
        assert sorted(r.c for r in rows) == list(range(1, 500))
        assert all(r.v == f"v{r.c}" for r in rows)
        assert "t" in cluster.metadata.keyspaces["keep"].tables
        cluster.shutdown()


def test_auth_refuses_bad_passwords_and_enforces_grants() -> None:
    with DevServer(auth=True) as server:
        with pytest.raises(NoHostAvailable):
            cluster_for(server, auth_provider=PlainTextAuthProvider("cassandra", "wrong")).connect()
        admin = cluster_for(server, auth_provider=PlainTextAuthProvider("cassandra", "cassandra"))
        session = admin.connect()
        session.execute(KEYSPACE_DDL.format("shop"))
        session.execute("CREATE TABLE shop.orders (id int PRIMARY KEY, item text)")
        session.execute("CREATE ROLE loader WITH PASSWORD = 'pw1' AND LOGIN = true")

        loader = cluster_for(server, auth_provider=PlainTextAuthProvider("loader", "pw1"))
        as_loader = loader.connect()
        with pytest.raises(Unauthorized, match=r"has no MODIFY permission on <table shop\.orders>"):
            as_loader.execute("INSERT INTO shop.orders (id, item) VALUES (1, 'x')")
        session.execute("GRANT MODIFY ON TABLE shop.orders TO loader")
        as_loader.execute("INSERT INTO shop.orders (id, item) VALUES (1, 'x')")
        with pytest.raises(Unauthorized, match="SELECT"):
            as_loader.execute("SELECT * FROM shop.orders")
        session.execute("GRANT SELECT ON KEYSPACE shop TO loader")
        assert as_loader.execute("SELECT item FROM shop.orders WHERE id = 1").one().item == "x"
        session.execute("REVOKE SELECT ON KEYSPACE shop FROM loader")
        with pytest.raises(Unauthorized):
            as_loader.execute("SELECT * FROM shop.orders")
        loader.shutdown()

        session.execute("ALTER ROLE loader WITH PASSWORD = 'pw2'")
        with pytest.raises(NoHostAvailable):
            cluster_for(server, auth_provider=PlainTextAuthProvider("loader", "pw1")).connect()
        again = cluster_for(server, auth_provider=PlainTextAuthProvider("loader", "pw2"))
        again.connect().execute("INSERT INTO shop.orders (id, item) VALUES (2, 'y')")
        again.shutdown()
        roles = {r.role for r in session.execute("LIST ROLES")}
        assert {"cassandra", "loader"} <= roles
        admin.shutdown()


@pytest.fixture
def faulty() -> DevServer:
    with DevServer() as server:
        cluster = cluster_for(server)
        session = cluster.connect()
        session.execute(KEYSPACE_DDL.format("f"))
        session.execute("CREATE TABLE f.t (k int PRIMARY KEY, v int)")
        cluster.shutdown()
        yield server  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fault", "statement", "exception"),
    [
        ("write_timeout", "INSERT INTO f.t (k, v) VALUES (1, 1)", WriteTimeout),
        ("read_timeout", "SELECT * FROM f.t WHERE k = 1", ReadTimeout),
        ("unavailable", "SELECT * FROM f.t WHERE k = 1", Unavailable),
    ],
)
def test_fault_rules_surface_as_cassandra_errors(
    faulty: DevServer, fault: str, statement: str, exception: type[Exception]
) -> None:
    cluster = cluster_for(faulty)
    session = cluster.connect()
    rule = faulty.faults.add({"fault": fault, "table": "t", "count": 1})
    with pytest.raises(exception):
        session.execute(statement)
    assert faulty.faults.fired(rule) == 1
    session.execute(statement)  # the rule retired after one hit
    cluster.shutdown()


@pytest.mark.parametrize("fault", ["overloaded", "server_error"])
def test_overload_and_server_errors_fail_the_request(faulty: DevServer, fault: str) -> None:
    cluster = cluster_for(faulty)
    session = cluster.connect()
    faulty.faults.add({"fault": fault, "statement": "^SELECT", "count": 1})
    with pytest.raises(Exception, match=r"overloaded|injected fault|Server") as caught:
        session.execute("SELECT * FROM f.t")
    assert not isinstance(caught.value, OperationTimedOut)
    cluster.shutdown()


def test_latency_no_response_and_dropped_connections(faulty: DevServer) -> None:
    cluster = cluster_for(faulty)
    session = cluster.connect()
    faulty.faults.add({"fault": "latency", "delay_ms": 300, "statement": "k = 5", "count": 1})
    started = time.monotonic()
    session.execute("SELECT * FROM f.t WHERE k = 5")
    assert time.monotonic() - started >= 0.3
    faulty.faults.add({"fault": "no_response", "statement": "k = 6", "count": 1})
    with pytest.raises(OperationTimedOut):
        session.execute("SELECT * FROM f.t WHERE k = 6", timeout=0.5)
    faulty.faults.add({"fault": "drop_connection", "statement": "k = 7", "count": 1})
    with pytest.raises((ConnectionShutdown, NoHostAvailable)):
        session.execute("SELECT * FROM f.t WHERE k = 7")
    cluster.shutdown()


def test_cassflow_dev_runs_in_the_foreground_and_stops_on_sigterm(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cassflow"
    process = subprocess.Popen(
        [str(script), "dev", "--port", "0", "--data", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        address = None
        while address is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            address = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert address is not None, "no 'listening on' line"
        cluster = Cluster([address[1]], port=int(address[2]), connect_timeout=10)
        assert cluster.connect().execute("SELECT key FROM system.local").one().key == "local"
        cluster.shutdown()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_write_volume_shows_up_as_compactions_in_system_views() -> None:
    from cassflow.devserver._compaction import CompactionSimulator

    with DevServer(compaction=CompactionSimulator(flush_cells=50, seconds_per_compaction=60)) as s:
        cluster = cluster_for(s)
        session = cluster.connect()
        session.execute(KEYSPACE_DDL.format("c"))
        session.execute("CREATE TABLE c.t (k int PRIMARY KEY, v int)")
        insert = session.prepare("INSERT INTO c.t (k, v) VALUES (?, ?)")
        for i in range(500):
            session.execute(insert, (i, i))
        tasks = list(
            session.execute(
                "SELECT keyspace_name, table_name, kind FROM system_views.sstable_tasks"
            )
        )
        assert tasks
        assert {(t.keyspace_name, t.table_name, t.kind) for t in tasks} == {
            ("c", "t", "compaction")
        }
        pool = session.execute(
            "SELECT active_tasks, pending_tasks FROM system_views.thread_pools "
            "WHERE name = 'CompactionExecutor'"
        ).one()
        assert pool.active_tasks == len(tasks)
        assert pool.pending_tasks > 0
        cluster.shutdown()
