"""Large CSV and JSON Lines files cut into byte ranges at record boundaries: reading every
range gives exactly the records, bad records, positions and reasons of reading the file whole
(Hypothesis over messy content and tiny ranges); the cuts, the files that stay whole, the
plan pass's flat memory, and object-store (memory://) paths."""

from __future__ import annotations

import gzip
import io
import itertools
import tracemalloc
from pathlib import Path
from typing import Any

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassflow.copy._csv import CsvDialect
from cassflow.copy._file_options import FileOptions
from cassflow.copy._file_split import ByteRange, csv_ranges, jsonl_ranges
from cassflow.copy._files import FileSource
from cassflow.copy._model import CopyError

_MEMORY = fsspec.filesystem("memory")
_COUNTER = itertools.count()

Read = tuple[list[tuple[int, tuple[Any, ...]]], list[tuple[int, str, str, Any, str]], int]


def _read(source: FileSource) -> Read:
    """Rows with their lines, bad records sorted by line, and bytes, over every slice."""
    rows: list[tuple[int, tuple[Any, ...]]] = []
    bad: list[tuple[int, str, str, Any, str]] = []
    nbytes = 0
    for _, spec in source.plan(0):
        for chunk in source.read(spec):
            assert chunk.lines is not None
            rows.extend(zip(chunk.lines, chunk.rows, strict=True))
            for b in chunk.bad:
                line = int(b.position.rpartition(":")[2])
                bad.append((line, b.position, b.reason, b.record, b.category))
            nbytes += chunk.nbytes
    return rows, sorted(bad, key=lambda b: b[0]), nbytes


def _memory_file(data: bytes, suffix: str) -> str:
    path = f"/cassflow-split/{next(_COUNTER)}{suffix}"
    _MEMORY.pipe(path, data)
    return f"memory://{path}"


def _same_whole_and_cut(
    url: str, format: str, options: dict[str, Any], slice_bytes: int = 64
) -> int:
    """Reads ``url`` whole and as ranges of ``slice_bytes``; asserts they agree; returns the
    number of slices."""
    whole = FileSource(url, format, options)
    cut = FileSource(url, format, {**options, "slice_bytes": slice_bytes})
    assert len(whole.plan(0)) == 1
    try:
        expected = _read(whole)
    except CopyError as exc:  # an unreadable header fails both the same way
        failed = str(exc)
    else:
        failed = None
    if failed is not None:
        with pytest.raises(CopyError) as caught:
            _read(cut)
        assert str(caught.value) == failed
        return 1
    assert _read(cut) == expected
    plan = cut.plan(0)
    spans = [(spec.get("start", 0), spec.get("end")) for _, spec in plan]
    if len(plan) > 1:  # the ranges tile the file
        assert spans[0][0] == 0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert spans[-1][1] == plan[0][1]["size"]
    return len(plan)


# -- CSV -----------------------------------------------------------------------------------

#: "~" stands for a byte that is not valid UTF-8.
_plain = st.text(alphabet="xy \t\u00e9~", max_size=4)
_quoted = st.text(alphabet='x",\r\n~', max_size=6).map(lambda t: '"' + t.replace('"', '""') + '"')
#: Stray quotes, text after a closing quote, unbalanced quotes.
_garbage = st.text(alphabet='x",\r\n', min_size=1, max_size=4)


def _records(garbage: bool, lone_cr: bool) -> st.SearchStrategy[str]:
    field = st.one_of(_plain, _quoted, _quoted, *([_garbage] if garbage else []))
    ends = ["\n", "\n", "\r\n", *(["\r"] if lone_cr else [])]
    record = st.tuples(st.lists(field, min_size=1, max_size=4), st.sampled_from(ends))
    return st.lists(record, max_size=40).map(
        lambda rs: "".join(",".join(fields) + end for fields, end in rs)
    )


@st.composite
def _csv_files(draw: st.DrawFn) -> tuple[bytes, dict[str, Any], bool]:
    garbage, lone_cr = draw(st.booleans()), draw(st.booleans())
    body = draw(_records(garbage, lone_cr))
    header = draw(st.booleans())
    skip = draw(st.integers(0, 2))
    options: dict[str, Any] = {"skip_lines": skip, "header": header}
    if not header:
        options["columns"] = "a,b,c"
    prefix = "".join(draw(_garbage) + "\n" for _ in range(skip))
    blank = "\n" * draw(st.sampled_from([0, 1, 70]))  # the reader skips them before a header
    text = prefix + (blank + "a,b,c\n" if header else "") + body
    if draw(st.booleans()):  # a quote that never closes, near the end
        text += '9,"never closed\nx,y\n'
        if draw(st.booleans()):
            text += "no line break at the end"
    data = text.encode("utf-8").replace(b"~", b"\xff")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    clean = not garbage and not lone_cr
    return data, options, clean


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_csv_files(), st.sampled_from([64, 97]))
def test_csv_read_as_ranges_gives_exactly_what_the_whole_file_gives(
    case: tuple[bytes, dict[str, Any], bool], slice_bytes: int
) -> None:
    data, options, clean = case
    url = _memory_file(data, ".csv")
    try:
        slices = _same_whole_and_cut(url, "csv", {**options, "chunk_rows": 7}, slice_bytes)
    finally:
        _MEMORY.rm(url.removeprefix("memory://"))
    if clean and b'"never closed' not in data and len(data) > 6 * slice_bytes:
        assert slices > 1  # well-formed files do get cut


def test_cuts_start_at_records_on_their_physical_lines(tmp_path: Path) -> None:
    lines = ["id,text"] + [f'{i},"line {i}\r\nsecond ""half"""' for i in range(1, 200)]
    path = tmp_path / "orders.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    source = FileSource(str(path), "csv", {"slice_bytes": "1kB"})
    plan = source.plan(4)
    assert plan == FileSource(str(path), "csv", {"slice_bytes": 1000}).plan(4)  # stable
    assert len(plan) == len(path.read_bytes()) // 1000 + 1
    assert [slice_id for slice_id, _ in plan][:2] == [
        "f0000-orders.csv-b0000",
        "f0000-orders.csv-b0001",
    ]
    data = path.read_bytes()
    for _, spec in plan[1:]:
        start, first_line = spec["start"], spec["first_line"]
        assert data[start - 1 : start] == b"\n"
        assert data[start:].startswith(b'%d,"line' % ((first_line - 2) // 2 + 1))
        assert first_line == data[:start].count(b"\n") + 1
        assert {"path", "size", "mtime", "end"} <= set(spec)
    assert _read(source)[0][-1] == (2 * 199, ("199", 'line 199\r\nsecond "half"'))


def test_a_stray_quote_ends_the_cutting(tmp_path: Path) -> None:
    good = "".join(f'{i},"ok"\n' for i in range(100))
    path = tmp_path / "s.csv"
    path.write_text("id,v\n" + good + 'bad,x"y\n1,"z\n' + good)
    bad_at = len("id,v\n" + good)
    plan = FileSource(str(path), "csv", {"slice_bytes": 100}).plan(0)
    assert plan[-1][1]["start"] <= bad_at < plan[-1][1]["end"]
    assert plan[-1][1]["end"] == path.stat().st_size
    assert len(plan) > 3
    _same_whole_and_cut(str(path), "csv", {}, 100)


def test_an_unterminated_quote_keeps_the_rest_whole() -> None:
    data = b"a,b\n" + b"1,2\n" * 50 + b'3,"open\n' + b"4,5\n" * 50
    ranges = csv_ranges(io.BytesIO(data), 40, CsvDialect())
    assert ranges[-1].start <= 4 + 200 < ranges[-1].end == len(data)
    assert all(r.end <= 4 + 200 for r in ranges[:-1])


def test_lone_cr_files_stay_whole_and_lone_crs_count_as_lines() -> None:
    assert csv_ranges(io.BytesIO(b"a,b\r" + b"1,2\r" * 100), 16, CsvDialect()) == [
        ByteRange(0, 404, 1)
    ]
    mixed = b"a,b\r1,2\r\n3,4\r5,6\n7,8\n"
    assert csv_ranges(io.BytesIO(mixed), 6, CsvDialect())[1:] == [
        ByteRange(9, 17, 3),
        ByteRange(17, len(mixed), 5),
    ]


def test_cuts_across_scan_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """CRLF, a doubled quote and a quote's closing cut by the end of a scan block."""
    from cassflow.copy import _file_split

    monkeypatch.setattr(_file_split, "SCAN_BLOCK", 5)
    data = b'h\r\n"a\r\n""b"\r\n' * 20
    dialect = CsvDialect(header=False)
    ranges = csv_ranges(io.BytesIO(data), 7, dialect)
    assert len(ranges) > 5
    for r in ranges:
        assert data[r.start : r.start + 3] in (b"h\r\n", b'"a\r')
        assert r.first_line == data[: r.start].count(b"\n") + 1
        if r.start:
            assert data[: r.start].count(b'"') % 2 == 0


@pytest.mark.parametrize(
    ("options", "name", "data"),
    [
        ({"escape": "\\"}, "e.csv", b"a,b\n" + b'1,"x\\"y"\n' * 50),
        ({"comment": "#"}, "c.csv", b"a,b\n" + b"1,2\n#'\"\n" * 50),
        ({"encoding": "utf-16"}, "u.csv", ("a,b\n" + "1,2\n" * 50).encode("utf-16")),
        ({}, "z.csv.gz", gzip.compress(b"a,b\n" + b"1,2\n" * 5000)),
    ],
)
def test_files_that_cannot_be_cut_stay_whole(
    tmp_path: Path, options: dict[str, Any], name: str, data: bytes
) -> None:
    (tmp_path / name).write_bytes(data)
    source = FileSource(str(tmp_path / name), "csv", {**options, "slice_bytes": 16})
    ((slice_id, spec),) = source.plan(0)
    assert slice_id == f"f0000-{name}"
    assert "start" not in spec
    assert len(_read(source)[0]) in (50, 5000)


def test_small_files_stay_whole_with_their_old_slice_ids(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"a,b\n1,2\n")
    (tmp_path / "b.jsonl").write_bytes(b'{"a": 1}\n' * 100)
    assert [i for i, _ in FileSource(str(tmp_path / "a.csv"), "csv").plan(0)] == ["f0000-a.csv"]
    plan = FileSource(str(tmp_path / "b.jsonl"), "jsonl", {"slice_bytes": 900}).plan(0)
    assert [i for i, _ in plan] == ["f0000-b.jsonl"]


def test_slice_bytes_option() -> None:
    assert FileOptions.parse("csv", None).slice_bytes == 64 * 1024**2
    assert FileOptions.parse("csv", {"slice_bytes": "64MB"}).slice_bytes == 64_000_000
    assert FileOptions.parse("jsonl", {"slice_bytes": "1GiB"}).slice_bytes == 1024**3
    with pytest.raises(CopyError, match=r"slice_bytes must be a positive number of bytes"):
        FileOptions.parse("csv", {"slice_bytes": "lots"})
    with pytest.raises(CopyError, match=r"unknown parquet option\(s\) 'slice_bytes'"):
        FileOptions.parse("parquet", {"slice_bytes": 10})


def test_the_plan_pass_streams(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("wb") as out:
        block = b"".join(b'%d,"quoted, text",plain\n' % i for i in range(100_000))
        for _ in range(8):
            out.write(block)
    size = path.stat().st_size
    source = FileSource(str(path), "csv", {"columns": "a,b,c", "header": False})
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            ranges = csv_ranges(stream, 1024**2, source.options.dialect)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(ranges) == size // 1024**2 + 1
    assert peak < 4 * 1024**2  # about two scan blocks, whatever the file size (~26 MB)


# -- JSON Lines ----------------------------------------------------------------------------

_json_line = st.sampled_from(
    [
        '{"a": 1, "b": "x"}',
        '{"b": "line\\nbreak"}',
        "",
        "   ",
        "{",
        "[1, 2]",
        '{"c": 3}',
        '{"a": "\u00e9"}',
        '{"a": "~"}',
        "null",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_json_line, st.sampled_from(["\n", "\r\n"])), max_size=40),
    st.booleans(),
)
def test_jsonl_read_as_ranges_gives_exactly_what_the_whole_file_gives(
    lines: list[tuple[str, str]], last_break: bool
) -> None:
    text = "".join(line + end for line, end in lines)
    if not last_break:
        text += '{"a": "last"}'
    url = _memory_file(text.encode().replace(b"~", b"\xff"), ".jsonl")
    try:
        slices = _same_whole_and_cut(url, "jsonl", {"columns": "a,b", "chunk_rows": 3}, 48)
    finally:
        _MEMORY.rm(url.removeprefix("memory://"))
    if len(text) > 200:
        assert slices > 1


def test_jsonl_cuts_after_line_breaks() -> None:
    data = b'{"a": 1}\n' * 30
    assert jsonl_ranges(io.BytesIO(data), 100)[:2] == [
        ByteRange(0, 108, 1),
        ByteRange(108, 216, 13),
    ]
    assert jsonl_ranges(io.BytesIO(b'{"a": "no line break"}'), 4) == [ByteRange(0, 22, 1)]
