"""FileSource and FileSink on real files (local disk and fsspec's memory://): each format,
globs and directories, chunking, stable plans, Parquet row-group slices, roll-over, and
commit/abort/redo leaving exactly one copy of each slice's rows."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cassandra import cqltypes
from cassandra.util import sortedset

from cassflow.copy._file_options import parse_size
from cassflow.copy._files import FileSink, FileSource
from cassflow.copy._model import BadRecord, Chunk, CopyError, DriftPolicy, Field


def _chunks(source: FileSource) -> list[Chunk]:
    return [chunk for _, spec in source.plan(0) for chunk in source.read(spec)]


def _rows(source: FileSource) -> list[tuple[Any, ...]]:
    return [row for chunk in _chunks(source) for row in chunk.rows]


def _bad(source: FileSource) -> list[BadRecord]:
    return [bad for chunk in _chunks(source) for bad in chunk.bad]


def _write(sink: FileSink, slice_id: str, chunks: list[Chunk], commit: bool = True) -> int:
    writer = sink.open_slice(slice_id)
    written = sum(writer.write(chunk).written for chunk in chunks)
    if commit:
        writer.commit()
    else:
        writer.abort()
    return written


def _chunk(columns: tuple[str, ...], rows: list[tuple[Any, ...]], origin: str = "t") -> Chunk:
    return Chunk(columns, origin, rows, list(range(1, len(rows) + 1)))


# -- CSV sources ---------------------------------------------------------------------------


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    data = tmp_path / "in"
    data.mkdir()
    (data / "b.csv").write_bytes(b'id,name\n3,"multi\nline"\n4,\n')
    (data / "a.csv").write_bytes(b'id,name\n1,one\n2,""\n')
    (data / "notes.md").write_text("not data")
    return data


def test_a_directory_reads_its_csv_files_in_name_order(csv_dir: Path) -> None:
    source = FileSource(str(csv_dir), "csv")
    assert source.fields() == [Field("id"), Field("name")]
    chunks = _chunks(source)
    assert [c.origin for c in chunks] == [str(csv_dir / "a.csv"), str(csv_dir / "b.csv")]
    assert [row for c in chunks for row in c.rows] == [
        ("1", "one"),
        ("2", ""),
        ("3", "multi\nline"),
        ("4", None),
    ]
    assert chunks[1].lines == [2, 4]
    assert chunks[1].position(1) == f"{csv_dir / 'b.csv'}:4"
    assert sum(c.nbytes for c in chunks) == sum(
        (csv_dir / n).stat().st_size for n in ("a.csv", "b.csv")
    )


def test_plans_are_stable_and_record_size_and_mtime(csv_dir: Path) -> None:
    source = FileSource(str(csv_dir / "*.csv"), "csv")
    plan = source.plan(8)
    assert plan == FileSource(str(csv_dir / "*.csv"), "csv").plan(8)
    assert [slice_id for slice_id, _ in plan] == ["f0000-a.csv", "f0001-b.csv"]
    spec = dict(plan[0][1])
    assert spec["path"] == str(csv_dir / "a.csv")
    assert spec["size"] == (csv_dir / "a.csv").stat().st_size
    assert "mtime" in spec
    json.dumps(spec)  # specs go into the checkpoint store


def test_a_file_changed_after_planning_is_refused(csv_dir: Path) -> None:
    source = FileSource(str(csv_dir / "a.csv"), "csv")
    ((_, spec),) = source.plan(1)
    (csv_dir / "a.csv").write_bytes(b"id,name\n1,one\n2,two\n3,three\n")
    with pytest.raises(
        CopyError, match=r"a\.csv changed since the copy was planned \(.*size.*differ\)"
    ):
        list(source.read(spec))


def test_chunks_hold_chunk_rows_rows_and_bad_records_keep_their_lines(tmp_path: Path) -> None:
    lines = ["id,v"] + [f"{i},x" if i != 7 else "7,x,extra" for i in range(1, 24)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    chunks = _chunks(FileSource(str(tmp_path / "d.csv"), "csv", {"chunk_rows": "5"}))
    assert [len(c.rows) for c in chunks] == [5, 5, 5, 5, 2]
    assert sum(c.read for c in chunks) == 23
    (bad,) = [b for c in chunks for b in c.bad]
    assert bad.position == f"{tmp_path / 'd.csv'}:8"
    assert bad.reason == f"expected 2 fields (the header of {tmp_path / 'd.csv'} has 2) but got 3"


def test_columns_option_and_files_without_a_header(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("1;a\n2;b\n")
    plain = FileSource(str(tmp_path / "x.csv"), "csv", {"header": False, "delimiter": ";"})
    assert [f.name for f in plain.fields()] == ["c1", "c2"]
    assert _rows(plain) == [("1", "a"), ("2", "b")]
    named = FileSource(
        str(tmp_path / "x.csv"), "csv", {"header": "false", "delimiter": ";", "columns": "id, v"}
    )
    assert [f.name for f in named.fields()] == ["id", "v"]
    assert _rows(named) == [("1", "a"), ("2", "b")]


def test_files_of_a_glob_must_share_their_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,x\n")
    (tmp_path / "b.csv").write_text("id,other\n2,y\n")
    with pytest.raises(CopyError) as error:
        FileSource(str(tmp_path / "*.csv"), "csv").fields()
    assert str(tmp_path / "a.csv") in str(error.value)
    assert str(tmp_path / "b.csv") in str(error.value)
    assert "must have the same columns" in str(error.value)


def test_no_files_and_unknown_options_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CopyError, match=r"no csv files found at .*nothing-\*\.csv"):
        FileSource(str(tmp_path / "nothing-*.csv"), "csv").fields()
    with pytest.raises(CopyError, match=r"unknown csv option\(s\) 'delimter'; valid options: .*"):
        FileSource("x.csv", "csv", {"delimter": ";"})
    with pytest.raises(CopyError, match="unknown file format 'xml'"):
        FileSink("out", "xml")
    with pytest.raises(CopyError, match="chunk_rows must be a whole number above 0"):
        FileSource("x.csv", "csv", {"chunk_rows": 0})


def test_sizes_accept_bytes_and_units() -> None:
    assert parse_size(1000) == 1000
    assert parse_size("64MB") == 64_000_000
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("500 kB") == 500_000
    with pytest.raises(CopyError, match="file_size must be a positive number of bytes"):
        parse_size("lots")


def test_gzip_input_is_read_by_its_suffix(tmp_path: Path) -> None:
    (tmp_path / "z.csv.gz").write_bytes(gzip.compress(b"id\n1\n2\n"))
    source = FileSource(str(tmp_path), "csv")
    assert _rows(source) == [("1",), ("2",)]


def test_reading_a_large_csv_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    row = b"12345,67890,some text here,3.14159,2024-01-02,true,abcdef,987654321\n"
    with path.open("wb") as out:
        out.write(b"a,b,c,d,e,f,g,h\n")
        block = row * 10_000
        while out.tell() < 20_000_000:
            out.write(block)
    source = FileSource(str(path), "csv", {"chunk_rows": 1000})
    ((_, spec),) = source.plan(1)
    tracemalloc.start()
    try:
        rows = sum(len(chunk.rows) for chunk in source.read(spec))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == (path.stat().st_size - 16) // len(row)
    assert peak < 8_000_000, f"peak {peak:,} bytes while reading a 20 MB file"


# -- JSON Lines sources --------------------------------------------------------------------


def test_json_lines_fields_come_from_the_first_object_and_bad_lines_are_named(
    tmp_path: Path,
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(
        b'{"id": 1, "tags": ["a"], "n": null}\n'
        b"\n"
        b'{"id": 2}\n'
        b'{"id": 3, "x": true}\n'
        b'{"id": 4 "tags": []}\n'
        b"[1, 2]\n"
        b'{"id": "\xff"}\n'
        b'{"id": 5, "tags": {"k": 1.5}}\n'
    )
    source = FileSource(str(path), "jsonl")
    assert [f.name for f in source.fields()] == ["id", "tags", "n"]
    (chunk,) = _chunks(source)
    assert chunk.rows == [(1, ["a"], None), (2, None, None), (5, {"k": 1.5}, None)]
    assert chunk.lines == [1, 3, 8]
    assert [(b.position, b.reason) for b in chunk.bad] == [
        (f"{path}:4", "unexpected field 'x' at line 4 (the fields are id, tags, n)"),
        (f"{path}:5", "line 5 is not a JSON object: Expecting ',' delimiter at column 10"),
        (f"{path}:6", "line 6 is not a JSON object: it holds an array"),
        (f"{path}:7", "invalid UTF-8 at byte 9 of line 7"),
    ]
    assert chunk.bad[1].record == '{"id": 4 "tags": []}'
    assert chunk.nbytes == path.stat().st_size


# -- Parquet sources -----------------------------------------------------------------------


def _parquet(path: Path, rows: int, row_group: int) -> None:
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": pa.array([f"n{i}" if i % 5 else None for i in range(rows)], pa.string()),
            "ok": pa.array([i % 2 == 0 for i in range(rows)], pa.bool_()),
            "score": pa.array([i / 4 for i in range(rows)], pa.float64()),
        }
    )
    pq.write_table(table, path, row_group_size=row_group)


def test_parquet_fields_are_typed_and_slices_are_runs_of_row_groups(tmp_path: Path) -> None:
    _parquet(tmp_path / "p.parquet", rows=100, row_group=10)
    source = FileSource(str(tmp_path), "parquet", {"slice_rows": 25, "chunk_rows": 7})
    assert source.fields() == [
        Field("id", cqltypes.LongType),
        Field("name", cqltypes.UTF8Type),
        Field("ok", cqltypes.BooleanType),
        Field("score", cqltypes.DoubleType),
    ]
    plan = source.plan(0)
    assert [slice_id for slice_id, _ in plan] == [
        "f0000-p.parquet-rg0-2",
        "f0000-p.parquet-rg3-5",
        "f0000-p.parquet-rg6-8",
        "f0000-p.parquet-rg9-9",
    ]
    second = list(source.read(plan[1][1]))
    assert max(len(c.rows) for c in second) == 7
    rows = [row for c in second for row in c.rows]
    assert [r[0] for r in rows] == list(range(30, 60))
    assert rows[1] == (31, "n31", False, 31 / 4)
    assert rows[5][1] is None
    assert second[0].position(0) == f"{tmp_path / 'p.parquet'}:31"
    assert sum(len(c.rows) for c in _chunks(source)) == 100


def test_parquet_nested_types_map_to_cql_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "tags": pa.array([["a"]], pa.list_(pa.string())),
            "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int32())),
        }
    )
    pq.write_table(table, tmp_path / "n.parquet")
    fields = FileSource(str(tmp_path / "n.parquet"), "parquet").fields()
    assert fields[0].cql_type.cql_parameterized_type() == "list<text>"
    assert fields[1].cql_type.cql_parameterized_type() == "map<text, int>"


# -- sinks ---------------------------------------------------------------------------------


COLUMNS = ("id", "name")
FIELDS = [Field("id"), Field("name")]


def _sink(path: Path | str, format: str, **options: Any) -> FileSink:
    sink = FileSink(str(path), format, options)
    sink.prepare(FIELDS, DriftPolicy.FAIL)
    return sink


def test_csv_sink_writes_part_files_that_read_back_identically(tmp_path: Path) -> None:
    out = tmp_path / "out" / "nested"
    sink = _sink(out, "csv")
    rows = [("1", "a,b"), ("2", None), ("3", ""), ("4", 'q"\nx')]
    assert _write(sink, "f0000-a.csv", [_chunk(COLUMNS, rows)]) == 4
    assert sorted(p.name for p in out.iterdir()) == ["part-f0000-a.csv-00001.csv"]
    text = (out / "part-f0000-a.csv-00001.csv").read_bytes()
    assert text == b'id,name\n1,"a,b"\n2,\n3,""\n4,"q""\nx"\n'
    assert _rows(FileSource(str(out), "csv")) == rows


def test_files_roll_over_at_file_size_and_each_csv_part_has_a_header(tmp_path: Path) -> None:
    sink = _sink(tmp_path, "csv", file_size="40B")
    rows = [(str(i), f"name-{i}") for i in range(10)]
    _write(sink, "s", [_chunk(COLUMNS, rows[:6]), _chunk(COLUMNS, rows[6:])])
    parts = sorted(p.name for p in tmp_path.iterdir())
    assert parts == [f"part-s-0000{i}.csv" for i in range(1, len(parts) + 1)]
    assert len(parts) > 2
    assert all(p.read_text().startswith("id,name\n") for p in tmp_path.iterdir())
    assert _rows(FileSource(str(tmp_path), "csv")) == rows


def test_redo_and_abort_leave_exactly_one_copy_of_each_slice(tmp_path: Path) -> None:
    sink = _sink(tmp_path, "jsonl", file_size=20)
    first = [("1", "a"), ("2", "b"), ("3", "c")]
    _write(sink, "s1", [_chunk(COLUMNS, first)])
    _write(sink, "s2", [_chunk(COLUMNS, [("9", "z")])])
    assert len(list(tmp_path.glob("part-s1-*"))) == 3
    # A redo of s1 that fails: nothing of it shows, the committed files stay.
    _write(sink, "s1", [_chunk(COLUMNS, [("x", "y")])], commit=False)
    assert sorted(_rows(FileSource(str(tmp_path), "jsonl"))) == [*first, ("9", "z")]
    # A redo of s1 that commits with fewer rows replaces every earlier file of s1 only.
    _write(sink, "s1", [_chunk(COLUMNS, [("1", "a")])])
    assert sorted(_rows(FileSource(str(tmp_path), "jsonl"))) == [("1", "a"), ("9", "z")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "part-s1-00001.jsonl",
        "part-s2-00001.jsonl",
    ]


def test_an_empty_slice_still_leaves_a_csv_with_its_header(tmp_path: Path) -> None:
    sink = _sink(tmp_path, "csv")
    _write(sink, "empty", [])
    assert (tmp_path / "part-empty-00001.csv").read_text() == "id,name\n"


def test_chunk_columns_are_matched_by_name(tmp_path: Path) -> None:
    sink = _sink(tmp_path, "jsonl")
    _write(sink, "s", [_chunk(("name", "id"), [("a", "1")])])
    assert json.loads((tmp_path / "part-s-00001.jsonl").read_text()) == {"id": "1", "name": "a"}


def test_gzip_output_reads_back(tmp_path: Path) -> None:
    sink = _sink(tmp_path, "csv", compression="gzip")
    _write(sink, "s", [_chunk(COLUMNS, [("1", "a")])])
    (part,) = tmp_path.iterdir()
    assert part.name == "part-s-00001.csv.gz"
    assert gzip.decompress(part.read_bytes()) == b"id,name\n1,a\n"
    assert _rows(FileSource(str(tmp_path), "csv")) == [("1", "a")]


def test_parquet_sink_writes_a_row_group_per_chunk_and_rolls_over(tmp_path: Path) -> None:
    sink = _sink(tmp_path, "parquet", compression="snappy")
    chunks = [_chunk(COLUMNS, [(str(i), f"n{i}") for i in range(k, k + 5)]) for k in (0, 5, 10)]
    _write(sink, "p", chunks)
    (part,) = tmp_path.iterdir()
    assert pq.ParquetFile(part).metadata.num_row_groups == 3
    assert _rows(FileSource(str(tmp_path), "parquet")) == [(str(i), f"n{i}") for i in range(15)]
    rolled = tmp_path / "rolled"
    _write(_sink(rolled, "parquet", file_size=1), "p", chunks)
    assert len(list(rolled.iterdir())) == 3


def test_memory_filesystem_paths_work_for_sources_and_sinks() -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/cassflow-test/in/a.csv", b"id,name\n1,x\n")
    source = FileSource("memory://cassflow-test/in/*.csv", "csv")
    ((slice_id, spec),) = source.plan(1)
    assert spec["path"] == "memory:///cassflow-test/in/a.csv"
    (chunk,) = source.read(spec)
    assert chunk.rows == [("1", "x")]
    sink = _sink("memory://cassflow-test/out", "jsonl")
    _write(sink, slice_id, [chunk])
    assert fs.cat("/cassflow-test/out/part-f0000-a.csv-00001.jsonl") == (
        b'{"id": "1", "name": "x"}\n'
    )
    fs.rm("/cassflow-test", recursive=True)


def test_storage_options_never_show_in_reprs_or_errors(tmp_path: Path) -> None:
    secret = "s3cr3t-value"
    source = FileSource(str(tmp_path / "none-*.csv"), "csv", storage={"password": secret})
    sink = FileSink(str(tmp_path), "csv", storage={"password": secret})
    assert secret not in repr(source) + repr(sink) + source.location + sink.location
    with pytest.raises(CopyError) as error:
        source.fields()
    assert secret not in str(error.value)


def test_values_that_do_not_convert_are_bad_rows_and_the_others_are_written(
    tmp_path: Path,
) -> None:
    sink = FileSink(str(tmp_path), "parquet")
    sink.prepare([Field("id", cqltypes.Int32Type), Field("name")], DriftPolicy.FAIL)
    chunk = Chunk(COLUMNS, "in.csv", [(1, "a"), ("x", "b"), (3, "c")], [2, 3, 4])
    writer = sink.open_slice("s")
    result = writer.write(chunk)
    writer.commit()
    assert result.written == 2
    (bad,) = result.bad
    assert (bad.position, bad.category) == ("in.csv:3", "convert")
    assert bad.record == {"id": "x", "name": "b"}
    assert _rows(FileSource(str(tmp_path), "parquet")) == [(1, "a"), (3, "c")]


@pytest.fixture(autouse=True)
def _no_leftover_temporaries(tmp_path: Path) -> Iterator[None]:
    yield
    assert not list(tmp_path.rglob(".part-*")), "temporary files were left behind"


@pytest.mark.parametrize("format", ["csv", "jsonl", "parquet"])
def test_typed_values_round_trip_through_every_format(tmp_path: Path, format: str) -> None:
    from cassflow.copy._convert import parse_cql_type, to_cql

    fields = [
        Field("id", cqltypes.Int32Type),
        Field("at", cqltypes.DateType),
        Field("price", cqltypes.DecimalType),
        Field("tags", parse_cql_type("set<text>")),
        Field("scores", parse_cql_type("map<text, double>")),
    ]
    rows = [
        (
            1,
            datetime(2024, 5, 1, 12, 0, 0, 123000),
            Decimal("12.50"),
            sortedset(["a", 'b"c']),
            {"x,y": 1.5},
        ),
        (2, datetime(1950, 1, 1), Decimal("-0.001"), None, {}),
        (3, None, None, sortedset(), None),
    ]
    sink = FileSink(str(tmp_path), format)
    sink.prepare(fields, DriftPolicy.FAIL)
    names = tuple(f.name for f in fields)
    assert _write(sink, "s", [_chunk(names, rows)]) == 3
    back = _rows(FileSource(str(tmp_path), format))
    convert = [to_cql(f.cql_type) for f in fields]
    got = [tuple(c(v) for c, v in zip(convert, row, strict=True)) for row in back]
    want = [tuple(c(v) for c, v in zip(convert, row, strict=True)) for row in rows]
    serialize = [f.cql_type.serialize for f in fields]

    def wire(table: list[tuple[Any, ...]]) -> list[list[bytes | None]]:
        return [
            [None if v is None else s(v, 4) for s, v in zip(serialize, row, strict=True)]
            for row in table
        ]

    assert wire(got) == wire(want)


def test_a_csv_value_that_does_not_convert_is_a_bad_row(tmp_path: Path) -> None:
    sink = FileSink(str(tmp_path), "csv")
    sink.prepare([Field("id", cqltypes.Int32Type), Field("name")], DriftPolicy.FAIL)
    chunk = Chunk(COLUMNS, "in.jsonl", [(1, "a"), ("two", "b")], [1, 2])
    writer = sink.open_slice("s")
    result = writer.write(chunk)
    writer.commit()
    assert result.written == 1
    (bad,) = result.bad
    assert (bad.position, bad.category) == ("in.jsonl:2", "convert")
    assert bad.reason.startswith("column id: ")
    assert (tmp_path / "part-s-00001.csv").read_text() == "id,name\n1,a\n"


def test_a_copy_run_moves_csv_files_to_parquet_and_quarantines_bad_lines(tmp_path: Path) -> None:
    from cassflow.copy._checkpoint import SqliteCheckpointStore
    from cassflow.copy._quarantine import Quarantine
    from cassflow.copy._runner import CopyOptions, CopyRun

    data = tmp_path / "in"
    data.mkdir()
    (data / "a.csv").write_text('id,name\n1,one\n2,"two\nlines"\n3,x,extra\n')
    (data / "b.csv").write_text('id,name\n4,\n5,""\n')
    store = SqliteCheckpointStore(tmp_path / "checkpoints.sqlite3")
    try:
        report = CopyRun(
            FileSource(str(data / "*.csv"), "csv"),
            FileSink(str(tmp_path / "out"), "parquet"),
            run_id="r1",
            store=store,
            quarantine=Quarantine(tmp_path / "quarantine", "r1"),
            options=CopyOptions(workers=2),
        ).execute()
    finally:
        store.close()
    assert (report.counts.read, report.counts.written, report.counts.quarantined) == (5, 4, 1)
    (entry,) = [
        json.loads(line)
        for path in report.quarantine_files
        for line in Path(path).read_text().splitlines()
    ]
    assert entry["source"] == f"{data / 'a.csv'}:5"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part-f0000-a.csv-00001.parquet",
        "part-f0001-b.csv-00001.parquet",
    ]
    assert _rows(FileSource(str(tmp_path / "out"), "parquet")) == [
        ("1", "one"),
        ("2", "two\nlines"),
        ("4", None),
        ("5", ""),
    ]


def test_a_protocol_without_its_file_system_names_what_to_install() -> None:
    with pytest.raises(CopyError, match=r"gs://b/x/\*\.csv: gs:// paths need fsspec's gs://"):
        FileSource("gs://b/x/*.csv", "csv").fields()
