"""The policy file and its decisions: validation with file:line:column, verbs, names resolved
as CQL resolves them, consistency order, limits, time windows, schema reads, default deny."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cassflow.cql import Batch, Verb, parse_statement
from cassflow.cql._quote import ident
from cassflow.proxy._consistency import ORDER, consistency_name, rank
from cassflow.proxy._policy import (
    _READABLE_KEYSPACES,
    _READABLE_TABLES,
    SCHEMA_RULE,
    Action,
    Decision,
    Policy,
    PolicyError,
    load_policy,
    parse_policy,
)
from cassflow.proxy._policy_spec import cql_name
from cassflow.proxy._requests import ClientState, resolve_query

DOCS = Path(__file__).resolve().parents[2] / "docs" / "proxy-policy.md"

# A Wednesday, 10:00 in Berlin (CEST, UTC+2).
WEDNESDAY_10_BERLIN = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)

POLICY = """\
version: 1
defaults: {max_consistency: LOCAL_QUORUM, max_batch_statements: 50, max_page_size: 5000}
rules:
  - name: analysts-read-shop
    match: {groups: [analysts]}
    allow:
      - {keyspace: shop, tables: [orders, customers], verbs: [SELECT]}
      - {keyspace: catalog, verbs: [SELECT]}
    max_consistency: LOCAL_QUORUM
    max_batch_statements: 20
    max_page_size: 1000
    rate: {requests_per_second: 200, rows_per_second: 10000, burst: 2.0}
    windows: [{days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: "Europe/Berlin"}]
  - name: loader
    match: {subjects: [etl-bot]}
    allow:
      - {keyspace: shop, tables: [orders, '"Audit"'], verbs: [SELECT, modify]}
    max_page_size: null
  - name: admins
    match: {groups: [dba], subjects: [root]}
    allow:
      - {keyspace: "*", verbs: [SELECT, MODIFY, DDL, AUTH]}
    max_consistency: ALL
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(POLICY, "policy.yaml")


def act(verb: Verb, keyspace: str | None, table: str | None = None, **more: object) -> Action:
    more.setdefault("at", WEDNESDAY_10_BERLIN)
    more.setdefault("consistency", "LOCAL_ONE")
    more.setdefault("page_size", 100)
    return Action(verb=verb, keyspace=keyspace, table=table, **more)  # type: ignore[arg-type]


def statement_actions(text: str, session_keyspace: str | None, **more: object) -> list[Action]:
    """The actions of CQL text, one per fact the proxy finds in it (names resolved as
    Cassandra resolves them)."""
    resolved = resolve_query(text, ClientState("tester", keyspace=session_keyspace))
    statement = parse_statement(text)
    if isinstance(statement, Batch):
        more.setdefault("batch_statements", len(statement.statements))
    return [act(fact.verb, fact.keyspace, fact.table, **more) for fact in resolved.facts]


def decide_statement(
    policy: Policy, subject: str, groups: list[str], text: str, session_keyspace: str | None
) -> Decision:
    """A request's verdict as the proxy's gate reaches it: each action decided on its own, the
    first denied one refuses the request."""
    decisions = [
        policy.decide(subject, groups, action)
        for action in statement_actions(text, session_keyspace)
    ]
    assert decisions, text
    return next((decision for decision in decisions if not decision.allowed), decisions[0])


# -- decisions ------------------------------------------------------------------------------


def test_a_rule_allows_its_verbs_on_its_tables(policy: Policy) -> None:
    decision = policy.decide("alice", ["analysts"], act(Verb.SELECT, "shop", "orders"))
    assert decision.allowed
    assert decision.rule == "analysts-read-shop"
    assert decision.rate is not None
    assert decision.rate.requests_per_second == 200
    assert policy.decide("alice", ["analysts"], act(Verb.SELECT, "catalog", "items")).allowed


def test_a_verb_the_rule_does_not_list_is_denied_naming_the_rule(policy: Policy) -> None:
    decision = policy.decide("alice", ["analysts"], act(Verb.MODIFY, "shop", "orders"))
    assert not decision.allowed
    assert decision.rule == "analysts-read-shop"
    assert decision.reason == (
        "rule analysts-read-shop allows only SELECT on shop.orders, not MODIFY"
    )


def test_a_table_outside_the_rule_is_denied(policy: Policy) -> None:
    decision = policy.decide("alice", ["analysts"], act(Verb.SELECT, "shop", "secrets"))
    assert not decision.allowed
    assert decision.reason == "rule analysts-read-shop does not cover shop.secrets"


def test_default_deny_when_no_rule_matches(policy: Policy) -> None:
    decision = policy.decide("mallory", ["guests"], act(Verb.SELECT, "shop", "orders"))
    assert not decision.allowed
    assert decision.rule is None
    assert decision.reason == "no rule matches subject 'mallory' (groups guests)"
    nobody = policy.decide("mallory", [], act(Verb.SELECT, "shop", "orders"))
    assert nobody.reason == "no rule matches subject 'mallory' (no groups)"


def test_an_empty_policy_denies_everything_but_schema_reads() -> None:
    empty = parse_policy("version: 1\n")
    assert not empty.decide("root", ["dba"], act(Verb.SELECT, "shop", "orders")).allowed
    assert empty.decide("root", [], act(Verb.SELECT, "system", "local")).allowed


def test_subjects_and_groups_match_exactly(policy: Policy) -> None:
    orders = act(Verb.MODIFY, "shop", "orders")
    assert policy.decide("etl-bot", [], orders).allowed
    assert not policy.decide("ETL-BOT", [], orders).allowed  # token subjects are case-sensitive
    assert not policy.decide("etl-bot2", [], orders).allowed
    assert not policy.decide("alice", ["Analysts"], act(Verb.SELECT, "shop", "orders")).allowed
    assert policy.decide("root", [], orders).rule == "admins"


def test_the_first_allowing_rule_wins_and_brings_its_limits(policy: Policy) -> None:
    # alice is an analyst and a dba: reads of shop.orders go by the analysts' rule...
    read = policy.decide("alice", ["analysts", "dba"], act(Verb.SELECT, "shop", "orders"))
    assert read.rule == "analysts-read-shop"
    # ...but a read the analysts' rule refuses (page too big) falls through to admins.
    big = policy.decide(
        "alice", ["analysts", "dba"], act(Verb.SELECT, "shop", "orders", page_size=4000)
    )
    assert big.allowed
    assert big.rule == "admins"
    assert big.rate is None


def test_a_denial_names_the_rule_that_came_closest(policy: Policy) -> None:
    # etl-bot is an analyst and the loader; the loader's rule covers shop.orders for MODIFY but
    # refuses the consistency level: it came closer than the analysts' rule (wrong verb).
    decision = policy.decide(
        "etl-bot", ["analysts"], act(Verb.MODIFY, "shop", "orders", consistency="ALL")
    )
    assert not decision.allowed
    assert decision.rule == "loader"
    assert decision.reason == "consistency ALL is above the maximum LOCAL_QUORUM of rule loader"


def test_unquoted_policy_names_are_case_insensitive_and_quoted_ones_exact(
    policy: Policy,
) -> None:
    # The loader may write "Audit" (quoted in the policy) but not audit.
    assert policy.decide("etl-bot", [], act(Verb.MODIFY, "shop", "Audit")).allowed
    denied = policy.decide("etl-bot", [], act(Verb.MODIFY, "shop", "audit"))
    assert not denied.allowed
    assert denied.reason == "rule loader does not cover shop.audit"


@pytest.mark.parametrize(
    ("text", "session", "allowed"),
    [
        ("SELECT * FROM shop.orders", None, True),
        ("SELECT * FROM SHOP.ORDERS", None, True),
        ('SELECT * FROM "shop"."orders"', None, True),
        ('SELECT * FROM "Shop".orders', None, False),  # another keyspace than shop
        ('SELECT * FROM shop."Orders"', None, False),
        ("SELECT * FROM orders", "shop", True),
        ("SELECT * FROM orders", "crm", False),  # USE decides what "orders" is
        ("SELECT * FROM /* shop.orders */ shop.secrets", None, False),
        ("SELECT * FROM shop.orders -- ; DROP TABLE shop.orders\n", None, True),
        ("INSERT INTO shop.orders (id) VALUES (1)", None, False),
        ("TRUNCATE shop.orders", None, False),
        ("DROP TABLE shop.orders", None, False),
        ("SELECT * FROM system_auth.roles", None, False),
        ('SELECT * FROM "system_auth"."roles"', None, False),
        ("SELECT * FROM system.local", None, True),
        ('SELECT * FROM "system".peers_v2', None, True),
        ("SELECT * FROM system_schema.tables", None, True),
        ("SELECT * FROM system.paxos", None, False),
        ("SELECT * FROM system_views.settings", None, False),
        ("GRANT SELECT ON KEYSPACE shop TO alice", None, False),
        ("LIST ROLES", None, False),
    ],
)
def test_statements_are_decided_on_their_resolved_names(
    policy: Policy, text: str, session: str | None, allowed: bool
) -> None:
    decision = decide_statement(policy, "alice", ["analysts"], text, session)
    assert decision.allowed is allowed, decision.reason


def test_a_batch_is_allowed_only_when_every_table_is_allowed(policy: Policy) -> None:
    both = (
        "BEGIN BATCH INSERT INTO shop.orders (id) VALUES (1); "
        'INSERT INTO shop."Audit" (id) VALUES (1); APPLY BATCH'
    )
    assert decide_statement(policy, "etl-bot", [], both, None).allowed
    mixed = (
        "BEGIN BATCH INSERT INTO orders (id) VALUES (1); "
        "INSERT INTO shop.customers (id) VALUES (1); APPLY BATCH"
    )
    decision = decide_statement(policy, "etl-bot", [], mixed, "shop")
    assert not decision.allowed
    assert decision.reason == "rule loader does not cover shop.customers"


def test_each_table_of_a_batch_may_be_allowed_by_another_rule() -> None:
    # As Cassandra checks each statement of a batch against all of the role's permissions.
    two_rules = parse_policy(
        "version: 1\n"
        "rules:\n"
        "  - {name: orders, match: {subjects: [s]},\n"
        "     allow: [{keyspace: shop, tables: [orders], verbs: [MODIFY]}]}\n"
        "  - {name: audit, match: {groups: [auditors]},\n"
        "     allow: [{keyspace: shop, tables: [audit], verbs: [MODIFY]}]}\n"
    )
    batch = (
        "BEGIN BATCH INSERT INTO shop.orders (id) VALUES (1); "
        "INSERT INTO shop.audit (id) VALUES (1); APPLY BATCH"
    )
    rules = [two_rules.decide("s", ["auditors"], a).rule for a in statement_actions(batch, None)]
    assert rules == ["orders", "audit"]
    assert decide_statement(two_rules, "s", ["auditors"], batch, None).allowed
    alone = decide_statement(two_rules, "s", [], batch, None)
    assert not alone.allowed
    assert alone.reason == "rule orders does not cover shop.audit"


def test_batch_size_and_page_size_limits(policy: Policy) -> None:
    def insert_batch(n: int) -> Action:
        return act(Verb.MODIFY, "shop", "orders", batch_statements=n)

    assert policy.decide("etl-bot", [], insert_batch(50)).allowed  # defaults: 50
    too_many = policy.decide("etl-bot", [], insert_batch(51))
    assert too_many.reason == "a batch of 51 statements is above the maximum 50 of rule loader"
    # The analysts' own maximum page is 1000; the loader set null: no maximum at all.
    page = policy.decide("alice", ["analysts"], act(Verb.SELECT, "shop", "orders", page_size=1001))
    assert page.reason == "page size 1001 is above the maximum 1000 of rule analysts-read-shop"
    assert policy.decide("etl-bot", [], act(Verb.SELECT, "shop", "orders", page_size=10**6)).allowed
    assert policy.decide("etl-bot", [], act(Verb.SELECT, "shop", "orders", page_size=None)).allowed


def test_an_unpaged_select_exceeds_any_maximum_page_size(policy: Policy) -> None:
    for unpaged in (None, 0, -1):
        decision = policy.decide(
            "alice", ["analysts"], act(Verb.SELECT, "shop", "orders", page_size=unpaged)
        )
        assert not decision.allowed
        assert decision.reason.startswith("an unpaged SELECT: rule analysts-read-shop allows")
    # Writes are not paged: their page size does not matter.
    write = act(Verb.MODIFY, "shop", "orders", page_size=None)
    assert policy.decide("etl-bot", [], write).allowed


# -- consistency ----------------------------------------------------------------------------


def test_the_consistency_order_is_the_documented_one() -> None:
    assert ORDER == (
        "ANY",
        "LOCAL_ONE",
        "ONE",
        "LOCAL_QUORUM",
        "TWO",
        "THREE",
        "QUORUM",
        "EACH_QUORUM",
        "ALL",
    )
    assert rank("LOCAL_SERIAL") == rank("LOCAL_QUORUM")
    assert rank("SERIAL") == rank("QUORUM")
    assert rank("local_one") == rank("LOCAL_ONE")
    assert rank("NODE_LOCAL") is None
    assert consistency_name(6) == "LOCAL_QUORUM"
    assert consistency_name(10) == "LOCAL_ONE"
    assert consistency_name(99) is None


@pytest.mark.parametrize("maximum", ORDER)
@pytest.mark.parametrize("level", [*ORDER, "SERIAL", "LOCAL_SERIAL"])
def test_a_maximum_admits_exactly_the_levels_up_to_it(maximum: str, level: str) -> None:
    text = f"""\
version: 1
rules:
  - {{name: r, match: {{subjects: [s]}}, allow: [{{keyspace: k, verbs: [SELECT, MODIFY]}}],
     max_consistency: {maximum}}}
"""
    ruled = parse_policy(text)
    equivalent = {"SERIAL": "QUORUM", "LOCAL_SERIAL": "LOCAL_QUORUM"}.get(level, level)
    expected = ORDER.index(equivalent) <= ORDER.index(maximum)
    as_level = act(Verb.MODIFY, "k", "t", consistency=level)
    assert ruled.decide("s", [], as_level).allowed is expected
    as_serial = act(Verb.MODIFY, "k", "t", consistency="ANY", serial_consistency=level)
    assert ruled.decide("s", [], as_serial).allowed is expected


def test_serial_consistency_is_checked_and_unknown_levels_refused(policy: Policy) -> None:
    lwt = act(
        Verb.MODIFY, "shop", "orders", consistency="LOCAL_QUORUM", serial_consistency="SERIAL"
    )
    decision = policy.decide("etl-bot", [], lwt)
    assert decision.reason == (
        "serial consistency SERIAL is above the maximum LOCAL_QUORUM of rule loader"
    )
    odd = policy.decide("etl-bot", [], act(Verb.MODIFY, "shop", "orders", consistency="TWELVE"))
    assert odd.reason == "unknown consistency level TWELVE of rule loader"
    # DDL carries a consistency level that Cassandra ignores: so does the policy.
    ddl = act(Verb.DDL, "shop", "orders", consistency="ALL")
    assert policy.decide("root", [], ddl).allowed


# -- time windows ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "allowed"),
    [
        (datetime(2026, 6, 10, 8, 0), True),  # Wednesday 08:00: the window opens
        (datetime(2026, 6, 10, 17, 59), True),
        (datetime(2026, 6, 10, 18, 0), False),  # closes at 18:00
        (datetime(2026, 6, 10, 7, 59), False),
        (datetime(2026, 6, 13, 10, 0), False),  # Saturday
        (datetime(2026, 1, 14, 10, 0), True),  # winter time (UTC+1) too
        (datetime(2026, 1, 14, 18, 30), False),
    ],
)
def test_windows_are_in_their_time_zone(policy: Policy, local: datetime, allowed: bool) -> None:
    at = local.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
    decision = policy.decide("alice", ["analysts"], act(Verb.SELECT, "shop", "orders", at=at))
    assert decision.allowed is allowed, decision.reason
    if not allowed:
        assert decision.reason.startswith(
            "rule analysts-read-shop allows it only within mon,tue,wed,thu,fri 08:00-18:00 "
            "Europe/Berlin (it is "
        )


def test_an_action_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Action(verb=Verb.SELECT, keyspace="k", table="t", at=datetime(2026, 6, 10, 8, 0))
    assert Action(verb=Verb.SELECT).at.tzinfo is UTC


def test_a_window_can_run_past_midnight_and_to_the_end_of_the_day() -> None:
    night = parse_policy(
        """\
version: 1
rules:
  - name: nightly
    match: {subjects: [batch]}
    allow: [{keyspace: k, verbs: [MODIFY]}]
    windows:
      - {days: [fri], from: 22:00, to: 02:00}
      - {days: [sun], from: "20:00", to: "24:00", tz: UTC}
"""
    )

    def at(day: int, hour: int, minute: int = 0) -> bool:
        when = datetime(2026, 6, day, hour, minute, tzinfo=UTC)  # June 2026: the 12th is a Friday
        return night.decide("batch", [], act(Verb.MODIFY, "k", "t", at=when)).allowed

    assert at(12, 22)  # Friday night
    assert at(13, 1, 59)  # the early hours of Saturday belong to Friday's window
    assert not at(13, 2)
    assert not at(13, 22)  # Saturday night is not listed
    assert not at(12, 1)  # nor Thursday's night
    assert at(14, 23, 59)  # Sunday until midnight
    assert not at(14, 19, 59)


# -- schema reads, USE, DESCRIBE, keyspace-less statements -----------------------------------


def test_schema_reads_are_open_to_every_login_as_in_cassandra(policy: Policy) -> None:
    for keyspace, table in [
        ("system", "local"),
        ("system", "peers"),
        ("system", "peers_v2"),
        ("system_schema", "columns"),
        ("system_virtual_schema", "tables"),
    ]:
        decision = policy.decide("nobody", [], act(Verb.SELECT, keyspace, table, page_size=None))
        assert decision.allowed, (keyspace, table)
        assert decision.rule == SCHEMA_RULE
    for keyspace, table in [("system", "paxos"), ("system_auth", "roles"), ("system_views", "x")]:
        assert not policy.decide("nobody", [], act(Verb.SELECT, keyspace, table)).allowed
    assert policy.decide("nobody", [], act(Verb.USE, "shop")).allowed
    assert policy.decide("nobody", [], act(Verb.OTHER, "shop")).allowed  # DESCRIBE
    # Only reads: writing a schema table is no schema read.
    assert not policy.decide("nobody", [], act(Verb.MODIFY, "system_schema", "tables")).allowed
    too_strong = policy.decide("nobody", [], act(Verb.SELECT, "system", "local", consistency="ALL"))
    assert too_strong.reason == "consistency ALL is above the maximum LOCAL_QUORUM of defaults"


def test_schema_reads_can_be_turned_off() -> None:
    closed = parse_policy(
        """\
version: 1
defaults: {schema_reads: false}
rules:
  - {name: r, match: {subjects: [s]}, allow: [{keyspace: shop, tables: [orders], verbs: [SELECT]}]}
"""
    )
    assert not closed.decide("s", [], act(Verb.SELECT, "system", "local")).allowed
    assert closed.decide("s", [], act(Verb.USE, "shop")).allowed
    assert closed.decide("s", [], act(Verb.USE, "other")).reason == "no rule covers keyspace other"
    describe = closed.decide("s", [], act(Verb.OTHER, "shop"))
    assert not describe.allowed
    assert "defaults.schema_reads" in describe.reason


def test_keyspace_level_and_keyspace_less_statements(policy: Policy) -> None:
    # CREATE KEYSPACE names no table: a grant listing tables does not cover it.
    assert not policy.decide("etl-bot", [], act(Verb.DDL, "shop")).allowed
    assert policy.decide("root", [], act(Verb.DDL, "shop")).allowed
    # CREATE ROLE names no keyspace: only keyspace "*" covers it.
    [create_role] = statement_actions("CREATE ROLE bob WITH PASSWORD = 'x' AND LOGIN = true", None)
    assert create_role.verb is Verb.AUTH
    assert create_role.keyspace is None
    assert policy.decide("root", [], create_role).allowed
    decision = policy.decide("etl-bot", [], create_role)
    assert decision.reason == "rule loader does not cover keyspace (no keyspace)"
    assert "x" not in decision.reason.replace("(no keyspace)", "")  # no password echoed


# -- the file -------------------------------------------------------------------------------


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    return str(caught.value).splitlines()


def test_validation_errors_name_file_line_and_column() -> None:
    lines = problems(
        """\
version: 1
rules:
  - name: a
    match: {groups: [x]}
    allow: [{keyspace: 'bad name', verbs: [SELEKT]}]
    max_consistency: serial
    windows: [{days: [Mon, xyz], from: "25:00", to: "18:00", tz: Mars/Base}]
    rate: {burst: 2}
    colour: blue
"""
    )
    assert lines == [
        "p.yaml:6:5: rules.0.max_consistency: a maximum is a regular level; SERIAL is checked "
        "as QUORUM, so write QUORUM",
        "p.yaml:8:5: rules.0.rate: give requests_per_second, rows_per_second or both",
        "p.yaml:5:14: rules.0.allow.0.keyspace: 'bad name' is not a CQL name: write a letter "
        "followed by letters, digits or _ (case-insensitive), or a double-quoted name such as "
        """'"Orders"' (case-sensitive)""",
        "p.yaml:5:44: rules.0.allow.0.verbs.0: Input should be 'SELECT', 'MODIFY', 'DDL' or 'AUTH'",
        "p.yaml:7:28: rules.0.windows.0.days.1: Input should be 'mon', 'tue', 'wed', 'thu', "
        "'fri', 'sat' or 'sun'",
        "p.yaml:7:34: rules.0.windows.0.from: '25:00' is no time of day (00:00 to 23:59, or "
        '"24:00" for "to")',
        "p.yaml:7:62: rules.0.windows.0.tz: unknown time zone 'Mars/Base' (use an IANA name)",
        "p.yaml:9:5: rules.0.colour: Extra inputs are not permitted",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 2\n", "p.yaml:1:1: version: Input should be 1"),
        ("rules: []\n", "p.yaml:1:1: version: Field required"),
        ("- 1\n", "p.yaml: expected a mapping with version, defaults and rules"),
        (
            "version: [1\n",
            "p.yaml:2:1: not valid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        ("version: 1\nversion: 1\n", "p.yaml:2:1: duplicate key 'version'"),
        (
            "version: 1\nrules:\n  - {name: r, match: {}, allow: [{keyspace: k, verbs: [DDL]}]}\n",
            "p.yaml:3:15: rules.0.match: name subjects, groups or both",
        ),
        (
            "version: 1\nrules:\n  - {name: r, match: {subjects: [s]}, "
            "allow: [{keyspace: k, tables: ['*'], verbs: [DDL]}]}\n",
            "p.yaml:3:70: rules.0.allow.0.tables.0: leave out tables to cover every table of "
            "the keyspace",
        ),
        (
            "version: 1\nrules:\n  - {name: 'a b', match: {subjects: [s]}, "
            "allow: [{keyspace: k, verbs: [DDL]}]}\n",
            "p.yaml:3:6: rules.0.name: String should match pattern "
            "'^[A-Za-z0-9][A-Za-z0-9_.:@-]*$'",
        ),
        (
            "version: 1\nrules:\n  - {name: r, match: {subjects: [s]}, allow: []}\n",
            "p.yaml:3:39: rules.0.allow: List should have at least 1 item after validation, not 0",
        ),
        (
            "version: 1\nrules:\n  - {name: r, match: {subjects: [s]}, "
            "allow: [{keyspace: k, verbs: [DDL]}], windows: [{from: '08:00', to: '08:00'}]}\n",
            "p.yaml:3:87: rules.0.windows.0: from and to are equal; leave out windows for all day",
        ),
        (
            "version: 1\ndefaults: {max_page_size: 0}\n",
            "p.yaml:2:12: defaults.max_page_size: Input should be greater than 0",
        ),
    ],
)
def test_invalid_files_are_refused_with_their_position(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_rule_names_must_be_unique() -> None:
    rule = "  - {name: r, match: {subjects: [s]}, allow: [{keyspace: k, verbs: [DDL]}]}\n"
    assert problems("version: 1\nrules:\n" + rule + rule) == [
        "p.yaml:4:6: rules.1.name: rule name 'r' is already used by rule 1; names must be "
        "unique (audit lines and rate limits are kept per rule)"
    ]


def test_load_policy_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "proxy-policy.yaml"
    path.write_text(POLICY, encoding="utf-8")
    loaded = load_policy(path)
    assert loaded.rule_names == ("analysts-read-shop", "loader", "admins")
    assert repr(loaded) == f"Policy({str(path)!r}, rules={loaded.rule_names!r})"
    with pytest.raises(PolicyError, match=re.escape(f"{tmp_path / 'missing.yaml'}: cannot read")):
        load_policy(tmp_path / "missing.yaml")
    path.write_bytes(b"version: 1\n\xff")
    with pytest.raises(PolicyError, match="not UTF-8 text at byte 11"):
        load_policy(path)


def test_the_documented_examples_are_valid_policies() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    policies = [block for block in blocks if block.startswith("version:")]
    assert len(policies) >= 3
    for block in policies:
        parse_policy(block, DOCS)


def test_the_docs_name_the_schema_reads_the_policy_allows() -> None:
    # docs/proxy-policy.md is the one place listing them (docs/proxy-authorization.md links it).
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Schema reads", 1)[1].split("It checks no permission", 1)[0]
    named = set(re.findall(r"`(system\w*(?:\.\w+)?)`", section))
    assert named == {f"{ks}.{table}" for ks, table in _READABLE_TABLES} | _READABLE_KEYSPACES
    open_to_all = parse_policy("version: 1\n")
    for name in named:
        keyspace, _, table = name.partition(".")
        action = act(Verb.SELECT, keyspace, table or "tables", page_size=None)
        assert open_to_all.decide("anyone", [], action).rule == SCHEMA_RULE, name


@given(st.from_regex(r"[A-Za-z0-9_\" ]{1,20}", fullmatch=True))
def test_names_read_back_as_cassandra_stores_them(name: str) -> None:
    # Whatever a keyspace or table is called, its CQL spelling in the policy names it.
    assert cql_name(ident(name)) == name


def test_decisions_are_fast(policy: Policy) -> None:
    actions = [
        act(Verb.SELECT, "shop", "orders"),
        act(Verb.MODIFY, "shop", "orders"),
        act(Verb.SELECT, "system", "local"),
        act(Verb.SELECT, "shop", "secrets"),
    ]
    started = time.perf_counter()
    for i in range(20_000):
        policy.decide(f"user{i % 50}", ["analysts"], actions[i % 4])
    assert time.perf_counter() - started < 2.0  # about 10 µs each; generous for a busy CI
