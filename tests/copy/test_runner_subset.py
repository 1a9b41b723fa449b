"""``CopyRun.execute(only=...)``: one copy's plan, some of its slices run (as each of Airflow's
mapped tasks runs one), with the same retries, quarantine and checkpoints as a whole run, and
a report of just those slices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cassandra
import pytest
from test_runner import FaultySink, MemorySource

from cassflow.copy._checkpoint import SliceState, SqliteCheckpointStore, new_run_id
from cassflow.copy._model import CopyError
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._report import RunReport
from cassflow.copy._retry import Backoff
from cassflow.copy._runner import CopyOptions, CopyRun


class Copy:
    """One copy run's store and quarantine; each :meth:`run` is a separate invocation (a
    separate task), sharing them."""

    def __init__(self, tmp_path: Path, source: MemorySource, sink: FaultySink) -> None:
        self.run_id = new_run_id()
        self.source = source
        self.sink = sink
        self.store = SqliteCheckpointStore(tmp_path / "checkpoints.sqlite3")
        self.quarantine_dir = tmp_path / "quarantine"

    def run(self, only: Any, **options: Any) -> RunReport:
        return CopyRun(
            self.source,
            self.sink,
            run_id=self.run_id,
            store=self.store,
            quarantine=Quarantine(self.quarantine_dir, self.run_id),
            options=CopyOptions(backoff=Backoff(base=0.001, cap=0.01), **options),
        ).execute(only=only)

    def states(self) -> dict[str, tuple[str, int]]:
        return {r.slice_id: (r.state.value, r.attempts) for r in self.store.slices(self.run_id)}


def _sources(report: RunReport) -> list[str]:
    return sorted(
        json.loads(line)["source"]
        for path in report.quarantine_files
        for line in Path(path).read_text().splitlines()
    )


def test_no_slices_records_the_plan_and_prepares_the_sink_only(tmp_path: Path) -> None:
    copy = Copy(tmp_path, MemorySource(slices=3), FaultySink())
    report = copy.run(())
    assert copy.sink.prepared == ["id", "value"]
    assert copy.states() == {f"s{n}": ("pending", 0) for n in range(3)}
    assert not copy.source.reads
    assert copy.sink.table == {}
    assert (report.counts.read, report.slices_run, report.slices) == (0, 0, {})


def test_one_slice_runs_and_reports_only_itself(tmp_path: Path) -> None:
    # Slices s0 and s1 each hold a bad record (ids 3 and 55 of 50-row slices).
    copy = Copy(tmp_path, MemorySource(slices=4, unparsable={3, 55}), FaultySink())
    first = copy.run(["s0"])
    second = copy.run(["s1"])
    assert dict(copy.source.reads) == {"s0": 1, "s1": 1}
    assert sorted(copy.sink.table) == list(range(100))[:3] + list(range(4, 55)) + list(
        range(56, 100)
    )
    assert copy.states() == {
        "s0": ("done", 1),
        "s1": ("done", 1),
        "s2": ("pending", 0),
        "s3": ("pending", 0),
    }
    for report, bad in ((first, "mem:3"), (second, "mem:55")):
        assert report.ok
        assert report.slices == {"done": 1}
        assert (report.counts.read, report.counts.written, report.counts.quarantined) == (50, 49, 1)
        assert (report.resumed_slices, report.slices_run) == (0, 1)
        assert _sources(report) == [bad]  # this slice's quarantine file, not the other's

    again = copy.run(["s0"])  # a rerun of a done slice: nothing read, its counts reported
    assert dict(copy.source.reads) == {"s0": 1, "s1": 1}
    assert again.ok
    assert (again.resumed_slices, again.slices_run) == (1, 0)
    assert (again.counts.read, again.counts.written) == (50, 49)
    assert copy.states()["s0"] == ("done", 1)


def test_a_transient_error_is_retried_inside_the_slice(tmp_path: Path) -> None:
    copy = Copy(tmp_path, MemorySource(slices=3, unparsable={60}), FaultySink())
    copy.sink.faults["s1"] = [cassandra.WriteTimeout("timed out", write_type=0)]
    report = copy.run(["s1"], slice_attempts=2)
    assert report.ok
    assert report.retries == 1
    assert report.errors == {"WriteTimeout": 1}
    assert copy.source.reads["s1"] == 2
    assert (report.counts.read, report.counts.written, report.counts.quarantined) == (50, 49, 1)
    assert _sources(report) == ["mem:60"]  # once, although read twice
    assert copy.states()["s1"] == ("done", 2)


def test_a_failed_slice_fails_the_report_and_a_later_run_of_it_resumes(tmp_path: Path) -> None:
    copy = Copy(tmp_path, MemorySource(slices=3), FaultySink())
    copy.run(["s0"])
    copy.sink.faults["s2"] = [cassandra.WriteTimeout("timed out", write_type=0)]
    failed = copy.run(["s2"], slice_attempts=1)
    assert not failed.ok
    assert failed.failure is not None
    assert failed.failure.startswith("WriteTimeout")
    assert failed.slices == {"failed": 1}
    assert copy.states() == {"s0": ("done", 1), "s1": ("pending", 0), "s2": ("failed", 1)}

    retried = copy.run(["s2"], slice_attempts=1)
    assert retried.ok
    assert (retried.counts.read, retried.counts.written) == (50, 50)
    assert copy.states()["s2"] == ("done", 2)
    assert copy.states()["s1"] == ("pending", 0)
    assert sorted(copy.sink.table) == list(range(50)) + list(range(100, 150))


def test_the_error_budget_counts_slices_other_runs_did(tmp_path: Path) -> None:
    copy = Copy(tmp_path, MemorySource(slices=2, unparsable={1, 2, 60}), FaultySink())
    assert copy.run(["s0"], max_errors=2).ok  # two bad records: within the budget
    over = copy.run(["s1"], max_errors=2)  # a third one, in another slice: over it
    assert over.failure is not None
    assert "3 bad records, more than max_errors (2)" in over.failure


def test_unknown_slices_are_refused_by_name(tmp_path: Path) -> None:
    copy = Copy(tmp_path, MemorySource(slices=2), FaultySink())
    with pytest.raises(CopyError, match=r"has no slice nope, s9"):
        copy.run(["s0", "s9", "nope"])
    assert all(state == SliceState.PENDING.value for state, _ in copy.states().values())
    assert not copy.source.reads
