"""Simulated compaction, so that compaction-aware sensors can be tested end to end.

Writes fill a table's memtable; every ``flush_cells`` cells written to a table count as one
flushed sstable. Once a table has ``min_threshold`` (4, SizeTieredCompactionStrategy's
default) uncompacted sstables, a compaction of them is queued. Up to ``concurrent_compactors``
compactions run at once, each taking ``seconds_per_compaction``; then queued ones start.
Nothing really happens to the data: this only drives ``system_views.sstable_tasks`` and the
CompactionExecutor row of ``system_views.thread_pools`` the way a busy node would, and drains
over (injectable) time.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cassflow.devserver._system_tables import CompactionState, CompactionTask

#: Cells per simulated flush: small enough that a test writing a few thousand rows sees work.
DEFAULT_FLUSH_CELLS = 10_000
DEFAULT_MIN_THRESHOLD = 4
DEFAULT_SECONDS_PER_COMPACTION = 2.0
_BYTES_PER_CELL = 64


@dataclass(slots=True)
class _Running:
    keyspace: str
    table: str
    task_id: uuid.UUID
    started: float
    total: int


@dataclass(slots=True)
class CompactionSimulator:
    """Counts writes per table and turns them into pending and running compactions."""

    flush_cells: int = DEFAULT_FLUSH_CELLS
    min_threshold: int = DEFAULT_MIN_THRESHOLD
    seconds_per_compaction: float = DEFAULT_SECONDS_PER_COMPACTION
    concurrent_compactors: int = 2
    clock: Callable[[], float] = time.monotonic
    _unflushed: dict[tuple[str, str], int] = field(default_factory=dict)
    _sstables: dict[tuple[str, str], int] = field(default_factory=dict)
    _queue: deque[tuple[str, str]] = field(default_factory=deque)
    _running: list[_Running] = field(default_factory=list)
    _completed: int = 0

    def record_writes(self, keyspace: str, table: str, cells: int) -> None:
        """Note ``cells`` cells written to ``keyspace.table``."""
        key = (keyspace, table)
        total = self._unflushed.get(key, 0) + cells
        flushes, self._unflushed[key] = divmod(total, self.flush_cells)
        if not flushes:
            return
        self._sstables[key] = self._sstables.get(key, 0) + flushes
        while self._sstables[key] >= self.min_threshold:
            self._sstables[key] -= self.min_threshold - 1  # n sstables compact into one
            self._queue.append(key)
        self._advance()

    def forget(self, keyspace: str, table: str | None = None) -> None:
        """Drop the work of a dropped (or truncated) table or keyspace."""

        def gone(key: tuple[str, str]) -> bool:
            return key[0] == keyspace and (table is None or key[1] == table)

        self._queue = deque(k for k in self._queue if not gone(k))
        self._running = [r for r in self._running if not gone((r.keyspace, r.table))]
        for store in (self._unflushed, self._sstables):
            for key in [k for k in store if gone(k)]:
                del store[key]

    def _advance(self) -> None:
        now = self.clock()
        # Finish what is done, and start queued work in the freed slots at the time the slot
        # freed up, so that draining does not depend on how often somebody looks.
        changed = True
        while changed:
            changed = False
            for task in sorted(self._running, key=lambda r: r.started):
                finished_at = task.started + self.seconds_per_compaction
                if finished_at <= now:
                    self._running.remove(task)
                    self._completed += 1
                    self._start_next(finished_at)
                    changed = True
                    break
        while self._queue and len(self._running) < self.concurrent_compactors:
            self._start_next(now)

    def _start_next(self, at: float) -> None:
        if not self._queue or len(self._running) >= self.concurrent_compactors:
            return
        keyspace, table = self._queue.popleft()
        total = self.flush_cells * self.min_threshold * _BYTES_PER_CELL
        self._running.append(_Running(keyspace, table, uuid.uuid1(), at, total))

    def state(self) -> CompactionState:
        """What system_views shows right now."""
        self._advance()
        now = self.clock()
        active = tuple(
            CompactionTask(
                keyspace=r.keyspace,
                table=r.table,
                task_id=r.task_id,
                progress=min(
                    r.total, int(r.total * (now - r.started) / self.seconds_per_compaction)
                ),
                total=r.total,
            )
            for r in self._running
        )
        pending: dict[tuple[str, str], int] = {}
        for key in self._queue:
            pending[key] = pending.get(key, 0) + 1
        return CompactionState(
            active=active,
            pending=pending,
            completed=self._completed,
            concurrent_compactors=self.concurrent_compactors,
        )
