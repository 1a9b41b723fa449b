"""The ``cassflow`` command line in a child process, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CASSFLOW = str(Path(sys.executable).with_name("cassflow"))

#: Long enough for a slow CI machine, short enough that a hang fails the test.
COMMAND_TIMEOUT = 300


def run_cassflow(
    args: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``cassflow ARGS`` to the end; its output is captured."""
    return subprocess.run(
        [CASSFLOW, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def connection_spec(contact: tuple[list[str], int], keyspace: str) -> dict[str, Any]:
    """A pipeline connection to the cluster under test, bound to ``keyspace``."""
    hosts, port = contact
    return {"hosts": list(hosts), "port": port, "keyspace": keyspace, "request_timeout": 20}
