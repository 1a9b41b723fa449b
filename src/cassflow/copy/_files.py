"""Files as a copy source and sink: CSV, JSON Lines and Parquet on local disks and object stores.

:class:`FileSource` reads a file, every file of a directory (sorted) or every file a glob
matches (``data/*.csv``, ``s3://bucket/in/*.parquet``), through fsspec with the dataset's
storage options. A CSV or JSON Lines file is one slice (``f0003-orders.csv``), or, when it
is larger than ``slice_bytes``, byte ranges cut at record boundaries
(``f0003-orders.csv-b0001``; see :mod:`cassflow.copy._file_split`), which workers read in
parallel. Parquet files are cut into slices of consecutive row groups. Each slice's spec
records the file's size and modification stamp, so a resumed run refuses a file that changed
under it instead of mixing two versions.

:class:`FileSink` writes each slice into its own files of a directory
(``part-<slice>-00001.csv``...; see :mod:`cassflow.copy._file_write`), so a redone slice
replaces exactly its own files.

Constructors only check the options; nothing is opened, listed or imported (fsspec, pyarrow)
until :meth:`FileSource.fields` / :meth:`FileSource.plan` / :meth:`FileSink.prepare`.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cassflow.copy._csv import CsvReader, CsvRecord
from cassflow.copy._file_options import FileOptions, compression_of, data_suffixes
from cassflow.copy._file_read import first_json_object, read_csv_chunks, read_jsonl_chunks
from cassflow.copy._file_split import (
    ByteRange,
    csv_ranges,
    csv_split_blocker,
    jsonl_ranges,
    open_range,
)
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
    from cassflow.copy._fs import Store

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")
logger = logging.getLogger(__name__)


def _store(path: str, storage: Mapping[str, Any]) -> Store:
    from cassflow.copy._fs import Store  # noqa: PLC0415 - fsspec only once files are touched

    return Store(path, storage)


class _FileDataset:
    """What a file source and a file sink share: a path, a format, checked options, and the
    file system, reached once it is first needed (storage options hold secrets: never shown).
    """

    def __init__(
        self,
        path: str,
        format: str,
        options: Mapping[str, Any] | None,
        storage: Mapping[str, Any] | None,
    ) -> None:
        self.path = path
        self.format = format
        self.options = FileOptions.parse(format, options)
        self._storage_options = dict(storage or {})
        self.location = f"{redact(path)} ({format})"
        self._store: Store | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def _get_store(self) -> Store:
        if self._store is None:
            self._store = _store(self.path, self._storage_options)
        return self._store


class FileSource(_FileDataset):
    """Rows of CSV, JSON Lines or Parquet files (see the module docstring).

    ``options``: ``chunk_rows`` (rows per chunk, default 5000), ``columns`` (CSV/JSON Lines:
    names overriding the header / the first object's keys), ``compression`` (default: inferred
    from a ``.gz``/``.bz2``/``.xz`` suffix), the CSV dialect (``delimiter``, ``quote``,
    ``escape``, ``header``, ``encoding``, ``null``, ``comment``, ``skip_lines``...),
    ``slice_bytes`` (CSV, JSON Lines: bytes per slice of a large file, default 64 MiB) and
    ``slice_rows`` (Parquet: rows per slice, default 100,000). ``storage`` goes to fsspec
    as storage options and is never shown.
    """

    def __init__(
        self,
        path: str,
        format: str,
        options: Mapping[str, Any] | None = None,
        storage: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(path, format, options, storage)
        self._files: list[str] | None = None
        self._fields: list[Field] | None = None

    # -- the Source protocol ---------------------------------------------------------------

    def fields(self) -> list[Field]:
        """The columns shared by every file (checked file by file)."""
        if self._fields is None:
            files = self._list()
            read = {"csv": self._csv_fields, "jsonl": self._jsonl_fields}
            self._fields = read.get(self.format, self._parquet_fields)(files)
        return list(self._fields)

    def plan(self, splits: int) -> list[PlannedSlice]:
        """One slice per CSV/JSON Lines file, or byte ranges of about ``slice_bytes`` of a
        larger one; Parquet: runs of row groups of about ``slice_rows`` rows. ``splits`` is
        not used: files and their own sizes are the natural unit."""
        del splits
        store = self._get_store()
        plan: list[PlannedSlice] = []
        for n, path in enumerate(self._list()):
            stamp = store.info(path)
            url = store.url(path)
            name = _UNSAFE.sub("_", posixpath.basename(path))[:60]
            base = f"f{n:04d}-{name}"
            spec: dict[str, Any] = {"path": url, **stamp}
            if self.format != "parquet":
                ranges = self._byte_ranges(path, int(stamp["size"]))
                if len(ranges) <= 1:
                    plan.append((base, spec))
                    continue
                for i, part in enumerate(ranges):
                    cut = {"start": part.start, "end": part.end, "first_line": part.first_line}
                    plan.append((f"{base}-b{i:04d}", {**spec, **cut}))
                continue
            counts = self._row_groups(path)
            for start, stop in _runs(counts, self.options.slice_rows):
                plan.append((f"{base}-rg{start}-{stop - 1}", {**spec, "row_groups": [start, stop]}))
        return plan

    def input_bytes(self) -> int:
        """The size of every file to read, summed (how big a job the copy is)."""
        store = self._get_store()
        return sum(int(store.info(path)["size"]) for path in self._list())

    def read(self, spec: Mapping[str, Any]) -> Iterator[Chunk]:
        """The rows of one planned slice, ``chunk_rows`` at a time."""
        store = self._get_store()
        url = str(spec["path"])
        path = store.internal(url)
        now = store.info(path)
        changed = sorted(k for k, v in now.items() if k in spec and spec[k] != v)
        if changed:
            raise CopyError(
                f"{url} changed since the copy was planned ({', '.join(changed)} differ); "
                f"start a new run to copy the new version"
            )
        columns = tuple(f.name for f in self.fields())
        chunk_rows = self.options.chunk_rows
        if self.format == "parquet":
            from cassflow.copy._parquet_read import read_parquet_chunks  # noqa: PLC0415

            start, stop = spec["row_groups"]
            with store.open(path, "rb") as stream:
                yield from read_parquet_chunks(
                    stream, url, columns, (int(start), int(stop)), chunk_rows
                )
            return
        part = None
        if "start" in spec:  # a byte range of an uncompressed file
            part = ByteRange(int(spec["start"]), int(spec["end"]), int(spec["first_line"]))
        compression = None if part is not None else self._compression(path)
        with store.open(path, "rb", compression) as opened:
            stream = opened if part is None else open_range(opened, part)
            first_line = 1 if part is None else part.first_line
            if self.format == "jsonl":
                yield from read_jsonl_chunks(stream, url, columns, chunk_rows, first_line)
                return
            dialect = self.options.dialect
            header = columns if dialect.header and self.options.columns is None else None
            yield from read_csv_chunks(
                stream, url, dialect, columns, chunk_rows, header=header, first_line=first_line
            )

    def close(self) -> None:
        """Nothing stays open between reads."""

    # -- files -----------------------------------------------------------------------------

    def _list(self) -> list[str]:
        if self._files is None:
            store = self._get_store()
            files = store.files(store.root, data_suffixes(self.format))
            if not files:
                raise CopyError(f"no {self.format} files found at {redact(self.path)}")
            self._files = files
        return self._files

    def _byte_ranges(self, path: str, size: int) -> list[ByteRange]:
        """The byte ranges a CSV or JSON Lines file is read as (one pass over the file), or
        none when it is small or cannot be cut (see :mod:`cassflow.copy._file_split`)."""
        slice_bytes = self.options.slice_bytes
        if size <= slice_bytes:
            return []
        url = self._get_store().url(path)
        blocker = "it is compressed (not seekable)" if self._compression(path) else None
        if blocker is None and self.format == "csv":
            blocker = csv_split_blocker(self.options.dialect)
        if blocker is not None:
            logger.info(
                "%s is read as one slice: %s", url, blocker, extra={"file": url, "size": size}
            )
            return []
        with self._get_store().open(path, "rb") as stream:
            if self.format == "jsonl":
                return jsonl_ranges(stream, slice_bytes)
            return csv_ranges(stream, slice_bytes, self.options.dialect)

    def _compression(self, path: str) -> str | None:
        return self.options.compression or compression_of(path)

    def _same(self, columns: dict[str, Any]) -> Any:
        """The one value of ``columns`` (file -> its columns), or an error naming two files
        that differ."""
        items = list(columns.items())
        first_file, first = items[0]
        for other_file, other in items[1:]:
            if other != first:
                raise CopyError(
                    f"all files of {redact(self.path)} must have the same columns, but "
                    f"{first_file} has {_describe(first)} and {other_file} has {_describe(other)}"
                )
        return first

    # -- fields per format -----------------------------------------------------------------

    def _csv_fields(self, files: list[str]) -> list[Field]:
        store, dialect, given = self._get_store(), self.options.dialect, self.options.columns
        found: dict[str, Any] = {}
        for path in files:
            url = store.url(path)
            expected = None if given is None else len(given)
            with store.open(path, "rb", self._compression(path)) as stream:
                reader = CsvReader(stream, url, dialect, expected_fields=expected)
                header = reader.header
                if dialect.header:
                    if header is None:
                        raise CopyError(f"{url} is empty: it has no header line")
                    found[url] = given or _header_names(header, url)
                elif given is not None:
                    found[url] = given
                else:
                    first = next((r for r in reader if isinstance(r, CsvRecord)), None)
                    if first is None:
                        raise CopyError(
                            f"{url} has no record to count its columns (set options.columns)"
                        )
                    found[url] = tuple(f"c{i + 1}" for i in range(len(first.fields)))
        return [Field(name) for name in self._same(found)]

    def _jsonl_fields(self, files: list[str]) -> list[Field]:
        if self.options.columns is not None:
            return [Field(name) for name in self.options.columns]
        store = self._get_store()
        for path in files:
            with store.open(path, "rb", self._compression(path)) as stream:
                first = first_json_object(stream)
            if first is not None:
                return [Field(str(name)) for name in first]
        raise CopyError(
            f"no JSON object found in the files of {redact(self.path)} to take the field names "
            f"from (set options.columns)"
        )

    def _parquet_fields(self, files: list[str]) -> list[Field]:
        from cassflow.copy import _parquet_read as parquet  # noqa: PLC0415 - pyarrow on use

        store = self._get_store()
        found: dict[str, Any] = {}
        for path in files:
            url = store.url(path)
            with store.open(path, "rb") as stream:
                found[url] = parquet.parquet_columns(stream, url)
        return parquet.parquet_fields(self._same(found))

    def _row_groups(self, path: str) -> list[int]:
        from cassflow.copy._parquet_read import row_group_rows  # noqa: PLC0415

        with self._get_store().open(path, "rb") as stream:
            return row_group_rows(stream)


def _runs(counts: Sequence[int], target: int) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of consecutive row groups holding about ``target`` rows each (a
    file without row groups is one empty run, so it still shows in the plan)."""
    runs: list[tuple[int, int]] = []
    start = rows = 0
    for i, count in enumerate(counts):
        rows += count
        if rows >= target:
            runs.append((start, i + 1))
            start, rows = i + 1, 0
    if start < len(counts) or not runs:
        runs.append((start, len(counts)))
    return runs


def _header_names(header: tuple[str | None, ...], url: str) -> tuple[str, ...]:
    names: list[str] = []
    for i, name in enumerate(header, start=1):
        if not name:
            raise CopyError(f"the header of {url} has no name for column {i}")
        if name in names:
            raise CopyError(f"the header of {url} names column {name!r} twice")
        names.append(name)
    return tuple(names)


def _describe(columns: Any) -> str:
    parts = [f"{c[0]} {c[1]}" if isinstance(c, tuple) else str(c) for c in columns]
    return f"({', '.join(parts)})"


class FileSink(_FileDataset):
    """Writes each slice into its own files of a directory (see the module docstring).

    ``options``: ``file_size`` (bytes per file before the next one is started; ``'64MB'``,
    ``'1GiB'``; default 256 MiB), ``compression`` (CSV/JSON Lines: ``gzip``, ``bz2``, ``xz``;
    Parquet: ``zstd`` (default), ``snappy``, ``gzip``, ``none``...), ``row_group_rows``
    (Parquet; default one row group per chunk) and the CSV dialect (``header``,
    ``delimiter``, ``line_terminator``...).
    """

    def __init__(
        self,
        path: str,
        format: str,
        options: Mapping[str, Any] | None = None,
        storage: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(path, format, options, storage)
        self._fields: list[Field] | None = None
        self._convert: list[Any] = []
        self._schema: Any = None

    def prepare(self, fields: Sequence[Field], policy: DriftPolicy) -> Drift:
        """Create the directory and build the converters; files take any fields."""
        del policy  # files have no columns of their own to drift from
        names = [f.name for f in fields]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise CopyError(f"{self.location}: field {', '.join(twice)} comes more than once")
        if not fields:
            raise CopyError(f"{self.location}: no fields to write")
        from cassflow.copy._file_write import arrow_schema, converters  # noqa: PLC0415

        store = self._get_store()
        store.makedirs(store.root)
        self._convert = converters(self.format, fields)
        self._schema = arrow_schema(fields) if self.format == "parquet" else None
        self._fields = list(fields)
        return Drift()

    def open_slice(self, slice_id: str) -> SliceWriter:
        """A writer for one slice; committing it replaces the slice's earlier files."""
        if self._store is None or self._fields is None:
            raise CopyError(f"{self.location}: prepare() must come before open_slice()")
        from cassflow.copy._file_write import FileSliceWriter  # noqa: PLC0415

        return FileSliceWriter(
            self._store,
            self._store.root,
            slice_id,
            self._fields,
            self.options,
            self._convert,
            self._schema,
        )

    def close(self) -> None:
        """Nothing stays open between slices."""
