"""Parquet output built column by column gives what the row-by-row path gives, bad rows too."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from cassandra import cqltypes

from cassflow.copy import _file_write
from cassflow.copy._files import FileSink
from cassflow.copy._model import Chunk, DriftPolicy, Field

FIELDS = [
    Field("id", cqltypes.Int32Type, key=True),
    Field("big", cqltypes.LongType),
    Field("ratio", cqltypes.DoubleType),
    Field("small", cqltypes.FloatType),
    Field("flag", cqltypes.BooleanType),
    Field("name", cqltypes.UTF8Type),
    Field("data", cqltypes.BytesType),
    Field("at", cqltypes.DateType),
    Field("ref", cqltypes.UUIDType),
    Field("amount", cqltypes.DecimalType),
]
COLUMNS = tuple(f.name for f in FIELDS)


def _row(i: int) -> tuple[Any, ...]:
    return (
        i,
        2**40 + i,
        i / 7,
        1.5,
        i % 2 == 0,
        f"name {i} ü",
        bytes([i % 256]) * 3,
        datetime.datetime(2024, 1, 1) + datetime.timedelta(milliseconds=i * 1001),
        uuid.UUID(int=i),
        Decimal(i) / 100,
    )


def _write(folder: Path, rows: list[tuple[Any, ...]]) -> tuple[Any, list[Any]]:
    sink = FileSink(str(folder), "parquet")
    sink.prepare(FIELDS, DriftPolicy.FAIL)
    writer = sink.open_slice("s1")
    result = writer.write(Chunk(COLUMNS, "src", rows, list(range(1, len(rows) + 1))))
    writer.commit()
    sink.close()
    (path,) = folder.glob("*.parquet")
    return pq.read_table(path), result.bad


def test_columnar_and_row_paths_write_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [_row(i) for i in range(300)]
    rows[5] = (5, *([None] * (len(FIELDS) - 1)))  # nulls everywhere but the key
    built: list[bool] = []
    columnar = _file_write.FileSliceWriter._columnar_table

    def spy(self: Any, chunk: Chunk) -> Any:
        table = columnar(self, chunk)
        built.append(table is not None)
        return table

    monkeypatch.setattr(_file_write.FileSliceWriter, "_columnar_table", spy)
    fast, fast_bad = _write(tmp_path / "fast", rows)
    assert built == [True]
    monkeypatch.setattr(_file_write, "_arrow_takes_as_is", lambda _cql_type: False)
    slow, slow_bad = _write(tmp_path / "slow", rows)
    assert fast_bad == slow_bad == []
    assert fast.equals(slow)
    assert fast.num_rows == 300


def test_a_value_arrow_refuses_sends_the_chunk_down_the_row_path(tmp_path: Path) -> None:
    rows = [_row(i) for i in range(50)]
    rows[7] = (7, "not a bigint", *_row(7)[2:])
    rows[9] = (2**40, *_row(9)[1:])  # too large for an int column
    table, bad = _write(tmp_path / "out", rows)
    assert sorted(b.position for b in bad) == ["src:10", "src:8"]
    assert table.num_rows == 48
    assert 7 not in table.column("id").to_pylist()
