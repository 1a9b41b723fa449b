"""Fixtures for driver-level tests (dev server, copy engine): the dev server, or a real Cassandra.

With ``CASSFLOW_TEST_HOSTS=host:port[,host:port...]`` the tests run against that cluster
instead of an embedded dev server, so every test here must hold for real Cassandra 4.1/5.0.
Tests of dev-server-only features (fault rules, restarts, ``--auth`` servers of their own)
are marked ``devserver_only`` and skipped there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cassandra.cluster import Cluster, Session

from clusters import TEST_HOSTS, connect, parse_hosts, scratch_keyspace


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
    with scratch_keyspace(session) as name:
        yield name
