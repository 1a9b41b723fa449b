"""The run report adds up, hides passwords, and says how to resume."""

from __future__ import annotations

import json

from cassflow.copy._checkpoint import SliceCounts, SliceRecord, SliceState
from cassflow.copy._report import RunReport, redact


def record(slice_id: str, state: SliceState, counts: SliceCounts) -> SliceRecord:
    return SliceRecord(
        slice_id=slice_id, spec={}, state=state, attempts=1, counts=counts, error=None
    )


def test_totals_add_up_and_render() -> None:
    report = RunReport(
        run_id="r1",
        activity="load_orders",
        source="data/orders/*.csv",
        target="postgresql://loader:s3cr3t@db.example/shop",
        seconds=2.0,
    )
    report.add_slices(
        [
            record("a", SliceState.DONE, SliceCounts(read=100, written=97, quarantined=3)),
            record("b", SliceState.DONE, SliceCounts(read=50, written=50)),
            record("c", SliceState.RUNNING, SliceCounts()),
        ]
    )
    report.retries = 2
    report.errors = {"WriteTimeout": 2}
    data = report.to_json()
    assert data["rows"] == {"read": 150, "written": 147, "quarantined": 3, "skipped": 0}
    assert data["slices"] == {"done": 2, "running": 1}
    assert data["complete"] is False
    assert data["rows_per_second"] == 73.5
    text = report.summary() + report.dumps()
    assert "s3cr3t" not in text
    assert "postgresql://loader:***@db.example/shop" in text
    assert "--resume r1" in report.summary()
    assert json.loads(report.dumps())["retries"] == 2


def test_redact_leaves_other_locations_alone() -> None:
    assert redact("s3://bucket/key.csv") == "s3://bucket/key.csv"
    assert redact("cassandra://shop/ks.t") == "cassandra://shop/ks.t"
    assert redact("mysql+pymysql://u:p@h:3306/d") == "mysql+pymysql://u:***@h:3306/d"
