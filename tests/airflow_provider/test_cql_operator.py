"""CqlOperator: scripts parsed and keyspace-checked whole before anything is sent, then run.

One DAG run in real Airflow holds a good task, a script the keyspace guard refuses and a
script that does not parse; the cluster and the Airflow database tell what each did.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest
from airflow_env import AirflowHome, connection_env
from cassandra.cluster import Session

from cassflow.airflow._cql_script import CqlScriptError, parse_script


def test_good_refused_and_broken_scripts(
    airflow_home: AirflowHome,
    dag_folder: Path,
    contact: tuple[list[str], int],
    session: Session,
    keyspace: str,
) -> None:
    (dag_folder / "cf_cql.py").write_text(
        textwrap.dedent(
            f"""\
            from datetime import datetime, timedelta

            from airflow.sdk import DAG

            from cassflow.airflow import CqlOperator

            with DAG("cf_cql", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
                CqlOperator(
                    task_id="good", cassflow_conn_id="cf_cql", keyspace="{keyspace}",
                    sql=[
                        "CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text)",
                        "INSERT INTO kv (k, v) VALUES (1, 'one; with a semicolon')",
                        "INSERT INTO kv (k, v) VALUES (2, '{{{{ dag.dag_id }}}}')",
                    ],
                )
                CqlOperator(
                    task_id="refused", cassflow_conn_id="cf_cql", keyspace="{keyspace}",
                    sql="CREATE TABLE sent_first (k int PRIMARY KEY);\\n"
                        "INSERT INTO other_ks.t (k) VALUES (1);",
                    retries=2, retry_delay=timedelta(0),
                )
                CqlOperator(
                    task_id="broken", cassflow_conn_id="cf_cql", keyspace="{keyspace}",
                    sql="CREATE TABLE fine (k int PRIMARY KEY);\\n"
                        "-- the next one lacks a parenthesis\\n"
                        "CREATE TABLE not_fine (k int PRIMARY KEY;\\n",
                )
            """
        ),
        encoding="utf-8",
    )
    hosts, port = contact
    # The connection's own Schema is another keyspace: keyspace= rebinds it.
    env = connection_env(
        "cf_cql", conn_type="cassflow", host=",".join(hosts), port=port, schema="elsewhere"
    )
    result = airflow_home.dags_test("cf_cql", env=env)
    assert result.state == "failed", result.output[-6000:]
    with sqlite3.connect(airflow_home.path / "airflow.db") as db:
        states = {
            task: (state, tries)
            for task, state, tries in db.execute(
                "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = 'cf_cql'"
            )
        }
        ((good,),) = db.execute(
            "SELECT value FROM xcom WHERE dag_id = 'cf_cql' AND task_id = 'good' "
            "AND key = 'return_value'"
        )
    # Refused and broken scripts fail for good: a retry could not change the outcome.
    assert states == {"good": ("success", 1), "refused": ("failed", 1), "broken": ("failed", 1)}
    assert json.loads(str(good)) == 3
    rows = dict(session.execute(f"SELECT k, v FROM {keyspace}.kv").all())
    assert rows == {1: "one; with a semicolon", 2: "cf_cql"}

    # Nothing of a refused or broken script was sent, not even its good first statements.
    tables = {r.table_name for r in session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
    )}  # fmt: skip
    assert tables == {"kv"}
    text = result.output + airflow_home.log_text()
    assert "statement 2 of 2 refused, nothing was run" in text
    assert f"bound to keyspace {keyspace}" in text
    assert "other_ks" in text
    assert "sql: statement 2, line 3, column 40" in text


# --- parsing, in process ----------------------------------------------------------------------


def test_statements_are_counted_over_strings_comments_and_pieces() -> None:
    script = (
        "INSERT INTO t (k, v) VALUES (1, 'a;b'); -- one; still one\n"
        "/* two; */ UPDATE t SET v = 'c' WHERE k = 1;\n"
    )
    assert parse_script([script]) == [
        "INSERT INTO t (k, v) VALUES (1, 'a;b')",
        "UPDATE t SET v = 'c' WHERE k = 1",
    ]
    with pytest.raises(CqlScriptError) as caught:
        parse_script([script + "SELEC * FROM t;"])
    assert str(caught.value).startswith("sql: statement 3, line 3, column 0:")
    with pytest.raises(CqlScriptError) as caught:
        parse_script(["SELECT * FROM t", "SELECT * FROM t; INSERT INTO t (k) VALUES ('x"])
    assert str(caught.value).startswith("sql[1]: statement 3, line 1")


@pytest.mark.parametrize("sql", ["", "   ", [], ["SELECT 1", 2]])
def test_empty_or_odd_sql_is_refused_when_the_dag_is_parsed(
    airflow_home: AirflowHome, sql: object
) -> None:
    from cassflow.airflow import CqlOperator

    with pytest.raises(ValueError, match=r"CqlOperator 'x': sql"):
        CqlOperator(task_id="x", sql=sql)  # type: ignore[arg-type]


def test_a_script_of_only_comments_holds_no_statement() -> None:
    with pytest.raises(CqlScriptError, match="no statement"):
        parse_script(["-- nothing here\n"])
