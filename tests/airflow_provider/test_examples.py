"""The example DAGs of examples/airflow/ run as shipped, with ``airflow dags test``."""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from airflow_env import AirflowHome, cassflow_connection, connection_env
from cassandra.cluster import Session

from cassflow.pipeline._build import Connections
from cassflow.pipeline._spec import ConnectionSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "airflow"
_STARTED = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")


@pytest.fixture
def example_folder(dag_folder: Path) -> Iterator[Path]:
    """The DAG folder with the examples' data beside their DAG files (removed afterwards)."""
    shutil.copytree(EXAMPLES / "data", dag_folder / "data")
    yield dag_folder
    for name in ("data", "out"):
        shutil.rmtree(dag_folder / name, ignore_errors=True)


def _csv_keys() -> set[tuple[str, int]]:
    """(customer, order_id) of every record of the examples' CSV files."""
    keys: set[tuple[str, int]] = set()
    for path in sorted((EXAMPLES / "data").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            keys.update((row["customer"], int(row["order_id"])) for row in csv.DictReader(handle))
    return keys


def _parquet_keys(folder: Path) -> list[tuple[str, int]]:
    table = ds.dataset(folder, format="parquet").to_table(columns=["customer", "order_id"])
    return sorted(zip(table["customer"].to_pylist(), table["order_id"].to_pylist(), strict=True))


def test_load_compact_export_on_an_embedded_dev_server(
    airflow_home: AirflowHome, example_folder: Path, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLES / "load_compact_export.py", example_folder)
    state = tmp_path / "state"
    env = connection_env("cassflow_default", conn_type="cassflow", schema="shop")
    env["CASSFLOW_STATE_DIR"] = str(state)
    result = airflow_home.dags_test("cassflow_load_compact_export", env=env).check()

    assert [task for task, _ in _STARTED.findall(result.output)] == [
        "create_table",
        "load_orders",
        "settle",
        "export_orders",
    ]
    expected = _csv_keys()
    assert len(expected) == 60
    # The embedded dev server kept the table in the state directory between the tasks.
    spec = ConnectionSpec(keyspace="shop", data_dir=str(state / "dev" / "cassflow_default"))
    connections = Connections({"dev": spec}, state_dir=state)
    try:
        session = connections.get("dev").session()
        rows = [(r.customer, r.order_id) for r in session.execute("SELECT * FROM shop.orders")]
    finally:
        connections.close()
    assert sorted(rows) == sorted(expected)
    assert _parquet_keys(example_folder / "out" / "orders") == sorted(expected)


def test_scaled_out_copy_on_a_cluster(
    airflow_home: AirflowHome,
    example_folder: Path,
    tmp_path: Path,
    contact: tuple[list[str], int],
    session: Session,
) -> None:
    shutil.copy(EXAMPLES / "scaled_out_copy.py", example_folder)
    had_shop = session.cluster.metadata.keyspaces.get("shop") is not None
    session.execute("DROP TABLE IF EXISTS shop.orders_scaled")
    env = cassflow_connection("cassflow_default", contact, "shop")
    env["CASSFLOW_STATE_DIR"] = str(tmp_path / "state")
    try:
        result = airflow_home.dags_test("cassflow_scaled_out_copy", env=env).check()
        rows = [
            (r.customer, r.order_id) for r in session.execute("SELECT * FROM shop.orders_scaled")
        ]
    finally:
        if not had_shop:
            session.execute("DROP KEYSPACE IF EXISTS shop")

    started = _STARTED.findall(result.output)
    # One mapped instance per CSV file, then one per token range of the export.
    assert sorted(i for t, i in started if t == "load.slice") == ["0", "1"]
    assert sorted(i for t, i in started if t == "export.slice") == ["0", "1", "2", "3"]
    assert [t for t, _ in started if not t.endswith(".slice")] == [
        "create_table",
        "load.plan",
        "load.finalize",
        "export.plan",
        "export.finalize",
    ]
    expected = sorted(_csv_keys())
    assert sorted(rows) == expected
    assert _parquet_keys(example_folder / "out" / "orders_scaled") == expected
