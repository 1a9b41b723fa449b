"""Least-privilege roles for a pipeline: plan them, apply them, compare them with a cluster.

:func:`plan_roles` gives one :class:`RolePlan` per login role the pipeline's connections use
(``auth.username``, or ``<pipeline>_<connection>`` when a connection names none): a
``CREATE ROLE IF NOT EXISTS ... WITH LOGIN = true`` and one ``GRANT`` per permission the
connection needs (:mod:`cassflow.access._pipeline_grants`). A connection with
``auth: {dynamic: true}`` logs in as a broker that issues per-task roles
(:mod:`cassflow.access._leases_cql`); its plan grants what a broker needs for that: CREATE
on ALL ROLES, each permission it hands out together with AUTHORIZE on the same resource (as
Cassandra requires of a grantor), and its lease table.

:func:`apply_plan` runs the statements (all idempotent: the role is created only if missing,
and Cassandra's GRANT of a permission held already changes nothing). :func:`diff_plan` lists,
for each planned role, what the cluster grants it directly beyond the plan and what the plan
needs that is missing (``LIST ALL PERMISSIONS OF role NORECURSIVE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cassandra import InvalidRequest

from cassflow.access._grants import Grant, keyspace_grant, table_grant, unique
from cassflow.access._pipeline_grants import pipeline_grants
from cassflow.cql import AllRolesResource, CreateRole, Permission, RoleOptions
from cassflow.cql._quote import ident
from cassflow.errors import CassflowError

#: The table a broker records its leases in (in the keyspace it is bound to).
LEASES_TABLE = "cassflow_leases"


class CqlSession(Protocol):
    """What these functions need of a session: the driver's ``Session.execute``."""

    def execute(self, query: str, parameters: Any = None) -> Any:
        """Run one statement; return its rows."""


class RolesError(CassflowError):
    """A plan cannot be applied or compared; the message names the role and statement."""


@dataclass(frozen=True, slots=True)
class RolePlan:
    """The role one or more connections log in as, and what it must be granted."""

    role: str
    connections: tuple[str, ...]
    grants: tuple[Grant, ...]

    def statements(self) -> list[str]:
        """The CQL that creates the role and grants it exactly :attr:`grants`, in order."""
        create = CreateRole(role=self.role, options=RoleOptions(login=True), if_not_exists=True)
        return [create.to_cql(), *(grant.to_cql(self.role) for grant in self.grants)]


def role_name(pipeline: Mapping[str, Any], connection: str) -> str:
    """The role a connection logs in as: its ``auth.username``, else
    ``<pipeline>_<connection>`` (lower case, ``-`` as ``_``)."""
    spec = (pipeline.get("connections") or {}).get(connection) or {}
    username = (spec.get("auth") or {}).get("username")
    if username:
        return str(username)
    return f"{pipeline.get('name', 'cassflow')}_{connection}".lower().replace("-", "_")


def broker_grants(grants: Iterable[Grant], keyspace: str) -> list[Grant]:
    """What a broker bound to ``keyspace`` needs to issue leases holding ``grants``."""
    needed = [Grant(Permission.CREATE, AllRolesResource())]
    for grant in grants:
        needed += [grant, Grant(Permission.AUTHORIZE, grant.resource)]
    needed += [
        keyspace_grant(Permission.CREATE, keyspace),
        table_grant(Permission.SELECT, keyspace, LEASES_TABLE),
        table_grant(Permission.MODIFY, keyspace, LEASES_TABLE),
    ]
    return unique(needed)


def plan_roles(
    pipeline: Mapping[str, Any], *, base_dir: str | Path | None = None
) -> list[RolePlan]:
    """One plan per role, in the order the pipeline's connections are declared; connections
    that need nothing get no plan. ``pipeline`` is ``PipelineSpec.model_dump(by_alias=True)``
    or the same shape in plain data."""
    needs = pipeline_grants(pipeline, base_dir=base_dir)
    by_role: dict[str, tuple[list[str], list[Grant]]] = {}
    for connection, spec in (pipeline.get("connections") or {}).items():
        grants = needs.get(connection)
        if not grants:
            continue
        if (spec.get("auth") or {}).get("dynamic"):
            grants = broker_grants(grants, str(spec["keyspace"]))
        names, held = by_role.setdefault(role_name(pipeline, connection), ([], []))
        names.append(connection)
        held.extend(grants)
    return [
        RolePlan(role, tuple(names), tuple(unique(grants)))
        for role, (names, grants) in by_role.items()
    ]


def apply_plan(session: CqlSession, plans: Sequence[RolePlan]) -> list[str]:
    """Run every plan's statements (idempotent); returns the statements run, in order."""
    done: list[str] = []
    for plan in plans:
        for statement in plan.statements():
            try:
                session.execute(statement)
            except Exception as exc:
                raise RolesError(
                    f"role {plan.role}: {statement}: {type(exc).__name__}: {exc}"
                ) from exc
            done.append(statement)
    return done


@dataclass(frozen=True, slots=True)
class RoleDiff:
    """How a live role differs from its plan. ``extra`` lists (resource, permission) pairs
    as LIST PERMISSIONS shows them (``('<table ks.t>', 'MODIFY')``)."""

    role: str
    exists: bool
    extra: tuple[tuple[str, str], ...]
    missing: tuple[Grant, ...]

    @property
    def differs(self) -> bool:
        """Whether the cluster and the plan disagree."""
        return not self.exists or bool(self.extra) or bool(self.missing)

    def lines(self) -> list[str]:
        """One line per difference, for people."""
        if not self.exists:
            return [f"{self.role}: role does not exist (plan needs {len(self.missing)} grants)"]
        lines = [f"{self.role}: extra {perm} ON {resource}" for resource, perm in self.extra]
        lines += [f"{self.role}: missing {grant}" for grant in self.missing]
        return lines


def live_permissions(session: CqlSession, role: str) -> set[tuple[str, str]] | None:
    """(resource, permission) granted directly to ``role``; None if the role does not exist."""
    try:
        rows = session.execute(f"LIST ALL PERMISSIONS OF {ident(role)} NORECURSIVE")
    except InvalidRequest as exc:
        if "doesn't exist" in str(exc):  # Cassandra's words for an unknown role
            return None
        raise
    held: set[tuple[str, str]] = set()
    for row in rows:
        # Cassandra answers (role, username, resource, permission); only direct grants count.
        if row.role == role:
            held.add((str(row.resource), str(row.permission)))
    return held


def diff_plan(session: CqlSession, plans: Sequence[RolePlan]) -> list[RoleDiff]:
    """Compare each planned role with what the cluster grants it directly."""
    diffs = []
    for plan in plans:
        try:
            held = live_permissions(session, plan.role)
        except Exception as exc:
            raise RolesError(
                f"role {plan.role}: cannot list its permissions: {type(exc).__name__}: {exc}"
            ) from exc
        if held is None:
            diffs.append(RoleDiff(plan.role, False, (), plan.grants))
            continue
        planned = {grant.listed for grant in plan.grants}
        diffs.append(
            RoleDiff(
                plan.role,
                True,
                tuple(sorted(held - planned)),
                tuple(g for g in plan.grants if g.listed not in held),
            )
        )
    return diffs
