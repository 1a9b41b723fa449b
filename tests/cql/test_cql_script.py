"""Scripts split into statements as written: what a runner sends is the user's own text."""

from __future__ import annotations

import pytest

from cassflow.cql import Batch, CqlSyntaxError, Insert, Select, script_statements

SCRIPT = """-- the schema
CREATE KEYSPACE IF NOT EXISTS shop
    WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
/* a; comment */ INSERT INTO shop.t (a, b) VALUES (1, 'semi;colon') -- trailing
;;
BEGIN UNLOGGED BATCH
  INSERT INTO shop.t (a) VALUES (1);
  INSERT INTO shop.t (a) VALUES (2);
APPLY BATCH;
SELECT * FROM shop.t"""


def test_statements_keep_their_text_and_leave_out_separators_and_outer_comments() -> None:
    texts = [text for text, _ in script_statements(SCRIPT)]
    assert texts == [
        "CREATE KEYSPACE IF NOT EXISTS shop\n"
        "    WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "INSERT INTO shop.t (a, b) VALUES (1, 'semi;colon')",
        "BEGIN UNLOGGED BATCH\n  INSERT INTO shop.t (a) VALUES (1);\n"
        "  INSERT INTO shop.t (a) VALUES (2);\nAPPLY BATCH",
        "SELECT * FROM shop.t",
    ]
    kinds = [type(parsed) for _, parsed in script_statements(SCRIPT)][1:]
    assert kinds == [Insert, Batch, Select]


def test_a_bad_statement_anywhere_fails_the_whole_script_before_anything_is_sent() -> None:
    with pytest.raises(CqlSyntaxError, match="line 2"):
        script_statements("SELECT * FROM t;\nSELEC * FROM t;")
    assert script_statements("  ;; -- nothing\n") == []
