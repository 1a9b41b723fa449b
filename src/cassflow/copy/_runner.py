"""Running one copy: plan slices, run them in parallel, retry, checkpoint, quarantine, report.

Theory of operation. The source cuts its data into slices (token ranges, files, row groups,
SQL key ranges); the plan is recorded in the checkpoint store under the run id before any
row moves, and a resumed run checks that it is the same plan. Worker threads take the
slices that are not DONE. An attempt at a slice reads it chunk by chunk, quarantines what
the source could not read and what the sink refused, writes the rest, and ends with the
sink's commit and one checkpoint transaction holding the slice's counts. Any error ends the
attempt: a transient one (timeouts, overload, lost connections, by exception class) is
retried after a full-jitter backoff, redoing the whole slice — sinks write idempotently, and
the slice's quarantine file starts afresh — so counts never double; a terminal one, or the
error budget running out (``max_errors``), stops every worker at its next chunk and leaves
the run resumable. The report is built from the checkpoint store, so it adds up exactly:
read = written + quarantined + skipped, over the slices that are DONE.

Threads or processes. Slices run in worker threads of this process, or, given ``remote``
(:class:`RemoteSlices`, e.g. :class:`cassflow.copy.ProcessSlices`), each attempt's rows move in
a worker process while this process keeps everything else: the plan, the checkpoints, retries,
the error budget, metrics and the report. ``bench/workers.py`` measured both on 2 cores
against the dev server: unloads (driver I/O, pyarrow) run faster in threads (processes
0.77-0.80x), loads into Cassandra, which spend tens of µs of Python per row (parsing,
conversion, binding) under one GIL, faster in processes (1.25-1.28x with replica batches).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cassflow.copy._checkpoint import CheckpointStore, SliceCounts, SliceRecord, SliceState
from cassflow.copy._mapping import ColumnMap
from cassflow.copy._model import (
    BadRecord,
    CopyError,
    Drift,
    DriftPolicy,
    Sink,
    Source,
    WriteResult,
)
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._report import RunReport
from cassflow.copy._retry import Backoff, ErrorClass, classify_error
from cassflow.copy._throttle import AimdThrottle, ThrottleStats
from cassflow.observe import CopyMetrics

log = logging.getLogger(__name__)


class ErrorBudgetExceededError(CopyError):
    """More records were quarantined than ``max_errors`` allows."""


class StoppedError(CopyError):
    """Another slice failed for good or spent the error budget; this one stops."""


@dataclass(frozen=True, slots=True)
class CopyOptions:
    """How a copy runs; every field has the default a first run should use."""

    #: Slices worked on at once.
    workers: int = 4
    #: How many slices to cut a splittable source into (None: the source's default).
    splits: int | None = None
    #: Attempts per slice before a transient error fails the run.
    slice_attempts: int = 4
    #: Abort after more than this many bad records (None: no count limit).
    max_errors: int | None = 100
    #: Abort when more than this share of records is bad (0.05 for "5%"; None: no limit).
    max_error_ratio: float | None = None
    #: Records read before the ratio is judged (a first bad row is not "100% bad").
    ratio_after: int = 1000
    drift: DriftPolicy = DriftPolicy.FAIL
    #: Target column -> source field; None copies every field under its own name.
    columns: dict[str, str] | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.5, cap=30.0))


class _ErrorBudget:
    """Counts bad records over the whole run, across threads, and says when it is spent."""

    def __init__(self, options: CopyOptions, done: SliceCounts) -> None:
        self._options = options
        self._lock = threading.Lock()
        self.read = done.read
        self.bad = done.quarantined

    def add(self, read: int, bad: int) -> None:
        with self._lock:
            self.read += read
            self.bad += bad
            self._check(final=False)

    def take_back(self, read: int, bad: int) -> None:
        """Forget an attempt that will be redone (its records will be counted again)."""
        with self._lock:
            self.read -= read
            self.bad -= bad

    def check_final(self) -> None:
        with self._lock:
            self._check(final=True)

    def _check(self, *, final: bool) -> None:
        limit, ratio = self._options.max_errors, self._options.max_error_ratio
        if limit is not None and self.bad > limit:
            raise ErrorBudgetExceededError(
                f"{self.bad} bad records, more than max_errors ({limit}); see the quarantine"
            )
        judged = final or self.read >= self._options.ratio_after
        if ratio is not None and judged and self.read and self.bad / self.read > ratio:
            raise ErrorBudgetExceededError(
                f"{self.bad} of {self.read} records are bad ({self.bad / self.read:.2%}), "
                f"more than max_errors ({ratio:.2%}); see the quarantine"
            )


@dataclass(slots=True)
class Progress:
    """What a progress display shows; updated by the workers."""

    slices_total: int = 0
    slices_done: int = 0
    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0


#: Told of every chunk an attempt moved: (records read, written, source bytes, bad records).
Tally = Callable[[int, int, int, tuple[BadRecord, ...]], None]


class RemoteSlices(Protocol):
    """Moves slices' rows somewhere else (worker processes) for a :class:`CopyRun`."""

    def start(self, todo: int) -> None:
        """Get ready for a run with ``todo`` slices to do."""

    def move(self, record: SliceRecord, tally: Tally, stopped: Callable[[], bool]) -> SliceCounts:
        """Move one attempt at a slice; tell ``tally`` each chunk, and stop early (raising
        :class:`StoppedError`) once ``stopped()``; errors come back as the attempt's."""

    def sink_stats(self, own: Any) -> Any:
        """``own`` (this process's sink's stats) plus the workers' sinks' (a new object)."""

    def throttle_stats(self, own: ThrottleStats) -> ThrottleStats:
        """``own`` (this process's throttle's stats) plus the workers' (a new object)."""

    def close(self) -> None:
        """Stop the workers."""


def move_slice(
    record: SliceRecord,
    source: Source,
    sink: Sink,
    columns: ColumnMap,
    quarantine: Quarantine,
    tally: Tally,
    stopped: Callable[[], bool],
) -> SliceCounts:
    """One attempt at a slice: read it chunk by chunk, quarantine what the source could not
    read and the sink refused, write the rest, commit; ``tally`` hears of every chunk."""
    part = quarantine.open_slice(record.slice_id)
    writer = sink.open_slice(record.slice_id)
    read = written = bad = 0
    try:
        for raw in source.read(record.spec):
            if stopped():
                raise StoppedError("stopped: another slice failed or the error budget ran out")
            chunk = columns.apply(raw)
            result = writer.write(chunk) if chunk.rows else WriteResult(0)
            if result.written + len(result.bad) != len(chunk.rows):
                raise CopyError(
                    f"{sink.location}: the sink accounted for "
                    f"{result.written + len(result.bad)} of {len(chunk.rows)} rows"
                )
            entries = (*chunk.bad, *result.bad)
            for entry in entries:
                part.add(entry)
            read += chunk.read
            written += result.written
            bad += len(entries)
            tally(chunk.read, result.written, chunk.nbytes, entries)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        part.close()
    return SliceCounts(read=read, written=written, quarantined=bad)


class CopyRun:
    """One copy activity's run: ``execute()`` returns its report."""

    def __init__(
        self,
        source: Source,
        sink: Sink,
        *,
        run_id: str,
        store: CheckpointStore,
        quarantine: Quarantine,
        activity: str = "copy",
        pipeline: str = "cassflow",
        options: CopyOptions | None = None,
        throttle: AimdThrottle | None = None,
        metrics: CopyMetrics | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        remote: RemoteSlices | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.run_id = run_id
        self.store = store
        self.quarantine = quarantine
        self.activity = activity
        self.pipeline = pipeline
        self.options = options or CopyOptions()
        self.throttle = throttle
        self.metrics = metrics
        self.on_progress = on_progress
        self.remote = remote
        self.progress = Progress()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self._retries = 0
        self._errors: dict[str, int] = {}
        self._columns: ColumnMap | None = None
        self._budget: _ErrorBudget | None = None
        self._resumed = 0
        self._slices_run = 0
        self._throttle_seen: dict[str, int] = {}

    # --- the run -------------------------------------------------------------------------

    def execute(self, only: Collection[str] | None = None) -> RunReport:
        """Run (or resume) the copy; the report says whether every slice is done.

        ``only`` names the slices of the plan to work on (default: all): the plan is still
        made, recorded and checked as a whole, the error budget counts every slice the store
        has DONE, and the report covers just those slices (their counts, states and
        quarantine files). Airflow's mapped tasks each run one slice this way; ``only=()``
        prepares the sink and records the plan without moving a row.
        """
        started = time.monotonic()
        columns = ColumnMap(self.source.fields(), self.options.columns)
        self._columns = columns
        observe = getattr(self.sink, "observe", None)  # sinks that report per request
        if observe is not None and self.metrics is not None:
            observe(self.metrics.for_sink(self.pipeline, self.activity))
        drift = self.sink.prepare(columns.fields, self.options.drift)
        plan = self.source.plan(self.options.splits or 0)
        self.store.begin(self.run_id, plan)
        every = self.store.slices(self.run_id)
        done = [s.counts for s in every if s.state is SliceState.DONE]
        if only is not None:
            every = self._chosen(every, only)
        todo = [s for s in every if s.state is not SliceState.DONE]
        self._budget = _ErrorBudget(
            self.options,
            SliceCounts(
                read=sum(c.read for c in done),
                written=sum(c.written for c in done),
                quarantined=sum(c.quarantined for c in done),
                skipped=sum(c.skipped for c in done),
            ),
        )
        self.progress.slices_total = len(every)
        self.progress.slices_done = len(every) - len(todo)
        self._resumed = len(every) - len(todo)
        log.info(
            "run %s %s: %d slices, %d to do", self.run_id, self.activity, len(every), len(todo)
        )
        workers = max(1, min(self.options.workers, len(todo)))
        if self.remote is not None and todo:
            self.remote.start(len(todo))
        with ThreadPoolExecutor(workers, thread_name_prefix=f"cassflow-{self.activity}") as pool:
            for future in [pool.submit(self._run_slice, record) for record in todo]:
                future.result()  # _run_slice keeps its errors; this only waits
        if self._failure is None:
            try:
                self._budget.check_final()
            except ErrorBudgetExceededError as exc:
                self._failure = exc
        return self._report(started, drift, None if only is None else set(only))

    def _chosen(self, every: list[SliceRecord], only: Collection[str]) -> list[SliceRecord]:
        """The records of the slices ``only`` names, in plan order; refuses unknown ids."""
        wanted = set(only)
        unknown = sorted(wanted - {s.slice_id for s in every})
        if unknown:
            raise CopyError(f"run {self.run_id} has no slice {', '.join(unknown)}")
        return [s for s in every if s.slice_id in wanted]

    def _report(self, started: float, drift: Drift, only: set[str] | None) -> RunReport:
        # Sinks that retry requests themselves (Cassandra) count those retries and errors.
        sink_stats = getattr(self.sink, "stats", None)
        if self.remote is not None and sink_stats is not None:
            sink_stats = self.remote.sink_stats(sink_stats)
        errors = dict(self._errors)
        for name, count in getattr(sink_stats, "errors_by_class", {}).items():
            errors[name] = errors.get(name, 0) + count
        report = RunReport(
            run_id=self.run_id,
            activity=self.activity,
            source=self.source.location,
            target=self.sink.location,
            seconds=time.monotonic() - started,
            retries=self._retries + int(getattr(sink_stats, "retries", 0)),
            errors=errors,
            resumed_slices=self._resumed,
            slices_run=self._slices_run,
        )
        records = self.store.slices(self.run_id)
        files = self.quarantine.files()
        if only is not None:
            records = [r for r in records if r.slice_id in only]
            files = [p for p in files if _quarantined_slice(p) in only]
        report.add_slices(records)
        self._sync_throttle()
        if self.throttle is not None:
            report.throttle = self._throttle_stats()
        report.quarantine_files = [str(p) for p in files]
        report.failure = None if self._failure is None else _describe(self._failure)
        report.drift = {k: list(v) for k, v in dataclasses.asdict(drift).items() if v}
        return report

    # --- one slice -----------------------------------------------------------------------

    def _run_slice(self, record: SliceRecord) -> None:
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            if attempt == 1:
                with self._lock:
                    self._slices_run += 1
            try:
                counts = self._attempt(record)
            except BaseException as exc:
                if self._settle_failure(record, exc, attempt):
                    continue
                return
            try:
                self.store.finish(self.run_id, record.slice_id, counts)
            except Exception as exc:
                # Written but not recorded: the slice is redone (its writes are idempotent),
                # so its counts must not be counted twice.
                assert self._budget is not None
                self._budget.take_back(counts.read, counts.quarantined)
                self._uncount(counts.read, counts.written)
                if self._settle_failure(record, exc, attempt):
                    continue
                return
            with self._lock:
                self.progress.slices_done += 1
            self._tell_progress()
            return

    def _settle_failure(self, record: SliceRecord, exc: BaseException, attempt: int) -> bool:
        """Record why an attempt failed; True when the slice should be tried again."""
        error_class = classify_error(exc)
        name = error_name(exc)
        if not isinstance(exc, StoppedError | ErrorBudgetExceededError):
            with self._lock:
                self._errors[name] = self._errors.get(name, 0) + 1
            if self.metrics is not None:
                self.metrics.errors.labels(
                    self.pipeline, self.activity, error_class.value, name
                ).inc()
        transient = error_class is ErrorClass.TRANSIENT
        if transient and attempt < self.options.slice_attempts and not self._stop.is_set():
            delay = self.options.backoff.delay(attempt - 1)
            log.warning(
                "slice %s: %s, attempt %d of %d again in %.1f s",
                record.slice_id,
                _describe(exc),
                attempt + 1,
                self.options.slice_attempts,
                delay,
            )
            with self._lock:
                self._retries += 1
            if self.metrics is not None:
                self.metrics.retries.labels(self.pipeline, self.activity).inc()
            return not self._stop.wait(delay)
        self.store.fail(self.run_id, record.slice_id, _describe(exc))
        if not isinstance(exc, StoppedError):
            with self._lock:
                if self._failure is None:
                    self._failure = exc
            self._stop.set()
            log.error("slice %s failed: %s", record.slice_id, _describe(exc))
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt, SystemExit: after recording, let them through
        return False

    def _attempt(self, record: SliceRecord) -> SliceCounts:
        assert self._columns is not None
        budget = self._budget
        assert budget is not None
        self.store.start(self.run_id, record.slice_id)
        read = written = bad = 0

        def tally(
            chunk_read: int, chunk_written: int, nbytes: int, entries: tuple[BadRecord, ...]
        ) -> None:
            nonlocal read, written, bad
            read += chunk_read
            written += chunk_written
            bad += len(entries)
            self._count(chunk_read, chunk_written, nbytes)
            self._count_bad(entries)
            budget.add(chunk_read, len(entries))

        try:
            if self.remote is not None:
                return self.remote.move(record, tally, self._stop.is_set)
            return move_slice(
                record, self.source, self.sink, self._columns, self.quarantine, tally,
                self._stop.is_set,
            )  # fmt: skip
        except BaseException:
            budget.take_back(read, bad)
            self._uncount(read, written)
            raise

    # --- progress and metrics ------------------------------------------------------------

    def _count(self, read: int, written: int, nbytes: int) -> None:
        with self._lock:
            self.progress.rows_read += read
            self.progress.rows_written += written
            self.progress.bytes_read += nbytes
        if self.metrics is not None:
            labels = (self.pipeline, self.activity)
            self.metrics.rows_read.labels(*labels).inc(read)
            self.metrics.rows_written.labels(*labels).inc(written)
            self.metrics.bytes_read.labels(*labels).inc(nbytes)
            if read:  # the source bytes of the records written
                self.metrics.bytes_written.labels(*labels).inc(nbytes * written // read)
            self._sync_throttle()
        self._tell_progress()

    def _throttle_stats(self) -> ThrottleStats:
        """What the throttle did: this process's, plus the worker processes' throttles."""
        own = self.throttle.stats if self.throttle is not None else ThrottleStats()
        return self.remote.throttle_stats(own) if self.remote is not None else own

    def _sync_throttle(self) -> None:
        """Add the throttle's decisions since the last call to the throttle event counter."""
        if self.throttle is None or self.metrics is None:
            return
        stats = self._throttle_stats()
        now = {
            "decrease": stats.decreases,
            "increase": stats.increases,
            "rate_wait": stats.rate_waits,
        }
        with self._lock:
            deltas = {kind: n - self._throttle_seen.get(kind, 0) for kind, n in now.items()}
            self._throttle_seen = now
        for kind, delta in deltas.items():
            if delta > 0:
                self.metrics.throttle_events.labels(self.pipeline, self.activity, kind).inc(delta)

    def _count_bad(self, entries: tuple[BadRecord, ...]) -> None:
        if self.metrics is not None:
            for entry in entries:
                self.metrics.rows_quarantined.labels(
                    self.pipeline, self.activity, entry.category
                ).inc()

    def _uncount(self, read: int, written: int) -> None:
        with self._lock:
            self.progress.rows_read -= read
            self.progress.rows_written -= written

    def _tell_progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)


def error_name(exc: BaseException) -> str:
    """The exception's class name, or the one it had in the worker process it came from."""
    return str(getattr(exc, "error_name", None) or type(exc).__name__)


def _quarantined_slice(path: Path) -> str | None:
    """The slice a quarantine file belongs to, as its first line says (file names are
    cleaned slice ids, which two slice ids may share)."""
    with path.open(encoding="utf-8") as lines:
        first = lines.readline()
    try:
        return str(json.loads(first)["slice"])
    except (ValueError, KeyError, TypeError):
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{error_name(exc)}: {text}" if text else error_name(exc)
