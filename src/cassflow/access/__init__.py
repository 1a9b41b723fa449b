"""Access to Cassandra: secrets resolution (for now); keyspace-bound connections, per-task
identity, dynamic credentials and rotation build on it."""

from cassflow.access._secrets import SecretError, register_backend, resolve_secrets

__all__ = ["SecretError", "register_backend", "resolve_secrets"]
