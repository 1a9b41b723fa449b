"""The Cassandra checkpoint store keeps the SQLite store's promises, and holds when several
workers (separate driver clusters, as separate processes would have) share one run."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.query import dict_factory

from cassflow.copy._checkpoint import CheckpointError, SliceCounts, SliceState, new_run_id
from cassflow.copy._checkpoint_cassandra import CassandraCheckpointStore
from cassflow.copy._model import Chunk, Drift, DriftPolicy, Field, PlannedSlice, WriteResult
from cassflow.copy._quarantine import Quarantine
from cassflow.copy._retry import Backoff
from cassflow.copy._runner import CopyOptions, CopyRun
from clusters import connect

PLAN = [(f"range-{i}", {"start": i * 100, "end": (i + 1) * 100}) for i in range(10)]
TABLE = "cp"

StoreFactory = Callable[..., CassandraCheckpointStore]


@pytest.fixture
def make_store(session: Session, keyspace: str) -> StoreFactory:
    """Stores on the session's table ``cp`` in the test keyspace (or another session)."""

    def make(on: Session | None = None, **kwargs: Any) -> CassandraCheckpointStore:
        return CassandraCheckpointStore(on or session, keyspace, TABLE, **kwargs)

    return make


@pytest.fixture
def other_sessions(contact: tuple[list[str], int]) -> Iterator[list[Session]]:
    """Two more driver clusters of their own: what two worker processes would have."""
    clusters: list[Cluster] = [connect(contact), connect(contact)]
    try:
        yield [c.connect() for c in clusters]
    finally:
        for cluster in clusters:
            cluster.shutdown()


# --- the same behaviour as the SQLite store (tests/copy/test_checkpoint.py) -----------------


def test_states_attempts_counts_and_errors(make_store: StoreFactory) -> None:
    store = make_store()
    run = new_run_id()
    store.begin(run, PLAN)
    assert store.start(run, "range-0") == 1
    store.fail(run, "range-0", "WriteTimeout: Operation timed out")
    failed = {r.slice_id: r for r in store.slices(run)}["range-0"]
    assert (failed.state, failed.error) == (SliceState.FAILED, "WriteTimeout: Operation timed out")
    assert store.start(run, "range-0") == 2
    store.finish(run, "range-0", SliceCounts(read=100, written=98, quarantined=2))
    records = {r.slice_id: r for r in store.slices(run)}
    assert records["range-0"].state is SliceState.DONE
    assert records["range-0"].attempts == 2
    assert records["range-0"].counts == SliceCounts(read=100, written=98, quarantined=2)
    assert records["range-0"].error is None
    assert records["range-1"].state is SliceState.PENDING
    assert records["range-1"].attempts == 0
    assert records["range-1"].spec == {"start": 100, "end": 200}
    assert [r.slice_id for r in store.slices(run)] == [s for s, _ in PLAN]
    assert [r.slice_id for r in store.remaining(run)] == [f"range-{i}" for i in range(1, 10)]


def test_resume_checks_the_plan(make_store: StoreFactory, keyspace: str) -> None:
    store = make_store()
    run = new_run_id()
    store.begin(run, PLAN)
    store.begin(run, PLAN)  # resuming with the same plan is fine
    with pytest.raises(CheckpointError, match="planned differently"):
        store.begin(run, PLAN[:-1])
    with pytest.raises(CheckpointError, match="planned differently"):
        store.begin(run, [*PLAN[:-1], ("range-9", {"start": 900, "end": 999})])
    with pytest.raises(CheckpointError, match=f"no run nope in Cassandra table {keyspace}.cp"):
        store.remaining("nope")
    with pytest.raises(CheckpointError, match="not unique"):
        store.begin(new_run_id(), [("a", {}), ("a", {})])
    with pytest.raises(CheckpointError, match="no slice"):
        store.start(run, "range-99")
    with pytest.raises(CheckpointError, match="no slice"):
        store.finish("nope", "range-0", SliceCounts())
    assert len(store.slices(run)) == len(PLAN)  # the refused plans changed nothing


def test_the_store_protocol_surface(make_store: StoreFactory, keyspace: str) -> None:
    store = make_store()
    assert store.location == f"Cassandra table {keyspace}.{TABLE}"
    run = new_run_id()
    store.begin(run, PLAN)
    store.close()  # the session is the caller's: it still works
    assert len(make_store().slices(run)) == len(PLAN)


def test_sessions_with_dict_rows_work_too(
    make_store: StoreFactory, contact: tuple[list[str], int]
) -> None:
    profile = ExecutionProfile(row_factory=dict_factory)
    cluster = connect(contact, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    try:
        store = make_store(cluster.connect())
        run = new_run_id()
        store.begin(run, PLAN)
        store.begin(run, PLAN)  # the header's transaction answers "not applied" as a dict
        assert store.start(run, "range-1") == 1
        store.finish(run, "range-1", SliceCounts(read=3, written=3))
        assert [r.slice_id for r in store.remaining(run)] == [s for s, _ in PLAN if s != "range-1"]
    finally:
        cluster.shutdown()


# --- several workers ---------------------------------------------------------------------


def _begin_together(
    stores: Sequence[CassandraCheckpointStore],
    plans: Sequence[Sequence[tuple[str, Mapping[str, Any]]]],
    run: str,
) -> list[BaseException | None]:
    """``stores[i].begin(run, plans[i])`` in threads released at once; the outcome of each."""
    barrier = threading.Barrier(len(stores), timeout=30)
    outcomes: list[BaseException | None] = [None] * len(stores)

    def work(i: int) -> None:
        barrier.wait()
        try:
            stores[i].begin(run, plans[i])
        except BaseException as exc:  # the test inspects it
            outcomes[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return outcomes


def test_workers_beginning_a_run_together_agree_on_one_plan(
    make_store: StoreFactory, other_sessions: list[Session]
) -> None:
    make_store()  # the table exists before the workers start (see the module's notes)
    stores = [make_store(on) for on in other_sessions]
    for _ in range(5):
        run = new_run_id()
        assert _begin_together(stores, [PLAN, PLAN], run) == [None, None]
        for store in stores:
            assert [(r.slice_id, dict(r.spec)) for r in store.slices(run)] == PLAN
        with pytest.raises(CheckpointError, match="planned differently"):
            stores[1].begin(run, PLAN[1:])

    other = [(f"file-{i}", {"path": f"{i}.csv"}) for i in range(7)]
    for _ in range(5):
        run = new_run_id()
        outcomes = _begin_together(stores, [PLAN, other], run)
        refused = [o for o in outcomes if o is not None]
        assert len(refused) == 1, outcomes  # exactly one plan wins
        assert isinstance(refused[0], CheckpointError)
        assert "planned differently" in str(refused[0])
        winner = PLAN if outcomes[0] is None else other
        for store in stores:
            assert [(r.slice_id, dict(r.spec)) for r in store.slices(run)] == winner


def test_a_worker_records_progress_on_slices_another_planned(
    make_store: StoreFactory, other_sessions: list[Session]
) -> None:
    planner, worker = (make_store(on) for on in other_sessions)
    run = new_run_id()
    planner.begin(run, PLAN)
    assert worker.start(run, "range-3") == 1  # no begin on this store: it reads the plan
    worker.finish(run, "range-3", SliceCounts(read=5, written=4, skipped=1))
    done = {r.slice_id: r for r in planner.slices(run)}["range-3"]
    assert (done.state, done.counts) == (SliceState.DONE, SliceCounts(5, 4, 0, 1))
    assert [r.slice_id for r in planner.remaining(run)] == [s for s, _ in PLAN if s != "range-3"]


def test_a_plan_cut_short_is_refused_until_a_worker_begins_again(
    make_store: StoreFactory, session: Session, keyspace: str
) -> None:
    store = make_store()
    run = new_run_id()
    store.begin(run, PLAN)
    store.start(run, "range-0")
    store.finish(run, "range-0", SliceCounts(read=100, written=100))
    # As if the planner died after its plan header and three of the slice rows.
    delete = session.prepare(f"DELETE FROM {keyspace}.{TABLE} WHERE run_id = ? AND position = ?")
    for position in range(3, 10):
        session.execute(delete, (run, position))
    with pytest.raises(CheckpointError, match="3 of its 10 slices"):
        make_store().slices(run)
    make_store().begin(run, PLAN)  # the next worker completes the plan, keeping progress
    records = make_store().slices(run)
    assert [r.slice_id for r in records] == [s for s, _ in PLAN]
    assert records[0].state is SliceState.DONE
    assert records[0].counts.read == 100
    assert all(r.state is SliceState.PENDING for r in records[1:])


def test_setup_errors_are_clear(session: Session, keyspace: str) -> None:
    with pytest.raises(CheckpointError, match="keyspace no_such_ks does not exist"):
        CassandraCheckpointStore(session, "no_such_ks")
    with pytest.raises(CheckpointError, match=f"{keyspace}.missing cannot be used"):
        CassandraCheckpointStore(session, keyspace, "missing", create=False)
    session.execute(f"CREATE TABLE {keyspace}.other (run_id text PRIMARY KEY, x int)")
    with pytest.raises(CheckpointError, match=f"{keyspace}.other cannot be used"):
        CassandraCheckpointStore(session, keyspace, "other")
    with pytest.raises(CheckpointError, match="unknown consistency level 'MOST'"):
        CassandraCheckpointStore(session, keyspace, consistency="MOST")
    with pytest.raises(CheckpointError, match="SERIAL is for reads"):
        CassandraCheckpointStore(session, keyspace, consistency="SERIAL")


CHILD = textwrap.dedent(
    """
    import sys
    from cassandra.cluster import Cluster
    from cassflow.copy._checkpoint import SliceCounts
    from cassflow.copy._checkpoint_cassandra import CassandraCheckpointStore
    host, port, keyspace, run = sys.argv[1:]
    session = Cluster([host], port=int(port), connect_timeout=10).connect()
    store = CassandraCheckpointStore(session, keyspace, "cp", create=False)
    for record in store.remaining(run):
        store.start(run, record.slice_id)
        print("started", record.slice_id, flush=True)
        sys.stdin.readline()  # the parent decides when this slice finishes (or kills us)
        store.finish(run, record.slice_id, SliceCounts(read=100, written=100))
        print("done", record.slice_id, flush=True)
    """
)


def test_kill_9_then_resume_redoes_only_unfinished_slices(
    make_store: StoreFactory, contact: tuple[list[str], int], keyspace: str
) -> None:
    run = new_run_id()
    make_store().begin(run, PLAN)
    hosts, port = contact
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, hosts[0], str(port), keyspace, run],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdin is not None
        assert child.stdout is not None
        done = []
        for _ in range(3):
            assert child.stdout.readline().startswith("started")
            child.stdin.write("\n")
            child.stdin.flush()
            line = child.stdout.readline().split()
            assert line[0] == "done"
            done.append(line[1])
        assert child.stdout.readline().startswith("started")  # killed inside the next slice
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)

    store = make_store()
    remaining = store.remaining(run)
    assert [r.slice_id for r in remaining] == [s for s, _ in PLAN if s not in done]
    assert remaining[0].state is SliceState.RUNNING  # cut short: it must be redone
    assert remaining[0].attempts == 1
    assert all(r.state is SliceState.DONE for r in store.slices(run) if r.slice_id in done)


# --- a copy run on the Cassandra store ----------------------------------------------------


class NumberSource:
    """Six slices of 20 numbers; counts how often each slice is read."""

    location = "memory://numbers"

    def __init__(self) -> None:
        self.reads: Counter[str] = Counter()

    def fields(self) -> list[Field]:
        return [Field("id", key=True)]

    def plan(self, splits: int) -> list[PlannedSlice]:
        return [(f"s{n}", {"first": n * 20}) for n in range(6)]

    def read(self, spec: Mapping[str, Any]) -> Iterator[Chunk]:
        self.reads[f"s{spec['first'] // 20}"] += 1
        chunk = Chunk(("id",), "mem")
        chunk.rows.extend((spec["first"] + i,) for i in range(20))
        yield chunk

    def close(self) -> None:
        pass


class DyingSink:
    """Keeps rows in a set; once ``die_after`` slices are committed, every write raises."""

    location = "memory://rows"

    def __init__(self, die_after: int | None) -> None:
        self.rows: set[int] = set()
        self.committed = 0
        self.die_after = die_after

    def prepare(self, fields: Sequence[Field], policy: DriftPolicy) -> Drift:
        return Drift()

    def open_slice(self, slice_id: str) -> DyingWriter:
        return DyingWriter(self)

    def close(self) -> None:
        pass


class DyingWriter:
    def __init__(self, sink: DyingSink) -> None:
        self.sink = sink

    def write(self, chunk: Chunk) -> WriteResult:
        if self.sink.die_after is not None and self.sink.committed >= self.sink.die_after:
            raise RuntimeError("the worker died")
        self.sink.rows.update(row[0] for row in chunk.rows)
        return WriteResult(len(chunk.rows))

    def commit(self) -> None:
        self.sink.committed += 1

    def abort(self) -> None:
        pass


def test_a_copy_run_killed_mid_way_resumes_on_a_fresh_store(
    make_store: StoreFactory, other_sessions: list[Session], tmp_path: Path
) -> None:
    run = new_run_id()

    def copy(source: NumberSource, sink: DyingSink, session: Session) -> Any:
        return CopyRun(
            source,
            sink,
            run_id=run,
            store=make_store(session),
            quarantine=Quarantine(tmp_path / "quarantine", run),
            options=CopyOptions(workers=1, backoff=Backoff(base=0.001, cap=0.01)),
        ).execute()

    first_source, first_sink = NumberSource(), DyingSink(die_after=2)
    first = copy(first_source, first_sink, other_sessions[0])
    assert not first.ok
    assert "the worker died" in (first.failure or "")
    assert first_sink.rows == set(range(40))

    source, sink = NumberSource(), DyingSink(die_after=None)
    second = copy(source, sink, other_sessions[1])  # another worker, another store object
    assert second.ok
    assert (second.resumed_slices, second.slices_run) == (2, 4)
    assert set(source.reads) == {"s2", "s3", "s4", "s5"}  # the done slices are not read again
    assert all(n == 1 for n in source.reads.values())
    assert sink.rows == set(range(40, 120))
    assert (second.counts.read, second.counts.written) == (120, 120)
    assert all(r.state is SliceState.DONE for r in make_store().slices(run))
