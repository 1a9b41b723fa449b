"""The shared checkpoint store: one Cassandra table, for runs whose slices several workers do.

Layout: one partition per run, one row per slice in plan order (``position``), so reading a
run is one single-partition query::

    (run_id text, position int, slice_id text, spec text, state text, attempts int,
     read bigint, written bigint, quarantined bigint, skipped bigint, error text,
     updated timestamp, PRIMARY KEY ((run_id), position))

Agreeing on the plan. Several workers may begin the same run at once. The row at position
-1 is the plan's header: a SHA-256 of the whole plan, written with a lightweight transaction
(``INSERT ... IF NOT EXISTS``, Paxos at SERIAL), so exactly one plan is ever recorded for a
run; a worker whose insert is not applied reads the header back at SERIAL and refuses a plan
with another digest. Then *every* worker whose plan matches writes the slice rows it does not
see yet. Those inserts carry only the immutable columns (``slice_id``, ``spec``): a slice row
without a state is PENDING, so a late insert of a row that another worker has meanwhile
started or finished changes nothing, and no worker leaves ``begin`` before the whole plan is
stored at the store's consistency (a winner that died half-way is completed by the next).

State changes are plain writes at the store's consistency (LOCAL_QUORUM by default, so that a
resume on another worker reads what was done). The runner gives a slice to one worker at a
time, so no two writers race on one slice row and no conditional UPDATE is needed: ``start``
counts attempts by reading the row and writing the next number. Every request is retried on
transient errors (:func:`cassflow.copy._retry.retry`); all of them are idempotent except the
header's insert, whose repetition is harmless (a second try that finds our own header sees
the same digest). Write timestamps are the driver's (client-side), so the workers' clocks must
be synchronised (NTP), as for any Cassandra clients writing the same rows.

Create the table before a distributed run starts (the planner's store, or ``cassflow``'s
first run, does it with ``create=True``): concurrent ``CREATE TABLE IF NOT EXISTS`` of one
table on several coordinators is unsafe on Cassandra before 5.0's transactional metadata.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.metadata import protect_name
from cassandra.query import PreparedStatement

from cassflow.copy._checkpoint import (
    CheckpointError,
    SliceCounts,
    SliceRecord,
    SliceState,
    plan_digest,
    plan_entries,
    planned_differently,
    slice_record,
)
from cassflow.copy._connect import consistency_level
from cassflow.copy._model import CopyError
from cassflow.copy._retry import Backoff, retry

T = TypeVar("T")

#: The header row's position (before every slice) and its slice_id.
_HEADER = -1
_HEADER_ID = ""
#: Version of the layout; a header written by a newer cassflow is refused.
_FORMAT = 1
#: Tries of each request on transient errors, and the waits between them.
_ATTEMPTS = 5
_BACKOFF = Backoff(base=0.2, cap=5.0)
#: Slice rows inserted at once when a plan is recorded.
_INSERT_CONCURRENCY = 32
#: Seconds to wait for the nodes to agree on the schema after creating the table.
_SCHEMA_AGREEMENT_WAIT = 30.0

_COLUMNS = (
    "run_id text, position int, slice_id text, spec text, state text, attempts int, "
    "read bigint, written bigint, quarantined bigint, skipped bigint, error text, "
    "updated timestamp, PRIMARY KEY ((run_id), position)"
)
_RECORD = "position, slice_id, spec, state, attempts, read, written, quarantined, skipped, error"


class CassandraCheckpointStore:
    """Checkpoints in the Cassandra table ``keyspace.table``, shared by every worker of a run.

    ``session`` stays the caller's (``close`` does not shut it down). The keyspace must exist;
    the table is created when missing if ``create`` is set. ``consistency`` is the level of
    every read and write (the plan header's transaction runs at SERIAL).
    """

    def __init__(
        self,
        session: Session,
        keyspace: str,
        table: str = "cassflow_checkpoints",
        *,
        create: bool = True,
        consistency: str = "LOCAL_QUORUM",
    ) -> None:
        self._session = session
        self.keyspace = keyspace
        self.table = table
        try:
            self._consistency = consistency_level(consistency)
        except CopyError as exc:
            raise CheckpointError(f"{self.location}: {exc}") from None
        if self._consistency in (ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL):
            raise CheckpointError(
                f"{self.location}: {consistency} is for reads of transactions only; "
                "use LOCAL_QUORUM or QUORUM"
            )
        self._lock = threading.Lock()
        #: run id -> slice id -> position, learnt from the plan (begin) or a read (slices).
        self._positions: dict[str, dict[str, int]] = {}
        self._check_keyspace()
        self._name = f"{protect_name(keyspace)}.{protect_name(table)}"
        if create:
            self._create_table()
        self._prepare_all()

    @property
    def location(self) -> str:
        """The table, for messages."""
        return f"Cassandra table {self.keyspace}.{self.table}"

    def close(self) -> None:
        """Forget what this store learnt; the session is the caller's to shut down."""
        with self._lock:
            self._positions.clear()

    # --- setting up ----------------------------------------------------------------------

    def _check_keyspace(self) -> None:
        cluster = self._session.cluster
        if self.keyspace in cluster.metadata.keyspaces:
            return
        # Perhaps created by another client a moment ago: read the schema again first.
        self._retry(cluster.refresh_schema_metadata)
        if self.keyspace not in cluster.metadata.keyspaces:
            raise CheckpointError(
                f"{self.location}: keyspace {self.keyspace} does not exist; create it first "
                "(the checkpoint store creates only its table)"
            )

    def _create_table(self) -> None:
        statement = f"CREATE TABLE IF NOT EXISTS {self._name} ({_COLUMNS})"
        try:
            self._retry(lambda: self._session.execute(statement))
        except InvalidRequest as exc:
            raise CheckpointError(f"{self.location}: cannot create the table: {exc}") from exc
        agreed = self._retry(
            lambda: self._session.cluster.control_connection.wait_for_schema_agreement(
                wait_time=_SCHEMA_AGREEMENT_WAIT
            )
        )
        if not agreed:
            raise CheckpointError(
                f"{self.location}: the nodes did not agree on the schema within "
                f"{_SCHEMA_AGREEMENT_WAIT:.0f} s after creating the table; check that every "
                "node is up, then run again"
            )

    def _prepare_all(self) -> None:
        name = self._name
        try:
            self._insert_header = self._prepare(
                f"INSERT INTO {name} (run_id, position, slice_id, spec, state, updated)"
                " VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
                idempotent=False,
            )
            self._insert_header.serial_consistency_level = ConsistencyLevel.SERIAL
            self._read_header = self._prepare(
                f"SELECT spec FROM {name} WHERE run_id = ? AND position = ?"
            )
            # A linearizable read: it sees the header whichever transaction wrote it.
            self._read_header.consistency_level = ConsistencyLevel.SERIAL
            self._insert_slice = self._prepare(
                f"INSERT INTO {name} (run_id, position, slice_id, spec) VALUES (?, ?, ?, ?)"
            )
            self._select_run = self._prepare(f"SELECT {_RECORD} FROM {name} WHERE run_id = ?")
            self._select_attempts = self._prepare(
                f"SELECT slice_id, attempts FROM {name} WHERE run_id = ? AND position = ?"
            )
            where = " WHERE run_id = ? AND position = ?"
            self._update_start = self._prepare(
                f"UPDATE {name} SET state = ?, attempts = ?, error = null, updated = ?" + where
            )
            self._update_finish = self._prepare(
                f"UPDATE {name} SET state = ?, read = ?, written = ?, quarantined = ?,"
                " skipped = ?, error = null, updated = ?" + where
            )
            self._update_fail = self._prepare(
                f"UPDATE {name} SET state = ?, error = ?, updated = ?" + where
            )
        except InvalidRequest as exc:
            raise CheckpointError(
                f"{self.location} cannot be used as a checkpoint table (missing, or not made "
                f"by cassflow; create=True creates it): {exc}"
            ) from exc

    def _prepare(self, text: str, *, idempotent: bool = True) -> PreparedStatement:
        statement: PreparedStatement = self._retry(lambda: self._session.prepare(text))
        statement.consistency_level = self._consistency
        statement.is_idempotent = idempotent
        return statement

    # --- requests ------------------------------------------------------------------------

    def _retry(self, call: Callable[[], T]) -> T:
        return retry(call, attempts=_ATTEMPTS, backoff=_BACKOFF)

    def _execute(self, statement: PreparedStatement, params: Sequence[Any]) -> list[Any]:
        return self._retry(
            lambda: [_values(row) for row in self._session.execute(statement, params)]
        )

    def _rows(self, run_id: str) -> tuple[dict[str, Any] | None, list[tuple[Any, ...]]]:
        """The run's header (parsed) and its slice rows, in plan order."""
        header: dict[str, Any] | None = None
        rows = []
        for row in self._execute(self._select_run, (run_id,)):
            if row[0] == _HEADER:
                header = self._parse_header(run_id, row[2])
            elif row[0] >= 0:
                rows.append(row)
        return header, rows

    def _parse_header(self, run_id: str, text: str) -> dict[str, Any]:
        try:
            header = json.loads(text)
            version, digest, count = header["format"], header["sha256"], header["slices"]
        except (ValueError, TypeError, KeyError):
            raise CheckpointError(
                f"{self.location}: the plan header of run {run_id} is not cassflow's"
            ) from None
        if not isinstance(version, int) or version > _FORMAT:
            raise CheckpointError(
                f"{self.location}: run {run_id} was written by a newer cassflow (v{version})"
            )
        return {"format": version, "sha256": digest, "slices": count}

    # --- the protocol --------------------------------------------------------------------

    def begin(self, run_id: str, plan: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Record ``plan`` for a new run, or check it against the recorded one; safe to call
        from several workers at once (one plan wins, a different one is refused)."""
        entries = plan_entries(run_id, plan)
        digest = plan_digest(entries)
        header = json.dumps({"format": _FORMAT, "sha256": digest, "slices": len(entries)})
        applied = self._retry(
            lambda: (
                self._session.execute(
                    self._insert_header, (run_id, _HEADER, _HEADER_ID, header, "plan", _now())
                ).was_applied
            )
        )
        if not applied:
            found = self._execute(self._read_header, (run_id, _HEADER))
            if not found:
                raise CheckpointError(
                    f"{self.location}: the plan header of run {run_id} vanished while it was "
                    "being checked (was the run deleted?)"
                )
            if self._parse_header(run_id, found[0][0])["sha256"] != digest:
                raise planned_differently(run_id)
        _, rows = self._rows(run_id)
        stored = {row[0]: (row[1], row[2]) for row in rows}
        if any(position >= len(entries) for position in stored):
            raise planned_differently(run_id)
        missing = []
        for position, entry in enumerate(entries):
            if position not in stored:
                missing.append((run_id, position, *entry))
            elif stored[position] != entry:
                raise planned_differently(run_id)
        if missing:
            self._retry(
                lambda: execute_concurrent_with_args(
                    self._session,
                    self._insert_slice,
                    missing,
                    concurrency=_INSERT_CONCURRENCY,
                    raise_on_first_error=True,
                )
            )
        with self._lock:
            self._positions[run_id] = {slice_id: n for n, (slice_id, _) in enumerate(entries)}

    def slices(self, run_id: str) -> list[SliceRecord]:
        """Every slice of the run, in plan order."""
        header, rows = self._rows(run_id)
        if not rows:
            raise CheckpointError(f"no run {run_id} in {self.location}")
        if header is not None and len(rows) != header["slices"]:
            raise CheckpointError(
                f"{self.location}: run {run_id} has {len(rows)} of its {header['slices']} "
                "slices recorded (its plan is being recorded, or that was cut short); "
                "begin the run again"
            )
        with self._lock:
            self._positions[run_id] = {row[1]: row[0] for row in rows}
        return [slice_record(*row[1:]) for row in rows]

    def remaining(self, run_id: str) -> list[SliceRecord]:
        """The slices a resumed run still has to do (everything not DONE), in plan order."""
        return [r for r in self.slices(run_id) if r.state is not SliceState.DONE]

    def _position(self, run_id: str, slice_id: str) -> int:
        with self._lock:
            position = self._positions.get(run_id, {}).get(slice_id)
        if position is None:  # a run this store did not begin, or a slice not in the plan
            _, rows = self._rows(run_id)
            known = {row[1]: row[0] for row in rows}
            if known:
                with self._lock:
                    self._positions[run_id] = known
            position = known.get(slice_id)
        if position is None:
            raise CheckpointError(f"run {run_id} has no slice {slice_id}")
        return int(position)

    def start(self, run_id: str, slice_id: str) -> int:
        """Mark a slice RUNNING; returns its attempt number.

        The count is read, then written: correct because one worker at a time works a slice.
        """
        position = self._position(run_id, slice_id)
        found = self._execute(self._select_attempts, (run_id, position))
        if not found or found[0][0] != slice_id:
            raise CheckpointError(f"run {run_id} has no slice {slice_id}")
        attempt = (found[0][1] or 0) + 1
        self._execute(
            self._update_start, (SliceState.RUNNING.value, attempt, _now(), run_id, position)
        )
        return int(attempt)

    def finish(self, run_id: str, slice_id: str, counts: SliceCounts) -> None:
        """Mark a slice DONE with its counts."""
        position = self._position(run_id, slice_id)
        self._execute(
            self._update_finish,
            (
                SliceState.DONE.value,
                counts.read,
                counts.written,
                counts.quarantined,
                counts.skipped,
                _now(),
                run_id,
                position,
            ),
        )

    def fail(self, run_id: str, slice_id: str, error: str) -> None:
        """Mark a slice FAILED, keeping the error text beside it."""
        position = self._position(run_id, slice_id)
        self._execute(self._update_fail, (SliceState.FAILED.value, error, _now(), run_id, position))


def _values(row: Any) -> tuple[Any, ...]:
    """A row as a tuple, whatever the session's row factory (tuples, named tuples, dicts)."""
    if isinstance(row, Mapping):
        return tuple(row.values())
    return tuple(row)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
