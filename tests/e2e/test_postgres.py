"""PostgreSQL -> Cassandra -> PostgreSQL, exact, with the password from ``${secret:env:...}``.

A real PostgreSQL (Debian's binaries, see tests/pg.py) holds a table of many column types;
``cassflow run`` copies it into a Cassandra table and from there into a PostgreSQL table of
the same definition. Both PostgreSQL tables must hold the same values, and the password
must not appear in anything cassflow printed or wrote.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from cassandra.cluster import Session

from commands import connection_spec, run_cassflow
from pg import PostgresServer, postgres_server

UTC = datetime.UTC

PG_TABLE = """
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    total numeric(12, 3),
    ratio double precision,
    paid boolean,
    day date,
    placed_at timestamptz,
    at_time time,
    ref uuid,
    payload bytea,
    tags text[],
    small smallint,
    span interval
)
"""

CQL_TABLE = """
CREATE TABLE {ks}.orders (
    id bigint PRIMARY KEY, customer text, total decimal, ratio double, paid boolean, day date,
    placed_at timestamp, at_time time, ref uuid, payload blob, tags list<text>, small smallint,
    span duration
)
"""


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(1, 2001):
        rows.append(
            {
                "id": i * 7 - 5000,  # negative keys and gaps: key ranges must still cover all
                "customer": f'c{i % 37:03d} "q", {"ü" * (i % 3)}\n',
                "total": Decimal(i) / Decimal(8) if i % 11 else None,
                "ratio": i / 3.0,
                "paid": i % 2 == 0,
                "day": datetime.date(1960, 1, 1) + datetime.timedelta(days=i * 13),
                "placed_at": datetime.datetime(1969, 12, 31, 23, tzinfo=UTC)
                + datetime.timedelta(milliseconds=i * 999_983),
                "at_time": datetime.time(i % 24, i % 60, i % 60, (i * 1000) % 1_000_000),
                "ref": uuid.UUID(int=i * 2**100 + i),
                "payload": bytes([i % 256, 0, 255]) * (i % 4),
                "tags": [f"t{i % 5}", "x"] if i % 3 else None,
                "small": (i % 65536) - 32768,
                "span": datetime.timedelta(days=i % 40, seconds=i, microseconds=i % 1000 * 1000),
            }
        )
    return rows


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL for this module."""
    with postgres_server() as server:
        yield server


def _select(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(_rows()[0])  # by name: the created table orders its columns its own way
    with engine.connect() as connection:
        result = connection.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY id"))
        return [tuple(r) for r in result]


def test_postgres_to_cassandra_to_postgres_is_exact(
    postgres: PostgresServer,
    session: Session,
    keyspace: str,
    contact: tuple[list[str], int],
    tmp_path: Path,
) -> None:
    engine = sa.create_engine(postgres.url())
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS orders, orders_back"))
            connection.execute(sa.text(PG_TABLE))
            connection.execute(sa.text(PG_TABLE.replace("orders", "orders_back")))
            connection.execute(sa.insert(sa.table("orders", *map(sa.column, _rows()[0]))), _rows())
        session.execute(CQL_TABLE.format(ks=keyspace))
        url = postgres.url(password="${secret:env:PG_PASSWORD}")
        spec = {
            "name": "pg_roundtrip",
            "connections": {"db": connection_spec(contact, keyspace)},
            "datasets": {
                "pg_orders": {"url": url, "table": "orders", "chunk_rows": 300},
                "orders": {"connection": "db", "table": "orders"},
                "pg_back": {"url": url, "table": "orders_back", "create": False},
            },
            "activities": [
                {"name": "to_cassandra", "copy": {"from": "pg_orders", "to": "orders"}},
                {
                    "name": "back",
                    "after": ["to_cassandra"],
                    "copy": {"from": "orders", "to": "pg_back", "verify": True},
                },
            ],
        }
        (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
        result = run_cassflow(
            ["run", "pipeline.yaml", "--report", "report.json", "--quiet"],
            cwd=tmp_path,
            env={"PG_PASSWORD": postgres.password},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads((tmp_path / "report.json").read_text())
        for activity in report["activities"]:
            assert activity["copy"]["rows"]["written"] == 2000, activity
        assert report["activities"][1]["copy"]["verification"]["ok"] is True

        original, back = _select(engine, "orders"), _select(engine, "orders_back")
        assert len(back) == 2000
        assert back == original

        written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
        for output in (result.stdout, result.stderr):
            assert postgres.password not in output
        assert postgres.password.encode() not in written
    finally:
        engine.dispose()
