"""Quarantined records keep their source position and reason, one JSON line each."""

from __future__ import annotations

import json
from pathlib import Path

from cassflow.copy._quarantine import Quarantine


def test_records_are_written_whole_with_position_and_reason(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, "run-1")
    quarantine.add(
        source="data/orders.csv:17",
        reason='Invalid INTEGER constant (x) for "qty" of type int',
        record={"id": "7", "qty": "x", "blob": b"\x00\xff"},
        slice_id="file-0",
        category="convert",
    )
    quarantine.add(source="data/orders.csv:18", reason="ragged row", record=["a"], category="parse")
    quarantine.close()
    (path,) = quarantine.paths
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["source"] for line in lines] == ["data/orders.csv:17", "data/orders.csv:18"]
    assert lines[0]["record"] == {"id": "7", "qty": "x", "blob": {"hex": "00ff"}}
    assert lines[0]["slice"] == "file-0"
    assert quarantine.count == 2
    assert quarantine.reasons == {"convert": 1, "parse": 1}


def test_files_roll_over(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, "run-2", max_bytes=300)
    for line in range(10):
        quarantine.add(source=f"f.csv:{line}", reason="bad", record={"v": "x" * 50})
    quarantine.close()
    assert len(quarantine.paths) > 1
    total = sum(len(p.read_text().splitlines()) for p in quarantine.paths)
    assert total == 10
    assert all(p.stat().st_size <= 300 for p in quarantine.paths)
