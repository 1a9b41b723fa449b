"""kill -9 of a running ``cassflow copy`` at random points, then ``--resume``: exact, no re-reads.

Each case loads twelve files into a table with a rate cap (so that the copy is still running
when it is killed), kills the process with SIGKILL once a randomly chosen number of slices is
checkpointed as done, resumes the run by its id, and checks that the table holds exactly the
source rows and that the report skipped every slice that was done before the kill. Two of
the cases move the slices in worker processes (``--processes 2``): those must exit on their
own when the run's process is killed.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cassandra.cluster import Session

from commands import CASSFLOW, run_cassflow

pytestmark = pytest.mark.slow

FILES = 12
ROWS_PER_FILE = 400
KILL_POINTS = 5
#: This run's kill points come from this seed; set CASSFLOW_KILL_SEED to replay a failure.
SEED = int(os.environ.get("CASSFLOW_KILL_SEED") or random.SystemRandom().randrange(1 << 30))
WAIT_SECONDS = 120.0
COLUMNS = ("pk", "ck", "name", "amount", "ratio", "at", "ref", "flag")
_EPOCH = datetime.datetime(1970, 1, 1)


def _rows() -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    rows = []
    for i in range(FILES * ROWS_PER_FILE):
        name = rng.choice(["plain", 'with "quotes"', "comma, inside", "two\nlines", "ünïcode"])
        at = _EPOCH + datetime.timedelta(milliseconds=rng.randrange(-(10**12), 4 * 10**12))
        rows.append(
            (
                i // 10,
                i % 10,
                f"{name} {i}",
                rng.randrange(-(2**63), 2**63),
                rng.uniform(-1e6, 1e6),
                at,
                uuid.UUID(int=rng.getrandbits(128)),
                rng.random() < 0.5,
            )
        )
    return rows


ROWS = _rows()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write_sources(directory: Path, fmt: str) -> str:
    directory.mkdir()
    for number in range(FILES):
        part = ROWS[number * ROWS_PER_FILE : (number + 1) * ROWS_PER_FILE]
        path = directory / f"part{number:02d}.{fmt}"
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                writer.writerow(COLUMNS)
                writer.writerows([_text(v) for v in row] for row in part)
        elif fmt == "jsonl":
            with path.open("w", encoding="utf-8") as out:
                for row in part:
                    record = dict(zip(COLUMNS, row, strict=True))
                    record["at"], record["ref"] = _text(row[5]), str(row[6])
                    out.write(json.dumps(record) + "\n")
        else:
            columns = list(zip(*part, strict=True))
            table = pa.table(
                {
                    "pk": pa.array(columns[0], pa.int32()),
                    "ck": pa.array(columns[1], pa.int32()),
                    "name": pa.array(columns[2], pa.string()),
                    "amount": pa.array(columns[3], pa.int64()),
                    "ratio": pa.array(columns[4], pa.float64()),
                    "at": pa.array(columns[5], pa.timestamp("ms", tz="UTC")),
                    "ref": pa.array([str(u) for u in columns[6]], pa.string()),
                    "flag": pa.array(columns[7], pa.bool_()),
                }
            )
            pq.write_table(table, path)
    return f"{directory.name}/*.{fmt}"


def _done_slices(state_dir: Path) -> tuple[str | None, int]:
    """The run id and number of done slices the checkpoint store holds (0 before it exists)."""
    path = state_dir / "checkpoints.sqlite3"
    if not path.exists():
        return None, 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        try:
            rows = db.execute(
                "SELECT run_id, count(*) FROM slices WHERE state = 'done' AND run_id LIKE '%/copy'"
                " GROUP BY run_id"
            ).fetchall()
        except sqlite3.OperationalError:  # the table is being created
            return None, 0
    if not rows:
        return None, 0
    ((run, done),) = rows
    return run.split("/")[0], int(done)


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (its worker processes)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait (on pidfds, no polling) until each process has ended; those still running."""
    left = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # gone already
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                left.append(pid)
        finally:
            os.close(fd)
    return left


def _kill_after(
    process: subprocess.Popen[str], state_dir: Path, slices: int
) -> tuple[str, int, list[int]]:
    """SIGKILL ``process`` once ``slices`` slices are done: the run id, the done count and the
    processes it had started."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        run, done = _done_slices(state_dir)
        if done >= slices:
            break
        try:  # waiting on the process (not sleeping): an early exit ends the wait
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
        else:
            _out, err = process.communicate()
            pytest.fail(f"the copy ended before it could be killed ({done} slices):\n{err}")
        assert time.monotonic() < deadline, f"{slices} slices not done in {WAIT_SECONDS} s"
    children = _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    run, done = _done_slices(state_dir)
    assert run is not None
    return run, done, children


@pytest.mark.parametrize("point", range(KILL_POINTS))
def test_kill_and_resume_gives_the_exact_table(
    point: int,
    session: Session,
    keyspace: str,
    connections_file: Any,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED + point)
    fmt = ("csv", "csv", "jsonl", "parquet", "csv")[point]
    processes = ("1", "2", "1", "2", "1")[point]
    kill_at = rng.randrange(1, FILES - 1)
    session.execute(
        f"CREATE TABLE {keyspace}.t (pk int, ck int, name text, amount bigint, ratio double,"
        " at timestamp, ref uuid, flag boolean, PRIMARY KEY ((pk), ck))"
    )
    pattern = _write_sources(tmp_path / "in", fmt)
    conns = connections_file()
    state = tmp_path / "state"
    args = [
        "copy",
        pattern,
        f"cassandra://db/{keyspace}.t",
        "--connections",
        str(conns),
        "--state-dir",
        str(state),
        "--workers",
        "2",
        "--processes",
        processes,
        "--quiet",
    ]
    first = subprocess.Popen(
        [CASSFLOW, *args, "--max-rows-per-second", "1500"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id, done, children = _kill_after(first, state, kill_at)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    context = f"seed {SEED}, point {point}: killed after {done} slices"
    if processes == "2":  # two workers, and multiprocessing's resource tracker
        assert len(children) >= 2, context
    # Worker processes notice that the run's process is gone and stop writing.
    assert _wait_gone(children, 30) == [], context

    report_path = tmp_path / "report.json"
    second = run_cassflow([*args, "--resume", run_id, "--report", str(report_path)], cwd=tmp_path)
    assert second.returncode == 0, f"{context}\n{second.stdout}\n{second.stderr}"
    (activity,) = json.loads(report_path.read_text())["activities"]
    copy = activity["copy"]
    assert copy["resumed_slices"] == done, context
    assert copy["slices_run"] == FILES - done, context
    assert copy["rows"] == {
        "read": len(ROWS),
        "written": len(ROWS),
        "quarantined": 0,
        "skipped": 0,
    }, context
    stored = sorted(
        tuple(r) for r in session.execute(f"SELECT {', '.join(COLUMNS)} FROM {keyspace}.t")
    )
    assert stored == sorted(ROWS), context
