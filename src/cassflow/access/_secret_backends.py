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
    a field of an Airflow connection (``password``, ``login``, ``host``, ``port``, ``schema``,
    ``extra.<key>``) or an Airflow variable, through Airflow's configured secrets backends.
    The reading lives in :mod:`cassflow.airflow._secrets` (nothing outside cassflow.airflow
    imports Airflow), imported on the first such reference; without Airflow installed the
    reference fails with a clear :class:`SecretError`.
"""

from __future__ import annotations

import importlib
import json
import shlex
import subprocess
from collections.abc import Callable

from cassflow.access._secrets import SecretError, json_field, reference

#: Seconds a ``cmd`` secret's command may run before it is killed.
COMMAND_TIMEOUT = 30.0


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


def from_airflow(path: str, field: str | None) -> str:
    """The ``airflow`` backend: an Airflow connection's field or an Airflow variable, read by
    :mod:`cassflow.airflow._secrets` (imported on first use: only cassflow.airflow imports
    Airflow)."""
    try:
        module = importlib.import_module("cassflow.airflow._secrets")
    except ImportError as exc:
        raise SecretError(
            f"{reference('airflow', path, field)}: apache-airflow is not installed: "
            f"${{secret:airflow:...}} references resolve inside Airflow only ({exc})"
        ) from None
    backend: Callable[[str, str | None], str] = module.from_airflow
    return backend(path, field)
