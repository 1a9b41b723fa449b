"""One copy cut into slices that run as mapped task instances over the Airflow workers.

``copy_task_group`` makes a group of three tasks: ``plan`` cuts the source into slices and
records the plan in a checkpoint table that every worker reaches (here in the keyspace of
``cassflow_default``), ``slice`` runs once per slice (a mapped task: Airflow spreads the
instances over its workers and retries a failed slice alone, resuming from the shared
checkpoints), and ``finalize`` reports the whole copy and fails unless every row is accounted
for. This DAG loads ``data/*.csv`` (one slice per file) into ``shop.orders_scaled``, then
exports the table to Parquet in ``out/orders_scaled/`` in four token-range slices.

The Airflow connection ``cassflow_default`` is the cluster, which every worker must reach
(the slices share its checkpoint table, so an embedded dev server, private to one task's
process, cannot serve). To try it on one machine, run a dev server in another terminal::

    cassflow dev --port 9042 --data ./.cassflow-dev
    export AIRFLOW_CONN_CASSFLOW_DEFAULT='{"conn_type": "cassflow", "host": "127.0.0.1",
        "port": 9042, "schema": "shop"}'
    airflow dags test cassflow_scaled_out_copy

Quarantine files are written where each slice ran (``$CASSFLOW_STATE_DIR`` of that worker);
give every worker the same shared ``state_dir`` to find them all in one place.
"""

from __future__ import annotations

from airflow.sdk import DAG

from cassflow.airflow import CqlOperator, copy_task_group

ORDERS = "cassandra://cassflow_default/shop.orders_scaled"

with DAG(
    "cassflow_scaled_out_copy",
    schedule=None,
    tags=["cassflow", "example"],
):
    create_table = CqlOperator(
        task_id="create_table",
        sql="""
            CREATE KEYSPACE IF NOT EXISTS shop
                WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
            CREATE TABLE IF NOT EXISTS shop.orders_scaled (
                customer  text,
                order_id  int,
                placed_at timestamp,
                total     decimal,
                status    text,
                PRIMARY KEY ((customer), order_id)
            );
        """,
    )
    load = copy_task_group(
        "load",
        source="data/*.csv",
        target=ORDERS,
        checkpoints_conn_id="cassflow_default",
        max_errors=10,
        verify=True,
    )
    export = copy_task_group(
        "export",
        source=ORDERS,
        target={"format": "parquet", "path": "out/orders_scaled/"},
        checkpoints_conn_id="cassflow_default",
        splits=4,
        verify=True,
    )
    create_table >> load >> export
