"""Parquet files as a source: their typed fields, their row groups, their rows in chunks.

Rows are read record batch by record batch over the row groups of one slice
(``ParquetFile.iter_batches``), so memory stays flat whatever the file size; each row's
"line" is its 1-based row index in the file, so positions read ``file.parquet:row``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

from cassflow.copy._arrow_cql import cql_type_of
from cassflow.copy._model import Chunk, CopyError, Field
from cassflow.copy._pyarrow import pa, pq


def parquet_columns(stream: IO[bytes], origin: str) -> tuple[tuple[str, Any], ...]:
    """(name, arrow type) of each column of a Parquet file."""
    try:
        schema = pq.read_schema(stream)
    except (pa.ArrowException, OSError) as exc:
        raise CopyError(f"{origin} is not a readable Parquet file: {exc}") from None
    return tuple((f.name, f.type) for f in schema)


def parquet_fields(columns: Sequence[tuple[str, Any]]) -> list[Field]:
    """Fields typed with the CQL type of each arrow type (``None`` where there is none)."""
    return [Field(name, cql_type_of(arrow)) for name, arrow in columns]


def row_group_rows(stream: IO[bytes]) -> list[int]:
    """Rows in each row group of a Parquet file."""
    meta = pq.ParquetFile(stream).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def read_parquet_chunks(
    stream: IO[bytes],
    origin: str,
    columns: Sequence[str],
    row_groups: tuple[int, int],
    chunk_rows: int,
) -> Iterator[Chunk]:
    """Rows of row groups ``[start, stop)`` of a Parquet file, with their 1-based row index in
    the file as their line."""
    parquet = pq.ParquetFile(stream)
    meta = parquet.metadata
    start, stop = row_groups
    first = sum(meta.row_group(i).num_rows for i in range(start)) + 1
    groups = list(range(start, stop))
    if not groups:
        return
    total_rows = sum(meta.row_group(i).num_rows for i in groups)
    total_bytes = sum(meta.row_group(i).total_byte_size for i in groups)
    names = tuple(columns)
    done = 0
    for batch in parquet.iter_batches(
        batch_size=chunk_rows, row_groups=groups, columns=list(names), use_threads=False
    ):
        n = batch.num_rows
        values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        rows = list(zip(*values, strict=True)) if values else [()] * n
        lines = list(range(first + done, first + done + n))
        nbytes = total_bytes * (done + n) // total_rows - total_bytes * done // total_rows
        done += n
        yield Chunk(names, origin, rows, lines, nbytes=nbytes)
