"""Simulated compaction: writes queue work, work drains with time."""

from __future__ import annotations

from cassflow.devserver._compaction import CompactionSimulator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_writes_queue_compactions_that_drain_over_time() -> None:
    clock = Clock()
    sim = CompactionSimulator(flush_cells=100, seconds_per_compaction=10, clock=clock)
    sim.record_writes("ks", "t", 399)
    assert sim.state().active == ()
    sim.record_writes("ks", "t", 1)  # the fourth flush: one compaction
    state = sim.state()
    assert [(t.keyspace, t.table) for t in state.active] == [("ks", "t")]
    assert state.active[0].progress == 0
    sim.record_writes("ks", "t", 1200)  # twelve more flushes: four more compactions
    state = sim.state()
    assert len(state.active) == 2
    assert state.pending[("ks", "t")] == 3
    clock.now = 5
    assert sim.state().active[0].progress == sim.state().active[0].total // 2
    clock.now = 25
    state = sim.state()
    assert state.completed == 4
    assert sum(state.pending.values()) == 0
    assert len(state.active) == 1
    clock.now = 40
    state = sim.state()
    assert state.active == ()
    assert state.completed == 5


def test_dropping_a_table_forgets_its_work() -> None:
    clock = Clock()
    sim = CompactionSimulator(flush_cells=10, clock=clock)
    sim.record_writes("ks", "t", 1000)
    assert sim.state().active
    sim.forget("ks", "t")
    assert sim.state().active == ()
    assert sim.state().pending == {}
