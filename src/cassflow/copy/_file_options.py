"""Options of file datasets, checked once: names, numbers, sizes, compression.

Options come from a YAML pipeline file, so they may be strings or scalars (``header: true``,
``chunk_rows: "5000"``, ``file_size: 64MB``). One dataset can be read in one activity and
written in another, so each format accepts the union of its read and write options; an
option that does not apply to the way the dataset is used is ignored. An unknown name is an
error that lists the valid ones (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cassflow.copy._csv import OPTION_NAMES as CSV_DIALECT_OPTIONS
from cassflow.copy._csv import CsvDialect
from cassflow.copy._model import CopyError

FORMATS = ("csv", "jsonl", "parquet")

#: File name suffixes of each format (a directory path reads the files that have them).
SUFFIXES: Mapping[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv", ".txt"),
    "jsonl": (".jsonl", ".ndjson", ".json"),
    "parquet": (".parquet", ".pq"),
}
#: Stream compressions for CSV and JSON Lines output, and the suffix each one adds.
STREAM_COMPRESSIONS: Mapping[str, str] = {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz"}
#: Compressions Parquet writes inside the file (pyarrow's names).
PARQUET_COMPRESSIONS = ("none", "snappy", "gzip", "brotli", "lz4", "zstd")
#: Suffixes of compressed input read as compressed (fsspec infers the codec from them).
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".lz4", ".zip")

_COMMON = ("chunk_rows", "file_size", "compression")
_VALID: Mapping[str, tuple[str, ...]] = {
    "csv": (*_COMMON, "columns", "slice_bytes", *CSV_DIALECT_OPTIONS),
    "jsonl": (*_COMMON, "columns", "slice_bytes"),
    "parquet": (*_COMMON, "slice_rows", "row_group_rows"),
}

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


@dataclass(frozen=True, slots=True)
class FileOptions:
    """The checked options of one file dataset."""

    format: str
    #: Rows per chunk read.
    chunk_rows: int = 5_000
    #: Bytes after which an output file is closed and the next one started.
    file_size: int = 256 * 1024**2
    #: Read: ``"infer"`` (from the suffix) or a codec; write: a codec or ``None``.
    compression: str | None = None
    #: Column names given by the user (CSV, JSON Lines), overriding the header / first record.
    columns: tuple[str, ...] | None = None
    #: Parquet: rows per slice (consecutive row groups of one file).
    slice_rows: int = 100_000
    #: CSV, JSON Lines: a larger file is read as byte ranges of about this size, in parallel.
    slice_bytes: int = 64 * 1024**2
    #: Parquet: rows per row group written (``None``: one row group per chunk).
    row_group_rows: int | None = None
    csv: CsvDialect | None = None

    @classmethod
    def parse(cls, format: str, options: Mapping[str, Any] | None) -> FileOptions:
        """Check ``options`` for a dataset of ``format``; raises :class:`CopyError`."""
        if format not in FORMATS:
            raise CopyError(f"unknown file format {format!r}; expected one of {', '.join(FORMATS)}")
        options = dict(options or {})
        valid = _VALID[format]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            names = ", ".join(repr(n) for n in unknown)
            raise CopyError(
                f"unknown {format} option(s) {names}; valid options: {', '.join(sorted(valid))}"
            )
        kwargs: dict[str, Any] = {"format": format}
        for name in ("chunk_rows", "slice_rows", "row_group_rows"):
            if name in options:
                kwargs[name] = _positive(name, options[name])
        for name in ("file_size", "slice_bytes"):
            if name in options:
                kwargs[name] = parse_size(options[name], name)
        if "columns" in options:
            kwargs["columns"] = _columns(options["columns"])
        kwargs["compression"] = _compression(format, options.get("compression"))
        if format == "csv":
            kwargs["csv"] = CsvDialect.from_options(options)
        return cls(**kwargs)

    @property
    def dialect(self) -> CsvDialect:
        """The CSV dialect (the default one for other formats)."""
        return self.csv or CsvDialect()


def parse_size(value: Any, name: str = "file_size") -> int:
    """Bytes from ``1048576``, ``'64MB'`` (10^6), ``'1GiB'`` (2^30), ``'500 kB'``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value > 0:
            return value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match is not None:
            unit = match.group(2).lower()
            base = 1024 if "i" in unit else 1000
            scale = base ** list(_UNITS).index(unit[:1]) if unit[:1] in _UNITS else 1
            size = int(float(match.group(1)) * scale)
            if size > 0:
                return size
    raise CopyError(
        f"{name} must be a positive number of bytes such as 67108864, '64MB' or '1GiB', "
        f"got {value!r}"
    )


def _positive(name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise CopyError(f"{name} must be a whole number above 0, got {value!r}")


def _columns(value: Any) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise CopyError(f"columns must be a comma-separated list of names, got {value!r}")
    columns = tuple(n.strip() for n in names)
    if not columns or "" in columns:
        raise CopyError(f"columns must name every column (no empty names), got {value!r}")
    twice = sorted({n for n in columns if columns.count(n) > 1})
    if twice:
        raise CopyError(f"columns names {', '.join(twice)} more than once")
    return columns


def _compression(format: str, value: Any) -> str | None:
    if value is None:
        return "zstd" if format == "parquet" else None
    text = str(value).strip().lower()
    if format == "parquet":
        if text not in PARQUET_COMPRESSIONS:
            raise CopyError(
                f"parquet compression must be one of {', '.join(PARQUET_COMPRESSIONS)}, "
                f"got {value!r}"
            )
        return text
    if text in ("none", "infer"):
        return None
    if text not in STREAM_COMPRESSIONS:
        choices = ", ".join(("none", *STREAM_COMPRESSIONS))
        raise CopyError(f"{format} compression must be one of {choices}, got {value!r}")
    return text


def compression_of(path: str) -> str | None:
    """``'infer'`` for a file whose suffix says it is compressed (``.gz``...), else ``None``."""
    return "infer" if path.lower().endswith(COMPRESSED_SUFFIXES) else None


def data_suffixes(format: str) -> tuple[str, ...]:
    """Suffixes of the files a directory of ``format`` is made of, compressed ones included."""
    plain = SUFFIXES[format]
    if format == "parquet":
        return plain
    return plain + tuple(s + c for s in plain for c in COMPRESSED_SUFFIXES)
