"""``${secret:airflow:...}`` references resolved inside an Airflow task, by real Airflow.

Outside a task the Task SDK reads the ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*`` environment (see
tests/access/test_secret_backends.py); inside one it also reaches the metadata database,
through the task's API server: both are checked here, in one DAG run.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

from airflow_env import AirflowHome, connection_env

DB_PASSWORD = "db-Secret-pw-8841"
DB_TOKEN = "db-Secret-token-5520"
DB_VARIABLE = "db-Secret-var-3307"
ENV_PASSWORD = "env-Secret-pw-1976"
ENV_VARIABLE = "env-Secret-var-6612"


def _store_in_the_metadata_database() -> None:
    """A connection and a variable in Airflow's metadata database (not in the environment)."""
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "cf_secrets_db").delete()
        session.query(Variable).filter(Variable.key == "cf_secrets_db_var").delete()
        session.add(
            Connection(
                conn_id="cf_secrets_db",
                conn_type="cassflow",
                login="loader",
                password=DB_PASSWORD,
                extra=json.dumps({"token": DB_TOKEN}),
            )
        )
        session.add(Variable(key="cf_secrets_db_var", val=DB_VARIABLE))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_airflow_references_resolve_inside_a_task(
    airflow_home: AirflowHome, dag_folder: Path
) -> None:
    _store_in_the_metadata_database()
    expected = {
        "${secret:airflow:cf_secrets_db#password}": _digest(DB_PASSWORD),
        "${secret:airflow:cf_secrets_db#login}": _digest("loader"),
        "${secret:airflow:cf_secrets_db#extra.token}": _digest(DB_TOKEN),
        "${secret:airflow:var/cf_secrets_db_var}": _digest(DB_VARIABLE),
        "${secret:airflow:cf_secrets_env#password}": _digest(ENV_PASSWORD),
        "${secret:airflow:var/cf_secrets_env_var}": _digest(ENV_VARIABLE),
    }
    # The task compares digests: the DAG file holds no secret, and the task logs none.
    (dag_folder / "secrets_dag.py").write_text(
        textwrap.dedent(
            f"""\
            import hashlib

            from airflow.sdk import DAG, BaseOperator

            from cassflow.access import SecretError, resolve_secrets

            EXPECTED = {expected!r}


            class Resolve(BaseOperator):
                def execute(self, context):
                    for reference, digest in EXPECTED.items():
                        value = resolve_secrets(reference).get_secret_value()
                        if hashlib.sha256(value.encode()).hexdigest() != digest:
                            raise ValueError(reference + ": not the expected value")
                        self.log.info("RESOLVED %s", reference)
                    try:
                        resolve_secrets("${{secret:airflow:cf_secrets_nowhere#password}}")
                    except SecretError as exc:
                        self.log.info("REFUSED %s", exc)
                    else:
                        raise ValueError("a missing connection resolved")


            with DAG("airflow_secrets_in_a_task", schedule=None):
                Resolve(task_id="resolve")
            """
        ),
        encoding="utf-8",
    )
    env = connection_env("cf_secrets_env", conn_type="cassflow", password=ENV_PASSWORD)
    env["AIRFLOW_VAR_CF_SECRETS_ENV_VAR"] = ENV_VARIABLE
    result = airflow_home.dags_test("airflow_secrets_in_a_task", env=env).check()

    for reference in expected:
        assert f"RESOLVED {reference}" in result.output
    assert (
        "REFUSED ${secret:airflow:cf_secrets_nowhere#password}: "
        "Airflow has no connection 'cf_secrets_nowhere'"
    ) in result.output
    everything = result.output + airflow_home.log_text()
    for secret in (DB_PASSWORD, DB_TOKEN, DB_VARIABLE, ENV_PASSWORD, ENV_VARIABLE):
        assert secret not in everything
