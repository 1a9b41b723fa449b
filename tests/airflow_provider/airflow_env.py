"""A throwaway Airflow installation for the provider's tests: its home, database, DAG runs.

Plain functions and classes live here rather than in conftest.py (see tests/clusters.py).
:class:`AirflowHome` is one ``AIRFLOW_HOME`` with a migrated SQLite metadata database;
:meth:`AirflowHome.dags_test` runs ``airflow dags test`` (real Airflow, every task of one DAG
run, deferred tasks' triggers inline, retries honoured) in a subprocess, with Airflow
connections given as ``AIRFLOW_CONN_*`` variables, and returns what it printed and the run's
final state.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
_FINISHED = re.compile(r"DagRun Finished: dag_id=(\S+?), .*?\bstate=(\w+)")


@dataclass(frozen=True)
class DagRunResult:
    """What ``airflow dags test`` did."""

    returncode: int
    output: str
    #: The DAG run's final state (success, failed), None if the run never finished.
    state: str | None

    def check(self) -> DagRunResult:
        """Fail the test (with the output's tail) unless the run succeeded."""
        assert self.returncode == 0, self.output[-8000:]
        assert self.state == "success", self.output[-8000:]
        return self


@contextmanager
def airflow_connections(env: dict[str, str]) -> Iterator[None]:
    """Airflow connections from ``AIRFLOW_CONN_*`` variables, for the block (in this process)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def use_connections(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Airflow connections from ``AIRFLOW_CONN_*`` variables, for the test (in this process)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def connection_env(conn_id: str, **fields: Any) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` holding an Airflow connection as JSON (``extra`` a dict)."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(fields)}


def cassflow_connection(
    conn_id: str, contact: tuple[list[str], int], keyspace: str, **extra: Any
) -> dict[str, str]:
    """A ``cassflow`` connection to the cluster under test, bound to ``keyspace``."""
    hosts, port = contact
    fields: dict[str, Any] = {
        "conn_type": "cassflow",
        "host": ",".join(hosts),
        "port": port,
        "schema": keyspace,
    }
    if extra:
        fields["extra"] = extra
    return connection_env(conn_id, **fields)


class AirflowHome:
    """One AIRFLOW_HOME with its metadata database migrated."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dags = path / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        self.logs = path / "logs"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of an Airflow command run here."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_CTX_"))
        }
        env.update(
            {
                "AIRFLOW_HOME": str(self.path),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs),
                "CASSFLOW_STATE_DIR": str(self.path / "cassflow"),
            }
        )
        env.update(extra or {})
        return env

    def airflow(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow ARGS`` here; stdout and stderr together in ``.stdout``."""
        return subprocess.run(
            [AIRFLOW, *args],
            env=self.env(env),
            cwd=self.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    def migrate(self) -> None:
        """Create the metadata database."""
        done = self.airflow("db", "migrate")
        assert done.returncode == 0, done.stdout[-4000:]

    def dags_test(
        self,
        dag_id: str,
        *,
        env: dict[str, str] | None = None,
        conf: dict[str, Any] | None = None,
        timeout: float = 600,
    ) -> DagRunResult:
        """``airflow dags test DAG_ID`` on the DAG files in :attr:`dags`."""
        args = ["dags", "test", dag_id]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        done = self.airflow(*args, env=env, timeout=timeout)
        states = [m[2] for m in _FINISHED.finditer(done.stdout) if m[1] == dag_id]
        return DagRunResult(done.returncode, done.stdout, states[-1] if states else None)

    def log_text(self) -> str:
        """Every task log file written under this home, concatenated."""
        if not self.logs.exists():
            return ""
        return "\n".join(
            p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(self.logs.rglob("*"))
            if p.is_file()
        )
