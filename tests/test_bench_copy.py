"""bench/copy.py's own parts: the data it generates, its process measuring, its checks."""

from __future__ import annotations

import csv
import datetime
import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "copy.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    """bench/copy.py as a module (not named ``copy``: that is the standard library's)."""
    spec = importlib.util.spec_from_file_location("bench_copy", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_copy"] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["bench_copy"]


def test_csv_files_hold_the_rows_they_promise_and_read_back_typed(
    bench: ModuleType, tmp_path: Path
) -> None:
    full, head = tmp_path / "full.csv", tmp_path / "head.csv"
    bench.write_csv({full: 25, head: 10})
    with full.open(newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))
    assert tuple(records[0]) == bench.COLUMNS
    assert len(records) == 26
    typed = [bench._typed(r) for r in records[1:]]
    # The loop binds aware datetimes; the driver reads naive UTC ones back.
    assert [(*t[:4], t[4].replace(tzinfo=None), *t[5:]) for t in typed] == [
        bench.expected_row(i) for i in range(25)
    ]
    assert all(t[4].utcoffset() == datetime.timedelta(0) for t in typed)
    assert any("," in r[1] for r in records[1:])  # quoted fields are exercised
    assert records[2][4] == "2024-01-01 00:00:37.001+0000"  # ms kept, no 'T' (cqlsh)
    with head.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == records[:11]


def test_run_measured_gives_exit_code_time_and_peak_rss_of_that_child(
    bench: ModuleType, tmp_path: Path
) -> None:
    # The child holds its memory a while, as the contenders do for seconds: the bench samples.
    grow = (
        "import time; b = bytearray(96 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        "time.sleep(0.3); raise SystemExit(3)"
    )
    burn = "sum(range(3 * 10**6)); "  # some CPU time of its own, counted as the child's
    ran = bench.run_measured([sys.executable, "-c", burn + grow], tmp_path / "a", 60)
    assert ran.code == 3
    assert ran.seconds > 0
    assert ran.peak_mib >= 96
    assert ran.total_mib >= ran.peak_mib
    assert 0 < ran.cpu < ran.seconds + 1
    # A later, smaller child is measured on its own, not as the maximum of every child so far.
    small = bench.run_measured([sys.executable, "-c", "pass"], tmp_path / "b", 60)
    assert small.code == 0
    assert small.peak_mib < 64


def test_loop_load_is_counted_and_read_back_through_the_driver(
    bench: ModuleType, contact: tuple[list[str], int], tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    bench.write_csv({data: 30})
    replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    cluster = bench.Cluster(contact[0], contact[1], replication)
    keyspace = f"b_{uuid.uuid4().hex[:12]}"
    try:
        runner = bench.Bench(tmp_path, cluster, 60.0, [])
        result = runner.loop_load(data, keyspace, 30, 20)
        assert result.error is None
        assert (result.rows, result.out_of) == (20, 30)
        assert cluster.count(keyspace) == 20
        assert cluster.check_rows(keyspace, [0, 19]) is None
        assert cluster.check_rows(keyspace, [25]) == "row id=25 is missing"
        cluster.session.execute(f"UPDATE {keyspace}.t SET qty = 1 WHERE id = 7")
        assert "row id=7 reads back as" in cluster.check_rows(keyspace, [7])
    finally:
        cluster.drop(keyspace)
        cluster.shutdown()


def test_run_measured_counts_the_processes_a_child_starts(
    bench: ModuleType, tmp_path: Path
) -> None:
    # The child stays small; the worker it starts (and waits for) holds 96 MiB a while.
    worker = (
        "import time; b = bytearray(96 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.3)"
    )
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {worker!r}])"
    ran = bench.run_measured([sys.executable, "-c", parent], tmp_path / "tree", 60)
    assert ran.code == 0
    assert ran.peak_mib >= 96  # the worker's peak, not only the child's
    assert ran.total_mib >= ran.peak_mib + 5  # both processes, added up


def test_run_measured_kills_a_child_past_its_timeout_and_says_so(
    bench: ModuleType, tmp_path: Path
) -> None:
    log = tmp_path / "slow.log"
    hang = "import threading; threading.Event().wait()"
    ran = bench.run_measured([sys.executable, "-c", hang], log, 0.5)
    assert ran.code == -9
    assert 0.5 <= ran.seconds < 30
    assert "bench: killed after the --timeout" in log.read_text()
