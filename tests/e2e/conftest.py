"""End-to-end fixtures: connection files for the cluster under test.

The tests here run the real command line (``cassflow run`` / ``cassflow copy``) in a child
process against the session's dev server, or against ``CASSFLOW_TEST_HOSTS``: the same
pipelines then run against real Cassandra.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from commands import connection_spec


@pytest.fixture
def connections_file(
    contact: tuple[list[str], int], keyspace: str, tmp_path: Path
) -> Callable[..., Path]:
    """Writes a ``--connections`` file whose connection ``db`` is bound to the test keyspace."""

    def write(**extra: Any) -> Path:
        path = tmp_path / "connections.yaml"
        spec = {**connection_spec(contact, keyspace), **extra}
        path.write_text(yaml.safe_dump({"connections": {"db": spec}}), encoding="utf-8")
        return path

    return write
