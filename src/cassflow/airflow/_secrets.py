"""The ``airflow`` secrets backend: Airflow connections' fields and Airflow variables.

``${secret:airflow:<conn_id>#<field>}``
    a field of an Airflow connection: ``password``, ``login``, ``host``, ``port``, ``schema``,
    or ``extra.<key>`` (a key of its extra JSON; a value that is not text is given as JSON);
``${secret:airflow:var/<key>}``
    an Airflow variable.

Both are read through Airflow's own entry points (the Task SDK's ``BaseHook.get_connection``
and ``Variable.get`` on Airflow 3), so Airflow's configured secrets backends answer: inside a
task, the ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*`` environment, a custom backend (Vault, AWS, GCP)
and the metadata database (through the task's API server); outside a task, the environment
and the custom backends. The access layer's builtin ``airflow`` backend
(:mod:`cassflow.access._secret_backends`) imports this module on first use, so that nothing
but :mod:`cassflow.airflow` imports Airflow. Errors name the reference, never a value.
"""

from __future__ import annotations

import json
from typing import Any

from cassflow.access._secrets import SecretError, reference
from cassflow.airflow._compat import AirflowNotFoundException, BaseHook, Variable

#: The connection fields a reference may name (besides ``extra.<key>``).
CONNECTION_FIELDS = ("password", "login", "host", "port", "schema")

# Variable.get's default when the variable is missing: a value no variable can have.
_MISSING = object()


def from_airflow(path: str, field: str | None) -> str:
    """The ``airflow`` backend: an Airflow connection's field, or an Airflow variable."""
    ref = reference("airflow", path, field)
    if path.startswith("var/"):
        if field is not None:
            raise SecretError(f"{ref}: an Airflow variable has no fields")
        return _variable(path[len("var/") :], ref)
    if field is None:
        raise SecretError(
            f"{ref}: name the connection's field: #password, #login, #host, #port, #schema "
            "or #extra.<key>"
        )
    if not field.startswith("extra.") and field not in CONNECTION_FIELDS:
        raise SecretError(
            f"{ref}: unknown connection field {field!r} (expected one of: "
            f"{', '.join(CONNECTION_FIELDS)}, extra.<key>)"
        )
    return _connection_field(_connection(path, ref), path, field, ref)


def _variable(key: str, ref: str) -> str:
    try:
        # The default positionally: Airflow 3 calls it ``default``, Airflow 2 ``default_var``.
        value = Variable.get(key, _MISSING)
    except Exception as exc:  # a secrets backend's failure: its text may quote the value
        raise SecretError(
            f"{ref}: Airflow cannot get variable {key!r}: {type(exc).__name__}"
        ) from None
    if value is _MISSING:
        raise SecretError(f"{ref}: Airflow has no variable {key!r}")
    return str(value)


def _connection(conn_id: str, ref: str) -> Any:
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise SecretError(f"{ref}: Airflow has no connection {conn_id!r}") from None
    except Exception as exc:  # a secrets backend's failure: its text may quote the URI
        raise SecretError(
            f"{ref}: Airflow cannot get connection {conn_id!r}: {type(exc).__name__}"
        ) from None


def _connection_field(connection: Any, conn_id: str, field: str, ref: str) -> str:
    if field.startswith("extra."):
        key = field[len("extra.") :]
        try:
            extra = connection.extra_dejson
        except Exception:  # extra that is not JSON: Airflow logs it; its text is not shown
            extra = None
        if not isinstance(extra, dict) or extra.get(key) is None:
            raise SecretError(f"{ref}: connection {conn_id!r} has no extra {key!r}")
        value = extra[key]
        return value if isinstance(value, str) else json.dumps(value)
    value = getattr(connection, field, None)
    if value is None or value == "":
        raise SecretError(f"{ref}: connection {conn_id!r} has no {field}")
    return str(value)
