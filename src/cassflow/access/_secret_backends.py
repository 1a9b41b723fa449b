"""The ``cmd`` and ``airflow`` secrets backends.

``${secret:cmd:<command line>[#field]}``
    runs the command (split as a POSIX shell would, with :func:`shlex.split`, but run without
    a shell), waits at most :data:`COMMAND_TIMEOUT` seconds, and takes its standard output
    without the trailing newline; with ``#field``, one text field of the JSON object it
    printed. A command that fails is reported by its program name and exit status only: its
    output (standard error included) may hold the secret, so it is never shown.
    Example: ``${secret:cmd:pass show shop/loader}``,
    ``${secret:cmd:aws secretsmanager get-secret-value --secret-id shop --query SecretString
    --output text#password}``.

``${secret:airflow:<conn_id>#<field>}`` and ``${secret:airflow:var/<key>}``
    inside Airflow, a field of an Airflow connection (``password``, ``login``, ``host``,
    ``port``, ``schema``, ``extra.<key>``) through ``BaseHook.get_connection``, or an Airflow
    variable through ``Variable.get``; both go through Airflow's configured secrets backends
    (environment, metastore, or Vault/AWS/GCP backends). Airflow is imported lazily, in
    :func:`_airflow`; outside Airflow the reference fails with a clear :class:`SecretError`.
"""

from __future__ import annotations

import importlib
import json
import shlex
import subprocess
from typing import Any

from cassflow.access._secrets import SecretError, json_field, reference

#: Seconds a ``cmd`` secret's command may run before it is killed.
COMMAND_TIMEOUT = 30.0

_AIRFLOW_FIELDS = ("password", "login", "host", "port", "schema")


def from_command(path: str, field: str | None) -> str:
    """The ``cmd`` backend: a command's standard output (or one JSON field of it)."""
    ref = reference("cmd", path, field)
    try:
        argv = shlex.split(path)
    except ValueError as exc:
        raise SecretError(f"{ref}: cannot split the command line: {exc}") from None
    if not argv:
        raise SecretError(f"{ref}: the command line is empty")
    program = argv[0]
    try:
        done = subprocess.run(  # the pipeline author's command; no shell
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise SecretError(f"{ref}: program {program!r} not found") from None
    except PermissionError:
        raise SecretError(f"{ref}: program {program!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise SecretError(
            f"{ref}: {program} did not finish within {COMMAND_TIMEOUT:g} s (it was killed)"
        ) from None
    except OSError as exc:
        raise SecretError(f"{ref}: cannot run {program!r}: {exc.strerror}") from None
    if done.returncode != 0:
        raise SecretError(
            f"{ref}: {program} exited with status {done.returncode} "
            "(its output is not shown, as it may hold secrets)"
        )
    try:
        text = done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"{ref}: {program} printed something that is not UTF-8") from None
    if field is None:
        return text.rstrip("\r\n")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise SecretError(f"{ref}: {program} did not print a JSON object") from None
    return json_field(data, field, ref, f"the output of {program}")


def _airflow() -> tuple[Any, Any]:
    """Airflow's ``BaseHook`` and ``Variable`` (the one place that imports Airflow)."""
    try:
        # Through importlib: Airflow is never a dependency of cassflow.access (and untyped here).
        base_hook = importlib.import_module("airflow.hooks.base").BaseHook
        variable = importlib.import_module("airflow.models").Variable
    except ImportError as exc:
        raise SecretError(
            "apache-airflow is not installed: ${secret:airflow:...} references resolve "
            f"inside Airflow only ({exc})"
        ) from None
    return base_hook, variable


def from_airflow(path: str, field: str | None) -> str:
    """The ``airflow`` backend: an Airflow connection's field or an Airflow variable."""
    ref = reference("airflow", path, field)
    try:
        base_hook, variable = _airflow()
    except SecretError as exc:
        raise SecretError(f"{ref}: {exc}") from None
    if path.startswith("var/"):
        key = path[len("var/") :]
        if field is not None:
            raise SecretError(f"{ref}: an Airflow variable has no fields")
        try:
            value = variable.get(key)
        except KeyError:
            raise SecretError(f"{ref}: Airflow has no variable {key!r}") from None
        return str(value)
    if field is None:
        raise SecretError(
            f"{ref}: name the connection's field: #password, #login, #host, #port, #schema "
            "or #extra.<key>"
        )
    try:
        connection = base_hook.get_connection(path)
    except Exception as exc:  # AirflowNotFoundException, or a secrets backend's failure
        raise SecretError(
            f"{ref}: Airflow cannot get connection {path!r}: {type(exc).__name__}"
        ) from None
    return _connection_field(connection, field, ref)


def _connection_field(connection: Any, field: str, ref: str) -> str:
    if field.startswith("extra."):
        key = field[len("extra.") :]
        extra = connection.extra_dejson
        if not isinstance(extra, dict) or key not in extra or extra[key] is None:
            raise SecretError(f"{ref}: connection {connection.conn_id!r} has no extra {key!r}")
        value = extra[key]
        return value if isinstance(value, str) else json.dumps(value)
    if field not in _AIRFLOW_FIELDS:
        raise SecretError(
            f"{ref}: unknown connection field {field!r} (expected one of: "
            f"{', '.join(_AIRFLOW_FIELDS)}, extra.<key>)"
        )
    value = getattr(connection, field, None)
    if value is None or value == "":
        raise SecretError(f"{ref}: connection {connection.conn_id!r} has no {field}")
    return str(value)
