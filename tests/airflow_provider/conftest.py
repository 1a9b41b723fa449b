"""Fixtures of the Airflow provider's tests: a migrated Airflow home per test session.

``AIRFLOW_HOME`` is set here, before any test imports Airflow (Airflow reads its
configuration once, at import), so in-process tests (hook, triggers) and the ``airflow``
subprocesses share one home and its database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_env import AirflowHome

_HOME = Path(tempfile.mkdtemp(prefix="cassflow-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
os.environ["CASSFLOW_STATE_DIR"] = str(_HOME / "cassflow")


@pytest.fixture(scope="session")
def airflow_home() -> AirflowHome:
    """The test session's Airflow home, its database migrated."""
    home = AirflowHome(_HOME)
    home.migrate()
    return home


@pytest.fixture
def dag_folder(airflow_home: AirflowHome) -> Iterator[Path]:
    """The DAG folder, emptied after the test (each test writes the DAG files it runs)."""
    yield airflow_home.dags
    for path in airflow_home.dags.iterdir():
        if path.is_file():
            path.unlink()
