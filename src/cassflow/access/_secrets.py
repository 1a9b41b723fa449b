"""Resolving ``${secret:<backend>:<path>[#field]}`` references to their values.

Pipeline files never hold secret values, only references; a connection resolves them when it
opens, and the values live in :class:`pydantic.SecretStr` from then on, so they never print.
A reference names its backend; the backends, in the order the documentation lists them:

``env``
    an environment variable: ``${secret:env:SHOP_PASSWORD}``;
``file``
    a file's content without the trailing newline (a mounted secret), or with ``#field`` one
    field of a JSON object in it: ``${secret:file:/run/secrets/shop.json#password}``;
``cmd``
    a command's standard output (``${secret:cmd:pass show shop/loader}``), see
    :mod:`cassflow.access._secret_backends`;
``airflow``
    an Airflow connection's field or an Airflow variable, inside Airflow only;
``vault``
    a field of a Vault/OpenBao KV v2 secret (:mod:`cassflow.access._vault`);
``vault-db``
    dynamic database credentials of Vault/OpenBao's database secrets engine, one lease per
    role shared by ``#username`` and ``#password`` (:mod:`cassflow.access._leases`).

The last four live in modules of their own, imported on first use, so that ``import
cassflow.access`` stays cheap and hvac stays optional. More backends plug in through
:func:`register_backend`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import cast

from pydantic import SecretStr

from cassflow.errors import CassflowError

_REFERENCE = re.compile(r"\$\{secret:([a-z][a-z0-9_-]*):([^#}]+)(?:#([^}]+))?\}")

#: A backend turns (path, field or None) into the secret's value.
Backend = Callable[[str, str | None], str]


class SecretError(CassflowError):
    """A secret reference cannot be resolved; the message names the reference, never a value."""


def reference(backend: str, path: str, field: str | None) -> str:
    """The reference as a pipeline file spells it, for error messages."""
    return f"${{secret:{backend}:{path}{'' if field is None else '#' + field}}}"


def json_field(data: object, field: str, ref: str, where: str) -> str:
    """The text field ``field`` of the JSON object ``data``; the error names fields, not values."""
    if not isinstance(data, dict):
        raise SecretError(f"{ref}: {where} is not a JSON object")
    value = data.get(field)
    if not isinstance(value, str):
        fields = ", ".join(sorted(str(key) for key in data)) or "none"
        problem = "has no field" if field not in data else "has no text in field"
        raise SecretError(f"{ref}: {where} {problem} {field!r} (its fields: {fields})")
    return value


def _from_env(path: str, field: str | None) -> str:
    if field is not None:
        raise SecretError(f"{reference('env', path, field)}: the env backend has no fields")
    try:
        return os.environ[path]
    except KeyError:
        raise SecretError(
            f"{reference('env', path, None)}: environment variable {path} is not set"
        ) from None


def _from_file(path: str, field: str | None) -> str:
    ref = reference("file", path, field)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretError(f"{ref}: cannot read {path}: {exc.strerror}") from None
    if field is None:
        return text.rstrip("\r\n")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise SecretError(f"{ref}: {path} is not a JSON object") from None
    return json_field(data, field, ref, path)


_BACKENDS: dict[str, Backend] = {"env": _from_env, "file": _from_file}

# Built-in backends whose modules are imported when a reference first names them:
# name -> (module, function).
_LAZY_BACKENDS: dict[str, tuple[str, str]] = {
    "cmd": ("cassflow.access._secret_backends", "from_command"),
    "airflow": ("cassflow.access._secret_backends", "from_airflow"),
    "vault": ("cassflow.access._vault", "from_kv"),
    "vault-db": ("cassflow.access._leases", "from_database"),
}

#: The built-in backends in the documented order.
BUILTIN_BACKENDS = ("env", "file", "cmd", "airflow", "vault", "vault-db")


def register_backend(name: str, backend: Backend) -> None:
    """Make ``${secret:<name>:...}`` references resolve through ``backend``."""
    _BACKENDS[name] = backend


def _backend(name: str, ref: str) -> Backend:
    backend = _BACKENDS.get(name)
    if backend is not None:
        return backend
    lazy = _LAZY_BACKENDS.get(name)
    if lazy is None:
        known = ", ".join(sorted({*_BACKENDS, *_LAZY_BACKENDS}))
        raise SecretError(f"{ref}: unknown secrets backend {name!r} (known: {known})")
    module, function = lazy
    backend = cast(Backend, getattr(importlib.import_module(module), function))
    # A backend registered under the same name meanwhile wins.
    return _BACKENDS.setdefault(name, backend)


def resolve_secrets(value: str | SecretStr | None) -> SecretStr | None:
    """Replace every secret reference in ``value`` by the secret; plain text stays as it is."""
    if value is None:
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else value

    def replace(match: re.Match[str]) -> str:
        return _backend(match[1], match[0])(match[2], match[3])

    return SecretStr(_REFERENCE.sub(replace, text))


def has_secret_references(value: str | SecretStr | None) -> bool:
    """Whether ``value`` holds at least one ``${secret:...}`` reference."""
    if value is None:
        return False
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return _REFERENCE.search(text) is not None
