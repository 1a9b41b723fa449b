"""Vault/OpenBao: the client (the one module that imports hvac) and the ``vault`` KV v2 backend.

``${secret:vault:<mount>/<path>#<field>}`` reads one field of the latest version of a KV v2
secret, e.g. ``${secret:vault:secret/shop/loader#password}`` reads field ``password`` of
secret ``shop/loader`` on the KV v2 engine mounted at ``secret``. A secret with a single field
may leave out ``#<field>``.

Where Vault is and how to log in come from the environment, as the ``vault`` and ``bao`` CLIs
read it: ``VAULT_ADDR`` (or ``BAO_ADDR``), ``VAULT_TOKEN`` (or ``BAO_TOKEN``, or the CLI's
``~/.vault-token`` file), ``VAULT_NAMESPACE`` (``BAO_NAMESPACE``), ``VAULT_CACERT``
(``BAO_CACERT``) to check the server's certificate, and ``VAULT_CLIENT_CERT`` /
``VAULT_CLIENT_KEY`` for mutual TLS. hvac is imported here only, and only when a reference
needs it; without it the error names ``pip install 'cassflow[vault]'``.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Any

from cassflow.access._secrets import SecretError, json_field, reference

#: Seconds to wait for an answer from Vault.
VAULT_TIMEOUT = 10.0

_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


def _hvac() -> Any:
    """The hvac module, or a SecretError saying how to install it."""
    try:
        # Through importlib: hvac ships no type information, and this keeps it optional.
        return importlib.import_module("hvac")
    except ImportError:
        raise SecretError(
            "the vault secrets backends need hvac: pip install 'cassflow[vault]'"
        ) from None


def _setting(*names: str) -> str:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return ""


def _token() -> str:
    token = _setting("VAULT_TOKEN", "BAO_TOKEN")
    if token:
        return token
    try:  # what `vault login` / `bao login` leave behind
        return (Path.home() / ".vault-token").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def vault_address() -> str:
    """The Vault/OpenBao address the environment names (``""`` when none)."""
    return _setting("VAULT_ADDR", "BAO_ADDR")


def vault_namespace() -> str:
    """The Vault Enterprise / OpenBao namespace the environment names (``""`` when none)."""
    return _setting("VAULT_NAMESPACE", "BAO_NAMESPACE")


def vault_client(ref: str) -> Any:
    """An ``hvac.Client`` configured from the environment; one per configuration.

    ``ref`` is the reference being resolved, for the error when Vault is not configured.
    """
    address = vault_address()
    if not address:
        raise SecretError(f"{ref}: set VAULT_ADDR (or BAO_ADDR) to the Vault/OpenBao address")
    token = _token()
    if not token:
        raise SecretError(
            f"{ref}: set VAULT_TOKEN (or BAO_TOKEN), or log in with `vault login`, to reach "
            f"{address}"
        )
    namespace = vault_namespace()
    cacert = _setting("VAULT_CACERT", "BAO_CACERT")
    cert = _setting("VAULT_CLIENT_CERT", "BAO_CLIENT_CERT")
    key = _setting("VAULT_CLIENT_KEY", "BAO_CLIENT_KEY")
    settings = (address, token, namespace, cacert, cert, key)
    hvac = _hvac()
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            client = hvac.Client(
                url=address,
                token=token,
                namespace=namespace or None,
                verify=cacert or True,
                cert=(cert, key) if cert and key else None,
                timeout=VAULT_TIMEOUT,
            )
            _clients[settings] = client
    return client


def vault_failure(ref: str, what: str, exc: Exception, client: Any) -> SecretError:
    """A SecretError for a failed Vault request: the reference, the request, Vault's reason.

    hvac's messages hold Vault's error list and the URL, not the token; the token is scrubbed
    anyway, should a layer below ever echo it.
    """
    hvac = _hvac()
    if isinstance(exc, hvac.exceptions.VaultError):
        reason = f"{type(exc).__name__}: {exc}"
    else:  # requests' connection errors and the like: their text repeats the whole URL
        reason = type(exc).__name__
    token = getattr(client, "token", None)
    if isinstance(token, str) and token:
        reason = reason.replace(token, "**********")
    address = getattr(client, "url", vault_address())
    return SecretError(f"{ref}: {what} at {address} failed: {reason}")


def split_mount(path: str, ref: str) -> tuple[str, str]:
    """``<mount>/<rest>`` split at the first slash; both parts must be there."""
    mount, _, rest = path.strip("/").partition("/")
    if not mount or not rest:
        raise SecretError(f"{ref}: expected <mount>/<path>, e.g. secret/shop/loader")
    return mount, rest


def from_kv(path: str, field: str | None) -> str:
    """The ``vault`` backend: one field of a KV v2 secret's latest version."""
    ref = reference("vault", path, field)
    mount, secret_path = split_mount(path, ref)
    client = vault_client(ref)
    hvac = _hvac()
    try:
        answer = client.secrets.kv.v2.read_secret_version(
            path=secret_path, mount_point=mount, raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath:
        raise SecretError(
            f"{ref}: no KV v2 secret {secret_path!r} on mount {mount!r} at {client.url} "
            f"(or no KV v2 engine is mounted at {mount}/)"
        ) from None
    except Exception as exc:  # Forbidden, VaultDown, connection refused, a timeout
        raise vault_failure(ref, f"reading {mount}/{secret_path}", exc, client) from None
    data = answer.get("data", {}).get("data") if isinstance(answer, dict) else None
    where = f"secret {mount}/{secret_path}"
    if not isinstance(data, dict):
        raise SecretError(f"{ref}: {where} is not a KV v2 secret")
    if field is None:
        if len(data) != 1:
            fields = ", ".join(sorted(data)) or "none"
            raise SecretError(f"{ref}: {where} has several fields; name one ({fields})")
        field = next(iter(data))
    return json_field(data, field, ref, where)
