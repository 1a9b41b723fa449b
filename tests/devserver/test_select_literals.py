"""Constants and collections built in the select clause (Cassandra 4.0+): typed literals,
lists, sets, maps and tuples of selectors, their types, names and refusals."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session

from columns import column_types


@pytest.fixture
def row(session: Session, keyspace: str) -> str:
    table = f"{keyspace}.lit"
    session.execute(f"CREATE TABLE {table} (p int PRIMARY KEY, v int, t text)")
    session.execute(f"INSERT INTO {table} (p, v, t) VALUES (1, 5, 'x')")
    return table


def test_typed_constants(session: Session, row: str) -> None:
    result = session.execute(
        "SELECT (list<int>)[1, 2], (map<text, int>){'a': 1}, (tuple<int, text>)(1, 'x'), "
        f"(set<int>){{3, 1}}, (int)1, (text)'a' FROM {row}"
    )
    assert result.column_names == [
        "(list<int>)[1, 2]",
        "(map<text, int>){'a': 1}",
        "(tuple<int, text>)(1, 'x')",
        "(set<int>){3, 1}",
        "(int)1",
        "(text)'a'",
    ]
    assert list(result.one()) == [[1, 2], {"a": 1}, (1, "x"), {1, 3}, 1, "a"]


def test_collections_of_selectors(session: Session, row: str) -> None:
    result = session.execute(f"SELECT [v, 1], {{v, 1, 5}}, (v, t), {{t: v, 'a': 2}} FROM {row}")
    assert result.column_names == ["[v, 1]", "{v, 1, 5}", "(v, t)", "{t: v, 'a': 2}"]
    assert column_types(result) == [
        "list<int>",
        "set<int>",
        "frozen<tuple<int, varchar>>",
        "map<varchar, int>",
    ]
    assert list(result.one()) == [[5, 1], {1, 5}, (5, "x"), {"a": 2, "x": 5}]
    text = session.execute(f"SELECT JSON [v, 1] AS l, (v, t) FROM {row}").one()[0]
    assert text == '{"l": [5, 1], "(v, t)": [5, "x"]}'


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("1", "Cannot infer type for term 1 in selection clause"),
        ("[1, 2]", "Cannot infer type for term [1, 2] in selection clause"),
        ("(v, 1)", "Cannot infer type for term (v, 1) in selection clause"),
    ],
)
def test_constants_need_a_type(session: Session, row: str, selector: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        session.execute(f"SELECT {selector} FROM {row}")
    assert message in str(info.value)
