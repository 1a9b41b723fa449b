"""One copy spread over Airflow task instances: plan it, run one slice, finalise it.

Theory of operation. The three tasks of :func:`~cassflow.airflow.copy_task_group` each open a
:class:`SlicedCopy` on the same settings: the same one-activity pipeline (the operator's
``source`` and ``target`` read from Airflow connections, as :mod:`cassflow.airflow._datasets`
reads them for :class:`~cassflow.airflow.CassandraCopyOperator`), the same checkpoint run id
(one per DAG, task group and DAG run, so that every mapped instance and every try of it works
on one recorded plan) and the same checkpoint store, a Cassandra table every worker reaches.

* :meth:`SlicedCopy.plan` prepares the sink once (the schema drift check, or the ALTER
  of ``schema_drift="add_columns"``), cuts the source into slices, records the plan and returns
  the slice ids not DONE yet: a first run's every slice, a rerun's unfinished ones.
* :meth:`SlicedCopy.run_slice` runs exactly one slice through
  :meth:`cassflow.copy.CopyRun.execute` (``only=``): the engine's in-slice retries of transient
  errors, its quarantine file, its checkpoint. The plan is made again and must be the one
  recorded (a source that changed since is refused, not half-copied); a slice already DONE is
  not read again.
* :meth:`SlicedCopy.finalize` builds the run's report from the store, over every slice: it
  adds up (read = written + quarantined + skipped), and is complete only when every slice is
  DONE; the error budget is judged over the whole copy (each slice's task could see only the
  slices done before it); verification and the Pushgateway follow.

Nothing here imports Airflow: the operators in :mod:`cassflow.airflow._slices` pass in the
task's identity and hand the results to XCom.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cassflow.access._identity import TaskIdentity
from cassflow.airflow._assets import dataset_uri
from cassflow.airflow._copy_settings import copy_settings as shared_copy_settings
from cassflow.airflow._datasets import (
    Datasets,
    copy_pipeline,
    pipeline_name,
    with_default_connection,
)
from cassflow.airflow._hook import default_state_dir, spec_reader
from cassflow.airflow._identity import checkpoint_run_id
from cassflow.copy._checkpoint import CheckpointError, SliceState, finished, generations
from cassflow.copy._checkpoint_cassandra import CassandraCheckpointStore
from cassflow.copy._model import CopyError
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._report import RunReport
from cassflow.copy._runner import CopyOptions, CopyRun
from cassflow.observe import CopyMetrics
from cassflow.pipeline._build import Connections, DatasetFactory
from cassflow.pipeline._dynamic import ActivityConnections, uses_dynamic_credentials
from cassflow.pipeline._run import copy_options, throttle_for
from cassflow.pipeline._spec import (
    CheckpointsSpec,
    PipelineSpec,
    TableDatasetSpec,
)
from cassflow.pipeline._verify import verify_report

log = logging.getLogger(__name__)


def copy_settings(
    *,
    splits: int | None,
    columns: Mapping[str, str] | None,
    max_errors: int | str,
    schema_drift: str,
    verify: bool,
    copy_options: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The copy activity's settings (a pipeline file's ``copy:`` block), checked now, so that
    a typo fails the DAG file's import with the setting's name instead of a task later."""
    one_slice = (
        "each mapped task runs one slice; spread the copy with splits and Airflow's "
        "parallelism and pools instead"
    )
    return shared_copy_settings(
        max_errors=max_errors,
        columns=columns,
        schema_drift=schema_drift,
        verify=verify,
        copy_options=copy_options,
        own={"splits": splits},
        refused={"workers": one_slice, "processes": one_slice},
    )


@dataclass(frozen=True, slots=True)
class SlicedCopySettings:
    """What the three tasks of a sliced copy share (no secrets: connections are ids)."""

    source: str | Mapping[str, Any]
    target: str | Mapping[str, Any]
    checkpoints_conn_id: str
    #: The Airflow connection of table datasets that name none.
    cassflow_conn_id: str = "cassflow_default"
    checkpoints_table: str = "cassflow_checkpoints"
    #: The copy activity's settings, from :func:`copy_settings`.
    copy: Mapping[str, Any] = field(default_factory=dict)
    state_dir: str | None = None
    pushgateway: str | None = None


@dataclass(frozen=True, slots=True)
class SliceOutcome:
    """What one slice's task did, for XCom (small, JSON-able, no secrets)."""

    slice_id: str
    #: done (this try moved it), already_done (an earlier run had), or failed.
    status: str
    identity: TaskIdentity
    report: RunReport
    #: Quarantined records of this slice by category (parse, convert, write).
    categories: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        counts = self.report.counts
        return {
            "slice_id": self.slice_id,
            "status": self.status,
            "identity": self.identity.labels(),
            "application_name": self.identity.application_name,
            "application_version": self.identity.application_version,
            "rows": {
                "read": counts.read,
                "written": counts.written,
                "quarantined": counts.quarantined,
                "skipped": counts.skipped,
            },
            "retries": self.report.retries,
            "errors": dict(sorted(self.report.errors.items())),
            "seconds": round(self.report.seconds, 3),
            "quarantine_files": list(self.report.quarantine_files),
            "quarantined_by_category": dict(sorted(self.categories.items())),
            "failure": self.report.failure,
        }


class SlicedCopy:
    """The copy behind one task of a sliced copy: its pipeline, connections and store.

    ``group_id`` names the copy within the DAG (the task group's id); ``dag_run_id`` is
    Airflow's; ``identity`` is the task's, which every session carries; relative file paths
    are relative to ``base_dir``. Use as a context manager: the connections close at the end.
    """

    def __init__(
        self,
        settings: SlicedCopySettings,
        *,
        dag_id: str,
        group_id: str,
        dag_run_id: str,
        identity: TaskIdentity,
        base_dir: str | os.PathLike[str] = ".",
    ) -> None:
        self.settings = settings
        #: What relative file paths are relative to (the DAG file's folder, in a task).
        self.base_dir = Path(base_dir)
        self.group_id = group_id
        self.identity = identity
        #: One checkpoint run per (DAG, group, DAG run): shared by every mapped instance.
        self.base_run_id = checkpoint_run_id(dag_id, group_id, dag_run_id)
        #: The generation of it this copy works on (see :meth:`store`): the base run id, or,
        #: after the group was cleared once it had finished, ``<base>.r2``, ``.r3``, ...
        self.run_id = self.base_run_id
        self.state_dir = (
            Path(settings.state_dir) if settings.state_dir is not None else default_state_dir()
        )
        self.activity = pipeline_name(group_id)
        self.spec = self._pipeline(dag_id)
        self._copy = self.spec.activities[0].copy_
        assert self._copy is not None  # copy_pipeline makes one copy activity
        self.connections = Connections(
            dict(self.spec.connections),
            state_dir=self.state_dir,
            application_name=identity.application_name,
            identity=identity,
        )

    # --- building ------------------------------------------------------------------------

    def _pipeline(self, dag_id: str) -> PipelineSpec:
        settings = self.settings
        datasets = Datasets(spec_reader(self.state_dir))
        source = datasets.dataset(self._defaulted(settings.source), "source")
        target = datasets.dataset(self._defaulted(settings.target), "target")
        # The store's connection, named as the datasets' connections are named.
        store = datasets.dataset(
            {"connection": settings.checkpoints_conn_id, "table": settings.checkpoints_table},
            "checkpoints_conn_id",
        )
        assert isinstance(store, TableDatasetSpec)
        if not datasets.connections[store.connection].hosts:
            raise CopyError(
                f"checkpoints_conn_id: connection {settings.checkpoints_conn_id!r} names no "
                "hosts (an embedded dev server, private to each task's process); the "
                "checkpoint table must be on a cluster that every worker reaches"
            )
        checkpoints = CheckpointsSpec(connection=store.connection, table=settings.checkpoints_table)
        return copy_pipeline(
            f"{dag_id}.{self.group_id}",
            self.activity,
            datasets,
            source,
            target,
            settings.copy,
            checkpoints=checkpoints,
        )

    def _defaulted(self, value: str | Mapping[str, Any]) -> str | Mapping[str, Any]:
        """A table dataset that names no connection (``cassandra:///t`` too) uses
        ``cassflow_conn_id``."""
        conn_id = self.settings.cassflow_conn_id
        if isinstance(value, str) and value.lower().startswith("cassandra:///"):
            return f"cassandra://{conn_id}/{value[len('cassandra:///') :]}"
        return with_default_connection(value, conn_id)

    @property
    def quarantine(self) -> Quarantine:
        """Where this run's bad records go (one file per slice)."""
        return Quarantine(self.state_dir / "quarantine", self.run_id)

    def store(self, *, create: bool = False) -> CassandraCheckpointStore:
        """The shared checkpoint table (created by the plan task only: concurrent CREATE
        TABLE of one table from several workers is unsafe before Cassandra 5.0); sets
        :attr:`run_id` to the latest generation of the base run id, or, for the plan task
        (``create``), to the next one when the latest has finished: a retry resumes, a group
        cleared after it succeeded copies again."""
        checkpoints = self.spec.checkpoints
        assert checkpoints is not None
        keyspace = self.spec.connections[checkpoints.connection].keyspace
        # cassflow's own bookkeeping, not the copy's data: not keyspace-guarded.
        session = self.connections.get(checkpoints.connection).unguarded_session()
        try:
            store = CassandraCheckpointStore(session, keyspace, checkpoints.table, create=create)
        except CheckpointError as exc:
            raise CopyError(f"checkpoints_conn_id: {exc}") from exc
        latest, again = generations(store, self.base_run_id)
        self.run_id = again if create and finished(store, latest) else latest
        return store

    def _run(self, store: CassandraCheckpointStore, only: Iterable[str]) -> RunReport:
        """``CopyRun.execute(only=...)`` with the activity's source, sink and options."""
        spec = self._copy
        assert spec is not None
        connections: Connections = self.connections
        if uses_dynamic_credentials(self.spec):
            # A dynamic connection logs in with a lease of this task's own, dropped after it.
            connections = ActivityConnections(connections, self.spec, self.activity, self.base_dir)
        factory = DatasetFactory(connections, self.base_dir)
        throttle = throttle_for(spec)
        try:
            source = factory.source(self.spec.datasets[spec.source])
            sink = factory.sink(self.spec.datasets[spec.target], throttle)
            try:
                return CopyRun(
                    source,
                    sink,
                    run_id=self.run_id,
                    store=store,
                    quarantine=self.quarantine,
                    activity=self.activity,
                    pipeline=self.spec.name,
                    options=copy_options(spec),
                    throttle=throttle,
                ).execute(only=list(only))
            finally:
                source.close()
                sink.close()
        finally:
            if isinstance(connections, ActivityConnections):
                connections.close()

    # --- the three tasks -----------------------------------------------------------------

    def plan(self) -> list[str]:
        """Prepare the sink, record the plan; the ids of the slices not DONE, in plan order."""
        store = self.store(create=True)
        try:
            report = self._run(store, ())
            if report.drift:
                log.info("%s: schema drift %s", self.activity, report.drift)
            records = store.slices(self.run_id)
        finally:
            store.close()
        todo = [r.slice_id for r in records if r.state is not SliceState.DONE]
        log.info(
            "run %s: %d slices, %d to do (%d done earlier)",
            self.run_id,
            len(records),
            len(todo),
            len(records) - len(todo),
        )
        return todo

    def run_slice(self, slice_id: str) -> SliceOutcome:
        """Run one slice (or find it done); the outcome says whether it failed."""
        store = self.store()
        try:
            report = self._run(store, (slice_id,))
        finally:
            store.close()
        if not report.ok:
            status = "failed"
        elif report.slices_run:
            status = "done"
        else:
            status = "already_done"
        return SliceOutcome(
            slice_id, status, self.identity, report, _categories(report.quarantine_files)
        )

    def finalize(self, tasks: list[dict[str, Any]], started: float | None) -> RunReport:
        """The report over every slice of the run; ``tasks`` are the slice tasks' outcomes
        (their XComs), ``started`` the plan's start (epoch seconds), if known."""
        store = self.store()
        try:
            records = store.slices(self.run_id)
        finally:
            store.close()
        spec = self._copy
        assert spec is not None
        report = RunReport(
            run_id=self.run_id,
            activity=self.activity,
            source=self._uri(spec.source),
            target=self._uri(spec.target),
            seconds=time.time() - started if started is not None else 0.0,
        )
        report.add_slices(records)
        # Every try after a slice's first was a retry (in the engine or by Airflow).
        report.retries = sum(max(0, r.attempts - 1) for r in records)
        errors: Counter[str] = Counter()
        for task in tasks:
            errors.update(task.get("errors") or {})
        report.errors = dict(errors)
        report.quarantine_files = sorted(
            {str(f) for task in tasks for f in task.get("quarantine_files") or ()}
            | {str(p) for p in self.quarantine.files()}
        )
        not_done = [r for r in records if r.state is not SliceState.DONE]
        if not_done:
            report.failure = (
                "slices not done: "
                + ", ".join(
                    f"{r.slice_id} ({r.state.value}{': ' + r.error if r.error else ''})"
                    for r in not_done[:10]
                )
                + (f" and {len(not_done) - 10} more" if len(not_done) > 10 else "")
            )
        else:
            report.failure = _over_budget(report, copy_options(spec))
        if spec.verify and report.ok:
            self._verify(report)
        return report

    def _uri(self, dataset: str) -> str:
        connections = dict(self.spec.connections)
        return dataset_uri(self.spec.datasets[dataset], connections, base_dir=str(self.base_dir))

    def _verify(self, report: RunReport) -> None:
        missing = [f for f in report.quarantine_files if not Path(f).is_file()]
        if missing:
            report.failure = (
                "verification needs every slice's quarantine file, and "
                f"{', '.join(missing[:3])} is not here: give the task group a state_dir "
                "that every worker shares"
            )
            return
        spec = self._copy
        assert spec is not None
        verify_report(
            DatasetFactory(self.connections, self.base_dir),
            self.spec.datasets[spec.source],
            self.spec.datasets[spec.target],
            report,
            spec.columns,
        )

    def push_metrics(
        self, report: RunReport, tasks: list[dict[str, Any]], gateway: str
    ) -> CopyMetrics:
        """Push the run's totals to a Pushgateway (job ``cassflow_<pipeline>``)."""
        metrics = CopyMetrics()
        labels = (self.spec.name, self.activity)
        metrics.rows_read.labels(*labels).inc(report.counts.read)
        metrics.rows_written.labels(*labels).inc(report.counts.written)
        categories: Counter[str] = Counter()
        for task in tasks:
            categories.update(task.get("quarantined_by_category") or {})
        # Slices an earlier DAG run attempt finished left no outcome behind to say which.
        unreported = report.counts.quarantined - sum(categories.values())
        if unreported > 0:
            categories["unreported"] += unreported
        for category, count in categories.items():
            metrics.rows_quarantined.labels(*labels, category).inc(count)
        metrics.retries.labels(*labels).inc(report.retries)
        metrics.push(gateway, job=f"cassflow_{self.spec.name}")
        return metrics

    def save(self, data: Mapping[str, Any]) -> Path:
        """Write the final report to ``<state dir>/reports/<run id>.json``."""
        directory = self.state_dir / "reports"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.run_id}.json"
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    def close(self) -> None:
        """Close the connections."""
        self.connections.close()

    def __enter__(self) -> SlicedCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _over_budget(report: RunReport, options: CopyOptions) -> str | None:
    """The error budget judged over the whole copy (None: it held)."""
    bad, read = report.counts.quarantined, report.counts.read
    if options.max_errors is not None and bad > options.max_errors:
        return f"{bad} bad records, more than max_errors ({options.max_errors}); see the quarantine"
    ratio = options.max_error_ratio
    if ratio is not None and read and bad / read > ratio:
        return (
            f"{bad} of {read} records are bad ({bad / read:.2%}), more than max_errors "
            f"({ratio:.2%}); see the quarantine"
        )
    return None


def _categories(files: Iterable[str]) -> dict[str, int]:
    """Quarantined records by category, counted in this slice's quarantine files."""
    counts: Counter[str] = Counter()
    for name in files:
        with open(name, encoding="utf-8") as entries:
            counts.update(json.loads(line)["category"] for line in entries if line.strip())
    return dict(counts)
