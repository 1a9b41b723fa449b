"""Fault rules: matching, probability, counts, rule files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cassflow.devserver._faults import FaultError, FaultInjector, FaultKind
from cassflow.protocol import Consistency, ReadTimeout, Unavailable, WriteTimeout


def test_rule_matches_statement_keyspace_and_table() -> None:
    faults = FaultInjector(seed=1)
    faults.add({"fault": "write_timeout", "statement": "insert into", "keyspace": "ks"})
    assert faults.check("SELECT * FROM ks.t", "ks", "t") is None
    assert faults.check("INSERT INTO other.t (k) VALUES (1)", "other", "t") is None
    fault = faults.check("INSERT INTO ks.t (k) VALUES (1)", "ks", "t")
    assert fault is not None
    assert fault.kind is FaultKind.WRITE_TIMEOUT
    assert isinstance(fault.error, WriteTimeout)
    assert fault.error.write_type == "SIMPLE"


def test_count_retires_the_rule() -> None:
    faults = FaultInjector()
    rule_id = faults.add({"fault": "unavailable", "count": 2, "consistency": "quorum"})
    first = faults.check("SELECT 1", None, None)
    assert first is not None
    assert isinstance(first.error, Unavailable)
    assert first.error.consistency is Consistency.QUORUM
    assert faults.check("SELECT 1", None, None) is not None
    assert faults.check("SELECT 1", None, None) is None
    assert faults.fired(rule_id) == 2
    assert faults.rules == {}


def test_probability_is_honoured() -> None:
    faults = FaultInjector(seed=42)
    faults.add({"fault": "read_timeout", "probability": 0.25})
    hits = sum(faults.check("SELECT 1", None, None) is not None for _ in range(4000))
    assert 800 < hits < 1200
    never = FaultInjector(seed=42)
    never.add({"fault": "read_timeout", "probability": 0.0})
    assert all(never.check("SELECT 1", None, None) is None for _ in range(100))


def test_rules_change_while_running() -> None:
    faults = FaultInjector()
    rule_id = faults.add({"fault": "read_timeout"})
    fault = faults.check("SELECT 1", "ks", "t")
    assert fault is not None
    assert isinstance(fault.error, ReadTimeout)
    faults.remove(rule_id)
    assert faults.check("SELECT 1", "ks", "t") is None


def test_latency_and_connection_faults_carry_no_error() -> None:
    faults = FaultInjector()
    faults.add({"fault": "latency", "delay_ms": 250})
    fault = faults.check("SELECT 1", None, None)
    assert fault is not None
    assert fault.error is None
    assert fault.delay_seconds == 0.25


def test_rule_file(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(
        "rules:\n"
        "  - fault: overloaded\n"
        "    table: orders\n"
        "  - fault: no_response\n"
        "    statement: '^SELECT'\n"
        "    count: 1\n"
    )
    faults = FaultInjector()
    assert len(faults.load_file(path)) == 2
    fault = faults.check("UPDATE shop.orders SET x = 1", "shop", "orders")
    assert fault is not None
    assert fault.kind is FaultKind.OVERLOADED


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rules:\n  - fault: explode\n", "fault"),
        ("rules:\n  - fault: latency\n    statement: '('\n", "regular expression"),
        ("rules:\n  - fault: latency\n    probability: 2\n", "probability"),
        ("rules:\n  - fault: latency\n    colour: red\n", "colour"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_bad_rule_files_name_the_file_and_the_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(content)
    with pytest.raises(FaultError, match=message) as caught:
        FaultInjector().load_file(path)
    assert str(path) in str(caught.value)


def test_timeouts_and_unavailable_never_hit_a_prepare() -> None:
    faults = FaultInjector()
    timeout = faults.add({"fault": "write_timeout", "statement": "INSERT"})
    overload = faults.add({"fault": "overloaded", "statement": "SELECT"})
    assert faults.check("INSERT INTO ks.t (k) VALUES (?)", "ks", "t", executes=False) is None
    assert faults.fired(timeout) == 0  # passed by, not counted
    assert faults.check("INSERT INTO ks.t (k) VALUES (?)", "ks", "t") is not None
    assert faults.fired(timeout) == 1
    assert faults.check("SELECT * FROM ks.t", "ks", "t", executes=False) is not None
    assert faults.fired(overload) == 1


@pytest.mark.devserver_only
def test_a_prepared_insert_meets_its_write_timeout_when_executed_only() -> None:
    import cassandra

    from cassflow.devserver import DevServer
    from clusters import connect

    with DevServer() as server:
        cluster = connect(([server.host], server.port))
        try:
            session = cluster.connect()
            session.execute(
                "CREATE KEYSPACE ks WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            session.execute("CREATE TABLE ks.t (k int PRIMARY KEY)")
            server.faults.add({"fault": "write_timeout", "statement": "INSERT"})
            insert = session.prepare("INSERT INTO ks.t (k) VALUES (?)")
            with pytest.raises(cassandra.WriteTimeout):
                session.execute(insert, [1])
        finally:
            cluster.shutdown()
