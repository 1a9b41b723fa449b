"""A password login whose secret is read again at every authentication.

:class:`SecretAuthProvider` is a driver ``AuthProvider`` for Cassandra's PasswordAuthenticator
(SASL PLAIN, as the driver's own ``PlainTextAuthProvider``) that keeps the password's
``${secret:...}`` reference, not its value: each new connection, reconnect or pool refill
resolves the reference through :func:`cassflow.access.resolve_secrets` at the moment the
server asks for credentials. After a rotation (a new password set on the role and written
to the secrets backend) the next connection logs in with the new secret, with no restart.

The plaintext lives only while the handshake builds its answer; reprs and errors show none.
"""

from __future__ import annotations

from typing import Any

from cassandra.auth import AuthProvider, BaseDSEAuthenticator
from pydantic import SecretStr

from cassflow.access._secrets import resolve_secrets


class SecretAuthProvider(AuthProvider):  # type: ignore[misc]  # the driver is untyped
    """Logs in as ``username`` with ``password``, both resolved at each authentication.

    ``password`` is a :class:`pydantic.SecretStr` holding a ``${secret:...}`` reference (or
    a literal password, used as it is); ``username`` may be a reference too (dynamic
    credentials). Resolution errors (:class:`~cassflow.access.SecretError`) name the reference
    and fail that connection attempt.
    """

    def __init__(self, username: str, password: SecretStr | None) -> None:
        if password is not None and not isinstance(password, SecretStr):
            raise TypeError("password must be a pydantic.SecretStr")
        self.username = username
        self._password = password if password is not None else SecretStr("")

    def __repr__(self) -> str:
        return f"SecretAuthProvider(username={self.username!r}, password='**********')"

    def new_authenticator(self, host: Any) -> BaseDSEAuthenticator:  # noqa: ARG002
        """An authenticator for one connection (to any host: the same credentials)."""
        return _SecretPlainTextAuthenticator(self.username, self._password)


class _SecretPlainTextAuthenticator(BaseDSEAuthenticator):  # type: ignore[misc]
    """SASL PLAIN with the credentials resolved when the server asks for them."""

    def __init__(self, username: str, password: SecretStr) -> None:
        self._username: str | None = username
        self._password: SecretStr | None = password

    def __repr__(self) -> str:
        return "_SecretPlainTextAuthenticator(password='**********')"

    def get_mechanism(self) -> bytes:
        return b"PLAIN"

    def get_initial_challenge(self) -> bytes:
        return b"PLAIN-START"

    def evaluate_challenge(self, challenge: bytes) -> bytes:
        if challenge != b"PLAIN-START" or self._username is None or self._password is None:
            raise ValueError("unexpected authentication challenge from the server")
        username, password = self._username, self._password
        # One answer per connection: the references are dropped with the handshake.
        self._username = self._password = None
        user = resolve_secrets(username)
        secret = resolve_secrets(password)
        assert user is not None  # resolving a SecretStr gives one
        assert secret is not None
        return (
            b"\x00"
            + user.get_secret_value().encode("utf-8")
            + b"\x00"
            + secret.get_secret_value().encode("utf-8")
        )
