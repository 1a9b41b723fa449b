"""The identity of the Airflow task that runs: which DAG, task, run, try and map index.

Every session a cassflow operator, sensor or hook opens carries it (as the client's
application name and version, which ``system_views.clients`` shows) and every checkpoint run
id of a copy is derived from it, so that Airflow's retries of one task instance resume the
same checkpoints while another run, task or mapped index never shares them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from cassflow.access._identity import TaskIdentity

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def identity_from_context(context: Mapping[str, Any], run_id: str | None = None) -> TaskIdentity:
    """The identity of the task instance of an Airflow ``context``; ``run_id`` is cassflow's
    (default: the DAG run's id)."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    return TaskIdentity(
        pipeline=ti.dag_id,
        activity=ti.task_id,
        run_id=run_id if run_id is not None else ti.run_id,
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        try_number=getattr(ti, "try_number", None),
        map_index=map_index if map_index is not None and map_index >= 0 else None,
    )


def checkpoint_run_id(dag_id: str, task_id: str, run_id: str, map_index: int | None = -1) -> str:
    """The checkpoint run id of one task instance: the same for every try of it (so a retry
    resumes), different for any other DAG run, task or map index. Readable in front, a digest
    of the exact four values behind (names are shortened and cleaned)."""
    index = -1 if map_index is None else map_index
    exact = "\x1f".join((dag_id, task_id, run_id, str(index)))
    digest = hashlib.sha256(exact.encode()).hexdigest()[:12]
    readable = ".".join(_UNSAFE.sub("_", part)[:40] for part in (dag_id, task_id))
    suffix = f".{index}" if index >= 0 else ""
    return f"af.{readable}{suffix}.{digest}"


def context_run_id(context: Mapping[str, Any]) -> str:
    """:func:`checkpoint_run_id` of the task instance of ``context``."""
    ti = context["ti"]
    return checkpoint_run_id(ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1))
