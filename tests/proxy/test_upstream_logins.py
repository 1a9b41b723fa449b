"""Upstream logins per policy rule: a rule that names a login sends the requests it allows on
connections logged in as that Cassandra role, so Cassandra's own permissions apply as well.

A dev server with authentication of its own: the proxy logs in as the superuser by default and
as a read-only role for the analysts' rule, whose policy would allow writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cassandra import Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, Session
from cryptography.hazmat.primitives import serialization

from cassflow.proxy._config import load_proxy_config
from cassflow.proxy._keys import generate_key, issue_token
from cassflow.proxy._policy import PolicyError
from cassflow.proxy._reload import PolicyFile
from cassflow.proxy._run import RunningProxy, build_proxy, logins_check

pytestmark = pytest.mark.devserver_only  # roles and grants of a server of our own

ISSUER = "https://id.example.test"
AUDIENCE = "cassflow-proxy"
READER_PASSWORD = "reader-Pw-7"  # the role's password: must not reach any output


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from cassflow.devserver import DevServer

    with DevServer(auth=True) as dev:
        yield dev


def _session(host: str, port: int, username: str, password: str) -> tuple[Cluster, Session]:
    cluster = Cluster(
        [host],
        port=port,
        auth_provider=PlainTextAuthProvider(username, password),
        connect_timeout=10,
    )
    return cluster, cluster.connect()


@pytest.fixture(scope="module")
def superuser(server: Any) -> Iterator[Session]:
    cluster, session = _session(server.host, server.port, "cassandra", "cassandra")
    session.execute(
        "CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', "
        "'replication_factor': 1}"
    )
    session.execute("CREATE TABLE shop.orders (id int PRIMARY KEY, v text)")
    session.execute("INSERT INTO shop.orders (id, v) VALUES (1, 'one')")
    session.execute(f"CREATE ROLE reader WITH PASSWORD = '{READER_PASSWORD}' AND LOGIN = true")
    session.execute("GRANT SELECT ON TABLE shop.orders TO reader")
    try:
        yield session
    finally:
        cluster.shutdown()


def _policy(login: str) -> dict[str, Any]:
    allow = [{"keyspace": "shop", "tables": ["orders"], "verbs": ["SELECT", "MODIFY"]}]
    return {
        "version": 1,
        "rules": [
            {"name": "analysts", "match": {"groups": ["analysts"]}, "allow": allow,
             "login": login},
            {"name": "loader", "match": {"subjects": ["loader"]}, "allow": allow},
        ],
    }  # fmt: skip


@pytest.fixture
def proxy(
    server: Any, superuser: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningProxy, Any, Path]]:
    monkeypatch.setenv("CASSFLOW_TEST_PROXY_PW", "cassandra")
    monkeypatch.setenv("CASSFLOW_TEST_READER_PW", READER_PASSWORD)
    key = generate_key("ec")
    (tmp_path / "public.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(_policy("readonly")))
    config = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "upstream": {
            "hosts": [f"{server.host}:{server.port}"],
            "username": "cassandra",
            "password": "${secret:env:CASSFLOW_TEST_PROXY_PW}",
            "logins": {
                "readonly": {
                    "username": "reader",
                    "password": "${secret:env:CASSFLOW_TEST_READER_PW}",
                }
            },
        },
        "tokens": {"issuer": ISSUER, "audience": AUDIENCE, "public_keys": ["public.pem"]},
        "policy": "policy.yaml",
        "audit": "audit.jsonl",
    }
    (tmp_path / "proxy.yaml").write_text(yaml.safe_dump(config))
    running = build_proxy(load_proxy_config(tmp_path / "proxy.yaml"))
    try:
        yield running, key, tmp_path
    finally:
        running.close()


def _via(running: RunningProxy, key: Any, subject: str, groups: list[str]) -> Cluster:
    token = issue_token(
        key, subject=subject, issuer=ISSUER, audience=AUDIENCE, ttl=600, groups=groups
    )
    return Cluster(
        ["127.0.0.1"],
        port=running.server.port,
        auth_provider=PlainTextAuthProvider("token", token),
        connect_timeout=10,
    )


def test_a_rules_login_is_the_role_its_requests_run_as(
    proxy: tuple[RunningProxy, Any, Path], superuser: Session
) -> None:
    running, key, work = proxy
    analyst = _via(running, key, "ann", ["analysts"])
    loader = _via(running, key, "loader", [])
    try:
        ann = analyst.connect()
        assert ann.execute("SELECT v FROM shop.orders WHERE id = 1").one().v == "one"
        # The policy allows the write; the role the analysts' rule logs in as may not.
        with pytest.raises(Unauthorized) as refused:
            ann.execute("INSERT INTO shop.orders (id, v) VALUES (2, 'by ann')")
        assert "reader" in str(refused.value)
        assert "cassflow proxy" not in str(refused.value)  # the node's refusal, not the gate's
        # The loader's rule names no login: the proxy's own, which may write.
        loader.connect().execute("INSERT INTO shop.orders (id, v) VALUES (3, 'by loader')")
    finally:
        analyst.shutdown()
        loader.shutdown()
    rows = {row.id: row.v for row in superuser.execute("SELECT id, v FROM shop.orders")}
    assert rows == {1: "one", 3: "by loader"}
    roles = {
        row.username
        for row in superuser.execute("SELECT username FROM system_views.clients")
        if row.username is not None
    }
    assert {"reader", "cassandra"} <= roles
    for path in work.rglob("*"):
        if path.is_file():
            assert READER_PASSWORD.encode() not in path.read_bytes(), path


def test_a_policy_naming_a_login_the_proxy_lacks_is_refused(
    proxy: tuple[RunningProxy, Any, Path],
) -> None:
    running, _key, work = proxy
    policy_path = work / "policy.yaml"
    # Loaded that way, it fails to start, naming the rule and the login.
    bad = work / "bad-policy.yaml"
    bad.write_text(yaml.safe_dump(_policy("nosuch")))
    with pytest.raises(PolicyError, match=r"rule analysts names login 'nosuch'.*readonly"):
        PolicyFile(bad, validate=logins_check({"readonly"}))
    # Reloaded, it is refused and the policy in force stays.
    watched = running.policy
    before = watched.generation
    policy_path.write_text(yaml.safe_dump(_policy("nosuch")))  # another size: seen at once
    assert watched.check() is False
    assert watched.error is not None
    assert "names login 'nosuch'" in watched.error
    assert watched.generation == before
    assert watched.policy.spec.rules[0].login == "readonly"
