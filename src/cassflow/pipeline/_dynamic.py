"""Dynamic per-task credentials in pipelines: ``auth: {dynamic: true}``.

A connection with ``dynamic: true`` holds a *broker's* credentials (a role that may create roles
and grant what the pipeline needs; ``cassflow roles plan`` prints them). Its activities do not
log in as the broker: when an activity first uses the connection, :class:`ActivityConnections`
issues a lease for that task (:func:`cassflow.access.issue_lease`): a LOGIN role with a random
password and exactly the grants this activity needs
(:func:`~cassflow.access._pipeline_grants.activity_grants`: SELECT on what it reads, MODIFY on
what it writes, the DDL its CQL runs), valid ``lease_ttl``. The activity's sessions log in as
that role; when the activity ends, however it ends, the role is dropped. A lease the run could
not revoke (the broker unreachable, the process killed) expires and ``cassflow creds reap``
drops it.

Cassflow's own bookkeeping (checkpoints in a Cassandra table) stays on the broker's session.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cassflow.access._grants import GrantsError
from cassflow.access._identity import current_identity
from cassflow.access._leases_cql import Lease, issue_lease, revoke_lease
from cassflow.access._pipeline_grants import activity_grants
from cassflow.copy._connect import CassandraConnection
from cassflow.copy._model import CopyError
from cassflow.pipeline._build import Connections
from cassflow.pipeline._spec import AuthSpec, ConnectionSpec, PipelineSpec, parse_duration

__all__ = ["ActivityConnections", "uses_dynamic_credentials"]

log = logging.getLogger(__name__)


def uses_dynamic_credentials(spec: PipelineSpec) -> bool:
    """Whether any connection of the pipeline issues leases."""
    return any(c.auth is not None and c.auth.dynamic for c in spec.connections.values())


class ActivityConnections(Connections):
    """The connections of one activity: the run's, except that a ``dynamic`` connection logs
    in with a lease of this activity's own; :meth:`close` revokes the leases."""

    def __init__(
        self, shared: Connections, pipeline: PipelineSpec, activity: str, base_dir: Path
    ) -> None:
        identity = current_identity() or shared.identity
        super().__init__(
            dict(shared.specs),
            state_dir=shared.state_dir,
            application_name=shared.application_name,
            identity=identity,
        )
        self._shared = shared
        self._pipeline = pipeline
        self._activity = activity
        self._base_dir = base_dir
        self._task = str(identity) if identity is not None else f"{pipeline.name}.{activity}"
        self._leases: dict[str, Lease] = {}

    def get(self, name: str) -> CassandraConnection:
        """The connection called ``name``: the run's, or a lease's for a dynamic one."""
        spec = self._shared.specs.get(name)
        if spec is None or spec.auth is None or not spec.auth.dynamic:
            return self._shared.get(name)
        if name not in self._leases:
            self.specs[name] = self._lease_spec(name, spec, spec.auth)
        return super().get(name)

    def _lease_spec(self, name: str, spec: ConnectionSpec, auth: AuthSpec) -> ConnectionSpec:
        try:
            grants = activity_grants(
                self._pipeline.model_dump(by_alias=True, mode="json"),
                self._activity,
                connection=name,
                base_dir=self._base_dir,
            )
        except GrantsError:
            # Nothing to grant (a wait reads system views, which every role may): a role that
            # can log in and no more.
            grants = []
        broker = self._shared.get(name)
        try:
            lease = issue_lease(
                broker.unguarded_session(),
                task_identity=self._task,
                grants=grants,
                ttl_seconds=parse_duration(auth.lease_ttl),
                keyspace=spec.keyspace,
            )
        except Exception as exc:
            raise CopyError(
                f"connection {name}: cannot issue credentials for activity {self._activity}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        self._leases[name] = lease
        log.info(
            "activity %s: connection %s logs in as role %s (lease until %s, %d grants)",
            self._activity,
            name,
            lease.role,
            lease.expires_at.isoformat(timespec="seconds"),
            len(grants),
        )
        lease_auth = AuthSpec(username=lease.role, password=lease.password)
        return spec.model_copy(update={"auth": lease_auth})

    def close(self) -> None:
        """Close the lease connections, then drop the leases' roles (with the broker)."""
        super().close()
        for name, lease in self._leases.items():
            spec = self._shared.specs[name]
            try:
                revoke_lease(
                    self._shared.get(name).unguarded_session(), lease.role, keyspace=spec.keyspace
                )
            except Exception as exc:  # the lease expires; `cassflow creds reap` drops it
                log.warning(
                    "activity %s: could not revoke role %s (%s: %s); it expires at %s and "
                    "`cassflow creds reap` drops it",
                    self._activity,
                    lease.role,
                    type(exc).__name__,
                    exc,
                    lease.expires_at.isoformat(timespec="seconds"),
                )
            else:
                log.info("activity %s: role %s dropped", self._activity, lease.role)
        self._leases.clear()
