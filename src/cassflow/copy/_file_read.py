"""Reading one CSV or JSON Lines file as chunks of rows (Parquet: :mod:`._parquet_read`).

Every reader streams: CSV block by block (:class:`cassflow.copy._csv.CsvReader`), JSON Lines
line by line, Parquet record batch by record batch, so memory stays flat whatever the file
size. Rows carry the physical line they start on (CSV, JSON Lines) or their 1-based row
index in the file (Parquet), which is what a quarantined record's position shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import IO, Any

from cassflow.copy._csv import CsvDialect, CsvReader
from cassflow.copy._model import BadRecord, Chunk, CopyError


class Chunker:
    """Collects rows, lines and bad records and hands them out ``chunk_rows`` at a time."""

    def __init__(self, columns: tuple[str, ...], origin: str, chunk_rows: int) -> None:
        self.columns, self.origin, self.size = columns, origin, chunk_rows
        self.rows: list[tuple[Any, ...]] = []
        self.lines: list[int] = []
        self.bad: list[BadRecord] = []
        self.nbytes = 0

    def full(self) -> bool:
        return len(self.rows) + len(self.bad) >= self.size

    def take(self) -> Chunk:
        """The first ``chunk_rows`` rows (and every bad record collected so far)."""
        n = self.size
        chunk = Chunk(
            self.columns,
            self.origin,
            self.rows[:n],
            self.lines[:n],
            bad=self.bad,
            nbytes=self.nbytes,
        )
        del self.rows[:n], self.lines[:n]
        self.bad, self.nbytes = [], 0
        return chunk

    def drain(self) -> Iterator[Chunk]:
        """What is left, chunk by chunk."""
        while self.rows or self.bad or self.nbytes:
            yield self.take()


def read_csv_chunks(
    stream: IO[bytes],
    origin: str,
    dialect: CsvDialect,
    columns: tuple[str, ...],
    chunk_rows: int,
    *,
    header: tuple[str, ...] | None,
    first_line: int = 1,
) -> Iterator[Chunk]:
    """The records of a CSV file as chunks; ``header`` is what the file's header must be
    (``None`` when the names are not taken from it).

    With ``first_line`` above 1 the stream is a byte range of the file that starts at a record
    boundary on that line (:mod:`cassflow.copy._file_split`): it has no lines to skip and no
    header, and ragged records are explained as they are when the whole file is read.
    """
    reason = None
    if first_line > 1:
        if dialect.header:
            reason = f"the header of {origin} has {len(columns)}"
        dialect = replace(dialect, header=False, skip_lines=0)
        header = None
    reader = CsvReader(
        stream,
        origin,
        dialect,
        expected_fields=len(columns),
        expected_reason=reason,
        first_line=first_line,
    )
    found = reader.header
    if header is not None and found != header:
        raise CopyError(
            f"the header of {origin} changed since the copy was planned: expected "
            f"{', '.join(header)} but found {', '.join(str(f) for f in found or ())}"
        )
    out = Chunker(columns, origin, chunk_rows)
    for batch in reader.batches():
        out.rows.extend(batch.rows)
        out.lines.extend(batch.lines)
        out.bad.extend(batch.bad)
        out.nbytes += batch.nbytes
        while out.full():
            yield out.take()
    yield from out.drain()


def first_json_object(stream: IO[bytes]) -> dict[str, Any] | None:
    """The first JSON object of a JSON Lines file (``None`` when it has no valid one)."""
    for line, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        value, _ = _parse_json_line(raw, line)
        if isinstance(value, dict):
            return value
    return None


def read_jsonl_chunks(
    stream: IO[bytes],
    origin: str,
    columns: tuple[str, ...],
    chunk_rows: int,
    first_line: int = 1,
) -> Iterator[Chunk]:
    """The objects of a JSON Lines file as rows in ``columns`` order; blank lines are skipped,
    missing keys are null, an unknown key makes the record bad. ``first_line`` is the line
    the stream starts on (a byte range of a file: :mod:`cassflow.copy._file_split`)."""
    known = frozenset(columns)
    out = Chunker(columns, origin, chunk_rows)
    for line, raw in enumerate(stream, start=first_line):
        out.nbytes += len(raw)
        if not raw.strip():
            continue
        value, reason = _parse_json_line(raw, line)
        if reason is None:
            extra = [k for k in value if k not in known]
            if extra:
                names = ", ".join(repr(k) for k in extra)
                reason = (
                    f"unexpected field {names} at line {line} (the fields are {', '.join(columns)})"
                )
            else:
                out.rows.append(tuple(value.get(c) for c in columns))
                out.lines.append(line)
        if reason is not None:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            out.bad.append(BadRecord(f"{origin}:{line}", reason, text))
        if out.full():
            yield out.take()
    yield from out.drain()


def _parse_json_line(raw: bytes, line: int) -> tuple[Any, str | None]:
    """The object on one line, or why it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start + 1} of line {line}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"line {line} is not a JSON object: {exc.msg} at column {exc.colno}"
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"a {type(value).__name__}"
        if value is None:
            kind = "null"
        return None, f"line {line} is not a JSON object: it holds {kind}"
    return value, None
