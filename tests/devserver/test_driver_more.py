"""More driver-level behaviour: other protocol versions, schema events between clients,
system_views.clients, DISTINCT and PER PARTITION LIMIT, and Hypothesis over values."""

from __future__ import annotations

import datetime
import decimal
import struct
import uuid

import pytest
from cassandra.cluster import Session
from cassandra.util import Date, Time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusters import connect


@pytest.mark.parametrize("version", [3, 4, 5])
def test_every_protocol_version_works(contact: tuple[list[str], int], version: int) -> None:
    cluster = connect(contact, protocol_version=version)
    try:
        session = cluster.connect()
        assert session.execute("SELECT key FROM system.local").one().key == "local"
        assert cluster.protocol_version == version
    finally:
        cluster.shutdown()


def test_ddl_from_another_client_refreshes_metadata(
    contact: tuple[list[str], int], session: Session, keyspace: str
) -> None:
    watcher = connect(contact)
    try:
        watcher.connect()
        session.execute(f"CREATE TABLE {keyspace}.fresh (k int PRIMARY KEY, v text)")
        # The DDL came from another client: the watcher learns of it through the pushed
        # SCHEMA_CHANGE event; refresh_schema_metadata waits for agreement, bounded.
        watcher.refresh_schema_metadata(max_schema_agreement_wait=10)
        assert "fresh" in watcher.metadata.keyspaces[keyspace].tables
    finally:
        watcher.shutdown()


def test_system_views_clients_lists_this_driver(session: Session) -> None:
    rows = list(
        session.execute("SELECT address, driver_name, protocol_version FROM system_views.clients")
    )
    assert rows
    assert any("Python" in (r.driver_name or "") for r in rows)


def test_distinct_and_per_partition_limit(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.pp (p int, c int, s int static, PRIMARY KEY (p, c))")
    insert = session.prepare(f"INSERT INTO {keyspace}.pp (p, c, s) VALUES (?, ?, ?)")
    for p in range(3):
        for c in range(4):
            session.execute(insert, (p, c, p * 10))
    distinct = list(session.execute(f"SELECT DISTINCT p, s FROM {keyspace}.pp"))
    assert sorted((r.p, r.s) for r in distinct) == [(0, 0), (1, 10), (2, 20)]
    limited = list(session.execute(f"SELECT p, c FROM {keyspace}.pp PER PARTITION LIMIT 2"))
    assert len(limited) == 6
    assert all(r.c < 2 for r in limited)
    capped = list(session.execute(f"SELECT p, c FROM {keyspace}.pp PER PARTITION LIMIT 2 LIMIT 3"))
    assert len(capped) == 3


def _float32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


VALUES = st.fixed_dictionaries(
    {
        "i": st.integers(-(2**31), 2**31 - 1) | st.none(),
        "b": st.integers(-(2**63), 2**63 - 1) | st.none(),
        "si": st.integers(-(2**15), 2**15 - 1) | st.none(),
        "ti": st.integers(-128, 127) | st.none(),
        "vi": st.integers(-(2**200), 2**200) | st.none(),
        "de": st.decimals(allow_nan=False, allow_infinity=False, places=6) | st.none(),
        "d": st.floats(allow_nan=False) | st.none(),
        "f": st.floats(allow_nan=False, width=32).map(_float32) | st.none(),
        "bo": st.booleans() | st.none(),
        "t": st.text() | st.none(),
        "a": st.text(alphabet=st.characters(max_codepoint=127)) | st.none(),
        "bl": st.binary() | st.none(),
        "u": st.uuids() | st.none(),
        "ts": st.datetimes(
            min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2200, 1, 1)
        ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
        | st.none(),
        "dt": st.dates().map(Date) | st.none(),
        "tm": st.integers(0, 86_399_999_999_999).map(Time) | st.none(),
        "l": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5) | st.none(),
        "s": st.sets(st.text(max_size=5), max_size=5) | st.none(),
        "m": st.dictionaries(st.text(max_size=5), st.integers(-(2**31), 2**31 - 1), max_size=5)
        | st.none(),
    }
)
TYPES = {
    "i": "int", "b": "bigint", "si": "smallint", "ti": "tinyint", "vi": "varint",
    "de": "decimal", "d": "double", "f": "float", "bo": "boolean", "t": "text", "a": "ascii",
    "bl": "blob", "u": "uuid", "ts": "timestamp", "dt": "date", "tm": "time",
    "l": "list<int>", "s": "set<text>", "m": "map<text, int>",
}  # fmt: skip


@pytest.fixture
def typed_table(session: Session, keyspace: str) -> str:
    columns = ", ".join(f"{n} {t}" for n, t in TYPES.items())
    session.execute(f"CREATE TABLE {keyspace}.hyp (k uuid PRIMARY KEY, {columns})")
    return f"{keyspace}.hyp"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=VALUES)
def test_values_round_trip_exactly(
    session: Session, typed_table: str, values: dict[str, object]
) -> None:
    key = uuid.uuid4()
    names = list(TYPES)
    # Prepared: the driver sends binary values. (Simple statements inline values as CQL text,
    # and the driver writes a Decimal there as a float literal, losing digits.)
    insert = session.prepare(
        f"INSERT INTO {typed_table} (k, {', '.join(names)}) VALUES (?{', ?' * len(names)})"
    )
    session.execute(insert, [key, *(values[n] for n in names)])
    row = session.execute(f"SELECT * FROM {typed_table} WHERE k = %s", [key]).one()
    for name in names:
        expected, got = values[name], getattr(row, name)
        if name in ("l", "s", "m") and not expected:
            assert got is None  # an empty collection is no collection in Cassandra
        elif name == "s" and expected is not None:
            assert set(got) == expected
        elif name == "m" and expected is not None:
            assert dict(got) == expected
        elif name == "de" and expected is not None:
            assert decimal.Decimal(got) == expected
        else:
            assert got == expected, name


def test_count_rows_and_count_values(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TABLE {keyspace}.cnt (k int PRIMARY KEY, v int)")
    for k in range(5):
        value = None if k % 2 else k
        session.execute(f"INSERT INTO {keyspace}.cnt (k, v) VALUES (%s, %s)", (k, value))
    assert session.execute(f"SELECT count(*) FROM {keyspace}.cnt").one()[0] == 5
    # count(column) counts non-null values, whatever the result column is called.
    assert session.execute(f"SELECT count(v) AS count FROM {keyspace}.cnt").one()[0] == 3
