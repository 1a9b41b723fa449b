"""The proxy turns each request into facts (verb, keyspace, table) exactly as Cassandra resolves
names; bypass attempts produce facts the policy denies, or are refused outright."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster, Session
from cassandra.protocol import SyntaxException
from hypothesis import given, settings
from hypothesis import strategies as st

from cassflow.cql import Verb
from cassflow.protocol import ErrorCode
from cassflow.proxy._prepared import (
    UNKNOWN_PREPARED,
    PreparedRegistry,
    actions_for_batch,
    resolve_batch,
)
from cassflow.proxy._requests import (
    NO_KEYSPACE,
    NOT_BATCHABLE,
    ClientState,
    RequestFact,
    RequestRefusedError,
    actions_for_query,
    check_facts,
    resolve_query,
)

S, M, D, A, U = Verb.SELECT, Verb.MODIFY, Verb.DDL, Verb.AUTH, Verb.USE

# What drivers read in the system keyspaces (a stand-in for the policy's schema reads).
DRIVER_KEYSPACES = {"system", "system_schema", "system_virtual_schema", "system_views"}
# alice's policy for these tests: shop.orders read and write, shop.customers read only,
# shop.audit_log write only, USE shop, and what drivers read in the system keyspaces.
ALICE = {
    ("shop", "orders"): {S, M},
    ("shop", "customers"): {S},
    ("shop", "audit_log"): {M},
}


def alice_decides(fact: RequestFact) -> str | None:
    """A stand-in for the policy: default deny, then the grants above."""
    if fact.verb is U and fact.keyspace == "shop":
        return None
    if fact.verb is S and fact.keyspace in DRIVER_KEYSPACES:
        return None
    if fact.verb in ALICE.get((fact.keyspace or "", fact.table or ""), set()):
        return None
    return "no rule matches"


def facts(text: str, keyspace: str | None = "shop", option: str | None = None) -> list[tuple]:
    state = ClientState("alice", keyspace)
    found = actions_for_query(text, state, keyspace_option=option)
    return [(f.verb, f.keyspace, f.table) for f in found]


def refused(text: str, keyspace: str | None = "shop", option: str | None = None) -> ErrorCode:
    state = ClientState("alice", keyspace)
    with pytest.raises(RequestRefusedError) as caught:
        check_facts(actions_for_query(text, state, keyspace_option=option), alice_decides)
    return caught.value.code


# --- bypass attempts written in the text: (name, text, connection keyspace, v5 keyspace field,
# the facts Cassandra would act on). Each must be denied by alice's policy. -------------------


@dataclass(frozen=True)
class Bypass:
    name: str
    text: str
    facts: list[tuple]
    keyspace: str | None = "shop"
    option: str | None = None


BYPASSES = [
    # USE switching: the connection's keyspace is the one the server acknowledged
    Bypass("use-other-then-unqualified", "SELECT * FROM orders", [(S, "other", "orders")], "other"),
    Bypass(
        "use-quoted-Shop-then-unqualified", "SELECT * FROM orders", [(S, "Shop", "orders")], "Shop"
    ),
    Bypass(
        "use-system_auth-then-roles",
        "SELECT * FROM roles",
        [(S, "system_auth", "roles")],
        "system_auth",
    ),
    Bypass("use-other-itself", "USE other", [(U, "other", None)]),
    Bypass("use-quoted-Shop-itself", 'USE "Shop"', [(U, "Shop", None)]),
    # quoted names keep their case, unquoted ones fold
    Bypass("quoted-Shop-keyspace", 'SELECT * FROM "Shop".orders', [(S, "Shop", "orders")]),
    Bypass("quoted-Orders-table", 'SELECT * FROM shop."Orders"', [(S, "shop", "Orders")]),
    Bypass("quoted-unicode-keyspace", 'SELECT * FROM "shöp".orders', [(S, "shöp", "orders")]),
    Bypass(
        "cyrillic-lookalike-keyspace",
        'SELECT * FROM "\u0455hop".orders',
        [(S, "\u0455hop", "orders")],
    ),
    Bypass("doubled-quote-in-name", 'SELECT * FROM "sh""op".orders', [(S, 'sh"op', "orders")]),
    Bypass("mixed-case-keywords-other", "sElEcT *\tfRoM\nOTHER.Orders", [(S, "other", "orders")]),
    # comments never hide or supply names
    Bypass(
        "block-comment-before-other",
        "SELECT * FROM /* shop. */ other.orders",
        [(S, "other", "orders")],
    ),
    Bypass(
        "block-comments-around-dot", "SELECT * FROM other/**/./**/orders", [(S, "other", "orders")]
    ),
    Bypass(
        "dash-comment-after-other",
        "SELECT * FROM other.orders -- shop.orders\n",
        [(S, "other", "orders")],
    ),
    Bypass(
        "slash-comment-after-other",
        "SELECT * FROM other.orders // shop.orders\n",
        [(S, "other", "orders")],
    ),
    Bypass(
        "string-literal-naming-shop",
        "SELECT * FROM other.t WHERE k = 'shop.orders'",
        [(S, "other", "t")],
    ),
    # batches: one fact per inner statement, unqualified ones in the connection's keyspace
    Bypass(
        "batch-mixing-allowed-and-other",
        "BEGIN BATCH INSERT INTO shop.orders (k) VALUES (1); "
        "INSERT INTO other.t (k) VALUES (1); APPLY BATCH",
        [(M, "shop", "orders"), (M, "other", "t")],
    ),
    Bypass(
        "batch-unqualified-after-use-other",
        "BEGIN UNLOGGED BATCH INSERT INTO orders (k) VALUES (1); APPLY BATCH",
        [(M, "other", "orders")],
        "other",
    ),
    Bypass(
        "batch-unqualified-read-only-table",
        "BEGIN BATCH INSERT INTO orders (k) VALUES (1); DELETE FROM customers WHERE k = 1; "
        "APPLY BATCH",
        [(M, "shop", "orders"), (M, "shop", "customers")],
    ),
    Bypass(
        "batch-conditional-reads",
        "BEGIN BATCH UPDATE audit_log SET v = 1 WHERE k = 1 IF v = 0; APPLY BATCH",
        [(M, "shop", "audit_log"), (S, "shop", "audit_log")],
    ),
    # the v5 keyspace field of QUERY/PREPARE/BATCH: between the text and the connection
    Bypass(
        "keyspace-field-other", "SELECT * FROM orders", [(S, "other", "orders")], "shop", "other"
    ),
    Bypass(
        "keyspace-field-shop-text-other",
        "SELECT * FROM other.orders",
        [(S, "other", "orders")],
        None,
        "shop",
    ),
    Bypass(
        "keyspace-field-not-folded", "SELECT * FROM orders", [(S, "SHOP", "orders")], "shop", "SHOP"
    ),
    # system keyspaces beyond what drivers read
    Bypass("system_auth-roles", "SELECT * FROM system_auth.roles", [(S, "system_auth", "roles")]),
    Bypass(
        "quoted-system_auth-roles",
        'SELECT * FROM "system_auth"."roles"',
        [(S, "system_auth", "roles")],
    ),
    Bypass(
        "system_traces-sessions",
        "SELECT * FROM system_traces.sessions",
        [(S, "system_traces", "sessions")],
    ),
    Bypass(
        "system_distributed",
        "SELECT * FROM system_distributed.repair_history",
        [(S, "system_distributed", "repair_history")],
    ),
    Bypass(
        "write-system-local",
        "INSERT INTO system.local (key) VALUES ('x')",
        [(M, "system", "local")],
    ),
    Bypass(
        "truncate-system_schema", "TRUNCATE system_schema.tables", [(M, "system_schema", "tables")]
    ),
    # DDL in its disguises
    Bypass(
        "alter-table-allowed-table", "ALTER TABLE orders ADD note text", [(D, "shop", "orders")]
    ),
    Bypass("create-index-on-other", "CREATE INDEX ON other.t (v)", [(D, "other", "t")]),
    Bypass(
        "create-custom-index-on-orders",
        "CREATE CUSTOM INDEX i ON orders (v) USING 'sai'",
        [(D, "shop", "orders")],
    ),
    Bypass("drop-index-unqualified", "DROP INDEX orders_idx", [(D, "shop", None)]),
    Bypass("create-type-unqualified", "CREATE TYPE addr (street text)", [(D, "shop", None)]),
    Bypass(
        "create-function-other",
        "CREATE FUNCTION other.f (x int) RETURNS NULL ON NULL INPUT RETURNS int "
        "LANGUAGE java AS 'return x;'",
        [(D, "other", None)],
    ),
    Bypass("drop-keyspace-shop", "DROP KEYSPACE shop", [(D, "shop", None)]),
    Bypass("create-trigger", "CREATE TRIGGER tr ON orders USING 'x.Y'", [(D, "shop", "orders")]),
    Bypass(
        "create-view-over-other-base",
        "CREATE MATERIALIZED VIEW shop.v AS SELECT * FROM other.base "
        "WHERE k IS NOT NULL PRIMARY KEY (k)",
        [(D, "shop", "v"), (D, "other", "base")],
    ),
    Bypass("alter-view", "ALTER MATERIALIZED VIEW v WITH comment = 'x'", [(D, "shop", "v")]),
    Bypass("drop-view", "DROP MATERIALIZED VIEW other.v", [(D, "other", "v")]),
    Bypass(
        "select-from-view", "SELECT * FROM other.orders_by_day", [(S, "other", "orders_by_day")]
    ),
    # writes and reads beyond the grant
    Bypass("truncate-read-only-table", "TRUNCATE customers", [(M, "shop", "customers")]),
    Bypass("truncate-table-keyword-other", "TRUNCATE TABLE other.t", [(M, "other", "t")]),
    Bypass(
        "lwt-on-write-only-table",
        "UPDATE audit_log SET v = 1 WHERE k = 1 IF v = 0",
        [(M, "shop", "audit_log"), (S, "shop", "audit_log")],
    ),
    Bypass(
        "insert-if-not-exists-write-only",
        "INSERT INTO audit_log (k) VALUES (1) IF NOT EXISTS",
        [(M, "shop", "audit_log"), (S, "shop", "audit_log")],
    ),
    Bypass(
        "delete-if-exists-write-only",
        "DELETE FROM audit_log WHERE k = 1 IF EXISTS",
        [(M, "shop", "audit_log"), (S, "shop", "audit_log")],
    ),
    Bypass("select-json-other", "SELECT JSON * FROM other.t", [(S, "other", "t")]),
    Bypass(
        "insert-json-read-only",
        "INSERT INTO customers JSON '{\"k\": 1}'",
        [(M, "shop", "customers")],
    ),
    # functions from other keyspaces are that keyspace's code
    Bypass(
        "function-of-other-in-selector",
        "SELECT other.f(v) FROM orders",
        [(S, "shop", "orders"), (S, "other", None)],
    ),
    Bypass(
        "function-of-other-in-where",
        "SELECT * FROM orders WHERE k = other.f(1)",
        [(S, "shop", "orders"), (S, "other", None)],
    ),
    Bypass(
        "function-of-other-in-set",
        "UPDATE orders SET v = other.f(1) WHERE k = 1",
        [(M, "shop", "orders"), (S, "other", None)],
    ),
    # roles and permissions
    Bypass("grant-on-shop", "GRANT ALL ON KEYSPACE shop TO alice", [(A, "shop", None)]),
    Bypass(
        "grant-on-unqualified-table",
        "GRANT MODIFY ON TABLE customers TO alice",
        [(A, "shop", "customers")],
    ),
    Bypass(
        "grant-function", "GRANT EXECUTE ON FUNCTION other.f(int) TO alice", [(A, "other", None)]
    ),
    Bypass(
        "create-superuser",
        "CREATE ROLE mallory WITH SUPERUSER = true AND LOGIN = true",
        [(A, None, None)],
    ),
    Bypass("grant-role", "GRANT admin TO alice", [(A, None, None)]),
    Bypass("list-roles", "LIST ROLES", [(A, None, None)]),
]


@pytest.mark.parametrize("case", BYPASSES, ids=[case.name for case in BYPASSES])
def test_bypass_attempts_resolve_as_cassandra_does_and_are_denied(case: Bypass) -> None:
    assert facts(case.text, case.keyspace, case.option) == case.facts
    assert refused(case.text, case.keyspace, case.option) is ErrorCode.UNAUTHORIZED


def test_there_are_at_least_thirty_named_bypass_attempts() -> None:
    assert len({case.name for case in BYPASSES}) == len(BYPASSES) >= 30


# --- text Cassandra refuses before looking at the schema: refused the same way --------------


@pytest.mark.parametrize(
    ("text", "keyspace", "code", "message"),
    [
        pytest.param(
            "SELECT * FROM shop.orders; DROP TABLE shop.orders",
            "shop",
            ErrorCode.SYNTAX_ERROR,
            "mismatched input 'DROP' expecting EOF",
            id="two-statements-in-one-query",
        ),
        pytest.param(
            "SELECT * FROM shop.orders; -- x\nDROP TABLE shop.orders",
            "shop",
            ErrorCode.SYNTAX_ERROR,
            "expecting EOF",
            id="second-statement-after-comment",
        ),
        pytest.param(
            "SELECT * FROM shop.orders garbage",
            "shop",
            ErrorCode.SYNTAX_ERROR,
            "mismatched input 'garbage' expecting EOF",
            id="trailing-garbage",
        ),
        pytest.param(
            # Cassandra's lexer wants a line end after a -- comment
            "SELECT * FROM shop.orders -- other.t",
            "shop",
            ErrorCode.SYNTAX_ERROR,
            "mismatched character '<EOF>'",
            id="line-comment-at-end-of-text",
        ),
        pytest.param("", "shop", ErrorCode.SYNTAX_ERROR, "no viable alternative", id="empty"),
        pytest.param(
            "SELECT * FROM orders",
            None,
            ErrorCode.INVALID,
            NO_KEYSPACE,
            id="unqualified-without-keyspace",
        ),
        pytest.param(
            "CREATE TYPE addr (street text)",
            None,
            ErrorCode.INVALID,
            NO_KEYSPACE,
            id="type-without-keyspace",
        ),
        pytest.param(
            "BEGIN BATCH INSERT INTO shop.orders (k) VALUES (1); INSERT INTO t (k) VALUES (1); "
            "APPLY BATCH",
            None,
            ErrorCode.INVALID,
            NO_KEYSPACE,
            id="batch-entry-without-keyspace",
        ),
        pytest.param(
            "GRANT EXECUTE ON FUNCTION f(int) TO alice",
            "shop",
            ErrorCode.INVALID,
            "must be explictly qualified by a keyspace",
            id="grant-unqualified-function",
        ),
    ],
)
def test_text_cassandra_refuses_is_refused_with_its_error(
    text: str, keyspace: str | None, code: ErrorCode, message: str
) -> None:
    with pytest.raises(RequestRefusedError, match=message) as caught:
        actions_for_query(text, ClientState("alice", keyspace))
    assert caught.value.code is code


# --- what alice may do passes, with the facts Cassandra acts on ----------------------------


@pytest.mark.parametrize(
    ("text", "keyspace", "option", "expected"),
    [
        ("SELECT * FROM orders", "shop", None, [(S, "shop", "orders")]),
        ("SELECT * FROM SHOP.ORDERS", None, None, [(S, "shop", "orders")]),
        ('SELECT * FROM "shop"."orders"', None, None, [(S, "shop", "orders")]),
        ("SELECT * FROM orders /* other.t */ ;;", None, "shop", [(S, "shop", "orders")]),
        ("SELECT * FROM orders", "other", "shop", [(S, "shop", "orders")]),
        ("USE shop", None, None, [(U, "shop", None)]),
        ("USE SHOP", "other", None, [(U, "shop", None)]),
        ("SELECT * FROM system.local WHERE key = 'local'", None, None, [(S, "system", "local")]),
        ("SELECT * FROM system.peers_v2", None, None, [(S, "system", "peers_v2")]),
        ("SELECT * FROM system_schema.tables", None, None, [(S, "system_schema", "tables")]),
        (
            "SELECT * FROM system_virtual_schema.keyspaces",
            None,
            None,
            [(S, "system_virtual_schema", "keyspaces")],
        ),
        ("SELECT * FROM system_views.clients", None, None, [(S, "system_views", "clients")]),
        ("DESCRIBE KEYSPACES", None, None, [(S, "system_schema", None)]),
        ("DESCRIBE TABLE other.t", None, None, [(S, "system_schema", None)]),
        # native functions (system.*) and the statement's own keyspace's add nothing
        (
            "SELECT shop.f(v), now(), system.now(), system.token(k) FROM orders",
            "shop",
            None,
            [(S, "shop", "orders")],
        ),
        (
            "UPDATE orders SET v = 1 WHERE k = 1 IF v = 0",
            "shop",
            None,
            [(M, "shop", "orders"), (S, "shop", "orders")],
        ),
        ("INSERT INTO shop.audit_log (k, v) VALUES (?, ?)", None, None, [(M, "shop", "audit_log")]),
        (
            "BEGIN BATCH INSERT INTO orders (k) VALUES (?); INSERT INTO shop.audit_log (k) "
            "VALUES (?); APPLY BATCH",
            "shop",
            None,
            [(M, "shop", "orders"), (M, "shop", "audit_log")],
        ),
    ],
)
def test_allowed_statements_pass(
    text: str, keyspace: str | None, option: str | None, expected: list[tuple]
) -> None:
    assert facts(text, keyspace, option) == expected
    state = ClientState("alice", keyspace)
    check_facts(actions_for_query(text, state, keyspace_option=option), alice_decides)


def test_a_denial_names_the_statement_the_fact_and_the_reason() -> None:
    state = ClientState("alice", "shop")
    with pytest.raises(RequestRefusedError) as caught:
        check_facts(
            actions_for_query("UPDATE audit_log SET v = 1 WHERE k = 1 IF v = 0", state),
            alice_decides,
        )
    assert caught.value.code is ErrorCode.UNAUTHORIZED
    assert str(caught.value) == (
        "UPDATE refused: SELECT on shop.audit_log (its IF condition reads the row): no rule matches"
    )


# --- the connection's keyspace: changed by the server's answer to USE, not by the USE --------


def test_use_changes_the_keyspace_only_when_the_server_acknowledges_it() -> None:
    state = ClientState("alice", "shop")
    use = resolve_query('USE "Other"', state)
    assert [(f.verb, f.keyspace) for f in use.facts] == [(U, "Other")]
    # sent, not yet answered: unqualified names still mean shop
    assert facts("SELECT * FROM orders", state.keyspace) == [(S, "shop", "orders")]
    state.on_use_succeeded("Other")
    assert state.keyspace == "Other"
    assert actions_for_query("SELECT * FROM orders", state)[0].keyspace == "Other"


def test_the_resolved_statement_names_the_keyspace_to_run_it_in() -> None:
    state = ClientState("alice", "shop")
    assert resolve_query("SELECT * FROM other.t", state).keyspace == "shop"
    assert resolve_query("SELECT * FROM t", state, keyspace_option="ks2").keyspace == "ks2"


# --- prepared statements: per identity, re-checked at EXECUTE -------------------------------


def prepare(
    registry: PreparedRegistry, identity: str, text: str, prepared_id: bytes, keyspace: str = "shop"
) -> None:
    statement = resolve_query(text, ClientState(identity, keyspace))
    check_facts(statement.facts, alice_decides)
    registry.register(identity, prepared_id, statement)


def test_execute_of_another_identitys_prepared_id_is_refused() -> None:
    registry = PreparedRegistry()
    prepare(registry, "bob", "SELECT * FROM orders", b"\x01" * 16)
    with pytest.raises(RequestRefusedError, match=UNKNOWN_PREPARED) as caught:
        registry.check_execute("alice", b"\x01" * 16, alice_decides)
    assert caught.value.code is ErrorCode.UNPREPARED
    assert caught.value.prepared_id == b"\x01" * 16
    assert registry.check_execute("bob", b"\x01" * 16, alice_decides).text == "SELECT * FROM orders"


def test_execute_keeps_the_keyspace_of_the_prepare() -> None:
    registry = PreparedRegistry()
    statement = resolve_query("SELECT * FROM orders", ClientState("alice", "shop"))
    registry.register("alice", b"id", statement)
    # a later USE other on the connection does not move a prepared statement
    found = registry.check_execute("alice", b"id", alice_decides)
    assert found.keyspace == "shop"
    assert [(f.verb, f.keyspace, f.table) for f in found.facts] == [(S, "shop", "orders")]


def test_execute_is_checked_against_the_policy_of_now() -> None:
    registry = PreparedRegistry()
    prepare(registry, "alice", "INSERT INTO orders (k) VALUES (?)", b"id")
    revoked: set[tuple[str | None, str | None]] = set()

    def decide(fact: RequestFact) -> str | None:
        return "rule removed" if (fact.keyspace, fact.table) in revoked else alice_decides(fact)

    registry.check_execute("alice", b"id", decide)
    revoked.add(("shop", "orders"))
    with pytest.raises(
        RequestRefusedError, match=r"prepared INSERT refused: MODIFY on shop\.orders: rule removed"
    ) as caught:
        registry.check_execute("alice", b"id", decide)
    assert caught.value.code is ErrorCode.UNAUTHORIZED


def test_prepared_ids_are_bounded_per_identity_least_recently_used_first() -> None:
    registry = PreparedRegistry(max_per_identity=2)
    for index in range(2):
        prepare(registry, "alice", f"SELECT * FROM orders WHERE k = {index}", bytes([index]))
    registry.lookup("alice", b"\x00")  # used: now the most recent
    prepare(registry, "alice", "SELECT * FROM customers", b"\x02")
    with pytest.raises(RequestRefusedError, match=UNKNOWN_PREPARED):
        registry.lookup("alice", b"\x01")
    assert registry.lookup("alice", b"\x00").text.endswith("k = 0")
    assert registry.lookup("alice", b"\x02").text == "SELECT * FROM customers"


def test_identities_are_bounded_and_can_be_forgotten() -> None:
    registry = PreparedRegistry(max_identities=2)
    for name in ("alice", "bob", "carol"):
        prepare(registry, name, "SELECT * FROM orders", b"id")
    with pytest.raises(RequestRefusedError):
        registry.lookup("alice", b"id")
    registry.forget("bob")
    with pytest.raises(RequestRefusedError):
        registry.lookup("bob", b"id")
    assert registry.lookup("carol", b"id").statement_kind == "SELECT"
    assert repr(registry) == "PreparedRegistry(identities=1, statements=1)"


# --- BATCH messages: CQL text and prepared ids mixed ----------------------------------------


def test_batch_message_mixing_allowed_and_forbidden_text_is_denied() -> None:
    state = ClientState("alice", "shop")
    found = actions_for_batch(
        ["INSERT INTO orders (k) VALUES (?)", "DELETE FROM other.t WHERE k = ?"],
        state,
        PreparedRegistry(),
    )
    assert [(f.verb, f.keyspace, f.table) for f in found] == [
        (M, "shop", "orders"),
        (M, "other", "t"),
    ]
    with pytest.raises(RequestRefusedError, match=r"DELETE refused: MODIFY on other\.t"):
        check_facts(found, alice_decides)


def test_batch_message_keyspace_field_applies_to_text_not_to_prepared_ids() -> None:
    registry = PreparedRegistry()
    prepare(registry, "alice", "INSERT INTO orders (k) VALUES (?)", b"p1", keyspace="shop")
    state = ClientState("alice", "shop")
    found = actions_for_batch(
        [b"p1", "INSERT INTO orders (k) VALUES (?)"], state, registry, keyspace_option="other"
    )
    assert [(f.keyspace, f.table) for f in found] == [("shop", "orders"), ("other", "orders")]


def test_batch_message_with_another_identitys_prepared_id_is_refused() -> None:
    registry = PreparedRegistry()
    prepare(registry, "bob", "INSERT INTO orders (k) VALUES (?)", b"bob's")
    with pytest.raises(RequestRefusedError, match=UNKNOWN_PREPARED) as caught:
        resolve_batch(
            ["INSERT INTO orders (k) VALUES (1)", b"bob's"], ClientState("alice", "shop"), registry
        )
    assert caught.value.code is ErrorCode.UNPREPARED


@pytest.mark.parametrize(
    "entry",
    [
        "SELECT * FROM orders",
        "TRUNCATE orders",
        "BEGIN BATCH INSERT INTO orders (k) VALUES (1); APPLY BATCH",
        "USE other",
    ],
)
def test_batch_message_takes_only_insert_update_delete(entry: str) -> None:
    with pytest.raises(RequestRefusedError, match=NOT_BATCHABLE) as caught:
        resolve_batch([entry], ClientState("alice", "shop"), PreparedRegistry())
    assert caught.value.code is ErrorCode.INVALID


def test_batch_message_refuses_a_prepared_select() -> None:
    registry = PreparedRegistry()
    prepare(registry, "alice", "SELECT * FROM orders", b"sel")
    with pytest.raises(RequestRefusedError, match=NOT_BATCHABLE):
        resolve_batch([b"sel"], ClientState("alice", "shop"), registry)


# --- secrets: passwords never reach audit text or error messages ---------------------------


@pytest.mark.parametrize(
    ("text", "audit"),
    [
        (
            "CREATE ROLE bob WITH PASSWORD = 'hunter2' AND LOGIN = true",
            "CREATE ROLE bob WITH PASSWORD = '*****' AND LOGIN = true",
        ),
        (
            "ALTER ROLE bob WITH HASHED PASSWORD = 'hunter2'",
            "ALTER ROLE bob WITH HASHED PASSWORD = '*****'",
        ),
        ("CREATE USER bob WITH PASSWORD 'hunter2'", "CREATE USER 'bob' WITH PASSWORD '*****'"),
        (
            "ALTER USER bob WITH PASSWORD 'hunter2' SUPERUSER",
            "ALTER USER 'bob' WITH PASSWORD '*****' SUPERUSER",
        ),
        ("CREATE ROLE bob WITH LOGIN = true", "CREATE ROLE bob WITH LOGIN = true"),
        ("SELECT * FROM orders WHERE k = 'hunter2'", "SELECT * FROM orders WHERE k = 'hunter2'"),
    ],
)
def test_audit_text_masks_passwords(text: str, audit: str) -> None:
    statement = resolve_query(text, ClientState("alice", "shop"))
    assert statement.audit_text == audit
    assert statement.text == text


def test_a_statement_with_a_password_that_does_not_parse_keeps_it_out_of_the_error() -> None:
    with pytest.raises(RequestRefusedError) as caught:
        resolve_query("CREATE ROLE bob WITH PASSWORD = 'hunter2' oops", ClientState("alice", None))
    assert caught.value.code is ErrorCode.SYNTAX_ERROR
    assert "hunter2" not in str(caught.value)
    assert str(caught.value).startswith("line 1:")


# --- the server agrees: statements run directly touch the keyspace the facts name ---------


@pytest.fixture(scope="module")
def twin_keyspaces(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """``shop_x`` and ``"Shop_x"``, each with a table ``orders`` whose row names its keyspace."""
    session = cluster.connect()
    suffix = uuid.uuid4().hex[:12]
    names = (f"shop_{suffix}", f"Shop_{suffix}")
    for name in names:
        session.execute(
            f'CREATE KEYSPACE "{name}" WITH replication = '
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        session.execute(f'CREATE TABLE "{name}".orders (k int PRIMARY KEY, v text)')
        session.execute(f'INSERT INTO "{name}".orders (k, v) VALUES (1, %s)', (name,))
    yield names
    for name in names:
        session.execute(f'DROP KEYSPACE "{name}"')
    session.shutdown()


@pytest.fixture
def fresh_session(cluster: Cluster) -> Iterator[Session]:
    session = cluster.connect()
    yield session
    session.shutdown()


@pytest.mark.parametrize(
    ("use", "text"),
    [
        pytest.param('USE "{up}"', "SELECT v FROM orders WHERE k = 1", id="use-quoted"),
        pytest.param(
            "USE {lo}", 'SELECT v FROM "{up}".orders WHERE k = 1', id="text-wins-over-use"
        ),
        pytest.param("USE {LO}", "SELECT v FROM orders WHERE k = 1", id="use-unquoted-folds"),
        pytest.param(None, "SELECT v FROM {LO}.ORDERS WHERE k = 1", id="unquoted-folds"),
        pytest.param(
            'USE "{up}"', "SELECT v FROM /* {lo}. */ orders WHERE k = 1", id="block-comment"
        ),
        pytest.param(
            "USE {lo}", 'SELECT v FROM orders -- "{up}".orders\nWHERE k = 1', id="line-comment"
        ),
        pytest.param(
            'USE "{up}"',
            "SELECT v FROM orders WHERE k = 1 // {lo}.orders\n",
            id="slash-comment",
        ),
    ],
)
def test_reads_touch_the_keyspace_the_facts_name(
    fresh_session: Session, twin_keyspaces: tuple[str, str], use: str | None, text: str
) -> None:
    lo, up = twin_keyspaces
    names = {"lo": lo, "up": up, "LO": lo.upper()}
    state = ClientState("alice")
    if use is not None:
        resolve_query(use.format(**names), state)  # what the proxy would check, then forward
        fresh_session.execute(use.format(**names))
        state.on_use_succeeded(fresh_session.keyspace)
    (fact,) = actions_for_query(text.format(**names), state)
    (row,) = fresh_session.execute(text.format(**names))
    assert (fact.keyspace, fact.table) == (row.v, "orders")


def test_batch_entries_land_in_the_keyspace_the_facts_name(
    fresh_session: Session, twin_keyspaces: tuple[str, str]
) -> None:
    lo, up = twin_keyspaces
    fresh_session.execute(f'USE "{up}"')
    state = ClientState("alice")
    state.on_use_succeeded(fresh_session.keyspace)
    text = (
        f"BEGIN BATCH INSERT INTO orders (k, v) VALUES (2, 'a'); "
        f"INSERT INTO {lo}.orders (k, v) VALUES (3, 'b'); APPLY BATCH"
    )
    found = [(f.keyspace, f.table) for f in actions_for_query(text, state)]
    fresh_session.execute(text)
    landed = [
        (name, "orders")
        for k in (2, 3)
        for name in (lo, up)
        if fresh_session.execute(f'SELECT k FROM "{name}".orders WHERE k = {k}').one()
    ]
    assert found == landed == [(up, "orders"), (lo, "orders")]


def test_text_the_proxy_refuses_is_refused_by_the_server_too(
    fresh_session: Session, twin_keyspaces: tuple[str, str]
) -> None:
    lo, up = twin_keyspaces
    two = f'SELECT v FROM {lo}.orders; SELECT v FROM "{up}".orders'
    with pytest.raises(RequestRefusedError) as ours:
        actions_for_query(two, ClientState("alice"))
    assert ours.value.code is ErrorCode.SYNTAX_ERROR
    with pytest.raises(SyntaxException):
        fresh_session.execute(two)

    with pytest.raises(RequestRefusedError, match=NO_KEYSPACE) as ours:
        actions_for_query("SELECT v FROM orders", ClientState("alice"))
    assert ours.value.code is ErrorCode.INVALID
    with pytest.raises(InvalidRequest, match="No keyspace has been specified"):
        fresh_session.execute("SELECT v FROM orders")


# --- whatever a client sends, the answer is facts or a refusal --------------------------------

_CQL_PIECES = st.sampled_from(
    [
        "SELECT", "*", "FROM", "shop", ".", "t", "'x'", '"Q"', "-- c\n", "/*", "*/", ";",
        "BEGIN", "BATCH", "APPLY", "INSERT", "INTO", "(", ")", "VALUES", "1", "?", ":n", "USE",
        "GRANT", "ON", "TO", "IF", "=", "WHERE", "k", "other", "f", "DROP", "TABLE", "$$b$$",
        "JSON", "\x00", "é", "\\",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    text=st.one_of(st.text(max_size=40), st.lists(_CQL_PIECES, max_size=14).map(" ".join)),
    keyspace=st.sampled_from([None, "shop"]),
)
def test_any_text_gives_facts_or_a_refusal(text: str, keyspace: str | None) -> None:
    code = None
    try:
        statement = resolve_query(text, ClientState("alice", keyspace))
    except RequestRefusedError as exc:
        code = exc.code
    if code is not None:
        assert code in (ErrorCode.SYNTAX_ERROR, ErrorCode.INVALID, ErrorCode.UNAUTHORIZED)
    else:
        # a statement that parses yields something to decide; only an empty BATCH does nothing
        assert statement.facts or statement.statement_kind == "BATCH"


def test_an_empty_batch_has_nothing_to_decide() -> None:
    assert actions_for_query("BEGIN BATCH APPLY BATCH", ClientState("alice")) == []
