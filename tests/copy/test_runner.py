"""The runner's promises, with an in-memory source and a fault-injecting sink (the engine's
logic; the real sources and sinks have their own tests and the end-to-end tests use them).

Every run's report must add up, each bad record must be quarantined exactly once, a slice
redone after a failure must not duplicate rows, and a resumed run must not re-read the slices
that were done.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cassandra
import pytest

from cassflow.copy._checkpoint import SqliteCheckpointStore, new_run_id
from cassflow.copy._model import (
    BadRecord,
    Chunk,
    CopyError,
    Drift,
    DriftPolicy,
    Field,
    PlannedSlice,
    WriteResult,
)
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._retry import Backoff
from cassflow.copy._runner import CopyOptions, CopyRun


class MemorySource:
    """``slices`` x ``rows`` rows (id, value); values listed in ``unparsable`` fail to parse."""

    location = "memory://source"

    def __init__(self, slices: int = 4, rows: int = 50, unparsable: set[int] = frozenset()) -> None:
        self.data = {
            f"s{n}": [(n * rows + i, f"v{n * rows + i}") for i in range(rows)]
            for n in range(slices)
        }
        self.unparsable = unparsable
        self.reads: Counter[str] = Counter()
        self._lock = threading.Lock()

    def fields(self) -> list[Field]:
        return [Field("id", key=True), Field("value")]

    def plan(self, splits: int) -> list[PlannedSlice]:
        return [(name, {"name": name}) for name in self.data]

    def read(self, spec: Mapping[str, Any]) -> Iterator[Chunk]:
        with self._lock:
            self.reads[spec["name"]] += 1
        rows = self.data[spec["name"]]
        for start in range(0, len(rows), 10):
            chunk = Chunk(("id", "value"), "mem", lines=[])
            for row in rows[start : start + 10]:
                assert chunk.lines is not None
                if row[0] in self.unparsable:
                    chunk.bad.append(BadRecord(f"mem:{row[0]}", "unparsable", {"raw": row}))
                else:
                    chunk.rows.append(row)
                    chunk.lines.append(row[0])
            yield chunk

    def close(self) -> None:
        pass


class FaultySink:
    """An upserting dict; values in ``refused`` are refused per row; ``faults`` maps a slice
    id to the exceptions its next attempts raise halfway through."""

    location = "memory://sink"

    def __init__(self) -> None:
        self.table: dict[int, str] = {}
        self.writes = 0
        self.refused: set[int] = set()
        self.faults: dict[str, list[BaseException]] = {}
        self.prepared: list[str] = []
        self._lock = threading.Lock()

    def prepare(self, fields: Sequence[Field], policy: DriftPolicy) -> Drift:
        self.prepared = [f.name for f in fields]
        return Drift()

    def open_slice(self, slice_id: str) -> Writer:
        return Writer(self, slice_id)

    def close(self) -> None:
        pass


class Writer:
    def __init__(self, sink: FaultySink, slice_id: str) -> None:
        self.sink = sink
        self.slice_id = slice_id
        self.chunks = 0

    def write(self, chunk: Chunk) -> WriteResult:
        self.chunks += 1
        faults = self.sink.faults.get(self.slice_id)
        if faults and self.chunks == 3:
            raise faults.pop(0)
        bad = []
        written = 0
        with self.sink._lock:
            for i, row in enumerate(chunk.rows):
                key = row[chunk.columns.index("id")]
                if key in self.sink.refused:
                    bad.append(BadRecord(chunk.position(i), "refused", chunk.record(i), "write"))
                    continue
                self.sink.table[key] = row[chunk.columns.index("value")]
                self.sink.writes += 1
                written += 1
        return WriteResult(written, bad)

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _run(
    tmp_path: Path,
    source: MemorySource,
    sink: FaultySink,
    run_id: str,
    **options: Any,
) -> Any:
    store = SqliteCheckpointStore(tmp_path / "checkpoints.sqlite3")
    try:
        return CopyRun(
            source,
            sink,
            run_id=run_id,
            store=store,
            quarantine=Quarantine(tmp_path / "quarantine", run_id),
            options=CopyOptions(backoff=Backoff(base=0.001, cap=0.01), **options),
        ).execute()
    finally:
        store.close()


def _quarantined(report: Any) -> list[str]:
    return [
        json.loads(line)["source"]
        for path in report.quarantine_files
        for line in Path(path).read_text().splitlines()
    ]


def test_every_record_is_written_or_quarantined_once(tmp_path: Path) -> None:
    source = MemorySource(unparsable={3, 77})
    sink = FaultySink()
    sink.refused = {120}
    report = _run(tmp_path, source, sink, new_run_id())
    assert report.ok
    assert (report.counts.read, report.counts.written, report.counts.quarantined) == (200, 197, 3)
    assert sorted(_quarantined(report)) == ["mem:120", "mem:3", "mem:77"]
    assert len(sink.table) == 197
    assert json.loads(report.dumps())["rows"] == {
        "read": 200,
        "written": 197,
        "quarantined": 3,
        "skipped": 0,
    }


def test_a_transient_error_redoes_the_slice_without_duplicates(tmp_path: Path) -> None:
    source = MemorySource(unparsable={105})
    sink = FaultySink()
    sink.faults["s2"] = [
        cassandra.WriteTimeout("timed out", write_type=0),
        cassandra.OperationTimedOut(),
    ]
    report = _run(tmp_path, source, sink, new_run_id())
    assert report.ok
    assert source.reads["s2"] == 3
    assert report.retries == 2
    assert report.errors == {"OperationTimedOut": 1, "WriteTimeout": 1}
    assert report.counts.written == 199
    assert _quarantined(report) == ["mem:105"]  # once, although slice s2 was read three times
    assert len(sink.table) == 199


def test_a_terminal_error_stops_the_run_and_resume_redoes_only_unfinished_slices(
    tmp_path: Path,
) -> None:
    run_id = new_run_id()
    source = MemorySource(slices=6)
    sink = FaultySink()
    sink.faults["s3"] = [cassandra.InvalidRequest("no such column")]
    first = _run(tmp_path, source, sink, run_id, workers=1)
    assert not first.complete
    assert first.failure == "InvalidRequest: no such column"
    assert first.slices == {"done": 3, "failed": 1, "pending": 2}
    assert (first.resumed_slices, first.slices_run) == (0, 4)
    assert f"--resume {run_id}" in first.summary()

    again = MemorySource(slices=6)
    second = _run(tmp_path, again, sink, run_id, workers=1)
    assert second.ok
    assert sorted(again.reads) == ["s3", "s4", "s5"]
    assert (second.resumed_slices, second.slices_run) == (3, 3)
    assert "3 slices already done, 3 run now" in second.summary()
    assert (second.counts.read, second.counts.written) == (300, 300)
    assert sorted(sink.table) == list(range(300))


def test_exhausted_slice_attempts_fail_the_run(tmp_path: Path) -> None:
    sink = FaultySink()
    sink.faults["s0"] = [cassandra.WriteTimeout("t", write_type=0) for _ in range(5)]
    report = _run(tmp_path, MemorySource(slices=1), sink, new_run_id(), slice_attempts=3)
    assert not report.complete
    assert report.failure is not None
    assert report.failure.startswith("WriteTimeout: t")
    assert report.retries == 2


def test_the_error_budget_stops_the_run_cleanly(tmp_path: Path) -> None:
    source = MemorySource(slices=4, unparsable=set(range(0, 200, 3)))
    report = _run(tmp_path, source, FaultySink(), new_run_id(), max_errors=10, workers=1)
    assert not report.ok
    assert report.failure is not None
    assert "more than max_errors (10)" in report.failure
    # The report covers the slices that finished, and still adds up.
    assert report.counts.read == report.counts.written + report.counts.quarantined


def test_an_error_ratio_is_judged_over_the_whole_run(tmp_path: Path) -> None:
    few = MemorySource(slices=4, unparsable={1, 2})
    assert _run(tmp_path, few, FaultySink(), new_run_id(), max_error_ratio=0.02).ok
    many = MemorySource(slices=4, unparsable=set(range(10)))
    report = _run(tmp_path, many, FaultySink(), new_run_id(), max_error_ratio=0.02)
    assert report.failure is not None
    assert "10 of 200 records are bad (5.00%)" in report.failure


def test_column_mapping_renames_and_selects(tmp_path: Path) -> None:
    sink = FaultySink()
    source = MemorySource(slices=1, rows=5)
    report = _run(tmp_path, source, sink, new_run_id(), columns={"value": "value", "id": "id"})
    assert report.ok
    assert sink.prepared == ["value", "id"]
    with pytest.raises(CopyError, match="source fields that do not exist: nope"):
        _run(tmp_path, source, sink, new_run_id(), columns={"id": "nope"})


class FlakyStore(SqliteCheckpointStore):
    """A store that cannot record the first finish of slice s1 (a timeout)."""

    failed = False

    def finish(self, run_id: str, slice_id: str, counts: Any) -> None:
        if slice_id == "s1" and not self.failed:
            self.failed = True
            raise cassandra.OperationTimedOut()
        super().finish(run_id, slice_id, counts)


def test_a_slice_whose_finish_cannot_be_recorded_is_redone_and_counted_once(
    tmp_path: Path,
) -> None:
    source, sink = MemorySource(), FaultySink()
    store = FlakyStore(tmp_path / "checkpoints.sqlite3")
    run = CopyRun(
        source,
        sink,
        run_id=new_run_id(),
        store=store,
        quarantine=Quarantine(tmp_path / "quarantine", "r"),
        options=CopyOptions(backoff=Backoff(base=0.001, cap=0.01)),
    )
    try:
        report = run.execute()
    finally:
        store.close()
    assert report.ok
    assert source.reads["s1"] == 2
    assert (report.counts.read, report.counts.written) == (200, 200)
    assert run.progress.rows_written == 200
    assert report.errors == {"OperationTimedOut": 1}
    assert len(sink.table) == 200
