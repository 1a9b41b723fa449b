"""``cassflow creds`` and ``cassflow roles`` against a dev server with --auth."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cassandra import AuthenticationFailed
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import RoundRobinPolicy
from typer.testing import CliRunner

from cassflow.cli import app
from cassflow.devserver import DevServer

pytestmark = pytest.mark.devserver_only

ADMIN_PASSWORD_ENV = "CF_TEST_ADMIN_PASSWORD"
BROKER_SECRET = "Br0ker-s3cret-Value-4711"


def _cluster(server: DevServer, user: str, password: str) -> Cluster:
    return Cluster(
        [server.host],
        port=server.port,
        auth_provider=PlainTextAuthProvider(user, password),
        protocol_version=5,
        connect_timeout=10,
        control_connection_timeout=10,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
        },
    )


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with DevServer(auth=True) as dev:
        cluster = _cluster(dev, "cassandra", "cassandra")
        session = cluster.connect()
        session.execute(
            "CREATE KEYSPACE shop WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        for table in ("src", "snk"):
            session.execute(f"CREATE TABLE shop.{table} (k int PRIMARY KEY, v text)")
        session.execute(
            f"CREATE ROLE broker WITH PASSWORD = '{BROKER_SECRET}' AND LOGIN = true "
            "AND SUPERUSER = true"
        )
        cluster.shutdown()
        yield dev


@pytest.fixture
def files(server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, BROKER_SECRET)
    monkeypatch.chdir(tmp_path)
    admin = {
        "hosts": [server.host],
        "port": server.port,
        "keyspace": "shop",
        "auth": {"username": "broker", "password": f"${{secret:env:{ADMIN_PASSWORD_ENV}}}"},
    }
    (tmp_path / "conns.yaml").write_text(yaml.safe_dump({"connections": {"admin": admin}}))
    pipeline = {
        "name": "orders",
        "connections": {
            "shop": {
                "hosts": [server.host],
                "port": server.port,
                "keyspace": "shop",
                "auth": {"username": "cli_loader"},
            }
        },
        "datasets": {
            "src": {"connection": "shop", "table": "src"},
            "snk": {"connection": "shop", "table": "snk"},
        },
        "activities": [{"name": "move", "copy": {"from": "src", "to": "snk"}}],
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    # The broker's password (resolved from the environment) is never echoed, whatever happens.
    assert BROKER_SECRET not in result.output
    return result.exit_code, result.output


BROKER = ("--broker", "admin", "--connections", "conns.yaml")


def _logs_in(server: DevServer, role: str, password: str) -> bool:
    """Whether the role logs in (and writes its sink); False only on a refused login."""
    cluster = _cluster(server, role, password)
    try:
        cluster.connect().execute("INSERT INTO shop.snk (k, v) VALUES (1, 'x')")
    except NoHostAvailable as exc:
        errors = list(exc.errors.values())
        if errors and all(isinstance(e, AuthenticationFailed) for e in errors):
            return False
        raise
    finally:
        cluster.shutdown()
    return True


def test_issue_to_a_password_file_then_revoke(server: DevServer, files: Path) -> None:
    code, out = _run(
        "creds", "issue", *BROKER, "--pipeline", "pipeline.yaml", "--activity", "move",
        "--ttl", "30m", "--password-file", "lease.pw", "--json",
    )  # fmt: skip
    assert code == 0, out
    lease = json.loads(out)
    assert lease["grants"] == ["SELECT ON TABLE shop.src", "MODIFY ON TABLE shop.snk"]
    assert lease["identity"] == "orders.move"
    assert "password" not in lease
    path = files / "lease.pw"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 40
    assert password not in out
    assert _logs_in(server, lease["role"], password)

    code, out = _run("creds", "revoke", *BROKER, lease["role"])
    assert (code, out.strip()) == (0, f"revoked {lease['role']}")
    assert not _logs_in(server, lease["role"], password)
    code, out = _run("creds", "revoke", *BROKER, lease["role"])
    assert code == 0
    assert "no lease called" in out


def test_the_password_is_printed_only_when_asked(server: DevServer, files: Path) -> None:
    issue = ("creds", "issue", *BROKER, "--pipeline", "pipeline.yaml", "--activity", "move")
    code, out = _run(*issue)
    assert code == 2
    assert "--password-file or --show-password" in out
    code, out = _run(*issue, "--show-password", "--ttl", "0s")
    assert code == 0, out
    role = out.split()[1]
    password = out.split("password: ", 1)[1].strip()
    assert _logs_in(server, role, password)
    code, out = _run("creds", "list", *BROKER)
    assert code == 0
    assert f"{role}  " in out
    assert "expired  orders.move" in out
    code, out = _run("creds", "reap", *BROKER)
    assert code == 0
    assert f"reaped {role}" in out
    assert password not in out
    assert not _logs_in(server, role, password)


def test_roles_plan_apply_diff(server: DevServer, files: Path) -> None:
    code, out = _run("roles", "plan", "pipeline.yaml")
    assert code == 0
    assert out.splitlines() == [
        "-- role cli_loader (connections: shop)",
        "CREATE ROLE IF NOT EXISTS cli_loader WITH LOGIN = true;",
        "GRANT SELECT ON TABLE shop.src TO cli_loader;",
        "GRANT MODIFY ON TABLE shop.snk TO cli_loader;",
    ]
    code, out = _run("roles", "diff", "pipeline.yaml", *BROKER)
    assert code == 1
    assert "cli_loader: role does not exist" in out
    for _ in range(2):
        code, out = _run("roles", "apply", "pipeline.yaml", *BROKER)
        assert code == 0
        assert "applied 3 statement(s) for 1 role(s)" in out
    code, out = _run("roles", "diff", "pipeline.yaml", *BROKER)
    assert (code, out.strip()) == (0, "1 role(s) match the plan")

    cluster = _cluster(server, "cassandra", "cassandra")
    cluster.connect().execute("GRANT SELECT ON KEYSPACE shop TO cli_loader")
    cluster.shutdown()
    code, out = _run("roles", "diff", "pipeline.yaml", *BROKER)
    assert code == 1
    assert out.strip() == "cli_loader: extra SELECT ON <keyspace shop>"


def test_errors_name_what_is_wrong_and_never_the_password(
    files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = _run("creds", "reap", "--broker", "nope", "--connections", "conns.yaml")
    assert code == 2
    assert "no connection called 'nope'" in out
    assert "admin" in out
    code, out = _run(
        "creds", "issue", *BROKER, "--pipeline", "pipeline.yaml", "--activity", "absent",
        "--show-password",
    )  # fmt: skip
    assert code == 2
    assert "no activity 'absent'" in out
    code, out = _run("roles", "plan", "missing.yaml")
    assert code == 2
    assert "missing.yaml" in out
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "Wr0ng-s3cret-Value")
    code, out = _run("creds", "reap", *BROKER)
    assert code == 2
    assert "cannot connect" in out
    assert "as broker" in out
    assert "Wr0ng-s3cret-Value" not in out
