"""Access to Cassandra: the secrets resolution chain (``${secret:<backend>:<path>[#field]}``
through env, file, cmd, airflow, vault and vault-db backends, with leases of dynamic
credentials); keyspace-bound connections, per-task identity, dynamic credentials and rotation
build on it."""

from cassflow.access._secrets import (
    BUILTIN_BACKENDS,
    SecretError,
    has_secret_references,
    register_backend,
    resolve_secrets,
)


def release_leases() -> int:
    """Revoke every Vault/OpenBao dynamic-credential lease this process holds; returns how many.

    Imports the lease module (and hvac) only when it is called.
    """
    from cassflow.access._leases import release_leases as release  # noqa: PLC0415

    return release()


__all__ = [
    "BUILTIN_BACKENDS",
    "SecretError",
    "has_secret_references",
    "register_backend",
    "release_leases",
    "resolve_secrets",
]
