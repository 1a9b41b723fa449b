"""Lightweight transactions through the driver: IF conditions, IF [NOT] EXISTS, the
``[applied]`` row with the current values, conditional batches and Cassandra's refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.query import BatchStatement, SimpleStatement


@pytest.fixture
def lwt(cluster: Cluster, keyspace: str) -> Iterator[Session]:
    # A session of its own: the shared one must not keep a keyspace that is dropped after.
    session = cluster.connect(keyspace)
    session.execute(
        "CREATE TABLE t (k int, c int, s int static, v int, w text, "
        "l list<int>, m map<text, int>, st set<int>, fl frozen<list<int>>, "
        "PRIMARY KEY (k, c))"
    )
    session.execute("CREATE TABLE cnt (k int PRIMARY KEY, n counter)")
    yield session
    session.shutdown()


def _row(result: object) -> tuple[object, ...]:
    rows = list(result)  # type: ignore[call-overload]
    assert len(rows) == 1
    return tuple(rows[0])


def _names(result: object) -> list[str]:
    return list(result.column_names)  # type: ignore[attr-defined]


def test_update_if_value_applies_or_shows_the_current_value(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, v, w) VALUES (1, 1, 10, 'a')")
    result = lwt.execute("UPDATE t SET v = 11 WHERE k = 1 AND c = 1 IF v = 10")
    assert _names(result) == ["[applied]"]
    assert _row(result) == (True,)
    result = lwt.execute("UPDATE t SET v = 12 WHERE k = 1 AND c = 1 IF v = 10 AND w = 'a'")
    assert _names(result) == ["[applied]", "v", "w"]
    assert _row(result) == (False, 11, "a")
    assert lwt.execute("SELECT v FROM t WHERE k = 1 AND c = 1").one().v == 11


@pytest.mark.parametrize(
    ("condition", "applied"),
    [
        ("v != 10", False),
        ("v != 11", True),
        ("v < 11", True),
        ("v <= 10", True),
        ("v > 10", False),
        ("v >= 10", True),
        ("v IN (1, 10)", True),
        ("v IN (1, 2)", False),
        ("w > 'A'", True),
        ("v = null", False),
        ("v != null", True),
    ],
)
def test_comparison_operators(lwt: Session, condition: str, applied: bool) -> None:
    lwt.execute("INSERT INTO t (k, c, v, w) VALUES (2, 1, 10, 'a')")
    result = lwt.execute(f"UPDATE t SET w = 'z' WHERE k = 2 AND c = 1 IF {condition}")
    assert _row(result)[0] is applied


def test_conditions_on_a_missing_row(lwt: Session) -> None:
    result = lwt.execute("UPDATE t SET v = 1 WHERE k = 3 AND c = 1 IF v = 1")
    assert _names(result) == ["[applied]"]
    assert _row(result) == (False,)
    # A missing cell is null, also on a missing row: Cassandra applies this one.
    assert _row(lwt.execute("UPDATE t SET v = 1 WHERE k = 3 AND c = 1 IF v = null")) == (True,)
    assert lwt.execute("SELECT v FROM t WHERE k = 3 AND c = 1").one().v == 1


def test_collection_conditions(lwt: Session) -> None:
    lwt.execute(
        "INSERT INTO t (k, c, l, m, st, fl) VALUES (4, 1, [1, 2], {'a': 1, 'b': 2}, {5, 6}, [7, 8])"
    )
    checks = {
        "l = [1, 2]": True,
        "l = [1]": False,
        "l > [1]": True,
        "l[1] = 2": True,
        "l[5] = null": True,
        "m['a'] = 1": True,
        "m['a'] IN (2, 3)": False,
        "m['zz'] = null": True,
        "m = {'a': 1, 'b': 2}": True,
        "st = {6, 5}": True,
        "fl = [7, 8]": True,
        "fl < [7, 9]": True,
        "l CONTAINS 2": True,
        "st CONTAINS 9": False,
        "m CONTAINS KEY 'b'": True,
        "m CONTAINS 2": True,
    }
    for condition, applied in checks.items():
        result = lwt.execute(f"UPDATE t SET w = 'x' WHERE k = 4 AND c = 1 IF {condition}")
        assert _row(result)[0] is applied, condition


def test_empty_non_frozen_collection_equals_null(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, v) VALUES (5, 1, 1)")
    assert _row(lwt.execute("UPDATE t SET v = 2 WHERE k = 5 AND c = 1 IF l = []"))[0] is True
    assert _row(lwt.execute("UPDATE t SET v = 3 WHERE k = 5 AND c = 1 IF l = null"))[0] is True


def test_failed_collection_element_condition_shows_the_whole_column(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, m) VALUES (6, 1, {'a': 1})")
    result = lwt.execute("UPDATE t SET v = 1 WHERE k = 6 AND c = 1 IF m['a'] = 2")
    assert _names(result) == ["[applied]", "m"]
    assert _row(result) == (False, {"a": 1})


def test_static_condition(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, s, v) VALUES (7, 1, 100, 1)")
    assert _row(lwt.execute("UPDATE t SET s = 101 WHERE k = 7 IF s = 100")) == (True,)
    result = lwt.execute("UPDATE t SET s = 102 WHERE k = 7 IF s = 100")
    assert _names(result) == ["[applied]", "s"]
    assert _row(result) == (False, 101)
    # Regular conditions come first in the answer, then static ones.
    result = lwt.execute("UPDATE t SET v = 5 WHERE k = 7 AND c = 1 IF s = 0 AND v = 1")
    assert _names(result) == ["[applied]", "v", "s"]
    assert _row(result) == (False, 1, 101)


def test_delete_if_conditions(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, v, w) VALUES (8, 1, 1, 'a')")
    result = lwt.execute("DELETE FROM t WHERE k = 8 AND c = 1 IF v = 2")
    assert _row(result) == (False, 1)
    assert _row(lwt.execute("DELETE w FROM t WHERE k = 8 AND c = 1 IF v = 1")) == (True,)
    assert lwt.execute("SELECT w FROM t WHERE k = 8 AND c = 1").one().w is None
    assert _row(lwt.execute("DELETE FROM t WHERE k = 8 AND c = 1 IF v IN (0, 1)")) == (True,)
    assert lwt.execute("SELECT * FROM t WHERE k = 8").one() is None


def test_insert_if_not_exists_shows_the_existing_row(lwt: Session) -> None:
    assert _row(lwt.execute("INSERT INTO t (k, c, v, w) VALUES (9, 1, 1, 'a') IF NOT EXISTS")) == (
        True,
    )
    result = lwt.execute("INSERT INTO t (k, c, v) VALUES (9, 1, 2) IF NOT EXISTS")
    assert _names(result) == ["[applied]", "k", "c", "s", "fl", "l", "m", "st", "v", "w"]
    assert _row(result) == (False, 9, 1, None, None, None, None, None, 1, "a")


def test_update_if_exists_shows_the_row(lwt: Session) -> None:
    assert _row(lwt.execute("UPDATE t SET v = 1 WHERE k = 10 AND c = 1 IF EXISTS")) == (False,)
    lwt.execute("INSERT INTO t (k, c, v) VALUES (10, 1, 0)")
    assert _row(lwt.execute("UPDATE t SET v = 1 WHERE k = 10 AND c = 1 IF EXISTS")) == (True,)
    assert lwt.execute("SELECT v FROM t WHERE k = 10 AND c = 1").one().v == 1


def test_prepared_conditions_and_in_marker(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, v) VALUES (11, 1, 5)")
    update = lwt.prepare("UPDATE t SET v = ? WHERE k = ? AND c = ? IF v IN ?")
    assert _row(lwt.execute(update, (6, 11, 1, [4, 5])))[0] is True
    assert _row(lwt.execute(update, (7, 11, 1, [4, 5]))) == (False, 6)


def test_serial_consistency_is_accepted(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, v) VALUES (12, 1, 5)")
    statement = SimpleStatement(
        "UPDATE t SET v = 6 WHERE k = 12 AND c = 1 IF v = 5",
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
    )
    assert _row(lwt.execute(statement))[0] is True
    read = SimpleStatement(
        "SELECT v FROM t WHERE k = 12 AND c = 1", consistency_level=ConsistencyLevel.SERIAL
    )
    assert lwt.execute(read).one().v == 6


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (
            "UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF c = 1",
            "PRIMARY KEY column 'c' cannot have IF conditions",
        ),
        (
            "UPDATE t USING TIMESTAMP 5 SET v = 1 WHERE k = 1 AND c = 1 IF v = 1",
            "Cannot provide custom timestamp for conditional updates",
        ),
        (
            "INSERT INTO t (k, c) VALUES (1, 1) IF NOT EXISTS USING TIMESTAMP 5",
            "Cannot provide custom timestamp for conditional updates",
        ),
        (
            "UPDATE cnt SET n = n + 1 WHERE k = 1 IF n = 1",
            "Conditions on counters are not supported",
        ),
        (
            "UPDATE cnt SET n = n + 1 WHERE k = 1 IF EXISTS",
            "Conditional updates are not supported on counter tables",
        ),
        (
            "UPDATE t SET v = 1 WHERE k IN (1, 2) AND c = 1 IF v = 1",
            "IN on the partition key is not supported with conditional updates",
        ),
        (
            "DELETE FROM t WHERE k = 1 AND c IN (1, 2) IF v = 1",
            "IN on the clustering key columns is not supported with conditional deletions",
        ),
        (
            "UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF v > null",
            'Invalid comparison with null for operator ">"',
        ),
        (
            "UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF st[1] = 1",
            "Invalid element access syntax for set column st",
        ),
        (
            "UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF v[1] = 1",
            "Invalid element access syntax for non-collection column v",
        ),
        (
            "UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF l CONTAINS KEY 1",
            "Cannot use CONTAINS KEY on non-map column l",
        ),
        # A DELETE without columns deletes whole rows: regular columns included.
        (
            "DELETE FROM t WHERE k = 1 IF v = 1",
            "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
            " in order to delete non static columns",
        ),
        (
            "DELETE FROM t WHERE k = 1 IF EXISTS",
            "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
            " in order to delete non static columns",
        ),
        (
            "DELETE FROM t WHERE k = 1 IF s = 1",
            "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
            " in order to delete non static columns",
        ),
        (
            "DELETE FROM t WHERE k = 1 AND c > 0 IF v = 1",
            "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
            " in order to delete non static columns",
        ),
        (
            "DELETE s FROM t WHERE k = 1 IF v = 1",
            "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
            " in order to use IF condition on non static columns",
        ),
        (
            "DELETE FROM t WHERE k = 1 AND c IN () IF EXISTS",
            "IN on the clustering key columns is not supported with conditional deletions",
        ),
        (
            "DELETE v FROM t WHERE k = 1 IF s = 1",
            "DELETE statements must restrict all PRIMARY KEY columns with equality relations"
            " in order to delete non static columns",
        ),
    ],
)
def test_refusals(lwt: Session, statement: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        lwt.execute(statement)


def test_conditional_batch(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, v) VALUES (20, 1, 1)")
    batch = (
        "BEGIN BATCH "
        "UPDATE t SET v = 2 WHERE k = 20 AND c = 1 IF v = 1; "
        "INSERT INTO t (k, c, v) VALUES (20, 2, 5); "
        "APPLY BATCH"
    )
    assert _row(lwt.execute(batch)) == (True,)
    result = lwt.execute(batch)
    assert _names(result) == ["[applied]", "k", "c", "v"]
    assert _row(result) == (False, 20, 1, 2)
    rows = lwt.execute("SELECT c, v FROM t WHERE k = 20")
    assert [(r.c, r.v) for r in rows] == [(1, 2), (2, 5)]


def test_conditional_batch_not_exists_answers_every_column(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, c, v) VALUES (21, 1, 1)")
    batch = BatchStatement()
    batch.add("INSERT INTO t (k, c, v) VALUES (21, 1, 3) IF NOT EXISTS")
    batch.add("INSERT INTO t (k, c, v) VALUES (21, 2, 3) IF NOT EXISTS")
    result = lwt.execute(batch)
    assert _names(result)[:3] == ["[applied]", "k", "c"]
    assert _row(result)[:3] == (False, 21, 1)
    assert lwt.execute("SELECT * FROM t WHERE k = 21 AND c = 2").one() is None


def test_conditional_batch_refusals(lwt: Session, keyspace: str) -> None:
    lwt.execute(f"CREATE TABLE {keyspace}.other (k int PRIMARY KEY, v int)")
    with pytest.raises(
        InvalidRequest, match="Batch with conditions cannot span multiple partitions"
    ):
        lwt.execute(
            "BEGIN BATCH UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF v = 1; "
            "UPDATE t SET v = 1 WHERE k = 2 AND c = 1; APPLY BATCH"
        )
    with pytest.raises(InvalidRequest, match="Batch with conditions cannot span multiple tables"):
        lwt.execute(
            "BEGIN BATCH UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF v = 1; "
            "UPDATE other SET v = 1 WHERE k = 1; APPLY BATCH"
        )
    with pytest.raises(
        InvalidRequest, match="Cannot provide custom timestamp for conditional BATCH"
    ):
        lwt.execute(
            "BEGIN BATCH USING TIMESTAMP 10 UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF v = 1; "
            "APPLY BATCH"
        )


def test_static_only_insert_and_if_not_exists(lwt: Session) -> None:
    lwt.execute("INSERT INTO t (k, s) VALUES (30, 5)")
    row = lwt.execute("SELECT k, c, s, v FROM t WHERE k = 30").one()
    assert tuple(row) == (30, None, 5, None)
    with pytest.raises(InvalidRequest, match="Some clustering keys are missing: c"):
        lwt.execute("INSERT INTO t (k, s, v) VALUES (30, 5, 1)")
    assert _row(lwt.execute("INSERT INTO t (k, s) VALUES (31, 1) IF NOT EXISTS")) == (True,)
    result = lwt.execute("INSERT INTO t (k, s) VALUES (31, 2) IF NOT EXISTS")
    assert _row(result)[:4] == (False, 31, None, 1)
    assert lwt.execute("SELECT s FROM t WHERE k = 31").one().s == 1


def _rows(result: object) -> list[tuple[object, ...]]:
    return [tuple(r) for r in result]  # type: ignore[attr-defined]


def test_static_column_cas_as_cassandra_answers(lwt: Session) -> None:
    """Cassandra's own static-column CAS cases (InsertUpdateIfConditionStaticsTest)."""
    lwt.execute("CREATE TABLE sv (id int, k text, version int static, v text, PRIMARY KEY (id, k))")
    lwt.execute("INSERT INTO sv (id, k, v) VALUES (1, 'foo', 'foo')")
    result = lwt.execute("INSERT INTO sv (id, k, version) VALUES (1, 'foo', 1) IF NOT EXISTS")
    assert _rows(result) == [(False, 1, "foo", None, "foo")]
    # Only the partition key and statics: IF NOT EXISTS is about the static row.
    assert _rows(lwt.execute("INSERT INTO sv (id, version) VALUES (1, 1) IF NOT EXISTS")) == [
        (True,)
    ]
    assert _rows(lwt.execute("SELECT * FROM sv WHERE id = 1")) == [(1, "foo", 1, "foo")]

    lwt.execute("INSERT INTO sv (id, version) VALUES (0, 0)")
    applied = "UPDATE sv SET v = 'foo', version = 1 WHERE id = 0 AND k = 'k1' IF version = 0"
    assert _rows(lwt.execute(applied)) == [(True,)]
    refused = "UPDATE sv SET v = 'bar', version = 1 WHERE id = 0 AND k = 'k2' IF version = 0"
    assert _rows(lwt.execute(refused)) == [(False, 1)]
    lwt.execute("UPDATE sv SET v = 'bar', version = 2 WHERE id = 0 AND k = 'k2' IF version = 1")
    assert _rows(lwt.execute("UPDATE sv SET version = 3 WHERE id = 0 IF version = 1")) == [
        (False, 2)
    ]

    # A batch answers with the full primary key; a static-only condition shows the first row.
    batch = (
        "BEGIN BATCH UPDATE sv SET v = 'foobar' WHERE id = 0 AND k = 'k1'; "
        "UPDATE sv SET v = 'barfoo' WHERE id = 0 AND k = 'k2'; "
        "UPDATE sv SET version = 3 WHERE id = 0 IF version = {}; APPLY BATCH"
    )
    assert _rows(lwt.execute(batch.format(1))) == [(False, 0, "k1", 2)]
    assert _rows(lwt.execute(batch.format(2))) == [(True,)]
    result = lwt.execute(
        "BEGIN BATCH UPDATE sv SET version = 4 WHERE id = 0 IF version = 3; "
        "UPDATE sv SET v = 'row1' WHERE id = 0 AND k = 'k1' IF v = 'foo'; "
        "UPDATE sv SET v = 'row2' WHERE id = 0 AND k = 'k2' IF v = 'bar'; APPLY BATCH"
    )
    assert list(result.column_names) == ["[applied]", "id", "k", "version", "v"]
    assert _rows(result) == [(False, 0, "k1", 3, "foobar"), (False, 0, "k2", 3, "barfoo")]

    both = (
        "BEGIN BATCH INSERT INTO sv (id, k, v) VALUES (5, 'k2', 'val2') IF NOT EXISTS; "
        "INSERT INTO sv (id, k, v) VALUES (5, 'k3', 'val3') IF NOT EXISTS; APPLY BATCH"
    )
    lwt.execute("INSERT INTO sv (id, k, v) VALUES (5, 'k2', 'val2')")
    assert _rows(lwt.execute(both)) == [(False, 5, "k2", None, "val2")]
    twice = (
        "BEGIN BATCH UPDATE sv SET v = 'a' WHERE id = 5 AND k = 'k2' IF v = 'x'; "
        "UPDATE sv SET v = 'b' WHERE id = 5 AND k = 'k2' IF v = 'y'; APPLY BATCH"
    )
    assert _rows(lwt.execute(twice)) == [(False, 5, "k2", "val2")]


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("UPDATE t SET s = 1 WHERE k = 1 AND c = 1 IF s = 1", "UPDATE"),
        ("UPDATE t SET s = 1 WHERE k = 1 AND c = 1", "UPDATE"),
        ("DELETE s FROM t WHERE k = 1 AND c = 1 IF s = 1", "DELETE"),
    ],
)
def test_static_only_statements_name_no_clustering_key(
    lwt: Session, statement: str, kind: str
) -> None:
    message = (
        "Invalid restrictions on clustering columns since the "
        f"{kind} statement modifies only static columns"
    )
    with pytest.raises(InvalidRequest, match=message):
        lwt.execute(statement)
    # With a condition on a regular column the row is named, and that is allowed.
    lwt.execute("INSERT INTO t (k, c, v) VALUES (1, 1, 1)")
    assert _row(lwt.execute("UPDATE t SET s = 1 WHERE k = 1 AND c = 1 IF v = 1")) == (True,)


@pytest.mark.parametrize(
    ("statement", "level", "message"),
    [
        (
            "UPDATE t SET v = 1 WHERE k = 40 AND c = 1",
            ConsistencyLevel.SERIAL,
            "You must use conditional updates for serializable writes",
        ),
        (
            "UPDATE t SET v = 1 WHERE k = 40 AND c = 1 IF EXISTS",
            ConsistencyLevel.LOCAL_SERIAL,
            "LOCAL_SERIAL is not supported as conditional update commit consistency",
        ),
        (
            "UPDATE cnt SET n = n + 1 WHERE k = 1",
            ConsistencyLevel.ANY,
            "Consistency level ANY is not yet supported for counter table cnt",
        ),
    ],
)
def test_consistency_levels_refused_for_writes(
    lwt: Session, statement: str, level: int, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        lwt.execute(SimpleStatement(statement, consistency_level=level))


def test_consistency_levels_of_conditional_writes(lwt: Session) -> None:
    batch = BatchStatement(consistency_level=ConsistencyLevel.SERIAL)
    batch.add("UPDATE t SET v = 1 WHERE k = 40 AND c = 1 IF EXISTS")
    with pytest.raises(InvalidRequest, match="SERIAL is not supported as conditional update"):
        lwt.execute(batch)
    # ANY commits a conditional write, and serial reads are accepted.
    any_commit = SimpleStatement(
        "INSERT INTO t (k, c, v) VALUES (40, 1, 2) IF NOT EXISTS",
        consistency_level=ConsistencyLevel.ANY,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
    )
    assert _row(lwt.execute(any_commit)) == (True,)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("l['a'] = 1", 'Invalid STRING constant (a) for "idx(l)" of type int'),
        ("m[1] = 1", 'Invalid INTEGER constant (1) for "key(m)" of type text'),
        ("m['a'] = 'x'", 'Invalid STRING constant (x) for "value(m)" of type int'),
        ("l[0] = 'x'", 'Invalid STRING constant (x) for "value(l)" of type int'),
        ("m['a'] IN (1, 'x')", 'Invalid STRING constant (x) for "value(m)" of type int'),
        ("v IN (1, 'x')", 'Invalid STRING constant (x) for "v" of type int'),
    ],
)
def test_element_conditions_name_their_receivers(
    lwt: Session, condition: str, message: str
) -> None:
    """Element conditions type their parts as Cassandra's idx(c) / key(c) / value(c)."""
    with pytest.raises(InvalidRequest) as caught:
        lwt.execute(f"UPDATE t SET v = 1 WHERE k = 1 AND c = 1 IF {condition}")
    assert message in str(caught.value)


def test_conditions_on_a_deleted_row_show_only_the_static_values_read(lwt: Session) -> None:
    """A missing row shows nothing but the static columns the conditions name."""
    lwt.execute("INSERT INTO t (k, c, s, v, w) VALUES (9, 1, 1, 1, 'a')")
    lwt.execute("DELETE FROM t WHERE k = 9 AND c = 1 IF EXISTS")
    assert _row(lwt.execute("DELETE v FROM t WHERE k = 9 AND c = 1 IF EXISTS")) == (False,)
    assert _row(lwt.execute("DELETE v FROM t WHERE k = 9 AND c = 1 IF v = 1 AND w = 'a'")) == (
        False,
    )
    result = lwt.execute("DELETE v FROM t WHERE k = 9 AND c = 1 IF v = 1 AND w = 'a' AND s = 1")
    assert _names(result) == ["[applied]", "v", "w", "s"]
    assert _row(result) == (False, None, None, 1)
    assert _row(lwt.execute("DELETE v FROM t WHERE k = 9 AND c = 5 IF s = 1")) == (True,)


def test_a_prepared_conditional_write_has_no_result_metadata(lwt: Session) -> None:
    # Its columns depend on what it finds: Cassandra prepares it with none and sends them
    # with every answer (CASSANDRA-13992), so the driver never skips them.
    insert = lwt.prepare("INSERT INTO t (k, c, v) VALUES (?, ?, ?) IF NOT EXISTS")
    update = lwt.prepare("UPDATE t SET v = ? WHERE k = ? AND c = ? IF v = ?")
    assert not insert.result_metadata
    assert not update.result_metadata
    assert _row(lwt.execute(insert, (7, 1, 10))) == (True,)
    result = lwt.execute(insert, (7, 1, 11))
    assert _names(result)[:4] == ["[applied]", "k", "c", "s"]
    assert _row(result)[0] is False
    result = lwt.execute(update, (12, 7, 1, 99))
    assert _names(result) == ["[applied]", "v"]
    assert _row(result) == (False, 10)
