"""The password reference is resolved at each authentication: after a rotation (ALTER ROLE and a
new secret in the file) the session's next connections log in with the new password, and no
password shows in logs, reprs or errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
from pydantic import SecretStr

from cassflow.access._auth import SecretAuthProvider
from cassflow.copy._connect import CassandraConnection
from cassflow.copy._model import CopyError
from clusters import connect

FIRST = "First-Pa55word-1"
SECOND = "Second-Pa55word-2"
WRONG = "Wrong-Pa55word-3"
REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture
def secured() -> Iterator[tuple[Any, Any]]:
    """A dev server with --auth, a keyspace, and a role ``loader`` that may use it."""
    from cassflow.devserver import DevServer

    with DevServer(auth=True) as server:
        admin = connect(
            ([server.host], server.port),
            auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
        )
        session = admin.connect()
        session.execute(f"CREATE KEYSPACE shop WITH replication = {REPLICATION}")
        session.execute("CREATE TABLE shop.t (k int PRIMARY KEY)")
        session.execute(f"CREATE ROLE loader WITH PASSWORD = '{FIRST}' AND LOGIN = true")
        session.execute("GRANT SELECT ON KEYSPACE shop TO loader")
        session.execute("GRANT MODIFY ON KEYSPACE shop TO loader")
        yield server, session
        admin.shutdown()


def _renew_pools(cluster: Cluster, session: Any) -> list[bool]:
    """Replace every pool of ``session`` by new connections (each one authenticates anew), as
    the driver does when it reconnects to a node."""
    return [
        session.add_or_renew_pool(host, is_host_addition=False).result(timeout=30)
        for host in cluster.metadata.all_hosts()
    ]


@pytest.mark.devserver_only
def test_a_rotated_password_is_used_at_the_next_authentication(
    secured: tuple[Any, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, admin = secured
    secret_file = tmp_path / "loader.password"
    secret_file.write_text(FIRST + "\n")
    caplog.set_level(logging.DEBUG)
    connection = CassandraConnection(
        "shop",
        hosts=[server.host],
        port=server.port,
        keyspace="shop",
        username="loader",
        password=SecretStr(f"${{secret:file:{secret_file}}}"),
        guard=True,
    )
    with connection:
        session = connection.session()
        session.execute("INSERT INTO shop.t (k) VALUES (1)")

        # The rotation: the role's new password, and the secret backend's.
        admin.execute(f"ALTER ROLE loader WITH PASSWORD = '{SECOND}'")
        secret_file.write_text(SECOND + "\n")
        # Connections that are open stay logged in (as on Cassandra).
        session.execute("INSERT INTO shop.t (k) VALUES (2)")
        # New connections read the new secret.
        assert _renew_pools(connection.cluster, session.unguarded) == [True]
        session.execute("INSERT INTO shop.t (k) VALUES (3)")

        # A secret that does not fit fails the new connections, without showing it.
        secret_file.write_text(WRONG)
        assert _renew_pools(connection.cluster, session.unguarded) == [False]
        secret_file.write_text(SECOND)
        assert _renew_pools(connection.cluster, session.unguarded) == [True]
        rows = session.execute("SELECT k FROM shop.t")
        assert sorted(row.k for row in rows) == [1, 2, 3]
        provider = connection.cluster.auth_provider
        assert isinstance(provider, SecretAuthProvider)
        shown = " ".join(
            [repr(connection), repr(provider), repr(session), repr(provider.new_authenticator(1))]
        )
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "Bad credentials" in logged or "incorrect" in logged  # the failure was logged
    for secret in (FIRST, SECOND, WRONG):
        assert secret not in shown
        assert secret not in logged


@pytest.mark.devserver_only
def test_a_new_connection_logs_in_with_the_current_secret(
    secured: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, admin = secured
    admin.execute(f"ALTER ROLE loader WITH PASSWORD = '{SECOND}'")
    monkeypatch.setenv("LOADER_PASSWORD", SECOND)
    common: dict[str, Any] = {
        "hosts": [server.host],
        "port": server.port,
        "keyspace": "shop",
        "username": "loader",
        "password": SecretStr("${secret:env:LOADER_PASSWORD}"),
    }
    with CassandraConnection("shop", **common) as connection:
        assert connection.session().execute("SELECT count(*) FROM shop.t").one()[0] == 0

    monkeypatch.setenv("LOADER_PASSWORD", FIRST)  # the old password: refused
    with pytest.raises(CopyError) as refused:
        CassandraConnection("shop", **common).session()
    monkeypatch.delenv("LOADER_PASSWORD")
    with pytest.raises(
        CopyError, match=r"environment variable LOADER_PASSWORD is not set"
    ) as unset:
        CassandraConnection("shop", **common).session()
    for error in (refused.value, unset.value):
        text = f"{error} {error!r} {error.__cause__!r} {error.__context__!r}"
        assert "as loader" in str(error)
        assert FIRST not in text
        assert SECOND not in text
    assert "Bad credentials" in str(refused.value) or "incorrect" in str(refused.value)
