"""Dynamic per-task credentials against a dev server with --auth: a lease can do exactly what
it was granted, stops logging in once revoked, and expired leases are reaped."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cassandra import AuthenticationFailed, Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import RoundRobinPolicy

from cassflow.access._grants import table_grant
from cassflow.access._leases_cql import (
    MAX_ROLE_LENGTH,
    Lease,
    LeaseError,
    issue_lease,
    lease_role_name,
    list_leases,
    reap_leases,
    revoke_lease,
)
from cassflow.access._roles_plan import RolePlan, apply_plan, broker_grants
from cassflow.cql import Permission
from cassflow.devserver import DevServer

pytestmark = pytest.mark.devserver_only

KS = "shop"


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with DevServer(auth=True) as dev:
        yield dev


def _cluster(server: DevServer, user: str, password: str) -> Cluster:
    return Cluster(
        [server.host],
        port=server.port,
        auth_provider=PlainTextAuthProvider(user, password),
        connect_timeout=10,
        control_connection_timeout=10,
        protocol_version=5,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
        },
    )


@pytest.fixture(scope="module")
def admin(server: DevServer) -> Iterator[Session]:
    cluster = _cluster(server, "cassandra", "cassandra")
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE {KS} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    for table in ("src", "snk", "other"):
        session.execute(f"CREATE TABLE {KS}.{table} (k int PRIMARY KEY, v text)")
        session.execute(f"INSERT INTO {KS}.{table} (k, v) VALUES (1, 'one')")
    yield session
    cluster.shutdown()


GRANTS = [
    table_grant(Permission.SELECT, KS, "src"),
    table_grant(Permission.MODIFY, KS, "snk"),
]


def _login(server: DevServer, lease: Lease) -> Cluster:
    return _cluster(server, lease.role, lease.password.get_secret_value())


def _refused_login(server: DevServer, role: str, password: str) -> None:
    cluster = _cluster(server, role, password)
    try:
        with pytest.raises(NoHostAvailable) as caught:
            cluster.connect()
    finally:
        cluster.shutdown()
    errors = list(caught.value.errors.values())
    assert errors
    assert all(isinstance(e, AuthenticationFailed) for e in errors), errors


def test_a_lease_does_what_it_was_granted_and_nothing_else(
    server: DevServer, admin: Session
) -> None:
    lease = issue_lease(
        admin, task_identity="orders.load.run-1", grants=GRANTS, ttl_seconds=600, keyspace=KS
    )
    cluster = _login(server, lease)
    try:
        task = cluster.connect()
        assert task.execute(f"SELECT v FROM {KS}.src WHERE k = 1").one().v == "one"
        task.execute(f"INSERT INTO {KS}.snk (k, v) VALUES (2, 'two')")
        task.execute(f"DELETE FROM {KS}.snk WHERE k = 1")
        refused = [
            f"SELECT v FROM {KS}.snk WHERE k = 2",  # the other verb on its sink
            f"INSERT INTO {KS}.src (k, v) VALUES (3, 'x')",  # and on its source
            f"SELECT v FROM {KS}.other WHERE k = 1",  # another table
            f"INSERT INTO {KS}.other (k, v) VALUES (3, 'x')",
            f"CREATE TABLE {KS}.mine (k int PRIMARY KEY)",
            f"SELECT * FROM {KS}.cassflow_leases",  # the lease book is the broker's
        ]
        for statement in refused:
            with pytest.raises(Unauthorized):
                task.execute(statement)
    finally:
        cluster.shutdown()
    assert admin.execute(f"SELECT v FROM {KS}.snk WHERE k = 2").one().v == "two"
    assert revoke_lease(admin, lease.role, keyspace=KS)


def test_after_revoke_the_login_fails_and_revoke_is_idempotent(
    server: DevServer, admin: Session
) -> None:
    lease = issue_lease(
        admin, task_identity="orders.export", grants=GRANTS, ttl_seconds=600, keyspace=KS
    )
    _login(server, lease).connect().cluster.shutdown()
    assert revoke_lease(admin, lease.role, keyspace=KS) is True
    _refused_login(server, lease.role, lease.password.get_secret_value())
    assert revoke_lease(admin, lease.role, keyspace=KS) is False
    assert lease.role not in {r.role for r in list_leases(admin, keyspace=KS)}
    assert lease.role not in {r.role for r in admin.execute("LIST ROLES")}


def test_revoke_drops_only_roles_issued_as_leases(admin: Session) -> None:
    admin.execute("CREATE ROLE IF NOT EXISTS person WITH PASSWORD = 'pw' AND LOGIN = true")
    assert revoke_lease(admin, "person", keyspace=KS) is False
    assert "person" in {r.role for r in admin.execute("LIST ROLES")}


def test_reap_removes_expired_leases_only(server: DevServer, admin: Session) -> None:
    now = datetime.now(UTC)
    short = issue_lease(
        admin, task_identity="short", grants=GRANTS, ttl_seconds=0, keyspace=KS, now=now
    )
    long = issue_lease(
        admin, task_identity="long", grants=GRANTS, ttl_seconds=3600, keyspace=KS, now=now
    )
    assert reap_leases(admin, keyspace=KS, now=now - timedelta(seconds=1)) == []
    assert short.role in reap_leases(admin, keyspace=KS, now=now + timedelta(seconds=1))
    _refused_login(server, short.role, short.password.get_secret_value())
    roles = {r.role for r in admin.execute("LIST ROLES")}
    assert short.role not in roles
    assert long.role in roles
    assert {r.role for r in list_leases(admin, keyspace=KS)} >= {long.role}
    assert short.role not in {r.role for r in list_leases(admin, keyspace=KS)}
    later = reap_leases(admin, keyspace=KS, now=now + timedelta(hours=2))
    assert long.role in later
    assert reap_leases(admin, keyspace=KS, now=now + timedelta(hours=2)) == []


def test_concurrent_reapers_drop_each_lease_once_without_errors(admin: Session) -> None:
    now = datetime.now(UTC)
    leases = [
        issue_lease(admin, task_identity=f"burst-{i}", grants=GRANTS, ttl_seconds=1, keyspace=KS)
        for i in range(4)
    ]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def reap() -> None:
        try:
            results.append(reap_leases(admin, keyspace=KS, now=now + timedelta(minutes=1)))
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reap) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    reaped = {role for result in results for role in result}
    assert {lease.role for lease in leases} <= reaped
    roles = {r.role for r in admin.execute("LIST ROLES")}
    assert not roles & {lease.role for lease in leases}


def test_a_least_privilege_broker_can_issue_and_revoke(server: DevServer, admin: Session) -> None:
    plan = RolePlan("lease_broker", ("dyn",), tuple(broker_grants(GRANTS, KS)))
    apply_plan(admin, [plan])
    admin.execute("ALTER ROLE lease_broker WITH PASSWORD = 'broker-pw' AND LOGIN = true")
    cluster = _cluster(server, "lease_broker", "broker-pw")
    try:
        broker = cluster.connect()
        lease = issue_lease(
            broker, task_identity="via broker", grants=GRANTS, ttl_seconds=60, keyspace=KS
        )
        task = _login(server, lease)
        task.connect().execute(f"INSERT INTO {KS}.snk (k, v) VALUES (9, 'nine')")
        task.shutdown()
        with pytest.raises(LeaseError, match="other"):  # it cannot hand out what it lacks
            issue_lease(
                broker,
                task_identity="greedy",
                grants=[table_grant(Permission.SELECT, KS, "other")],
                ttl_seconds=60,
                keyspace=KS,
            )
        assert revoke_lease(broker, lease.role, keyspace=KS)

        # A lease it did not issue is not its to drop; the others are reaped all the same.
        now = datetime.now(UTC)
        foreign = issue_lease(
            admin, task_identity="foreign", grants=GRANTS, ttl_seconds=0, keyspace=KS
        )
        own = issue_lease(broker, task_identity="own", grants=GRANTS, ttl_seconds=0, keyspace=KS)
        with pytest.raises(LeaseError) as caught:
            reap_leases(broker, keyspace=KS, now=now + timedelta(minutes=1))
        message = str(caught.value)
        assert f"{foreign.role} (Unauthorized" in message
        assert f"(reaped: {own.role}" in message or f", {own.role}" in message
        assert foreign.role in reap_leases(admin, keyspace=KS, now=now + timedelta(minutes=1))
    finally:
        cluster.shutdown()
    _refused_login(server, lease.role, lease.password.get_secret_value())
    # The failed issue left no role and no record behind.
    records = list_leases(admin, keyspace=KS)
    assert not [r for r in records if r.identity == "greedy"]
    assert not [r for r in admin.execute("LIST ROLES") if "greedy" in r.role]


def test_role_names_are_short_unquoted_identifiers() -> None:
    for identity in ("orders_daily.load_orders.run-7", "Ünïcode / spaces", "", "x" * 300, "9a"):
        name = lease_role_name(identity)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert len(name) <= MAX_ROLE_LENGTH
    assert lease_role_name("a") != lease_role_name("a")


def test_the_password_never_appears_in_logs_reprs_or_the_lease_table(
    admin: Session, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    lease = issue_lease(
        admin, task_identity="secretive", grants=GRANTS, ttl_seconds=60, keyspace=KS
    )
    password = lease.password.get_secret_value()
    assert len(password) >= 40
    rows = admin.execute(f"SELECT * FROM {KS}.cassflow_leases")
    stored = repr([tuple(row) for row in rows])
    assert lease.role in stored
    revoke_lease(admin, lease.role, keyspace=KS)
    out, err = capfd.readouterr()
    for text in (repr(lease), str(lease), caplog.text, stored, out, err):
        assert password not in text
    with pytest.raises(LeaseError) as caught:
        issue_lease(admin, task_identity="x", grants=GRANTS, ttl_seconds=-1, keyspace=KS)
    assert "ttl_seconds" in str(caught.value)
