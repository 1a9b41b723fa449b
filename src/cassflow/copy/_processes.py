"""Slices moved by worker processes: :class:`ProcessSlices`, a :class:`~._runner.RemoteSlices`.

Theory of operation. A load into Cassandra spends tens of microseconds of Python per row
(parsing, conversion, binding, the driver's requests) and one interpreter runs Python on one
core at a time, so threads cannot use a second core; processes can. The run's own process
keeps everything that must be in one place: the plan, the checkpoint store, retries, the
error budget, metrics, progress and the report. Each worker process (``spawn``: the driver's
threads do not survive a fork) builds its own source, prepared sink and connection with the
``build`` function it is given, then moves slices on request, several at a time in threads.

Messages go over one pipe per worker, as tuples:

* to the worker: ``("move", attempt, slice_id, spec)``, ``("stop", attempt)``, ``("close",)``;
* from it: ``("ready",)`` or ``("failed", description)`` once built; per chunk
  ``("chunk", attempt, read, written, nbytes, bad_records, sink_events, sink_stats,
  throttle_stats)``; ``("end", attempt, counts | None, error | None)``.

The run's thread that asked for the attempt tallies each chunk as a local attempt would
(metrics, progress, error budget) and raises the attempt's error as its own: ``error_name``
and ``error_class`` keep the worker's exception class and its transient/terminal class. A
worker that dies (killed, out of memory) fails its attempts with a transient error, so the
run retries those slices on the workers left. When the run's process dies, the pipes close
and each worker exits on its own: no orphan goes on writing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from cassflow.copy._checkpoint import SliceCounts, SliceRecord, SliceState
from cassflow.copy._mapping import ColumnMap
from cassflow.copy._model import BadRecord, CopyError, Sink, Source
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._retry import ErrorClass, TransientError, classify_error
from cassflow.copy._runner import StoppedError, Tally, error_name, move_slice
from cassflow.copy._throttle import AimdThrottle, ThrottleStats
from cassflow.observe import SinkEventRecorder, SinkObserver, replay

__all__ = ["ProcessSlices", "WorkerError", "WorkerParts"]

log = logging.getLogger(__name__)

# How often a waiting attempt looks at whether the run wants it stopped.
_POLL_SECONDS = 0.2


@dataclass(slots=True)
class WorkerParts:
    """What a worker process moves slices with, made by the ``build`` function."""

    source: Source
    #: Prepared (``prepare()`` called), observed by ``recorder`` if it reports per request.
    sink: Sink
    columns: ColumnMap
    quarantine: Quarantine
    #: The worker's own throttle (its share of the run's), for the report.
    throttle: AimdThrottle | None
    recorder: SinkEventRecorder
    #: Closes the connections the parts use.
    close: Callable[[], None]


class WorkerError(CopyError):
    """An attempt's error, raised in a worker process and sent back as its class name, its
    message and whether it is transient."""

    def __init__(self, name: str, message: str, error_class: ErrorClass) -> None:
        super().__init__(message)
        self.error_name = name
        self.error_class = error_class


class _Worker:
    """The run's side of one worker process."""

    def __init__(self, index: int, process: Any, conn: Connection) -> None:
        self.index = index
        self.process = process
        self.conn = conn
        self.send_lock = threading.Lock()
        self.attempts: dict[int, queue.SimpleQueue[tuple[Any, ...]]] = {}
        self.ready = threading.Event()
        self.failure: str | None = None
        self.alive = True
        self.sink_stats: Any = None
        self.throttle = ThrottleStats()
        self.in_flight = 0.0

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock:
            self.conn.send(message)


class ProcessSlices:
    """Moves slices in ``processes`` worker processes; see the module's theory of operation.

    ``build`` must be picklable (a module-level function, or a ``functools.partial`` of one
    with picklable arguments); each worker calls it once, with the number of workers started
    (to take its share of the run's throttle). ``observer`` gets the workers'
    per-request metrics (the run's :class:`~cassflow.observe.SinkMetrics`).
    """

    def __init__(
        self,
        build: Callable[[int], WorkerParts],
        processes: int,
        *,
        observer: SinkObserver | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        if processes < 1:
            raise CopyError("processes must be at least 1")
        self.build = build
        self.processes = processes
        self.observer = observer
        self.start_timeout = start_timeout
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, todo: int) -> None:
        """Start the workers (no more than slices to do) and wait until each has its parts."""
        context = multiprocessing.get_context("spawn")
        count = min(self.processes, todo)
        for index in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker_main,
                args=(theirs, self.build, count),
                name=f"cassflow-worker-{index}",
                daemon=True,
            )
            process.start()
            theirs.close()
            worker = _Worker(index, process, ours)
            self._workers.append(worker)
            threading.Thread(
                target=self._listen, args=(worker,), name=f"cassflow-worker-{index}-pipe",
                daemon=True,
            ).start()  # fmt: skip
        for worker in self._workers:
            if not worker.ready.wait(self.start_timeout):
                self.close()
                raise CopyError(f"worker process {worker.index} not ready after "
                                f"{self.start_timeout:.0f} s")  # fmt: skip
            if worker.failure is not None:
                failure = worker.failure
                self.close()
                raise CopyError(f"worker process {worker.index} could not start: {failure}")
        log.info("%d worker processes ready", len(self._workers))

    def close(self) -> None:
        """Ask every worker to finish and wait for it (killing it past a bound)."""
        for worker in self._workers:
            if worker.alive:
                with contextlib.suppress(OSError):  # it died meanwhile
                    worker.send(("close",))
        for worker in self._workers:
            worker.process.join(30)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(10)
            worker.conn.close()

    # --- one attempt ---------------------------------------------------------------------

    def move(self, record: SliceRecord, tally: Tally, stopped: Callable[[], bool]) -> SliceCounts:
        """Move one attempt at ``record`` in the least busy worker (see RemoteSlices)."""
        answers: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        with self._lock:
            alive = [w for w in self._workers if w.alive]
            if not alive:
                raise CopyError("every worker process has died; see the log for why")
            worker = min(alive, key=lambda w: len(w.attempts))
            attempt = next(self._ids)
            worker.attempts[attempt] = answers
        try:
            worker.send(("move", attempt, record.slice_id, dict(record.spec)))
            return self._follow(worker, attempt, answers, tally, stopped)
        finally:
            with self._lock:
                worker.attempts.pop(attempt, None)

    def _follow(
        self,
        worker: _Worker,
        attempt: int,
        answers: queue.SimpleQueue[tuple[Any, ...]],
        tally: Tally,
        stopped: Callable[[], bool],
    ) -> SliceCounts:
        stop_sent = False
        refused: BaseException | None = None  # the run's own reason to stop this attempt
        while True:
            if not stop_sent and (refused is not None or stopped()):
                stop_sent = True
                with contextlib.suppress(OSError):  # gone: its "died" answer is on the way
                    worker.send(("stop", attempt))
            try:
                message = answers.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            kind = message[0]
            if kind == "chunk":
                read, written, nbytes, bad, events, sink_stats, throttle = message[2:]
                self._absorb(worker, events, sink_stats, throttle)
                if refused is None:
                    try:
                        tally(read, written, nbytes, tuple(bad))
                    except Exception as exc:  # the error budget ran out
                        refused = exc
            elif kind == "end":
                counts, error = message[2], message[3]
                if refused is not None:
                    raise refused
                if error is not None:
                    raise _error(*error)
                return SliceCounts(*counts)
            else:  # "died"
                raise refused or TransientError(
                    f"worker process {worker.index} died ({message[1]}) while moving slice"
                )

    def _absorb(
        self, worker: _Worker, events: list[Any], sink_stats: Any, throttle: ThrottleStats
    ) -> None:
        worker.sink_stats, worker.throttle = sink_stats, throttle
        if self.observer is None:
            return
        in_flight = replay(events, self.observer)
        if in_flight is not None:
            with self._lock:
                worker.in_flight = in_flight
                total = sum(w.in_flight for w in self._workers)
            self.observer.in_flight.set(total)

    # --- the pipe ------------------------------------------------------------------------

    def _listen(self, worker: _Worker) -> None:
        """Hand each message of one worker to the attempt it is about, until the pipe ends."""
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "ready":
                worker.ready.set()
            elif kind == "failed":
                worker.failure = message[1]
                worker.ready.set()
            else:
                with self._lock:
                    answers = worker.attempts.get(message[1])
                if answers is not None:
                    answers.put(message)
        worker.process.join(10)
        code = worker.process.exitcode
        with self._lock:
            worker.alive = False
            worker.in_flight = 0.0
            pending = list(worker.attempts.values())
        if worker.failure is None and not worker.ready.is_set():
            worker.failure = f"exited with code {code} before it was ready"
            worker.ready.set()
        for answers in pending:
            answers.put(("died", f"exit code {code}"))

    # --- what the workers did ------------------------------------------------------------

    def sink_stats(self, own: Any) -> Any:
        """``own`` plus every worker's latest sink stats, in a new object."""
        merged = type(own)()
        merged.add(own)
        for worker in self._workers:
            if worker.sink_stats is not None:
                merged.add(worker.sink_stats)
        return merged

    def throttle_stats(self, own: ThrottleStats) -> ThrottleStats:
        """``own`` plus every worker's throttle's latest stats, in a new object."""
        merged = dataclasses.replace(own)
        for worker in self._workers:
            merged.add(worker.throttle)
        return merged


def _error(name: str, message: str, error_class: str, stopped: bool) -> BaseException:
    if stopped:
        return StoppedError(message)
    return WorkerError(name, message, ErrorClass(error_class))


# --- the worker process ------------------------------------------------------------------------


def _worker_main(conn: Connection, build: Callable[[int], WorkerParts], workers: int) -> None:
    """A worker process: build the parts, then move the slices asked for until closed."""
    # Ctrl-C reaches the whole process group; the run's process decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    try:
        parts = build(workers)
    except Exception as exc:
        send(("failed", f"{error_name(exc)}: {exc}"))
        return
    send(("ready",))
    stops: dict[int, threading.Event] = {}
    threads: list[threading.Thread] = []
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # The run's process is gone: stop at once, whatever is half done (its
                # checkpoints say so; a resumed run redoes it).
                os._exit(1)
            if message[0] == "close":
                break
            if message[0] == "stop":
                flag = stops.get(message[1])
                if flag is not None:
                    flag.set()
                continue
            _, attempt, slice_id, spec = message
            stops[attempt] = threading.Event()
            thread = threading.Thread(
                target=_move_in_worker,
                args=(parts, attempt, slice_id, spec, stops[attempt], send),
                name=f"cassflow-slice-{attempt}",
                daemon=True,
            )
            thread.start()
            threads = [t for t in threads if t.is_alive()] + [thread]
    finally:
        for flag in stops.values():
            flag.set()
        for thread in threads:
            thread.join(60)
        parts.close()


def _move_in_worker(
    parts: WorkerParts,
    attempt: int,
    slice_id: str,
    spec: Mapping[str, Any],
    stop: threading.Event,
    send: Callable[[tuple[Any, ...]], None],
) -> None:
    record = SliceRecord(slice_id, spec, SliceState.RUNNING, 0, SliceCounts(), None)

    def tally(read: int, written: int, nbytes: int, bad: tuple[BadRecord, ...]) -> None:
        stats = getattr(parts.sink, "stats", None)
        throttle = parts.throttle.stats if parts.throttle is not None else ThrottleStats()
        send((
            "chunk", attempt, read, written, nbytes, list(bad), parts.recorder.drain(),
            _copy_stats(stats), _copy_throttle(throttle),
        ))  # fmt: skip

    try:
        counts = move_slice(
            record, parts.source, parts.sink, parts.columns, parts.quarantine, tally, stop.is_set
        )
    except BaseException as exc:
        error = (
            error_name(exc),
            str(exc),
            classify_error(exc).value,
            isinstance(exc, StoppedError),
        )
        send(("end", attempt, None, error))
        return
    send(("end", attempt, (counts.read, counts.written, counts.quarantined, counts.skipped), None))


def _copy_stats(stats: Any) -> Any:
    """A snapshot of a sink's cumulative stats (they go on changing in other threads)."""
    if stats is None or not hasattr(stats, "add"):
        return None
    snapshot = type(stats)()
    snapshot.add(stats)
    return snapshot


def _copy_throttle(stats: ThrottleStats) -> ThrottleStats:
    """A snapshot of a throttle's stats (they go on changing in other threads)."""
    return dataclasses.replace(stats)
