"""Frames per second of cassflow's CQL codec, next to the DataStax driver's own codec.

What is measured
----------------
Every figure is *frames per second* for one frame: one frame per call, the rate of the best
of many timed runs of about 0.1 s each (``time.perf_counter``). Each operation runs for at
least ``--seconds`` in total, at least ``--repeat`` runs and at least ``--min-iterations``
calls; the runs of the operations compared in one row are interleaved, so a machine that gets
busier halfway through slows both sides alike. The garbage collector is collected before and
switched off during each timed run (as :mod:`timeit` does) unless ``--keep-gc`` is given.

(a) A prepared EXECUTE request, protocol v4 and v5: ten bound values of mixed types (already
    serialized, as both codecs take them), consistency LOCAL_QUORUM, a page size and a default
    timestamp.

    * ``encode EXECUTE``: building the message and turning it into frame bytes. Ours:
      ``encode_envelope(Envelope(...), v).encode()``; the driver's:
      ``_ProtocolHandler.encode_message(ExecuteMessage(...), ...)`` (its Cython handler
      inherits this very method, so it has no separate row). Both must produce the same bytes,
      which is asserted before timing.
    * ``decode EXECUTE``: ours only, ``FrameReader`` then ``decode_envelope``; the driver is a
      client and has no request decoder.

(b) A RESULT of kind Rows with full metadata and ``--rows`` rows of nine columns (int, bigint,
    text, uuid, timestamp, double, boolean, list<text>, map<text, int>), v4 and v5.

    * ``encode RESULT (values)``: Python values serialized with ``encode_rows`` and framed;
      ``encode RESULT (cells)``: already serialized cells framed. The driver has no response
      encoder.
    * ``decode RESULT (cells)``: ours only, frame to a ``RowsResult`` of raw cells (what a
      proxy or a server-side reader needs); shows what the framing and row splitting cost.
    * ``decode RESULT (values)``: the same work the driver does, on the same bytes: ours is
      ``FrameReader`` -> ``decode_envelope`` -> ``decode_rows`` to a list of tuples of Python
      values; the driver's is ``decode_message(...)`` on the frame body, read back from
      ``parsed_rows``. Before timing, every decoder's rows are asserted equal to ours.

Driver rows: ``driver _ProtocolHandler`` is the driver's pure-Python path as installed. Binary
wheels of the driver compile ``cassandra/protocol.py`` itself into an extension module with
Cython (same code, no interpreter loop): the label then says "(module compiled)", and a second
row, ``driver _ProtocolHandler (protocol.py)``, times the same class loaded from the shipped
source file, i.e. truly interpreted, as on an install without the extensions. ``driver Cython
ProtocolHandler`` (only when ``cassandra.protocol.HAVE_CYTHON``) is the driver's default
decoder, with row parsers and value deserializers written in Cython: it is listed for scale,
not as a bar for a pure-Python codec. Value codecs (``cassandra.cqltypes``) are whatever the
installed driver provides, compiled or not, and are the same on both sides.

Both sides get the frame in memory: no sockets, no compression. In v5 frames travel inside
checksummed segments once a connection is up; segment framing is left out on both sides (the
driver's ``decode_message`` sees the frame body only). Our decode also parses the 9-byte
header and copies the body out of the ``FrameReader`` buffer; the driver is handed the body.

How to read it
--------------
``ours/driver`` is our frames/s divided by the driver's: above 1.0 we are faster. Column values
are (de)serialized by the driver's ``cassandra.cqltypes`` on our side too, so decoding rows
mostly measures how much each side adds around those calls. Figures vary from machine to
machine and run to run by a few percent; compare ratios taken in the same run.

Run ``.venv/bin/python bench/codec.py --help`` for the options; ``--json`` prints the figures
and the machine notes as JSON instead of a table.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import gc
import importlib.machinery
import importlib.util
import json
import math
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import cassandra
from cassandra import ConsistencyLevel, cqltypes
from cassandra import protocol as driver_protocol

from cassflow.protocol import (
    ColumnSpec,
    Consistency,
    DataType,
    Envelope,
    Execute,
    FrameReader,
    QueryParameters,
    RawFrame,
    RowsMetadata,
    RowsResult,
    TypeCode,
    decode_envelope,
    decode_rows,
    encode_envelope,
    encode_rows,
)

VERSIONS = (4, 5)
STREAM = 42
PAGE_SIZE = 5000
TIMESTAMP = 1_700_000_000_123_456  # microseconds, as a client's default timestamp
QUERY_ID = bytes(range(16))
RESULT_METADATA_ID = bytes(range(100, 116))

TEXT = DataType(TypeCode.VARCHAR)
ROW_COLUMNS: tuple[tuple[str, DataType], ...] = (
    ("id", DataType(TypeCode.INT)),
    ("counter", DataType(TypeCode.BIGINT)),
    ("name", TEXT),
    ("uid", DataType(TypeCode.UUID)),
    ("created", DataType(TypeCode.TIMESTAMP)),
    ("score", DataType(TypeCode.DOUBLE)),
    ("active", DataType(TypeCode.BOOLEAN)),
    ("tags", DataType.list_of(TEXT)),
    ("attrs", DataType.map_of(TEXT, DataType(TypeCode.INT))),
)
ROW_SPECS = tuple(
    ColumnSpec(keyspace="shop", table="orders", name=name, type=dtype)
    for name, dtype in ROW_COLUMNS
)
EPOCH = datetime.datetime(2024, 1, 1)

RUN_SECONDS = 0.1  # target length of one timed run

NOT_DECODABLE_BY_DRIVER = "driver has no request decoder (it is a client)"
NOT_ENCODABLE_BY_DRIVER = "driver has no response encoder (it is a client)"
OURS_ONLY_CELLS = "ours only: frame to raw cells, no values decoded"


@dataclass(frozen=True)
class Figure:
    """One table row: an operation, our rate and (when it has one) the driver's."""

    operation: str
    version: int
    frame_bytes: int
    ours_fps: float | None
    driver: str | None = None
    driver_fps: float | None = None
    note: str | None = None

    @property
    def ratio(self) -> float | None:
        """Ours over the driver's; above 1.0 we are faster."""
        if self.ours_fps is None or self.driver_fps is None:
            return None
        return self.ours_fps / self.driver_fps


@dataclass(frozen=True)
class Timer:
    """How long and how often each operation runs.

    Each timed run lasts about :data:`RUN_SECONDS` (or one call, if a call takes longer), and
    there are at least ``repeat`` runs, at least ``min_iterations`` calls and at least
    ``seconds`` of runs per operation. Many short runs, best kept, shrug off the bursts of a
    busy machine better than a few long ones.
    """

    seconds: float
    repeat: int
    min_iterations: int
    keep_gc: bool

    def frames_per_second(self, *operations: Callable[[], object]) -> list[float]:
        """Best-run rate of each operation (one frame per call).

        The operations' timed runs are interleaved, so a machine that slows down or speeds up
        halfway through affects all of them alike and their ratios stay fair.
        """
        plans = [self._plan(operation) for operation in operations]
        runs = max(count for _, count in plans)
        best = [math.inf] * len(operations)
        for _ in range(runs):
            for i, (operation, (iterations, _)) in enumerate(zip(operations, plans, strict=True)):
                best[i] = min(best[i], self._run(operation, iterations) / iterations)
        return [1.0 / seconds for seconds in best]

    def _plan(self, operation: Callable[[], object]) -> tuple[int, int]:
        """Calls per timed run, and how many runs satisfy every minimum."""
        operation()  # warm caches (type codecs, lru caches) outside the timing
        start = time.perf_counter()
        operation()
        single = max(time.perf_counter() - start, 1e-7)
        iterations = max(1, round(RUN_SECONDS / single))
        runs = max(
            self.repeat,
            math.ceil(self.min_iterations / iterations),
            math.ceil(self.seconds / (iterations * single)),
        )
        return iterations, runs

    def _run(self, operation: Callable[[], object], iterations: int) -> float:
        loop = range(iterations)
        gc.collect()
        was_enabled = gc.isenabled()
        if not self.keep_gc:
            gc.disable()
        try:
            start = time.perf_counter()
            for _ in loop:
                operation()
            return time.perf_counter() - start
        finally:
            if was_enabled:
                gc.enable()


# --- the driver's handlers ----------------------------------------------------------------


def _is_compiled(module: ModuleType) -> bool:
    path = getattr(module, "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


@functools.cache
def _interpreted_driver_protocol() -> ModuleType | None:
    """The driver's own ``protocol.py`` run by the interpreter, if the installed one is compiled.

    Nothing is copied: the module shipped next to the compiled extension is loaded under
    another name, so its ``_ProtocolHandler`` is the driver's pure-Python path as written.
    """
    if not _is_compiled(driver_protocol):
        return None
    source = Path(driver_protocol.__file__).with_name("protocol.py")
    if not source.is_file():
        return None
    spec = importlib.util.spec_from_file_location("_bench_driver_protocol_py", source)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class DriverCodec:
    """One of the driver's protocol handlers, with the module its message classes come from."""

    label: str
    handler: Any
    module: ModuleType


def driver_pure_python() -> list[DriverCodec]:
    """The driver's pure-Python ``_ProtocolHandler``: as installed and, if that is compiled,
    as interpreted from its source."""
    compiled = _is_compiled(driver_protocol)
    label = "driver _ProtocolHandler" + (" (module compiled)" if compiled else "")
    codecs = [DriverCodec(label, driver_protocol._ProtocolHandler, driver_protocol)]
    interpreted = _interpreted_driver_protocol()
    if interpreted is not None:
        codecs.append(
            DriverCodec(
                "driver _ProtocolHandler (protocol.py)", interpreted._ProtocolHandler, interpreted
            )
        )
    return codecs


def driver_decoders() -> list[DriverCodec]:
    """Every driver RESULT decoder available here: the pure-Python ones, then Cython's."""
    codecs = driver_pure_python()
    if driver_protocol.HAVE_CYTHON:
        codecs.append(
            DriverCodec(
                "driver Cython ProtocolHandler", driver_protocol.ProtocolHandler, driver_protocol
            )
        )
    return codecs


# --- (a) EXECUTE --------------------------------------------------------------------------


def execute_values(version: int) -> tuple[bytes | None, ...]:
    """Ten bound values of mixed types, serialized once for both codecs."""
    typed: Sequence[tuple[DataType, object]] = (
        (DataType(TypeCode.INT), 123_456),
        (DataType(TypeCode.BIGINT), 9_876_543_210),
        (TEXT, "customer-00042"),
        (DataType(TypeCode.UUID), uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")),
        (DataType(TypeCode.TIMESTAMP), EPOCH + datetime.timedelta(days=200, seconds=5)),
        (DataType(TypeCode.DOUBLE), 1234.5678),
        (DataType(TypeCode.BOOLEAN), True),
        (DataType.list_of(TEXT), ["red", "green", "blue"]),
        (DataType.map_of(TEXT, DataType(TypeCode.INT)), {"a": 1, "b": 2, "c": 3}),
        (DataType(TypeCode.BLOB), b"\x00\x01\x02\x03" * 8),
    )
    return tuple(dtype.serialize(value, version) for dtype, value in typed)


def bench_execute(version: int, timer: Timer) -> list[Figure]:
    """Encode (ours and the driver's) and decode (ours) of one EXECUTE frame."""
    values = execute_values(version)
    metadata_id = RESULT_METADATA_ID if version >= 5 else None

    def ours_encode() -> bytes:
        message = Execute(
            query_id=QUERY_ID,
            result_metadata_id=metadata_id,
            parameters=QueryParameters(
                consistency=Consistency.LOCAL_QUORUM,
                values=values,
                page_size=PAGE_SIZE,
                timestamp=TIMESTAMP,
            ),
        )
        return encode_envelope(Envelope(stream=STREAM, message=message), version).encode()

    frame = ours_encode()
    drivers = driver_pure_python()
    driver_encoders = [_driver_execute_encoder(d, version, values) for d in drivers]
    for driver, encode in zip(drivers, driver_encoders, strict=True):
        if encode() != frame:
            raise AssertionError(f"v{version}: our EXECUTE frame differs from {driver.label}'s")

    def ours_decode() -> Envelope:
        reader = FrameReader()
        reader.feed(frame)
        raw = reader.next_frame()
        assert raw is not None
        return decode_envelope(raw, version)

    decoded = ours_decode().message
    if not isinstance(decoded, Execute) or decoded.parameters.values != values:
        raise AssertionError(f"v{version}: our EXECUTE does not round-trip")

    size = len(frame)
    ours_encode_fps, ours_decode_fps, *driver_fps = timer.frames_per_second(
        ours_encode, ours_decode, *driver_encoders
    )
    figures = [
        Figure("encode EXECUTE", version, size, ours_encode_fps, driver.label, fps)
        for driver, fps in zip(drivers, driver_fps, strict=True)
    ]
    figures.append(
        Figure("decode EXECUTE", version, size, ours_decode_fps, note=NOT_DECODABLE_BY_DRIVER)
    )
    return figures


def _driver_execute_encoder(
    driver: DriverCodec, version: int, values: Sequence[bytes | None]
) -> Callable[[], bytes]:
    """Builds the driver's ``ExecuteMessage`` and encodes it, as ``Connection.send_msg`` does."""
    execute_message = driver.module.ExecuteMessage
    encode_message = driver.handler.encode_message
    metadata_id = RESULT_METADATA_ID if version >= 5 else None

    def encode() -> bytes:
        message = execute_message(
            QUERY_ID,
            list(values),
            ConsistencyLevel.LOCAL_QUORUM,
            fetch_size=PAGE_SIZE,
            timestamp=TIMESTAMP,
            result_metadata_id=metadata_id,
        )
        return bytes(encode_message(message, STREAM, version, None, False))

    return encode


# --- (b) RESULT ---------------------------------------------------------------------------


def result_rows(count: int) -> list[tuple[object, ...]]:
    """``count`` rows of Python values for :data:`ROW_COLUMNS`, varied but deterministic."""
    return [
        (
            i,
            i * 1_000_003 - 2**40,
            f"customer name {i:06d}",
            uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % 2**128),
            EPOCH + datetime.timedelta(seconds=i * 37, milliseconds=i % 1000),
            i / 7.0,
            i % 3 == 0,
            [f"tag-{i % 10}", f"tag-{i % 7}", "common"],
            {"qty": i % 50, "price": i * 3 % 997},
        )
        for i in range(count)
    ]


def _to_tuples(rows: Sequence[Sequence[object]]) -> list[tuple[object, ...]]:
    return [tuple(row) for row in rows]


def bench_result(version: int, row_count: int, timer: Timer) -> list[Figure]:
    """Encode (ours) and decode (ours and every driver handler) of one Rows RESULT frame."""
    types = [dtype for _, dtype in ROW_COLUMNS]
    values = result_rows(row_count)
    metadata = RowsMetadata.of(ROW_SPECS)

    def ours_encode_values() -> bytes:
        message = RowsResult(metadata=metadata, rows=encode_rows(types, values, version))
        return encode_envelope(Envelope(stream=STREAM, message=message), version).encode()

    cells = encode_rows(types, values, version)

    def ours_encode_cells() -> bytes:
        message = RowsResult(metadata=metadata, rows=cells)
        return encode_envelope(Envelope(stream=STREAM, message=message), version).encode()

    frame = ours_encode_values()

    def ours_decode_cells() -> RowsResult:
        reader = FrameReader()
        reader.feed(frame)
        raw = reader.next_frame()
        assert raw is not None
        message = decode_envelope(raw, version).message
        assert isinstance(message, RowsResult)
        return message

    def ours_decode_values() -> list[tuple[Any, ...]]:
        message = ours_decode_cells()
        assert message.metadata.columns is not None
        return decode_rows(message.metadata.columns, message.rows, version)

    if ours_decode_cells().rows != cells:
        raise AssertionError(f"v{version}: our RESULT cells do not round-trip")
    ours_rows = ours_decode_values()
    if ours_rows != values:
        raise AssertionError(f"v{version}: our RESULT values do not round-trip")

    # The driver gets what its connection would hand it: the body and header fields of the
    # very frame we decode.
    reader = FrameReader()
    reader.feed(frame)
    raw = reader.next_frame()
    assert raw is not None
    drivers = driver_decoders()
    driver_decodes = [_driver_rows_decoder(d, version, raw) for d in drivers]
    for driver, decode in zip(drivers, driver_decodes, strict=True):
        if _to_tuples(decode()) != ours_rows:
            raise AssertionError(f"v{version}: {driver.label} decodes other values than ours")

    size = len(frame)
    encode_values_fps, encode_cells_fps, decode_cells_fps = timer.frames_per_second(
        ours_encode_values, ours_encode_cells, ours_decode_cells
    )
    ours_fps, *driver_fps = timer.frames_per_second(ours_decode_values, *driver_decodes)
    figures = [
        Figure(
            "encode RESULT (values)",
            version,
            size,
            encode_values_fps,
            note=NOT_ENCODABLE_BY_DRIVER,
        ),
        Figure(
            "encode RESULT (cells)", version, size, encode_cells_fps, note=NOT_ENCODABLE_BY_DRIVER
        ),
        Figure("decode RESULT (cells)", version, size, decode_cells_fps, note=OURS_ONLY_CELLS),
    ]
    figures += [
        Figure("decode RESULT (values)", version, size, ours_fps, driver.label, fps)
        for driver, fps in zip(drivers, driver_fps, strict=True)
    ]
    return figures


def _driver_rows_decoder(
    driver: DriverCodec, version: int, frame: RawFrame
) -> Callable[[], list[tuple[Any, ...]]]:
    """The driver's ``decode_message`` on a RESULT frame body, returning its parsed rows."""
    decode_message = driver.handler.decode_message
    stream, flags, opcode, body = frame.stream, frame.flags, frame.opcode, frame.body

    def decode() -> list[tuple[Any, ...]]:
        message = decode_message(version, {}, stream, flags, opcode, body, None, None)
        rows: list[tuple[Any, ...]] = message.parsed_rows
        return rows

    return decode


# --- output -------------------------------------------------------------------------------


def _load_average() -> str:
    try:
        return " ".join(f"{load:.2f}" for load in os.getloadavg())
    except (AttributeError, OSError):  # not on every platform
        return "unknown"


def machine_notes(args: argparse.Namespace, load_before: str) -> dict[str, object]:
    """What the figures were taken on."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": _load_average(),
        "cassandra_driver": cassandra.__version__,
        "driver_protocol_module_compiled": _is_compiled(driver_protocol),
        "driver_cqltypes_module_compiled": _is_compiled(cqltypes),
        "driver_have_cython": bool(driver_protocol.HAVE_CYTHON),
        "rows": args.rows,
        "seconds_per_operation": args.seconds,
        "repeat": args.repeat,
        "min_iterations": args.min_iterations,
        "gc_during_timing": args.keep_gc,
    }


def _rate(fps: float | None) -> str:
    return "n/a" if fps is None else f"{fps:,.0f}" if fps >= 100 else f"{fps:,.2f}"


def print_table(figures: Sequence[Figure], notes: dict[str, object]) -> None:
    """The human-readable report."""
    print("cassflow CQL codec vs cassandra-driver, frames per second (higher is better)")
    for key, value in notes.items():
        print(f"  {key}: {value}")
    print()
    headers = ("operation", "v", "bytes", "ours f/s", "driver", "driver f/s", "ours/driver")
    table = [
        (
            f.operation,
            str(f.version),
            f"{f.frame_bytes:,}",
            _rate(f.ours_fps),
            f.driver or "-",
            _rate(f.driver_fps),
            "n/a" if f.ratio is None else f"{f.ratio:.2f}x",
        )
        for f in figures
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    right = {1, 2, 3, 5, 6}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print(line(row))
    footnotes = sorted({f.note for f in figures if f.note})
    if footnotes:
        print()
        for note in footnotes:
            print(f"  n/a: {note}")


def _progress(what: str) -> None:
    if sys.stderr.isatty():
        print(f"measuring {what}...", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Frames per second of cassflow's CQL codec next to cassandra-driver's: "
        "a prepared EXECUTE request and a Rows RESULT, protocol v4 and v5.",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=1.0,
        help="minimum total timed seconds per operation (default: 1.0)",
    )
    parser.add_argument(
        "--rows", type=int, default=5000, help="rows in the RESULT frame (default: 5000)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="minimum timed runs per operation, the best one kept (default: 5)",
    )
    parser.add_argument(
        "--min-iterations",
        type=int,
        default=10,
        help="minimum calls (frames) per operation over all runs (default: 10)",
    )
    parser.add_argument(
        "--keep-gc", action="store_true", help="leave the garbage collector on while timing"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rows < 0 or args.repeat < 1 or args.min_iterations < 1:
        parser.error("--seconds must be > 0, --rows >= 0, --repeat and --min-iterations >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement and print the report."""
    args = parse_args(argv)
    timer = Timer(args.seconds, args.repeat, args.min_iterations, args.keep_gc)
    load_before = _load_average()
    figures: list[Figure] = []
    for version in VERSIONS:
        _progress(f"EXECUTE v{version}")
        figures += bench_execute(version, timer)
    for version in VERSIONS:
        _progress(f"RESULT of {args.rows} rows, v{version}")
        figures += bench_result(version, args.rows, timer)
    notes = machine_notes(args, load_before)
    if args.json:
        report = {
            "machine": notes,
            "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
        }
        print(json.dumps(report, indent=2))
    else:
        print_table(figures, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
