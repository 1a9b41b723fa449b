"""``copy_task_group``: one copy planned into slices, the slices run as mapped task instances
over the Airflow workers, then finalised.

::

    with DAG("load_orders", schedule=None) as dag:
        load = copy_task_group(
            "orders",
            source="/data/orders/*.csv",
            target="cassandra://shop/shop.orders",
            checkpoints_conn_id="shop",
        )
        create_table >> load >> notify

The group holds ``plan >> slice (mapped) >> finalize``:

* ``plan`` prepares the target (schema drift check, or its ALTER), cuts the source into
  slices, records the plan in the shared checkpoint table and returns the ids of the slices
  not done yet (a rerun of the DAG run returns only the unfinished ones);
* ``slice``, one mapped instance per slice id, runs its slice with the engine's retries,
  quarantine and checkpoint, its sessions naming the task instance (DAG, task, run, try and
  map index); a failed slice fails its task, so Airflow retries just that slice
  (``slice_retries``), resuming from the shared checkpoints, on whichever worker;
* ``finalize`` reads the checkpoint table and reports the whole copy (it adds up exactly,
  and fails unless every slice is done and the error budget held), verifies when asked,
  pushes the totals to a Pushgateway when given one, saves the report under the state
  directory and returns it (XCom).

Relative file paths are relative to the DAG file's folder, as for
:class:`~cassflow.airflow.CassandraCopyOperator`. The checkpoint table must be one every
worker reaches, hence ``checkpoints_conn_id`` is
required. Quarantine files are written where the slice ran (``state_dir``); give a shared
``state_dir`` to find them all in one place (``verify=True`` needs that).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from cassflow.access._identity import use_identity
from cassflow.airflow._compat import AirflowException, BaseOperator, Context, TaskGroup
from cassflow.airflow._identity import checkpoint_run_id, identity_from_context
from cassflow.airflow._sliced_copy import (
    SlicedCopy,
    SlicedCopySettings,
    copy_settings,
)
from cassflow.pipeline._spec import CheckpointsSpec

log = logging.getLogger(__name__)

#: Airflow's wait before a failed slice's next try (the engine has already retried transient
#: errors inside the try, with backoff): long enough for a node to come back.
SLICE_RETRY_DELAY = timedelta(seconds=30)
#: The XCom key under which the plan task leaves its start time (epoch seconds).
STARTED_KEY = "cassflow_started"


class _SlicedCopyTask(BaseOperator):
    """What the three tasks share: the copy's settings and how to open it in a task."""

    template_fields: Sequence[str] = ("source", "target")

    def __init__(
        self,
        *,
        group_id: str,
        source: str | Mapping[str, Any],
        target: str | Mapping[str, Any],
        checkpoints_conn_id: str,
        cassflow_conn_id: str = "cassflow_default",
        checkpoints_table: str = "cassflow_checkpoints",
        copy: Mapping[str, Any] | None = None,
        state_dir: str | None = None,
        pushgateway: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.source = source
        self.target = target
        self.checkpoints_conn_id = checkpoints_conn_id
        self.cassflow_conn_id = cassflow_conn_id
        self.checkpoints_table = checkpoints_table
        self.copy = dict(copy or {})
        self.state_dir = state_dir
        self.pushgateway = pushgateway

    def sliced_copy(self, context: Context) -> SlicedCopy:
        """The copy as this task instance sees it (its identity on every session)."""
        ti = context["ti"]
        settings = SlicedCopySettings(
            source=self.source,
            target=self.target,
            checkpoints_conn_id=self.checkpoints_conn_id,
            cassflow_conn_id=self.cassflow_conn_id,
            checkpoints_table=self.checkpoints_table,
            copy=self.copy,
            state_dir=self.state_dir,
            pushgateway=self.pushgateway,
        )
        run_id = checkpoint_run_id(ti.dag_id, self.group_id, ti.run_id)
        return SlicedCopy(
            settings,
            dag_id=ti.dag_id,
            group_id=self.group_id,
            dag_run_id=ti.run_id,
            identity=identity_from_context(context, run_id),
            base_dir=self.dag.folder,
        )


class SlicedCopyPlanOperator(_SlicedCopyTask):
    """Prepares the target and records the plan; returns the slice ids not done yet."""

    def execute(self, context: Context) -> list[str]:
        """Plan (or check a rerun's plan); the slice ids go to XCom for the mapped tasks."""
        context["ti"].xcom_push(key=STARTED_KEY, value=time.time())
        with self.sliced_copy(context) as copy, use_identity(copy.identity):
            return copy.plan()


class SlicedCopySliceOperator(_SlicedCopyTask):
    """Runs one slice of the plan (a mapped instance per slice id)."""

    def __init__(self, *, slice_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slice_id = slice_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the slice; a failure fails the task, so that Airflow retries the slice."""
        with self.sliced_copy(context) as copy, use_identity(copy.identity):
            log.info("slice %s of run %s as %s", self.slice_id, copy.run_id, copy.identity)
            outcome = copy.run_slice(self.slice_id)
        log.info("%s", outcome.report.summary())
        if outcome.status == "failed":
            raise AirflowException(f"slice {self.slice_id}: {outcome.report.failure}")
        return outcome.to_json()


class SlicedCopyFinalizeOperator(_SlicedCopyTask):
    """Reports the whole copy from the checkpoint table; fails unless it is complete."""

    def __init__(self, *, plan_task_id: str, slice_task_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id
        self.slice_task_id = slice_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Build, check, save and return the run report (with each slice task's outcome)."""
        ti = context["ti"]
        todo = ti.xcom_pull(task_ids=self.plan_task_id) or []
        started = ti.xcom_pull(task_ids=self.plan_task_id, key=STARTED_KEY)
        tasks: list[dict[str, Any]] = []
        if todo:
            pulled = ti.xcom_pull(task_ids=[self.slice_task_id], map_indexes=range(len(todo)))
            tasks = [t for t in pulled or () if isinstance(t, dict)]
        with self.sliced_copy(context) as copy, use_identity(copy.identity):
            report = copy.finalize(tasks, float(started) if started is not None else None)
            data = {**report.to_json(), "tasks": tasks}
            path = copy.save(data)
            log.info("%s\nreport: %s", report.summary(), path)
            if self.pushgateway:
                copy.push_metrics(report, tasks, self.pushgateway)
                log.info("metrics pushed to %s", self.pushgateway)
        if not report.ok:
            raise AirflowException(f"copy {self.group_id}: {report.failure}")
        return data


def copy_task_group(
    group_id: str,
    *,
    source: str | Mapping[str, Any],
    target: str | Mapping[str, Any],
    cassflow_conn_id: str = "cassflow_default",
    checkpoints_conn_id: str,
    checkpoints_table: str = "cassflow_checkpoints",
    splits: int | None = None,
    columns: Mapping[str, str] | None = None,
    max_errors: int | str = 100,
    schema_drift: str = "fail",
    verify: bool = False,
    copy_options: Mapping[str, Any] | None = None,
    state_dir: str | None = None,
    slice_retries: int = 2,
    pushgateway: str | None = None,
    **task_kwargs: Any,
) -> TaskGroup:
    """A task group that copies ``source`` to ``target`` in slices spread over the workers.

    Call it inside a ``with DAG(...)`` block; the group can stand in ``>>`` chains.

    :param group_id: the group's id; with the DAG run it names the checkpoint run.
    :param source: what to read, as :class:`~cassflow.airflow.CassandraCopyOperator` takes it
        (a path or glob, ``cassandra://<conn_id>/<keyspace>.<table>``, a SQLAlchemy URL, or a
        pipeline dataset dict).
    :param target: where to write, likewise.
    :param cassflow_conn_id: the connection of table datasets that name none
        (``cassandra:///<table>``, or a dict without ``connection``).
    :param checkpoints_conn_id: the connection whose keyspace holds the checkpoint table that
        every worker shares (required: mapped instances run on different workers).
    :param checkpoints_table: that table (created by the plan task when missing).
    :param splits: how many slices to cut a splittable source into (default: the source's).
    :param columns: target column -> source field (default: every field as it is named).
    :param max_errors: bad records allowed over the whole copy (a count, ``"5%"``, or -1).
    :param schema_drift: source fields the target lacks: ``fail``, ``ignore_extra`` or
        ``add_columns``.
    :param verify: after the copy, read both sides back and compare counts and key checksums.
    :param copy_options: any other setting of a pipeline file's copy activity
        (``slice_attempts``, ``concurrency``, ``max_rows_per_second``, ...).
    :param state_dir: where quarantine files and reports go (default ``$CASSFLOW_STATE_DIR``,
        else ``$AIRFLOW_HOME/cassflow``).
    :param slice_retries: Airflow's retries of a failed slice task.
    :param pushgateway: push the copy's totals to this Pushgateway (``host:port``) at the end.
    :param task_kwargs: passed to every task (``pool``, ``queue``, ``retry_delay``, ...);
        ``retries`` applies to the plan and finalize tasks.
    """
    if not isinstance(checkpoints_conn_id, str) or not checkpoints_conn_id:
        raise ValueError(
            "checkpoints_conn_id: expected the id of an Airflow connection whose keyspace "
            "holds the shared checkpoint table"
        )
    if isinstance(slice_retries, bool) or not isinstance(slice_retries, int) or slice_retries < 0:
        raise ValueError(f"slice_retries: expected a whole number >= 0, not {slice_retries!r}")
    if "task_id" in task_kwargs:
        raise ValueError("task_id: the group names its tasks plan, slice and finalize")
    try:
        CheckpointsSpec(connection="checkpoints", table=checkpoints_table)
    except ValidationError:
        raise ValueError(
            f"checkpoints_table: expected a table name (letters, digits, _), "
            f"not {checkpoints_table!r}"
        ) from None
    settings = copy_settings(
        splits=splits,
        columns=columns,
        max_errors=max_errors,
        schema_drift=schema_drift,
        verify=verify,
        copy_options=copy_options,
    )
    with TaskGroup(group_id) as group:
        common: dict[str, Any] = {
            "group_id": group.group_id,
            "source": source,
            "target": target,
            "checkpoints_conn_id": checkpoints_conn_id,
            "cassflow_conn_id": cassflow_conn_id,
            "checkpoints_table": checkpoints_table,
            "copy": settings,
            "state_dir": state_dir,
            "pushgateway": pushgateway,
        }
        plan = SlicedCopyPlanOperator(task_id="plan", **common, **task_kwargs)
        slice_kwargs = {"retry_delay": SLICE_RETRY_DELAY, **task_kwargs, "retries": slice_retries}
        slices = SlicedCopySliceOperator.partial(task_id="slice", **common, **slice_kwargs).expand(
            slice_id=plan.output
        )
        finalize = SlicedCopyFinalizeOperator(
            task_id="finalize",
            plan_task_id=plan.task_id,
            slice_task_id=slices.task_id,
            **common,
            **{"trigger_rule": "none_failed", **task_kwargs},
        )
        plan >> slices >> finalize
    return group
