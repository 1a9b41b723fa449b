"""Non-frozen collections and user types are stored a cell per element, as Cassandra does.

Each element (each field) has its own timestamp and TTL; overwriting the whole value is a
deletion just below the write's timestamp; deleting it is a deletion at it. The expected
answers are what Cassandra 4.1 gives for the same statements with the same explicit
timestamps (list order follows the time-based ids Cassandra gives appended and prepended
elements, whatever the statements' timestamps).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import SimpleStatement


@pytest.fixture
def table(session: Session, keyspace: str) -> str:
    name = f"{keyspace}.cells"
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {name} (k int, c int, s set<int>, m map<text, int>, "
        "l list<int>, v int, ss set<text> static, PRIMARY KEY (k, c))"
    )
    session.execute(f"TRUNCATE {name}")
    return name


def _one(session: Session, query: str) -> Any:
    rows = list(session.execute(query))
    assert len(rows) <= 1
    return rows[0] if rows else None


def _value(session: Session, query: str) -> Any:
    row = _one(session, query)
    return None if row is None else row[0]


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll an observable condition until it holds (TTL expiry), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_set_elements_keep_their_own_timestamps(session: Session, table: str) -> None:
    where = "WHERE k = 1 AND c = 1"
    session.execute(f"UPDATE {table} USING TIMESTAMP 10 SET s = s + {{1}} {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 5 SET s = s + {{2}} {where}")
    assert _value(session, f"SELECT s FROM {table} {where}") == {1, 2}
    # An overwrite deletes the elements older than its timestamp only.
    session.execute(f"UPDATE {table} USING TIMESTAMP 7 SET s = {{3}} {where}")
    assert _value(session, f"SELECT s FROM {table} {where}") == {1, 3}
    # A removal older than the element's write changes nothing; a newer one removes it.
    session.execute(f"UPDATE {table} USING TIMESTAMP 6 SET s = s - {{3}} {where}")
    assert _value(session, f"SELECT s FROM {table} {where}") == {1, 3}
    session.execute(f"UPDATE {table} USING TIMESTAMP 11 SET s = s - {{1}} {where}")
    assert _value(session, f"SELECT s FROM {table} {where}") == {3}
    # An element written again with an older timestamp than its removal stays removed.
    session.execute(f"UPDATE {table} USING TIMESTAMP 9 SET s = s + {{1}} {where}")
    assert _value(session, f"SELECT s FROM {table} {where}") == {3}


def test_map_entries_reconcile_per_key(session: Session, table: str) -> None:
    where = "WHERE k = 2 AND c = 1"
    session.execute(f"UPDATE {table} USING TIMESTAMP 10 SET m['a'] = 1 {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 5 SET m['b'] = 2 {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 7 SET m['a'] = 3 {where}")
    assert _value(session, f"SELECT m FROM {table} {where}") == {"a": 1, "b": 2}
    # A null entry is the key's tombstone.
    session.execute(f"UPDATE {table} USING TIMESTAMP 20 SET m['a'] = null {where}")
    assert _value(session, f"SELECT m FROM {table} {where}") == {"b": 2}
    session.execute(f"DELETE m['b'] FROM {table} USING TIMESTAMP 4 {where}")
    assert _value(session, f"SELECT m FROM {table} {where}") == {"b": 2}
    session.execute(f"UPDATE {table} USING TIMESTAMP 8 SET m = m + {{'c': 4}} {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 9 SET m = m - {{'c'}} {where}")
    assert _value(session, f"SELECT m FROM {table} {where}") == {"b": 2}
    # The row lived through its map entries alone (UPDATE writes no row marker).
    session.execute(f"DELETE m['b'] FROM {table} USING TIMESTAMP 6 {where}")
    assert _one(session, f"SELECT * FROM {table} {where}") is None


def test_list_order_follows_element_ids_not_timestamps(session: Session, table: str) -> None:
    where = "WHERE k = 3 AND c = 1"
    session.execute(f"UPDATE {table} USING TIMESTAMP 5 SET l = l + [1] {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 3 SET l = l + [2] {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 4 SET l = [9] + l {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 4 SET l = [8, 7] + l {where}")
    assert _value(session, f"SELECT l FROM {table} {where}") == [8, 7, 9, 1, 2]
    # An index set writes the element's cell: an older timestamp loses to it.
    session.execute(f"UPDATE {table} USING TIMESTAMP 1 SET l[0] = 0 {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 100 SET l[1] = 70 {where}")
    assert _value(session, f"SELECT l FROM {table} {where}") == [8, 70, 9, 1, 2]
    session.execute(f"DELETE l[0] FROM {table} USING TIMESTAMP 100 {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 100 SET l = l - [1] {where}")
    assert _value(session, f"SELECT l FROM {table} {where}") == [70, 9, 2]
    with pytest.raises(InvalidRequest, match="List index 3 out of bound, list has size 3"):
        session.execute(f"UPDATE {table} SET l[3] = 1 {where}")
    # The overwrite at 6 leaves the elements written after it (at 100).
    session.execute(f"UPDATE {table} USING TIMESTAMP 6 SET l = [5] {where}")
    assert _value(session, f"SELECT l FROM {table} {where}") == [70, 5]


def test_whole_column_deletion_is_at_its_timestamp(session: Session, table: str) -> None:
    where = "WHERE k = 4 AND c = 1"
    session.execute(f"INSERT INTO {table} (k, c, s) VALUES (4, 1, {{1, 2}}) USING TIMESTAMP 10")
    session.execute(f"UPDATE {table} USING TIMESTAMP 20 SET s = s + {{3}} {where}")
    session.execute(f"DELETE s FROM {table} USING TIMESTAMP 15 {where}")
    assert _value(session, f"SELECT s FROM {table} {where}") == {3}
    # SET to null is a deletion too; the row lives on through the INSERT's row marker.
    session.execute(f"UPDATE {table} USING TIMESTAMP 30 SET s = null {where}")
    row = _one(session, f"SELECT k, s FROM {table} {where}")
    assert row is not None
    assert row.s is None
    # A write older than the deletion is discarded, a newer one is kept.
    session.execute(f"UPDATE {table} USING TIMESTAMP 25 SET s = s + {{4}} {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 35 SET s = s + {{5}} {where}")
    assert _value(session, f"SELECT s FROM {table} {where}") == {5}


def test_empty_collections_read_as_null(session: Session, table: str) -> None:
    session.execute(f"INSERT INTO {table} (k, c, s, m, l) VALUES (5, 1, {{}}, {{}}, [])")
    row = _one(session, f"SELECT s, m, l FROM {table} WHERE k = 5 AND c = 1")
    assert (row.s, row.m, row.l) == (None, None, None)
    session.execute(f"UPDATE {table} SET s = {{1}} WHERE k = 5 AND c = 1")
    session.execute(f"UPDATE {table} SET s = s - {{1}} WHERE k = 5 AND c = 1")
    assert _value(session, f"SELECT s FROM {table} WHERE k = 5 AND c = 1") is None


def test_ttl_of_one_element_expires_that_element_only(session: Session, table: str) -> None:
    session.execute(f"INSERT INTO {table} (k, c, s) VALUES (6, 1, {{1, 2}})")
    session.execute(f"UPDATE {table} USING TTL 2 SET s = s + {{9}} WHERE k = 6 AND c = 1")
    session.execute(f"UPDATE {table} USING TTL 2 SET m['x'] = 1 WHERE k = 6 AND c = 2")
    session.execute(f"UPDATE {table} SET m['y'] = 2 WHERE k = 6 AND c = 3")
    session.execute(f"UPDATE {table} USING TTL 2 SET m['z'] = 3 WHERE k = 6 AND c = 3")

    def sets() -> Any:
        return _value(session, f"SELECT s FROM {table} WHERE k = 6 AND c = 1")

    assert sets() == {1, 2, 9}
    _wait_for(lambda: sets() == {1, 2})
    # A row whose only cells were expiring elements is gone; the other keeps its live entry.
    _wait_for(lambda: _one(session, f"SELECT * FROM {table} WHERE k = 6 AND c = 2") is None)
    assert _value(session, f"SELECT m FROM {table} WHERE k = 6 AND c = 3") == {"y": 2}
    assert sets() == {1, 2}


def test_several_operations_on_one_column_in_a_statement_and_a_batch(
    session: Session, table: str
) -> None:
    where = "WHERE k = 7 AND c = 1"
    session.execute(f"UPDATE {table} SET m = m + {{'a': 1}}, m['b'] = 2 {where}")
    assert _value(session, f"SELECT m FROM {table} {where}") == {"a": 1, "b": 2}
    # In one batch (one timestamp), a removal's tombstone beats the addition of the element.
    session.execute(
        "BEGIN BATCH USING TIMESTAMP 4000000000000000 "
        f"UPDATE {table} SET s = s + {{1, 2}} {where}; "
        f"UPDATE {table} SET s = s - {{1}} {where}; "
        f"UPDATE {table} SET m['a'] = 5 {where}; "
        "APPLY BATCH"
    )
    assert _value(session, f"SELECT s FROM {table} {where}") == {2}
    assert _value(session, f"SELECT m FROM {table} {where}") == {"a": 5, "b": 2}


def test_static_collection_elements(session: Session, table: str) -> None:
    session.execute(f"UPDATE {table} USING TIMESTAMP 10 SET ss = ss + {{'b'}} WHERE k = 8")
    session.execute(f"UPDATE {table} USING TIMESTAMP 5 SET ss = ss + {{'a'}} WHERE k = 8")
    session.execute(f"INSERT INTO {table} (k, c, v) VALUES (8, 1, 1)")
    session.execute(f"INSERT INTO {table} (k, c, v) VALUES (8, 2, 2)")
    rows = list(session.execute(f"SELECT c, ss FROM {table} WHERE k = 8"))
    assert [(r.c, r.ss) for r in rows] == [(1, {"a", "b"}), (2, {"a", "b"})]
    session.execute(f"UPDATE {table} USING TIMESTAMP 7 SET ss = {{'c'}} WHERE k = 8")
    assert _value(session, f"SELECT ss FROM {table} WHERE k = 8 LIMIT 1") == {"b", "c"}


def test_collections_read_in_order_forwards_backwards_and_paged(
    session: Session, table: str
) -> None:
    for c in range(5):
        session.execute(
            f"UPDATE {table} SET l = l + [{c}, {c + 1}], s = s + {{{c + 2}, {c}}}, "
            f"m = m + {{'b': {c}, 'a': {c}}} WHERE k = 9 AND c = {c}"
        )
    expected = [([c, c + 1], {c, c + 2}, [("a", c), ("b", c)]) for c in range(5)]

    def rows(query: str, fetch_size: int | None = None) -> list[Any]:
        statement = SimpleStatement(query, fetch_size=fetch_size)
        return [(r.l, r.s, list(r.m.items())) for r in session.execute(statement)]

    query = f"SELECT l, s, m FROM {table} WHERE k = 9"
    assert rows(query) == expected
    assert rows(query + " ORDER BY c DESC") == expected[::-1]
    assert rows(query, fetch_size=2) == expected
    assert rows(f"SELECT l, s, m FROM {table}", fetch_size=2) == expected
    # The element order holds in JSON too.
    assert _value(session, f"SELECT JSON l, m FROM {table} WHERE k = 9 AND c = 0") == (
        '{"l": [0, 1], "m": {"a": 0, "b": 0}}'
    )


def test_conditions_read_the_assembled_collection(session: Session, table: str) -> None:
    where = "WHERE k = 10 AND c = 1"
    session.execute(f"UPDATE {table} USING TIMESTAMP 10 SET s = s + {{1}}, m['a'] = 1 {where}")
    session.execute(f"UPDATE {table} USING TIMESTAMP 5 SET s = s + {{2}}, m['b'] = 2 {where}")
    applied = session.execute(f"UPDATE {table} SET v = 1 {where} IF s = {{1, 2}} AND m['b'] = 2")
    assert applied.one()[0] is True
    refused = session.execute(f"UPDATE {table} SET v = 2 {where} IF s = {{1}}")
    row = refused.one()
    assert row[0] is False
    assert row.s == {1, 2}


def test_non_frozen_udt_fields_are_cells(session: Session, keyspace: str) -> None:
    session.execute(f"CREATE TYPE IF NOT EXISTS {keyspace}.pt (x int, y int)")
    table = f"{keyspace}.udt_cells"
    session.execute(f"CREATE TABLE IF NOT EXISTS {table} (k int PRIMARY KEY, u pt)")
    session.execute(f"INSERT INTO {table} (k, u) VALUES (1, {{x: 1, y: 2}}) USING TIMESTAMP 10")
    session.execute(f"UPDATE {table} USING TIMESTAMP 5 SET u.x = 5 WHERE k = 1")
    session.execute(f"UPDATE {table} USING TIMESTAMP 20 SET u.y = 7 WHERE k = 1")
    u = _value(session, f"SELECT u FROM {table} WHERE k = 1")
    assert (u.x, u.y) == (1, 7)
    # The whole value at 15: a deletion at 14 (x goes, y written at 20 stays), then x = 3.
    session.execute(f"UPDATE {table} USING TIMESTAMP 15 SET u = {{x: 3}} WHERE k = 1")
    u = _value(session, f"SELECT u FROM {table} WHERE k = 1")
    assert (u.x, u.y) == (3, 7)
    session.execute(f"DELETE u.y FROM {table} USING TIMESTAMP 25 WHERE k = 1")
    u = _value(session, f"SELECT u FROM {table} WHERE k = 1")
    assert (u.x, u.y) == (3, None)
    assert _value(session, f"SELECT u.x FROM {table} WHERE k = 1") == 3
    session.execute(f"UPDATE {table} USING TIMESTAMP 30 SET u.x = null WHERE k = 1")
    row = _one(session, f"SELECT k, u FROM {table} WHERE k = 1")
    assert row is not None
    assert row.u is None


def test_writetime_and_ttl_of_a_non_frozen_collection_are_refused(
    session: Session, table: str
) -> None:
    with pytest.raises(InvalidRequest, match="Cannot use selection function writeTime on"):
        session.execute(f"SELECT writetime(s) FROM {table}")
    with pytest.raises(InvalidRequest, match="Cannot use selection function ttl on"):
        session.execute(f"SELECT ttl(m) FROM {table}")


def test_a_batch_of_element_additions_is_sized_by_its_new_cells(
    session: Session, table: str
) -> None:
    """Cassandra's batch size check sees the statement's cells: appending one element to a
    large stored set is a small mutation (no 'Batch ... is of size' warning)."""
    elements = ", ".join(f"'{i:020d}'" for i in range(150))
    for k in (11, 12):
        session.execute(f"UPDATE {table} SET ss = {{{elements}}} WHERE k = {k}")
    batch = SimpleStatement(
        "BEGIN UNLOGGED BATCH "
        + " ".join(f"UPDATE {table} SET ss = ss + {{'x'}} WHERE k = {k};" for k in (11, 12))
        + " APPLY BATCH"
    )
    future = session.execute_async(batch)
    future.result()
    assert not future.warnings
    assert len(_value(session, f"SELECT ss FROM {table} WHERE k = 11 LIMIT 1")) == 151
