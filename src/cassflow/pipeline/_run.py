"""Running a pipeline locally: activities in dependency order, each checkpointed.

A pipeline run has a run id. Each copy activity is a copy run of its own, checkpointed under
``<run id>/<activity>`` in the checkpoint store (a SQLite file in the state directory, or the
Cassandra table the spec's ``checkpoints:`` names, shared by workers); a CQL activity records one
slice when its statements have all run; waits are evaluated afresh. ``resume=True`` with the
id of an earlier run skips what that run finished and redoes only what did not: done CQL
activities, done slices. Activities run one after the other, in the file's order as far as
``after`` allows; an activity whose dependencies failed is not run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cassflow.access._identity import TaskIdentity, current_identity, use_identity
from cassflow.copy._checkpoint import (
    CheckpointError,
    CheckpointStore,
    SliceCounts,
    SliceState,
    SqliteCheckpointStore,
    finished,
    generations,
    new_run_id,
)
from cassflow.copy._checkpoint_cassandra import CassandraCheckpointStore
from cassflow.copy._model import CopyError, DriftPolicy, Source
from cassflow.copy._processes import ProcessSlices
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._report import RunReport
from cassflow.copy._runner import CopyOptions, CopyRun, Progress
from cassflow.copy._throttle import AimdThrottle
from cassflow.cql import CqlError, script_statements
from cassflow.observe import CopyMetrics
from cassflow.pipeline._build import Connections, DatasetFactory
from cassflow.pipeline._dynamic import ActivityConnections, uses_dynamic_credentials
from cassflow.pipeline._spec import (
    ActivitySpec,
    CopySpec,
    CqlSpec,
    PipelineSpec,
    TableDatasetSpec,
    WaitSpec,
    parse_duration,
)
from cassflow.pipeline._verify import verify_report
from cassflow.pipeline._waits import wait_for_compaction
from cassflow.pipeline._workers import WorkerPayload, process_slices, processes_for

log = logging.getLogger(__name__)

#: Makes the progress callback of one copy activity (given its name), or None for no display.
ProgressFactory = Callable[[str], Callable[[Progress], None] | None]


@dataclass(slots=True)
class ActivityOutcome:
    """What one activity did."""

    name: str
    kind: str
    #: done, failed, not_run (a dependency failed), or already_done (on resume).
    status: str
    seconds: float = 0.0
    message: str = ""
    report: RunReport | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "seconds": round(self.seconds, 3),
        }
        if self.message:
            data["message"] = self.message
        if self.report is not None:
            data["copy"] = self.report.to_json()
        return data


@dataclass(slots=True)
class PipelineReport:
    """What a pipeline run did, activity by activity."""

    pipeline: str
    run_id: str
    activities: list[ActivityOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every activity is done."""
        return all(a.status in ("done", "already_done") for a in self.activities)

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        return {
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "activities": [a.to_json() for a in self.activities],
        }

    def summary(self) -> str:
        """Lines for a terminal."""
        lines = [f"pipeline {self.pipeline}, run {self.run_id}: {'ok' if self.ok else 'FAILED'}"]
        for activity in self.activities:
            lines.append(
                f"- {activity.name} ({activity.kind}): {activity.status}"
                + (f" in {activity.seconds:.1f} s" if activity.seconds else "")
                + (f": {activity.message}" if activity.message else "")
            )
            if activity.report is not None:
                lines.extend("  " + line for line in activity.report.summary().splitlines())
        if not self.ok:
            lines.append(f"resume with: cassflow run <pipeline file> --resume {self.run_id}")
        return "\n".join(lines)


def _max_errors(spec: CopySpec) -> tuple[int | None, float | None]:
    if isinstance(spec.max_errors, str):
        return None, float(spec.max_errors.rstrip("%")) / 100.0
    return (None if spec.max_errors < 0 else spec.max_errors), None


def copy_options(spec: CopySpec) -> CopyOptions:
    """The runner's options for a copy activity."""
    count, ratio = _max_errors(spec)
    return CopyOptions(
        workers=spec.workers,
        splits=spec.splits,
        slice_attempts=spec.slice_attempts,
        max_errors=count,
        max_error_ratio=ratio,
        drift=DriftPolicy(spec.schema_drift),
        columns=dict(spec.columns) if spec.columns else None,
    )


def throttle_for(spec: CopySpec) -> AimdThrottle:
    """The AIMD throttle of a copy activity."""
    return AimdThrottle(
        initial_concurrency=spec.concurrency,
        max_concurrency=max(spec.max_concurrency, spec.concurrency),
        max_rows_per_second=spec.max_rows_per_second,
        latency_rise=spec.latency_rise,
    )


class PipelineRunner:
    """Runs a validated pipeline in this process."""

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        base_dir: str | Path = ".",
        state_dir: str | Path = ".cassflow",
        run_id: str | None = None,
        resume: bool = False,
        metrics: CopyMetrics | None = None,
        progress: ProgressFactory | None = None,
        identity: TaskIdentity | None = None,
        only: Collection[str] | None = None,
        rerun_done: bool = False,
    ) -> None:
        """``identity`` is the run's (default: from the environment, Airflow's task if any);
        ``only`` names the activities to run (default: all): the others are neither run nor
        reported, and their outcome does not hold these back (Airflow runs each activity of a
        pipeline DAG as a task of its own, and orders them itself).

        ``rerun_done``: when every activity to run has already finished under ``run_id``, run
        them again under the run id's next generation (``<run id>.r2``, ``.r3``, ...) instead
        of finding them done; an unfinished generation is resumed. An Airflow task keeps one
        run id for all its tries, so that a retry resumes; a task cleared after it succeeded
        runs again, and this is what makes it copy again rather than report "already done"."""
        if resume and run_id is None:
            raise CopyError("resuming needs the id of the run to resume")
        self.spec = spec
        self.base_dir = Path(base_dir)
        self.state_dir = Path(state_dir)
        self.run_id = run_id or new_run_id()
        self.resume = resume
        self.metrics = metrics
        self.progress = progress
        self.identity = identity
        self.only = None if only is None else set(only)
        self.rerun_done = rerun_done
        unknown = sorted((self.only or set()) - {a.name for a in spec.activities})
        if unknown:
            raise CopyError(f"pipeline {spec.name} has no activity {', '.join(unknown)}")

    def run(self) -> PipelineReport:
        """Run every activity (or what a resumed run has left); never raises for a failed
        activity: the report says what failed and why."""
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # The sessions (shared by the activities) carry the run's identity; log records carry
        # the activity's too.
        identity = self.identity or TaskIdentity.from_environment(
            self.spec.name, run_id=self.run_id
        )
        connections = Connections(
            dict(self.spec.connections),
            state_dir=self.state_dir,
            application_name=f"cassflow:{self.spec.name}",
            identity=identity,
        )
        try:
            store = self._store(connections)
            if self.rerun_done:
                self.run_id = self._generation(store)
        except BaseException:
            connections.close()
            raise
        report = PipelineReport(self.spec.name, self.run_id)
        try:
            self._begin(store)
            factory = DatasetFactory(connections, self.base_dir)
            failed: set[str] = set()
            for activity in _in_order(self.spec.activities):
                if self.only is not None and activity.name not in self.only:
                    continue
                blocked = [a for a in activity.after if a in failed]
                if blocked:
                    failed.add(activity.name)
                    report.activities.append(
                        ActivityOutcome(
                            activity.name,
                            _kind(activity),
                            "not_run",
                            message=f"after failed {', '.join(blocked)}",
                        )
                    )
                    continue
                with use_identity(identity.for_activity(activity.name)):
                    outcome = self._activity(activity, store, connections, factory)
                report.activities.append(outcome)
                if outcome.status not in ("done", "already_done"):
                    failed.add(activity.name)
        finally:
            connections.close()
            store.close()
        report.seconds = time.monotonic() - started
        self._save(report)
        return report

    def _store(self, connections: Connections) -> CheckpointStore:
        """The spec's Cassandra table (on the run's shared session), else the SQLite file."""
        checkpoints = self.spec.checkpoints
        if checkpoints is None:
            return SqliteCheckpointStore(self.state_dir / "checkpoints.sqlite3")
        connection = connections.get(checkpoints.connection)
        keyspace = checkpoints.keyspace or self.spec.connections[checkpoints.connection].keyspace
        try:
            # cassflow's own bookkeeping, in a keyspace the file names: not keyspace-guarded.
            session = connection.unguarded_session()
            return CassandraCheckpointStore(session, keyspace, checkpoints.table)
        except CheckpointError as exc:
            raise CopyError(f"checkpoints: {exc}") from exc

    def _generation(self, store: CheckpointStore) -> str:
        """The run id to run under with ``rerun_done``: the latest generation of ``run_id``,
        or the next one when the latest has finished every activity to run."""
        latest, again = generations(store, self.run_id)
        selected = [
            a
            for a in self.spec.activities
            if (self.only is None or a.name in self.only) and a.wait is None
        ]
        if not selected or not all(finished(store, f"{latest}/{a.name}") for a in selected):
            return latest
        log.info("run %s finished its activities already: running them again as %s", latest, again)
        return again

    def _begin(self, store: CheckpointStore) -> None:
        plan = [("pipeline", {"name": self.spec.name})]
        if self.resume:
            try:
                store.slices(self.run_id)
            except CheckpointError:
                where = (
                    "--state-dir"
                    if isinstance(store, SqliteCheckpointStore)
                    else "the checkpoints table"
                )
                raise CopyError(
                    f"no run {self.run_id} in {store.location} to resume "
                    f"(is {where} the one the first run used?)"
                ) from None
        store.begin(self.run_id, plan)

    def _save(self, report: PipelineReport) -> None:
        directory = self.state_dir / "reports"
        directory.mkdir(parents=True, exist_ok=True)
        # The tasks of a pipeline DAG share a run id: each task's activities get a file.
        part = "" if self.only is None else "." + "+".join(sorted(self.only))
        path = directory / f"{self.run_id}{part}.json"
        path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")

    def _activity(
        self,
        activity: ActivitySpec,
        store: CheckpointStore,
        connections: Connections,
        factory: DatasetFactory,
    ) -> ActivityOutcome:
        started = time.monotonic()
        kind = _kind(activity)
        outcome = ActivityOutcome(activity.name, kind, "done")
        if uses_dynamic_credentials(self.spec):
            # Dynamic connections log in with a lease of this activity's own, dropped after it.
            connections = ActivityConnections(connections, self.spec, activity.name, self.base_dir)
            factory = DatasetFactory(connections, self.base_dir)
        try:
            if activity.copy_ is not None:
                outcome.report = self._copy(activity.name, activity.copy_, store, factory)
                if not outcome.report.ok:
                    outcome.status = "failed"
                    outcome.message = outcome.report.failure or "slices left to do"
            elif activity.cql is not None:
                if not self._cql(activity.name, activity.cql, store, connections):
                    outcome.status = "already_done"
            else:
                assert activity.wait is not None
                self._wait(activity.wait, connections)
        except Exception as exc:  # one activity's failure is reported, not raised
            log.exception("activity %s failed", activity.name)
            outcome.status = "failed"
            outcome.message = f"{type(exc).__name__}: {exc}"
        finally:
            if isinstance(connections, ActivityConnections):
                connections.close()
        outcome.seconds = time.monotonic() - started
        return outcome

    def _copy(
        self, name: str, spec: CopySpec, store: CheckpointStore, factory: DatasetFactory
    ) -> RunReport:
        throttle = throttle_for(spec)
        source = factory.source(self.spec.datasets[spec.source])
        sink = factory.sink(self.spec.datasets[spec.target], throttle)
        remote = None
        try:
            remote = self._worker_processes(name, spec, source, factory)
            run = CopyRun(
                source,
                sink,
                run_id=f"{self.run_id}/{name}",
                store=store,
                quarantine=Quarantine(self.state_dir / "quarantine", f"{self.run_id}/{name}"),
                activity=name,
                pipeline=self.spec.name,
                options=copy_options(spec),
                throttle=throttle,
                metrics=self.metrics,
                on_progress=self.progress(name) if self.progress else None,
                remote=remote,
            )
            report = run.execute()
            if spec.verify and report.ok:
                verify_report(
                    factory,
                    self.spec.datasets[spec.source],
                    self.spec.datasets[spec.target],
                    report,
                    spec.columns,
                )
            return report
        finally:
            if remote is not None:
                remote.close()
            source.close()
            sink.close()

    def _worker_processes(
        self, name: str, spec: CopySpec, source: Source, factory: DatasetFactory
    ) -> ProcessSlices | None:
        """The activity's worker processes, or None to move slices in threads here."""
        target = self.spec.datasets[spec.target]
        processes = processes_for(spec, source, target)
        if processes <= 1:
            return None
        used = {spec.source, spec.target}
        embedded = {}
        for dataset in (self.spec.datasets[d] for d in used):
            if isinstance(dataset, TableDatasetSpec):
                address = factory.connections.get(dataset.connection).embedded_address
                if address is not None:
                    embedded[dataset.connection] = address
        payload = WorkerPayload(
            # The activity's connections: a dynamic one's holds its lease's credentials.
            connections=dict(factory.connections.specs),
            source=self.spec.datasets[spec.source],
            target=target,
            copy=spec,
            options=copy_options(spec),
            base_dir=str(self.base_dir),
            state_dir=str(self.state_dir),
            run_key=f"{self.run_id}/{name}",
            application_name=f"cassflow:{self.spec.name}",
            processes=processes,
            identity=current_identity(),
        )
        observer = self.metrics.for_sink(self.spec.name, name) if self.metrics else None
        log.info("%s: %d worker processes", name, processes)
        return process_slices(payload, embedded, observer)

    def _cql(
        self, name: str, spec: CqlSpec, store: CheckpointStore, connections: Connections
    ) -> bool:
        """Run the statements; False when a resumed run had already run them all."""
        if spec.file is not None:
            path = Path(spec.file)
            path = path if path.is_absolute() else self.base_dir / path
            text, origin = path.read_text(encoding="utf-8"), str(path)
        else:
            text, origin = ";\n".join(spec.statements), f"activity {name}"
        try:
            # The user's own text is sent, as written (the parse only checks it first).
            statements = [written for written, _parsed in script_statements(text)]
        except CqlError as exc:
            raise CopyError(f"{origin}: {exc}") from None
        key = f"{self.run_id}/{name}"
        digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()[:16]
        store.begin(key, [("statements", {"count": len(statements), "sha256": digest})])
        if all(s.state is SliceState.DONE for s in store.slices(key)):
            return False
        store.start(key, "statements")
        session = connections.get(spec.connection).session()
        try:
            for number, statement in enumerate(statements, 1):
                log.info("%s: statement %d of %d", name, number, len(statements))
                session.execute(statement)
        except Exception as exc:
            store.fail(key, "statements", f"{type(exc).__name__}: {exc}")
            raise CopyError(
                f"{origin}: statement {number} failed: {type(exc).__name__}: {exc}"
            ) from exc
        n = len(statements)
        store.finish(key, "statements", SliceCounts(read=n, written=n))
        return True

    def _wait(self, spec: WaitSpec, connections: Connections) -> None:
        compaction = spec.compaction
        connection = connections.get(compaction.connection)
        conn_spec = self.spec.connections[compaction.connection]
        wait_for_compaction(
            connection.session(),
            keyspace=conn_spec.keyspace,
            table=compaction.table,
            max_pending=compaction.max_pending,
            timeout=parse_duration(spec.timeout),
            poll_interval=parse_duration(spec.poll_interval),
        )


def _kind(activity: ActivitySpec) -> str:
    if activity.copy_ is not None:
        return "copy"
    return "cql" if activity.cql is not None else "wait"


def _in_order(activities: list[ActivitySpec]) -> list[ActivitySpec]:
    """File order, moved only as far as ``after`` needs (the spec has no cycles)."""
    done: set[str] = set()
    ordered: list[ActivitySpec] = []
    waiting = list(activities)
    while waiting:
        for activity in waiting:
            if all(a in done for a in activity.after):
                ordered.append(activity)
                done.add(activity.name)
                waiting.remove(activity)
                break
    return ordered
