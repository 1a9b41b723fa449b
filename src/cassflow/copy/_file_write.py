"""Writing the rows of one slice into files: ``part-<slice>-00001.csv``, ``-00002``...

A :class:`FileSliceWriter` writes under temporary names (``.part-<slice>-00001.csv.<tag>.tmp``)
and rolls over to the next file when one passes ``file_size`` bytes (uncompressed bytes for
CSV and JSON Lines, bytes on disk for Parquet). :meth:`FileSliceWriter.commit` deletes the
files an earlier attempt of the same slice made final, then renames its own into place, so a
redone slice replaces its files instead of duplicating its rows; :meth:`FileSliceWriter.abort`
deletes the temporaries.

Values are converted per column by the converters of :mod:`cassflow.copy._convert`
(``to_text`` for CSV, ``to_json`` for JSON Lines, ``to_arrow`` for Parquet). A value that does
not convert (or a row the format cannot hold) makes that row a ``convert`` bad record; the
other rows of the chunk are written.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Sequence
from typing import IO, Any

from cassandra import cqltypes

from cassflow.copy._convert import arrow_type, to_arrow, to_json, to_text
from cassflow.copy._cqltypes import unwrap
from cassflow.copy._csv import CsvWriter
from cassflow.copy._file_options import STREAM_COMPRESSIONS, FileOptions
from cassflow.copy._fs import Store
from cassflow.copy._model import BadRecord, Chunk, ConversionError, CopyError, Field, WriteResult
from cassflow.copy._pyarrow import pa, pq
from cassflow.copy._retry import TransientError

Converter = Callable[[Any], Any]
#: Errors that mean "this value/row cannot be written as this type", not "the disk failed".
_VALUE_ERRORS = (ConversionError, ValueError, TypeError, OverflowError, UnicodeError)
#: CQL types whose driver values Arrow takes unconverted (its checks are the converters').
_AS_IS = (
    cqltypes.ByteType,
    cqltypes.ShortType,
    cqltypes.Int32Type,
    cqltypes.LongType,
    cqltypes.CounterColumnType,
    cqltypes.FloatType,
    cqltypes.DoubleType,
    cqltypes.BooleanType,
    cqltypes.UTF8Type,
    cqltypes.AsciiType,
    cqltypes.BytesType,
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def safe_name(slice_id: str) -> str:
    """A slice id as a file name part: only letters, digits and ``._=-``; at most 80 chars."""
    return _UNSAFE.sub("_", slice_id).strip("._")[:80] or "slice"


def converters(format: str, fields: Sequence[Field]) -> list[Converter]:
    """One converter per field for ``format``."""
    make = {"csv": to_text, "jsonl": to_json, "parquet": to_arrow}
    return [make[format](f.cql_type) for f in fields]


def arrow_schema(fields: Sequence[Field]) -> Any:
    """The Parquet schema of the fields (nullable columns of ``_convert.arrow_type``)."""
    return pa.schema([pa.field(f.name, arrow_type(f.cql_type)) for f in fields])


def _arrow_takes_as_is(cql_type: Any) -> bool:
    """Whether the driver's values of ``cql_type`` go into its Arrow type as they are."""
    if cql_type is None:
        return True  # text (a non-text value makes pyarrow refuse: the row path converts it)
    return issubclass(unwrap(cql_type), _AS_IS)


class FileSliceWriter:
    """Writes one slice's rows into one or more files of a directory (see the module doc)."""

    def __init__(
        self,
        store: Store,
        directory: str,
        slice_id: str,
        fields: Sequence[Field],
        options: FileOptions,
        convert: Sequence[Converter],
        schema: Any = None,
    ) -> None:
        self._store, self._dir = store, directory
        self._fields = tuple(fields)
        self._names = tuple(f.name for f in fields)
        self._options = options
        self._convert = list(convert)
        self._schema = schema
        #: Per field: whether Arrow takes its values unconverted (see _columnar_table).
        self._as_is = [_arrow_takes_as_is(f.cql_type) for f in self._fields]
        self._name = safe_name(slice_id)
        suffix = STREAM_COMPRESSIONS.get(options.compression or "", "")
        self._ext = ("parquet" if options.format == "parquet" else options.format) + (
            "" if options.format == "parquet" else suffix
        )
        self._tag = uuid.uuid4().hex[:8]
        #: Temporary path -> final path of every file this attempt started.
        self._files: list[tuple[str, str]] = []
        self._stream: IO[bytes] | None = None
        self._parquet: Any = None
        self._csv: CsvWriter | None = None
        self._size = 0
        self._done = False
        self._index_cache: dict[tuple[str, ...], list[int | None]] = {}

    # -- the SliceWriter protocol ----------------------------------------------------------

    def write(self, chunk: Chunk) -> WriteResult:
        """Convert and write every row of the chunk; rows that do not convert are bad."""
        if self._done:
            raise CopyError(f"slice {self._name} was already committed or aborted")
        if self._options.format == "parquet":
            table = self._columnar_table(chunk)
            if table is not None:  # every value fits: no row needs a closer look
                return WriteResult(self._append_table(table))
        rows, bad = self._converted(chunk)
        if self._options.format == "parquet":
            written = self._write_parquet(chunk, rows, bad)
        else:
            written = self._write_lines(chunk, rows, bad)
        return WriteResult(written, bad)

    def commit(self) -> None:
        """Close the last file, delete earlier attempts' files, rename this attempt's."""
        if self._done:
            return
        if not self._files:
            self._open()  # an empty slice still leaves a file (a header, a schema)
        self._close()
        pattern = re.compile(rf"part-{re.escape(self._name)}-\d{{5}}\.{re.escape(self._ext)}\Z")
        mine = {final for _, final in self._files}
        for name in self._store.names(self._dir):
            path = self._store.join(self._dir, name)
            if pattern.match(name) and path not in mine:
                self._store.remove(path, missing_ok=True)
        for temporary, final in self._files:
            if self._store.fs.exists(final):
                self._store.remove(final, missing_ok=True)
            self._store.rename(temporary, final)
        self._done = True

    def abort(self) -> None:
        """Drop this attempt's temporary files."""
        if self._done:
            return
        self._done = True
        try:
            self._close()
        except Exception:  # aborting: the files are deleted below anyway
            self._stream = None
            self._parquet = None
        for temporary, _ in self._files:
            try:
                self._store.remove(temporary, missing_ok=True)
            except CopyError:
                continue  # best effort: a leftover temporary is never taken for data

    # -- converting ------------------------------------------------------------------------

    def _indexes(self, columns: tuple[str, ...]) -> list[int | None]:
        found = self._index_cache.get(columns)
        if found is None:
            where = {name: i for i, name in enumerate(columns)}
            found = [where.get(name) for name in self._names]
            self._index_cache[columns] = found
        return found

    def _converted(self, chunk: Chunk) -> tuple[list[tuple[int, list[Any]]], list[BadRecord]]:
        """(row index in the chunk, converted values) of the rows that convert, and the bad."""
        indexes = self._indexes(chunk.columns)
        convert = list(zip(indexes, self._convert, self._names, strict=True))
        good: list[tuple[int, list[Any]]] = []
        bad: list[BadRecord] = []
        for i, row in enumerate(chunk.rows):
            values: list[Any] = []
            try:
                for index, conv, name in convert:
                    value = None if index is None else row[index]
                    try:
                        values.append(None if value is None else conv(value))
                    except _VALUE_ERRORS as exc:
                        raise ConversionError(f"column {name}: {exc}") from None
            except ConversionError as exc:
                bad.append(self._bad(chunk, i, str(exc)))
                continue
            good.append((i, values))
        return good, bad

    @staticmethod
    def _bad(chunk: Chunk, index: int, reason: str) -> BadRecord:
        try:
            record: Any = chunk.record(index)
        except ValueError:  # a row of another width: keep it as it came
            record = list(chunk.rows[index])
        return BadRecord(chunk.position(index), reason, record, category="convert")

    # -- CSV and JSON Lines ----------------------------------------------------------------

    def _write_lines(
        self, chunk: Chunk, rows: list[tuple[int, list[Any]]], bad: list[BadRecord]
    ) -> int:
        encode = self._encoder()
        written = 0
        parts: list[bytes] = []
        pending = 0
        for i, values in rows:
            try:
                data = encode(values)
            except _VALUE_ERRORS as exc:
                bad.append(self._bad(chunk, i, f"cannot write as {self._options.format}: {exc}"))
                continue
            if self._stream is None:
                self._open()
            parts.append(data)
            pending += len(data)
            written += 1
            if self._size + pending >= self._options.file_size:
                self._flush(parts)
                parts, pending = [], 0
                self._close()
        if parts:
            self._flush(parts)
        return written

    def _encoder(self) -> Callable[[list[Any]], bytes]:
        if self._options.format == "csv":
            csv = CsvWriter(io.BytesIO(), self._options.dialect)  # only encodes rows
            return csv.encode_row
        names = self._names

        def encode(values: list[Any]) -> bytes:
            obj = dict(zip(names, values, strict=True))
            return (json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n").encode()

        return encode

    def _flush(self, parts: list[bytes]) -> None:
        assert self._stream is not None
        data = b"".join(parts)
        self._stream.write(data)
        self._size += len(data)

    # -- Parquet ---------------------------------------------------------------------------

    def _write_parquet(
        self, chunk: Chunk, rows: list[tuple[int, list[Any]]], bad: list[BadRecord]
    ) -> int:
        table = self._table(rows)
        if table is None:  # some value does not fit its arrow type: find the rows, drop them
            keep: list[tuple[int, list[Any]]] = []
            for i, values in rows:
                reason = self._arrow_refusal(values)
                if reason is None:
                    keep.append((i, values))
                else:
                    bad.append(self._bad(chunk, i, reason))
            rows = keep
            table = self._table(rows)
            if table is None:  # pragma: no cover - every remaining row converted on its own
                raise CopyError("rows that convert one by one do not convert together")
        return self._append_table(table)

    def _append_table(self, table: Any) -> int:
        if table.num_rows == 0:
            return 0
        if self._parquet is None:
            self._open()
        assert self._stream is not None
        self._parquet.write_table(
            table, row_group_size=self._options.row_group_rows or max(1, table.num_rows)
        )
        self._size = self._stream.tell()
        if self._size >= self._options.file_size:
            self._close()
        return int(table.num_rows)

    def _columnar_table(self, chunk: Chunk) -> Any:
        """The chunk as an Arrow table built column by column (pyarrow checks the values in
        C), or None when some value fails: then the row-by-row path finds the bad rows.

        Columns whose values Arrow takes as they come (integers, floats, booleans, text,
        bytes) skip the per-value converter: the unload of a wide table is mostly these.
        """
        if not chunk.rows:
            return None
        indexes = self._indexes(chunk.columns)
        try:
            columns = list(zip(*chunk.rows, strict=True))
        except ValueError:  # rows of other widths: the row path keeps them as they came
            return None
        n = len(chunk.rows)
        arrays = []
        for index, convert, as_is, f in zip(
            indexes, self._convert, self._as_is, self._schema, strict=True
        ):
            values: Any = [None] * n if index is None else columns[index]
            try:
                if not as_is:
                    values = [None if v is None else convert(v) for v in values]
                arrays.append(pa.array(values, type=f.type))
            except (pa.ArrowException, ConversionError, *_VALUE_ERRORS):
                return None
        return pa.Table.from_arrays(arrays, schema=self._schema)

    def _table(self, rows: list[tuple[int, list[Any]]]) -> Any:
        columns = []
        for j, f in enumerate(self._schema):
            try:
                columns.append(pa.array([values[j] for _, values in rows], type=f.type))
            except (pa.ArrowException, *_VALUE_ERRORS):
                return None
        return pa.Table.from_arrays(columns, schema=self._schema)

    def _arrow_refusal(self, values: list[Any]) -> str | None:
        for value, f in zip(values, self._schema, strict=True):
            try:
                pa.array([value], type=f.type)
            except (pa.ArrowException, *_VALUE_ERRORS) as exc:
                return f"column {f.name}: cannot write {value!r} as Parquet {f.type}: {exc}"
        return None

    # -- files -----------------------------------------------------------------------------

    def _open(self) -> None:
        self._close()
        n = len(self._files) + 1
        final = self._store.join(self._dir, f"part-{self._name}-{n:05d}.{self._ext}")
        temporary = self._store.join(
            self._dir, f".part-{self._name}-{n:05d}.{self._ext}.{self._tag}.tmp"
        )
        compression = None if self._options.format == "parquet" else self._options.compression
        self._files.append((temporary, final))
        self._stream = self._store.open(temporary, "wb", compression)
        self._size = 0
        if self._options.format == "parquet":
            codec = self._options.compression or "none"
            self._parquet = pq.ParquetWriter(self._stream, self._schema, compression=codec)
        elif self._options.format == "csv" and self._options.dialect.header:
            header = CsvWriter(self._stream, self._options.dialect)
            self._size += header.write_row(self._names)
        elif self._options.format == "csv":
            CsvWriter(self._stream, self._options.dialect)  # writes a BOM for utf-8-sig

    def _close(self) -> None:
        stream, parquet = self._stream, self._parquet
        self._stream = self._parquet = None
        try:
            try:
                if parquet is not None:
                    parquet.close()
            finally:
                if stream is not None:
                    stream.close()  # an object store uploads here: it can refuse
        except (ConnectionError, TimeoutError) as exc:
            raise TransientError(f"{self._current()}: {self._store.describe(exc)}") from None
        except Exception as exc:
            if isinstance(exc, CopyError):
                raise
            raise CopyError(
                f"{self._current()}: the file could not be written: {self._store.describe(exc)}"
            ) from None

    def _current(self) -> str:
        """The file being written, as users name it (for messages)."""
        return self._store.url(self._files[-1][1]) if self._files else self._dir
