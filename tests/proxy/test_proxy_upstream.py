"""The proxy's upstream pool: backpressure, lost connections, reconnection, failover, TLS,
credentials from the secrets chain. Faults and an authenticating node need dev servers of
their own; TLS goes through a TLS relay in front of the node under test."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra import OperationTimedOut
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.protocol import OverloadedErrorMessage, ServerError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_host_fails_over_to_the_next(contact: tuple[list[str], int]) -> None:
    hosts, port = contact
    dead = UpstreamHost("127.0.0.1", _free_port())
    upstream = UpstreamConfig(hosts=[dead, *(UpstreamHost(h, port) for h in hosts)])
    proxy = ProxyServer("127.0.0.1", 0, upstream, _authenticate, _allow)
    proxy.start()
    cluster, session = _session(proxy)
    try:
        assert session.execute("SELECT release_version FROM system.local").one()
        assert {c.host for c in proxy.pool.connections} <= set(upstream.hosts[1:])
    finally:
        cluster.shutdown()
        proxy.stop()


class _TlsRelay:
    """A TLS endpoint in front of a plain node (the dev server speaks no TLS)."""

    def __init__(self, context: ssl.SSLContext, target: tuple[str, int]) -> None:
        self.context = context
        self.target = target
        self.accepted = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self.context)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        node_reader, node_writer = await asyncio.open_connection(*self.target)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(1 << 16):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, node_writer), pipe(node_reader, writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_upstream(contact: tuple[list[str], int], tmp_path: Path) -> None:
    hosts, port = contact
    cert, key = _certificate(tmp_path, "node.cassandra.test")
    other_ca, _ = _certificate(tmp_path, "other.test")
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    relay = _TlsRelay(served, (hosts[0], port))
    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        upstream = UpstreamConfig(
            hosts=[UpstreamHost("127.0.0.1", relay.port)],
            ssl_context=trusting,
            server_hostname="node.cassandra.test",
        )
        proxy = ProxyServer("127.0.0.1", 0, upstream, _authenticate, _allow)
        proxy.start()
        cluster, session = _session(proxy)
        try:
            assert session.execute("SELECT release_version FROM system.local").one()
            assert relay.accepted >= 2  # the version probe, then the pool's connection
        finally:
            cluster.shutdown()
            proxy.stop()
        untrusting = ssl.create_default_context(cafile=str(other_ca))
        refused = ProxyServer(
            "127.0.0.1",
            0,
            UpstreamConfig(
                hosts=[UpstreamHost("127.0.0.1", relay.port)],
                ssl_context=untrusting,
                server_hostname="node.cassandra.test",
            ),
            _authenticate,
            _allow,
        )
        with pytest.raises(ConnectionError, match="certificate verify failed"):
            refused.start()
    finally:
        relay.close()
