"""Checkpoints: what each slice of a run has done, so that ``--resume RUN_ID`` redoes only
what did not finish.

A run is planned into slices (token ranges, file chunks, SQL key ranges), each identified by
a stable ``slice_id`` and described by a JSON-able ``spec``. Every state change is one
committed transaction, so a run killed at any point leaves each slice either DONE (its
writes finished and were counted) or not, never half-recorded. Resuming reads the plan back,
checks that the new plan is the same one (a changed source would make "done" meaningless),
and hands out the slices that are not DONE; their writes are idempotent upserts, so redoing
a slice that was cut short duplicates nothing.

The default store is a SQLite file (``.cassflow/checkpoints.sqlite3``); a shared store in a
Cassandra table, for runs spread over several workers, implements the same protocol.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from cassflow.errors import CassflowError


class CheckpointError(CassflowError):
    """A checkpoint cannot be used: unknown run, a different plan, a store from the future."""


class SliceState(StrEnum):
    """Where a slice is."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SliceCounts:
    """What a slice did: read = written + quarantined + skipped, always."""

    read: int = 0
    written: int = 0
    quarantined: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        if self.read != self.written + self.quarantined + self.skipped:
            raise CheckpointError(
                f"slice counts do not add up: read {self.read} != written {self.written} + "
                f"quarantined {self.quarantined} + skipped {self.skipped}"
            )


@dataclass(frozen=True, slots=True)
class SliceRecord:
    """One slice as the store knows it."""

    slice_id: str
    spec: Mapping[str, Any]
    state: SliceState
    attempts: int
    counts: SliceCounts
    error: str | None


def plan_entries(
    run_id: str, plan: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[tuple[str, str]]:
    """The plan as ``(slice_id, spec as canonical JSON)`` pairs; refuses repeated slice ids."""
    ids = [slice_id for slice_id, _ in plan]
    if len(set(ids)) != len(ids):
        raise CheckpointError(f"run {run_id}: slice ids are not unique")
    return [(slice_id, json.dumps(spec, sort_keys=True)) for slice_id, spec in plan]


def plan_digest(entries: Sequence[tuple[str, str]]) -> str:
    """A SHA-256 of a whole plan (from :func:`plan_entries`): equal exactly for equal plans."""
    return hashlib.sha256(json.dumps(list(entries)).encode()).hexdigest()


def planned_differently(run_id: str) -> CheckpointError:
    """The error of a resumed run whose plan is not the recorded one."""
    return CheckpointError(
        f"run {run_id} was planned differently (the source or the options "
        "changed); start a new run instead of resuming this one"
    )


def slice_record(
    slice_id: str,
    spec: str,
    state: str | None,
    attempts: int | None,
    read: int | None,
    written: int | None,
    quarantined: int | None,
    skipped: int | None,
    error: str | None,
) -> SliceRecord:
    """A record from a stored row; unset state and counts (a slice never started) are
    PENDING and zero."""
    return SliceRecord(
        slice_id=slice_id,
        spec=json.loads(spec),
        state=SliceState(state) if state is not None else SliceState.PENDING,
        attempts=attempts or 0,
        counts=SliceCounts(
            read=read or 0, written=written or 0, quarantined=quarantined or 0, skipped=skipped or 0
        ),
        error=error,
    )


def new_run_id() -> str:
    """A sortable, unique run id: UTC time and 6 random hex digits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def generations(store: CheckpointStore, run_id: str) -> tuple[str, str]:
    """(the latest recorded generation of ``run_id``, the next one): a run id run again after
    it finished is run as ``<run id>.r2``, then ``.r3``, ... (the first generation is
    ``run_id`` itself, recorded or not)."""
    latest, number = run_id, 2
    while recorded(store, f"{run_id}.r{number}"):
        latest, number = f"{run_id}.r{number}", number + 1
    return latest, f"{run_id}.r{number}"


def recorded(store: CheckpointStore, run_id: str) -> bool:
    """Whether ``store`` holds a run (or an activity of one) under ``run_id``."""
    try:
        store.slices(run_id)
    except CheckpointError:
        return False
    return True


def finished(store: CheckpointStore, run_id: str) -> bool:
    """Whether every slice of ``run_id`` is DONE (False for a run not recorded)."""
    try:
        slices = store.slices(run_id)
    except CheckpointError:
        return False
    return bool(slices) and all(s.state is SliceState.DONE for s in slices)


class CheckpointStore(Protocol):
    """What the copy engine needs from a checkpoint store."""

    @property
    def location(self) -> str:
        """Where the store is, for messages (a file, a table)."""

    def begin(self, run_id: str, plan: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Record a new run's plan, or check a resumed run's plan is the same."""

    def remaining(self, run_id: str) -> list[SliceRecord]:
        """Slices not DONE, in plan order."""

    def slices(self, run_id: str) -> list[SliceRecord]:
        """Every slice of the run, in plan order."""

    def start(self, run_id: str, slice_id: str) -> int:
        """Mark a slice RUNNING; returns its attempt number (1 for the first)."""

    def finish(self, run_id: str, slice_id: str, counts: SliceCounts) -> None:
        """Mark a slice DONE with its counts."""

    def fail(self, run_id: str, slice_id: str, error: str) -> None:
        """Mark a slice FAILED with the error text (kept beside it, as dlt keeps job errors)."""

    def close(self) -> None:
        """Release what the store holds (not a session it was given)."""


_SCHEMA_VERSION = 1


class SqliteCheckpointStore:
    """The default store: one SQLite file (WAL), safe for the threads of one process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a checkpoint must survive a power cut
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS slices (run_id TEXT NOT NULL, position INTEGER NOT NULL,"
            " slice_id TEXT NOT NULL, spec TEXT NOT NULL, state TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, read INTEGER NOT NULL DEFAULT 0,"
            " written INTEGER NOT NULL DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0,"
            " skipped INTEGER NOT NULL DEFAULT 0, error TEXT, updated REAL NOT NULL,"
            " PRIMARY KEY (run_id, slice_id))"
        )
        row = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('version', ?)", (str(_SCHEMA_VERSION),))
        elif int(row[0]) > _SCHEMA_VERSION:
            raise CheckpointError(f"{self.path}: written by a newer cassflow (v{row[0]})")

    @property
    def location(self) -> str:
        """The file, for messages."""
        return str(self.path)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def begin(self, run_id: str, plan: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Record ``plan`` for a new run, or check it against the stored one when resuming."""
        entries = plan_entries(run_id, plan)
        with self._transaction() as db:
            stored = db.execute(
                "SELECT slice_id, spec FROM slices WHERE run_id = ? ORDER BY position", (run_id,)
            ).fetchall()
            if stored:
                if [(s, p) for s, p in stored] != entries:
                    raise planned_differently(run_id)
                return
            now = time.time()
            db.executemany(
                "INSERT INTO slices (run_id, position, slice_id, spec, state, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, position, slice_id, spec, SliceState.PENDING, now)
                    for position, (slice_id, spec) in enumerate(entries)
                ],
            )

    def _records(self, run_id: str, where: str = "") -> list[SliceRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT slice_id, spec, state, attempts, read, written, quarantined, skipped,"
                f" error FROM slices WHERE run_id = ? {where} ORDER BY position",
                (run_id,),
            ).fetchall()
        return [slice_record(*r) for r in rows]

    def slices(self, run_id: str) -> list[SliceRecord]:
        """Every slice of the run, in plan order."""
        records = self._records(run_id)
        if not records:
            raise CheckpointError(f"no run {run_id} in {self.location}")
        return records

    def remaining(self, run_id: str) -> list[SliceRecord]:
        """The slices a resumed run still has to do (everything not DONE), in plan order."""
        self.slices(run_id)  # refuses unknown runs
        return self._records(run_id, "AND state != 'done'")

    def _update(self, run_id: str, slice_id: str, sql: str, params: tuple[Any, ...]) -> None:
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE slices SET {sql}, updated = ? WHERE run_id = ? AND slice_id = ?",
                (*params, time.time(), run_id, slice_id),
            )
            if cursor.rowcount != 1:
                raise CheckpointError(f"run {run_id} has no slice {slice_id}")

    def start(self, run_id: str, slice_id: str) -> int:
        """Mark a slice RUNNING; returns its attempt number."""
        self._update(
            run_id,
            slice_id,
            "state = ?, attempts = attempts + 1, error = NULL",
            (SliceState.RUNNING,),
        )
        with self._lock:
            row = self._db.execute(
                "SELECT attempts FROM slices WHERE run_id = ? AND slice_id = ?", (run_id, slice_id)
            ).fetchone()
        return int(row[0])

    def finish(self, run_id: str, slice_id: str, counts: SliceCounts) -> None:
        """Mark a slice DONE with its counts."""
        self._update(
            run_id,
            slice_id,
            "state = ?, read = ?, written = ?, quarantined = ?, skipped = ?, error = NULL",
            (SliceState.DONE, counts.read, counts.written, counts.quarantined, counts.skipped),
        )

    def fail(self, run_id: str, slice_id: str, error: str) -> None:
        """Mark a slice FAILED, keeping the error text beside it."""
        self._update(run_id, slice_id, "state = ?, error = ?", (SliceState.FAILED, error))
