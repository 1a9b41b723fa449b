"""Access to Cassandra: who may do what, with which secret.

* the secrets resolution chain: ``${secret:<backend>:<path>[#field]}`` through the env, file,
  cmd, airflow, vault and vault-db backends (:func:`resolve_secrets`);
* keyspace-bound connections: :class:`KeyspaceGuard` / :class:`GuardedSession` refuse a
  statement on another keyspace before it is sent; :func:`tls_context`;
  :class:`SecretAuthProvider` reads the password reference again at each authentication;
* per-task identity (:class:`TaskIdentity`), sent in every connection's STARTUP;
* least privilege: :func:`plan_roles` and dynamic per-task credentials (:func:`issue_lease`,
  :func:`revoke_lease`, :func:`reap_leases`);
* rotation (:func:`rotate`) and the linter behind ``cassflow doctor`` (:func:`lint_paths`).

Names other than the secrets chain's are imported on first use, so ``import cassflow.access``
stays cheap (no CQL parser, no driver, no hvac until they are needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cassflow.access._secrets import (
    BUILTIN_BACKENDS,
    SecretError,
    has_secret_references,
    register_backend,
    resolve_secrets,
)

if TYPE_CHECKING:
    from cassflow.access._auth import SecretAuthProvider
    from cassflow.access._doctor import DoctorReport, lint_paths
    from cassflow.access._guard import KeyspaceGuard, KeyspaceGuardError
    from cassflow.access._identity import TaskIdentity
    from cassflow.access._leases_cql import (
        Lease,
        LeaseError,
        issue_lease,
        reap_leases,
        revoke_lease,
    )
    from cassflow.access._roles_plan import RolePlan, plan_roles
    from cassflow.access._rotate import RotationError, RotationResult, rotate
    from cassflow.access._session import GuardedSession
    from cassflow.access._tls import TlsError, tls_context

_LAZY = {
    "SecretAuthProvider": "_auth",
    "DoctorReport": "_doctor",
    "lint_paths": "_doctor",
    "KeyspaceGuard": "_guard",
    "KeyspaceGuardError": "_guard",
    "TaskIdentity": "_identity",
    "Lease": "_leases_cql",
    "LeaseError": "_leases_cql",
    "issue_lease": "_leases_cql",
    "reap_leases": "_leases_cql",
    "revoke_lease": "_leases_cql",
    "RolePlan": "_roles_plan",
    "plan_roles": "_roles_plan",
    "RotationError": "_rotate",
    "RotationResult": "_rotate",
    "rotate": "_rotate",
    "GuardedSession": "_session",
    "TlsError": "_tls",
    "tls_context": "_tls",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def release_leases() -> int:
    """Revoke every Vault/OpenBao dynamic-credential lease this process holds; returns how many.

    Imports the lease module (and hvac) only when it is called.
    """
    from cassflow.access._leases import release_leases as release  # noqa: PLC0415

    return release()


__all__ = [
    "BUILTIN_BACKENDS",
    "DoctorReport",
    "GuardedSession",
    "KeyspaceGuard",
    "KeyspaceGuardError",
    "Lease",
    "LeaseError",
    "RolePlan",
    "RotationError",
    "RotationResult",
    "SecretAuthProvider",
    "SecretError",
    "TaskIdentity",
    "TlsError",
    "has_secret_references",
    "issue_lease",
    "lint_paths",
    "plan_roles",
    "reap_leases",
    "register_backend",
    "release_leases",
    "resolve_secrets",
    "revoke_lease",
    "rotate",
    "tls_context",
]
