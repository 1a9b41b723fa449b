"""Password rotation: a new random password on the role, written to the secrets backend, proved.

Theory of operation. A connection's password is a ``${secret:...}`` reference; the role lives
in Cassandra. :func:`rotate` changes both, in the order that never locks anyone out for long:

*Single mode* (one role): ``ALTER ROLE "<role>" WITH PASSWORD = '<new>'`` (by the role itself,
which Cassandra allows for its own password, or by a broker session), then the new value is
written where the reference points; if that write fails, the role gets its old password back
and the error goes on. Last, a fresh login with the new password proves it. Sessions that are
running stay logged in (Cassandra checks passwords only when a connection authenticates); the
cassflow auth provider reads the current secret at each authentication, so their reconnects
use the new one.

*Alternating mode* (two roles with the same grants, for clusters where a password change must
overlap the old one): the broker sets a new password on the role the secret does NOT hold,
a fresh login proves it, and then the secret switches to that role and password in one write.
The role that was in use keeps working until the next rotation changes it in turn, so clients
that still hold it (a long-lived session, another host that has not reconnected) go on.

The new password comes from :func:`secrets.token_urlsafe` (256 bits); it is never logged or
printed, and errors name roles and references, never values.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from cassflow.access._secret_writers import SecretLocation, write_secret
from cassflow.access._secrets import SecretError, resolve_secrets
from cassflow.errors import CassflowError

__all__ = ["RotationError", "RotationResult", "new_password", "rotate"]

log = logging.getLogger(__name__)

#: Opens a session logged in as (role, password), closed when the context ends.
Login = Callable[[str, SecretStr], AbstractContextManager[Any]]


class RotationError(CassflowError):
    """A rotation could not be done; the message says what state it left things in."""


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What :func:`rotate` did (no secret in it)."""

    #: The role the secret now holds, with its new password.
    role: str
    #: The role the secret held before (the same role in single mode).
    previous_role: str
    #: ``single`` or ``alternate``.
    mode: str
    #: Where the new password was written (the reference, without a value).
    location: str
    seconds: float


def new_password() -> SecretStr:
    """A random password: 43 URL-safe characters (256 bits), no quote to escape."""
    return SecretStr(secrets.token_urlsafe(32))


def rotate(
    *,
    username: str,
    password: str,
    login: Login,
    broker: AbstractContextManager[Any] | None = None,
    alternate_roles: Sequence[str] = (),
) -> RotationResult:
    """Rotate a connection's credentials (see the module docstring).

    ``username`` is the role name or a ``${secret:...}`` reference to it; ``password`` must be
    a reference (that is where the new value goes). ``login`` opens sessions; ``broker`` is a
    session allowed to ALTER the roles (required in alternating mode: two ``alternate_roles``).
    """
    began = time.monotonic()
    if alternate_roles:
        if len(alternate_roles) != 2 or alternate_roles[0] == alternate_roles[1]:
            raise RotationError("alternating mode needs exactly two different roles")
        if broker is None:
            raise RotationError(
                "alternating mode needs a broker connection allowed to ALTER both roles"
            )
        role, previous, location = _alternate(username, password, login, broker, alternate_roles)
        mode = "alternate"
    else:
        role, location = _single(username, password, login, broker)
        previous, mode = role, "single"
    return RotationResult(role, previous, mode, str(location), time.monotonic() - began)


def _single(
    username: str, password: str, login: Login, broker: AbstractContextManager[Any] | None
) -> tuple[str, SecretLocation]:
    location = SecretLocation.parse(password)
    role = _value(username, "username")
    current = _resolved(password, "password")
    fresh = new_password()
    with broker if broker is not None else login(role, current) as session:
        _set_password(session, role, fresh)
        try:
            write_secret(location, {location.field: fresh})
        except SecretError as exc:
            try:
                _set_password(session, role, current)
            except Exception as undo:  # the role keeps the new password the store lacks
                raise RotationError(
                    f"role {role}: the new password could not be stored ({exc}) and the old one "
                    f"could not be set back ({type(undo).__name__}); set it by hand"
                ) from None
            raise RotationError(
                f"role {role}: the new password could not be stored, so the old one was set "
                f"back: {exc}"
            ) from None
    log.info("role %s: new password set and stored in %s", role, location)
    _prove(login, role, fresh, location)
    return role, location


def _alternate(
    username: str,
    password: str,
    login: Login,
    broker: AbstractContextManager[Any],
    roles: Sequence[str],
) -> tuple[str, str, SecretLocation]:
    user_at = SecretLocation.parse(username)
    password_at = SecretLocation.parse(password)
    if (user_at.backend, user_at.path) != (password_at.backend, password_at.path) or (
        user_at.field is None or password_at.field is None
    ):
        raise RotationError(
            "alternating mode switches the role and its password in one write: the username "
            "and the password must be two fields of one secret (…#username and …#password)"
        )
    active = _value(username, "username")
    if active not in roles:
        raise RotationError(
            f"the secret holds role {active}, which is not one of the alternating roles "
            f"{', '.join(roles)}"
        )
    standby = roles[1] if active == roles[0] else roles[0]
    fresh = new_password()
    with broker as session:
        _set_password(session, standby, fresh)
    _prove(login, standby, fresh, None)
    values: dict[str | None, SecretStr] = {
        user_at.field: SecretStr(standby),
        password_at.field: fresh,
    }
    try:
        write_secret(password_at, values)
    except SecretError as exc:
        raise RotationError(
            f"role {standby} has a new password but the secret could not switch to it ({exc}); "
            f"the secret still holds role {active}, which still works: rotate again"
        ) from None
    log.info("secret %s now holds role %s (was %s)", password_at, standby, active)
    return standby, active, password_at


def _value(reference_or_value: str, what: str) -> str:
    resolved = resolve_secrets(reference_or_value)
    assert resolved is not None
    value = resolved.get_secret_value()
    if not value:
        raise RotationError(f"the {what} is empty")
    return value


def _resolved(reference: str, what: str) -> SecretStr:
    resolved = resolve_secrets(reference)
    if resolved is None or not resolved.get_secret_value():
        raise RotationError(f"the {what} is empty")
    return resolved


def _set_password(session: Any, role: str, password: SecretStr) -> None:
    quoted = '"' + role.replace('"', '""') + '"'
    # Role options take string literals only (no bind markers); the password has no quote.
    statement = f"ALTER ROLE {quoted} WITH PASSWORD = '{password.get_secret_value()}'"
    try:
        session.execute(statement)
    except Exception as exc:
        # The driver's message does not echo the statement; say which role, not the text.
        raise RotationError(
            f"ALTER ROLE {role} WITH PASSWORD failed: {type(exc).__name__}: {exc}"
        ) from None


def _prove(login: Login, role: str, password: SecretStr, stored: SecretLocation | None) -> None:
    try:
        with login(role, password) as session:
            session.execute("SELECT release_version FROM system.local")
    except Exception as exc:
        where = f"; the new password is stored in {stored}" if stored is not None else ""
        raise RotationError(
            f"role {role}: a fresh login with the new password failed{where}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
