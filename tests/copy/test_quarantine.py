"""Quarantined records keep their source position and reason, one JSON line each, once."""

from __future__ import annotations

import json
from pathlib import Path

from cassflow.copy._model import BadRecord
from cassflow.copy._quarantine import Quarantine


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_are_written_whole_with_position_and_reason(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, "run-1")
    part = quarantine.open_slice("file-0")
    part.add(
        BadRecord(
            position="data/orders.csv:17",
            reason='Invalid INTEGER constant (x) for "qty" of type int',
            record={"id": "7", "qty": "x", "blob": b"\x00\xff"},
            category="convert",
        )
    )
    part.add(BadRecord(position="data/orders.csv:18", reason="ragged row", record=["a"]))
    part.close()
    (path,) = quarantine.files()
    lines = _lines(path)
    assert [line["source"] for line in lines] == ["data/orders.csv:17", "data/orders.csv:18"]
    assert lines[0]["record"] == {"id": "7", "qty": "x", "blob": {"hex": "00ff"}}
    assert lines[0]["slice"] == "file-0"
    assert lines[1]["category"] == "parse"
    assert part.count == 2
    assert part.reasons == {"convert": 1, "parse": 1}


def test_a_redone_slice_replaces_its_earlier_entries(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, "run-2")
    first = quarantine.open_slice("s/1")
    for line in range(3):
        first.add(BadRecord(position=f"f.csv:{line}", reason="bad", record={}))
    first.close()
    again = quarantine.open_slice("s/1")
    again.add(BadRecord(position="f.csv:9", reason="bad", record={}))
    again.close()
    (path,) = quarantine.files()
    assert path.name == "s_1.jsonl"
    assert [line["source"] for line in _lines(path)] == ["f.csv:9"]


def test_slices_without_bad_records_leave_no_file(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, "run-3")
    quarantine.open_slice("clean").close()
    assert quarantine.files() == []


def test_a_pipeline_run_id_nests_activity_folders_and_stays_inside(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, "20261121T101500Z-3fa9c1/../load orders")
    part = quarantine.open_slice("s1")
    part.add(BadRecord(position="f.csv:2", reason="bad", record={}))
    part.close()
    (path,) = quarantine.files()
    assert path == tmp_path / "20261121T101500Z-3fa9c1" / "load_orders" / "s1.jsonl"
    assert _lines(path)[0]["run_id"] == "20261121T101500Z-3fa9c1/../load orders"
