"""Element and slice selection on sets and maps (``m['k']``, ``s[x..y]``), as Cassandra 4.0+
answers them (cql3/selection/ElementsSelector and CollectionsTest's cases)."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.cqltypes import Int32Type, MapType, SetType, VarcharType


@pytest.fixture
def coll(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.coll"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, m map<text, text>, fm frozen<map<text, text>>, "
        "s set<text>, fs frozen<set<text>>, l list<int>, v int)"
    )
    session.execute(
        f"INSERT INTO {table} (k, m, fm, s, fs, l, v) VALUES (0, {{'1': 'one', '2': 'two'}}, "
        "{'1': 'one', '2': 'two'}, {'1', '2', '3'}, {'1', '2', '3'}, [1, 2, 3], 7)"
    )
    session.execute(f"INSERT INTO {table} (k, fm, fs) VALUES (1, {{}}, {{}})")
    session.execute(f"INSERT INTO {table} (k) VALUES (2)")
    return table


def test_elements_and_slices_values_names_and_types(session: Session, coll: str) -> None:
    result = session.execute(
        "SELECT k, m, m['2'], m['2'..'3'], m[..'2'], m['3'..], "
        "fm, fm['2'], fm['2'..'3'], fm[..'2'], fm['3'..], "
        "s, s['2'], s['2'..'3'], s[..'2'], s['3'..], "
        f"fs, fs['2'], fs['2'..'3'], fs[..'2'], fs['3'..] FROM {coll} WHERE k = 0"
    )
    assert list(result.one()) == [
        0,
        {"1": "one", "2": "two"},
        "two",
        {"2": "two"},
        {"1": "one", "2": "two"},
        None,  # nothing left of a non-frozen map: null
        {"1": "one", "2": "two"},
        "two",
        {"2": "two"},
        {"1": "one", "2": "two"},
        {},  # a frozen map's empty slice is an empty map
        {"1", "2", "3"},
        "2",
        {"2", "3"},
        {"1", "2"},
        {"3"},
        {"1", "2", "3"},
        "2",
        {"2", "3"},
        {"1", "2"},
        {"3"},
    ]
    assert result.column_names[2:6] == ["m['2']", "m['2'..'3']", "m[..'2']", "m['3'..]"]
    types = result.column_types
    assert types[2] is VarcharType
    assert types[12] is VarcharType
    for full, parts in ((1, range(3, 6)), (6, range(8, 11)), (11, range(13, 16))):
        for index in parts:
            assert types[index].cql_parameterized_type() == types[full].cql_parameterized_type()
    assert issubclass(types[3], MapType)
    assert issubclass(types[13], SetType)


def test_missing_elements_and_empty_collections(session: Session, coll: str) -> None:
    rows = session.execute(
        f"SELECT k, m['9'], s['9'], fm['5'..'6'], fs['5'..'6'], m['5'..'6'], s['5'..'6'] "
        f"FROM {coll} WHERE k IN (0, 1, 2)"
    )
    assert [list(r) for r in rows] == [
        [0, None, None, {}, set(), None, None],
        [1, None, None, {}, set(), None, None],  # frozen empty collections stay empty
        [2, None, None, None, None, None, None],
    ]


def test_bound_keys_and_aliases(session: Session, coll: str) -> None:
    prepared = session.prepare(f"SELECT m[?] AS v, s[?..?] FROM {coll} WHERE k = ?")
    results = [c[3].cql_parameterized_type() for c in prepared.result_metadata]
    assert results == ["varchar", "set<varchar>"]
    binds = [(c.name, c.type.cql_parameterized_type()) for c in prepared.column_metadata]
    assert [t for _, t in binds] == ["varchar", "varchar", "varchar", "int"]
    assert [n for n, _ in binds] == ["key(m)", "value(s)", "value(s)", "k"]
    row = session.execute(prepared, ["1", "2", "9", 0]).one()
    assert row.v == "one"
    assert row[1] == {"2", "3"}
    with pytest.raises(InvalidRequest, match="Invalid null value for element selection on m"):
        session.execute(prepared, [None, "2", "9", 0])
    with pytest.raises(InvalidRequest, match="Invalid null value for slice selection on s"):
        session.execute(prepared, ["1", None, "9", 0])


def test_select_json_and_functions_of_elements(session: Session, coll: str) -> None:
    text = session.execute(f"SELECT JSON m['1'] AS one, fs['2'..] FROM {coll} WHERE k = 0").one()
    assert text[0] == '{"one": "one", "fs[\'2\'..]": ["2", "3"]}'
    row = session.execute(f"SELECT toJson(m['1'..'1']) FROM {coll} WHERE k = 0").one()
    assert row[0] == '{"1": "one"}'


def test_nested_frozen_elements(session: Session, keyspace: str) -> None:
    table = f"{keyspace}.nested"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, "
        "m map<text, frozen<map<text, frozen<set<int>>>>>, n map<float, frozen<map<int, text>>>)"
    )
    session.execute(
        f"INSERT INTO {table} (k, m, n) VALUES (0, {{'1': {{'a': {{1, 2, 4}}, 'b': {{3}}}}}}, "
        "{1: {2: 'one-two'}})"
    )
    row = session.execute(
        f"SELECT m['1']['a'], m['1']['a'][2], m['1']['a'][2..3], n[1][2], n[1..][2], n[1..][..2] "
        f"FROM {table} WHERE k = 0"
    ).one()
    assert list(row) == [{1, 2, 4}, 2, {2}, "one-two", None, {1.0: {2: "one-two"}}]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("l[0]", "Element selection is only allowed on sets and maps, but l is a list"),
        ("l[1..3]", "Slice selection is only allowed on sets and maps, but l is a list"),
        ("v[0]", "Invalid element selection: v is of type int is not a collection"),
        ("v[0..1]", "Invalid slice selection: v of type int is not a collection"),
        ("m[1]", 'Invalid INTEGER constant (1) for "key(m)" of type text'),
        ("s[1]", 'Invalid INTEGER constant (1) for "value(s)" of type text'),
    ],
)
def test_element_selection_errors(session: Session, coll: str, selector: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        session.execute(f"SELECT {selector} FROM {coll}")
    assert message in str(info.value)


def test_element_of_a_user_type_field(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TYPE {keyspace}.bag (s frozen<set<int>>, m frozen<map<text, text>>)")
    table = f"{keyspace}.bags"
    session.execute(
        f"CREATE TABLE {table} (k int PRIMARY KEY, v frozen<bag>, w map<text, frozen<bag>>)"
    )
    session.execute(
        f"INSERT INTO {table} (k, v, w) VALUES "
        "(0, {s: {2, 4, 6}, m: {'a': 'v1', 'd': 'v2'}}, "
        "{'abc': {s: {2, 4, 6}, m: {'a': 'v1', 'd': 'v2'}}})"
    )
    row = session.execute(
        f"SELECT v.s[2], v.s[2..5], v.m[..'b'], w['abc'].s, w['abc'].m['d'] "
        f"FROM {table} WHERE k = 0"
    ).one()
    assert list(row) == [2, {2, 4}, {"a": "v1"}, {2, 4, 6}, "v2"]
    assert Int32Type in session.execute(f"SELECT v.s[2] FROM {table}").column_types
