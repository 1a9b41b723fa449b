"""Resolving ``${secret:<backend>:<path>[#field]}`` references to their values.

Pipeline files never hold secret values, only references; a connection resolves them when it
opens, and the values live in :class:`pydantic.SecretStr` from then on, so they never print.
Backends, in the order the documentation lists them:

``env``
    an environment variable: ``${secret:env:SHOP_PASSWORD}``;
``file``
    a file's content without the trailing newline (a mounted secret), or with ``#field`` one
    field of a JSON object in it: ``${secret:file:/run/secrets/shop.json#password}``.

More backends (a command's output, Airflow's secrets backends, Vault/OpenBao) plug in through
:func:`register_backend`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from cassflow.errors import CassflowError

_REFERENCE = re.compile(r"\$\{secret:([a-z][a-z0-9_-]*):([^#}]+)(?:#([^}]+))?\}")

#: A backend turns (path, field or None) into the secret's value.
Backend = Callable[[str, str | None], str]


class SecretError(CassflowError):
    """A secret reference cannot be resolved; the message names the reference, never a value."""


def _from_env(path: str, field: str | None) -> str:
    if field is not None:
        raise SecretError(f"${{secret:env:{path}#{field}}}: the env backend has no fields")
    try:
        return os.environ[path]
    except KeyError:
        raise SecretError(
            f"${{secret:env:{path}}}: environment variable {path} is not set"
        ) from None


def _from_file(path: str, field: str | None) -> str:
    reference = f"${{secret:file:{path}{'#' + field if field else ''}}}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretError(f"{reference}: cannot read {path}: {exc.strerror}") from None
    if field is None:
        return text.rstrip("\r\n")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise SecretError(f"{reference}: {path} is not a JSON object") from None
    if not isinstance(data, dict) or not isinstance(data.get(field), str):
        raise SecretError(f"{reference}: {path} has no text field {field!r}")
    return str(data[field])


_BACKENDS: dict[str, Backend] = {"env": _from_env, "file": _from_file}


def register_backend(name: str, backend: Backend) -> None:
    """Make ``${secret:<name>:...}`` references resolve through ``backend``."""
    _BACKENDS[name] = backend


def resolve_secrets(value: str | SecretStr | None) -> SecretStr | None:
    """Replace every secret reference in ``value`` by the secret; plain text stays as it is."""
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value

    def replace(match: re.Match[str]) -> str:
        backend = _BACKENDS.get(match[1])
        if backend is None:
            known = ", ".join(sorted(_BACKENDS))
            raise SecretError(f"{match[0]}: unknown secrets backend {match[1]!r} (known: {known})")
        return backend(match[2], match[3])

    return SecretStr(_REFERENCE.sub(replace, text))
