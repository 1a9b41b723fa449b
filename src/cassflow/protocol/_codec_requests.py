"""Bodies of request messages, encoded and decoded for v3, v4 and v5."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from cassflow.protocol._buffer import UNSET, Reader, Value, Writer
from cassflow.protocol._constants import (
    CONSISTENCY_OF,
    BatchType,
    Consistency,
    EventType,
    Opcode,
    PrepareFlag,
    QueryFlag,
)
from cassflow.protocol._errors import LocalProtocolError, RemoteProtocolError
from cassflow.protocol._messages import (
    AuthResponse,
    Batch,
    BatchStatement,
    Execute,
    Message,
    Options,
    Prepare,
    Query,
    QueryParameters,
    Register,
    Startup,
)

# Flags the BATCH message may carry: the four low bits make no sense for a batch.
_BATCH_FLAGS = int(
    QueryFlag.WITH_SERIAL_CONSISTENCY
    | QueryFlag.WITH_DEFAULT_TIMESTAMP
    | QueryFlag.WITH_NAMES_FOR_VALUES
    | QueryFlag.WITH_KEYSPACE
    | QueryFlag.WITH_NOW_IN_SECONDS
)
_V5_ONLY_FLAGS = int(QueryFlag.WITH_KEYSPACE | QueryFlag.WITH_NOW_IN_SECONDS)
_KNOWN_QUERY_FLAGS = sum(int(flag) for flag in QueryFlag)
_F_VALUES = int(QueryFlag.VALUES)
_F_NAMES = int(QueryFlag.WITH_NAMES_FOR_VALUES)
_F_SKIP_METADATA = int(QueryFlag.SKIP_METADATA)
_F_PAGE_SIZE = int(QueryFlag.PAGE_SIZE)
_F_PAGING_STATE = int(QueryFlag.WITH_PAGING_STATE)
_F_SERIAL = int(QueryFlag.WITH_SERIAL_CONSISTENCY)
_F_TIMESTAMP = int(QueryFlag.WITH_DEFAULT_TIMESTAMP)
_F_KEYSPACE = int(QueryFlag.WITH_KEYSPACE)
_F_NOW = int(QueryFlag.WITH_NOW_IN_SECONDS)
_INT = struct.Struct(">i")
_NULL = _INT.pack(-1)
_NOT_SET = _INT.pack(-2)


def read_consistency(reader: Reader) -> Consistency:
    """[consistency]."""
    raw = reader.read_short()
    level = CONSISTENCY_OF.get(raw)
    if level is None:
        raise RemoteProtocolError(f"unknown consistency level 0x{raw:04x}")
    return level


def _read_flags(reader: Reader, version: int) -> int:
    raw = reader.read_int() if version >= 5 else reader.read_byte()
    flags = raw & _KNOWN_QUERY_FLAGS  # bits the spec does not define are ignored
    if version < 5 and flags & _V5_ONLY_FLAGS:
        raise RemoteProtocolError(f"query flags 0x{raw:x} use v5 bits in protocol v{version}")
    return flags


def _write_flags(writer: Writer, flags: int, version: int) -> None:
    if version >= 5:
        writer.write_int(flags)
    else:
        writer.write_byte(flags)


def _require_v5(value: object, what: str, version: int) -> None:
    if value is not None and version < 5:
        raise LocalProtocolError(f"{what} needs protocol v5, this connection speaks v{version}")


def _read_values(
    reader: Reader, version: int, named: bool
) -> tuple[tuple[Value, ...], tuple[str, ...] | None]:
    allow_unset = version >= 4
    count = reader.read_short()
    if named:
        names: list[str] = []
        named_values: list[Value] = []
        for _ in range(count):
            names.append(reader.read_string())
            named_values.append(reader.read_value(allow_unset))
        return tuple(named_values), tuple(names)
    # The hot loop of every EXECUTE a server decodes: offsets instead of Reader calls.
    data, pos, end = reader.data, reader.pos, len(reader.data)
    unpack = _INT.unpack_from
    values: list[Value] = []
    append = values.append
    try:
        for _ in range(count):
            size = unpack(data, pos)[0]
            pos += 4
            if size >= 0:
                stop = pos + size
                if stop > end:
                    raise RemoteProtocolError(f"bound value of {size} bytes overruns the body")
                append(data[pos:stop])
                pos = stop
            elif size == -1:
                append(None)
            elif size == -2 and allow_unset:
                append(UNSET)
            else:
                raise RemoteProtocolError(f"[value] with invalid length {size}")
    except struct.error:
        raise RemoteProtocolError("truncated body: bound values") from None
    reader.pos = pos
    return tuple(values), None


def _write_values(
    writer: Writer, values: tuple[Value, ...], names: tuple[str, ...] | None, version: int
) -> None:
    # The hot loop of every EXECUTE: cells go straight into the buffer.
    writer.write_count(len(values), "bound values")
    buf = writer.buf
    pack = _INT.pack
    for i, value in enumerate(values):
        if names is not None:
            writer.write_string(names[i])
        if value is None:
            buf += _NULL
        elif value is UNSET:
            if version < 4:
                raise LocalProtocolError("unset values need protocol v4 or later")
            buf += _NOT_SET
        else:
            buf += pack(len(value))
            buf += value


def read_query_parameters(reader: Reader, version: int) -> QueryParameters:
    """<query_parameters> of QUERY and EXECUTE."""
    consistency = read_consistency(reader)
    flags = _read_flags(reader, version)
    values: tuple[Value, ...] = ()
    names = None
    if flags & _F_VALUES:
        values, names = _read_values(reader, version, bool(flags & _F_NAMES))
    page_size = reader.read_int() if flags & _F_PAGE_SIZE else None
    paging_state = reader.read_bytes() if flags & _F_PAGING_STATE else None
    serial = read_consistency(reader) if flags & _F_SERIAL else None
    timestamp = reader.read_long() if flags & _F_TIMESTAMP else None
    keyspace = reader.read_string() if flags & _F_KEYSPACE else None
    now = reader.read_int() if flags & _F_NOW else None
    return QueryParameters(
        consistency=consistency,
        values=values,
        names=names,
        skip_metadata=bool(flags & _F_SKIP_METADATA),
        page_size=page_size,
        paging_state=paging_state,
        serial_consistency=serial,
        timestamp=timestamp,
        keyspace=keyspace,
        now_in_seconds=now,
    )


def write_query_parameters(writer: Writer, params: QueryParameters, version: int) -> None:
    """<query_parameters> of QUERY and EXECUTE."""
    _require_v5(params.keyspace, "a per-query keyspace", version)
    _require_v5(params.now_in_seconds, "now_in_seconds", version)
    # Named values are sent even when there are none, so that names=() comes back as ().
    has_values = bool(params.values) or params.names is not None
    # Plain ints: IntFlag arithmetic costs more than the rest of a small EXECUTE.
    flags = 0
    if has_values:
        flags |= _F_VALUES
        if params.names is not None:
            flags |= _F_NAMES
    if params.skip_metadata:
        flags |= _F_SKIP_METADATA
    if params.page_size is not None:
        flags |= _F_PAGE_SIZE
    if params.paging_state is not None:
        flags |= _F_PAGING_STATE
    if params.serial_consistency is not None:
        flags |= _F_SERIAL
    if params.timestamp is not None:
        flags |= _F_TIMESTAMP
    if params.keyspace is not None:
        flags |= _F_KEYSPACE
    if params.now_in_seconds is not None:
        flags |= _F_NOW
    writer.write_short(params.consistency)
    _write_flags(writer, flags, version)
    if has_values:
        _write_values(writer, params.values, params.names, version)
    if params.page_size is not None:
        writer.write_int(params.page_size)
    if params.paging_state is not None:
        writer.write_bytes(params.paging_state)
    if params.serial_consistency is not None:
        writer.write_short(params.serial_consistency)
    if params.timestamp is not None:
        writer.write_long(params.timestamp)
    if params.keyspace is not None:
        writer.write_string(params.keyspace)
    if params.now_in_seconds is not None:
        writer.write_int(params.now_in_seconds)


# --- one encoder and one decoder per request opcode ---------------------------------------


def _enc_startup(w: Writer, m: Startup, _v: int) -> None:
    w.write_string_map(m.options)


def _dec_startup(r: Reader, _v: int) -> Startup:
    return Startup(options=r.read_string_map())


def _enc_auth_response(w: Writer, m: AuthResponse, _v: int) -> None:
    w.write_bytes(m.token)


def _dec_auth_response(r: Reader, _v: int) -> AuthResponse:
    return AuthResponse(token=r.read_bytes())


def _enc_options(_w: Writer, _m: Options, _v: int) -> None:
    return


def _dec_options(_r: Reader, _v: int) -> Options:
    return Options()


def _enc_query(w: Writer, m: Query, v: int) -> None:
    w.write_long_string(m.query)
    write_query_parameters(w, m.parameters, v)


def _dec_query(r: Reader, v: int) -> Query:
    query = r.read_long_string()
    return Query(query=query, parameters=read_query_parameters(r, v))


def _enc_prepare(w: Writer, m: Prepare, v: int) -> None:
    _require_v5(m.keyspace, "a keyspace on PREPARE", v)
    w.write_long_string(m.query)
    if v >= 5:
        w.write_int(PrepareFlag.WITH_KEYSPACE if m.keyspace is not None else 0)
        if m.keyspace is not None:
            w.write_string(m.keyspace)


def _dec_prepare(r: Reader, v: int) -> Prepare:
    query = r.read_long_string()
    keyspace = None
    if v >= 5 and r.read_int() & PrepareFlag.WITH_KEYSPACE:
        keyspace = r.read_string()
    return Prepare(query=query, keyspace=keyspace)


def _enc_execute(w: Writer, m: Execute, v: int) -> None:
    w.write_short_bytes(m.query_id)
    if v >= 5:
        if m.result_metadata_id is None:
            raise LocalProtocolError("EXECUTE needs the result metadata id in protocol v5")
        w.write_short_bytes(m.result_metadata_id)
    elif m.result_metadata_id is not None:
        raise LocalProtocolError(f"EXECUTE carries no result metadata id in protocol v{v}")
    write_query_parameters(w, m.parameters, v)


def _dec_execute(r: Reader, v: int) -> Execute:
    query_id = r.read_short_bytes()
    metadata_id = r.read_short_bytes() if v >= 5 else None
    return Execute(
        query_id=query_id,
        result_metadata_id=metadata_id,
        parameters=read_query_parameters(r, v),
    )


class ExecuteHead(NamedTuple):
    """What a relay needs of an EXECUTE, read without decoding its bound values."""

    query_id: bytes
    consistency: Consistency
    serial_consistency: Consistency | None
    page_size: int | None


_SHORT = struct.Struct(">H")
_LONG_SIZE = 8
#: Flags the fast peek leaves to the checked one: named values and a keyspace (whose UTF-8
#: must be checked) are rare on an EXECUTE.
_PEEK_SLOW_FLAGS = _F_NAMES | _F_KEYSPACE


def peek_execute(body: bytes, pos: int, version: int) -> ExecuteHead:
    """The head of the EXECUTE body starting at ``pos`` (past the envelope prefix).

    Walks the whole body as decoding does, so that a malformed one raises the same
    :class:`RemoteProtocolError`, but leaves the bound values in place. The common shape is
    read with bare offsets; anything unusual or wrong is read again one checked field at a
    time, which raises the precise error.
    """
    head = _peek_execute_fast(body, pos, version)
    return head if head is not None else _peek_execute_checked(body, pos, version)


def _peek_execute_fast(body: bytes, pos: int, version: int) -> ExecuteHead | None:
    """:func:`peek_execute` by offsets; None where the checked walk must decide."""
    short, integer = _SHORT.unpack_from, _INT.unpack_from
    end = len(body)
    try:
        (size,) = short(body, pos)
        query_id = body[pos + 2 : pos + 2 + size]
        pos += 2 + size
        if version >= 5:
            pos += 2 + short(body, pos)[0]  # the result metadata id
        consistency = CONSISTENCY_OF.get(short(body, pos)[0])
        pos += 2
        if version >= 5:
            raw_flags = integer(body, pos)[0]
            pos += 4
        else:
            raw_flags = body[pos]
            pos += 1
        flags = raw_flags & _KNOWN_QUERY_FLAGS
        if consistency is None or flags & _PEEK_SLOW_FLAGS:
            return None
        if version < 5 and flags & _V5_ONLY_FLAGS:
            return None
        if flags & _F_VALUES:
            allow_unset = version >= 4
            count = short(body, pos)[0]
            pos += 2
            for _ in range(count):
                (length,) = integer(body, pos)
                pos += 4
                if length >= 0:
                    pos += length
                elif length != -1 and not (length == -2 and allow_unset):
                    return None
        page_size = None
        if flags & _F_PAGE_SIZE:
            page_size = integer(body, pos)[0]
            pos += 4
        if flags & _F_PAGING_STATE:
            length = integer(body, pos)[0]
            pos += 4 + max(length, 0)
        serial = None
        if flags & _F_SERIAL:
            serial = CONSISTENCY_OF.get(short(body, pos)[0])
            pos += 2
            if serial is None:
                return None
        if flags & _F_TIMESTAMP:
            pos += _LONG_SIZE
        if flags & _F_NOW:
            pos += 4
    except (struct.error, IndexError):
        return None
    if pos > end or len(query_id) != size:
        return None
    return ExecuteHead(query_id, consistency, serial, page_size)


def _peek_execute_checked(body: bytes, pos: int, version: int) -> ExecuteHead:
    """:func:`peek_execute` by decoding the EXECUTE (the rare shapes, and the precise error
    for a malformed body: the same decoder's)."""
    execute = _dec_execute(Reader(body, pos), version)
    parameters = execute.parameters
    return ExecuteHead(
        execute.query_id,
        parameters.consistency,
        parameters.serial_consistency,
        parameters.page_size,
    )


def _enc_batch(w: Writer, m: Batch, v: int) -> None:
    _require_v5(m.keyspace, "a keyspace on BATCH", v)
    _require_v5(m.now_in_seconds, "now_in_seconds", v)
    named = any(s.names is not None for s in m.statements)
    w.write_byte(m.batch_type)
    w.write_count(len(m.statements), "batch statements")
    for stmt in m.statements:
        if isinstance(stmt.statement, bytes):
            w.write_byte(1)
            w.write_short_bytes(stmt.statement)
        else:
            w.write_byte(0)
            w.write_long_string(stmt.statement)
        _write_values(w, stmt.values, stmt.names, v)
    w.write_short(m.consistency)
    flags = QueryFlag(0)
    if m.serial_consistency is not None:
        flags |= QueryFlag.WITH_SERIAL_CONSISTENCY
    if m.timestamp is not None:
        flags |= QueryFlag.WITH_DEFAULT_TIMESTAMP
    if named:
        flags |= QueryFlag.WITH_NAMES_FOR_VALUES
    if m.keyspace is not None:
        flags |= QueryFlag.WITH_KEYSPACE
    if m.now_in_seconds is not None:
        flags |= QueryFlag.WITH_NOW_IN_SECONDS
    _write_flags(w, flags, v)
    if m.serial_consistency is not None:
        w.write_short(m.serial_consistency)
    if m.timestamp is not None:
        w.write_long(m.timestamp)
    if m.keyspace is not None:
        w.write_string(m.keyspace)
    if m.now_in_seconds is not None:
        w.write_int(m.now_in_seconds)


def _dec_batch(r: Reader, v: int) -> Batch:
    raw_type = r.read_byte()
    try:
        batch_type = BatchType(raw_type)
    except ValueError:
        raise RemoteProtocolError(f"unknown batch type {raw_type}") from None
    # The names flag comes after the statements it governs, so the statements are read both
    # ways, unnamed first; a reading counts only if the flag it reaches agrees with it. Both
    # can parse (a named value with an empty name looks like an empty unnamed value followed
    # by more), so a reading that ends exactly at the end of the body wins over one that
    # leaves bytes over. Cassandra refuses named batch values (CASSANDRA-10246), but the
    # layout is specified, so we decode it.
    start = r.pos
    fallback: tuple[Batch, int] | None = None
    error: RemoteProtocolError | None = None
    for named in (False, True):
        r.pos = start
        try:
            batch = _read_batch_body(r, v, batch_type, named)
        except RemoteProtocolError as exc:
            error = exc
            continue
        if r.remaining == 0:
            return batch
        if fallback is None:
            fallback = (batch, r.pos)
    if fallback is None:
        raise error or RemoteProtocolError("BATCH does not parse")
    batch, r.pos = fallback
    return batch


def _read_batch_body(r: Reader, v: int, batch_type: BatchType, named: bool) -> Batch:
    statements = _read_batch_statements(r, v, named)
    consistency = read_consistency(r)
    flags = _read_flags(r, v)
    if bool(flags & _F_NAMES) != named:
        raise RemoteProtocolError("BATCH statements do not parse")
    if flags & ~_BATCH_FLAGS:
        raise RemoteProtocolError(f"BATCH flags 0x{flags:x} set bits only QUERY may use")
    serial = read_consistency(r) if flags & _F_SERIAL else None
    timestamp = r.read_long() if flags & _F_TIMESTAMP else None
    keyspace = r.read_string() if flags & _F_KEYSPACE else None
    now = r.read_int() if flags & _F_NOW else None
    return Batch(
        batch_type=batch_type,
        statements=statements,
        consistency=consistency,
        serial_consistency=serial,
        timestamp=timestamp,
        keyspace=keyspace,
        now_in_seconds=now,
    )


def _read_batch_statements(r: Reader, v: int, named: bool) -> tuple[BatchStatement, ...]:
    statements = []
    for _ in range(r.read_short()):
        kind = r.read_byte()
        statement: str | bytes
        if kind == 0:
            statement = r.read_long_string()
        elif kind == 1:
            statement = r.read_short_bytes()
        else:
            raise RemoteProtocolError(f"batch statement kind {kind}, expected 0 or 1")
        values, names = _read_values(r, v, named)
        statements.append(BatchStatement(statement=statement, values=values, names=names))
    return tuple(statements)


def _enc_register(w: Writer, m: Register, _v: int) -> None:
    w.write_string_list(m.event_types)


def _dec_register(r: Reader, _v: int) -> Register:
    types = []
    for name in r.read_string_list():
        try:
            types.append(EventType(name))
        except ValueError:
            raise RemoteProtocolError(f"REGISTER for unknown event type {name!r}") from None
    return Register(event_types=tuple(types))


Encoder = Callable[[Writer, Any, int], None]
Decoder = Callable[[Reader, int], Message]

REQUEST_ENCODERS: dict[Opcode, Encoder] = {
    Opcode.STARTUP: _enc_startup,
    Opcode.AUTH_RESPONSE: _enc_auth_response,
    Opcode.OPTIONS: _enc_options,
    Opcode.QUERY: _enc_query,
    Opcode.PREPARE: _enc_prepare,
    Opcode.EXECUTE: _enc_execute,
    Opcode.BATCH: _enc_batch,
    Opcode.REGISTER: _enc_register,
}

REQUEST_DECODERS: dict[Opcode, Decoder] = {
    Opcode.STARTUP: _dec_startup,
    Opcode.AUTH_RESPONSE: _dec_auth_response,
    Opcode.OPTIONS: _dec_options,
    Opcode.QUERY: _dec_query,
    Opcode.PREPARE: _dec_prepare,
    Opcode.EXECUTE: _dec_execute,
    Opcode.BATCH: _dec_batch,
    Opcode.REGISTER: _dec_register,
}
