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


def _plain_type(arrow: Any) -> Any:
    """``arrow`` with dates, times and millisecond timestamps as the integers behind them.

    ``to_pylist`` cannot make Python objects of dates and timestamps outside years 1..9999
    (Cassandra holds them) nor of nanosecond times (without pandas); the converters take the
    numbers instead: days since the epoch, milliseconds since the epoch, nanoseconds since
    midnight. Returns None when nothing in the type needs it.
    """
    types = pa.types
    if types.is_date32(arrow):
        return pa.int32()
    if types.is_timestamp(arrow) and arrow.unit in ("s", "ms"):
        return pa.int64()  # via timestamp('ms'): see _cast
    if types.is_time(arrow):
        return pa.int64()  # via time64('ns'): see _cast
    if types.is_list(arrow) or types.is_large_list(arrow):
        inner = _plain_type(arrow.value_type)
        return None if inner is None else pa.list_(inner)
    if types.is_fixed_size_list(arrow):
        inner = _plain_type(arrow.value_type)
        return None if inner is None else pa.list_(inner, arrow.list_size)
    if types.is_map(arrow):
        key, item = _plain_type(arrow.key_type), _plain_type(arrow.item_type)
        if key is None and item is None:
            return None
        return pa.map_(key or arrow.key_type, item or arrow.item_type)
    if types.is_struct(arrow):
        fields = [arrow.field(i) for i in range(arrow.num_fields)]
        plain = [_plain_type(f.type) for f in fields]
        if all(t is None for t in plain):
            return None
        return pa.struct(
            [pa.field(f.name, t or f.type) for f, t in zip(fields, plain, strict=True)]
        )
    return None


def _unit_type(arrow: Any) -> Any:
    """``arrow`` with timestamps in milliseconds and times in nanoseconds (exact casts)."""
    types = pa.types
    if types.is_timestamp(arrow):
        return pa.timestamp("ms", tz=arrow.tz)
    if types.is_time(arrow):
        return pa.time64("ns")
    if types.is_list(arrow) or types.is_large_list(arrow):
        return pa.list_(_unit_type(arrow.value_type))
    if types.is_fixed_size_list(arrow):
        return pa.list_(_unit_type(arrow.value_type), arrow.list_size)
    if types.is_map(arrow):
        return pa.map_(_unit_type(arrow.key_type), _unit_type(arrow.item_type))
    if types.is_struct(arrow):
        fields = [arrow.field(i) for i in range(arrow.num_fields)]
        return pa.struct([pa.field(f.name, _unit_type(f.type)) for f in fields])
    return arrow


def _values(column: Any) -> list[Any]:
    plain = _plain_type(column.type)
    if plain is not None:
        column = column.cast(_unit_type(column.type)).cast(plain)
    return column.to_pylist()  # type: ignore[no-any-return]


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
        values = [_values(batch.column(i)) for i in range(batch.num_columns)]
        rows = list(zip(*values, strict=True)) if values else [()] * n
        lines = list(range(first + done, first + done + n))
        nbytes = total_bytes * (done + n) // total_rows - total_bytes * done // total_rows
        done += n
        yield Chunk(names, origin, rows, lines, nbytes=nbytes)
