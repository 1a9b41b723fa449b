"""Hypothesis: random nested type definitions (user types, tuples, frozen collections, all
nested) and random values of them round-trip through a prepared INSERT and a SELECT."""

from __future__ import annotations

import itertools
from collections import namedtuple
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from cassandra.util import Duration, SortedSet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_names = itertools.count()


@dataclass(frozen=True)
class T:
    """A type: ``kind`` is a native type name or list/set/map/tuple/udt."""

    kind: str
    params: tuple[T, ...] = ()
    name: str = ""
    fields: tuple[str, ...] = ()

    def cql(self) -> str:
        """The type as a column or a nested type declares it (nested ones frozen)."""
        if self.kind in ("list", "set", "map"):
            inner = f"{self.kind}<{', '.join(p.cql() for p in self.params)}>"
            return f"frozen<{inner}>"
        if self.kind == "tuple":
            return f"tuple<{', '.join(p.cql() for p in self.params)}>"
        if self.kind == "udt":
            return f"frozen<{self.name}>"
        return self.kind

    def user_types(self) -> list[T]:
        """The user types this type uses, each after the ones it uses."""
        found: list[T] = []
        for param in self.params:
            found.extend(t for t in param.user_types() if t not in found)
        if self.kind == "udt":
            found.append(self)
        return found


_LEAF_VALUES: Mapping[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-(2**31), 2**31 - 1),
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "text": st.text(max_size=8),
    "boolean": st.booleans(),
    "double": st.floats(allow_nan=False),
    "blob": st.binary(max_size=8),
    "duration": st.builds(
        Duration,
        st.integers(-100, 100),
        st.integers(-100, 100),
        st.integers(-(10**12), 10**12),
    ).filter(  # Cassandra refuses mixed signs
        lambda d: (
            (d.months >= 0 and d.days >= 0 and d.nanoseconds >= 0)
            or (d.months <= 0 and d.days <= 0 and d.nanoseconds <= 0)
        )
    ),
}
#: Types that may be set elements and map keys (hashable, ordered, no duration).
_KEYS = ("int", "text", "bigint")


def _udt(params: list[T]) -> T:
    fields = tuple(f"f{i}" for i in range(len(params)))
    return T("udt", tuple(params), name=f"u{next(_names)}", fields=fields)


def _extend(inner: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    keys = st.sampled_from(_KEYS).map(T)
    return st.one_of(
        inner.map(lambda t: T("list", (t,))),
        keys.map(lambda k: T("set", (k,))),
        st.tuples(keys, inner).map(lambda kv: T("map", kv)),
        st.lists(inner, min_size=1, max_size=3).map(lambda ps: T("tuple", tuple(ps))),
        st.lists(inner, min_size=1, max_size=3).map(_udt),
    )


_TYPES = st.recursive(st.sampled_from(sorted(_LEAF_VALUES)).map(T), _extend, max_leaves=6)


def _values(t: T) -> st.SearchStrategy[Any]:
    if t.kind in _LEAF_VALUES:
        return _LEAF_VALUES[t.kind]
    if t.kind == "list":
        return st.lists(_values(t.params[0]), max_size=3)
    if t.kind == "set":
        return st.sets(_values(t.params[0]), max_size=3)
    if t.kind == "map":
        return st.dictionaries(_values(t.params[0]), _values(t.params[1]), max_size=3)
    parts = [st.none() | _values(p) for p in t.params]
    if t.kind == "tuple":
        return st.tuples(*parts)
    cls = namedtuple(t.name, t.fields)  # type: ignore[misc]  # an unregistered UDT value
    return st.tuples(*parts).map(lambda v: cls(*v))


def _normal(value: Any) -> Any:
    """Driver values in comparable form: sets and maps as Python ones, UDTs as tuples."""
    if isinstance(value, Mapping):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, Set | SortedSet):
        return {_normal(v) for v in value}
    if isinstance(value, tuple):
        return tuple(_normal(v) for v in value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _key(value: Any) -> str:
    """A text equal for equal values whatever the order of set elements and map entries."""
    value = _normal(value)
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(f"{_key(k)}: {_key(v)}" for k, v in value.items())) + "}"
    if isinstance(value, set):
        return "{" + ", ".join(sorted(_key(v) for v in value)) + "}"
    if isinstance(value, tuple | list):
        inner = ", ".join(_key(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return repr(value)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_nested_types_round_trip(session: Session, keyspace: str, data: Any) -> None:
    column_type = data.draw(_TYPES, label="type")
    for udt in column_type.user_types():
        fields = ", ".join(f"{f} {p.cql()}" for f, p in zip(udt.fields, udt.params, strict=True))
        session.execute(f"CREATE TYPE {keyspace}.{udt.name} ({fields})")
    table = f"t{next(_names)}"
    session.execute(f"CREATE TABLE {keyspace}.{table} (k int PRIMARY KEY, v {column_type.cql()})")
    values = data.draw(st.lists(_values(column_type), min_size=1, max_size=3), label="values")
    insert = session.prepare(f"INSERT INTO {keyspace}.{table} (k, v) VALUES (?, ?)")
    for k, value in enumerate(values):
        session.execute(insert, (k, value))
    rows = {r.k: r.v for r in session.execute(f"SELECT k, v FROM {keyspace}.{table}")}
    assert {k: _normal(v) for k, v in rows.items()} == {k: _normal(v) for k, v in enumerate(values)}
    session.execute(f"DROP TABLE {keyspace}.{table}")


def _keyable(t: T) -> bool:
    return t.kind != "duration" and all(_keyable(p) for p in t.params)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_nested_types_round_trip_as_clustering_keys(
    session: Session, keyspace: str, data: Any
) -> None:
    key_type = data.draw(_TYPES.filter(_keyable), label="type")
    for udt in key_type.user_types():
        fields = ", ".join(f"{f} {p.cql()}" for f, p in zip(udt.fields, udt.params, strict=True))
        session.execute(f"CREATE TYPE {keyspace}.{udt.name} ({fields})")
    table = f"t{next(_names)}"
    session.execute(
        f"CREATE TABLE {keyspace}.{table} (k int, c {key_type.cql()}, v int, PRIMARY KEY (k, c))"
    )
    drawn = data.draw(st.lists(_values(key_type), min_size=1, max_size=4), label="values")
    distinct = {_key(v): v for v in drawn}  # one row per key value
    insert = session.prepare(f"INSERT INTO {keyspace}.{table} (k, c, v) VALUES (0, ?, ?)")
    for i, value in enumerate(distinct.values()):
        session.execute(insert, (value, i))
    select = session.prepare(f"SELECT c, v FROM {keyspace}.{table} WHERE k = 0 AND c = ?")
    for i, value in enumerate(distinct.values()):
        row = session.execute(select, (value,)).one()
        assert row is not None
        assert (_normal(row.c), row.v) == (_normal(value), i)
    rows = list(session.execute(f"SELECT c FROM {keyspace}.{table} WHERE k = 0"))
    assert sorted(_key(r.c) for r in rows) == sorted(distinct)
    session.execute(f"DROP TABLE {keyspace}.{table}")
