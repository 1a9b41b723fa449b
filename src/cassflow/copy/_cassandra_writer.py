"""Writing one slice into a Cassandra table: convert, bind, group, send, retry, isolate.

Theory of operation. :meth:`CassandraSliceWriter.write` takes a chunk and, before it
returns, has an outcome for every row: written, or refused as a :class:`BadRecord`.

1. *Convert and bind.* Each row's values go through the per-column converters of
   :mod:`cassflow.copy._convert` and are bound to the prepared statement. A value that does
   not convert, or a null in a primary key column, makes that row a bad record (``convert``);
   nulls elsewhere are bound as *unset* (no tombstone), as dsbulk's ``nullToUnset`` does.
2. *Group.* Rows are grouped by partition (the bound statement's routing key), then, with
   ``batch_mode="replica"`` (the default), whole partitions whose replicas are the same set
   are packed together: UNLOGGED batches of at most ``batch_size`` rows, ``max_batch_bytes``
   (Cassandra's own measure of a batch, kept under its ``batch_size_warn_threshold``) and
   ``max_batch_partitions`` partitions (under ``unlogged_batch_across_partitions_warn_threshold``).
   Every batch is routed token-aware to a replica of all its partitions, which applies them
   locally, as it would single statements, for one request instead of many: a Python
   client's cost is per request, so this is what lets it keep up. ``"partition"`` batches
   the rows of one partition only (dsbulk's default); ``"none"`` sends every row alone. A
   batch of one row goes as a single statement.
3. *Send.* Requests go out asynchronously; the sink's :class:`_Gate` keeps the requests in
   flight across all its writers at or under the throttle's current concurrency, and the rate
   cap (``acquire_rows``) spaces them. The writer thread does all the bookkeeping; the
   driver's callbacks only hand outcomes over.
4. *Settle.* A transient error (timeouts, overload, unavailable replicas, lost connections:
   :func:`classify_error`) is retried after a full-jitter backoff and tells the throttle to
   back off; past ``request_attempts`` the writer raises :class:`RetryExhaustedError` and
   the runner redoes the slice (writes are idempotent upserts). An ``InvalidRequest`` on a
   batch splits it into single statements to find the refused rows, each becoming a bad
   record (``write``) with the server's reason; any other terminal error (unauthorized,
   syntax) stops the slice with :class:`CopyError`.

A failure stops sending but waits for the requests already in flight, so no callback of a
finished ``write()`` is left to arrive later.
"""

from __future__ import annotations

import heapq
import itertools
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cassandra import InvalidRequest
from cassandra.query import UNSET_VALUE, BatchStatement

from cassflow.copy._connect import WRITE_PROFILE
from cassflow.copy._model import BadRecord, Chunk, ConversionError, CopyError, WriteResult
from cassflow.copy._retry import (
    Backoff,
    ErrorClass,
    RetryExhaustedError,
    TransientError,
    classify_error,
)
from cassflow.copy._throttle import AimdThrottle
from cassflow.observe import SinkObserver

# How long the writer waits without any answer while requests are in flight before it gives
# up on the slice, beyond the driver's own request timeout (which should always answer
# first: this only guards against a lost callback).
_STALL_MARGIN = 30.0


@dataclass(slots=True)
class SinkStats:
    """What a Cassandra sink sent, for the run report and metrics (summed over its slices)."""

    #: Rows written (acknowledged by Cassandra).
    rows: int = 0
    #: Single-row statements acknowledged.
    statements: int = 0
    #: Batches acknowledged.
    batches: int = 0
    #: Requests sent again after a transient error.
    retries: int = 0
    #: Batches refused as a whole and split into single statements to find the bad rows.
    split_batches: int = 0
    #: Rows Cassandra refused (quarantined with category ``write``).
    refused: int = 0
    #: Errors seen, by exception class name (transient and terminal).
    errors_by_class: dict[str, int] = field(default_factory=dict)
    #: Acknowledged batches by number of rows: ``{rows_in_batch: batches}``.
    batch_rows: dict[int, int] = field(default_factory=dict)

    def add(self, other: SinkStats) -> None:
        """Add another writer's counts to these."""
        self.rows += other.rows
        self.statements += other.statements
        self.batches += other.batches
        self.retries += other.retries
        self.split_batches += other.split_batches
        self.refused += other.refused
        for name, count in other.errors_by_class.items():
            self.errors_by_class[name] = self.errors_by_class.get(name, 0) + count
        for size, count in other.batch_rows.items():
            self.batch_rows[size] = self.batch_rows.get(size, 0) + count


@dataclass(frozen=True, slots=True)
class Binding:
    """One bind marker of the write statement and where its value comes from."""

    #: The source field that feeds it.
    field: str
    #: What errors call it: the target column, or ``TTL (field)`` / ``TIMESTAMP (field)``.
    label: str
    convert: Callable[[Any], Any]
    #: A primary key column: a null makes the row a bad record.
    key: bool = False
    #: What a null becomes (``UNSET_VALUE``: leave the cell alone; ``None``: write null).
    null: Any = UNSET_VALUE


@dataclass(slots=True)
class WritePlan:
    """Everything a slice writer needs, fixed by :meth:`CassandraSink.prepare`."""

    session: Any
    prepared: Any
    bindings: tuple[Binding, ...]
    #: ``batch_type`` of the batches (UNLOGGED; COUNTER for counter tables).
    batch_type: Any
    consistency: int | None
    batch_size: int
    max_batch_bytes: int
    attempts: int
    backoff: Backoff
    throttle: AimdThrottle
    gate: Gate
    table: str
    #: The session's per-request timeout (the driver answers every request within it).
    request_timeout: float
    #: Fields the sink was told to leave out (drift policy ignore_extra).
    ignored: frozenset[str] = frozenset()
    #: ``replica`` (batch whole partitions that have the same replicas), ``partition`` (batch
    #: the rows of one partition) or ``none`` (no batches).
    batch_mode: str = "replica"
    #: Partitions one batch may span (``replica`` mode).
    max_batch_partitions: int = 1
    #: The replicas of a routing key (the driver's ``Metadata.get_replicas`` for the table's
    #: keyspace), for ``batch_mode="replica"``.
    replicas: Callable[[bytes], Any] | None = None
    #: Prometheus series of the run (None: not observed).
    metrics: SinkObserver | None = None
    #: Column layouts of the chunks seen so far, by the chunk's column names.
    layouts: dict[tuple[str, ...], tuple[tuple[int, Callable[[Any], Any]], ...]] = field(
        default_factory=dict
    )

    def layout(self, columns: tuple[str, ...]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        """For each binding, the index of its field in ``columns`` and its converter."""
        found = self.layouts.get(columns)
        if found is not None:
            return found
        unknown = [c for c in columns if c not in self.ignored and c not in self._fields()]
        if unknown:
            raise CopyError(
                f"{self.table}: a chunk has field(s) {', '.join(unknown)} that the sink was not "
                f"prepared for (prepared: {', '.join(sorted(self._fields()))})"
            )
        pairs = []
        for binding in self.bindings:
            if binding.field in columns:
                pairs.append((columns.index(binding.field), binding.convert))
            elif binding.key:
                raise CopyError(
                    f"{self.table}: a chunk has no field {binding.field} for primary key "
                    f"column {binding.label} (its fields: {', '.join(columns)})"
                )
            else:  # a field some inputs lack (CSV files with fewer columns): leave cells alone
                pairs.append((0, _unset))
        layout = tuple(pairs)
        self.layouts[columns] = layout
        return layout

    def _fields(self) -> set[str]:
        return {b.field for b in self.bindings}


def _unset(_value: Any) -> Any:
    return UNSET_VALUE


class Gate:
    """The requests in flight of one sink, over all its writers, kept at or under the
    throttle's concurrency. Writers wait on :attr:`cond`; answers notify it."""

    def __init__(self, throttle: AimdThrottle) -> None:
        self.throttle = throttle
        self.cond = threading.Condition()
        self.in_flight = 0

    def try_enter(self) -> bool:
        """Count one more request in flight if the limit allows it."""
        with self.cond:
            if self.in_flight >= self.throttle.concurrency:
                return False
            self.in_flight += 1
            return True


class _Request:
    """One statement or batch on its way, and the chunk rows it carries."""

    __slots__ = ("attempt", "bounds", "rows", "sent_at", "statement")

    def __init__(self, statement: Any, rows: list[int], bounds: list[Any] | None) -> None:
        self.statement = statement
        self.rows = rows
        #: The bound statements of a batch (to split it); None for a single statement.
        self.bounds = bounds
        self.attempt = 0
        self.sent_at = 0.0


class CassandraSliceWriter:
    """Writes the chunks of one slice (see the module's theory of operation)."""

    def __init__(self, plan: WritePlan, slice_id: str, on_done: Callable[[SinkStats], None]):
        self.plan = plan
        self.slice_id = slice_id
        self._on_done = on_done
        self._inbox: list[tuple[_Request, BaseException | None, float]] = []
        self._sequence = itertools.count()

    def write(self, chunk: Chunk) -> WriteResult:
        """Write every row of the chunk, or refuse it as a bad record; raise on trouble that
        persists (:class:`RetryExhaustedError`) or that no row can cure (:class:`CopyError`)."""
        stats = SinkStats()
        bad: list[BadRecord] = []
        try:
            bounds = self._bind(chunk, bad)
            requests = self._group(bounds)
            self._send_all(requests, chunk, bad, stats)
        finally:
            self._on_done(stats)
        return WriteResult(written=len(chunk.rows) - len(bad), bad=bad)

    def commit(self) -> None:
        """Nothing to do: every write was acknowledged before ``write()`` returned."""

    def abort(self) -> None:
        """Nothing to undo: writes are idempotent upserts, redone when the slice is."""

    # --- convert and bind ----------------------------------------------------------------

    def _bind(self, chunk: Chunk, bad: list[BadRecord]) -> list[tuple[int, Any]]:
        plan = self.plan
        layout = plan.layout(chunk.columns)
        bindings = plan.bindings
        bind = plan.prepared.bind
        bound: list[tuple[int, Any]] = []
        append = bound.append
        for i, row in enumerate(chunk.rows):
            try:
                values = [convert(row[j]) for j, convert in layout]
            except ConversionError:
                bad.append(self._conversion_failure(chunk, i, layout))
                continue
            if None in values:
                refusal = _nulls(values, bindings)
                if refusal is not None:
                    bad.append(BadRecord(chunk.position(i), refusal, chunk.record(i), "convert"))
                    continue
            try:
                statement = bind(values)
            except (TypeError, ValueError, OverflowError, struct.error) as exc:
                # The converter let through a value the column's codec cannot serialize.
                bad.append(BadRecord(chunk.position(i), str(exc), chunk.record(i), "convert"))
                continue
            try:
                statement.routing_key  # noqa: B018 - computed now, so that a bad key fails here
            except struct.error:
                # A composite partition key serializes each component with a 2-byte length.
                reason = (
                    "the partition key is too large: a component of a composite partition key "
                    "is limited to 65535 bytes"
                )
                bad.append(BadRecord(chunk.position(i), reason, chunk.record(i), "convert"))
                continue
            append((i, statement))
        return bound

    def _conversion_failure(
        self, chunk: Chunk, index: int, layout: Sequence[tuple[int, Callable[[Any], Any]]]
    ) -> BadRecord:
        row = chunk.rows[index]
        for binding, (j, convert) in zip(self.plan.bindings, layout, strict=True):
            try:
                convert(row[j])
            except ConversionError as exc:
                reason = f"column {binding.label}: {exc}"
                return BadRecord(chunk.position(index), reason, chunk.record(index), "convert")
        raise AssertionError("a converter failed once and not again")  # converters are pure

    # --- group ---------------------------------------------------------------------------

    def _group(self, bound: list[tuple[int, Any]]) -> list[_Request]:
        plan = self.plan
        if plan.batch_size <= 1 or plan.batch_mode == "none":
            return [_Request(b, [i], None) for i, b in bound]
        partitions: dict[bytes, list[tuple[int, Any]]] = {}
        requests: list[_Request] = []
        for item in bound:
            key = item[1].routing_key
            if key is None:  # no routing key known: nothing to group by
                requests.append(_Request(item[1], [item[0]], None))
                continue
            group = partitions.get(key)
            if group is None:
                partitions[key] = [item]
            else:
                group.append(item)
        if plan.batch_mode == "partition" or plan.replicas is None:
            for group in partitions.values():
                requests.extend(self._batches([group]))
            return requests
        # Whole partitions whose replicas are the same set go together; with no token map
        # yet (replicas unknown), a partition stays alone.
        by_replicas: dict[Any, list[list[tuple[int, Any]]]] = {}
        replicas = plan.replicas
        for key, group in partitions.items():
            owners = frozenset(replicas(key)) or key
            found = by_replicas.get(owners)
            if found is None:
                by_replicas[owners] = [group]
            else:
                found.append(group)
        for groups in by_replicas.values():
            requests.extend(self._batches(groups))
        return requests

    def _batches(self, partitions: list[list[tuple[int, Any]]]) -> list[_Request]:
        """Pack the rows of ``partitions`` (each a list of rows, sent in order) into batches of
        at most ``batch_size`` rows, ``max_batch_bytes`` and ``max_batch_partitions``."""
        plan = self.plan
        requests: list[_Request] = []
        rows: list[int] = []
        members: list[Any] = []
        size = 0
        spanned = 0
        for group in partitions:
            first = True
            for index, statement in group:
                nbytes = _mutation_bytes(statement)
                full = (
                    len(members) >= plan.batch_size
                    or size + nbytes > plan.max_batch_bytes
                    or (first and spanned >= plan.max_batch_partitions)
                )
                if members and full:
                    requests.append(self._request(rows, members))
                    rows, members, size, spanned = [], [], 0, 0
                if first or not members:  # a partition starts, or goes on in a new batch
                    spanned += 1
                first = False
                rows.append(index)
                members.append(statement)
                size += nbytes
        if members:
            requests.append(self._request(rows, members))
        return requests

    def _request(self, rows: list[int], members: list[Any]) -> _Request:
        if len(members) == 1:
            return _Request(members[0], rows, None)
        batch = BatchStatement(batch_type=self.plan.batch_type)
        if self.plan.consistency is not None:
            batch.consistency_level = self.plan.consistency
        for statement in members:
            batch.add(statement)
        return _Request(batch, rows, members)

    # --- send and settle -----------------------------------------------------------------

    def _send_all(
        self, requests: list[_Request], chunk: Chunk, bad: list[BadRecord], stats: SinkStats
    ) -> None:
        plan = self.plan
        gate = plan.gate
        ready = deque(requests)
        delayed: list[tuple[float, int, _Request]] = []
        outstanding = 0
        failure: BaseException | None = None
        stall = plan.request_timeout + _STALL_MARGIN
        last_activity = time.monotonic()
        while True:
            with gate.cond:
                inbox, self._inbox = self._inbox, []
            now = time.monotonic()
            if inbox:
                last_activity = now
            metrics = plan.metrics
            for request, error, latency in inbox:
                outstanding -= 1
                if metrics is not None:
                    metrics.write_seconds.observe(latency)
                if error is None:
                    plan.throttle.on_success(latency)
                    _count_success(request, stats)
                    if metrics is not None:
                        metrics.batch_rows.observe(len(request.rows))
                elif failure is None:
                    failure = self._settle(request, error, ready, delayed, chunk, bad, stats)
            if metrics is not None and inbox:
                metrics.in_flight.set(gate.in_flight)
            if failure is not None:
                if outstanding == 0:
                    raise failure
            else:
                while delayed and delayed[0][0] <= now:
                    ready.append(heapq.heappop(delayed)[2])
                if not ready and not delayed and outstanding == 0:
                    return
                while ready and gate.try_enter():
                    self._send(ready.popleft())
                    outstanding += 1
                    last_activity = time.monotonic()
            if metrics is not None:
                metrics.in_flight.set(gate.in_flight)
            with gate.cond:
                if self._inbox:
                    continue
                if outstanding and time.monotonic() - last_activity > stall:
                    raise TransientError(
                        f"{plan.table}: no answer from Cassandra for {stall:.0f} s with "
                        f"{outstanding} requests in flight"
                    )
                gate.cond.wait(_wait_time(delayed, stall))

    def _send(self, request: _Request) -> None:
        plan = self.plan
        delay = plan.throttle.acquire_rows(len(request.rows))
        if delay > 0:
            time.sleep(delay)  # the rate cap: this writer owns the wait
        request.sent_at = time.monotonic()
        try:
            future = plan.session.execute_async(request.statement, execution_profile=WRITE_PROFILE)
        except Exception as exc:  # refused before it left (no host, closed session)
            self._answer(request, exc)
            return
        future.add_callbacks(
            self._on_success, self._on_error, callback_args=(request,), errback_args=(request,)
        )

    def _on_success(self, _rows: Any, request: _Request) -> None:
        self._answer(request, None)

    def _on_error(self, error: BaseException, request: _Request) -> None:
        self._answer(request, error)

    def _answer(self, request: _Request, error: BaseException | None) -> None:
        # Runs on the driver's event loop thread: hand over and get out of the way.
        latency = time.monotonic() - request.sent_at
        gate = self.plan.gate
        with gate.cond:
            gate.in_flight -= 1
            self._inbox.append((request, error, latency))
            gate.cond.notify_all()

    def _settle(
        self,
        request: _Request,
        error: BaseException,
        ready: deque[_Request],
        delayed: list[tuple[float, int, _Request]],
        chunk: Chunk,
        bad: list[BadRecord],
        stats: SinkStats,
    ) -> BaseException | None:
        """Deal with a failed request; returns the error that must end the write, if any."""
        plan = self.plan
        name = type(error).__name__
        stats.errors_by_class[name] = stats.errors_by_class.get(name, 0) + 1
        error_class = classify_error(error)
        if plan.metrics is not None:
            plan.metrics.error(error_class.value, name)
        if error_class is ErrorClass.TRANSIENT:
            plan.throttle.on_distress()
            request.attempt += 1
            if request.attempt >= plan.attempts:
                exhausted = RetryExhaustedError(plan.attempts, error)
                exhausted.__cause__ = error
                return exhausted
            stats.retries += 1
            if plan.metrics is not None:
                plan.metrics.retries.inc()
            due = time.monotonic() + plan.backoff.delay(request.attempt - 1)
            heapq.heappush(delayed, (due, next(self._sequence), request))
            return None
        if not isinstance(error, InvalidRequest):
            failure = CopyError(
                f"{plan.table}: Cassandra refused {_statement_text(request)}: {error}"
            )
            failure.__cause__ = error
            return failure
        if request.bounds is not None:
            # One row spoils the whole batch; single statements tell the good rows from it.
            stats.split_batches += 1
            for index, statement in zip(request.rows, request.bounds, strict=True):
                ready.append(_Request(statement, [index], None))
            return None
        index = request.rows[0]
        reason = f"Cassandra refused the row: {getattr(error, 'message', None) or error}"
        bad.append(BadRecord(chunk.position(index), reason, chunk.record(index), "write"))
        stats.refused += 1
        return None


def _nulls(values: list[Any], bindings: tuple[Binding, ...]) -> str | None:
    """Replace the nulls of ``values`` by what each binding makes of them; the reason the row
    is refused when a primary key column is null."""
    for k, value in enumerate(values):
        if value is None:
            binding = bindings[k]
            if binding.key:
                return f"primary key column {binding.label} is null"
            values[k] = binding.null
    return None


def _mutation_bytes(statement: Any) -> int:
    """A bound row's share of a batch's size as Cassandra measures it against
    ``batch_size_warn_threshold``: its cells' values plus 8 bytes of timestamp per cell and 8
    for the row's liveness (the key's values are counted too: an overestimate, never under)."""
    return 8 + sum(8 + len(v) for v in statement.values if v.__class__ is bytes)


def _count_success(request: _Request, stats: SinkStats) -> None:
    rows = len(request.rows)
    stats.rows += rows
    if request.bounds is None:
        stats.statements += 1
    else:
        stats.batches += 1
        stats.batch_rows[rows] = stats.batch_rows.get(rows, 0) + 1


def _wait_time(delayed: list[tuple[float, int, _Request]], stall: float) -> float:
    """How long to wait for an answer (ours, or another writer's freeing the gate): until
    the next retry is due, within the stall bound."""
    if delayed:
        return max(0.0, min(delayed[0][0] - time.monotonic(), stall))
    return stall


def _statement_text(request: _Request) -> str:
    statement = request.statement
    if request.bounds is not None:
        statement = request.bounds[0]
    prepared = getattr(statement, "prepared_statement", None)
    return repr(prepared.query_string) if prepared is not None else repr(statement)
