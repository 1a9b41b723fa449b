"""Checkpoints survive a kill -9 and hand out exactly the unfinished slices on resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cassflow.copy._checkpoint import (
    CheckpointError,
    SliceCounts,
    SliceState,
    SqliteCheckpointStore,
    new_run_id,
)

PLAN = [(f"range-{i}", {"start": i * 100, "end": (i + 1) * 100}) for i in range(10)]


def test_states_attempts_counts_and_errors(tmp_path: Path) -> None:
    store = SqliteCheckpointStore(tmp_path / "cp.sqlite3")
    run = new_run_id()
    store.begin(run, PLAN)
    assert store.start(run, "range-0") == 1
    store.fail(run, "range-0", "WriteTimeout: Operation timed out")
    assert store.start(run, "range-0") == 2
    store.finish(run, "range-0", SliceCounts(read=100, written=98, quarantined=2))
    records = {r.slice_id: r for r in store.slices(run)}
    assert records["range-0"].state is SliceState.DONE
    assert records["range-0"].attempts == 2
    assert records["range-0"].counts.quarantined == 2
    assert records["range-0"].error is None
    assert records["range-1"].state is SliceState.PENDING
    assert [r.slice_id for r in store.remaining(run)] == [f"range-{i}" for i in range(1, 10)]


def test_counts_must_add_up() -> None:
    with pytest.raises(CheckpointError, match="do not add up"):
        SliceCounts(read=10, written=8, quarantined=1)


def test_resume_checks_the_plan(tmp_path: Path) -> None:
    store = SqliteCheckpointStore(tmp_path / "cp.sqlite3")
    run = new_run_id()
    store.begin(run, PLAN)
    store.begin(run, PLAN)  # resuming with the same plan is fine
    with pytest.raises(CheckpointError, match="planned differently"):
        store.begin(run, PLAN[:-1])
    with pytest.raises(CheckpointError, match="no run"):
        store.remaining("nope")
    with pytest.raises(CheckpointError, match="not unique"):
        store.begin(new_run_id(), [("a", {}), ("a", {})])
    with pytest.raises(CheckpointError, match="no slice"):
        store.start(run, "range-99")


CHILD = textwrap.dedent(
    """
    import sys
    from cassflow.copy._checkpoint import SliceCounts, SqliteCheckpointStore
    store = SqliteCheckpointStore(sys.argv[1])
    run = sys.argv[2]
    for record in store.remaining(run):
        store.start(run, record.slice_id)
        print("started", record.slice_id, flush=True)
        sys.stdin.readline()  # the parent decides when this slice finishes (or kills us)
        store.finish(run, record.slice_id, SliceCounts(read=100, written=100))
        print("done", record.slice_id, flush=True)
    """
)


@pytest.mark.parametrize("kill_after", [0, 3, 7])
def test_kill_9_then_resume_redoes_only_unfinished_slices(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "cp.sqlite3"
    run = new_run_id()
    SqliteCheckpointStore(path).begin(run, PLAN)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), run],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    done = []
    for _ in range(kill_after):
        assert child.stdout.readline().startswith("started")
        child.stdin.write("\n")
        child.stdin.flush()
        line = child.stdout.readline().split()
        assert line[0] == "done"
        done.append(line[1])
    assert child.stdout.readline().startswith("started")  # killed inside the next slice
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    store = SqliteCheckpointStore(path)
    remaining = store.remaining(run)
    assert [r.slice_id for r in remaining] == [s for s, _ in PLAN if s not in done]
    assert remaining[0].state is SliceState.RUNNING  # cut short: it must be redone
    assert all(r.state is SliceState.DONE for r in store.slices(run) if r.slice_id in done)
