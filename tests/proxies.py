"""The cluster under test as a proxy's upstream, for the proxy's tests."""

from __future__ import annotations

import os

from cassflow.proxy._upstream import UpstreamConfig, UpstreamHost


def upstream_of(contact: tuple[list[str], int]) -> UpstreamConfig:
    """The cluster under test (the dev server, or CASSFLOW_TEST_HOSTS with the credentials in
    CASSFLOW_TEST_USERNAME / CASSFLOW_TEST_PASSWORD) as an upstream."""
    hosts, port = contact
    return UpstreamConfig(
        hosts=[UpstreamHost(host, port) for host in hosts],
        username=os.environ.get("CASSFLOW_TEST_USERNAME"),
        password=os.environ.get("CASSFLOW_TEST_PASSWORD"),
    )
