"""Loads orders with cassflow's copy engine, with settings the doctor warns about."""

from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator

from cassflow.copy import CassandraConnection, CassandraSink, CopyOptions


def load_orders() -> None:
    """Copy today's orders."""
    connection = CassandraConnection(hosts=["10.0.0.1"], keyspace="shop")
    CassandraSink(
        connection,
        "shop",
        "orders",
        max_batch_partitions=40,  # seeded: batch-too-large
    )
    CopyOptions(slice_attempts=1)  # seeded: no-retries


with DAG("orders_cassflow", start_date=datetime(2026, 1, 1), schedule="@daily"):
    PythonOperator(task_id="load", python_callable=load_orders)
