"""Interop with the real Cassandra Python driver (``cassandra-driver``), in both directions.

The driver is the reference for what real clients put on the wire and accept back:

1. driver -> us: requests built with the driver's message classes and framed by
   ``_ProtocolHandler.encode_message`` decode, field for field, through our ``FrameReader`` /
   ``decode_envelope`` and through a server-role ``Connection`` (LZ4 frames in v3/v4, the
   driver's own segment codec in v5);
2. us -> driver: every response kind the driver decodes, framed by ``encode_envelope``, reads
   back in ``_ProtocolHandler.decode_message`` (and the Cython handler real clients use) with
   the same fields: error classes and their ``info``, rows as Python values, metadata...;
3. v5 segments both ways with ``cassandra.segment.SegmentCodec``, including frames larger than
   one segment;
4. a real TCP handshake: the driver's own connection class against a tiny server driven by
   our ``Connection``, down to the protocol version downgrade after our refusal.

Things the driver does not implement, so cannot be checked against it: named values in QUERY
or EXECUTE (the driver binds names client side), the skip-metadata flag (driver 3.30 accepts
``skip_meta`` but never sets flag 0x02), ``now_in_seconds`` and CAS contentions (v5).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import io
import queue
import random
import socket
import socketserver
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from cassandra import AuthenticationFailed, ConsistencyLevel, SchemaTargetType
from cassandra import ProtocolVersion as DriverProtocolVersion
from cassandra import WriteType as DriverWriteType
from cassandra import protocol as driver
from cassandra.auth import PlainTextAuthenticator
from cassandra.connection import (
    DRIVER_NAME,
    DRIVER_VERSION,
    DefaultEndPoint,
    ProtocolVersionUnsupported,
    frame_header_v3,
    locally_supported_compressions,
    segment_codec_lz4,
    segment_codec_no_compression,
)
from cassandra.query import UNSET_VALUE
from cassandra.query import BatchType as DriverBatchType
from cassandra.segment import SegmentCodec
from cassandra.util import Date, Duration, Time

from cassflow.protocol import (
    CLOSED,
    MAX_SEGMENT_PAYLOAD,
    NEED_DATA,
    UNSET,
    AlreadyExists,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    BadCredentials,
    Batch,
    BatchStatement,
    BatchType,
    CasWriteUnknown,
    CdcWriteFailure,
    ColumnSpec,
    ConfigError,
    Connection,
    Consistency,
    DataType,
    Direction,
    Envelope,
    ErrorCode,
    ErrorMessage,
    EventType,
    Execute,
    FrameReader,
    FunctionFailure,
    HeaderFlag,
    Invalid,
    InvalidSyntax,
    IsBootstrapping,
    Message,
    Options,
    Overloaded,
    Prepare,
    PreparedMetadata,
    PreparedResult,
    ProtocolViolation,
    Query,
    QueryParameters,
    ReadFailure,
    ReadTimeout,
    Ready,
    Register,
    RemoteProtocolError,
    Role,
    RowsMetadata,
    RowsResult,
    SchemaChange,
    SchemaChangeEvent,
    SchemaChangeResult,
    SchemaChangeTarget,
    SchemaChangeType,
    SegmentReader,
    ServerError,
    SetKeyspaceResult,
    Startup,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
    TruncateError,
    TypeCode,
    Unauthorized,
    Unavailable,
    Unprepared,
    VoidResult,
    WriteFailure,
    WriteTimeout,
    compress_frame_body,
    decode_envelope,
    decompress_frame_body,
    encode_envelope,
    encode_frames_as_segments,
    encode_rows,
    encode_segment,
)

VERSIONS = (3, 4, 5)
LZ4_COMPRESS, LZ4_DECOMPRESS = locally_supported_compressions["lz4"]
HANDLERS = [
    pytest.param(driver._ProtocolHandler, id="python-handler"),
    pytest.param(driver.ProtocolHandler, id="default-handler"),
]

QUERY_ID = bytes.fromhex("5c2b0e7d9a41f3c08e6d1b2a3c4d5e6f")
METADATA_ID = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
TIMESTAMP = 1_700_000_000_123_456
PAGING_STATE = bytes.fromhex("001000000004000000010001f07ffffffd00")
#: Incompressible bytes, so LZ4 cannot shrink a large frame into a single segment.
BIG_BLOB = random.Random(20240229).randbytes(300 * 1024)
TIMEOUT = 5.0

T = TypeCode
TEXT, INT, BIGINT = DataType(T.VARCHAR), DataType(T.INT), DataType(T.BIGINT)


def bound_values(version: int) -> tuple[list[Any], tuple[Any, ...]]:
    """The same bound values as the driver spells them and as we decode them."""
    serialized = [INT.serialize(42, version), None, TEXT.serialize("héllo ✓", version)]
    ours: list[Any] = list(serialized)
    theirs: list[Any] = list(serialized)
    if version >= 4:  # "not set" exists from v4 on
        theirs.append(UNSET_VALUE)
        ours.append(UNSET)
    return theirs, tuple(ours)


# --- 1. driver -> us ----------------------------------------------------------------------


def driver_frame(
    msg: Any, stream: int, version: int, compressor: Any = None, beta: bool = False
) -> bytes:
    """A request frame exactly as the driver writes it to the socket (before v5 segments)."""
    return driver._ProtocolHandler.encode_message(
        msg, stream, version, compressor=compressor, allow_beta_protocol_version=beta
    )


def decode_request(wire: bytes, version: int, stream: int) -> Envelope:
    """Our standalone decoding path: FrameReader, LZ4 inflation when flagged, decode_envelope."""
    reader = FrameReader()
    reader.feed(wire)
    frame = reader.next_frame()
    assert frame is not None
    assert reader.buffered == 0
    assert (frame.version, frame.direction, frame.stream) == (version, Direction.REQUEST, stream)
    if frame.flags & HeaderFlag.COMPRESSION:
        frame = replace(
            frame,
            flags=frame.flags & ~HeaderFlag.COMPRESSION,
            body=decompress_frame_body(frame.body),
        )
    return decode_envelope(frame, version)


@dataclass(frozen=True)
class RequestCase:
    """A driver request and the message we must decode from it."""

    name: str
    build: Callable[[int], tuple[Any, Message]]
    #: The server connection state in which the request is legal.
    state: str = "ready"
    min_version: int = 3


def _query_simple(_v: int) -> tuple[Any, Message]:
    text = "SELECT release_version FROM system.local"
    return (
        driver.QueryMessage(text, ConsistencyLevel.ONE),
        Query(query=text),
    )


def _query_positional(v: int) -> tuple[Any, Message]:
    text = "INSERT INTO ks.t (k, a, b, c) VALUES (?, ?, ?, ?)"
    theirs, ours = bound_values(v)
    msg = driver.QueryMessage(text, ConsistencyLevel.LOCAL_QUORUM)
    msg.query_params = theirs  # how the driver binds positional values on QUERY
    params = QueryParameters(consistency=Consistency.LOCAL_QUORUM, values=ours)
    return msg, Query(query=text, parameters=params)


def _query_all_options(v: int) -> tuple[Any, Message]:
    text = "SELECT * FROM t WHERE k = ?"
    theirs, ours = bound_values(v)
    keyspace = "ks_v5" if v >= 5 else None
    msg = driver.QueryMessage(
        text,
        ConsistencyLevel.EACH_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        fetch_size=5000,
        paging_state=PAGING_STATE,
        timestamp=TIMESTAMP,
        keyspace=keyspace,
    )
    msg.query_params = theirs
    params = QueryParameters(
        consistency=Consistency.EACH_QUORUM,
        values=ours,
        page_size=5000,
        paging_state=PAGING_STATE,
        serial_consistency=Consistency.LOCAL_SERIAL,
        timestamp=TIMESTAMP,
        keyspace=keyspace,
    )
    return msg, Query(query=text, parameters=params)


def _execute(v: int) -> tuple[Any, Message]:
    theirs, ours = bound_values(v)
    metadata_id = METADATA_ID if v >= 5 else None
    msg = driver.ExecuteMessage(
        QUERY_ID,
        theirs,
        ConsistencyLevel.TWO,
        serial_consistency_level=ConsistencyLevel.SERIAL,
        fetch_size=100,
        paging_state=PAGING_STATE,
        timestamp=TIMESTAMP,
        result_metadata_id=metadata_id,
    )
    params = QueryParameters(
        consistency=Consistency.TWO,
        values=ours,
        page_size=100,
        paging_state=PAGING_STATE,
        serial_consistency=Consistency.SERIAL,
        timestamp=TIMESTAMP,
    )
    return msg, Execute(query_id=QUERY_ID, result_metadata_id=metadata_id, parameters=params)


def _execute_no_values(v: int) -> tuple[Any, Message]:
    metadata_id = METADATA_ID if v >= 5 else None
    msg = driver.ExecuteMessage(QUERY_ID, [], ConsistencyLevel.ALL, result_metadata_id=metadata_id)
    params = QueryParameters(consistency=Consistency.ALL)
    return msg, Execute(query_id=QUERY_ID, result_metadata_id=metadata_id, parameters=params)


def _execute_large(v: int) -> tuple[Any, Message]:
    """A request bigger than a v5 segment: it travels as several segments."""
    metadata_id = METADATA_ID if v >= 5 else None
    msg = driver.ExecuteMessage(
        QUERY_ID, [BIG_BLOB, b""], ConsistencyLevel.ONE, result_metadata_id=metadata_id
    )
    params = QueryParameters(consistency=Consistency.ONE, values=(BIG_BLOB, b""))
    return msg, Execute(query_id=QUERY_ID, result_metadata_id=metadata_id, parameters=params)


def _prepare(_v: int) -> tuple[Any, Message]:
    text = "SELECT a, b FROM ks.t WHERE k = ? AND c > ?"
    return driver.PrepareMessage(text), Prepare(query=text)


def _prepare_keyspace(_v: int) -> tuple[Any, Message]:
    text = "SELECT a FROM t WHERE k = ?"
    return driver.PrepareMessage(text, keyspace="other_ks"), Prepare(
        query=text, keyspace="other_ks"
    )


def _batch(kind: str) -> Callable[[int], tuple[Any, Message]]:
    def build(v: int) -> tuple[Any, Message]:
        theirs, ours = bound_values(v)
        keyspace = "batch_ks" if v >= 5 else None
        if kind == "COUNTER":
            queries = [(True, QUERY_ID, [BIGINT.serialize(1, v)]), (True, METADATA_ID, [])]
            statements = (
                BatchStatement(statement=QUERY_ID, values=(BIGINT.serialize(1, v),)),
                BatchStatement(statement=METADATA_ID),
            )
        else:
            insert = "INSERT INTO ks.t (k, a, b, c) VALUES (?, ?, ?, ?)"
            queries = [
                (False, insert, theirs),
                (True, QUERY_ID, theirs),
                (False, "DELETE FROM ks.t WHERE k = 0", []),
            ]
            statements = (
                BatchStatement(statement=insert, values=ours),
                BatchStatement(statement=QUERY_ID, values=ours),
                BatchStatement(statement="DELETE FROM ks.t WHERE k = 0"),
            )
        logged = kind == "LOGGED"
        msg = driver.BatchMessage(
            getattr(DriverBatchType, kind),
            queries,
            ConsistencyLevel.QUORUM,
            serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL if logged else None,
            timestamp=TIMESTAMP if logged else None,
            keyspace=keyspace,
        )
        expected = Batch(
            batch_type=BatchType[kind],
            statements=statements,
            consistency=Consistency.QUORUM,
            serial_consistency=Consistency.LOCAL_SERIAL if logged else None,
            timestamp=TIMESTAMP if logged else None,
            keyspace=keyspace,
        )
        return msg, expected

    return build


def _startup(compression: str | None) -> Callable[[int], tuple[Any, Message]]:
    def build(_v: int) -> tuple[Any, Message]:
        options = {"DRIVER_NAME": DRIVER_NAME, "DRIVER_VERSION": DRIVER_VERSION}
        if compression:
            options |= {"COMPRESSION": compression, "NO_COMPACT": "true"}
        msg = driver.StartupMessage(cqlversion="3.0.0", options=options)
        return msg, Startup(options={**options, "CQL_VERSION": "3.0.0"})

    return build


def _options(_v: int) -> tuple[Any, Message]:
    return driver.OptionsMessage(), Options()


def _register(_v: int) -> tuple[Any, Message]:
    names = ["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]
    return driver.RegisterMessage(event_list=names), Register(
        event_types=tuple(EventType(n) for n in names)
    )


def _auth_response(token: bytes) -> Callable[[int], tuple[Any, Message]]:
    def build(_v: int) -> tuple[Any, Message]:
        return driver.AuthResponseMessage(token), AuthResponse(token=token)

    return build


REQUEST_CASES = [
    RequestCase("query-simple", _query_simple),
    RequestCase("query-positional-values", _query_positional),
    RequestCase("query-all-options", _query_all_options),
    RequestCase("execute", _execute),
    RequestCase("execute-no-values", _execute_no_values),
    RequestCase("execute-larger-than-a-segment", _execute_large),
    RequestCase("prepare", _prepare),
    RequestCase("prepare-with-keyspace", _prepare_keyspace, min_version=5),
    RequestCase("batch-logged", _batch("LOGGED")),
    RequestCase("batch-unlogged", _batch("UNLOGGED")),
    RequestCase("batch-counter", _batch("COUNTER")),
    RequestCase("startup", _startup(None), state="idle"),
    RequestCase("startup-lz4", _startup("lz4"), state="idle"),
    RequestCase("options", _options, state="idle"),
    RequestCase("options-when-ready", _options),
    RequestCase("register", _register),
    RequestCase(
        "auth-response", _auth_response(b"\x00cassandra\x00s3cr\xc3\xa9t"), "authenticating"
    ),
    RequestCase("auth-response-empty", _auth_response(b""), state="authenticating"),
]


def _request_params(paths: tuple[str, ...]) -> list[Any]:
    params = []
    for case in REQUEST_CASES:
        for version in VERSIONS:
            if version < case.min_version:
                continue
            for path in paths:
                # No compression is in force before STARTUP is answered: one path is enough.
                if case.state == "idle" and path.endswith("lz4"):
                    continue
                if path == "frame-lz4" and version >= 5:
                    continue  # v5 compresses segments, not frames
                for decorated in (False, True):
                    extras = "-tracing+payload" if decorated else ""
                    params.append(
                        pytest.param(
                            case,
                            version,
                            path,
                            decorated,
                            id=f"{case.name}-v{version}-{path}{extras}",
                        )
                    )
    return params


def decorate(msg: Any, version: int) -> dict[str, bytes | None] | None:
    """Ask for tracing and (v4+) attach a custom payload, as the driver lets a caller do."""
    msg.tracing = True
    if version < 4:
        return None
    payload: dict[str, bytes | None] = {"routing": b"\x01\x02", "empty": b"", "null": None}
    msg.custom_payload = dict(payload)
    return payload


def expected_envelope(stream: int, message: Message, traced: bool, payload: Any) -> Envelope:
    return Envelope(stream=stream, message=message, tracing=traced, custom_payload=payload)


@pytest.mark.parametrize(
    ("case", "version", "path", "decorated"), _request_params(("frame", "frame-lz4"))
)
def test_driver_request_decodes_standalone(
    case: RequestCase, version: int, path: str, decorated: bool
) -> None:
    msg, expected = case.build(version)
    payload = decorate(msg, version) if decorated else None
    compressor = LZ4_COMPRESS if path == "frame-lz4" else None
    wire = driver_frame(msg, 7, version, compressor)
    if compressor and len(wire) > 9:
        assert wire[1] & HeaderFlag.COMPRESSION  # the driver really did compress the body
    assert decode_request(wire, version, 7) == expected_envelope(7, expected, decorated, payload)


def server_connection(version: int, state: str, compression: bool) -> Connection:
    """A server-role Connection brought into ``state`` by a driver STARTUP."""
    conn = Connection(Role.SERVER)
    if state == "idle":
        return conn
    options = {"COMPRESSION": "lz4"} if compression else {}
    conn.receive_data(driver_frame(driver.StartupMessage("3.0.0", options), 0, version))
    event = conn.next_event()
    assert isinstance(event, Envelope)
    assert isinstance(event.message, Startup)
    if state == "authenticating":
        answer: Message = Authenticate(
            authenticator="org.apache.cassandra.auth.PasswordAuthenticator"
        )
    else:
        answer = Ready()
    # The answer to STARTUP is the last message before v5 segments: a bare frame.
    sent = conn.send(Envelope(stream=0, message=answer))
    reply = driver_reads(sent, version, compression, segmented=False)
    assert len(reply) == 1
    assert reply[0].stream_id == 0
    assert isinstance(
        reply[0], driver.AuthenticateMessage if state != "ready" else driver.ReadyMessage
    )
    return conn


def driver_sends(msg: Any, stream: int, version: int, compression: bool) -> bytes:
    """What the driver's Connection.send_msg writes once STARTUP was answered."""
    wire = driver_frame(msg, stream, version, LZ4_COMPRESS if compression else None)
    if version < 5:
        return wire
    codec = segment_codec_lz4 if compression else segment_codec_no_compression
    out = io.BytesIO()
    codec.encode(out, wire)
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "version", "path", "decorated"), _request_params(("connection", "connection-lz4"))
)
def test_driver_request_through_server_connection(
    case: RequestCase, version: int, path: str, decorated: bool
) -> None:
    compression = path == "connection-lz4"
    conn = server_connection(version, case.state, compression)
    msg, expected = case.build(version)
    payload = decorate(msg, version) if decorated else None
    if case.state == "idle":
        wire = driver_frame(msg, 3, version)
    else:
        wire = driver_sends(msg, 3, version, compression)
    # Feed the bytes in two pieces: framing must not depend on how the socket cut them.
    conn.receive_data(wire[: len(wire) // 2])
    conn.receive_data(wire[len(wire) // 2 :])
    assert conn.next_event() == expected_envelope(3, expected, decorated, payload)
    assert conn.next_event() is NEED_DATA
    assert conn.in_flight == {3}


@pytest.mark.parametrize("version", VERSIONS)
def test_driver_beta_flag_is_seen(version: int) -> None:
    wire = driver_frame(driver.OptionsMessage(), 1, version, beta=True)
    assert decode_request(wire, version, 1) == Envelope(stream=1, message=Options(), use_beta=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_skip_metadata_flag_where_the_driver_puts_query_flags(version: int) -> None:
    """The driver never sets 0x02 (see module docstring); set it at the offset where the driver
    writes its flags and check we read it there, everything else unchanged."""
    msg, expected = _execute(version)
    wire = bytearray(driver_frame(msg, 2, version))
    flags_at = 9 + 2 + len(QUERY_ID) + (2 + len(METADATA_ID) if version >= 5 else 0) + 2
    flags_at += 3 if version >= 5 else 0  # an [int] from v5 on: the low byte is last
    assert wire[flags_at] & 0x02 == 0
    wire[flags_at] |= 0x02
    decoded = decode_request(bytes(wire), version, 2).message
    assert isinstance(expected, Execute)
    assert decoded == replace(expected, parameters=replace(expected.parameters, skip_metadata=True))


def test_driver_unset_value_is_refused_in_v3() -> None:
    """The driver does not stop a caller binding UNSET on v3; the spec has no "not set" there."""
    msg = driver.ExecuteMessage(QUERY_ID, [UNSET_VALUE], ConsistencyLevel.ONE)
    with pytest.raises(RemoteProtocolError, match="invalid length -2") as excinfo:
        decode_request(driver_frame(msg, 5, 3), 3, 5)
    assert excinfo.value.stream == 5
    assert not excinfo.value.fatal


# --- 2. us -> driver ----------------------------------------------------------------------

#: How a response reaches the driver: a bare frame, an LZ4 frame (v3/v4), or v5 segments.
TRANSPORTS = [
    pytest.param(3, "frame", id="v3"),
    pytest.param(3, "lz4", id="v3-lz4"),
    pytest.param(4, "frame", id="v4"),
    pytest.param(4, "lz4", id="v4-lz4"),
    pytest.param(5, "frame", id="v5-unsegmented"),
    pytest.param(5, "segments", id="v5-segments"),
    pytest.param(5, "lz4", id="v5-lz4-segments"),
]


def driver_segments(data: bytes, codec: SegmentCodec) -> list[tuple[bytes, bool]]:
    """Every segment in ``data`` as the driver's codec reads it: (payload, self_contained)."""
    buf = io.BytesIO(data)
    out = []
    while buf.tell() < len(data):
        header = codec.decode_header(buf)
        segment = codec.decode(buf, header)
        out.append((segment.payload, segment.is_self_contained))
    return out


def driver_read_frame(
    wire: bytes,
    version: int,
    *,
    decompressor: Any = None,
    result_metadata: Any = None,
    handler: Any = driver._ProtocolHandler,
) -> Any:
    """One response frame read the way the driver's Connection does: header, then body."""
    assert wire[0] == 0x80 | version  # response direction, our version
    flags, stream, opcode, length = frame_header_v3.unpack_from(wire, 1)
    assert len(wire) == frame_header_v3.size + 1 + length
    body = wire[frame_header_v3.size + 1 :]
    return handler.decode_message(
        version, {}, stream, flags, opcode, body, decompressor, result_metadata
    )


def driver_reads(data: bytes, version: int, compression: bool, segmented: bool) -> list[Any]:
    """What a driver connection reads from bytes one of our Connections sent."""
    if segmented:
        codec = segment_codec_lz4 if compression else segment_codec_no_compression
        data = b"".join(payload for payload, _ in driver_segments(data, codec))
    messages = []
    while data:
        length = frame_header_v3.unpack_from(data, 1)[3] + 9
        messages.append(
            driver_read_frame(
                data[:length], version, decompressor=LZ4_DECOMPRESS if compression else None
            )
        )
        data = data[length:]
    return messages


def deliver(
    envelope: Envelope,
    version: int,
    transport: str = "frame",
    *,
    result_metadata: Any = None,
    handler: Any = driver._ProtocolHandler,
) -> Any:
    """Encode ``envelope`` with our codec and let the driver decode it."""
    frame = encode_envelope(envelope, version)
    decompressor = None
    if transport == "lz4" and version < 5 and frame.body:
        frame = replace(
            frame, flags=frame.flags | HeaderFlag.COMPRESSION, body=compress_frame_body(frame.body)
        )
        decompressor = LZ4_DECOMPRESS
    wire = frame.encode()
    if version >= 5 and transport != "frame":
        compressed = transport == "lz4"
        segmented = encode_frames_as_segments([wire], compressed)
        codec = segment_codec_lz4 if compressed else segment_codec_no_compression
        wire = b"".join(payload for payload, _ in driver_segments(segmented, codec))
    msg = driver_read_frame(
        wire, version, decompressor=decompressor, result_metadata=result_metadata, handler=handler
    )
    assert msg.stream_id == envelope.stream
    return msg


# ERROR: every code, with the class and info the driver builds from it.

NODE_A, NODE_B = "10.0.0.2", "2001:db8::7"
REASONS = {NODE_A: 0x0001, NODE_B: 0x0002}


@dataclass(frozen=True)
class ErrorCase:
    error: ErrorMessage
    #: version -> (driver message class, code, info) the driver must build.
    expect: Callable[[int], tuple[type, int, Any]]


def _plain(error: ErrorMessage, cls: type) -> ErrorCase:
    return ErrorCase(error, lambda _v: (cls, int(error.code), None))


def _timeout_info(consistency: int, received: int, required: int) -> dict[str, int]:
    return {
        "consistency": consistency,
        "received_responses": received,
        "required_responses": required,
    }


def _read_failure(v: int) -> tuple[type, int, Any]:
    info = _timeout_info(ConsistencyLevel.QUORUM, 1, 3)
    if v < 4:  # no failures before v4: Cassandra sends a read timeout instead
        return driver.ReadTimeoutErrorMessage, 0x1200, info | {"data_retrieved": True}
    codes = REASONS if v >= 5 else None
    return (
        driver.ReadFailureMessage,
        0x1300,
        info | {"failures": 2, "error_code_map": codes, "data_retrieved": True},
    )


def _write_failure(v: int) -> tuple[type, int, Any]:
    info = _timeout_info(ConsistencyLevel.ALL, 2, 3) | {"write_type": DriverWriteType.COUNTER}
    if v < 4:
        return driver.WriteTimeoutErrorMessage, 0x1100, info
    codes = REASONS if v >= 5 else None
    return driver.WriteFailureMessage, 0x1500, info | {"failures": 2, "error_code_map": codes}


def _cas_unknown(v: int) -> tuple[type, int, Any]:
    if v < 5:  # no CAS_WRITE_UNKNOWN before v5: a CAS write timeout
        info = _timeout_info(ConsistencyLevel.SERIAL, 1, 2) | {"write_type": DriverWriteType.CAS}
        return driver.WriteTimeoutErrorMessage, 0x1100, info
    return driver.ErrorMessage, 0x1700, None  # the driver has no class of its own for it


def _invalid_before_v4(cls: type, code: int) -> Callable[[int], tuple[type, int, Any]]:
    def expect(v: int) -> tuple[type, int, Any]:
        if v < 4:
            return driver.InvalidRequestException, 0x2200, None
        info = None
        if code == 0x1400:
            info = {"keyspace": "ks", "function": "my_udf", "arg_types": ["int", "text"]}
        return cls, code, info

    return expect


ERROR_CASES = [
    _plain(ServerError(message="java.lang.NullPointerException"), driver.ServerError),
    _plain(ProtocolViolation(message="Invalid or unsupported..."), driver.ProtocolException),
    _plain(
        BadCredentials(message="Provided username and/or password are incorrect"),
        driver.BadCredentials,
    ),
    ErrorCase(
        Unavailable(
            message="Cannot achieve consistency",
            consistency=Consistency.QUORUM,
            required=3,
            alive=1,
        ),
        lambda _v: (
            driver.UnavailableErrorMessage,
            0x1000,
            {"consistency": ConsistencyLevel.QUORUM, "required_replicas": 3, "alive_replicas": 1},
        ),
    ),
    _plain(Overloaded(message="Too many in flight"), driver.OverloadedErrorMessage),
    _plain(IsBootstrapping(message="bootstrapping"), driver.IsBootstrappingErrorMessage),
    _plain(TruncateError(message="truncate failed"), driver.TruncateError),
    ErrorCase(
        WriteTimeout(
            message="write timed out",
            consistency=Consistency.LOCAL_QUORUM,
            received=1,
            block_for=2,
            write_type="BATCH_LOG",
        ),
        lambda _v: (
            driver.WriteTimeoutErrorMessage,
            0x1100,
            _timeout_info(ConsistencyLevel.LOCAL_QUORUM, 1, 2)
            | {"write_type": DriverWriteType.BATCH_LOG},
        ),
    ),
    ErrorCase(
        WriteTimeout(
            message="CAS timed out",
            consistency=Consistency.SERIAL,
            received=0,
            block_for=2,
            write_type="CAS",
            contentions=3,
        ),
        lambda _v: (
            driver.WriteTimeoutErrorMessage,
            0x1100,
            _timeout_info(ConsistencyLevel.SERIAL, 0, 2) | {"write_type": DriverWriteType.CAS},
        ),
    ),
    ErrorCase(
        ReadTimeout(
            message="read timed out",
            consistency=Consistency.ONE,
            received=0,
            block_for=1,
            data_present=False,
        ),
        lambda _v: (
            driver.ReadTimeoutErrorMessage,
            0x1200,
            _timeout_info(ConsistencyLevel.ONE, 0, 1) | {"data_retrieved": False},
        ),
    ),
    ErrorCase(
        ReadFailure(
            message="tombstones",
            consistency=Consistency.QUORUM,
            received=1,
            block_for=3,
            num_failures=2,
            reason_map=REASONS,
            data_present=True,
        ),
        _read_failure,
    ),
    ErrorCase(
        FunctionFailure(
            message="UDF threw", keyspace="ks", function="my_udf", arg_types=("int", "text")
        ),
        _invalid_before_v4(driver.FunctionFailureMessage, 0x1400),
    ),
    ErrorCase(
        WriteFailure(
            message="replica failed",
            consistency=Consistency.ALL,
            received=2,
            block_for=3,
            num_failures=2,
            reason_map=REASONS,
            write_type="COUNTER",
        ),
        _write_failure,
    ),
    ErrorCase(
        CdcWriteFailure(message="CDC space exhausted"),
        _invalid_before_v4(driver.CDCWriteException, 0x1600),
    ),
    ErrorCase(
        CasWriteUnknown(
            message="CAS outcome unknown", consistency=Consistency.SERIAL, received=1, block_for=2
        ),
        _cas_unknown,
    ),
    _plain(InvalidSyntax(message="line 1:0 no viable alternative"), driver.SyntaxException),
    _plain(
        Unauthorized(message="User x has no SELECT permission"), driver.UnauthorizedErrorMessage
    ),
    _plain(Invalid(message="Undefined column name z"), driver.InvalidRequestException),
    _plain(ConfigError(message="Cannot add a counter column"), driver.ConfigurationException),
    ErrorCase(
        AlreadyExists(message="Table ks.t already exists", keyspace="ks", table="t"),
        lambda _v: (driver.AlreadyExistsException, 0x2400, {"keyspace": "ks", "table": "t"}),
    ),
    ErrorCase(
        AlreadyExists(message="Keyspace ks already exists", keyspace="ks"),
        lambda _v: (driver.AlreadyExistsException, 0x2400, {"keyspace": "ks", "table": ""}),
    ),
    ErrorCase(
        Unprepared(message="Prepared query with ID ... not found", query_id=QUERY_ID),
        lambda _v: (driver.PreparedQueryNotFound, 0x2500, QUERY_ID),
    ),
]


def test_every_error_code_has_an_interop_case() -> None:
    assert {case.error.code for case in ERROR_CASES} == set(ErrorCode)


@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.error.code.name)
def test_error_reaches_driver(case: ErrorCase, version: int, transport: str) -> None:
    msg = deliver(Envelope(stream=11, message=case.error), version, transport)
    cls, code, info = case.expect(version)
    assert type(msg) is cls
    assert msg.code == code
    assert case.error.message in msg.message
    assert msg.info == info


def test_error_exceptions_carry_the_fields() -> None:
    """The exceptions the driver raises to applications are built from the info we sent."""
    unavailable = deliver(
        Envelope(
            stream=1,
            message=Unavailable(consistency=Consistency.LOCAL_ONE, required=2, alive=0),
        ),
        4,
    ).to_exception()
    assert (unavailable.consistency, unavailable.required_replicas) == (
        ConsistencyLevel.LOCAL_ONE,
        2,
    )
    assert unavailable.alive_replicas == 0
    failure = deliver(
        Envelope(
            stream=1,
            message=WriteFailure(
                consistency=Consistency.QUORUM,
                received=1,
                block_for=2,
                num_failures=2,
                reason_map=REASONS,
                write_type="CDC",
            ),
        ),
        5,
    ).to_exception()
    assert failure.error_code_map == REASONS
    assert failure.failures == 2
    assert failure.write_type == DriverWriteType.CDC


# Simple responses.


@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
def test_simple_responses_reach_driver(version: int, transport: str) -> None:
    assert isinstance(
        deliver(Envelope(stream=0, message=Ready()), version, transport), driver.ReadyMessage
    )

    authenticator = "org.apache.cassandra.auth.PasswordAuthenticator"
    msg = deliver(
        Envelope(stream=1, message=Authenticate(authenticator=authenticator)), version, transport
    )
    assert isinstance(msg, driver.AuthenticateMessage)
    assert msg.authenticator == authenticator

    options = {
        "CQL_VERSION": ("3.4.7",),
        "COMPRESSION": ("lz4", "snappy"),
        "PROTOCOL_VERSIONS": ("3/v3", "4/v4", "5/v5"),
    }
    msg = deliver(Envelope(stream=2, message=Supported(options=options)), version, transport)
    assert isinstance(msg, driver.SupportedMessage)
    assert msg.cql_versions == ["3.4.7"]
    assert msg.options == {
        "COMPRESSION": ["lz4", "snappy"],
        "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5"],
    }

    challenge = b"\x00\x01nonce\xff"
    msg = deliver(Envelope(stream=3, message=AuthChallenge(token=challenge)), version, transport)
    assert isinstance(msg, driver.AuthChallengeMessage)
    assert msg.challenge == challenge

    msg = deliver(Envelope(stream=4, message=AuthSuccess(token=b"welcome")), version, transport)
    assert isinstance(msg, driver.AuthSuccessMessage)
    assert msg.token == "welcome"
    # Cassandra's PasswordAuthenticator ends with a null token: the driver must cope.
    msg = deliver(Envelope(stream=5, message=AuthSuccess(token=None)), version, transport)
    assert isinstance(msg, driver.AuthSuccessMessage)
    assert not msg.token

    msg = deliver(Envelope(stream=6, message=VoidResult()), version, transport)
    assert (type(msg), msg.kind) == (driver.ResultMessage, driver.RESULT_KIND_VOID)

    msg = deliver(
        Envelope(stream=7, message=SetKeyspaceResult(keyspace="my_ks")), version, transport
    )
    assert (msg.kind, msg.new_keyspace) == (driver.RESULT_KIND_SET_KEYSPACE, "my_ks")


@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
def test_envelope_extras_reach_driver(version: int, transport: str) -> None:
    tracing_id = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    extras: dict[str, Any] = {"tracing": True, "tracing_id": tracing_id}
    if version >= 4:
        extras |= {
            "warnings": ("Aggregation query used without partition key", "Batch too large"),
            "custom_payload": {"node": b"\x0a\x00\x00\x01", "nothing": None},
        }
    for message in (VoidResult(), Invalid(message="nope")):
        msg = deliver(Envelope(stream=9, message=message, **extras), version, transport)
        assert msg.trace_id == tracing_id
        assert msg.warnings == (list(extras["warnings"]) if version >= 4 else None)
        assert msg.custom_payload == extras.get("custom_payload")


# RESULT Rows: every type, with and without metadata.


def type_catalogue(version: int) -> list[tuple[str, DataType, Any]]:
    """(column name, type, a value) for every native type the version knows, and composites."""
    address = DataType.udt(
        "ks", "address", {"street": TEXT, "zip": INT, "tags": DataType.set_of(TEXT)}
    )
    columns: list[tuple[str, DataType, Any]] = [
        ("c_ascii", DataType(T.ASCII), "plain ascii"),
        ("c_bigint", BIGINT, -(2**63)),
        ("c_blob", DataType(T.BLOB), b"\x00\xffbinary\x80"),
        ("c_boolean", DataType(T.BOOLEAN), True),
        ("c_counter", DataType(T.COUNTER), 2**40 + 7),
        ("c_decimal", DataType(T.DECIMAL), Decimal("-12345.678901234567890")),
        ("c_double", DataType(T.DOUBLE), 2.718281828459045),
        ("c_float", DataType(T.FLOAT), 1.5),
        ("c_int", INT, -(2**31)),
        ("c_timestamp", DataType(T.TIMESTAMP), datetime.datetime(2024, 2, 29, 23, 59, 59, 999000)),
        ("c_uuid", DataType(T.UUID), uuid.UUID("c9a6f0c4-8d4e-4b7a-9f0e-1d2c3b4a5968")),
        ("c_text", TEXT, "héllo wörld ✓ 日本"),
        ("c_varint", DataType(T.VARINT), -(2**100) + 1),
        ("c_timeuuid", DataType(T.TIMEUUID), uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")),
        ("c_inet4", DataType(T.INET), "192.168.1.10"),
        ("c_inet6", DataType(T.INET), "2001:db8::1"),
        ("c_list", DataType.list_of(INT), [3, 1, 2, 3]),
        ("c_set", DataType.set_of(TEXT), {"b", "a", "c"}),
        ("c_map", DataType.map_of(TEXT, BIGINT), {"x": 1, "y": -2}),
        ("c_tuple", DataType.tuple_of(INT, TEXT, DataType(T.BOOLEAN)), (1, "a", False)),
        ("c_udt", address, ("1 Main St", 12345, {"home", "work"})),
        (
            "c_nested",
            DataType.map_of(TEXT, DataType.list_of(DataType.tuple_of(INT, DataType(T.DOUBLE)))),
            {"k": [(1, 0.5), (2, -0.25)]},
        ),
        (
            "c_vector",
            DataType.custom(
                "org.apache.cassandra.db.marshal.VectorType"
                "(org.apache.cassandra.db.marshal.FloatType, 3)"
            ),
            [1.0, 2.5, -3.0],
        ),
    ]
    if version >= 4:
        columns += [
            ("c_date", DataType(T.DATE), Date(datetime.date(2024, 2, 29))),
            ("c_time", DataType(T.TIME), Time(datetime.time(12, 34, 56, 789012))),
            ("c_smallint", DataType(T.SMALLINT), -32768),
            ("c_tinyint", DataType(T.TINYINT), 127),
        ]
    if version >= 5:
        columns.append(("c_duration", DataType(T.DURATION), Duration(1, -2, 3_000_000_123)))
    return columns


def type_shape(codec: Any) -> tuple[Any, ...]:
    """A comparable description of a ``cassandra.cqltypes`` class."""
    subtype = getattr(codec, "subtype", None)
    return (
        codec.typename,
        getattr(codec, "keyspace", None),
        tuple(getattr(codec, "fieldnames", None) or ()),
        getattr(codec, "vector_size", None),
        type_shape(subtype) if subtype is not None else None,
        tuple(type_shape(s) for s in codec.subtypes),
    )


def rows_fixture(
    version: int, one_table: bool
) -> tuple[tuple[ColumnSpec, ...], list[tuple[Any, ...]]]:
    catalogue = type_catalogue(version)
    columns = tuple(
        ColumnSpec(
            keyspace="ks",
            table="t" if one_table or i % 2 else "other",
            name=name,
            type=dtype,
        )
        for i, (name, dtype, _) in enumerate(catalogue)
    )
    full = tuple(value for _, _, value in catalogue)
    nulls = tuple(None for _ in catalogue)
    return columns, [full, nulls, full]


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize("one_table", [True, False], ids=["global-spec", "per-column-spec"])
@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
def test_rows_with_metadata_reach_driver(
    version: int, transport: str, one_table: bool, handler: Any
) -> None:
    columns, values = rows_fixture(version, one_table)
    rows = encode_rows([c.type for c in columns], values, version)
    result = RowsResult(metadata=RowsMetadata.of(columns, paging_state=PAGING_STATE), rows=rows)
    msg = deliver(Envelope(stream=21, message=result), version, transport, handler=handler)
    assert msg.kind == driver.RESULT_KIND_ROWS
    assert msg.paging_state == PAGING_STATE
    assert msg.column_names == [c.name for c in columns]
    assert [tuple(m[:3]) for m in msg.column_metadata] == [
        (c.keyspace, c.table, c.name) for c in columns
    ]
    assert [type_shape(t) for t in msg.column_types] == [
        type_shape(c.type.codec()) for c in columns
    ]
    assert [tuple(row) for row in msg.parsed_rows] == values


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
def test_prepared_then_rows_without_metadata(version: int, transport: str, handler: Any) -> None:
    """The skip-metadata flow: the driver keeps the result metadata of a Prepared result and
    decodes later No_metadata pages with it."""
    columns, values = rows_fixture(version, one_table=True)
    bind = (
        ColumnSpec(keyspace="ks", table="t", name="pk2", type=TEXT),
        ColumnSpec(keyspace="ks", table="t", name="pk1", type=INT),
        ColumnSpec(keyspace="ks", table="t", name="ck", type=DataType(T.TIMEUUID)),
    )
    prepared = PreparedResult(
        query_id=QUERY_ID,
        result_metadata_id=METADATA_ID if version >= 5 else None,
        metadata=PreparedMetadata(
            columns=bind, partition_key_indexes=(1, 0) if version >= 4 else ()
        ),
        result_metadata=RowsMetadata.of(columns),
    )
    msg = deliver(Envelope(stream=3, message=prepared), version, transport, handler=handler)
    assert msg.kind == driver.RESULT_KIND_PREPARED
    assert msg.query_id == QUERY_ID
    assert msg.result_metadata_id == (METADATA_ID if version >= 5 else None)
    assert msg.pk_indexes == ([1, 0] if version >= 4 else None)
    assert [tuple(b[:3]) for b in msg.bind_metadata] == [
        (c.keyspace, c.table, c.name) for c in bind
    ]
    assert [type_shape(b.type) for b in msg.bind_metadata] == [
        type_shape(c.type.codec()) for c in bind
    ]
    assert [m[2] for m in msg.column_metadata] == [c.name for c in columns]

    # A page without metadata, decoded with what the driver kept from the Prepared result.
    rows = encode_rows([c.type for c in columns], values, version)
    page = RowsResult(
        metadata=RowsMetadata(column_count=len(columns), paging_state=b"next"), rows=rows
    )
    rows_msg = deliver(
        Envelope(stream=4, message=page),
        version,
        transport,
        result_metadata=msg.column_metadata,
        handler=handler,
    )
    assert rows_msg.column_metadata is None  # nothing came over the wire...
    assert rows_msg.column_names == [c.name for c in columns]  # ...the kept metadata was used
    assert rows_msg.paging_state == b"next"
    assert [tuple(row) for row in rows_msg.parsed_rows] == values


@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
def test_prepared_without_result_columns(version: int, transport: str) -> None:
    """An INSERT prepares with bind markers but no result columns."""
    bind = (ColumnSpec(keyspace="ks", table="t", name="k", type=DataType.list_of(TEXT)),)
    prepared = PreparedResult(
        query_id=QUERY_ID,
        result_metadata_id=METADATA_ID if version >= 5 else None,
        metadata=PreparedMetadata(columns=bind, partition_key_indexes=(0,) if version >= 4 else ()),
    )
    msg = deliver(Envelope(stream=3, message=prepared), version, transport)
    assert msg.column_metadata is None
    assert [b.name for b in msg.bind_metadata] == ["k"]
    assert msg.pk_indexes == ([0] if version >= 4 else None)


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize("transport", ["frame", "segments", "lz4"])
def test_rows_with_new_metadata_id_v5(transport: str, handler: Any) -> None:
    columns = (
        ColumnSpec(keyspace="ks", table="t", name="a", type=INT),
        ColumnSpec(keyspace="ks", table="t", name="added", type=TEXT),
    )
    values = [(1, "x"), (2, None)]
    result = RowsResult(
        metadata=RowsMetadata.of(columns, paging_state=b"p", new_metadata_id=METADATA_ID),
        rows=encode_rows([INT, TEXT], values, 5),
    )
    msg = deliver(Envelope(stream=8, message=result), 5, transport, handler=handler)
    assert msg.result_metadata_id == METADATA_ID
    assert msg.paging_state == b"p"
    assert msg.column_names == ["a", "added"]
    assert [tuple(r) for r in msg.parsed_rows] == values


@pytest.mark.parametrize("handler", HANDLERS)
@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
def test_empty_rows_reach_driver(version: int, transport: str, handler: Any) -> None:
    columns = (ColumnSpec(keyspace="ks", table="t", name="a", type=INT),)
    result = RowsResult(metadata=RowsMetadata.of(columns))
    msg = deliver(Envelope(stream=8, message=result), version, transport, handler=handler)
    assert (list(msg.parsed_rows), msg.paging_state) == ([], None)


# Schema changes and events.

SCHEMA_CHANGES = [
    SchemaChange(
        change_type=SchemaChangeType.CREATED, target=SchemaChangeTarget.KEYSPACE, keyspace="ks"
    ),
    SchemaChange(
        change_type=SchemaChangeType.UPDATED,
        target=SchemaChangeTarget.TABLE,
        keyspace="ks",
        name="t",
    ),
    SchemaChange(
        change_type=SchemaChangeType.DROPPED,
        target=SchemaChangeTarget.TYPE,
        keyspace="ks",
        name="address",
    ),
    SchemaChange(
        change_type=SchemaChangeType.CREATED,
        target=SchemaChangeTarget.FUNCTION,
        keyspace="ks",
        name="my_udf",
        argument_types=("int", "frozen<list<text>>"),
    ),
    SchemaChange(
        change_type=SchemaChangeType.DROPPED,
        target=SchemaChangeTarget.AGGREGATE,
        keyspace="ks",
        name="my_uda",
        argument_types=(),
    ),
]


def assert_driver_schema_change(event: dict[str, Any], change: SchemaChange) -> None:
    assert event["change_type"] == change.change_type
    assert event["target_type"] == change.target
    assert event["keyspace"] == change.keyspace
    if change.target in (SchemaChangeTarget.FUNCTION, SchemaChangeTarget.AGGREGATE):
        signature = event[change.target.lower()]
        assert (signature.name, list(signature.argument_types)) == (
            change.name,
            list(change.argument_types or ()),
        )
    elif change.target is SchemaChangeTarget.KEYSPACE:
        assert set(event) == {"change_type", "target_type", "keyspace"}
    else:
        assert event[change.target.lower()] == change.name


def test_schema_changes_cover_every_target() -> None:
    assert {c.target for c in SCHEMA_CHANGES} == set(SchemaChangeTarget)
    assert {str(t) for t in SchemaChangeTarget} == {
        v for k, v in vars(SchemaTargetType).items() if not k.startswith("_")
    }


@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
@pytest.mark.parametrize("change", SCHEMA_CHANGES, ids=lambda c: f"{c.change_type}-{c.target}")
def test_schema_change_result_reaches_driver(
    change: SchemaChange, version: int, transport: str
) -> None:
    msg = deliver(Envelope(stream=2, message=SchemaChangeResult(change=change)), version, transport)
    assert msg.kind == driver.RESULT_KIND_SCHEMA_CHANGE
    assert_driver_schema_change(msg.schema_change_event, change)


@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
@pytest.mark.parametrize("change", SCHEMA_CHANGES, ids=lambda c: f"{c.change_type}-{c.target}")
def test_schema_change_event_reaches_driver(
    change: SchemaChange, version: int, transport: str
) -> None:
    msg = deliver(Envelope(stream=-1, message=SchemaChangeEvent(change=change)), version, transport)
    assert isinstance(msg, driver.EventMessage)
    assert msg.event_type == "SCHEMA_CHANGE"
    assert_driver_schema_change(msg.event_args, change)


NODE_EVENTS = [
    TopologyChangeEvent(change="NEW_NODE", address=("10.0.0.5", 9042)),
    TopologyChangeEvent(change="REMOVED_NODE", address=("2001:db8::5", 9042)),
    TopologyChangeEvent(change="MOVED_NODE", address=("10.0.0.6", 19042)),
    StatusChangeEvent(change="UP", address=("10.0.0.7", 9042)),
    StatusChangeEvent(change="DOWN", address=("fe80::1", 9142)),
]


@pytest.mark.parametrize(("version", "transport"), TRANSPORTS)
@pytest.mark.parametrize("event", NODE_EVENTS, ids=lambda e: f"{e.event_type}-{e.change}")
def test_node_event_reaches_driver(
    event: TopologyChangeEvent | StatusChangeEvent, version: int, transport: str
) -> None:
    msg = deliver(Envelope(stream=-1, message=event), version, transport)
    assert isinstance(msg, driver.EventMessage)
    assert msg.stream_id == -1
    assert msg.event_type == event.event_type
    assert msg.event_args == {"change_type": event.change, "address": event.address}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("compression", [False, True], ids=["plain", "lz4"])
def test_server_connection_answers_reach_driver(version: int, compression: bool) -> None:
    """Responses sent by a server Connection (LZ4 frames, v5 segments, event pushes) read back
    in the driver exactly as they would off a socket."""
    conn = server_connection(version, "ready", compression)
    msg, _ = _query_simple(version)
    conn.receive_data(driver_sends(msg, 1, version, compression))
    assert isinstance(conn.next_event(), Envelope)
    columns, values = rows_fixture(version, one_table=True)
    result = RowsResult(
        metadata=RowsMetadata.of(columns),
        rows=encode_rows([c.type for c in columns], values, version),
    )
    event = StatusChangeEvent(change="UP", address=("10.0.0.7", 9042))
    data = conn.send_many([Envelope(stream=1, message=result), Envelope(stream=-1, message=event)])
    rows_msg, event_msg = driver_reads(data, version, compression, segmented=version >= 5)
    assert [tuple(r) for r in rows_msg.parsed_rows] == values
    assert (event_msg.stream_id, event_msg.event_args["change_type"]) == (-1, "UP")


# --- 3. v5 segments both ways -------------------------------------------------------------


def big_rows_frame(stream: int) -> tuple[bytes, list[tuple[Any, ...]]]:
    """An encoded v5 Rows frame far larger than one segment."""
    columns = (
        ColumnSpec(keyspace="ks", table="blobs", name="k", type=INT),
        ColumnSpec(keyspace="ks", table="blobs", name="v", type=DataType(T.BLOB)),
    )
    values = [(1, BIG_BLOB), (2, BIG_BLOB[:1000] * 200), (3, None)]
    rows = encode_rows([INT, DataType(T.BLOB)], values, 5)
    frame = encode_envelope(
        Envelope(stream=stream, message=RowsResult(metadata=RowsMetadata.of(columns), rows=rows)), 5
    )
    return frame.encode(), values


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "lz4"])
def test_our_segments_decode_with_driver_codec(compressed: bool) -> None:
    small = [
        encode_envelope(
            Envelope(stream=i, message=SetKeyspaceResult(keyspace=f"ks{i}")), 5
        ).encode()
        for i in range(3)
    ]
    big, values = big_rows_frame(40)
    frames = [*small, big, small[0]]
    codec = segment_codec_lz4 if compressed else segment_codec_no_compression
    segments = driver_segments(encode_frames_as_segments(frames, compressed), codec)

    assert b"".join(payload for payload, _ in segments) == b"".join(frames)
    big_pieces = -(-len(big) // MAX_SEGMENT_PAYLOAD)
    assert big_pieces >= 3
    # The three small frames share one self-contained segment, the big one is cut into
    # non-self-contained pieces, the last small frame gets its own segment.
    assert [sc for _, sc in segments] == [True, *[False] * big_pieces, True]
    assert all(len(p) <= MAX_SEGMENT_PAYLOAD for p, _ in segments)

    # And the reassembled big frame decodes in the driver.
    rows_msg = driver_read_frame(b"".join(p for p, _ in segments[1:-1]), 5)
    assert [tuple(r) for r in rows_msg.parsed_rows] == values


@pytest.mark.parametrize("self_contained", [True, False], ids=["self-contained", "partial"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "lz4"])
@pytest.mark.parametrize(
    ("payload", "lz4_form"),
    [
        (b"", "as-is"),
        (b"x", "compressed"),  # compressed although it grows: see encode_segment
        (b"ab" * 5000, "compressed"),
        (BIG_BLOB[:MAX_SEGMENT_PAYLOAD], "as-is"),  # its LZ4 block would not fit 17 bits
    ],
    ids=["empty", "one-byte", "compressible", "incompressible-max"],
)
def test_encode_segment_header_matches_driver(
    payload: bytes, lz4_form: str, compressed: bool, self_contained: bool
) -> None:
    codec = segment_codec_lz4 if compressed else segment_codec_no_compression
    data = encode_segment(payload, self_contained, compressed)
    buf = io.BytesIO(data)
    header = codec.decode_header(buf)
    assert header.is_self_contained is self_contained
    if compressed and lz4_form == "compressed":
        assert header.uncompressed_payload_length == len(payload)
        assert header.payload_length == len(data) - 8 - 4
    else:
        assert header.payload_length == len(payload)
        if compressed:  # an uncompressed length of 0 says "sent as is"
            assert header.uncompressed_payload_length == 0
    segment = codec.decode(buf, header)
    assert segment.payload == payload
    assert buf.tell() == len(data)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "lz4"])
def test_driver_segments_decode_with_our_reader(compressed: bool) -> None:
    codec = segment_codec_lz4 if compressed else segment_codec_no_compression
    frames = []
    for stream, (msg, _) in enumerate([_query_all_options(5), _execute_large(5), _options(5)]):
        frames.append(driver_frame(msg, stream, 5))
    out = io.BytesIO()
    for frame in frames:
        codec.encode(out, frame)
    data = out.getvalue()

    reader = SegmentReader(compressed=compressed)
    segments = []
    for start in range(0, len(data), 7001):  # arbitrary cuts, across headers and payloads
        reader.feed(data[start : start + 7001])
        while (segment := reader.next_segment()) is not None:
            segments.append(segment)
    assert reader.buffered == 0
    assert b"".join(p for p, _ in segments) == b"".join(frames)
    pieces = -(-len(frames[1]) // MAX_SEGMENT_PAYLOAD)
    assert pieces >= 3
    assert [sc for _, sc in segments] == [True, *[False] * pieces, True]


# --- 4. a real handshake over TCP ---------------------------------------------------------


def _driver_connection_class() -> Any:
    """The first driver reactor that works here (libev, asyncio, then asyncore)."""
    errors = []
    for module, name in (
        ("cassandra.io.libevreactor", "LibevConnection"),
        ("cassandra.io.asyncioreactor", "AsyncioConnection"),
        ("cassandra.io.asyncorereactor", "AsyncoreConnection"),
    ):
        try:
            cls = getattr(importlib.import_module(module), name)
            cls.initialize_reactor()
        except Exception as exc:
            errors.append(f"{name}: {exc}")
            continue
        return cls
    pytest.skip(f"no cassandra-driver reactor works here: {errors}")


SERVER_CQL_VERSION = "3.4.7"
BIG_QUERY = "SELECT v FROM ks.blobs WHERE k = 1"
#: Large but compressible. Incompressible data would make LZ4 v5 segments "stored" (uncompressed
#: length 0), and cassandra-driver 3.30 sizes those 2 bytes short (``SegmentHeader.
#: segment_length`` assumes the 3-byte header whenever the uncompressed length is 0): a socket
#: read ending exactly 1 or 2 bytes before such a segment's end makes the driver decode it
#: early and defunct the connection, whichever server sent it. The stored layout itself is
#: checked against the driver's codec above, on whole buffers.
TCP_LARGE = bytes(range(256)) * 1200


class _CqlHandler(socketserver.BaseRequestHandler):
    """One client connection, driven by a server-role Connection."""

    server: FakeCassandra

    def handle(self) -> None:
        sock = self.request
        sock.settimeout(TIMEOUT)
        self.server.track(sock)
        conn = Connection(Role.SERVER, supported_versions=self.server.versions)
        self.auth_rounds = 0
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            conn.receive_data(data)
            while True:
                try:
                    event = conn.next_event()
                except RemoteProtocolError as exc:
                    self.server.refusals.put(str(exc))
                    if exc.reply:
                        sock.sendall(exc.reply)
                    if exc.fatal:
                        return
                    continue
                if event is NEED_DATA:
                    break
                if event is CLOSED:
                    return
                assert isinstance(event, Envelope)
                self.server.received.put(event.message)
                sock.sendall(conn.send_many(self.answer(conn, event)))

    def answer(self, conn: Connection, request: Envelope) -> list[Envelope]:
        assert conn.version is not None
        message, stream = request.message, request.stream
        if isinstance(message, Options):
            options = {
                "PROTOCOL_VERSIONS": tuple(v.description for v in conn.supported_versions),
                "CQL_VERSION": (SERVER_CQL_VERSION,),
                "COMPRESSION": ("lz4",),
            }
            return [Envelope(stream=stream, message=Supported(options=options))]
        if isinstance(message, Startup) and self.server.credentials:
            authenticator = "org.apache.cassandra.auth.PasswordAuthenticator"
            return [Envelope(stream=stream, message=Authenticate(authenticator=authenticator))]
        if isinstance(message, AuthResponse):
            # One SASL challenge round first, then check the PLAIN token: \0user\0password.
            self.auth_rounds += 1
            if self.auth_rounds == 1:
                return [Envelope(stream=stream, message=AuthChallenge(token=b"PLAIN-START"))]
            user, password = self.server.credentials or ("", "")
            if message.token == f"\0{user}\0{password}".encode():
                return [Envelope(stream=stream, message=AuthSuccess(token=None))]
            refusal = BadCredentials(message="Provided username and/or password are incorrect")
            return [Envelope(stream=stream, message=refusal)]
        if isinstance(message, Startup | Register):
            answers = [Envelope(stream=stream, message=Ready())]
            if isinstance(message, Register):  # push one event right after
                event = StatusChangeEvent(change="DOWN", address=("10.9.8.7", 9042))
                answers.append(Envelope(stream=-1, message=event))
            return answers
        if isinstance(message, Query | Execute):
            columns = (
                ColumnSpec(keyspace="ks", table="blobs", name="k", type=INT),
                ColumnSpec(keyspace="ks", table="blobs", name="v", type=DataType(T.BLOB)),
            )
            if isinstance(message, Execute):  # echo the (large) bound value back
                values = [(len(message.parameters.values), message.parameters.values[0])]
            elif isinstance(message, Query) and message.query == BIG_QUERY:
                values = [(1, TCP_LARGE), (2, TCP_LARGE[::-1])]
            else:
                values = [(0, b"small")]
            rows = encode_rows([INT, DataType(T.BLOB)], values, conn.version)
            return [
                Envelope(
                    stream=stream, message=RowsResult(metadata=RowsMetadata.of(columns), rows=rows)
                )
            ]
        return [
            Envelope(stream=stream, message=Invalid(message=f"unexpected {message.opcode.name}"))
        ]


class FakeCassandra(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, versions: tuple[int, ...], credentials: tuple[str, str] | None) -> None:
        super().__init__(("127.0.0.1", 0), _CqlHandler)
        self.versions = versions
        self.credentials = credentials
        self.received: queue.Queue[Message] = queue.Queue()
        self.refusals: queue.Queue[str] = queue.Queue()
        self._sockets: list[Any] = []
        self._lock = threading.Lock()

    def track(self, sock: Any) -> None:
        with self._lock:
            self._sockets.append(sock)

    def close_all(self) -> None:
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def drain(self) -> list[Message]:
        out = []
        while not self.received.empty():
            out.append(self.received.get_nowait())
        return out


@pytest.fixture(scope="module")
def driver_connection_class() -> Any:
    return _driver_connection_class()


@pytest.fixture
def fake_cassandra(request: pytest.FixtureRequest) -> Iterator[FakeCassandra]:
    server = FakeCassandra(*request.param)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.close_all()
        server.server_close()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def endpoint(server: FakeCassandra) -> DefaultEndPoint:
    host, port = server.server_address[:2]
    return DefaultEndPoint(host, port)


@pytest.mark.parametrize("fake_cassandra", [((3, 4), None)], indirect=True, ids=["server-v3-v4"])
def test_driver_downgrades_after_our_version_refusal(
    fake_cassandra: FakeCassandra, driver_connection_class: Any
) -> None:
    with pytest.raises(ProtocolVersionUnsupported) as excinfo:
        driver_connection_class.factory(endpoint(fake_cassandra), TIMEOUT, protocol_version=5)
    assert excinfo.value.startup_version == 5
    refusal = fake_cassandra.refusals.get(timeout=TIMEOUT)
    assert "supported versions are (3/v3, 4/v4)" in refusal
    assert fake_cassandra.drain() == []  # refused before anything was decoded

    # What Cluster does with that exception: retry one version lower.
    retry = DriverProtocolVersion.get_lower_supported(excinfo.value.startup_version)
    assert retry == 4
    conn = driver_connection_class.factory(
        endpoint(fake_cassandra), TIMEOUT, protocol_version=retry
    )
    try:
        assert conn.protocol_version == 4
        assert not conn.is_unsupported_proto_version
        response = conn.wait_for_response(driver.QueryMessage("SELECT 1", 1), timeout=TIMEOUT)
        assert [tuple(r) for r in response.parsed_rows] == [(0, b"small")]
    finally:
        conn.close()
    options, startup, query = fake_cassandra.drain()
    assert isinstance(options, Options)
    assert isinstance(startup, Startup)
    assert startup.options["CQL_VERSION"] == SERVER_CQL_VERSION  # taken from our SUPPORTED
    assert startup.compression == "lz4"  # negotiated from our SUPPORTED
    assert isinstance(query, Query)


@pytest.mark.parametrize("fake_cassandra", [((3, 4, 5), None)], indirect=True, ids=["server-v3-v5"])
@pytest.mark.parametrize("compression", [True, False], ids=["lz4", "plain"])
@pytest.mark.parametrize("version", VERSIONS)
def test_driver_session_against_our_server(
    fake_cassandra: FakeCassandra, driver_connection_class: Any, version: int, compression: bool
) -> None:
    """Handshake, large responses and requests (several v5 segments), an event push."""
    conn = driver_connection_class.factory(
        endpoint(fake_cassandra), TIMEOUT, protocol_version=version, compression=compression
    )
    try:
        assert conn.protocol_version == version
        assert (conn.compressor is not None) is compression

        big = conn.wait_for_response(driver.QueryMessage(BIG_QUERY, 1), timeout=TIMEOUT)
        assert [tuple(r) for r in big.parsed_rows] == [(1, TCP_LARGE), (2, TCP_LARGE[::-1])]

        metadata_id = METADATA_ID if version >= 5 else None
        execute = driver.ExecuteMessage(QUERY_ID, [TCP_LARGE], 1, result_metadata_id=metadata_id)
        echoed = conn.wait_for_response(execute, timeout=TIMEOUT)
        assert [tuple(r) for r in echoed.parsed_rows] == [(1, TCP_LARGE)]

        pushed: queue.Queue[Any] = queue.Queue()
        conn.register_watcher("STATUS_CHANGE", pushed.put, register_timeout=TIMEOUT)
        assert pushed.get(timeout=TIMEOUT) == {
            "change_type": "DOWN",
            "address": ("10.9.8.7", 9042),
        }
        assert not conn.is_defunct
    finally:
        conn.close()
    options, startup, *queries = fake_cassandra.drain()
    assert isinstance(options, Options)
    assert startup.compression == ("lz4" if compression else None)
    assert [type(m) for m in queries] == [Query, Execute, Register]
    assert queries[1].parameters.values == (TCP_LARGE,)
    assert queries[2].event_types == (EventType.STATUS_CHANGE,)


@pytest.mark.parametrize(
    "fake_cassandra", [((3, 4, 5), ("cassflow", "s3cr3t"))], indirect=True, ids=["auth-server"]
)
@pytest.mark.parametrize("compression", [True, False], ids=["lz4", "plain"])
@pytest.mark.parametrize("version", VERSIONS)
def test_driver_authenticates_against_our_server(
    fake_cassandra: FakeCassandra, driver_connection_class: Any, version: int, compression: bool
) -> None:
    """SASL PLAIN with a challenge round; on v5 everything after AUTHENTICATE is segments, on
    v3/v4 with LZ4 every non-empty frame from AUTHENTICATE on is compressed."""
    conn = driver_connection_class.factory(
        endpoint(fake_cassandra),
        TIMEOUT,
        protocol_version=version,
        compression=compression,
        authenticator=PlainTextAuthenticator("cassflow", "s3cr3t"),
    )
    try:
        response = conn.wait_for_response(driver.QueryMessage("SELECT 1", 1), timeout=TIMEOUT)
        assert [tuple(r) for r in response.parsed_rows] == [(0, b"small")]
    finally:
        conn.close()
    _, startup, first, second, query = fake_cassandra.drain()
    assert startup.compression == ("lz4" if compression else None)
    assert first == second == AuthResponse(token=b"\0cassflow\0s3cr3t")
    assert isinstance(query, Query)

    with pytest.raises(AuthenticationFailed, match="password are incorrect"):
        driver_connection_class.factory(
            endpoint(fake_cassandra),
            TIMEOUT,
            protocol_version=version,
            compression=compression,
            authenticator=PlainTextAuthenticator("cassflow", "wrong"),
        )
