"""Loads orders into Cassandra by hand: each problem the doctor knows, seeded once.

Every line the doctor must report ends in a ``seeded:`` comment naming the rule(s).
"""

import ssl
from datetime import datetime

from airflow import DAG
from airflow.models import Connection
from airflow.operators.python import PythonOperator
from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster

WAREHOUSE = "postgresql://etl:pg-s3cr3t-url@warehouse:5432/dw"  # seeded: plaintext-credential
SHOP = Connection(
    conn_id="shop",
    conn_type="cassandra",
    login="loader",
    password="conn-s3cr3t-kwarg",  # seeded: plaintext-credential
)


def load_orders(rows: list[dict[str, object]]) -> None:
    """Write each order with its own request."""
    context = ssl.create_default_context()
    context.check_hostname = False  # seeded: insecure-tls
    auth = PlainTextAuthProvider("loader", "provider-s3cr3t")  # seeded: plaintext-credential
    cluster = Cluster(  # seeded: hand-built-cluster
        ["10.0.0.1"], auth_provider=auth, ssl_context=context
    )
    session = cluster.connect()  # seeded: no-keyspace
    insert = session.prepare("INSERT INTO shop.orders (id, total) VALUES (?, ?)")
    insert.consistency_level = ConsistencyLevel.ANY  # seeded: consistency-any
    for row in rows:
        session.execute(insert, (row["id"], row["total"]))  # seeded: per-row-execute
    day = rows[0]["day"]
    session.execute(f"DELETE FROM shop.daily WHERE day = '{day}'")  # seeded: cql-string-formatting


with DAG("orders_by_hand", start_date=datetime(2026, 1, 1), schedule="@daily"):
    PythonOperator(task_id="load", python_callable=load_orders, op_args=[[]])
