"""Random sequences of collection operations against a plain Python model of what Cassandra
documents for each (writes in order, server timestamps): the element cells must add up to the
same set, map and list after every statement."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_tables = itertools.count()

_ELEMENT = st.integers(min_value=0, max_value=5)
_SET_OPS = st.one_of(
    st.tuples(st.just("s = s + ?"), st.frozensets(_ELEMENT, max_size=3)),
    st.tuples(st.just("s = s - ?"), st.frozensets(_ELEMENT, max_size=3)),
    st.tuples(st.just("s = ?"), st.frozensets(_ELEMENT, max_size=3)),
    st.tuples(st.just("delete s"), st.none()),
)
_MAP_OPS = st.one_of(
    st.tuples(st.just("m[?] = ?"), st.tuples(_ELEMENT, _ELEMENT)),
    st.tuples(st.just("m = m + ?"), st.dictionaries(_ELEMENT, _ELEMENT, max_size=3)),
    st.tuples(st.just("m = m - ?"), st.frozensets(_ELEMENT, max_size=3)),
    st.tuples(st.just("m = ?"), st.dictionaries(_ELEMENT, _ELEMENT, max_size=3)),
    st.tuples(st.just("delete m[?]"), _ELEMENT),
)
_LIST_OPS = st.one_of(
    st.tuples(st.just("l = l + ?"), st.lists(_ELEMENT, max_size=3)),
    st.tuples(st.just("l = ? + l"), st.lists(_ELEMENT, max_size=3)),
    st.tuples(st.just("l = l - ?"), st.lists(_ELEMENT, max_size=2)),
    st.tuples(st.just("l = ?"), st.lists(_ELEMENT, max_size=3)),
    st.tuples(st.just("l[?] = ?"), st.tuples(st.integers(0, 4), _ELEMENT)),
    st.tuples(st.just("delete l[?]"), st.integers(0, 4)),
)


@pytest.fixture
def table(session: Session, keyspace: str) -> str:
    name = f"{keyspace}.c{next(_tables)}"
    session.execute(
        f"CREATE TABLE {name} (k int PRIMARY KEY, s set<int>, m map<int, int>, l list<int>)"
    )
    return name


def _apply(model: dict[str, Any], op: str, arg: Any) -> str | None:
    """The model's answer to one operation; the error text Cassandra gives, if any."""
    s, m, lst = model["s"], model["m"], model["l"]
    if op == "s = s + ?":
        s |= arg
    elif op == "s = s - ?":
        s -= arg
    elif op == "s = ?":
        model["s"] = set(arg)
    elif op == "delete s":
        s.clear()
    elif op == "m[?] = ?":
        m[arg[0]] = arg[1]
    elif op == "m = m + ?":
        m.update(arg)
    elif op == "m = m - ?":
        for key in arg:
            m.pop(key, None)
    elif op == "m = ?":
        model["m"] = dict(arg)
    elif op == "delete m[?]":
        m.pop(arg, None)
    elif op == "l = l + ?":
        lst.extend(arg)
    elif op == "l = ? + l":
        model["l"] = list(arg) + lst
    elif op == "l = l - ?":
        model["l"] = [v for v in lst if v not in arg]
    elif op == "l = ?":
        model["l"] = list(arg)
    elif op in ("l[?] = ?", "delete l[?]"):
        index = arg[0] if op == "l[?] = ?" else arg
        if not lst:
            verb = "set an element on" if op == "l[?] = ?" else "delete an element from"
            return f"Attempted to {verb} a list which is null"
        if index >= len(lst):
            return f"List index {index} out of bound, list has size {len(lst)}"
        if op == "l[?] = ?":
            lst[index] = arg[1]
        else:
            del lst[index]
    return None


def _statement(table: str, op: str, arg: Any) -> tuple[str, tuple[Any, ...]]:
    if op == "delete s":
        return f"DELETE s FROM {table} WHERE k = 0", ()
    if op == "delete m[?]":
        return f"DELETE m[?] FROM {table} WHERE k = 0", (arg,)
    if op == "delete l[?]":
        return f"DELETE l[?] FROM {table} WHERE k = 0", (arg,)
    values = tuple(arg) if op in ("m[?] = ?", "l[?] = ?") else (arg,)
    return f"UPDATE {table} SET {op} WHERE k = 0", values


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.one_of(_SET_OPS, _MAP_OPS, _LIST_OPS), min_size=1, max_size=12))
def test_element_cells_add_up_to_the_documented_collections(
    session: Session, table: str, ops: list[tuple[str, Any]]
) -> None:
    session.execute(f"DELETE FROM {table} WHERE k = 0")
    model: dict[str, Any] = {"s": set(), "m": {}, "l": []}
    for op, arg in ops:
        expected_error = _apply(model, op, arg)
        query, values = _statement(table, op, arg)
        if expected_error is None:
            session.execute(session.prepare(query), values)
        else:
            with pytest.raises(InvalidRequest, match=expected_error):
                session.execute(session.prepare(query), values)
        row = session.execute(f"SELECT s, m, l FROM {table} WHERE k = 0").one()
        got = (set(row.s or ()), dict(row.m or {}), list(row.l or ())) if row else (set(), {}, [])
        assert got == (model["s"], model["m"], model["l"]), (op, arg)
