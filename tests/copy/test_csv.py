"""The CSV reader reads files exactly as written (RFC 4180), knows each record's physical line,
turns each kind of bad record into a BadRecord without losing its neighbours; the writer's
output reads back identically here and in Python's csv module."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cassflow.copy._csv import CsvDialect, CsvReader, CsvRecord, CsvWriter, read_csv
from cassflow.copy._model import BadRecord, CopyError


def _read(data: bytes, block_size: int = 1 << 18, **dialect: Any) -> list[CsvRecord | BadRecord]:
    reader = CsvReader(io.BytesIO(data), "a.csv", CsvDialect(**dialect), block_size=block_size)
    return list(reader)


def _good(data: bytes, **dialect: Any) -> list[tuple[int, tuple[str | None, ...]]]:
    out = _read(data, **dialect)
    assert all(isinstance(r, CsvRecord) for r in out), out
    return [(r.line, r.fields) for r in out if isinstance(r, CsvRecord)]


# -- reading as written ----------------------------------------------------------------------


def test_doubled_quotes_delimiters_and_line_breaks_inside_quotes_are_kept_exactly() -> None:
    data = b'a,b,c\n"say ""hi""","x,y","1\r\n2\n3\r4"\n'
    assert _good(data) == [(2, ('say "hi"', "x,y", "1\r\n2\n3\r4"))]


def test_quoted_empty_is_empty_text_and_unquoted_empty_is_null() -> None:
    data = b'a,b,c,d\n"",,x,""\n,,,\n'
    assert _good(data) == [(2, ("", None, "x", "")), (3, (None, None, None, None))]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_records_end_with_lf_crlf_or_a_lone_cr(newline: bytes) -> None:
    data = newline.join([b"a,b", b"1,2", b'"x' + newline + b'y",3', b"4,5"]) + newline
    assert _good(data) == [
        (2, ("1", "2")),
        (3, ("x" + newline.decode() + "y", "3")),
        (5, ("4", "5")),
    ]


def test_the_last_record_needs_no_line_break() -> None:
    assert _good(b'a,b\n1,"2"') == [(2, ("1", "2"))]


def test_physical_line_numbers_count_lines_inside_quoted_fields() -> None:
    data = b'h1,h2\n"a\nb\nc",1\nplain,2\n"d\r\ne",3\nlast,4\n'
    assert [line for line, _ in _good(data)] == [2, 5, 6, 8]


def test_a_field_of_ten_megabytes_is_read_whole() -> None:
    big = "x" * 10_000_000 + "\n" + '"' * 3
    data = b'a,b\n1,"' + big.replace('"', '""').encode() + b'"\n2,after\n'
    assert _good(data, block_size=65536) == [(2, ("1", big)), (4, ("2", "after"))]


def test_records_spanning_block_boundaries_read_the_same_as_one_block() -> None:
    rows = [f'{i},"v {i}\n,""q""",{"" if i % 3 else "z"}\r\n' for i in range(500)]
    data = ("a,b,c\n" + "".join(rows)).encode()
    assert _read(data, block_size=16) == _read(data)
    assert len(_read(data)) == 500


def test_utf8_bom_is_skipped_and_other_delimiters_and_encodings_work() -> None:
    data = '\ufeffnom;ville\nÉlodie;"Saint-Étienne; Loire"\n'.encode()
    reader = CsvReader(io.BytesIO(data), "a.csv", CsvDialect(delimiter=";", encoding="utf-8-sig"))
    assert reader.header == ("nom", "ville")
    assert [r.fields for r in reader if isinstance(r, CsvRecord)] == [
        ("Élodie", "Saint-Étienne; Loire")
    ]
    tabbed = "a\tb\nç\t1\n".encode("latin-1")
    assert _good(tabbed, delimiter="\t", encoding="latin-1") == [(2, ("ç", "1"))]


def test_null_texts_comments_skipped_lines_and_escapes() -> None:
    data = b'junk line "\n# a comment, with "quotes\na,b\n\\N,"\\N"\n# another\nNULL,x\n'
    assert _good(data, skip_lines=1, comment="#", null=("\\N", "NULL")) == [
        (4, (None, "\\N")),
        (6, (None, "x")),
    ]
    escaped = b'a,b\n"say \\"hi\\"",x\\,y\n'
    assert _good(escaped, escape="\\") == [(2, ('say "hi"', "x,y"))]


def test_without_a_header_the_first_record_sets_the_width() -> None:
    out = _read(b"1,2\n3,4,5\n6,7\n", header=False)
    assert out[0] == CsvRecord(1, ("1", "2"))
    assert out[1] == BadRecord(
        "a.csv:2",
        "expected 2 fields (the first record of a.csv, line 1, has 2) but got 3",
        "3,4,5",
    )
    assert out[2] == CsvRecord(3, ("6", "7"))


def test_read_csv_yields_records_and_bad_records_in_file_order() -> None:
    data = b'a,b\n1,2\n3\n4,5\n"6,7\n8,9\n'
    kinds = [
        (type(r).__name__, r.line if isinstance(r, CsvRecord) else r.position)
        for r in read_csv(io.BytesIO(data), "a.csv")
    ]
    assert kinds == [
        ("CsvRecord", 2),
        ("BadRecord", "a.csv:3"),
        ("CsvRecord", 4),
        ("BadRecord", "a.csv:5"),
        ("CsvRecord", 6),
    ]


# -- bad records -----------------------------------------------------------------------------


def test_a_ragged_row_is_bad_and_its_neighbours_are_read() -> None:
    data = b"a,b,c,d,e,f,g,h\n" + b"1,2,3,4,5,6,7,8\n" + b"1,2,3,4,5,6,7,8,9\n" + b"x,,,,,,,\n"
    out = _read(data)
    assert out[1] == BadRecord(
        "a.csv:3",
        "expected 8 fields (the header of a.csv has 8) but got 9",
        "1,2,3,4,5,6,7,8,9",
        "parse",
    )
    assert [r.line for r in out if isinstance(r, CsvRecord)] == [2, 4]


def test_invalid_utf8_names_the_byte_and_line() -> None:
    out = _read(b"a,b\nok,1\nab\xffc,2\nfine,3\n")
    assert out[1] == BadRecord("a.csv:3", "invalid UTF-8 at byte 3 of line 3", "ab\ufffdc,2")
    assert [r.fields for r in out if isinstance(r, CsvRecord)] == [("ok", "1"), ("fine", "3")]


def test_a_stray_quote_and_text_after_a_closing_quote_are_bad() -> None:
    out = _read(b'a,b\n1,ab"c\n2,"closed"x\n3,fine\n')
    assert out[0] == BadRecord(
        "a.csv:2",
        "unexpected quote in an unquoted field at line 2 column 5 (a field holding quotes "
        "must be quoted, with each inner quote doubled)",
        '1,ab"c',
    )
    assert out[1] == BadRecord(
        "a.csv:3",
        "unexpected character 'x' after closing quote at line 3 column 11 "
        "(expected ',' or the end of the line)",
        '2,"closed"x',
    )
    assert out[2] == CsvRecord(4, ("3", "fine"))


def test_an_unterminated_quote_is_quarantined_and_reading_resumes_on_the_next_line() -> None:
    out = _read(b'a,b\n1,ok\n2,"never closed\n3,x\n4,y\n')
    assert out[1] == BadRecord(
        "a.csv:3",
        "unterminated quoted field: the quote at line 3 column 3 is never closed "
        "(the file ends first)",
        '2,"never closed',
    )
    assert out[2:] == [CsvRecord(4, ("3", "x")), CsvRecord(5, ("4", "y"))]


def test_an_unterminated_quote_before_a_later_quote_does_not_swallow_the_records_between() -> None:
    out = _read(b'a,b\n1,"open\n2,x\n3,"y"\n4,z\n')
    assert isinstance(out[0], BadRecord)
    assert out[0].position == "a.csv:2"
    assert out[0].reason.startswith("unterminated quoted field: the quote at line 2 column 3")
    assert out[1:] == [CsvRecord(3, ("2", "x")), CsvRecord(4, ("3", "y")), CsvRecord(5, ("4", "z"))]


def test_max_record_size_bounds_an_unclosed_quote() -> None:
    data = b'a,b\n1,"open\n' + b"x,y\n" * 100
    out = _read(data, block_size=64, max_record_size=200)
    assert isinstance(out[0], BadRecord)
    assert "not closed within max_record_size (200 characters)" in out[0].reason
    assert len([r for r in out if isinstance(r, CsvRecord)]) == 100


def test_a_bad_header_is_an_error_that_names_the_file() -> None:
    reader = CsvReader(io.BytesIO(b'a,"b\n'), "a.csv")
    with pytest.raises(CopyError, match=r"cannot read the header of a\.csv: unterminated"):
        _ = reader.header


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "CSV delimiter must be a single character"),
        ({"quote": "\n"}, "CSV quote cannot be a line break"),
        ({"delimiter": '"'}, "CSV quote and delimiter are both"),
        ({"encoding": "nope"}, "unknown CSV encoding 'nope'"),
        ({"skip_lines": -1}, "CSV skip_lines must be a whole number >= 0"),
        ({"line_terminator": ";"}, "CSV line_terminator must be"),
    ],
)
def test_bad_dialects_are_refused_clearly(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CopyError, match=message):
        CsvDialect(**options)


def test_dialect_from_yaml_options() -> None:
    dialect = CsvDialect.from_options({"header": "false", "null": "NULL", "skip_lines": "2"})
    assert (dialect.header, dialect.null, dialect.skip_lines) == (False, ("NULL",), 2)
    with pytest.raises(CopyError, match="CSV header must be true or false, got 'maybe'"):
        CsvDialect.from_options({"header": "maybe"})


# -- the writer and round trips --------------------------------------------------------------


def test_writer_quotes_only_what_needs_it_and_keeps_null_apart_from_empty() -> None:
    out = io.BytesIO()
    CsvWriter(out).write_rows([["a", None, "", "x,y", 'q"', " lead", "line\nbreak"]])
    assert out.getvalue() == b'a,,"","x,y","q"""," lead","line\nbreak"\n'
    crlf = io.BytesIO()
    CsvWriter(crlf, CsvDialect(line_terminator="\r\n")).write_row(["1", None])
    assert crlf.getvalue() == b"1,\r\n"


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_cell = st.one_of(st.none(), _text, st.sampled_from(['"', ",", "\r", "\n", "\r\n", "", " ", '""']))


@st.composite
def _tables(draw: st.DrawFn) -> list[list[str | None]]:
    width = draw(st.integers(2, 5))
    return draw(st.lists(st.lists(_cell, min_size=width, max_size=width), max_size=20))


def _expected_lines(rows: list[list[str | None]], start: int) -> list[int]:
    lines, line = [], start
    for row in rows:
        lines.append(line)
        line += 1 + sum(v.count("\n") + v.count("\r") - v.count("\r\n") for v in row if v)
    return lines


@settings(max_examples=150, deadline=None)
@given(
    rows=_tables(), terminator=st.sampled_from(["\n", "\r\n"]), block=st.sampled_from([16, 4096])
)
def test_written_tables_read_back_identically_with_their_lines(
    rows: list[list[str | None]], terminator: str, block: int
) -> None:
    header = [f"h{i}" for i in range(len(rows[0]))] if rows else ["h0", "h1"]
    out = io.BytesIO()
    writer = CsvWriter(out, CsvDialect(line_terminator=terminator))
    writer.write_row(header)
    writer.write_rows(rows)
    reader = CsvReader(io.BytesIO(out.getvalue()), "t.csv", block_size=block)
    assert reader.header == tuple(header)
    back = list(reader)
    assert back == [
        CsvRecord(line, tuple(row))
        for line, row in zip(_expected_lines(rows, 2), rows, strict=True)
    ]
    # Python's csv module reads the same text (it cannot tell null from "": both are '').
    text = out.getvalue().decode()
    theirs = list(csv.reader(io.StringIO(text, newline="")))
    assert theirs[1:] == [["" if v is None else v for v in row] for row in rows]


@settings(max_examples=100, deadline=None)
@given(
    rows=_tables(),
    quoting=st.sampled_from([csv.QUOTE_ALL, csv.QUOTE_MINIMAL]),
    terminator=st.sampled_from(["\n", "\r\n"]),
)
def test_files_written_by_python_csv_are_read_identically(
    rows: list[list[str | None]], quoting: int, terminator: str
) -> None:
    values = [["" if v is None else v for v in row] for row in rows]
    # Python's writer quotes only the characters of its own line terminator: with '\n' a field
    # holding a lone CR goes out unquoted, which no reader can tell from a line break.
    assume(
        quoting == csv.QUOTE_ALL
        or terminator == "\r\n"
        or not any("\r" in v for r in values for v in r)
    )
    text = io.StringIO(newline="")
    writer = csv.writer(text, quoting=quoting, lineterminator=terminator)
    writer.writerow([f"h{i}" for i in range(len(values[0]) if values else 2)])
    writer.writerows(values)
    back = list(CsvReader(io.BytesIO(text.getvalue().encode()), "py.csv"))
    assert all(isinstance(r, CsvRecord) for r in back)
    got = [list(r.fields) for r in back if isinstance(r, CsvRecord)]
    if quoting == csv.QUOTE_ALL:  # every field quoted: nothing is null
        assert got == values
    else:  # QUOTE_MINIMAL writes '' unquoted, which reads as null (a lone '' is quoted)
        assert got == [[None if v == "" and len(row) > 1 else v for v in row] for row in values]
