"""Syntax and preparation errors: Cassandra's wording, positions and query snippets."""

from __future__ import annotations

import pytest

from cassflow.cql import CqlInvalidError, CqlSyntaxError, parse_statement, parse_statements
from cassflow.errors import CassflowError


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Wording and snippets as Cassandra's ErrorCollector shapes them (some quoted from
        # real Cassandra answers: `select*\n;`, `drop eomployee_info`, `CAN I HAZ CQL`).
        (
            "SELECT * FORM t",
            "line 1:9 mismatched input 'FORM' expecting K_FROM (SELECT * [FORM]...)",
        ),
        ("select*\n;", "line 2:0 mismatched input ';' expecting K_FROM (select*[;])"),
        ("CAN I HAZ CQL", "line 1:0 no viable alternative at input 'CAN' ([CAN]...)"),
        (
            "drop eomployee_info\n;",
            "line 1:5 no viable alternative at input 'eomployee_info' ([drop] eomployee_info...)",
        ),
        (
            "alter table employee_info add salary int primary key;",
            "line 1:41 mismatched input 'primary' expecting EOF "
            "(...table employee_info add salary int [primary]...)",
        ),
        ("SELECT", "line 0:-1 no viable alternative at input '<EOF>'"),
        ("", "line 0:-1 no viable alternative at input '<EOF>'"),
        ("SELECT * FROM", "line 0:-1 no viable alternative at input '<EOF>'"),
        ("INSERT INTO t (a) VALUES (1", "line 0:-1 mismatched input '<EOF>' expecting ')'"),
        ("INSERT INTO t (a, b)", "line 0:-1 mismatched input '<EOF>' expecting K_VALUES"),
        (
            "INSERT INTO t (a, b) VALUE (1, 2)",
            "line 1:21 mismatched input 'VALUE' expecting K_VALUES (... t (a, b) [VALUE]...)",
        ),
        (
            "SELECT * FROM t WHERE a = 1 LIMT 5",
            "line 1:28 mismatched input 'LIMT' expecting EOF (...t WHERE a = 1 [LIMT]...)",
        ),
        ("SELECT a b FROM t", "line 1:9 mismatched input 'b' expecting K_FROM (SELECT a [b]...)"),
        (";", "line 1:0 no viable alternative at input ';' ([;])"),
        (
            "CREATE SCHEMA ks WITH a = 1",
            "line 1:7 no viable alternative at input 'SCHEMA' ([CREATE] SCHEMA...)",
        ),
        (
            "DELETE FROM t USING TTL 5 WHERE k = 1",
            "line 1:20 mismatched input 'TTL' expecting K_TIMESTAMP (DELETE FROM t USING [TTL]...)",
        ),
        ("SELECT * FROM t WHERE a = b", "line 0:-1 mismatched input '<EOF>' expecting '('"),
        (
            "SELECT * FROM t\nWHERE a = 1\nAND b = = 2",
            "line 3:8 no viable alternative at input '=' (...= 1AND b = [=]...)",
        ),
        (
            "GRANT FOO ON t TO bob",
            "line 1:10 mismatched input 'ON' expecting K_TO (GRANT FOO [ON]...)",
        ),
        ("LIST FOO", "line 1:5 mismatched input 'FOO' expecting set null (LIST [FOO])"),
        # Lexer errors come first when the bad character comes before the parser's error.
        ("SELECT * FROM t WHERE a = @x", "line 1:26 no viable alternative at character '@'"),
        (
            "SELECT * FROM t -- no newline",
            "line 1:29 mismatched character '<EOF>' expecting set null",
        ),
        ("DROP INDEX ks._idx", "line 1:14 no viable alternative at character '_'"),
        ("SELECT 'open", "line 1:12 mismatched character '<EOF>' expecting '''"),
        ("SELECT * FROM @ ?", "line 1:14 no viable alternative at character '@'"),
        # Errors Cassandra's grammar actions raise, without a position.
        ("USE ?", "Bind variables cannot be used for keyspace names"),
        ("SELECT * FROM ?", "Bind variables cannot be used for table names"),
        ("SELECT * FROM ?.t", "Bind variables cannot be used for keyspace names"),
        ("DROP INDEX ?", "Bind variables cannot be used for index names"),
        ("DROP ROLE ?", "Bind variables cannot be used for role names"),
        (
            "UPDATE t SET a = b + 1 WHERE k = 1",
            "Only expressions of the form X = X +<value> are supported.",
        ),
        (
            "UPDATE t SET a = b -1 WHERE k = 1",
            "Only expressions of the form X = X - <value> are supported.",
        ),
        (
            "UPDATE t SET a = [1] + b WHERE k = 1",
            "Only expressions of the form X = <value> + X are supported.",
        ),
        ("UPDATE t SET a = 1, a = 2 WHERE k = 1", "Multiple incompatible setting of column a"),
        ("UPDATE t SET a.x = 1, a.x = 2 WHERE k = 1", "Multiple incompatible setting of column a"),
        (
            "CREATE KEYSPACE ks WITH replication = {'class': ?}",
            "Invalid property value: ? for property: 'class' "
            "(bind variables are not supported in DDL queries)",
        ),
        ("CREATE KEYSPACE ks WITH r = {[1]: 'x'}", "Invalid property name: [1]"),
        ("CREATE KEYSPACE ks WITH r = {'a': 1, 'a': 2}", "Multiple definition for property a"),
        ("CREATE KEYSPACE ks WITH a = 1 AND a = 2", "Multiple definition for property a"),
        (
            "GRANT CREATE ON TABLE t TO bob",
            "Resource type DataResource does not support any of the requested permissions",
        ),
        (
            "GRANT SELECT ON ALL ROLES TO bob",
            "Resource type RoleResource does not support any of the requested permissions",
        ),
        (
            "CREATE ROLE r WITH PASSWORD = 'a' AND PASSWORD = 'b'",
            "Multiple definition for property 'PASSWORD'",
        ),
        (
            "CREATE ROLE r WITH PASSWORD = 'a' AND HASHED PASSWORD = 'b'",
            "Options 'password' and 'hashed password' are mutually exclusive",
        ),
        (
            'CREATE USER "Bob"',
            "Quoted strings are are not supported for user names and USER "
            "is deprecated, please use ROLE",
        ),
        ("CREATE TYPE byte (a int)", "Invalid (reserved) user type name byte"),
        (
            "CREATE TABLE t (a frozen<int> PRIMARY KEY)",
            "frozen<> is only allowed on collections, tuples, and user-defined types (got int)",
        ),
        (
            "CREATE MATERIALIZED VIEW v AS SELECT * FROM t PRIMARY KEY (a) WITH COMPACT STORAGE",
            "COMPACT STORAGE tables are not allowed starting with version 4.0",
        ),
        ("GRANT SELECT ON MBEAN '' TO r", "Empty JMX object name supplied"),
        ("GRANT SELECT ON MBEAN '*:*' TO r", "Please use ALL MBEANS instead of wildcard pattern"),
        ("GRANT SELECT ON MBEAN 'nope' TO r", "nope is not a valid JMX object name"),
        (
            "GRANT SELECT ON MBEANS 'a:type=b' TO r",
            "Plural form used, but non-pattern JMX object name specified (a:type=b)",
        ),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(CqlSyntaxError) as caught:
        parse_statement(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, CassflowError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "CREATE TABLE t (a int PRIMARY KEY, PRIMARY KEY (a))",
            "Multiple PRIMARY KEY specified for table 't' (exactly one required)",
        ),
        (
            "CREATE TABLE ks.t (a int PRIMARY KEY, b int PRIMARY KEY)",
            "Multiple PRIMARY KEY specified for table 'ks.t' (exactly one required)",
        ),
        (
            "CREATE TABLE t (a int, b int)",
            "No PRIMARY KEY specifed for table 't' (exactly one required)",
        ),
        (
            "CREATE TABLE t (a int PRIMARY KEY, a text)",
            "Duplicate column 'a' declaration for table 't'",
        ),
        (
            "CREATE TABLE t (a int, b int, PRIMARY KEY (a, b)) "
            "WITH CLUSTERING ORDER BY (b ASC, b DESC)",
            "Duplicate column 'b' in CLUSTERING ORDER BY clause for table 't'",
        ),
        (
            "CREATE TABLE t (a int PRIMARY KEY) WITH COMPACT STORAGE",
            "COMPACT STORAGE tables are not allowed starting with version 4.0",
        ),
        (
            "BEGIN BATCH USING TTL 5 APPLY BATCH",
            "Global TTL on the BATCH statement is not supported.",
        ),
        (
            "CREATE OR REPLACE FUNCTION IF NOT EXISTS f() CALLED ON NULL INPUT RETURNS int "
            "LANGUAGE java AS 'return 1;'",
            "Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives",
        ),
    ],
)
def test_invalid_requests(text: str, message: str) -> None:
    with pytest.raises(CqlInvalidError) as caught:
        parse_statement(text)
    assert str(caught.value) == message


def test_error_position_attributes() -> None:
    with pytest.raises(CqlSyntaxError) as caught:
        parse_statement("SELECT *\n  FORM t")
    assert (caught.value.line, caught.value.column) == (2, 2)
    with pytest.raises(CqlSyntaxError) as caught:
        parse_statement("SELECT * FROM")
    # At the end of the input the message says 0:-1, as Cassandra does; the attributes still
    # point just past the last character.
    assert (caught.value.line, caught.value.column) == (1, 13)


def test_snippet_starts_ten_tokens_before_and_counts_whitespace() -> None:
    with pytest.raises(CqlSyntaxError) as caught:
        parse_statement("SELECT a, b, c, d, e, f FROM t WHERE x = 1 ALLOW FILTERS")
    assert str(caught.value) == (
        "line 1:49 mismatched input 'FILTERS' expecting K_FILTERING "
        "(...WHERE x = 1 ALLOW [FILTERS])"
    )


def test_statement_script_errors_are_positioned_in_the_script() -> None:
    with pytest.raises(CqlSyntaxError) as caught:
        parse_statements("USE ks;\nSELECT * FORM t;")
    assert (caught.value.line, caught.value.column) == (2, 9)


def test_statements_need_separators() -> None:
    with pytest.raises(CqlSyntaxError, match="expecting EOF"):
        parse_statements("USE a USE b")


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(CqlSyntaxError, match="nesting deeper than"):
        parse_statement("SELECT * FROM t WHERE a = " + "[" * 500 + "]" * 500)
    with pytest.raises(CqlSyntaxError, match="nesting deeper than"):
        parse_statement("SELECT " + "(" * 500 + "a" + ")" * 500 + " FROM t")
