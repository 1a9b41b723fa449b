"""Tuples, durations, vectors, nested and frozen collections (keys included, in Cassandra's
order), and several operations on one collection column in one UPDATE, through the driver."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.cqltypes import BytesType
from cassandra.util import Date, Duration

from clusters import TEST_HOSTS
from invalid import invalid_message


def test_tuples_literal_bound_and_in_keys(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(
        f"CREATE TABLE {ks}.t (k frozen<tuple<int, text>>, c tuple<int, int>, "
        "v tuple<int, frozen<list<text>>, tuple<int, int>>, PRIMARY KEY (k, c)) "
        "WITH CLUSTERING ORDER BY (c DESC)"
    )
    session.execute(f"INSERT INTO {ks}.t (k, c, v) VALUES ((1, 'a'), (1, 2), (1, ['x'], (2, 3)))")
    insert = session.prepare(f"INSERT INTO {ks}.t (k, c, v) VALUES (?, ?, ?)")
    for c in [(1, -5), (0, 7), (1, None), (2, 0)]:
        session.execute(insert, ((1, "a"), c, (9, None, None)))
    select = session.prepare(f"SELECT c, v FROM {ks}.t WHERE k = ?")
    rows = list(session.execute(select, [(1, "a")]))
    # DESC on the tuple: components compare in turn, a null component first in ASC.
    assert [r.c for r in rows] == [(2, 0), (1, 2), (1, -5), (1, None), (0, 7)]
    assert rows[1].v == (1, ["x"], (2, 3))
    assert rows[0].v == (9, None, None)
    literal = list(session.execute(f"SELECT c FROM {ks}.t WHERE k = (1, 'a') AND c >= (1, 0)"))
    assert [r.c for r in literal] == [(2, 0), (1, 2)]
    assert (
        "Invalid tuple literal for v: too many elements. Type frozen<tuple<int, "
        "frozen<list<text>>, frozen<tuple<int, int>>>> expects 3 but got 4"
    ) in invalid_message(
        session, f"INSERT INTO {ks}.t (k, c, v) VALUES ((1, 'a'), (1, 1), (1, ['x'], (1, 1), 4))"
    )


def test_durations_literal_iso_and_bound(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TABLE {ks}.d (k int PRIMARY KEY, d duration, l list<duration>)")
    literals = {
        1: ("1h2m", Duration(0, 0, 3_720_000_000_000)),
        2: ("P1Y2M3DT4H", Duration(14, 3, 14_400_000_000_000)),
        3: ("P2W", Duration(0, 14, 0)),
        4: ("P0001-02-03T04:05:06", Duration(14, 3, 14_706_000_000_000)),
        5: ("-2d10us", Duration(0, -2, -10_000)),
        6: ("1mo1w500ms", Duration(1, 7, 500_000_000)),
    }
    for k, (text, _) in literals.items():
        session.execute(f"INSERT INTO {ks}.d (k, d) VALUES ({k}, {text})")
    session.execute(
        session.prepare(f"INSERT INTO {ks}.d (k, d, l) VALUES (?, ?, ?)"),
        (7, Duration(1, 2, 3), [Duration(0, 1, 0), Duration(2, 0, 0)]),
    )
    rows = {r.k: r for r in session.execute(f"SELECT k, d, l FROM {ks}.d")}
    for k, (_, expected) in literals.items():
        assert rows[k].d == expected
    assert rows[7].d == Duration(1, 2, 3)
    assert rows[7].l == [Duration(0, 1, 0), Duration(2, 0, 0)]
    assert "duration type is not supported for PRIMARY KEY column 'k'" in invalid_message(
        session, f"CREATE TABLE {ks}.bad (k duration PRIMARY KEY)"
    )
    assert "Durations are not allowed inside sets: set<duration>" in invalid_message(
        session, f"CREATE TABLE {ks}.bad (k int PRIMARY KEY, s set<duration>)"
    )


def _cassandra_5(session: Session) -> bool:
    version = session.execute("SELECT release_version FROM system.local").one().release_version
    return int(version.split(".")[0]) >= 5


def test_vectors_literal_bound_and_schema(session: Session, keyspace: str) -> None:
    if TEST_HOSTS and not _cassandra_5(session):
        pytest.skip("vector<> is a Cassandra 5 type")
    ks = keyspace
    session.execute(
        f"CREATE TABLE {ks}.v (k int PRIMARY KEY, f vector<float, 3>, t vector<text, 2>)"
    )
    session.execute(f"INSERT INTO {ks}.v (k, f, t) VALUES (1, [1.0, 2.5, -3], ['a', 'bc'])")
    insert = session.prepare(f"INSERT INTO {ks}.v (k, f, t) VALUES (?, ?, ?)")
    session.execute(insert, (2, [0.5, 0.25, 8.0], ["", "long" * 50]))
    session.execute(session.prepare(f"UPDATE {ks}.v SET f = [1.0, ?, 3.0] WHERE k = 3"), [2.0])
    rows = {r.k: r for r in session.execute(f"SELECT k, f, t FROM {ks}.v")}
    assert rows[1].f == [1.0, 2.5, -3.0]
    assert rows[1].t == ["a", "bc"]
    assert rows[2].f == [0.5, 0.25, 8.0]
    assert rows[2].t == ["", "long" * 50]
    assert rows[3].f == [1.0, 2.0, 3.0]
    types = {
        r.column_name: r.type
        for r in session.execute(
            "SELECT column_name, type FROM system_schema.columns "
            f"WHERE keyspace_name = '{ks}' AND table_name = 'v'"
        )
    }
    assert types["f"] == "vector<float, 3>"
    assert types["t"] == "vector<text, 2>"
    assert (
        "Invalid vector literal for f of type vector<float, 3>; expected 3 elements, but given 2"
        in invalid_message(session, f"INSERT INTO {ks}.v (k, f) VALUES (9, [1.0, 2.0])")
    )
    assert "Invalid vector literal for t: value 1 is not of type text" in invalid_message(
        session, f"INSERT INTO {ks}.v (k, t) VALUES (9, [1, 2])"
    )


def test_vector_bound_values_are_validated(session: Session, keyspace: str) -> None:
    if TEST_HOSTS and not _cassandra_5(session):
        pytest.skip("vector<> is a Cassandra 5 type")
    # The driver checks the dimension itself; serializing as a blob sends the bytes as they
    # are, and the server refuses a vector of the wrong size as Cassandra does.
    ks = keyspace
    session.execute(f"CREATE TABLE {ks}.v (k int PRIMARY KEY, f vector<float, 3>)")
    insert = session.prepare(f"INSERT INTO {ks}.v (k, f) VALUES (?, ?)")
    insert.column_metadata[1] = insert.column_metadata[1]._replace(type=BytesType)
    with pytest.raises(InvalidRequest, match="Not enough bytes to read a vector<float, 3>"):
        session.execute(insert, (1, b"\x00" * 8))
    with pytest.raises(InvalidRequest, match="Unexpected 4 extraneous bytes after vector"):
        session.execute(insert, (1, b"\x00" * 16))


def test_nested_and_frozen_collections(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(
        f"CREATE TABLE {ks}.n (k frozen<list<int>>, c frozen<set<text>>, "
        "m map<text, frozen<list<int>>>, s set<frozen<map<int, text>>>, "
        "l list<frozen<set<int>>>, PRIMARY KEY (k, c))"
    )
    session.execute(
        f"INSERT INTO {ks}.n (k, c, m, s, l) VALUES ([1, 2], {{'b', 'a'}}, "
        "{'x': [3, 1], 'y': []}, {{2: 'b'}, {1: 'a'}}, [{3, 1}, {}])"
    )
    insert = session.prepare(f"INSERT INTO {ks}.n (k, c, m) VALUES (?, ?, ?)")
    for c in [{"a", "c"}, {"a"}, {"b"}, set()]:
        session.execute(insert, ([1, 2], c, {"z": [7]}))
    rows = list(session.execute(f"SELECT c, m, s, l FROM {ks}.n WHERE k = [1, 2]"))
    # Frozen sets order element by element, a prefix first; an empty set before all.
    assert [sorted(r.c) for r in rows] == [
        [],
        ["a"],
        ["a", "b"],
        ["a", "c"],
        ["b"],
    ]
    full = rows[2]
    assert full.m == {"x": [3, 1], "y": []}
    assert list(full.s) == [{1: "a"}, {2: "b"}]
    assert full.l == [{1, 3}, set()]
    assert "Non-frozen collections are not allowed inside collections: map<text, list<int>>" in (
        invalid_message(
            session, f"CREATE TABLE {ks}.bad (k int PRIMARY KEY, m map<text, list<int>>)"
        )
    )
    assert (
        "Invalid non-frozen collection type list<int> for PRIMARY KEY column 'k'"
        in invalid_message(session, f"CREATE TABLE {ks}.bad (k list<int> PRIMARY KEY)")
    )


def test_frozen_freezes_the_collections_nested_in_it(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(
        f"CREATE TABLE {ks}.deep (k int PRIMARY KEY, a frozen<map<date, list<int>>>, "
        "b map<text, frozen<map<text, set<int>>>>)"
    )
    types = {
        row.column_name: row.type
        for row in session.execute(
            "SELECT column_name, type FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = 'deep'",
            (ks,),
        )
    }
    assert types["a"] == "frozen<map<date, frozen<list<int>>>>"
    assert types["b"] == "map<text, frozen<map<text, frozen<set<int>>>>>"
    session.execute(
        f"INSERT INTO {ks}.deep (k, a, b) "
        "VALUES (1, {'2020-01-01': [2, 1]}, {'x': {'y': {3}}})"
    )
    row = session.execute(f"SELECT a, b FROM {ks}.deep WHERE k = 1").one()
    assert dict(row.a) == {Date("2020-01-01"): [2, 1]}
    assert row.b == {"x": {"y": {3}}}


def test_several_operations_on_one_collection_in_one_update(
    session: Session, keyspace: str
) -> None:
    ks = keyspace
    session.execute(
        f"CREATE TABLE {ks}.c (k int PRIMARY KEY, s set<int>, m map<text, int>, l list<int>)"
    )
    session.execute(f"INSERT INTO {ks}.c (k, s, m, l) VALUES (1, {{1, 5}}, {{'a': 1}}, [1, 2, 3])")
    session.execute(f"UPDATE {ks}.c SET s = s + {{2}}, s = s - {{1}} WHERE k = 1")
    session.execute(
        f"UPDATE {ks}.c SET m['b'] = 2, m = m + {{'c': 3}}, m = m - {{'a'}} WHERE k = 1"
    )
    # Appends and prepends make new cells; removals and index sets change the stored ones.
    session.execute(
        f"UPDATE {ks}.c SET l = l + [9], l = [0] + l, l[0] = 10, l = l - [2] WHERE k = 1"
    )
    row = session.execute(f"SELECT s, m, l FROM {ks}.c WHERE k = 1").one()
    assert sorted(row.s) == [2, 5]
    assert dict(row.m) == {"b": 2, "c": 3}
    assert row.l == [0, 10, 3, 9]
    # A tombstone beats a cell of the same timestamp: a removed element stays removed.
    session.execute(f"UPDATE {ks}.c SET s = s - {{7}}, s = s + {{7}} WHERE k = 1")
    session.execute(f"UPDATE {ks}.c SET m['z'] = 1, m = m - {{'z'}} WHERE k = 1")
    row = session.execute(f"SELECT s, m FROM {ks}.c WHERE k = 1").one()
    assert 7 not in row.s
    assert "z" not in row.m
    session.execute(f"DELETE m['b'], m['c'] FROM {ks}.c WHERE k = 1")
    assert session.execute(f"SELECT m FROM {ks}.c WHERE k = 1").one().m is None
    with pytest.raises(Exception, match="Multiple incompatible setting of column l"):
        session.execute(f"UPDATE {ks}.c SET l = [1], l = l + [2] WHERE k = 1")
    assert "Attempted to set an element on a list which is null" in invalid_message(
        session, f"UPDATE {ks}.c SET l[0] = 1 WHERE k = 2"
    )


def test_batched_updates_of_one_collection_all_apply(session: Session, keyspace: str) -> None:
    ks = keyspace
    session.execute(f"CREATE TYPE {ks}.addr (street text, zip int)")
    session.execute(
        f"CREATE TABLE {ks}.b (k int PRIMARY KEY, s set<int>, m map<text, int>, "
        "l list<int>, a addr)"
    )
    session.execute(
        f"INSERT INTO {ks}.b (k, s, m, l) VALUES (1, {{1, 5, 9}}, {{'a': 1, 'b': 2}}, [1, 2])"
    )
    # The statements of a batch share one timestamp: each one's cells count, in any order.
    session.execute(
        f"""BEGIN BATCH
        UPDATE {ks}.b SET s = s - {{9}} WHERE k = 1;
        UPDATE {ks}.b SET s = s - {{1}} WHERE k = 1;
        UPDATE {ks}.b SET a.zip = 3 WHERE k = 1;
        UPDATE {ks}.b SET a.street = 'x' WHERE k = 1;
        DELETE m['a'] FROM {ks}.b WHERE k = 1;
        UPDATE {ks}.b SET m['c'] = 3 WHERE k = 1;
        UPDATE {ks}.b SET l = l + [3] WHERE k = 1;
        UPDATE {ks}.b SET l = l + [4] WHERE k = 1;
        APPLY BATCH"""
    )
    row = session.execute(f"SELECT s, m, l, a FROM {ks}.b WHERE k = 1").one()
    assert sorted(row.s) == [5]
    assert dict(row.m) == {"b": 2, "c": 3}
    assert row.l == [1, 2, 3, 4]
    assert (row.a.street, row.a.zip) == ("x", 3)
    # A deletion of the whole column shadows what the batch adds at its timestamp.
    session.execute(
        f"BEGIN BATCH DELETE s FROM {ks}.b WHERE k = 1; "
        f"UPDATE {ks}.b SET s = s + {{7}} WHERE k = 1; APPLY BATCH"
    )
    assert session.execute(f"SELECT s FROM {ks}.b WHERE k = 1").one().s is None


def test_vectors_in_keys_order_element_by_element(session: Session, keyspace: str) -> None:
    if TEST_HOSTS and not _cassandra_5(session):
        pytest.skip("vector<> is a Cassandra 5 type")
    ks = keyspace
    session.execute(
        f"CREATE TABLE {ks}.vk (k vector<int, 2>, c vector<float, 2>, t vector<text, 2>, "
        "PRIMARY KEY (k, c, t))"
    )
    insert = session.prepare(f"INSERT INTO {ks}.vk (k, c, t) VALUES ([1, -2], ?, ?)")
    for c, t in [
        ([1.0, 2.0], ["b", ""]),
        ([-1.0, 5.0], ["b", ""]),
        ([0.0, -3.0], ["b", ""]),
        ([1.0, -2.0], ["b", ""]),
        ([1.0, 2.0], ["a", "zz"]),
    ]:
        session.execute(insert, (c, t))
    rows = list(session.execute(f"SELECT c, t FROM {ks}.vk WHERE k = [1, -2]"))
    assert [(r.c, r.t) for r in rows] == [
        ([-1.0, 5.0], ["b", ""]),
        ([0.0, -3.0], ["b", ""]),
        ([1.0, -2.0], ["b", ""]),
        ([1.0, 2.0], ["a", "zz"]),
        ([1.0, 2.0], ["b", ""]),
    ]
    sliced = session.execute(f"SELECT c FROM {ks}.vk WHERE k = [1, -2] AND c > [0.0, 0.0]")
    assert [r.c for r in sliced] == [[1.0, -2.0], [1.0, 2.0], [1.0, 2.0]]
