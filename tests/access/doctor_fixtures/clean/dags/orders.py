"""Loads orders the way the doctor likes it.

Connection strings such as postgresql://etl:example@warehouse/dw in a docstring are
documentation, not credentials.
"""

from datetime import datetime

from airflow import DAG
from airflow.models import Connection
from airflow.operators.python import PythonOperator
from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from ray.cluster_utils import Cluster

from cassflow.copy import CassandraConnection, CassandraSink, CopyOptions
from cassflow.pipeline import PipelineRunner, load_pipeline

SHOP = Connection(
    conn_id="shop",
    conn_type="cassandra",
    login="loader",
    password="{{ var.value.shop_password }}",
    extra={"password_file": "/run/secrets/shop", "token_range_start": 4611686018427387904},
)


def run_pipeline() -> None:
    """Run the pipeline file; its connections are bound to keyspaces."""
    PipelineRunner(load_pipeline("pipelines/orders.yaml")).run()


def load_orders(session: object, rows: list[tuple[int, float]]) -> None:
    """Write the rows concurrently with a prepared statement."""
    insert = session.prepare("INSERT INTO orders (id, total) VALUES (?, ?)")
    insert.consistency_level = ConsistencyLevel.LOCAL_QUORUM
    execute_concurrent_with_args(session, insert, rows, concurrency=64)
    for row in session.execute("SELECT id FROM orders WHERE day = %s", ("2026-01-01",)):
        print(row.id)
    connection = CassandraConnection(hosts=["10.0.0.1"], keyspace="shop", start_token=-1)
    # Rows are 30 bytes here, so 150 of them stay under 5 KiB:
    CassandraSink(connection, "shop", "events", batch_size=150)  # doctor: ignore[batch-too-large]
    CopyOptions(slice_attempts=6, max_errors=10)
    Cluster(initialize_head=True)


with DAG("orders", start_date=datetime(2026, 1, 1), schedule="@daily"):
    PythonOperator(task_id="run", python_callable=run_pipeline)
