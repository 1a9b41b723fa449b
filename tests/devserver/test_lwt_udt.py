"""User-defined types in lightweight transactions and INSERT JSON: conditions on fields and
whole values (frozen and not), and UDT values read from JSON objects."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session


@pytest.fixture
def udt(cluster: Cluster, keyspace: str) -> Iterator[Session]:
    # A session of its own: the shared one must not keep a keyspace that is dropped after.
    session = cluster.connect(keyspace)
    session.execute('CREATE TYPE addr (street text, num int, "Zip" text)')
    session.execute("CREATE TABLE u (k int PRIMARY KEY, a addr, fa frozen<addr>, v int)")
    session.execute(
        "INSERT INTO u (k, a, fa, v) VALUES (1, {street: 'x', num: 3}, {street: 'y', num: 4}, 0)"
    )
    yield session
    session.shutdown()


@pytest.mark.parametrize(
    ("condition", "applied"),
    [
        ("a.num = 3", True),
        ("a.num > 5", False),
        ("a.street IN ('q', 'x')", True),
        ('a."Zip" = null', True),
        ("fa.street = 'y'", True),
        ("fa.num != 4", False),
        ("a = {street: 'x', num: 3}", True),
        ("fa = {street: 'y', num: 4}", True),
        ("fa = {street: 'y', num: 5}", False),
    ],
)
def test_udt_conditions(udt: Session, condition: str, applied: bool) -> None:
    result = udt.execute(f"UPDATE u SET v = 1 WHERE k = 1 IF {condition}")
    assert result.one()[0] is applied


def test_failed_field_condition_shows_the_whole_value(udt: Session) -> None:
    result = udt.execute("UPDATE u SET v = 1 WHERE k = 1 IF a.num = 9")
    assert list(result.column_names) == ["[applied]", "a"]
    row = result.one()
    assert row[0] is False
    assert (row.a.street, row.a.num) == ("x", 3)


def test_unknown_field_is_refused(udt: Session) -> None:
    with pytest.raises(InvalidRequest, match="Unknown field nope for column a"):
        udt.execute("UPDATE u SET v = 1 WHERE k = 1 IF a.nope = 1")


def test_insert_json_user_type(udt: Session) -> None:
    # A field with upper case is named quoted inside the key, as Cassandra writes it.
    document = json.dumps({"k": 2, "a": {"street": "z", '"Zip"': "9"}, "fa": {"num": 1}})
    udt.execute(f"INSERT INTO u JSON '{document}'")
    row = udt.execute("SELECT a, fa FROM u WHERE k = 2").one()
    assert (row.a.street, row.a.num, row.a.Zip) == ("z", None, "9")
    assert (row.fa.street, row.fa.num) == (None, 1)
    with pytest.raises(InvalidRequest, match="Unknown field 'nope' in value of user defined type"):
        udt.execute('INSERT INTO u JSON \'{"k": 3, "a": {"nope": 1}}\'')
