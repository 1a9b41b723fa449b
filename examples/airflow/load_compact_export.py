"""Load CSV files into Cassandra, wait for compactions to settle, export the table to Parquet.

Four tasks, each carrying its Airflow identity on every Cassandra session it opens:

* ``create_table``: CqlOperator runs the schema (parsed and checked by the keyspace guard first);
* ``load_orders``: CassandraCopyOperator loads ``data/*.csv`` (beside this file) into
  ``shop.orders``, checkpointed (a retry resumes), bad records quarantined, verified after;
* ``settle``: CassandraCompactionSensor waits, deferred to the triggerer, until no compaction
  is pending or running on the table;
* ``export_orders``: CassandraCopyOperator writes the table to Parquet files in ``out/orders/``
  (beside this file), verified.

The Airflow connection ``cassflow_default`` is the cluster. Without a host it is an embedded
dev server (its data in ``$CASSFLOW_STATE_DIR/dev/cassflow_default``), so this runs anywhere::

    export AIRFLOW_CONN_CASSFLOW_DEFAULT='{"conn_type": "cassflow", "schema": "shop"}'
    airflow dags test cassflow_load_compact_export
"""

from __future__ import annotations

from airflow.sdk import DAG

from cassflow.airflow import CassandraCompactionSensor, CassandraCopyOperator, CqlOperator

ORDERS = "cassandra://cassflow_default/shop.orders"

with DAG(
    "cassflow_load_compact_export",
    schedule=None,
    tags=["cassflow", "example"],
    default_args={"retries": 2},
    # An embedded dev server is started by each task on the same data: one task at a time.
    max_active_tasks=1,
    max_active_runs=1,
):
    create_table = CqlOperator(
        task_id="create_table",
        sql="""
            CREATE KEYSPACE IF NOT EXISTS shop
                WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
            CREATE TABLE IF NOT EXISTS shop.orders (
                customer  text,
                order_id  int,
                placed_at timestamp,
                total     decimal,
                status    text,
                PRIMARY KEY ((customer), order_id)
            ) WITH CLUSTERING ORDER BY (order_id DESC);
        """,
    )
    load_orders = CassandraCopyOperator(
        task_id="load_orders",
        source="data/*.csv",
        target=ORDERS,
        max_errors=10,
        verify=True,
    )
    settle = CassandraCompactionSensor(
        task_id="settle",
        table="orders",
        max_pending=0,
        deferrable=True,
        poke_interval=10,
        timeout=30 * 60,
    )
    export_orders = CassandraCopyOperator(
        task_id="export_orders",
        source=ORDERS,
        target={"format": "parquet", "path": "out/orders/"},
        verify=True,
    )
    create_table >> load_orders >> settle >> export_orders
