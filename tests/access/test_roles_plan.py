"""Least-privilege role planning: the permissions each statement and each pipeline connection
needs, and plans applied to (and compared with) a dev server with --auth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy

from cassflow.access._grants import Grant, GrantsError, script_grants, statement_grants
from cassflow.access._pipeline_grants import activity_grants, pipeline_grants
from cassflow.access._roles_plan import apply_plan, diff_plan, plan_roles
from cassflow.cql import parse_statement
from cassflow.devserver import DevServer
from cassflow.pipeline import load_pipeline

PIPELINE = """\
name: orders_daily
connections:
  shop:
    keyspace: shop
    auth: {username: loader, password: "${secret:env:SHOP_PASSWORD}"}
  archive:
    keyspace: archive
    read_keyspaces: [shop]
datasets:
  orders_csv: {format: csv, path: data/orders/*.csv}
  orders:     {connection: shop, table: orders}
  old_orders: {connection: archive, table: orders}
  customers:  {connection: archive, keyspace: shop, table: customers}
  orders_out: {format: parquet, path: out/}
activities:
  - name: load_orders
    copy: {from: orders_csv, to: orders, schema_drift: add_columns}
  - name: archive
    after: [load_orders]
    copy: {from: orders, to: old_orders, verify: true}
  - name: export_customers
    copy: {from: customers, to: orders_out}
  - name: tidy
    cql:
      connection: shop
      file: tidy.cql
checkpoints: {connection: shop, table: checkpoints}
"""

TIDY = """\
-- runs after the load
DELETE FROM orders WHERE id = 0;
USE stats;
UPDATE daily SET n = 1 WHERE day = '2026-01-01' IF EXISTS;
"""

EXPECTED = {
    "loader": [
        "CREATE ROLE IF NOT EXISTS loader WITH LOGIN = true",
        "GRANT MODIFY ON TABLE shop.orders TO loader",
        "GRANT ALTER ON TABLE shop.orders TO loader",
        "GRANT SELECT ON TABLE shop.orders TO loader",
        "GRANT MODIFY ON TABLE stats.daily TO loader",
        "GRANT SELECT ON TABLE stats.daily TO loader",
        "GRANT SELECT ON TABLE shop.checkpoints TO loader",
        "GRANT MODIFY ON TABLE shop.checkpoints TO loader",
        "GRANT CREATE ON KEYSPACE shop TO loader",
    ],
    "orders_daily_archive": [
        "CREATE ROLE IF NOT EXISTS orders_daily_archive WITH LOGIN = true",
        "GRANT MODIFY ON TABLE archive.orders TO orders_daily_archive",
        "GRANT SELECT ON TABLE archive.orders TO orders_daily_archive",
        "GRANT SELECT ON TABLE shop.customers TO orders_daily_archive",
    ],
}


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    (tmp_path / "tidy.cql").write_text(TIDY)
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE)
    return path


def test_plan_of_a_sample_pipeline_is_exactly_the_expected_statements(
    pipeline_file: Path,
) -> None:
    spec = load_pipeline(pipeline_file)
    plans = plan_roles(spec.model_dump(by_alias=True), base_dir=pipeline_file.parent)
    assert {plan.role: plan.statements() for plan in plans} == EXPECTED
    assert [plan.connections for plan in plans] == [("shop",), ("archive",)]


def test_grants_of_one_activity(pipeline_file: Path) -> None:
    spec = load_pipeline(pipeline_file).model_dump(by_alias=True)
    grants = pipeline_grants(spec, base_dir=pipeline_file.parent, activities=["archive"])
    assert {c: [str(g) for g in gs] for c, gs in grants.items()} == {
        "shop": [
            "SELECT ON TABLE shop.orders",
            "SELECT ON TABLE shop.checkpoints",
            "MODIFY ON TABLE shop.checkpoints",
            "CREATE ON KEYSPACE shop",
        ],
        "archive": ["MODIFY ON TABLE archive.orders", "SELECT ON TABLE archive.orders"],
    }
    with pytest.raises(GrantsError, match="no activity 'nope'"):
        pipeline_grants(spec, activities=["nope"])
    lease_grants = activity_grants(spec, "archive", connection="archive")
    assert [str(g) for g in lease_grants] == grants_text(grants["archive"])
    assert len(activity_grants(spec, "archive", base_dir=pipeline_file.parent)) == 6
    with pytest.raises(GrantsError, match="no connection called 'x'"):
        activity_grants(spec, "archive", connection="x")


def grants_text(grants: list[Grant]) -> list[str]:
    return [str(g) for g in grants]


def test_an_activity_without_cassandra_work_has_nothing_to_issue() -> None:
    pipeline = {
        "name": "p",
        "connections": {"c": {"keyspace": "k"}},
        "datasets": {"a": {"format": "csv"}, "b": {"format": "parquet"}},
        "activities": [{"name": "files", "copy": {"from": "a", "to": "b"}}],
    }
    with pytest.raises(GrantsError, match="activity 'files' needs no Cassandra permissions"):
        activity_grants(pipeline, "files")
    assert plan_roles(pipeline) == []


def test_a_dynamic_connection_plans_a_broker(tmp_path: Path) -> None:
    pipeline = {
        "name": "p",
        "connections": {"shop": {"keyspace": "shop", "auth": {"username": "b", "dynamic": True}}},
        "datasets": {"t": {"connection": "shop", "table": "t"}, "f": {"format": "csv"}},
        "activities": [{"name": "a", "copy": {"from": "f", "to": "t"}}],
    }
    (plan,) = plan_roles(pipeline)
    assert plan.statements() == [
        "CREATE ROLE IF NOT EXISTS b WITH LOGIN = true",
        "GRANT CREATE ON ALL ROLES TO b",
        "GRANT MODIFY ON TABLE shop.t TO b",
        "GRANT AUTHORIZE ON TABLE shop.t TO b",
        "GRANT CREATE ON KEYSPACE shop TO b",
        "GRANT SELECT ON TABLE shop.cassflow_leases TO b",
        "GRANT MODIFY ON TABLE shop.cassflow_leases TO b",
    ]


@pytest.mark.parametrize(
    ("cql", "expected"),
    [
        ("SELECT * FROM t", ["SELECT ON TABLE ks.t"]),
        ('SELECT * FROM "Other"."T"', ['SELECT ON TABLE "Other"."T"']),
        ("INSERT INTO o.t (k) VALUES (1)", ["MODIFY ON TABLE o.t"]),
        (
            "INSERT INTO t (k) VALUES (1) IF NOT EXISTS",
            ["MODIFY ON TABLE ks.t", "SELECT ON TABLE ks.t"],
        ),
        ("UPDATE t SET v = 1 WHERE k = 1", ["MODIFY ON TABLE ks.t"]),
        ("DELETE FROM t WHERE k = 1 IF v = 2", ["MODIFY ON TABLE ks.t", "SELECT ON TABLE ks.t"]),
        ("TRUNCATE t", ["MODIFY ON TABLE ks.t"]),
        (
            "BEGIN BATCH INSERT INTO a (k) VALUES (1); DELETE FROM b.c WHERE k = 1; APPLY BATCH",
            ["MODIFY ON TABLE ks.a", "MODIFY ON TABLE b.c"],
        ),
        (
            "CREATE KEYSPACE n WITH replication = {'class': 'SimpleStrategy', "
            "'replication_factor': 1}",
            ["CREATE ON ALL KEYSPACES"],
        ),
        ("ALTER KEYSPACE n WITH durable_writes = false", ["ALTER ON KEYSPACE n"]),
        ("DROP KEYSPACE n", ["DROP ON KEYSPACE n"]),
        ("CREATE TABLE t (k int PRIMARY KEY)", ["CREATE ON KEYSPACE ks"]),
        ("ALTER TABLE t ADD v text", ["ALTER ON TABLE ks.t"]),
        ("DROP TABLE IF EXISTS x.t", ["DROP ON TABLE x.t"]),
        ("CREATE INDEX ON t (v)", ["ALTER ON TABLE ks.t"]),
        ("DROP INDEX x.i", ["ALTER ON KEYSPACE x"]),
        ("CREATE TYPE a (f int)", ["CREATE ON KEYSPACE ks"]),
        (
            "CREATE MATERIALIZED VIEW v AS SELECT * FROM b WHERE k IS NOT NULL "
            "AND c IS NOT NULL PRIMARY KEY (c, k)",
            ["ALTER ON TABLE ks.b"],
        ),
        (
            "CREATE OR REPLACE FUNCTION f (a int) CALLED ON NULL INPUT RETURNS int "
            "LANGUAGE java AS 'return a;'",
            ["CREATE ON ALL FUNCTIONS IN KEYSPACE ks", "ALTER ON ALL FUNCTIONS IN KEYSPACE ks"],
        ),
        ("CREATE ROLE r WITH LOGIN = true", ["CREATE ON ALL ROLES"]),
        ("DROP ROLE r", ["DROP ON ROLE r"]),
        ("GRANT r TO s", ["AUTHORIZE ON ROLE r"]),
        (
            "GRANT MODIFY ON TABLE t TO r",
            ["AUTHORIZE ON TABLE ks.t", "MODIFY ON TABLE ks.t"],
        ),
        ("LIST ROLES", ["DESCRIBE ON ALL ROLES"]),
        ("LIST ALL PERMISSIONS OF r", []),
        ("ALTER MATERIALIZED VIEW x.v WITH comment = 'c'", ["ALTER ON KEYSPACE x"]),
        ("DESCRIBE TABLES", []),
    ],
)
def test_statement_grants_follow_cassandras_permission_table(cql: str, expected: list[str]) -> None:
    assert [str(g) for g in statement_grants(parse_statement(cql), "ks")] == expected


def test_scripts_follow_use_and_refuse_what_cannot_be_granted() -> None:
    grants = script_grants("SELECT * FROM a; USE other; SELECT * FROM b; SELECT * FROM a", "ks")
    assert [str(g) for g in grants] == [
        "SELECT ON TABLE ks.a",
        "SELECT ON TABLE other.b",
        "SELECT ON TABLE other.a",
    ]
    with pytest.raises(GrantsError, match=r"job.cql: statement 1: .*without a keyspace"):
        script_grants("SELECT * FROM a", None, origin="job.cql")
    with pytest.raises(GrantsError, match="only a superuser"):
        script_grants("CREATE TRIGGER tr ON ks.t USING 'x'", "ks")
    with pytest.raises(GrantsError, match=r"^job.cql: "):
        script_grants("SELEKT 1", "ks", origin="job.cql")


@pytest.fixture(scope="module")
def admin() -> Iterator[Session]:
    with DevServer(auth=True) as server:
        cluster = Cluster(
            [server.host],
            port=server.port,
            auth_provider=PlainTextAuthProvider("cassandra", "cassandra"),
            protocol_version=5,
            execution_profiles={
                EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
            },
        )
        session = cluster.connect()
        for keyspace in ("shop", "archive", "stats"):
            session.execute(
                f"CREATE KEYSPACE {keyspace} WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
        for table in ("shop.orders", "shop.customers", "archive.orders", "stats.daily"):
            session.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        yield session
        cluster.shutdown()


@pytest.mark.devserver_only
def test_apply_twice_is_idempotent_and_diff_sees_hand_made_changes(
    admin: Session, pipeline_file: Path
) -> None:
    spec = load_pipeline(pipeline_file)
    plans = plan_roles(spec.model_dump(by_alias=True), base_dir=pipeline_file.parent)
    assert all(not d.exists for d in diff_plan(admin, plans))
    first = apply_plan(admin, plans)
    listed = sorted(tuple(r) for r in admin.execute("LIST ALL PERMISSIONS"))
    second = apply_plan(admin, plans)
    assert first == second == [s for p in plans for s in p.statements()]
    assert sorted(tuple(r) for r in admin.execute("LIST ALL PERMISSIONS")) == listed
    assert not any(d.differs for d in diff_plan(admin, plans))

    admin.execute("GRANT DROP ON TABLE shop.orders TO loader")
    admin.execute("REVOKE SELECT ON TABLE shop.customers FROM orders_daily_archive")
    loader, archive = diff_plan(admin, plans)
    assert loader.extra == (("<table shop.orders>", "DROP"),)
    assert not loader.missing
    assert [str(g) for g in archive.missing] == ["SELECT ON TABLE shop.customers"]
    assert loader.lines() == ["loader: extra DROP ON <table shop.orders>"]
    apply_plan(admin, plans)
    admin.execute("REVOKE DROP ON TABLE shop.orders FROM loader")
    assert not any(d.differs for d in diff_plan(admin, plans))
