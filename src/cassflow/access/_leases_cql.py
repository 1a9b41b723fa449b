"""Dynamic per-task credentials: short-lived LOGIN roles with exactly the grants a task needs.

A broker session (a role with CREATE on ALL ROLES, and each permission it hands out together
with AUTHORIZE on the same resource) issues a *lease* for one task::

    lease = issue_lease(broker, task_identity="orders_daily.load_orders.run-7",
                        grants=[table_grant(Permission.MODIFY, "shop", "orders")],
                        ttl_seconds=3600, keyspace="shop")
    # the task logs in as lease.role with lease.password.get_secret_value()
    revoke_lease(broker, lease.role, keyspace="shop")

Every lease is recorded in the table ``<keyspace>.cassflow_leases`` (role, identity, created,
expires, grants; never the password), written *before* the role is created so that a broker
that dies half-way leaves a record :func:`reap_leases` finds once it expires. Only roles that
have a record are ever dropped, so a mistyped role name cannot drop a person's role.

All three operations are idempotent and safe to run concurrently: the record is inserted
with ``IF NOT EXISTS`` (two brokers never share a name), roles are dropped with ``DROP ROLE
IF EXISTS``, records deleted after their role. A dropped role cannot log in again; sessions
already open keep running until they disconnect (as with any Cassandra role).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cassandra import InvalidRequest
from pydantic import SecretStr

from cassflow.access._grants import Grant
from cassflow.access._roles_plan import LEASES_TABLE, CqlSession
from cassflow.cql import CreateRole, DropRole, RoleOptions
from cassflow.cql._quote import ident, string
from cassflow.errors import CassflowError

#: Longest role name a lease gets (short enough for any tool that shows role names).
MAX_ROLE_LENGTH = 48
_SUFFIX_BYTES = 6  # 12 hex digits: 2^48 names per identity
_PREFIX = "cf_"
#: Replication of the lease keyspace when the broker has to create it.
DEFAULT_REPLICATION: Mapping[str, str | int] = {
    "class": "SimpleStrategy",
    "replication_factor": 1,
}


class LeaseError(CassflowError):
    """A lease could not be issued, revoked or reaped; the message never holds a password."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A role issued for one task: log in as :attr:`role` with :attr:`password` until
    :attr:`expires_at` (UTC)."""

    role: str
    password: SecretStr = field(repr=False)
    expires_at: datetime
    identity: str
    created_at: datetime
    grants: tuple[Grant, ...]


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A row of the lease table (no password: it is never stored)."""

    role: str
    identity: str
    created_at: datetime
    expires_at: datetime
    grants: tuple[str, ...]


def lease_role_name(task_identity: str) -> str:
    """A fresh role name for a task: ``cf_<identity, as an identifier>_<12 hex digits>``.

    The name is a valid unquoted CQL identifier (lower-case letters, digits, ``_``) of at
    most :data:`MAX_ROLE_LENGTH` characters, so it reads the same in every tool.
    """
    suffix = secrets.token_hex(_SUFFIX_BYTES)
    slug = re.sub(r"[^a-z0-9]+", "_", task_identity.lower()).strip("_") or "task"
    room = MAX_ROLE_LENGTH - len(_PREFIX) - len(suffix) - 1
    slug = slug[:room].rstrip("_")
    return f"{_PREFIX}{slug}_{suffix}"


def _table(keyspace: str) -> str:
    return f"{ident(keyspace)}.{LEASES_TABLE}"


def ensure_lease_table(
    session: CqlSession,
    keyspace: str,
    replication: Mapping[str, str | int] = DEFAULT_REPLICATION,
) -> None:
    """Create the lease keyspace and table if missing (``IF NOT EXISTS``). The driver's schema
    metadata is asked first, so that a broker without CREATE rights can use existing ones."""
    metadata = getattr(getattr(session, "cluster", None), "metadata", None)
    ks_meta = metadata.keyspaces.get(keyspace) if metadata is not None else None
    if ks_meta is None:
        options = ", ".join(
            f"{string(k)}: {v if isinstance(v, int) else string(str(v))}"
            for k, v in replication.items()
        )
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {ident(keyspace)} WITH replication = {{{options}}}"
        )
    if ks_meta is None or LEASES_TABLE not in ks_meta.tables:
        session.execute(
            f"CREATE TABLE IF NOT EXISTS {_table(keyspace)} (role text PRIMARY KEY, "
            "identity text, created timestamp, expires timestamp, grants list<text>)"
        )


def _now(now: datetime | None) -> datetime:
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise LeaseError("now must be a timezone-aware datetime")
    # Cassandra keeps milliseconds; round the same way so the record reads back equal.
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def _scrub(text: str, password: str) -> str:
    return text.replace(password, "**********") if password else text


def issue_lease(
    session: CqlSession,
    *,
    task_identity: str,
    grants: Sequence[Grant],
    ttl_seconds: float,
    keyspace: str,
    now: datetime | None = None,
    replication: Mapping[str, str | int] = DEFAULT_REPLICATION,
) -> Lease:
    """Create a LOGIN role for one task with a random password and exactly ``grants``,
    recorded in ``<keyspace>.cassflow_leases`` until ``ttl_seconds`` from now."""
    if ttl_seconds < 0:
        raise LeaseError(f"ttl_seconds must be 0 or more, got {ttl_seconds}")
    if not task_identity.strip():
        raise LeaseError("a lease needs a task identity (pipeline, activity, run)")
    ensure_lease_table(session, keyspace, replication)
    created = _now(now)
    expires = created + timedelta(seconds=ttl_seconds)
    expires = expires.replace(microsecond=expires.microsecond // 1000 * 1000)
    labels = [str(g) for g in grants]
    for _attempt in range(3):
        role = lease_role_name(task_identity)
        inserted = session.execute(
            f"INSERT INTO {_table(keyspace)} (role, identity, created, expires, grants) "
            "VALUES (%s, %s, %s, %s, %s) IF NOT EXISTS",
            (role, task_identity, created, expires, labels),
        )
        if inserted.was_applied:
            break
    else:  # three random names taken: something other than chance is going on
        raise LeaseError(f"{_table(keyspace)}: could not record a lease with a fresh role name")
    password = secrets.token_urlsafe(32)
    create = CreateRole(role=role, options=RoleOptions(password=password, login=True))
    try:
        session.execute(create.to_cql())
    except InvalidRequest as exc:
        # The server refused (the name is taken by a role that is not ours): drop the record.
        _delete_record(session, keyspace, role)
        raise LeaseError(
            f"lease {role}: CREATE ROLE refused: {_scrub(str(exc), password)}"
        ) from None
    except Exception as exc:
        # Timed out or lost: the role may exist. The record stays for reap to drop it.
        raise LeaseError(
            f"lease {role}: CREATE ROLE failed ({type(exc).__name__}: "
            f"{_scrub(str(exc), password)}); the lease record stays, so that "
            "'cassflow creds reap' drops the role if it was created"
        ) from None
    for grant in grants:
        statement = grant.to_cql(role)
        try:
            session.execute(statement)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {_scrub(str(exc), password)}"
            try:
                _drop(session, keyspace, role)
            except Exception as cleanup:
                problem += f" (and dropping the role failed: {type(cleanup).__name__}: {cleanup};"
                problem += " 'cassflow creds reap' drops it once the lease expires)"
            raise LeaseError(f"lease {role}: {statement}: {problem}") from None
    return Lease(
        role=role,
        password=SecretStr(password),
        expires_at=expires,
        identity=task_identity,
        created_at=created,
        grants=tuple(grants),
    )


def _delete_record(session: CqlSession, keyspace: str, role: str) -> None:
    session.execute(f"DELETE FROM {_table(keyspace)} WHERE role = %s", (role,))


def _drop(session: CqlSession, keyspace: str, role: str) -> None:
    # The role first, then its record: a crash in between leaves a record to reap, never a
    # role nobody knows about.
    session.execute(DropRole(role=role, if_exists=True).to_cql())
    _delete_record(session, keyspace, role)


def _record(row: Any) -> LeaseRecord:
    return LeaseRecord(
        role=row.role,
        identity=row.identity or "",
        created_at=_utc(row.created),
        expires_at=_utc(row.expires),
        grants=tuple(row.grants or ()),
    )


def _utc(value: datetime | None) -> datetime:
    if value is None:  # a record written half-way: treat it as expired long ago
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def list_leases(session: CqlSession, *, keyspace: str) -> list[LeaseRecord]:
    """Every recorded lease, by role name ([] when the lease table does not exist)."""
    try:
        rows = session.execute(
            f"SELECT role, identity, created, expires, grants FROM {_table(keyspace)}"
        )
    except InvalidRequest as exc:
        if _missing_table(exc):
            return []
        raise
    return sorted((_record(row) for row in rows), key=lambda r: r.role)


def _missing_table(exc: InvalidRequest) -> bool:
    text = str(exc).lower()
    return "unconfigured table" in text or "does not exist" in text


def revoke_lease(session: CqlSession, role: str, *, keyspace: str) -> bool:
    """Drop a lease's role and forget the lease. False when there is no such lease (revoked
    already, or not a lease: only recorded roles are dropped)."""
    try:
        row = session.execute(f"SELECT role FROM {_table(keyspace)} WHERE role = %s", (role,)).one()
    except InvalidRequest as exc:
        if _missing_table(exc):
            return False
        raise
    if row is None:
        return False
    _drop(session, keyspace, role)
    return True


def reap_leases(session: CqlSession, *, keyspace: str, now: datetime | None = None) -> list[str]:
    """Drop every lease whose time is up (``expires <= now``); returns their role names.

    A lease that cannot be dropped (the broker lacks DROP on a role another broker issued)
    does not stop the others: all are tried, then :class:`LeaseError` names the failures
    and the roles that were dropped.
    """
    moment = _now(now)
    reaped: list[str] = []
    failed: list[str] = []
    for record in list_leases(session, keyspace=keyspace):
        if record.expires_at > moment:
            continue
        try:
            _drop(session, keyspace, record.role)
        except Exception as exc:
            failed.append(f"{record.role} ({type(exc).__name__}: {exc})")
        else:
            reaped.append(record.role)
    if failed:
        raise LeaseError(
            f"could not reap {len(failed)} expired lease(s): {'; '.join(failed)}"
            f" (reaped: {', '.join(reaped) or 'none'})"
        )
    return reaped
