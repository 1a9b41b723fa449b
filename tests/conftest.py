"""Fixtures for driver-level tests (dev server, copy engine): the dev server, or a real Cassandra.

With ``CASSFLOW_TEST_HOSTS=host:port[,host:port...]`` the tests run against that cluster
instead of an embedded dev server, so every test here must hold for real Cassandra 4.1/5.0.
Tests of dev-server-only features (fault rules, restarts, ``--auth`` servers of their own)
are marked ``devserver_only`` and skipped there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from cassandra.cluster import Cluster, Session

TEST_HOSTS = os.environ.get("CASSFLOW_TEST_HOSTS", "").strip()


def parse_hosts(spec: str) -> tuple[list[str], int]:
    """``h1:p,h2:p`` -> (["h1", "h2"], p); the driver takes one port for all contact points."""
    hosts, ports = [], set()
    for item in spec.split(","):
        host, _, port = item.strip().rpartition(":")
        hosts.append(host or item.strip())
        ports.add(int(port) if host else 9042)
    if len(ports) != 1:
        raise pytest.UsageError("CASSFLOW_TEST_HOSTS must use one port for every host")
    return hosts, ports.pop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not TEST_HOSTS:
        return
    skip = pytest.mark.skip(reason="tests a dev server feature; CASSFLOW_TEST_HOSTS is set")
    for item in items:
        if "devserver_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def contact() -> Iterator[tuple[list[str], int]]:
    """Contact points and port of the cluster under test."""
    if TEST_HOSTS:
        yield parse_hosts(TEST_HOSTS)
        return
    from cassflow.devserver import DevServer

    with DevServer() as server:
        yield [server.host], server.port


def connect(contact: tuple[list[str], int], **kwargs: object) -> Cluster:
    """A driver Cluster with test-friendly timeouts."""
    hosts, port = contact
    return Cluster(hosts, port=port, connect_timeout=10, control_connection_timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def cluster(contact: tuple[list[str], int]) -> Iterator[Cluster]:
    """One driver Cluster for the session, default settings."""
    cluster = connect(contact)
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="session")
def session(cluster: Cluster) -> Session:
    """A driver session."""
    return cluster.connect()


@pytest.fixture
def keyspace(session: Session) -> Iterator[str]:
    """A fresh keyspace of one replica, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    session.execute(
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    yield name
    session.execute(f"DROP KEYSPACE IF EXISTS {name}")
