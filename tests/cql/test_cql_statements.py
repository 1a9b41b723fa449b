"""Every statement kind: what it parses to, and that rendering parses back to the same AST."""

from __future__ import annotations

import pytest

from cassflow.cql import (
    AddColumns,
    Addition,
    AllKeyspacesResource,
    AlterColumnType,
    AlterTable,
    Batch,
    BatchKind,
    BindMarker,
    ColumnCondition,
    ColumnDefinition,
    ColumnSelector,
    CqlSyntaxError,
    CreateIndex,
    CreateKeyspace,
    CreateRole,
    CreateTable,
    CreateUser,
    Delete,
    Deletion,
    Describe,
    DescribeKind,
    DropColumns,
    FunctionResource,
    GrantPermissions,
    GrantRole,
    IndexTarget,
    IndexTargetKind,
    Insert,
    ListPermissions,
    Literal,
    LiteralKind,
    MapLiteral,
    NativeType,
    Operator,
    Ordering,
    Permission,
    Prepend,
    Property,
    QualifiedName,
    RenameColumns,
    RoleOptions,
    Select,
    Selector,
    SetElement,
    SetField,
    SetValue,
    SingleColumnRelation,
    Subtraction,
    TableResource,
    Truncate,
    Update,
    Use,
    Using,
    parse_statement,
    parse_statements,
)


def lit(text: str, kind: LiteralKind = LiteralKind.INTEGER) -> Literal:
    return Literal(kind=kind, text=text)


def s(text: str) -> Literal:
    return Literal(kind=LiteralKind.STRING, text=text)


def eq(column: str, value: object) -> SingleColumnRelation:
    assert isinstance(value, Literal | BindMarker)
    return SingleColumnRelation(column=column, operator=Operator.EQ, value=value)


T = QualifiedName(name="t")
KS_T = QualifiedName(keyspace="ks", name="t")

# One line per statement form the task names; each must parse and round-trip.
STATEMENTS = """
SELECT JSON DISTINCT a, b FROM ks.t WHERE a = ? AND (b, c) > (1, 2) AND token(a) > token(?) \
AND d CONTAINS KEY 'x' AND e LIKE 'a%' AND m['k'] = 5 AND f IN ? AND g IS NOT NULL GROUP BY a, b \
ORDER BY b DESC, c PER PARTITION LIMIT 2 LIMIT :lim ALLOW FILTERING
SELECT count(*), count(1), writetime(c), ttl(c), maxwritetime(c), CAST(a AS text), token(a, b), \
ks.f(a, 1), a.b.c, m['k'], m['a'..'b'], m[..'b'], (int) ?, [a, b], {a, b}, {a: b}, (a, b), - a, \
a + b * c, 1, NULL, ? AS x FROM t
SELECT json FROM t
SELECT json, distinct FROM t
SELECT DISTINCT json FROM t
SELECT ttl, key, type, count, writetime, role, password, options, login, superuser FROM t
SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4)) AND (c) IN (?, ?) AND (d, e) IN ? \
AND (f, g) = ? AND expr(idx, 'q')
SELECT * FROM t WHERE a IN () AND b = [1, 2] AND c = {1, 2} AND d = {'a': 1} \
AND e = {f: 1, "G": 2} AND h = (1, 'x') AND i = {}
SELECT * FROM t WHERE a = (int) ? AND b = now() AND c = -1.5e3 AND d = NaN AND e = -Infinity \
AND f = 0xCAFE AND g = 1h30m AND h = 12345678-1234-1234-1234-123456789012 AND i = true \
AND j = 'it''s' AND k = $$pg$$ AND l = P1Y2M AND m = -NaN
SELECT * FROM t WHERE a = 1 + 2 * 3 - -4 AND b = - f() AND c = CAST(1 AS text) AND ((d = 1))
SELECT * FROM t ORDER BY v ANN OF [1.0, 2.0] LIMIT 3
SELECT a FROM t WHERE k = 1 GROUP BY floor(c, 1h)
INSERT INTO t (a, b) VALUES (?, :x) IF NOT EXISTS USING TTL 5
INSERT INTO t JSON '{"a": 1}' DEFAULT UNSET IF NOT EXISTS USING TTL 10 AND TIMESTAMP 123
INSERT INTO t JSON ? DEFAULT NULL
UPDATE ks.t USING TTL ? AND TIMESTAMP ? SET a = 1, b = b + 1, c = [1] + c, d = d - {2}, \
e[1] = 'x', f.g = 3, h += 1, i -= 2, j = j -3 WHERE k = 1 \
IF a = 1 AND b[1] = 2 AND c.x > 3 AND d IN (1, 2) AND e CONTAINS 4
UPDATE t SET exists = 1 WHERE k = 1 IF exists = 1
DELETE a, b[1], c.d FROM t USING TIMESTAMP 5 WHERE k = 1 IF EXISTS
DELETE FROM t WHERE k IN (1, 2) IF a = 1
BEGIN UNLOGGED BATCH USING TIMESTAMP 1 INSERT INTO t (a) VALUES (?); \
UPDATE t SET b = ? WHERE a = ?; DELETE FROM t WHERE a = :x APPLY BATCH
BEGIN COUNTER BATCH UPDATE t SET c = c + 1 WHERE k = 1 APPLY BATCH
BEGIN BATCH APPLY BATCH
USE "MyKs"
TRUNCATE TABLE ks.t
TRUNCATE t
CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', \
'replication_factor': 1} AND durable_writes = false
ALTER KEYSPACE IF EXISTS ks WITH durable_writes = true
DROP KEYSPACE IF EXISTS ks
CREATE TABLE IF NOT EXISTS ks.t (k int, c1 text, c2 timeuuid, s int STATIC, \
m map<text, frozen<list<int>>>, v vector<float, 3>, u frozen<ks.addr>, \
x 'org.apache.cassandra.db.marshal.BytesType', PRIMARY KEY ((k, c1), c2)) \
WITH CLUSTERING ORDER BY (c2 DESC) AND compaction = {'class': 'LeveledCompactionStrategy'} \
AND caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'} AND default_time_to_live = 10 \
AND comment = 'x' AND speculative_retry = '99PERCENTILE' AND gc_grace_seconds = 0
CREATE TABLE t (k int PRIMARY KEY, v text MASKED WITH DEFAULT, \
w int MASKED WITH mask_inner(1, null),)
CREATE COLUMNFAMILY t (k int, PRIMARY KEY (k))
ALTER TABLE t ADD IF NOT EXISTS a int
ALTER TABLE t ADD (a int, b text STATIC)
ALTER TABLE t DROP a
ALTER TABLE IF EXISTS t DROP IF EXISTS (a, b) USING TIMESTAMP 10
ALTER TABLE t RENAME a TO b AND c TO d
ALTER TABLE t WITH comment = 'y' AND caching = {'keys': 'NONE'}
ALTER TABLE t ALTER a TYPE text
ALTER TABLE t ALTER a MASKED WITH DEFAULT
ALTER TABLE t ALTER IF EXISTS a DROP MASKED
ALTER TABLE t DROP COMPACT STORAGE
DROP TABLE IF EXISTS ks.t
CREATE TYPE IF NOT EXISTS ks.addr (street text, "Zip" int)
ALTER TYPE addr ADD IF NOT EXISTS city text
ALTER TYPE addr ALTER city TYPE text
ALTER TYPE IF EXISTS addr RENAME IF EXISTS street TO road AND city TO town
DROP TYPE IF EXISTS ks.addr
CREATE INDEX IF NOT EXISTS idx ON t (v)
CREATE INDEX ON t (VALUES(m))
CREATE INDEX ON t (keys(m))
CREATE INDEX ON t (ENTRIES(m))
CREATE INDEX ON t (FULL(l))
CREATE INDEX ON t (values)
CREATE CUSTOM INDEX idx ON t (v) USING 'StorageAttachedIndex' \
WITH OPTIONS = {'case_sensitive': 'false'}
DROP INDEX IF EXISTS ks.idx
CREATE MATERIALIZED VIEW IF NOT EXISTS ks.mv AS SELECT a, b FROM ks.t \
WHERE a IS NOT NULL AND b IS NOT NULL PRIMARY KEY ((b), a) \
WITH CLUSTERING ORDER BY (a DESC) AND comment = 'mv'
ALTER MATERIALIZED VIEW mv WITH comment = 'z'
DROP MATERIALIZED VIEW IF EXISTS mv
CREATE OR REPLACE FUNCTION ks.f(a int, b text) CALLED ON NULL INPUT RETURNS int \
LANGUAGE java AS $$ return a; $$
CREATE FUNCTION IF NOT EXISTS f() RETURNS NULL ON NULL INPUT RETURNS text LANGUAGE javascript AS 'x'
DROP FUNCTION IF EXISTS ks.f(int, text)
DROP FUNCTION f
CREATE AGGREGATE ks.agg(int) SFUNC f STYPE int FINALFUNC g INITCOND 0
CREATE OR REPLACE AGGREGATE agg(int, text) SFUNC f STYPE tuple<int, text> INITCOND (0, '')
DROP AGGREGATE agg()
CREATE TRIGGER trig ON t USING 'org.x.Trigger'
DROP TRIGGER IF EXISTS trig ON t
CREATE ROLE IF NOT EXISTS bob WITH PASSWORD = 'pw' AND LOGIN = true AND SUPERUSER = false \
AND OPTIONS = {'a': 'b'} AND ACCESS TO DATACENTERS {'dc1', 'dc2'}
CREATE ROLE 'Alice' WITH HASHED PASSWORD = 'hash' AND ACCESS TO ALL DATACENTERS \
AND ACCESS FROM CIDRS {'region1'}
CREATE ROLE r WITH ACCESS FROM ALL CIDRS
ALTER ROLE IF EXISTS bob WITH PASSWORD = 'x'
DROP ROLE IF EXISTS bob
CREATE USER IF NOT EXISTS Bob WITH PASSWORD 'pw' SUPERUSER
CREATE USER 'carol' WITH HASHED PASSWORD 'h' NOSUPERUSER
ALTER USER bob WITH PASSWORD 'x' NOSUPERUSER
DROP USER IF EXISTS bob
GRANT ALL PERMISSIONS ON ALL KEYSPACES TO bob
GRANT ALL ON KEYSPACE ks TO bob
GRANT SELECT, MODIFY ON KEYSPACE ks TO bob
GRANT SELECT PERMISSION ON TABLE ks.t TO bob
GRANT SELECT ON ks.t TO bob
GRANT UNMASK ON t TO bob
GRANT SELECT_MASKED ON t TO bob
GRANT CREATE ON ALL FUNCTIONS TO bob
GRANT EXECUTE ON ALL FUNCTIONS IN KEYSPACE ks TO bob
GRANT EXECUTE ON FUNCTION ks.f(int, text) TO bob
GRANT AUTHORIZE ON ALL ROLES TO bob
GRANT ALTER ON ROLE alice TO bob
GRANT DESCRIBE ON ALL MBEANS TO bob
GRANT SELECT ON MBEAN 'org.apache.cassandra.db:type=Tables' TO bob
GRANT SELECT ON MBEANS 'org.apache.cassandra.db:type=*' TO bob
REVOKE SELECT ON ks.t FROM bob
REVOKE ALL ON ALL KEYSPACES FROM bob
GRANT alice TO bob
REVOKE alice FROM bob
GRANT all TO bob
LIST ROLES
LIST ROLES OF bob NORECURSIVE
LIST USERS
LIST SUPERUSERS
LIST ALL PERMISSIONS
LIST ALL
LIST SELECT ON ks.t OF bob NORECURSIVE
ADD IDENTITY 'spiffe://x' TO ROLE 'bob'
ADD IDENTITY IF NOT EXISTS 'id' TO ROLE 'bob'
DROP IDENTITY IF EXISTS 'spiffe://x'
DESCRIBE KEYSPACES
DESC KEYSPACE
DESCRIBE ONLY KEYSPACE ks WITH INTERNALS
DESCRIBE TABLES
DESCRIBE TABLE ks.t
DESCRIBE COLUMNFAMILY t
DESCRIBE TYPES
DESCRIBE TYPE ks.addr
DESCRIBE SCHEMA
DESCRIBE FULL SCHEMA
DESCRIBE CLUSTER
DESCRIBE ks.t
DESCRIBE t
DESCRIBE type
DESCRIBE FUNCTIONS
DESCRIBE FUNCTION ks.f
DESCRIBE AGGREGATES
DESCRIBE AGGREGATE a
DESCRIBE INDEX ks.idx
DESCRIBE MATERIALIZED VIEW ks.mv
"""


def statements() -> list[str]:
    return [line for line in STATEMENTS.replace("\\\n", "").splitlines() if line]


@pytest.mark.parametrize("text", statements())
def test_statement_round_trips(text: str) -> None:
    parsed = parse_statement(text)
    rendered = parsed.to_cql()
    assert parse_statement(rendered) == parsed, rendered
    assert str(parsed) == rendered
    # Rendering is stable: render(parse(render(x))) == render(x).
    assert parse_statement(rendered).to_cql() == rendered


def test_select() -> None:
    assert parse_statement(
        "SELECT a AS x, b FROM ks.t WHERE k = 1 ORDER BY c DESC LIMIT 10 ALLOW FILTERING;"
    ) == Select(
        table=KS_T,
        selectors=(
            Selector(selectable=ColumnSelector(name="a"), alias="x"),
            Selector(selectable=ColumnSelector(name="b")),
        ),
        where=(eq("k", lit("1")),),
        order_by=(Ordering(column="c", descending=True),),
        limit=lit("10"),
        allow_filtering=True,
    )


def test_select_json_and_distinct_flags() -> None:
    parsed = parse_statement("SELECT JSON DISTINCT k FROM t")
    assert isinstance(parsed, Select)
    assert (parsed.json, parsed.distinct) == (True, True)
    # `json` alone is a column, as Cassandra reads it.
    parsed = parse_statement("SELECT json FROM t")
    assert isinstance(parsed, Select)
    assert not parsed.json
    assert parsed.selectors == (Selector(selectable=ColumnSelector(name="json")),)


def test_insert() -> None:
    assert parse_statement(
        "INSERT INTO t (k, v) VALUES (1, 'a') IF NOT EXISTS USING TTL 86400 AND TIMESTAMP ?"
    ) == Insert(
        table=T,
        columns=("k", "v"),
        values=(lit("1"), s("a")),
        if_not_exists=True,
        using=Using(ttl=lit("86400"), timestamp=BindMarker(index=0)),
    )


def test_insert_json() -> None:
    assert parse_statement("INSERT INTO t JSON ? DEFAULT UNSET") == Insert(
        table=T, json=BindMarker(index=0), default_unset=True
    )


def test_update_operations() -> None:
    parsed = parse_statement(
        "UPDATE t SET a = 1, b = b + 2, l = [0] + l, s = s - {1}, m[?] = ?, u.f = 3, "
        "c += 1, d -= 1, e = e -5 WHERE k = ? IF a = 1 AND m['x'] != NULL AND u.f IN (1, 2)"
    )
    assert isinstance(parsed, Update)
    assert parsed.operations == (
        SetValue(column="a", value=lit("1")),
        Addition(column="b", value=lit("2")),
        Prepend(column="l", value=parsed.operations[2].value),  # type: ignore[attr-defined]
        Subtraction(column="s", value=parsed.operations[3].value),  # type: ignore[attr-defined]
        SetElement(column="m", key=BindMarker(index=0), value=BindMarker(index=1)),
        SetField(column="u", field="f", value=lit("3")),
        Addition(column="c", value=lit("1")),
        Subtraction(column="d", value=lit("1")),
        Addition(column="e", value=lit("-5")),
    )
    assert parsed.where == (eq("k", BindMarker(index=2)),)
    assert parsed.conditions[0] == ColumnCondition(column="a", operator=Operator.EQ, value=lit("1"))
    assert parsed.conditions[1].element == s("x")
    assert parsed.conditions[2].field == "f"
    assert parsed.conditions[2].operator is Operator.IN


def test_delete() -> None:
    assert parse_statement(
        "DELETE v, m['k'], u.f FROM ks.t USING TIMESTAMP 5 WHERE k = 1 IF EXISTS"
    ) == Delete(
        table=KS_T,
        deletions=(
            Deletion(column="v"),
            Deletion(column="m", element=s("k")),
            Deletion(column="u", field="f"),
        ),
        timestamp=lit("5"),
        where=(eq("k", lit("1")),),
        if_exists=True,
    )


def test_batch_numbers_bind_markers_across_statements() -> None:
    parsed = parse_statement(
        "BEGIN UNLOGGED BATCH USING TIMESTAMP ? "
        "INSERT INTO a (k, v) VALUES (?, ?); UPDATE b SET v = :val WHERE k = ? "
        "DELETE FROM c WHERE k = ?; APPLY BATCH"
    )
    assert isinstance(parsed, Batch)
    assert parsed.kind is BatchKind.UNLOGGED
    assert parsed.using.timestamp == BindMarker(index=0)
    insert, update, delete = parsed.statements
    assert isinstance(insert, Insert)
    assert insert.values == (BindMarker(index=1), BindMarker(index=2))
    assert isinstance(update, Update)
    assert update.operations[0] == SetValue(column="v", value=BindMarker(index=3, name="val"))
    assert update.where == (eq("k", BindMarker(index=4)),)
    assert isinstance(delete, Delete)
    assert delete.where == (eq("k", BindMarker(index=5)),)


def test_use_and_truncate() -> None:
    assert parse_statement('USE "MyKeyspace"') == Use(keyspace="MyKeyspace")
    assert parse_statement("USE MyKeyspace") == Use(keyspace="mykeyspace")
    assert parse_statement("TRUNCATE TABLE ks.t") == Truncate(table=KS_T)


def test_create_keyspace() -> None:
    parsed = parse_statement(
        "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3} AND durable_writes = false"
    )
    assert isinstance(parsed, CreateKeyspace)
    assert parsed.if_not_exists
    assert [p.raw for p in parsed.properties] == [
        {"class": "NetworkTopologyStrategy", "dc1": "3"},
        "false",
    ]
    replication = parsed.properties[0]
    assert replication == Property(
        name="replication",
        value=MapLiteral(
            entries=((s("class"), s("NetworkTopologyStrategy")), (s("dc1"), lit("3")))
        ),
    )


def test_create_table_primary_key_forms() -> None:
    inline = parse_statement("CREATE TABLE t (k int PRIMARY KEY, v text)")
    separate = parse_statement("CREATE TABLE t (k int, v text, PRIMARY KEY (k))")
    assert inline == separate
    compound = parse_statement(
        "CREATE TABLE t (a int, b int, c int, d int, v int, PRIMARY KEY ((a, b), c, d)) "
        "WITH CLUSTERING ORDER BY (c DESC, d ASC) AND default_time_to_live = 60"
    )
    assert isinstance(compound, CreateTable)
    assert compound.partition_key == ("a", "b")
    assert compound.clustering_columns == ("c", "d")
    assert compound.clustering_order == (("c", True), ("d", False))
    assert compound.properties == (Property(name="default_time_to_live", value=lit("60")),)


def test_create_table_static_and_keyword_column_names() -> None:
    parsed = parse_statement(
        "CREATE TABLE t (key int, type text, ttl int, s int STATIC, PRIMARY KEY (key, type))"
    )
    assert isinstance(parsed, CreateTable)
    assert parsed.columns[3] == ColumnDefinition(name="s", type=NativeType(name="int"), static=True)
    assert parsed.partition_key == ("key",)


def test_alter_table_actions() -> None:
    assert parse_statement("ALTER TABLE t ADD IF NOT EXISTS a int") == AlterTable(
        table=T,
        action=AddColumns(
            columns=(ColumnDefinition(name="a", type=NativeType(name="int")),),
            if_not_exists=True,
        ),
    )
    # Like Cassandra, several columns need parentheses.
    with pytest.raises(CqlSyntaxError, match=r"mismatched input ',' expecting EOF"):
        parse_statement("ALTER TABLE t ADD a int, b text")
    parsed = parse_statement("ALTER TABLE t ADD (a int, b text)")
    assert isinstance(parsed, AlterTable)
    assert isinstance(parsed.action, AddColumns)
    assert [c.name for c in parsed.action.columns] == ["a", "b"]
    assert parse_statement("ALTER TABLE t DROP (a, b)") == AlterTable(
        table=T, action=DropColumns(columns=("a", "b"))
    )
    assert parse_statement("ALTER TABLE t RENAME a TO b AND c TO d") == AlterTable(
        table=T, action=RenameColumns(renames=(("a", "b"), ("c", "d")))
    )
    assert parse_statement("ALTER TABLE t ALTER a TYPE blob") == AlterTable(
        table=T, action=AlterColumnType(column="a", type=NativeType(name="blob"))
    )


def test_create_index_targets() -> None:
    parsed = parse_statement(
        "CREATE CUSTOM INDEX i ON t (KEYS(m)) USING 'org.apache.cassandra.index.sasi.SASIIndex' "
        "WITH OPTIONS = {'mode': 'CONTAINS'}"
    )
    assert isinstance(parsed, CreateIndex)
    assert parsed.custom
    assert parsed.targets == (IndexTarget(column="m", kind=IndexTargetKind.KEYS),)
    assert parsed.using == "org.apache.cassandra.index.sasi.SASIIndex"


def test_roles_and_users() -> None:
    parsed = parse_statement(
        "CREATE ROLE IF NOT EXISTS bob WITH PASSWORD = 'pw' AND LOGIN = true "
        "AND SUPERUSER = false AND OPTIONS = {'k': 'v'} AND ACCESS TO DATACENTERS {'dc1'}"
    )
    assert parsed == CreateRole(
        role="bob",
        if_not_exists=True,
        options=RoleOptions(
            password="pw",
            login=True,
            superuser=False,
            options=(("k", "v"),),
            datacenters=("dc1",),
        ),
    )
    # Legacy user names keep their case even unquoted, as in Cassandra.
    assert parse_statement("CREATE USER Bob WITH PASSWORD 'x' SUPERUSER") == CreateUser(
        user="Bob", password="x", superuser=True
    )


def test_grants() -> None:
    parsed = parse_statement("GRANT ALL ON KEYSPACE ks TO bob")
    assert isinstance(parsed, GrantPermissions)
    assert parsed.all_permissions
    assert Permission.DESCRIBE not in parsed.effective_permissions
    assert Permission.CREATE in parsed.effective_permissions
    assert parse_statement("GRANT SELECT, MODIFY ON ks.t TO bob") == GrantPermissions(
        permissions=frozenset((Permission.SELECT, Permission.MODIFY)),
        resource=TableResource(table=KS_T),
        role="bob",
    )
    function = parse_statement("GRANT EXECUTE ON FUNCTION ks.f(int) TO r")
    assert isinstance(function, GrantPermissions)
    assert function.resource == FunctionResource(
        function=QualifiedName(keyspace="ks", name="f"), argument_types=(NativeType(name="int"),)
    )
    assert parse_statement("GRANT admin TO bob") == GrantRole(role="admin", grantee="bob")
    listed = parse_statement("LIST ALL PERMISSIONS ON ALL KEYSPACES OF bob NORECURSIVE")
    assert listed == ListPermissions(
        permissions=frozenset(Permission),
        all_permissions=True,
        resource=AllKeyspacesResource(),
        role="bob",
        recursive=False,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DESCRIBE KEYSPACES", Describe(kind=DescribeKind.KEYSPACES)),
        ("DESC KEYSPACE", Describe(kind=DescribeKind.KEYSPACE)),
        ("DESCRIBE KEYSPACE ks", Describe(kind=DescribeKind.KEYSPACE, keyspace="ks")),
        ("DESCRIBE TABLES", Describe(kind=DescribeKind.TABLES)),
        ("DESCRIBE TABLE ks.t", Describe(kind=DescribeKind.TABLE, keyspace="ks", name="t")),
        ("DESCRIBE TYPES", Describe(kind=DescribeKind.TYPES)),
        ("DESCRIBE TYPE a", Describe(kind=DescribeKind.TYPE, name="a")),
        ("DESCRIBE SCHEMA", Describe(kind=DescribeKind.SCHEMA)),
        ("DESCRIBE FULL SCHEMA", Describe(kind=DescribeKind.FULL_SCHEMA)),
        ("DESCRIBE CLUSTER", Describe(kind=DescribeKind.CLUSTER)),
        ("DESCRIBE ks.t", Describe(kind=DescribeKind.GENERIC, keyspace="ks", name="t")),
        ("DESCRIBE type", Describe(kind=DescribeKind.GENERIC, name="type")),
        (
            "DESC ONLY KEYSPACE ks WITH INTERNALS",
            Describe(kind=DescribeKind.KEYSPACE, keyspace="ks", only=True, with_internals=True),
        ),
    ],
)
def test_describe(text: str, expected: Describe) -> None:
    assert parse_statement(text) == expected


def test_quoted_identifiers_and_case_folding() -> None:
    parsed = parse_statement(
        'SELECT "MixedCase", MixedCase, "has""quote" FROM "KS"."Tab" WHERE "K" = 1'
    )
    assert isinstance(parsed, Select)
    assert [sel.selectable for sel in parsed.selectors] == [
        ColumnSelector(name="MixedCase"),
        ColumnSelector(name="mixedcase"),
        ColumnSelector(name='has"quote'),
    ]
    assert parsed.table == QualifiedName(keyspace="KS", name="Tab")
    assert parsed.where == (eq("K", lit("1")),)
    assert parsed.to_cql() == (
        'SELECT "MixedCase", mixedcase, "has""quote" FROM "KS"."Tab" WHERE "K" = 1'
    )


def test_native_type_keyword_names_a_column_by_its_type_name() -> None:
    # Cassandra turns an unreserved type keyword into the type's name: varchar names `text`.
    parsed = parse_statement("SELECT varchar FROM t")
    assert isinstance(parsed, Select)
    assert parsed.selectors[0].selectable == ColumnSelector(name="text")


@pytest.mark.parametrize(
    "name",
    [
        "key",
        "keys",
        "type",
        "ttl",
        "writetime",
        "count",
        "keyspaces",
        "role",
        "roles",
        "password",
        "options",
        "login",
        "superuser",
        "json",
        "distinct",
        "cast",
        "values",
        "filtering",
        "list",
        "map",
        "user",
        "users",
        "static",
        "frozen",
        "tuple",
        "function",
        "language",
        "input",
        "like",
        "per",
        "partition",
        "group",
        "access",
        "default",
        "unset",
        "vector",
        "ann",
        "text",
        "timestamp",
        "date",
        "time",
        "counter",
        "exists",
        "custom",
        "trigger",
        "all",
    ],
)
def test_unreserved_keywords_are_identifiers(name: str) -> None:
    parsed = parse_statement(f"SELECT {name} FROM {name} WHERE {name} = 1")
    assert isinstance(parsed, Select)
    assert parsed.table == QualifiedName(name=name)
    parse_statement(f"CREATE TABLE {name}.{name} ({name} int PRIMARY KEY)")
    parse_statement(f"UPDATE {name} SET {name} = 1 WHERE {name} = 2")


@pytest.mark.parametrize("name", ["select", "from", "where", "table", "keyspace", "token", "in"])
def test_reserved_keywords_are_not_identifiers(name: str) -> None:
    with pytest.raises(CqlSyntaxError, match=r"no viable alternative|mismatched input"):
        parse_statement(f"SELECT a FROM {name}")
    parse_statement(f'SELECT a FROM "{name}"')


def test_trailing_semicolons_and_comments() -> None:
    parsed = parse_statement("/* c */ SELECT * -- c\n FROM t // c\n;;;")
    assert parsed == Select(table=T)


def test_parse_statements_script() -> None:
    script = """
        -- a script
        CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
        USE ks;
        CREATE TABLE t (k int PRIMARY KEY, v text);;
        BEGIN BATCH
          INSERT INTO t (k, v) VALUES (?, ?);
          INSERT INTO t (k, v) VALUES (?, ?);
        APPLY BATCH;
        SELECT * FROM t WHERE k = ?
    """
    parsed = parse_statements(script)
    assert [type(p).__name__ for p in parsed] == [
        "CreateKeyspace",
        "Use",
        "CreateTable",
        "Batch",
        "Select",
    ]
    # Each statement numbers its markers from zero.
    select = parsed[-1]
    assert isinstance(select, Select)
    assert select.where == (eq("k", BindMarker(index=0)),)
    assert parse_statements("") == []
    assert parse_statements(" ; ; ") == []
