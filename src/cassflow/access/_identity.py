"""Who is calling: the identity of the task behind every session, log line and metric.

A :class:`TaskIdentity` names a pipeline's activity and run, or, inside Airflow, the DAG, task,
run, try and map index (read from the ``AIRFLOW_CTX_*`` variables Airflow exports to a task).
Sessions carry it as the client's application name and version (Cassandra shows them in
``system_views.clients.client_options``); log records get it as ``record.identity`` through
:class:`IdentityFilter`; metrics take :meth:`TaskIdentity.labels`.

:func:`use_identity` makes an identity the current one for a block (the pipeline runner does
so per activity); :func:`current_identity` is what log records are stamped with.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

#: The variables Airflow exports to a task's process (``AIRFLOW_CTX_MAP_INDEX`` is not one of
#: Airflow's own: the cassflow operator sets it for mapped tasks).
AIRFLOW_DAG_ID = "AIRFLOW_CTX_DAG_ID"
AIRFLOW_TASK_ID = "AIRFLOW_CTX_TASK_ID"
AIRFLOW_RUN_ID = "AIRFLOW_CTX_DAG_RUN_ID"
AIRFLOW_TRY_NUMBER = "AIRFLOW_CTX_TRY_NUMBER"
AIRFLOW_MAP_INDEX = "AIRFLOW_CTX_MAP_INDEX"

#: The label names of :meth:`TaskIdentity.labels`, always all of them (Prometheus needs a
#: fixed label set per metric).
LABEL_NAMES = ("pipeline", "activity", "run_id", "dag_id", "task_id", "try_number", "map_index")


@dataclass(frozen=True, slots=True)
class TaskIdentity:
    """The pipeline, activity and run behind a session (and the Airflow task, if any)."""

    pipeline: str
    activity: str | None = None
    run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    map_index: int | None = None

    @classmethod
    def from_environment(
        cls,
        pipeline: str,
        activity: str | None = None,
        run_id: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> TaskIdentity:
        """The identity of ``pipeline``/``activity``/``run_id``, with the Airflow task's when
        the ``AIRFLOW_CTX_*`` variables say the process runs one (the DAG run's id is the run
        id when none is given)."""
        env = os.environ if environ is None else environ
        dag_id, task_id = env.get(AIRFLOW_DAG_ID) or None, env.get(AIRFLOW_TASK_ID) or None
        if dag_id is None or task_id is None:
            return cls(pipeline, activity, run_id)
        return cls(
            pipeline,
            activity,
            run_id if run_id is not None else env.get(AIRFLOW_RUN_ID) or None,
            dag_id=dag_id,
            task_id=task_id,
            try_number=_integer(env.get(AIRFLOW_TRY_NUMBER)),
            map_index=_integer(env.get(AIRFLOW_MAP_INDEX)),
        )

    def for_activity(self, activity: str) -> TaskIdentity:
        """The same identity for another activity of the pipeline."""
        return TaskIdentity(
            self.pipeline,
            activity,
            self.run_id,
            dag_id=self.dag_id,
            task_id=self.task_id,
            try_number=self.try_number,
            map_index=self.map_index,
        )

    @property
    def in_airflow(self) -> bool:
        """Whether this is an Airflow task's identity."""
        return self.dag_id is not None and self.task_id is not None

    @property
    def application_name(self) -> str:
        """``airflow:<dag>/<task>`` inside Airflow, else ``cassflow:<pipeline>[/<activity>]``."""
        if self.in_airflow:
            return f"airflow:{self.dag_id}/{self.task_id}"
        return f"cassflow:{self.pipeline}" + (f"/{self.activity}" if self.activity else "")

    @property
    def application_version(self) -> str:
        """``run=<run>[;try=<n>][;map=<i>]`` (``map`` only for mapped tasks)."""
        parts = [f"run={self.run_id or '-'}"]
        if self.try_number is not None:
            parts.append(f"try={self.try_number}")
        if self.map_index is not None and self.map_index >= 0:
            parts.append(f"map={self.map_index}")
        return ";".join(parts)

    def labels(self) -> dict[str, str]:
        """Every name of :data:`LABEL_NAMES` with its value ("" when unknown)."""
        values = (
            self.pipeline,
            self.activity,
            self.run_id,
            self.dag_id,
            self.task_id,
            self.try_number,
            self.map_index,
        )
        return {
            name: "" if v is None else str(v) for name, v in zip(LABEL_NAMES, values, strict=True)
        }

    def __str__(self) -> str:
        return f"{self.application_name} {self.application_version}"


def _integer(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        return None  # an identity is informative: a malformed number is left out, not fatal


_CURRENT: contextvars.ContextVar[TaskIdentity | None] = contextvars.ContextVar(
    "cassflow_identity", default=None
)
# Threads a task starts (the copy engine's workers) do not inherit context variables: they
# fall back to the identity the process set last (one slot, so no ``global`` statement).
_process_identity: list[TaskIdentity | None] = [None]


def current_identity() -> TaskIdentity | None:
    """The identity set by the innermost :func:`use_identity` (of this context, else the
    process's latest), or None."""
    return _CURRENT.get() or _process_identity[0]


def set_process_identity(identity: TaskIdentity) -> None:
    """Make ``identity`` this whole process's (a worker process that works for one task)."""
    _process_identity[0] = identity


@contextmanager
def use_identity(identity: TaskIdentity) -> Iterator[TaskIdentity]:
    """Make ``identity`` the current one within the block (log records carry it)."""
    token = _CURRENT.set(identity)
    previous, _process_identity[0] = _process_identity[0], identity
    try:
        yield identity
    finally:
        _CURRENT.reset(token)
        _process_identity[0] = previous


class IdentityFilter(logging.Filter):
    """Stamps every record it sees with ``record.identity`` (the current identity as text,
    ``-`` when there is none), so a format can say ``%(identity)s``; filters nothing out.

    Add it to the handlers that write cassflow's log (a filter on a logger would see only that
    logger's own records, not its children's): :func:`install_identity_filter` does so.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``record.identity``; keep the record."""
        identity = current_identity()
        record.identity = "-" if identity is None else str(identity)
        return True


def install_identity_filter(logger: logging.Logger | None = None) -> IdentityFilter:
    """Add one :class:`IdentityFilter` to every handler of ``logger`` (default: the root
    logger, where ``logging.basicConfig`` puts its handler); adding it again changes nothing."""
    target = logger if logger is not None else logging.getLogger()
    found = next(
        (f for h in target.handlers for f in h.filters if isinstance(f, IdentityFilter)), None
    )
    stamp = found or IdentityFilter()
    for handler in target.handlers:
        if stamp not in handler.filters:
            handler.addFilter(stamp)
    return stamp
