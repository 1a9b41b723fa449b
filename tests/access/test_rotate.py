"""Password rotation against a dev server with authentication: single and alternating roles."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from pydantic import SecretStr

from cassflow.access._rotate import RotationError, rotate
from cassflow.access._secret_writers import SecretLocation

pytestmark = pytest.mark.devserver_only  # roles and passwords of a server of our own


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from cassflow.devserver import DevServer

    with DevServer(auth=True) as dev:
        yield dev


def _login(server: Any) -> Any:
    @contextmanager
    def login(role: str, password: SecretStr) -> Iterator[Any]:
        cluster = Cluster(
            [server.host],
            port=server.port,
            protocol_version=5,
            auth_provider=PlainTextAuthProvider(role, password.get_secret_value()),
            connect_timeout=10,
        )
        try:
            yield cluster.connect()
        finally:
            cluster.shutdown()

    return login


@pytest.fixture(scope="module")
def superuser(server: Any) -> Iterator[Any]:
    with _login(server)("cassandra", SecretStr("cassandra")) as session:
        yield session


def _can_login(server: Any, role: str, password: str) -> bool:
    try:
        with _login(server)(role, SecretStr(password)) as session:
            session.execute("SELECT release_version FROM system.local")
    except NoHostAvailable:
        return False
    return True


def test_single_mode_sets_stores_and_proves_a_new_password(
    server: Any, superuser: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    superuser.execute("CREATE ROLE loader1 WITH PASSWORD = 'first-Pw-1' AND LOGIN = true")
    secret = tmp_path / "loader.json"
    secret.write_text(json.dumps({"username": "loader1", "password": "first-Pw-1"}))
    secret.chmod(0o640)
    caplog.set_level(logging.DEBUG)

    result = rotate(
        username=f"${{secret:file:{secret}#username}}",
        password=f"${{secret:file:{secret}#password}}",
        login=_login(server),
    )

    stored = json.loads(secret.read_text())
    new = stored["password"]
    assert stored["username"] == "loader1"
    assert new != "first-Pw-1"
    assert len(new) >= 40
    assert stat.S_IMODE(secret.stat().st_mode) == 0o640  # the file keeps its permissions
    assert (result.role, result.previous_role, result.mode) == ("loader1", "loader1", "single")
    assert result.location == f"${{secret:file:{secret}#password}}"
    assert not _can_login(server, "loader1", "first-Pw-1")
    assert _can_login(server, "loader1", new)
    assert new not in caplog.text
    assert new not in repr(result)


def test_alternating_mode_switches_roles_and_the_old_one_keeps_working(
    server: Any, superuser: Any, tmp_path: Path
) -> None:
    for role in ("shop_a", "shop_b"):
        superuser.execute(f"CREATE ROLE {role} WITH PASSWORD = 'pw-{role}' AND LOGIN = true")
    secret = tmp_path / "shop.json"
    secret.write_text(json.dumps({"username": "shop_a", "password": "pw-shop_a"}))
    refs = {
        "username": f"${{secret:file:{secret}#username}}",
        "password": f"${{secret:file:{secret}#password}}",
    }

    @contextmanager
    def broker() -> Iterator[Any]:
        yield superuser

    first = rotate(
        **refs, login=_login(server), broker=broker(), alternate_roles=["shop_a", "shop_b"]
    )
    stored = json.loads(secret.read_text())
    assert (first.role, first.previous_role, first.mode) == ("shop_b", "shop_a", "alternate")
    assert stored["username"] == "shop_b"
    assert _can_login(server, "shop_b", stored["password"])
    assert _can_login(server, "shop_a", "pw-shop_a")  # the overlap: the old role still works

    second = rotate(
        **refs, login=_login(server), broker=broker(), alternate_roles=["shop_a", "shop_b"]
    )
    again = json.loads(secret.read_text())
    assert (second.role, second.previous_role) == ("shop_a", "shop_b")
    assert again["username"] == "shop_a"
    assert _can_login(server, "shop_a", again["password"])
    assert not _can_login(server, "shop_a", "pw-shop_a")
    assert _can_login(server, "shop_b", stored["password"])


def test_a_secret_that_cannot_be_written_sets_the_old_password_back(
    server: Any, superuser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    superuser.execute("CREATE ROLE loader2 WITH PASSWORD = 'second-Pw-2' AND LOGIN = true")
    monkeypatch.setenv("LOADER2_PASSWORD", "second-Pw-2")
    with pytest.raises(RotationError, match="could not be stored, so the old one was set back"):
        rotate(username="loader2", password="${secret:env:LOADER2_PASSWORD}", login=_login(server))
    assert _can_login(server, "loader2", "second-Pw-2")


def test_what_cannot_be_rotated_is_refused_before_any_change(server: Any, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="a plain value cannot be rotated"):
        rotate(username="loader1", password="plain-text", login=_login(server))
    with pytest.raises(RotationError, match="needs a broker"):
        rotate(
            username="${secret:file:/x#username}",
            password="${secret:file:/x#password}",
            login=_login(server),
            alternate_roles=["a", "b"],
        )
    assert str(SecretLocation.parse("${secret:file:/run/s.json#password}")) == (
        "${secret:file:/run/s.json#password}"
    )


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from openbao import running_openbao

    with running_openbao(tmp_path_factory.mktemp("bao")) as running:
        yield running


def test_a_vault_secret_gets_a_new_version_with_the_new_password(
    server: Any, superuser: Any, bao: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    superuser.execute("CREATE ROLE loader3 WITH PASSWORD = 'third-Pw-3' AND LOGIN = true")
    kv = bao.client.secrets.kv.v2
    kv.create_or_update_secret(
        path="shop/loader3",
        secret={"password": "third-Pw-3", "note": "kept"},
        mount_point="secret",
    )

    result = rotate(
        username="loader3",
        password="${secret:vault:secret/shop/loader3#password}",
        login=_login(server),
    )

    latest = kv.read_secret_version(
        path="shop/loader3", mount_point="secret", raise_on_deleted_version=True
    )["data"]
    assert latest["metadata"]["version"] == 2
    assert latest["data"]["note"] == "kept"  # only the password field changed
    new = latest["data"]["password"]
    assert new != "third-Pw-3"
    assert result.location == "${secret:vault:secret/shop/loader3#password}"
    assert _can_login(server, "loader3", new)
    assert not _can_login(server, "loader3", "third-Pw-3")


def test_the_command_names_what_it_cannot_rotate(tmp_path: Path) -> None:
    from commands import run_cassflow

    connections = tmp_path / "connections.yaml"
    connections.write_text(
        "connections:\n"
        "  open: {hosts: [127.0.0.1], keyspace: shop}\n"
        "  embedded: {keyspace: shop, auth: {username: u, password: '${secret:env:X}'}}\n"
    )
    for name, expected in (
        ("open", "connection open has no username and password to rotate"),
        ("embedded", "connection embedded has no hosts"),
        ("nope", "no connection called 'nope' (known: embedded, open)"),
    ):
        result = run_cassflow(["rotate", name, "--connections", str(connections)], cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr
