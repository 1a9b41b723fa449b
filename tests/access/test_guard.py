"""The keyspace guard refuses statements outside a connection's binding before they are sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from cassflow.access._guard import KeyspaceGuard, KeyspaceGuardError
from cassflow.access._session import GuardedSession
from cassflow.copy._connect import CassandraConnection
from cassflow.errors import CassflowError

REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


# --- the guard on its own: what Cassandra would read in the text -----------------------------


@pytest.mark.parametrize(
    ("text", "keyspace"),
    [
        ("INSERT INTO shop.t (k) VALUES (1)", None),
        ("INSERT INTO SHOP.t (k) VALUES (1)", None),  # unquoted names fold to lower case
        ('INSERT INTO "shop".t (k) VALUES (1)', None),
        ("INSERT INTO t (k) VALUES (1)", "shop"),
        ("UPDATE shop.t SET v = 1 WHERE k = 1", None),
        ("SELECT * FROM ref.t", None),
        ("SELECT * FROM t", "ref"),
        ("SELECT * FROM system.local", None),
        ("SELECT * FROM system_schema.tables", None),
        ("SELECT * FROM system_views.clients", None),
        ("SELECT * FROM shop.t -- other.t\n", None),
        ("SELECT * FROM shop.t /* other.t */", None),
        ("USE ref", None),
        (
            "BEGIN UNLOGGED BATCH INSERT INTO shop.a (k) VALUES (1); "
            "INSERT INTO t (k) VALUES (2); APPLY BATCH",
            "shop",
        ),
        (f"CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {REPLICATION}", None),
        ("CREATE TABLE shop.t (k int PRIMARY KEY)", None),
        ("SELECT system.token(k) FROM shop.t", None),
        ("INSERT INTO t (k) VALUES (1)", None),  # no keyspace yet: the server refuses it
    ],
)
def test_statements_within_the_binding_pass(text: str, keyspace: str | None) -> None:
    guard = KeyspaceGuard("shop", ["ref"], keyspace=keyspace)
    guard.check(text)


@pytest.mark.parametrize(
    ("text", "keyspace", "message"),
    [
        ("INSERT INTO other.t (k) VALUES (1)", None, "refused INSERT on keyspace other"),
        ('INSERT INTO "Shop".t (k) VALUES (1)', None, "refused INSERT on keyspace Shop"),
        ("INSERT INTO /* shop. */ other.t (k) VALUES (1)", None, "on keyspace other"),
        ("SELECT * FROM other.t -- FROM shop.t\n", None, "refused SELECT on keyspace other"),
        ("SELECT * FROM t", "other", "it may not read keyspace other"),
        ("INSERT INTO ref.t (k) VALUES (1)", None, "it may only read keyspace ref"),
        ("DELETE FROM t WHERE k = 1", "ref", "refused DELETE on keyspace ref"),
        ("TRUNCATE system.local", None, "it may only read keyspace system"),
        ("USE other", None, "refused USE on keyspace other"),
        ("USE ref; INSERT INTO t (k) VALUES (1)", "shop", "refused INSERT on keyspace ref"),
        (
            "BEGIN BATCH INSERT INTO shop.t (k) VALUES (1); "
            "INSERT INTO other.t (k) VALUES (2); APPLY BATCH",
            None,
            "refused BATCH on keyspace other",
        ),
        (f"CREATE KEYSPACE other WITH replication = {REPLICATION}", None, "CREATE KEYSPACE"),
        ("DROP TABLE other.t", None, "refused DROP TABLE on keyspace other"),
        ("SELECT other.f(k) FROM shop.t", None, "it may not read keyspace other"),
        ("GRANT SELECT ON KEYSPACE shop TO bob", None, "refused GRANT"),
        ("CREATE ROLE bob WITH PASSWORD = 'pw' AND LOGIN = true", None, "refused CREATE ROLE"),
        ("LIST ROLES", None, "does not manage roles or permissions"),
        ("SELEC * FROM shop.t", None, "does not parse"),
    ],
)
def test_statements_outside_the_binding_are_refused(
    text: str, keyspace: str | None, message: str
) -> None:
    guard = KeyspaceGuard("shop", ["ref"], keyspace=keyspace, name="orders")
    with pytest.raises(KeyspaceGuardError, match=message) as info:
        guard.check(text)
    assert isinstance(info.value, CassflowError)
    if "parse" not in message:
        assert "connection orders is bound to keyspace shop" in str(info.value)
    assert guard.keyspace == keyspace  # a refused USE changes nothing


def test_use_switches_the_keyspace_of_later_statements() -> None:
    guard = KeyspaceGuard("shop", ["ref"])
    guard.check("USE ref")
    assert guard.keyspace == "ref"
    guard.check("SELECT * FROM t")
    with pytest.raises(KeyspaceGuardError, match="may only read keyspace ref"):
        guard.check("INSERT INTO t (k) VALUES (1)")
    guard.check('USE "shop"')
    guard.check("INSERT INTO t (k) VALUES (1)")


def test_a_broker_guard_may_manage_roles() -> None:
    guard = KeyspaceGuard("shop", allow_auth=True)
    guard.check("CREATE ROLE task_1 WITH PASSWORD = 'pw' AND LOGIN = true")
    guard.check("GRANT MODIFY ON TABLE shop.t TO task_1")
    with pytest.raises(KeyspaceGuardError):
        guard.check("INSERT INTO other.t (k) VALUES (1)")


# --- a guarded session against the cluster under test ----------------------------------------


@pytest.fixture
def other_keyspace(session: Session) -> Iterator[str]:
    """A second keyspace, with a table, that the connection is not bound to."""
    name = f"o_{uuid.uuid4().hex[:16]}"
    session.execute(f"CREATE KEYSPACE {name} WITH replication = {REPLICATION}")
    session.execute(f"CREATE TABLE {name}.t (k int PRIMARY KEY, v text)")
    yield name
    session.execute(f"DROP KEYSPACE IF EXISTS {name}")


@pytest.fixture
def bound(
    contact: tuple[list[str], int], keyspace: str, session: Session
) -> Iterator[CassandraConnection]:
    session.execute(f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY, v text)")
    hosts, port = contact
    with CassandraConnection(
        "orders", hosts=hosts, port=port, keyspace=keyspace, guard=True
    ) as connection:
        yield connection


def _count(session: Session, table: str) -> int:
    return int(session.execute(f"SELECT count(*) FROM {table}").one()[0])


def test_the_guarded_session_writes_its_keyspace(bound: CassandraConnection) -> None:
    guarded = bound.session()
    assert isinstance(guarded, GuardedSession)
    ks = bound.keyspace
    guarded.execute(f"INSERT INTO {ks}.t (k, v) VALUES (1, 'one')")
    guarded.execute(f"INSERT INTO {ks}.t (k, v) VALUES (%s, %s)", (2, "two"))
    prepared = guarded.prepare(f"INSERT INTO {ks}.t (k, v) VALUES (?, ?)")
    guarded.execute(prepared, (3, "three"))
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    batch.add(prepared, (4, "four"))
    batch.add(SimpleStatement(f"INSERT INTO {ks}.t (k, v) VALUES (5, 'five')"))
    guarded.execute(batch)
    guarded.execute_async(prepared, (6, "six")).result()
    rows = guarded.execute(f"SELECT k, v FROM {ks}.t")
    assert sorted(tuple(r) for r in rows) == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
        (4, "four"),
        (5, "five"),
        (6, "six"),
    ]
    # The driver's own attributes pass through.
    assert guarded.cluster is bound.cluster
    assert ks in guarded.cluster.metadata.keyspaces


def test_a_foreign_keyspace_is_refused_before_the_server_sees_it(
    bound: CassandraConnection, other_keyspace: str, session: Session
) -> None:
    guarded = bound.session()
    # The keyspace does not even exist: the error is still the guard's, not the server's.
    missing = f"missing_{uuid.uuid4().hex[:8]}"
    with pytest.raises(KeyspaceGuardError, match=f"refused INSERT on keyspace {missing}"):
        guarded.execute(f"INSERT INTO {missing}.t (k) VALUES (1)")
    refused = [
        f"INSERT INTO {other_keyspace}.t (k, v) VALUES (1, 'x')",
        f"INSERT INTO /* {bound.keyspace}. */ {other_keyspace}.t (k, v) VALUES (2, 'x')",
        f"INSERT INTO \"{other_keyspace}\".t (k, v) VALUES (3, 'x')",
        f"BEGIN BATCH INSERT INTO {bound.keyspace}.t (k, v) VALUES (4, 'ok'); "
        f"INSERT INTO {other_keyspace}.t (k, v) VALUES (4, 'x'); APPLY BATCH",
    ]
    for text in refused:
        with pytest.raises(KeyspaceGuardError, match=f"keyspace {other_keyspace}"):
            guarded.execute(text)
        with pytest.raises(KeyspaceGuardError):
            guarded.execute_async(SimpleStatement(text))
    with pytest.raises(KeyspaceGuardError):
        guarded.execute(f"INSERT INTO {other_keyspace}.t (k, v) VALUES (%s, %s)", (5, "x"))
    with pytest.raises(KeyspaceGuardError):
        guarded.prepare(f"INSERT INTO {other_keyspace}.t (k, v) VALUES (?, ?)")
    batch = BatchStatement()
    batch.add(SimpleStatement(f"INSERT INTO {bound.keyspace}.t (k, v) VALUES (6, 'ok')"))
    batch.add(SimpleStatement(f"INSERT INTO {other_keyspace}.t (k, v) VALUES (6, 'x')"))
    with pytest.raises(KeyspaceGuardError):
        guarded.execute(batch)
    # Nothing of it reached the server: neither table holds a row.
    assert _count(session, f"{other_keyspace}.t") == 0
    assert _count(session, f"{bound.keyspace}.t") == 0


def test_statements_prepared_elsewhere_are_refused(
    bound: CassandraConnection, other_keyspace: str, session: Session
) -> None:
    foreign = session.prepare(f"INSERT INTO {other_keyspace}.t (k, v) VALUES (?, ?)")
    guarded = bound.session()
    with pytest.raises(KeyspaceGuardError, match="not prepared through this guarded session"):
        guarded.execute(foreign.bind((1, "x")))
    batch = BatchStatement()
    batch.add(foreign, (2, "x"))
    with pytest.raises(KeyspaceGuardError):
        guarded.execute(batch)
    assert _count(session, f"{other_keyspace}.t") == 0


def test_use_in_a_guarded_session(
    contact: tuple[list[str], int], keyspace: str, other_keyspace: str, session: Session
) -> None:
    session.execute(f"INSERT INTO {other_keyspace}.t (k, v) VALUES (1, 'reference')")
    session.execute(f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY, v text)")
    hosts, port = contact
    with CassandraConnection(
        "orders",
        hosts=hosts,
        port=port,
        keyspace=keyspace,
        read_keyspaces=[other_keyspace],
        guard=True,
    ) as connection:
        guarded = connection.session()
        guarded.execute(f"USE {other_keyspace}")
        assert guarded.keyspace == other_keyspace
        assert [tuple(r) for r in guarded.execute("SELECT k, v FROM t")] == [(1, "reference")]
        with pytest.raises(KeyspaceGuardError, match=f"may only read keyspace {other_keyspace}"):
            guarded.execute("INSERT INTO t (k, v) VALUES (2, 'x')")
        guarded.set_keyspace(keyspace)
        guarded.execute("INSERT INTO t (k, v) VALUES (2, 'mine')")
        with pytest.raises(KeyspaceGuardError, match="refused USE"):
            guarded.set_keyspace("system_auth")
        assert guarded.keyspace == keyspace
    assert _count(session, f"{other_keyspace}.t") == 1
    assert _count(session, f"{keyspace}.t") == 1


def test_role_statements_are_refused_and_errors_of_the_server_still_arrive(
    bound: CassandraConnection,
) -> None:
    guarded = bound.session()
    with pytest.raises(KeyspaceGuardError, match="refused CREATE ROLE"):
        guarded.execute("CREATE ROLE intruder WITH PASSWORD = 'pw' AND LOGIN = true")
    with pytest.raises(KeyspaceGuardError, match="refused GRANT"):
        guarded.execute(f"GRANT SELECT ON KEYSPACE {bound.keyspace} TO intruder")
    # Within the binding the server has the last word, as before.
    with pytest.raises(InvalidRequest):
        guarded.execute(f"SELECT nope FROM {bound.keyspace}.t")
