"""``cassflow rotate`` while ``cassflow copy`` loads 200,000 rows: no write lost, table exact.

The load logs in as role ``loader`` with a password from a file secret. Mid-load, ``cassflow
rotate`` sets a new password on the role and writes it to the file; then the dev server drops
the loader's connections (a fault rule), so the driver must reconnect, and authenticate again:
its auth provider reads the file anew and logs in with the new password. The copy completes
with every row written and nothing quarantined; the old password no longer logs in.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable

from commands import CASSFLOW, run_cassflow

pytestmark = [pytest.mark.devserver_only, pytest.mark.slow]

ROWS = 200_000
WAIT_SECONDS = 240.0


@pytest.fixture
def server() -> Iterator[Any]:
    from cassflow.devserver import DevServer

    with DevServer(auth=True) as dev:
        yield dev


def _cluster(server: Any, role: str, password: str) -> Cluster:
    auth = PlainTextAuthProvider(role, password)
    return Cluster([server.host], port=server.port, protocol_version=5, auth_provider=auth)


def _session(server: Any, role: str, password: str) -> Any:
    cluster = _cluster(server, role, password)
    return cluster, cluster.connect()


def _logs_in(server: Any, role: str, password: str) -> bool:
    cluster = _cluster(server, role, password)
    try:
        cluster.connect()
    except NoHostAvailable:
        return False
    finally:
        cluster.shutdown()
    return True


def _count(session: Any) -> int:
    return int(session.execute("SELECT count(*) FROM shop.t").one()[0])


def test_a_rotation_during_a_load_loses_no_write(server: Any, tmp_path: Path) -> None:
    admin_cluster, admin = _session(server, "cassandra", "cassandra")
    try:
        admin.execute(
            "CREATE KEYSPACE shop WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        admin.execute("CREATE TABLE shop.t (id int PRIMARY KEY, name text, qty int)")
        admin.execute("CREATE ROLE loader WITH PASSWORD = 'before-rotation' AND LOGIN = true")
        admin.execute("GRANT SELECT ON KEYSPACE shop TO loader")
        admin.execute("GRANT MODIFY ON KEYSPACE shop TO loader")
        secret = tmp_path / "loader.json"
        secret.write_text(json.dumps({"password": "before-rotation"}))
        secret.chmod(0o600)
        connections = tmp_path / "connections.yaml"
        auth = {"username": "loader", "password": f"${{secret:file:{secret}#password}}"}
        spec = {"hosts": [server.host], "port": server.port, "keyspace": "shop", "auth": auth}
        connections.write_text(yaml.safe_dump({"connections": {"shop": spec}}))
        data = tmp_path / "data.csv"
        with data.open("w", encoding="utf-8") as out:
            out.write("id,name,qty\n")
            out.writelines(f"{i},name {i},{i % 1000}\n" for i in range(ROWS))

        report = tmp_path / "report.json"
        load = subprocess.Popen(
            [
                CASSFLOW, "copy", str(data), "cassandra://shop/shop.t",
                "--connections", str(connections), "--state-dir", str(tmp_path / "state"),
                "--quiet", "--report", str(report), "--from-option", "chunk_rows=2000",
            ],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while _count(admin) == 0:  # the load has begun writing
                assert load.poll() is None, load.communicate()
                assert time.monotonic() < deadline, "the load wrote nothing"
                # Waiting on the load (not sleeping): an early exit ends the wait.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    load.wait(timeout=0.1)

            rotated = run_cassflow(
                ["rotate", "shop", "--connections", str(connections)], cwd=tmp_path
            )
            assert rotated.returncode == 0, rotated.stderr
            assert "role loader has a new password" in rotated.stdout
            new = json.loads(secret.read_text())["password"]
            assert new != "before-rotation"
            # Every connection of the load drops on its next write: it must log in again.
            server.faults.add({"fault": "drop_connection", "statement": "INSERT INTO", "count": 4})
            out, err = load.communicate(timeout=WAIT_SECONDS)
        finally:
            if load.poll() is None:
                load.kill()
                load.communicate()
        assert load.returncode == 0, f"{out}\n{err}"
        copied = json.loads(report.read_text())["activities"][0]["copy"]
        assert copied["rows"] == {
            "read": ROWS, "written": ROWS, "quarantined": 0, "skipped": 0,
        }  # fmt: skip
        assert _count(admin) == ROWS
        assert sum(copied["errors"].values()) >= 1  # the dropped connections were seen
        assert not _logs_in(server, "loader", "before-rotation")
        assert _logs_in(server, "loader", new)
        for text in (out, err, rotated.stdout, rotated.stderr, report.read_text()):
            assert new not in text
            assert "before-rotation" not in text
    finally:
        admin_cluster.shutdown()
