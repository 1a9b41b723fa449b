"""Dynamic per-task credentials for tasks that use a hook (``CqlOperator``, the sensors).

A connection with ``"dynamic_credentials": true`` holds a broker's login. Copy tasks get their
lease from the pipeline runner (:mod:`cassflow.pipeline._dynamic`); a hook gets one here, the
same way: a LOGIN role issued for the task alone, with exactly the grants the statements it
will run need (:func:`~cassflow.access._pipeline_grants.activity_grants` of a one-activity
pipeline holding them; none: a role that can log in and read the system tables), living at
most the connection's ``lease_ttl``, dropped when the hook closes. A lease that could not be
dropped expires; ``cassflow creds reap`` drops it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cassflow.access._identity import TaskIdentity
from cassflow.airflow._datasets import pipeline_name
from cassflow.pipeline._build import Connections
from cassflow.pipeline._dynamic import ActivityConnections
from cassflow.pipeline._spec import PipelineSpec

#: What a lease without statements is issued for: logging in (system tables are readable).
_LOGIN_ONLY = "SELECT release_version FROM system.local"


def lease_connections(
    broker: Connections, name: str, identity: TaskIdentity, statements: Sequence[str]
) -> ActivityConnections:
    """Connections that log in to ``name`` as a lease of the task ``identity`` names, issued
    (by ``broker``'s connection) for ``statements``; closing them drops the lease's role."""
    activity = pipeline_name(identity.task_id or identity.activity or "task")
    pipeline = PipelineSpec.model_validate(
        {
            "name": pipeline_name(identity.pipeline),
            "connections": {name: broker.specs[name]},
            "activities": [
                {
                    "name": activity,
                    "cql": {"connection": name, "statements": list(statements) or [_LOGIN_ONLY]},
                }
            ],
        }
    )
    return ActivityConnections(broker, pipeline, activity, Path.cwd())
