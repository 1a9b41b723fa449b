"""SQL tables and queries as a copy's source and sink, through SQLAlchemy 2 core.

:class:`SqlSource` reads a table or a query. A table whose primary key is one integer column
(or with an integer ``key`` column named) is cut into key ranges that together cover every
row once, whatever keys are added later: the first range has no lower bound, the last no
upper bound, and a nullable ``key`` column gets one more slice for its nulls. Other tables
are one slice, read by keyset pagination over the primary key (or streamed when they have
none); a query is one slice, streamed through a server-side cursor.

:class:`SqlSink` writes a table, creating it if asked, and upserts so that a redone slice
duplicates nothing. Values are converted to each column's type row by row; a value that does
not convert, and a row the database refuses, are quarantined alone.

This module is cheap to import: SQLAlchemy and the database drivers are imported by
:mod:`._sql_read` and :mod:`._sql_write` when a source or sink is first used.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from cassflow.copy._model import (
    Chunk,
    CopyError,
    Drift,
    DriftPolicy,
    Field,
    PlannedSlice,
    SliceWriter,
)
from cassflow.copy._report import redact

if TYPE_CHECKING:
    from cassflow.copy._sql_read import TableReader
    from cassflow.copy._sql_write import TableWriter

__all__ = ["DEFAULT_SPLITS", "SqlSink", "SqlSource", "key_ranges"]

#: Key ranges a table is cut into when neither the source nor the run chooses.
DEFAULT_SPLITS = 8

_QUERY_PASSWORD = re.compile(r"(?i)(?P<head>[?&]password=)[^&#\s]*")


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) as ``***``."""
    return _QUERY_PASSWORD.sub(r"\g<head>***", redact(url))


def _secret(url: SecretStr | str) -> SecretStr:
    return url if isinstance(url, SecretStr) else SecretStr(url)


def key_ranges(low: int, high: int, splits: int) -> list[tuple[int | None, int | None]]:
    """``[lo, hi)`` ranges of integer keys cut between the smallest and largest key at hand.

    The first range has no lower bound (``None``) and the last none upper, so keys outside
    ``[low, high]`` still belong to exactly one range. Ranges are as even as integers allow
    and never empty of possible keys: at most ``high - low + 1`` of them.
    """
    if splits < 1:
        raise ValueError("splits must be at least 1")
    if high < low:
        raise ValueError(f"the largest key {high} is below the smallest {low}")
    count = min(splits, high - low + 1)
    span = high - low + 1
    bounds = [low + span * i // count for i in range(1, count)]
    starts: list[int | None] = [None, *bounds]
    ends: list[int | None] = [*bounds, None]
    return list(zip(starts, ends, strict=True))


class SqlSource:
    """Rows of a SQL table or query (see the module docstring for how it is sliced).

    ``url`` is any SQLAlchemy URL; ``postgresql://`` uses psycopg 3. ``key`` names an integer
    column to cut key ranges over (default: the primary key, when it is one integer column);
    ``splits`` fixes the number of ranges (default: the run's hint, else
    :data:`DEFAULT_SPLITS`). Reads come in chunks of ``chunk_rows`` rows.
    """

    def __init__(
        self,
        url: SecretStr | str,
        *,
        table: str | None = None,
        query: str | None = None,
        key: str | None = None,
        chunk_rows: int = 5000,
        splits: int | None = None,
    ) -> None:
        if (table is None) == (query is None):
            raise CopyError("a SQL source reads either a table or a query (give exactly one)")
        if query is not None and key is not None:
            raise CopyError("'key' cuts a table into key ranges; a query is read as one slice")
        if chunk_rows < 1:
            raise CopyError(f"chunk_rows must be at least 1, got {chunk_rows}")
        if splits is not None and splits < 1:
            raise CopyError(f"splits must be at least 1, got {splits}")
        self.url = _secret(url)
        self.table = table
        self.query = query
        self.key = key
        self.chunk_rows = chunk_rows
        self.splits = splits
        self.location = f"{table or 'query'} ({redact_url(self.url.get_secret_value())})"
        self._lock = threading.Lock()
        self._reader: TableReader | None = None

    def __repr__(self) -> str:
        return f"SqlSource({self.location!r})"

    def fields(self) -> list[Field]:
        """The table's columns (``key=True`` on its primary key) or the query's result columns,
        typed as CQL from their SQL types (see :mod:`._sql_types`)."""
        return self._impl().fields()

    def plan(self, splits: int) -> list[PlannedSlice]:
        """Key ranges, one keyset-paginated or streamed slice, or the query's one slice."""
        count = self.splits or (splits if splits >= 1 else DEFAULT_SPLITS)
        return self._impl().plan(count)

    def read(self, spec: Mapping[str, Any]) -> Iterator[Chunk]:
        """The rows of one slice in chunks of ``chunk_rows``, in key order where there is one."""
        return self._impl().read(spec)

    def close(self) -> None:
        """Close the pooled connections."""
        with self._lock:
            if self._reader is not None:
                self._reader.close()

    def _impl(self) -> TableReader:
        with self._lock:
            if self._reader is None:
                from cassflow.copy._sql_read import TableReader  # noqa: PLC0415 - lazy SQLAlchemy

                self._reader = TableReader(self)
            return self._reader


class SqlSink:
    """Rows written to a SQL table (see the module docstring).

    ``create`` makes a missing table, typed from the incoming fields, with a primary key on the
    key fields. ``mode`` ``upsert`` (the default) replaces rows with the same primary key, so a
    redone slice duplicates nothing; ``insert`` inserts plainly and quarantines rows the table
    refuses (duplicates included). Rows go in ``executemany`` batches of ``batch_rows``, one
    transaction per chunk.
    """

    def __init__(
        self,
        url: SecretStr | str,
        *,
        table: str,
        create: bool = True,
        mode: Literal["upsert", "insert"] = "upsert",
        batch_rows: int = 1000,
    ) -> None:
        if mode not in ("upsert", "insert"):
            raise CopyError(f"mode must be 'upsert' or 'insert', got {mode!r}")
        if batch_rows < 1:
            raise CopyError(f"batch_rows must be at least 1, got {batch_rows}")
        self.url = _secret(url)
        self.table = table
        self.create = create
        self.mode: Literal["upsert", "insert"] = mode
        self.batch_rows = batch_rows
        self.location = f"{table} ({redact_url(self.url.get_secret_value())})"
        self._lock = threading.Lock()
        self._writer: TableWriter | None = None

    def __repr__(self) -> str:
        return f"SqlSink({self.location!r})"

    def prepare(self, fields: Sequence[Field], policy: DriftPolicy) -> Drift:
        """Create the table if it is missing (and ``create``), or check it against ``fields``
        under ``policy``; refuse upserts into a table without a primary key."""
        return self._impl().prepare(fields, policy)

    def open_slice(self, slice_id: str) -> SliceWriter:
        """A writer for one slice; it commits chunk by chunk (see :class:`SqlSink`)."""
        return self._impl().open_slice(slice_id)

    def close(self) -> None:
        """Close the pooled connections."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()

    def _impl(self) -> TableWriter:
        with self._lock:
            if self._writer is None:
                from cassflow.copy._sql_write import TableWriter  # noqa: PLC0415 - lazy SQLAlchemy

                self._writer = TableWriter(self)
            return self._writer
