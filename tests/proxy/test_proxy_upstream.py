"""The proxy's upstream pool: backpressure, lost connections, reconnection, credentials from the
secrets chain. Faults and an authenticating node need dev servers of their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cassandra import OperationTimedOut
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.protocol import OverloadedErrorMessage, ServerError

from cassflow.devserver import DevServer
from cassflow.proxy._server import ProxyRequest, ProxyServer
from cassflow.proxy._upstream import UpstreamConfig, UpstreamHost

PASSWORD = "client-token"


def _authenticate(username: str, password: str) -> str:
    if password != PASSWORD:
        raise ValueError("Bad credentials")
    return username


def _allow(identity: Any, request: ProxyRequest) -> str | None:
    return None


def _proxy(server: DevServer, **config: Any) -> ProxyServer:
    upstream = UpstreamConfig(hosts=[UpstreamHost(server.host, server.port)], **config)
    proxy = ProxyServer("127.0.0.1", 0, upstream, _authenticate, _allow)
    proxy.start()
    return proxy


def _session(proxy: ProxyServer) -> tuple[Cluster, Session]:
    cluster = Cluster(
        ["127.0.0.1"],
        port=proxy.port,
        auth_provider=PlainTextAuthProvider("carol", PASSWORD),
        connect_timeout=10,
        control_connection_timeout=10,
    )
    return cluster, cluster.connect()


@pytest.fixture
def dev() -> Iterator[DevServer]:
    with DevServer() as server:
        yield server


def test_requests_wait_for_a_free_upstream_stream(contact: tuple[list[str], int]) -> None:
    hosts, port = contact
    upstream = UpstreamConfig(
        hosts=[UpstreamHost(host, port) for host in hosts],
        connections_per_key=1,
        max_streams_per_connection=1,
    )
    proxy = ProxyServer("127.0.0.1", 0, upstream, _authenticate, _allow)
    proxy.start()
    cluster, session = _session(proxy)
    try:
        select = session.prepare("SELECT release_version FROM system.local WHERE key = ?")
        results = execute_concurrent_with_args(session, select, [("local",)] * 64, 64)
        assert all(ok and result.one().release_version for ok, result in results)
        assert len(proxy.pool.connections) == 1  # one stream, one connection: all waited
    finally:
        cluster.shutdown()
        proxy.stop()


@pytest.mark.devserver_only
def test_a_full_upstream_answers_overloaded_after_the_bounded_wait(dev: DevServer) -> None:
    proxy = _proxy(dev, connections_per_key=1, max_streams_per_connection=1, acquire_timeout=0.3)
    cluster, session = _session(proxy)
    try:
        dev.faults.add({"fault": "no_response", "statement": "hang_here"})
        hanging = session.execute_async("SELECT * FROM system.local /* hang_here */", timeout=5)
        with pytest.raises(NoHostAvailable) as refused:
            session.execute("SELECT * FROM system.local")
        [error] = refused.value.errors.values()
        assert isinstance(error, OverloadedErrorMessage)
        assert "every upstream stream is busy" in str(error)
        with pytest.raises(OperationTimedOut):
            hanging.result()
    finally:
        cluster.shutdown()
        proxy.stop()


@pytest.mark.devserver_only
def test_a_lost_upstream_connection_answers_overloaded_then_reconnects(dev: DevServer) -> None:
    proxy = _proxy(dev)
    cluster, session = _session(proxy)
    try:
        assert session.execute("SELECT release_version FROM system.local").one()
        before = set(proxy.pool.connections)
        dev.faults.add({"fault": "drop_connection", "statement": "drop_here", "count": 1})
        with pytest.raises(NoHostAvailable) as refused:
            session.execute("SELECT * FROM system.local /* drop_here */")
        [error] = refused.value.errors.values()
        assert isinstance(error, OverloadedErrorMessage)
        assert "lost before the answer" in str(error)
        # The client's own connection survived; the pool opens a new upstream connection.
        assert session.execute("SELECT * FROM system.local /* drop_here */").one()
        assert set(proxy.pool.connections) - before
    finally:
        cluster.shutdown()
        proxy.stop()


@pytest.mark.devserver_only
def test_upstream_credentials_are_resolved_at_each_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("P4_UPSTREAM_PASSWORD", "cassandra")
    with DevServer(auth=True) as server:
        proxy = _proxy(server, username="cassandra", password="${secret:env:P4_UPSTREAM_PASSWORD}")
        cluster, session = _session(proxy)
        try:
            assert session.execute("SELECT release_version FROM system.local").one()
            monkeypatch.setenv("P4_UPSTREAM_PASSWORD", "rotated-but-wrong")
            proxy.close_upstream_connections()
            with pytest.raises(NoHostAvailable) as refused:
                session.execute("SELECT release_version FROM system.local")
            [error] = refused.value.errors.values()
            assert isinstance(error, ServerError)
            assert "refused the proxy's login" in str(error)
            assert "rotated-but-wrong" not in str(refused.value)
            monkeypatch.setenv("P4_UPSTREAM_PASSWORD", "cassandra")
            assert session.execute("SELECT release_version FROM system.local").one()
        finally:
            cluster.shutdown()
            proxy.stop()
