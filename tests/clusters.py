"""The cluster under test, for any test module: the dev server, or ``CASSFLOW_TEST_HOSTS``.

Plain functions live here rather than in conftest.py: several test folders have a conftest.py
of their own, and ``from conftest import ...`` would find whichever was imported last.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cassandra.cluster import Cluster, Session

#: ``host:port[,host:port...]`` of a real cluster to test against instead of a dev server.
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


def connect(contact: tuple[list[str], int], **kwargs: object) -> Cluster:
    """A driver Cluster with test-friendly timeouts."""
    hosts, port = contact
    return Cluster(hosts, port=port, connect_timeout=10, control_connection_timeout=10, **kwargs)  # type: ignore[arg-type]


@contextmanager
def scratch_keyspace(session: Session, prefix: str = "t") -> Iterator[str]:
    """A fresh keyspace of one replica (``<prefix>_<random>``), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    session.execute(
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    try:
        yield name
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {name}")


@contextmanager
def dev_server_session(data_dir: Path) -> Iterator[tuple[Cluster, Session]]:
    """A dev server on ``data_dir`` and a driver session to it, both closed afterwards: two in a
    row on the same directory test what survives a restart."""
    from cassflow.devserver import DevServer

    with DevServer(data_dir=data_dir) as server:
        cluster = connect(([server.host], server.port))
        try:
            yield cluster, cluster.connect()
        finally:
            cluster.shutdown()
