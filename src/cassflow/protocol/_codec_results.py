"""Bodies of the RESULT kinds, and the hot path: splitting and decoding rows."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any, Final, NamedTuple

from cassflow.protocol._buffer import Reader, Writer
from cassflow.protocol._constants import (
    RESULT_KIND_OF,
    ResultKind,
    RowsFlag,
    SchemaChangeTarget,
    SchemaChangeType,
)
from cassflow.protocol._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from cassflow.protocol._messages import (
    ColumnSpec,
    PreparedMetadata,
    PreparedResult,
    RawRow,
    Result,
    RowsMetadata,
    RowsResult,
    SchemaChange,
    SchemaChangeResult,
    SetKeyspaceResult,
    VoidResult,
)
from cassflow.protocol._types import DataType, read_type, skip_type, write_type

_INT: Final = struct.Struct(">i")


# --- column specs -------------------------------------------------------------------------


def _read_column_specs(r: Reader, count: int, global_spec: bool, v: int) -> tuple[ColumnSpec, ...]:
    if count < 0:
        raise RemoteProtocolError(f"negative column count {count}")
    if global_spec:
        keyspace, table = r.read_string(), r.read_string()
    columns = []
    for _ in range(count):
        if not global_spec:
            keyspace, table = r.read_string(), r.read_string()
        name = r.read_string()
        columns.append(ColumnSpec(keyspace=keyspace, table=table, name=name, type=read_type(r, v)))
    return tuple(columns)


def _shares_one_table(columns: Sequence[ColumnSpec]) -> bool:
    return bool(columns) and len({(c.keyspace, c.table) for c in columns}) == 1


def _write_column_specs(w: Writer, columns: Sequence[ColumnSpec], v: int) -> None:
    global_spec = _shares_one_table(columns)
    if global_spec:
        w.write_string(columns[0].keyspace)
        w.write_string(columns[0].table)
    for col in columns:
        if not global_spec:
            w.write_string(col.keyspace)
            w.write_string(col.table)
        w.write_string(col.name)
        write_type(w, col.type, v)


# --- rows metadata ------------------------------------------------------------------------


def read_rows_metadata(r: Reader, v: int) -> RowsMetadata:
    """<metadata> of a Rows result."""
    flags = r.read_int()
    count = r.read_int()
    if count < 0:
        raise RemoteProtocolError(f"negative column count {count}")
    paging_state = r.read_bytes() if flags & RowsFlag.HAS_MORE_PAGES else None
    new_id = r.read_short_bytes() if flags & RowsFlag.METADATA_CHANGED else None
    if flags & RowsFlag.NO_METADATA:
        if new_id is not None:
            raise RemoteProtocolError("result metadata both changed and left out")
        return RowsMetadata(column_count=count, paging_state=paging_state)
    columns = _read_column_specs(r, count, bool(flags & RowsFlag.GLOBAL_TABLES_SPEC), v)
    return RowsMetadata(
        column_count=count, columns=columns, paging_state=paging_state, new_metadata_id=new_id
    )


def write_rows_metadata(w: Writer, m: RowsMetadata, v: int) -> None:
    """<metadata> of a Rows result."""
    if m.new_metadata_id is not None and v < 5:
        raise LocalProtocolError(f"changed result metadata ids need protocol v5, not v{v}")
    flags = RowsFlag(0)
    if m.columns is None:
        flags |= RowsFlag.NO_METADATA
    elif _shares_one_table(m.columns):
        flags |= RowsFlag.GLOBAL_TABLES_SPEC
    if m.paging_state is not None:
        flags |= RowsFlag.HAS_MORE_PAGES
    if m.new_metadata_id is not None:
        flags |= RowsFlag.METADATA_CHANGED
    w.write_int(flags)
    w.write_int(m.column_count)
    if m.paging_state is not None:
        w.write_bytes(m.paging_state)
    if m.new_metadata_id is not None:
        w.write_short_bytes(m.new_metadata_id)
    if m.columns is not None:
        _write_column_specs(w, m.columns, v)


# --- rows ---------------------------------------------------------------------------------


def _split_rows(data: bytes, pos: int, count: int, width: int) -> tuple[tuple[RawRow, ...], int]:
    """Cut ``count`` rows of ``width`` [bytes] cells out of ``data`` starting at ``pos``.

    This is the codec's hot loop. The fast path reads every cell of the page in one flat loop
    with no bounds check of its own (slicing past the end cannot fail, and the next
    ``unpack_from`` or the final position gives an overrun away), then lets ``zip`` build the
    row tuples in C. Anything odd is handed to :func:`_split_rows_checked`, which walks the
    same bytes again and raises the precise error.
    """
    if count < 0:
        raise RemoteProtocolError(f"negative row count {count}")
    # Every cell costs at least its 4-byte length, so a count the body cannot hold is a lie;
    # checking up front keeps a hostile count from making us loop or allocate for nothing.
    if count and (width == 0 or count * width * 4 > len(data) - pos):
        raise RemoteProtocolError(
            f"{count} rows of {width} columns cannot fit in {len(data) - pos} bytes"
        )
    if count == 0 or width <= 0:
        return _split_rows_checked(data, pos, count, width)
    start = pos
    unpack = _INT.unpack_from
    cells: list[bytes | None] = []
    cell = cells.append
    try:
        for _ in repeat(None, count * width):
            (size,) = unpack(data, pos)
            pos += 4
            if size >= 0:
                cell(data[pos : pos + size])
                pos += size
            else:
                cell(None)
    except struct.error:
        pos = -1
    if not 0 <= pos <= len(data):
        return _split_rows_checked(data, start, count, width)  # raises the precise error
    # ``width`` references to one iterator: each tuple zip yields is the next ``width`` cells.
    return tuple(zip(*[iter(cells)] * width, strict=True)), pos


def _split_rows_checked(
    data: bytes, pos: int, count: int, width: int
) -> tuple[tuple[RawRow, ...], int]:
    """:func:`_split_rows` one checked cell at a time: the edge cases and the error messages."""
    unpack = _INT.unpack_from
    end_of_data = len(data)
    rows: list[RawRow] = []
    append = rows.append
    try:
        for _ in range(count):
            row: list[bytes | None] = []
            cell = row.append
            for _ in range(width):
                size = unpack(data, pos)[0]
                pos += 4
                if size < 0:
                    cell(None)
                else:
                    end = pos + size
                    if end > end_of_data:
                        raise RemoteProtocolError(f"row cell of {size} bytes overruns the body")
                    cell(data[pos:end])
                    pos = end
            append(tuple(row))
    except struct.error:
        raise RemoteProtocolError("rows content truncated") from None
    return tuple(rows), pos


class ResultHead(NamedTuple):
    """What a relay needs of a RESULT: its kind and, for rows, how many."""

    kind: ResultKind
    rows: int


def peek_result(body: bytes, pos: int) -> ResultHead:
    """The head of the RESULT body starting at ``pos`` (past the envelope prefix); the rows
    themselves are not read."""
    reader = Reader(body, pos)
    raw_kind = reader.read_int()
    kind = RESULT_KIND_OF.get(raw_kind)
    if kind is None:
        raise RemoteProtocolError(f"unknown RESULT kind 0x{raw_kind:04x}")
    if kind is not ResultKind.ROWS:
        return ResultHead(kind, 0)
    _skip_rows_metadata(reader)
    return ResultHead(kind, reader.read_int())


def _skip_rows_metadata(r: Reader) -> None:
    """Step over a Rows result's <metadata> (:func:`read_rows_metadata`'s layout)."""
    flags = r.read_int()
    count = r.read_int()
    if count < 0:
        raise RemoteProtocolError(f"negative column count {count}")
    if flags & RowsFlag.HAS_MORE_PAGES:
        r.read_bytes()
    if flags & RowsFlag.METADATA_CHANGED:
        r.read_short_bytes()
    if flags & RowsFlag.NO_METADATA:
        return
    global_spec = bool(flags & RowsFlag.GLOBAL_TABLES_SPEC)
    if global_spec:
        r.skip_string()
        r.skip_string()
    for _ in range(count):
        if not global_spec:
            r.skip_string()
            r.skip_string()
        r.skip_string()
        skip_type(r)


def _read_rows(r: Reader, v: int) -> RowsResult:
    metadata = read_rows_metadata(r, v)
    count = r.read_int()
    rows, r.pos = _split_rows(r.data, r.pos, count, metadata.column_count)
    return RowsResult(metadata=metadata, rows=rows)


def _write_rows(w: Writer, m: RowsResult, v: int) -> None:
    width = m.metadata.column_count
    if m.rows and width == 0:
        # No reader could tell how many such rows there are; _split_rows refuses them too.
        raise LocalProtocolError("rows of a result with no columns")
    write_rows_metadata(w, m.metadata, v)
    w.write_int(len(m.rows))
    buf = w.buf
    pack = _INT.pack
    null = pack(-1)
    for row in m.rows:
        if len(row) != width:
            raise LocalProtocolError(f"row of {len(row)} cells in a {width}-column result")
        for cell in row:
            if cell is None:
                buf += null
            else:
                buf += pack(len(cell))
                buf += cell


def decode_rows(
    types: Sequence[DataType] | Sequence[ColumnSpec], rows: Sequence[RawRow], version: int
) -> list[tuple[Any, ...]]:
    """Deserialize raw rows into Python values with ``cassandra.cqltypes``.

    ``types`` are the columns' types (or their specs, as a Rows result's metadata or a
    Prepared result's ``result_metadata`` carry them).
    """
    decoders = [_decoder(t.type if isinstance(t, ColumnSpec) else t) for t in types]
    if not isinstance(rows, tuple | list):
        rows = tuple(rows)  # walked more than once below
    if not rows:
        return []
    width = len(decoders)
    try:
        if set(map(len, rows)) != {width}:
            raise ValueError("rows of the wrong width")  # _describe_bad_row names the row
        if not width:
            return [() for _ in rows]
        # Column by column: ``map`` calls each column's decoder from C, with no Python frame
        # per cell, and ``zip`` puts the rows back together, also in C.
        columns = [
            list(map(decode, column, repeat(version)))
            for decode, column in zip(decoders, zip(*rows, strict=True), strict=True)
        ]
        return list(zip(*columns, strict=True))
    except Exception:
        raise _describe_bad_row(decoders, types, rows, version) from None


def _decoder(dtype: DataType) -> Callable[[bytes | None, int], Any]:
    # A custom class name or UDT name the peer sent may be one cqltypes cannot build a class
    # for (unbalanced parentheses, NUL bytes...); it raises whatever its parser raises.
    try:
        decode: Callable[[bytes | None, int], Any] = dtype.codec().from_binary
    except Exception as exc:
        raise RemoteProtocolError(f"no codec for column type {dtype.cql()}: {exc}") from None
    return decode


def _describe_bad_row(
    decoders: list[Callable[[bytes | None, int], Any]],
    types: Sequence[DataType] | Sequence[ColumnSpec],
    rows: Sequence[RawRow],
    version: int,
) -> ProtocolError:
    # Only reached on failure: find the first row or cell at fault, to name it.
    for row_number, row in enumerate(rows):
        if len(row) != len(decoders):
            return LocalProtocolError(
                f"row {row_number} has {len(row)} cells but {len(decoders)} column types"
            )
        for index, (decode, cell) in enumerate(zip(decoders, row, strict=True)):
            try:
                decode(cell, version)
            except Exception as exc:
                spec = types[index]
                what = spec.name if isinstance(spec, ColumnSpec) else f"#{index}"
                dtype = spec.type if isinstance(spec, ColumnSpec) else spec
                return RemoteProtocolError(
                    f"row {row_number}, column {what}: malformed {dtype.cql()} value: {exc}"
                )
    return RemoteProtocolError("rows do not decode")


def encode_rows(
    types: Sequence[DataType], rows: Iterable[Sequence[Any]], version: int
) -> tuple[RawRow, ...]:
    """Serialize rows of Python values (the inverse of :func:`decode_rows`)."""
    return tuple(
        tuple(t.serialize(value, version) for t, value in zip(types, row, strict=True))
        for row in rows
    )


# --- prepared -----------------------------------------------------------------------------


def _read_prepared(r: Reader, v: int) -> PreparedResult:
    query_id = r.read_short_bytes()
    metadata_id = r.read_short_bytes() if v >= 5 else None
    flags = r.read_int()
    count = r.read_int()
    pk_indexes: tuple[int, ...] = ()
    if v >= 4:
        pk_count = r.read_int()
        if pk_count < 0:
            raise RemoteProtocolError(f"negative partition key count {pk_count}")
        pk_indexes = tuple(r.read_short() for _ in range(pk_count))
    columns = _read_column_specs(r, count, bool(flags & RowsFlag.GLOBAL_TABLES_SPEC), v)
    return PreparedResult(
        query_id=query_id,
        result_metadata_id=metadata_id,
        metadata=PreparedMetadata(columns=columns, partition_key_indexes=pk_indexes),
        result_metadata=read_rows_metadata(r, v),
    )


def _write_prepared(w: Writer, m: PreparedResult, v: int) -> None:
    w.write_short_bytes(m.query_id)
    if v >= 5:
        if m.result_metadata_id is None:
            raise LocalProtocolError("a v5 Prepared result needs a result metadata id")
        w.write_short_bytes(m.result_metadata_id)
    elif m.result_metadata_id is not None:
        raise LocalProtocolError(f"Prepared results carry no result metadata id in v{v}")
    columns = m.metadata.columns
    w.write_int(RowsFlag.GLOBAL_TABLES_SPEC if _shares_one_table(columns) else 0)
    w.write_int(len(columns))
    if v >= 4:
        w.write_int(len(m.metadata.partition_key_indexes))
        for index in m.metadata.partition_key_indexes:
            w.write_short(index)
    elif m.metadata.partition_key_indexes:
        raise LocalProtocolError("partition key indexes need protocol v4 or later")
    _write_column_specs(w, columns, v)
    write_rows_metadata(w, m.result_metadata, v)


# --- schema change ------------------------------------------------------------------------


def read_schema_change(r: Reader, _v: int) -> SchemaChange:
    """<change_type><target><options> of a Schema_change result or event."""
    raw_change, raw_target = r.read_string(), r.read_string()
    try:
        change_type = SchemaChangeType(raw_change)
        target = SchemaChangeTarget(raw_target)
    except ValueError:
        raise RemoteProtocolError(f"unknown schema change {raw_change} {raw_target}") from None
    keyspace = r.read_string()
    if target is SchemaChangeTarget.KEYSPACE:
        return SchemaChange(change_type=change_type, target=target, keyspace=keyspace)
    name = r.read_string()
    arguments = None
    if target in (SchemaChangeTarget.FUNCTION, SchemaChangeTarget.AGGREGATE):
        arguments = r.read_string_list()
    return SchemaChange(
        change_type=change_type,
        target=target,
        keyspace=keyspace,
        name=name,
        argument_types=arguments,
    )


def write_schema_change(w: Writer, change: SchemaChange, _v: int) -> None:
    """<change_type><target><options>."""
    w.write_string(change.change_type)
    w.write_string(change.target)
    w.write_string(change.keyspace)
    if change.name is not None:
        w.write_string(change.name)
    if change.argument_types is not None:
        w.write_string_list(change.argument_types)


# --- dispatch -----------------------------------------------------------------------------


def _read_void(_r: Reader, _v: int) -> VoidResult:
    return VoidResult()


def _write_void(_w: Writer, _m: VoidResult, _v: int) -> None:
    return


def _read_set_keyspace(r: Reader, _v: int) -> SetKeyspaceResult:
    return SetKeyspaceResult(keyspace=r.read_string())


def _write_set_keyspace(w: Writer, m: SetKeyspaceResult, _v: int) -> None:
    w.write_string(m.keyspace)


def _read_schema_change_result(r: Reader, v: int) -> SchemaChangeResult:
    return SchemaChangeResult(change=read_schema_change(r, v))


def _write_schema_change_result(w: Writer, m: SchemaChangeResult, v: int) -> None:
    write_schema_change(w, m.change, v)


RESULT_ENCODERS: dict[ResultKind, Callable[[Writer, Any, int], None]] = {
    ResultKind.VOID: _write_void,
    ResultKind.ROWS: _write_rows,
    ResultKind.SET_KEYSPACE: _write_set_keyspace,
    ResultKind.PREPARED: _write_prepared,
    ResultKind.SCHEMA_CHANGE: _write_schema_change_result,
}

RESULT_DECODERS: dict[ResultKind, Callable[[Reader, int], Result]] = {
    ResultKind.VOID: _read_void,
    ResultKind.ROWS: _read_rows,
    ResultKind.SET_KEYSPACE: _read_set_keyspace,
    ResultKind.PREPARED: _read_prepared,
    ResultKind.SCHEMA_CHANGE: _read_schema_change_result,
}
