"""The shapes every source and sink share: fields, chunks of rows, bad records, slices.

A copy reads a source slice by slice. Each slice is read as a stream of :class:`Chunk` s —
a few thousand rows with, for each row, where it came from (``data/a.csv:17``) — so memory
stays flat whatever the input size. Rows are tuples in the order of the chunk's
``columns``. Their values are what the source holds: text (or ``None``) from CSV, JSON
values from JSON Lines, Python values of the column types from Cassandra, Parquet and SQL.
The sink converts each value to its own column's type (:mod:`cassflow.copy._convert`);
a value that does not convert makes that one row a :class:`BadRecord`, never the chunk.

Sources and sinks are small objects with cheap constructors: nothing is opened or imported
(pyarrow, SQLAlchemy) until :meth:`Source.fields` / :meth:`Source.plan` / :meth:`Sink.prepare`
are called, so that building a plan for ``--help`` or a dry run costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from cassflow.errors import CassflowError


class CopyError(CassflowError):
    """A copy cannot go on: a missing file, an unknown table, a schema that does not fit."""


class ConversionError(CassflowError):
    """One value does not convert to the type it must have; the message says what was expected.

    Raised by converters and caught per row: the row is quarantined with this message.
    """


@dataclass(frozen=True, slots=True)
class Field:
    """A column of a dataset.

    ``cql_type`` is the column's type as a ``cassandra.cqltypes`` class when the dataset is
    typed as CQL (a Cassandra table; a file or SQL table once a target type is known) and
    ``None`` when the source only holds text or JSON (CSV, JSON Lines).
    """

    name: str
    cql_type: Any = None
    #: Part of the partition key (Cassandra tables) or of the primary key (SQL tables).
    key: bool = False


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be read, converted or written, and why."""

    #: Where it came from: ``path:line`` for files, ``table key=value`` for SQL and Cassandra.
    position: str
    #: What was expected, in words a user can act on.
    reason: str
    #: The record as read (a dict of fields, or the raw text of a line that did not parse).
    record: Any
    #: ``parse`` (the source could not read it), ``convert`` (a value did not fit the target
    #: type) or ``write`` (the target refused it with a terminal error).
    category: str = "parse"


@dataclass(slots=True)
class Chunk:
    """Rows read together from one slice, with where they came from and the records that failed.

    Positions are computed only when a row is quarantined (formatting a position string for
    every row of a million-row load would cost more than parsing it): files record the
    physical line each row starts on in ``lines``; keyed sources (Cassandra, SQL) name the
    key columns in ``key_indexes`` and the position shows their values.
    """

    columns: tuple[str, ...]
    #: The file, table or query the rows come from (``data/a.csv``, ``shop.orders``).
    origin: str
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: Physical line (1-based) each row starts on, for files; ``None`` for keyed sources.
    lines: list[int] | None = None
    #: Indexes into ``columns`` of the key columns that identify a row of a keyed source.
    key_indexes: tuple[int, ...] = ()
    #: Records of this stretch of input that could not be read; counted as read.
    bad: list[BadRecord] = field(default_factory=list)
    #: Bytes of input this chunk covers (for metrics); 0 when unknown.
    nbytes: int = 0

    @property
    def read(self) -> int:
        """Records this chunk accounts for: good rows plus bad records."""
        return len(self.rows) + len(self.bad)

    def position(self, index: int) -> str:
        """Where row ``index`` came from: ``path:line``, or ``table key=value, ...``."""
        if self.lines is not None:
            return f"{self.origin}:{self.lines[index]}"
        row = self.rows[index]
        if self.key_indexes:
            key = ", ".join(f"{self.columns[i]}={row[i]!r}" for i in self.key_indexes)
            return f"{self.origin} {key}"
        return f"{self.origin} row {index + 1} of a chunk"

    def record(self, index: int) -> dict[str, Any]:
        """Row ``index`` as a dict, for quarantine entries."""
        return dict(zip(self.columns, self.rows[index], strict=True))


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a sink did with one chunk: rows written and rows refused (with reasons)."""

    written: int
    bad: list[BadRecord] = field(default_factory=list)


#: One slice of a plan: a stable id and a JSON-able description that :meth:`Source.read`
#: turns back into the rows of that slice.
PlannedSlice = tuple[str, Mapping[str, Any]]


class DriftPolicy(StrEnum):
    """What to do when the source has fields the target does not (schema drift)."""

    #: Refuse to start, naming the fields (the default).
    FAIL = "fail"
    #: Leave the extra fields out and say so in the report.
    IGNORE_EXTRA = "ignore_extra"
    #: ``ALTER TABLE ... ADD`` the missing columns (Cassandra targets), typed from the source.
    ADD_COLUMNS = "add_columns"


@dataclass(frozen=True, slots=True)
class Drift:
    """How the source's fields differ from the target's columns."""

    #: Source fields the target has no column for.
    extra: tuple[str, ...] = ()
    #: Target columns the source does not fill (left unset; key columns are an error).
    missing: tuple[str, ...] = ()
    #: Columns added to the target under :attr:`DriftPolicy.ADD_COLUMNS`.
    added: tuple[str, ...] = ()


class Source(Protocol):
    """Something rows are read from: a Cassandra table, files, a SQL table or query."""

    #: A human description of the dataset for reports and logs (passwords are redacted there).
    location: str

    def fields(self) -> list[Field]:
        """The dataset's fields, in order (opens the first file, reads the table's metadata)."""

    def plan(self, splits: int) -> list[PlannedSlice]:
        """Cut the dataset into slices; ``splits`` is a hint (token ranges, SQL key ranges).

        The plan must be the same every time for the same input, so a resumed run can check
        that it is resuming the same work.
        """

    def read(self, spec: Mapping[str, Any]) -> Iterator[Chunk]:
        """The rows of one slice, chunk by chunk, in a stable order."""

    def close(self) -> None:
        """Release connections and files."""


class SliceWriter(Protocol):
    """Writes the rows of one slice; a slice redone after a failure starts a new writer."""

    def write(self, chunk: Chunk) -> WriteResult:
        """Write (or refuse, row by row) every row of the chunk; raise on transient trouble."""

    def commit(self) -> None:
        """Make the slice's writes final (files are renamed into place here)."""

    def abort(self) -> None:
        """Drop what this attempt wrote that is not final yet (temporary files)."""


class Sink(Protocol):
    """Something rows are written to: a Cassandra table, files, a SQL table."""

    location: str

    def prepare(self, fields: Sequence[Field], policy: DriftPolicy) -> Drift:
        """Check the target against the incoming fields (and create what is missing: output
        directories, SQL tables, added columns); raise :class:`CopyError` if they cannot fit.
        """

    def open_slice(self, slice_id: str) -> SliceWriter:
        """A writer for one slice. Writing the same slice again must not duplicate rows."""

    def close(self) -> None:
        """Release connections and files."""
