"""The README's first command: the quickstart pipeline, run by ``cassflow run`` as users run it.

It loads examples/quickstart/orders.csv (two bad rows on purpose) into the embedded dev
server, exports the table to Parquet and verifies both copies; run twice, the second run
changes nothing. With CASSFLOW_TEST_HOSTS the same pipeline runs against that cluster.
"""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
import yaml

from clusters import TEST_HOSTS, parse_hosts
from commands import run_cassflow

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A copy of the example folder (the run writes out/ next to the pipeline)."""
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder, ignore=shutil.ignore_patterns("out", ".cassflow"))
    if TEST_HOSTS:
        pipeline = folder / "pipeline.yaml"
        spec = yaml.safe_load(pipeline.read_text())
        hosts, port = parse_hosts(TEST_HOSTS)
        spec["connections"]["dev"].update(hosts=hosts, port=port)
        pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def _good_orders() -> dict[tuple[str, int], list[str]]:
    """The CSV's orders that are valid: all but the two planted bad rows."""
    with (QUICKSTART / "orders.csv").open(newline="", encoding="utf-8") as data:
        records = list(csv.reader(data))[1:]
    good = {}
    for record in records:
        if len(record) != 7 or record[2].startswith("2024-02-30"):
            continue
        good[(record[0], int(record[1]))] = record
    return good


def _parquet_orders(folder: Path) -> dict[tuple[str, int], dict[str, Any]]:
    table = ds.dataset(folder / "out" / "orders", format="parquet").to_table()
    rows = table.to_pylist()
    by_key = {(r["customer"], r["order_id"]): r for r in rows}
    assert len(by_key) == len(rows), "duplicate rows in the export"
    return by_key


def _run(folder: Path) -> dict[str, Any]:
    result = run_cassflow(
        [
            "run",
            "pipeline.yaml",
            "--state-dir",
            str(folder / ".cassflow"),
            "--report",
            "report.json",
            "--quiet",
        ],
        cwd=folder,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pipeline quickstart" in result.stdout
    report: dict[str, Any] = json.loads((folder / "report.json").read_text())
    return report


def test_the_quickstart_loads_exports_and_verifies(quickstart: Path) -> None:
    report = _run(quickstart)
    assert report["ok"] is True
    activities = {a["name"]: a for a in report["activities"]}
    assert [a["status"] for a in report["activities"]] == ["done", "done", "done"]
    load = activities["load_orders"]["copy"]
    assert load["rows"] == {"read": 1000, "written": 998, "quarantined": 2, "skipped": 0}
    assert load["verification"]["ok"] is True
    export = activities["export_orders"]["copy"]
    assert export["rows"] == {"read": 998, "written": 998, "quarantined": 0, "skipped": 0}
    assert export["verification"]["ok"] is True

    entries = [
        json.loads(line)
        for name in load["quarantine_files"]
        for line in Path(name).read_text(encoding="utf-8").splitlines()
    ]
    by_line = {e["source"].rsplit(":", 1)[1]: e for e in entries}
    assert sorted(by_line) == ["506", "758"]
    assert all(e["source"].endswith(f"orders.csv:{n}") for n, e in by_line.items())
    assert "2024-02-30" in by_line["506"]["reason"]
    assert "fields" in by_line["758"]["reason"]

    expected = _good_orders()
    exported = _parquet_orders(quickstart)
    assert exported.keys() == expected.keys()
    for key, record in expected.items():
        row = exported[key]
        placed = datetime.datetime.fromisoformat(record[2].replace("Z", "+00:00"))
        assert row["placed_at"] == placed, key
        assert row["total"] == record[3], key  # the decimal's text, scale and all
        assert row["items"] == json.loads(record[4]), key
        assert row["status"] == record[5], key
        assert row["note"] == (record[6] or None), key


def test_a_second_run_changes_nothing(quickstart: Path) -> None:
    _run(quickstart)
    first = _parquet_orders(quickstart)
    report = _run(quickstart)
    assert report["ok"] is True
    assert _parquet_orders(quickstart) == first
