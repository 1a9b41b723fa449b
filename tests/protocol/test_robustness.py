"""Robustness: whatever bytes arrive, decoding raises only ProtocolError and never hangs.

The seed corpus is real traffic: client/server conversations run through the codec itself
(every protocol version, with and without LZ4, with and without authentication), recorded
message by message. Inputs are that traffic mutated in reproducible ways (truncated,
bit-flipped, bytes inserted or deleted, length fields made huge or negative, header fields
swapped, segment headers rewritten under a valid CRC, plain garbage) and fed to every
decoding entry point: ``decode_envelope``, fresh and primed client and server
``Connection`` objects, ``SegmentReader``, ``decompress_frame_body`` and ``decode_rows``.

Every input is generated from its own seed, derived from ``BASE_SEED`` (override it with the
``CASSFLOW_FUZZ_SEED`` environment variable to explore). A failure report names the seed
of each bad input; ``run_input(corpus(), seed)`` replays exactly that input.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import itertools
import os
import random
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from cassandra.util import Duration
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cassflow.protocol import (
    CLOSED,
    MAX_FRAME_BODY_LENGTH,
    MAX_SEGMENT_PAYLOAD,
    MAX_TYPE_NESTING,
    NEED_DATA,
    AlreadyExists,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    BatchStatement,
    BatchType,
    CasWriteUnknown,
    ColumnSpec,
    Connection,
    ConnectionState,
    Consistency,
    DataType,
    Direction,
    Envelope,
    ErrorMessage,
    EventType,
    Execute,
    FrameReader,
    FunctionFailure,
    HeaderFlag,
    Invalid,
    Message,
    Opcode,
    Options,
    Overloaded,
    Prepare,
    PreparedMetadata,
    PreparedResult,
    ProtocolError,
    ProtocolViolation,
    Query,
    QueryParameters,
    RawFrame,
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
    TypeCode,
    Unauthorized,
    Unavailable,
    Unprepared,
    VoidResult,
    WriteFailure,
    WriteTimeout,
    compress_frame_body,
    decode_envelope,
    decode_rows,
    decompress_frame_body,
    encode_envelope,
    encode_frames_as_segments,
    encode_rows,
    encode_segment,
)
from cassflow.protocol._segment import crc24

BASE_SEED = int(os.environ.get("CASSFLOW_FUZZ_SEED", "20240917"))
#: Inputs the whole robustness run must reach, counted, not assumed.
MIN_INPUTS = 10_000
#: Randomly mutated inputs: enough on their own; the exhaustive truncations come on top.
RANDOM_INPUTS = MIN_INPUTS
#: No single input may use this much CPU: a codec that needs more is as good as hung.
PER_INPUT_SECONDS = 2.0
#: list<list<...>> this deep: within MAX_TYPE_NESTING, so a duplicated slice crosses it.
DEEP_NESTING = MAX_TYPE_NESTING - 4
#: Frame bodies up to this size are truncated at every length, not just at random ones.
EXHAUSTIVE_TRUNCATION_LIMIT = 600

VERSIONS = (3, 4, 5)
INTERESTING_INTS = (
    0,
    1,
    2,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0xFFFF_FFFE,
    0xFFFF_FFFD,
    MAX_FRAME_BODY_LENGTH,
    MAX_FRAME_BODY_LENGTH + 1,
    MAX_SEGMENT_PAYLOAD,
    MAX_SEGMENT_PAYLOAD + 1,
)


# --- the seed corpus ----------------------------------------------------------------------

_UUID = uuid.UUID("5f3c1b7e-2a44-4c4d-9c39-4be1f0a3c2d1")
_TIMEUUID = uuid.UUID("e3b6b6a0-7d3f-11ee-b962-0242ac120002")
_VECTOR = "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType, 3)"


def _t(code: TypeCode) -> DataType:
    return DataType(code)


def _nested_list(depth: int) -> DataType:
    dtype = _t(TypeCode.INT)
    for _ in range(depth):
        dtype = DataType.list_of(dtype)
    return dtype


def _nested_value(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _columns_and_values(version: int) -> tuple[list[tuple[str, DataType]], list[tuple[Any, ...]]]:
    """Columns of many types, collections and nesting included, and rows for them."""
    text = _t(TypeCode.VARCHAR)
    columns: list[tuple[str, DataType]] = [
        ("id", _t(TypeCode.INT)),
        ("name", text),
        ("tags", DataType.set_of(text)),
        ("scores", DataType.list_of(_t(TypeCode.INT))),
        ("attrs", DataType.map_of(text, _t(TypeCode.BIGINT))),
        ("pair", DataType.tuple_of(_t(TypeCode.INT), text)),
        ("addr", DataType.udt("shop", "address", {"street": text, "zip": _t(TypeCode.INT)})),
        (
            "nested",
            DataType.map_of(text, DataType.list_of(DataType.set_of(_t(TypeCode.INT)))),
        ),
        ("price", _t(TypeCode.DECIMAL)),
        ("big", _t(TypeCode.VARINT)),
        ("at", _t(TypeCode.TIMESTAMP)),
        ("uid", _t(TypeCode.UUID)),
        ("tid", _t(TypeCode.TIMEUUID)),
        ("ip", _t(TypeCode.INET)),
        ("raw", _t(TypeCode.BLOB)),
        ("ok", _t(TypeCode.BOOLEAN)),
        ("ratio", _t(TypeCode.DOUBLE)),
        ("f", _t(TypeCode.FLOAT)),
        ("ascii", _t(TypeCode.ASCII)),
        ("embedding", DataType.custom(_VECTOR)),
        ("deep", _nested_list(DEEP_NESTING)),
    ]
    row: list[Any] = [
        42,
        "h\u00e9llo",
        {"a", "b"},
        [1, 2, 3],
        {"x": 1, "y": -(2**40)},
        (7, "seven"),
        ("Main St", 12345),
        {"k": [{1, 2}, {3}]},
        Decimal("3.14159"),
        12345678901234567890123,
        datetime.datetime(2024, 1, 2, 3, 4, 5),
        _UUID,
        _TIMEUUID,
        "2001:db8::1",
        b"\x00\x01\xfe",
        True,
        1.5,
        0.25,
        "plain",
        [1.0, 2.0, 3.0],
        _nested_value(DEEP_NESTING),
    ]
    if version >= 4:
        columns += [
            ("day", _t(TypeCode.DATE)),
            ("tod", _t(TypeCode.TIME)),
            ("small", _t(TypeCode.SMALLINT)),
            ("tiny", _t(TypeCode.TINYINT)),
        ]
        row += [datetime.date(2024, 2, 29), datetime.time(12, 30, 1), -300, 7]
    if version >= 5:
        columns.append(("span", _t(TypeCode.DURATION)))
        row.append(Duration(1, 2, 3_000_000_000))
    rows = [tuple(row), tuple(None for _ in row), tuple(row)]
    return columns, rows


def _rows_result(version: int, *, global_spec: bool, paging: bool) -> RowsResult:
    columns, values = _columns_and_values(version)
    specs = tuple(
        ColumnSpec(
            keyspace="shop",
            table="orders" if global_spec or i % 2 else "items",
            name=name,
            type=dtype,
        )
        for i, (name, dtype) in enumerate(columns)
    )
    raw_rows = encode_rows([c.type for c in specs], values, version)
    metadata = RowsMetadata.of(specs, paging_state=b"\x00\x04page" if paging else None)
    if version >= 5 and paging:
        metadata = replace(metadata, new_metadata_id=b"\x11" * 16)
    return RowsResult(metadata=metadata, rows=raw_rows)


def _requests(version: int) -> list[Message]:
    """Every request kind, with as many optional parts as ``version`` allows."""
    v5 = version >= 5
    values = (b"\x00\x00\x00\x01", None, b"text") + ((b"",) if version >= 4 else ())
    return [
        Query(
            query="SELECT * FROM shop.orders WHERE id = ? AND name = ?",
            parameters=QueryParameters(
                consistency=Consistency.LOCAL_QUORUM,
                values=values,
                skip_metadata=True,
                page_size=100,
                paging_state=b"\x01\x02\x03",
                serial_consistency=Consistency.LOCAL_SERIAL,
                timestamp=1_700_000_000_000_000,
                keyspace="shop" if v5 else None,
                now_in_seconds=1_700_000_000 if v5 else None,
            ),
        ),
        Query(
            query="SELECT * FROM t WHERE a = :a",
            parameters=QueryParameters(values=(b"\x00\x00\x00\x05",), names=("a",)),
        ),
        Prepare(query="INSERT INTO shop.orders (id) VALUES (?)", keyspace="shop" if v5 else None),
        Execute(
            query_id=b"\x01" * 16,
            result_metadata_id=b"\x02" * 16 if v5 else None,
            parameters=QueryParameters(values=values, consistency=Consistency.QUORUM),
        ),
        Batch(
            batch_type=BatchType.UNLOGGED,
            statements=(
                BatchStatement(statement="INSERT INTO t (a) VALUES (?)", values=(b"\x00",)),
                BatchStatement(statement=b"\x01" * 16, values=values),
                BatchStatement(statement="DELETE FROM t WHERE a = 1"),
            ),
            consistency=Consistency.ALL,
            serial_consistency=Consistency.SERIAL,
            timestamp=-5,
            keyspace="shop" if v5 else None,
            now_in_seconds=17 if v5 else None,
        ),
        Batch(
            batch_type=BatchType.COUNTER,
            statements=(
                BatchStatement(
                    statement="UPDATE c SET n = n + :d WHERE k = :k",
                    values=(b"\x00\x00\x00\x00\x00\x00\x00\x01", b"k"),
                    names=("d", "k"),
                ),
            ),
        ),
        Query(query="SELECT now() FROM system.local"),
    ]


def _responses(version: int) -> list[Message]:
    """Every response kind a query can get: results of each kind and errors with bodies."""
    v5 = version >= 5
    columns, _ = _columns_and_values(version)
    specs = tuple(
        ColumnSpec(keyspace="shop", table="orders", name=n, type=t) for n, t in columns[:5]
    )
    failure_map = {"10.0.0.1": 1, "2001:db8::2": 2} if v5 else {}
    return [
        _rows_result(version, global_spec=True, paging=True),
        _rows_result(version, global_spec=False, paging=False),
        RowsResult(
            metadata=RowsMetadata(column_count=2, paging_state=b"p"),
            rows=((b"\x00\x00\x00\x01", None), (b"", b"x")),
        ),
        VoidResult(),
        SetKeyspaceResult(keyspace="shop"),
        PreparedResult(
            query_id=b"\x01" * 16,
            result_metadata_id=b"\x02" * 16 if v5 else None,
            metadata=PreparedMetadata(
                columns=specs, partition_key_indexes=(0, 2) if version >= 4 else ()
            ),
            result_metadata=RowsMetadata.of(specs),
        ),
        SchemaChangeResult(
            change=SchemaChange(
                change_type=SchemaChangeType.CREATED,
                target=SchemaChangeTarget.FUNCTION,
                keyspace="shop",
                name="f",
                argument_types=("int", "text"),
            )
        ),
        Unavailable(message="not enough", consistency=Consistency.QUORUM, required=3, alive=1),
        WriteTimeout(
            message="cas",
            consistency=Consistency.SERIAL,
            received=1,
            block_for=2,
            write_type="CAS",
            contentions=4 if v5 else None,
        ),
        ReadTimeout(
            message="slow", consistency=Consistency.ONE, received=0, block_for=1, data_present=True
        ),
        ReadFailure(
            message="rf",
            consistency=Consistency.ALL,
            received=1,
            block_for=3,
            num_failures=len(failure_map) or 2,
            reason_map=failure_map,
            data_present=False,
        ),
        WriteFailure(
            message="wf",
            consistency=Consistency.ALL,
            received=1,
            block_for=3,
            num_failures=len(failure_map) or 1,
            reason_map=failure_map,
            write_type="BATCH",
        ),
        FunctionFailure(message="boom", keyspace="shop", function="f", arg_types=("int",)),
        CasWriteUnknown(message="?", consistency=Consistency.SERIAL, received=1, block_for=2),
        AlreadyExists(message="exists", keyspace="shop", table="orders"),
        Unprepared(message="unknown id", query_id=b"\x01" * 16),
        Invalid(message="bad"),
        Unauthorized(message="no"),
        Overloaded(message="busy"),
        ServerError(message="\u2603 oops"),
        ProtocolViolation(message="Invalid or unsupported protocol version (9)"),
    ]


def _events() -> list[Message]:
    return [
        TopologyChangeEvent(change="NEW_NODE", address=("10.0.0.7", 9042)),
        StatusChangeEvent(change="DOWN", address=("2001:db8::7", 9042)),
        SchemaChangeEvent(
            change=SchemaChange(
                change_type=SchemaChangeType.UPDATED,
                target=SchemaChangeTarget.TYPE,
                keyspace="shop",
                name="address",
            )
        ),
        SchemaChangeEvent(
            change=SchemaChange(
                change_type=SchemaChangeType.DROPPED,
                target=SchemaChangeTarget.KEYSPACE,
                keyspace="old",
            )
        ),
    ]


@dataclass(frozen=True)
class Item:
    """One message as it went on the wire: its uncompressed frame and how it was wrapped."""

    raw: RawFrame
    framed: bool  # inside v5 segments
    compressed: bool  # a v3/v4 frame with an LZ4 body


@dataclass(frozen=True)
class Exchange:
    """Requests a client sent together, and everything the server sent back."""

    requests: tuple[Envelope, ...]
    responses: tuple[Envelope, ...]
    client_items: tuple[Item, ...]
    server_items: tuple[Item, ...]
    client_wire: bytes
    server_wire: bytes


@dataclass(frozen=True)
class Conversation:
    version: int
    compression: str | None
    auth: bool
    exchanges: tuple[Exchange, ...]

    @property
    def name(self) -> str:
        return f"v{self.version}{'-lz4' if self.compression else ''}{'-auth' if self.auth else ''}"


def _record(sender: Connection, envelope: Envelope, framed: bool) -> tuple[bytes, Item]:
    assert sender.version is not None
    wire = sender.send(envelope)
    raw = encode_envelope(envelope, sender.version)
    compressed = not framed and bool(wire[1] & HeaderFlag.COMPRESSION)
    return wire, Item(raw=raw, framed=framed, compressed=compressed)


def _drain(conn: Connection) -> list[Envelope]:
    out = []
    while isinstance(event := conn.next_event(), Envelope):
        out.append(event)
    assert event is NEED_DATA
    return out


def _converse(version: int, compression: str | None, auth: bool) -> Conversation:
    """Run a whole conversation between two codec connections and record every message."""
    client = Connection(Role.CLIENT, version=version)
    server = Connection(Role.SERVER)
    startup_options = {"CQL_VERSION": "3.0.0", "DRIVER_NAME": "cassflow-fuzz"}
    if compression:
        startup_options["COMPRESSION"] = compression
    answer_to_startup: Message = (
        Authenticate(authenticator="org.apache.cassandra.auth.PasswordAuthenticator")
        if auth
        else Ready()
    )
    plan: list[tuple[list[Message], list[Message], list[Message]]] = [
        (
            [Options(), Startup(options=startup_options)],
            [
                Supported(
                    options={
                        "CQL_VERSION": ("3.0.0",),
                        "COMPRESSION": ("lz4", "snappy"),
                        "PROTOCOL_VERSIONS": ("3/v3", "4/v4", "5/v5"),
                    }
                ),
                answer_to_startup,
            ],
            [],
        )
    ]
    if auth:
        plan.append(([AuthResponse(token=b"\x00user\x00password")], [AuthSuccess()], []))
    requests = _requests(version)
    responses = _responses(version)
    queries = [requests[i % len(requests)] for i in range(len(responses))]
    plan.append(
        (
            [Register(event_types=tuple(EventType)), *queries, Options()],
            [Ready(), *responses, Supported(options={})],
            _events(),
        )
    )
    big = RowsResult(
        metadata=RowsMetadata.of(
            (ColumnSpec(keyspace="k", table="t", name="b", type=_t(TypeCode.BLOB)),)
        ),
        rows=((bytes(range(256)) * 300,), (b"\xab" * 70_000,)),
    )
    plan.append(([Query(query="SELECT b FROM k.t")], [big], []))

    exchanges = []
    stream = 0
    framed = False
    for requests_, answers, events in plan:
        envelopes = []
        client_items, client_wire = [], []
        for message in requests_:
            env = Envelope(stream=stream, message=message, tracing=stream % 3 == 0)
            stream += 1
            wire, item = _record(client, env, framed)
            envelopes.append(env)
            client_items.append(item)
            client_wire.append(wire)
        server.receive_data(b"".join(client_wire))
        assert len(_drain(server)) == len(envelopes)
        server_items, server_wire, responses_sent = [], [], []
        for i, (request, answer) in enumerate(zip(envelopes, answers, strict=True)):
            extras: dict[str, Any] = {}
            if i % 2 and isinstance(answer, RowsResult | VoidResult | ErrorMessage):
                extras["tracing_id"] = _TIMEUUID
            if version >= 4 and i % 3 == 1:
                extras.update(warnings=("w1", "w\u00e9"), custom_payload={"k": b"v", "n": None})
            env = Envelope(stream=request.stream, message=answer, **extras)
            # A v5 server answers STARTUP unframed and frames everything after.
            wire, item = _record(server, env, framed)
            server_items.append(item)
            server_wire.append(wire)
            responses_sent.append(env)
            if isinstance(answer, Ready | Authenticate) and isinstance(request.message, Startup):
                framed = version >= 5
            if events and i % 5 == 0:
                event_env = Envelope(stream=-1, message=events[(i // 5) % len(events)])
                wire, item = _record(server, event_env, framed)
                server_items.append(item)
                server_wire.append(wire)
                responses_sent.append(event_env)
        client.receive_data(b"".join(server_wire))
        assert len(_drain(client)) == len(responses_sent)
        exchanges.append(
            Exchange(
                requests=tuple(envelopes),
                responses=tuple(responses_sent),
                client_items=tuple(client_items),
                server_items=tuple(server_items),
                client_wire=b"".join(client_wire),
                server_wire=b"".join(server_wire),
            )
        )
    assert client.state is ConnectionState.READY
    return Conversation(version, compression, auth, tuple(exchanges))


# --- wrapping frames the way a connection does ----------------------------------------------


def frame_bytes(item: Item) -> bytes:
    """The frame of ``item`` as the sender encodes it (body compressed when it was)."""
    raw = item.raw
    if item.compressed and raw.body:
        raw = replace(
            raw, flags=raw.flags | HeaderFlag.COMPRESSION, body=compress_frame_body(raw.body)
        )
    return raw.encode()


def wrap(frames: list[tuple[bytes, bool]], segments_compressed: bool, share: bool) -> bytes:
    """Frames on the wire: unframed ones as they are, framed ones inside segments, either
    one send per frame (as ``Connection.send``) or sharing segments (``send_many``)."""
    out: list[bytes] = []
    run: list[bytes] = []
    for data, framed in frames:
        if not framed:
            if run:
                out.append(encode_frames_as_segments(run, segments_compressed))
                run = []
            out.append(data)
        elif share:
            run.append(data)
        else:
            out.append(encode_frames_as_segments([data], segments_compressed))
    if run:
        out.append(encode_frames_as_segments(run, segments_compressed))
    return b"".join(out)


def segments_of(payload: bytes, rng: random.Random, compressed: bool) -> list[bytes]:
    """``payload`` cut at random places into valid segments (self-contained only when whole)."""
    if not payload:
        return [encode_segment(b"", True, compressed)]
    cuts = sorted(rng.sample(range(1, len(payload)), k=min(len(payload) - 1, rng.randrange(3))))
    bounds = [0, *cuts, len(payload)]
    pieces = [payload[a:b] for a, b in itertools.pairwise(bounds)]
    out = []
    for piece in pieces:
        for start in range(0, len(piece), MAX_SEGMENT_PAYLOAD):
            out.append(
                encode_segment(piece[start : start + MAX_SEGMENT_PAYLOAD], False, compressed)
            )
    if len(out) == 1:
        out = [encode_segment(payload, True, compressed)]
    return out


def reheader_segment(segment: bytes, compressed: bool, rng: random.Random) -> bytes:
    """Rewrite a segment header's fields (length, uncompressed length, self-contained flag)
    and give it a *valid* CRC24, so the reader has to cope with the lie itself."""
    field_length = 5 if compressed else 3
    bits = int.from_bytes(segment[:field_length], "little")
    nbits = field_length * 8
    choice = rng.randrange(4)
    if choice == 0:  # payload length
        bits = (bits & ~0x1FFFF) | rng.choice((0, 1, 0x1FFFF, rng.randrange(0x20000)))
    elif choice == 1 and compressed:  # uncompressed length
        value = rng.choice((0, 1, 0x1FFFF, rng.randrange(0x20000)))
        bits = (bits & ~(0x1FFFF << 17)) | (value << 17)
    elif choice == 2:  # self-contained flag and spare bits
        bits ^= 1 << rng.randrange(17, nbits)
    else:
        bits = rng.getrandbits(nbits)
    header = bits.to_bytes(field_length, "little")
    return header + crc24(header).to_bytes(3, "little") + segment[field_length + 3 :]


# --- mutations ----------------------------------------------------------------------------


def _interesting(rng: random.Random, size: int) -> bytes:
    value = rng.choice(INTERESTING_INTS) & ((1 << (8 * size)) - 1)
    if rng.random() < 0.3:
        value = (1 << (8 * size)) - 1 - value
    return value.to_bytes(size, rng.choice(("big", "little")))


def mutate(data: bytes, rng: random.Random, header_offsets: tuple[int, ...] = ()) -> bytes:
    """One to four random mutations of ``data``; ``header_offsets`` are where frame headers
    start, for the mutations that aim at header fields."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        n = len(buf)
        op = rng.randrange(13)
        if op == 0:  # truncate
            del buf[rng.randrange(n + 1) :]
        elif op == 1 and n:  # flip bits
            for _ in range(rng.randrange(1, 9)):
                buf[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 2 and n:  # set bytes to interesting values
            for _ in range(rng.randrange(1, 5)):
                buf[rng.randrange(n)] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF))
        elif op == 3:  # insert bytes
            at = rng.randrange(n + 1)
            buf[at:at] = rng.randbytes(rng.randrange(1, 17))
        elif op == 4 and n:  # delete bytes
            at = rng.randrange(n)
            del buf[at : at + rng.randrange(1, 17)]
        elif op == 5 and n:  # duplicate a slice
            at = rng.randrange(n)
            chunk = buf[at : at + rng.randrange(1, 65)]
            buf[at:at] = chunk * rng.randrange(1, 4)
        elif op == 6 and n >= 2:  # an [short]/[int]/[long] somewhere set to an edge value
            size = rng.choice((2, 4, 4, 8))
            at = rng.randrange(max(1, n - size + 1))
            buf[at : at + size] = _interesting(rng, size)[: n - at]
        elif op == 7 and header_offsets:  # a frame's length field
            at = rng.choice(header_offsets) + 5
            if at + 4 <= n:
                near = struct.unpack_from(">i", buf, at)[0] + rng.choice((-1, 1, 9))
                length = rng.choice(
                    (-1, -2, -(2**31), 2**31 - 1, MAX_FRAME_BODY_LENGTH + 1, 0, 1, near)
                )
                struct.pack_into(">i", buf, at, max(-(2**31), min(length, 2**31 - 1)))
        elif op == 8 and header_offsets:  # swap or rewrite header fields
            at = rng.choice(header_offsets)
            if at + 9 <= n:
                fields = [0, 1, 4]  # version, flags, opcode bytes
                a, b = rng.sample(fields, 2)
                if rng.random() < 0.5:
                    buf[at + a], buf[at + b] = buf[at + b], buf[at + a]
                else:
                    buf[at + rng.choice((0, 1, 2, 3, 4))] = rng.randrange(256)
        elif op == 9 and header_offsets:  # flip the direction bit
            at = rng.choice(header_offsets)
            if at < n:
                buf[at] ^= 0x80
        elif op == 10:  # replace with garbage
            buf = bytearray(rng.randbytes(rng.randrange(0, 2 * n + 32)))
        elif op == 11:  # append garbage
            buf += rng.randbytes(rng.randrange(1, 64))
        elif op == 12 and len(header_offsets) >= 2:  # swap two frames' headers
            a, b = rng.sample(header_offsets, 2)
            if max(a, b) + 9 <= n:
                head_a, head_b = bytes(buf[a : a + 9]), bytes(buf[b : b + 9])
                buf[a : a + 9], buf[b : b + 9] = head_b, head_a
    return bytes(buf)


def split_randomly(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` in chunks of a size picked per input: single bytes up to all at once."""
    style = rng.randrange(4)
    if style == 0 or not data:
        return [data] if data else []
    # Tiny chunks only for small inputs: a big one byte by byte costs time, not coverage.
    limit = {1: 1, 2: 16, 3: 4096}[style] if len(data) < 8_192 else 4096
    chunks, pos = [], 0
    while pos < len(data):
        size = rng.randint(1, limit)
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


# --- driving the entry points -------------------------------------------------------------


class LoopError(AssertionError):
    """A decoding loop did not terminate within its bound."""


def generic_answer(request: Message) -> Message:
    if isinstance(request, Startup):
        return Ready()
    if isinstance(request, Options):
        return Supported(options={"CQL_VERSION": ("3.0.0",)})
    if isinstance(request, AuthResponse):
        return AuthSuccess()
    if isinstance(request, Register):
        return Ready()
    return VoidResult()


def check_rows(envelope: Envelope, version: int) -> None:
    """Decode the cells of a received Rows result: only ProtocolError may come out."""
    message = envelope.message
    if isinstance(message, RowsResult) and message.metadata.columns is not None:
        with suppress(ProtocolError):
            decode_rows(message.metadata.columns, message.rows, version)


def drive(
    conn: Connection,
    chunks: list[bytes],
    answers: Callable[[Envelope], Message | None] | None = None,
) -> int:
    """Feed ``chunks`` then EOF, pulling events after each; return how many arrived.

    The loop is bounded: every event, error or NEED_DATA must be paid for by received
    bytes or by a new chunk, and after EOF the connection must reach CLOSED.
    """
    budget = len(chunks) + sum(len(c) for c in chunks) + 16
    iterations = 0
    received = 0
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)
        while True:
            iterations += 1
            if iterations > budget:
                raise LoopError(f"next_event loop still going after {budget} iterations")
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:  # the only thing a peer can make it raise
                if exc.fatal:
                    assert conn.state is ConnectionState.CLOSED
                    assert conn.next_event() is CLOSED
                    return received
                continue
            if event is NEED_DATA:
                if not chunk:
                    raise AssertionError("NEED_DATA after the peer closed")
                break
            if event is CLOSED:
                assert not chunk, "CLOSED before the peer closed"
                return received
            assert isinstance(event, Envelope)
            received += 1
            assert conn.version is not None
            check_rows(event, conn.version)
            if answers is not None:
                answer = answers(event)
                if answer is not None:
                    _answer(conn, event, answer)
    raise AssertionError("unreachable: EOF always ends the loop")


def _answer(conn: Connection, request: Envelope, answer: Message) -> None:
    """Answer like a server would; a refusal of our own answer (LocalProtocolError) is fine,
    since the fuzzed request may have asked for something the codec cannot give."""
    for message in (answer, ServerError(message="no")):
        try:
            conn.send(Envelope(stream=request.stream, message=message))
        except ProtocolError:
            continue
        return


def drive_segments(reader: SegmentReader, chunks: list[bytes]) -> int:
    budget = len(chunks) + sum(len(c) for c in chunks) + 16
    iterations = segments = 0
    for chunk in chunks:
        reader.feed(chunk)
        while True:
            iterations += 1
            if iterations > budget:
                raise LoopError(f"next_segment loop still going after {budget} iterations")
            try:
                segment = reader.next_segment()
            except RemoteProtocolError:
                return segments
            if segment is None:
                break
            payload, _ = segment
            assert len(payload) <= MAX_SEGMENT_PAYLOAD
            segments += 1
    return segments


def try_decode(frame: RawFrame, version: int) -> None:
    try:
        envelope = decode_envelope(frame, version)
    except RemoteProtocolError as exc:
        error = exc
    else:
        check_rows(envelope, version)
        return
    assert not error.fatal, "decode_envelope errors leave the connection usable"
    assert error.stream == frame.stream


# --- scenarios: what a connection receives, and how to bring it to that point ---------------


@dataclass(frozen=True)
class Scenario:
    """Bytes one side of ``conversation`` receives from exchange ``index`` on, and how to
    build that side in the state it had then."""

    conversation: Conversation
    role: Role
    index: int

    @property
    def name(self) -> str:
        return f"{self.conversation.name}/{self.role.value.lower()}/{self.index}"

    @property
    def items(self) -> tuple[Item, ...]:
        exchanges = self.conversation.exchanges
        if self.role is Role.SERVER:  # the server can take every request left, answering
            return tuple(i for ex in exchanges[self.index :] for i in ex.client_items)
        return exchanges[self.index].server_items

    @property
    def segments_compressed(self) -> bool:
        return self.conversation.compression is not None

    def prime(self) -> Connection:
        conv = self.conversation
        if self.role is Role.SERVER:
            server = Connection(Role.SERVER)
            for ex in conv.exchanges[: self.index]:
                server.receive_data(ex.client_wire)
                _drain(server)
                for env in ex.responses:
                    server.send(env)
            return server
        client = Connection(Role.CLIENT, version=conv.version)
        for ex in conv.exchanges[: self.index]:
            for env in ex.requests:
                client.send(env)
            client.receive_data(ex.server_wire)
            _drain(client)
        for env in conv.exchanges[self.index].requests:
            client.send(env)
        return client

    def answers(self) -> Callable[[Envelope], Message | None] | None:
        """For a server: the recorded answer while the requests match, else a generic one."""
        if self.role is Role.CLIENT:
            return None
        exchanges = self.conversation.exchanges[self.index :]
        expected = [(r.message.opcode, a) for ex in exchanges for r, a in _pairs(ex)]
        position = iter(range(len(expected)))

        def answer(request: Envelope) -> Message:
            i = next(position, len(expected))
            if i < len(expected) and expected[i][0] is request.message.opcode:
                return expected[i][1]
            return generic_answer(request.message)

        return answer


def _pairs(exchange: Exchange) -> Iterator[tuple[Envelope, Message]]:
    answers = [e for e in exchange.responses if e.stream >= 0]
    for request, answer in zip(exchange.requests, answers, strict=True):
        yield request, answer.message


@dataclass
class Corpus:
    conversations: list[Conversation]
    scenarios: list[Scenario]
    frames: list[tuple[RawFrame, int]]  # every distinct uncompressed frame, with its version
    rows: list[tuple[RowsResult, int]]


@cache
def corpus() -> Corpus:
    conversations = [
        _converse(version, compression, auth)
        for version in VERSIONS
        for compression in (None, "lz4")
        for auth in (False, True)
    ]
    scenarios = [
        Scenario(conv, role, index)
        for conv in conversations
        for role in Role
        for index in range(len(conv.exchanges))
    ]
    frames: dict[bytes, tuple[RawFrame, int]] = {}
    rows = []
    for conv in conversations:
        for ex in conv.exchanges:
            for item in ex.client_items + ex.server_items:
                frames.setdefault(item.raw.encode(), (item.raw, conv.version))
            for env in ex.responses:
                if isinstance(env.message, RowsResult) and env.message.metadata.columns:
                    rows.append((env.message, conv.version))
    return Corpus(conversations, scenarios, list(frames.values()), rows)


# --- one input ----------------------------------------------------------------------------


@dataclass
class Stats:
    inputs: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def count(self, kind: str) -> None:
        self.inputs += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


def _connection_input(c: Corpus, rng: random.Random) -> tuple[str, Callable[[], None]]:
    scenario = rng.choice(c.scenarios)
    items = list(scenario.items)
    if sum(len(i.raw.body) for i in items) > 100_000 and rng.random() < 0.8:
        scenario = rng.choice([s for s in c.scenarios if s.index == 0])
        items = list(scenario.items)
    level = rng.choice(("wire", "frame", "body", "body", "segment"))
    share = rng.random() < 0.3
    encoded = [(frame_bytes(i), i.framed) for i in items]
    if level == "wire":
        offsets, pos = [], 0
        for data, framed in encoded:  # header offsets are known while frames are unframed
            if framed:
                break
            offsets.append(pos)
            pos += len(data)
        data = mutate(wrap(encoded, scenario.segments_compressed, share), rng, tuple(offsets))
    elif level == "frame":
        k = rng.randrange(len(encoded))
        encoded[k] = (mutate(encoded[k][0], rng, (0,)), encoded[k][1])
        data = wrap(encoded, scenario.segments_compressed, share)
    elif level == "body":
        k = rng.randrange(len(items))
        item = items[k]
        raw = replace(item.raw, body=mutate(item.raw.body, rng))
        if rng.random() < 0.2:
            raw = replace(raw, flags=rng.randrange(256))
        items[k] = replace(item, raw=raw)
        encoded[k] = (frame_bytes(items[k]), item.framed)
        data = wrap(encoded, scenario.segments_compressed, share)
    else:  # segment level: frames intact, segments cut and lied about
        unframed = b"".join(d for d, framed in encoded if not framed)
        payload = b"".join(d for d, framed in encoded if framed)
        segments = segments_of(payload, rng, scenario.segments_compressed)
        if segments and payload and rng.random() < 0.7:
            k = rng.randrange(len(segments))
            segments[k] = reheader_segment(segments[k], scenario.segments_compressed, rng)
        if rng.random() < 0.3:
            rng.shuffle(segments)
        data = unframed + b"".join(segments)
    chunks = split_randomly(data, rng)
    fresh_version = rng.choice(VERSIONS)
    answering = rng.random() < 0.85  # a server that does not answer sees streams reused

    def run() -> None:
        drive(scenario.prime(), chunks, scenario.answers() if answering else None)
        drive(
            Connection(Role.SERVER),
            chunks,
            (lambda env: generic_answer(env.message)) if answering else None,
        )
        client = Connection(Role.CLIENT, version=fresh_version)
        client.send(Envelope(stream=0, message=Options()))
        client.send(Envelope(stream=1, message=Startup(options={"CQL_VERSION": "3.0.0"})))
        drive(client, chunks)
        if scenario.conversation.version >= 5:
            drive_segments(SegmentReader(scenario.segments_compressed), chunks)
        if level == "body":
            for version in VERSIONS:
                try_decode(items[k].raw, version)

    return f"connection/{level}/{scenario.name}", run


def _segment_input(c: Corpus, rng: random.Random) -> tuple[str, Callable[[], None]]:
    compressed = rng.random() < 0.5
    frames = [frame_bytes(Item(f, False, False)) for f, _ in rng.sample(c.frames, 3)]
    data = encode_frames_as_segments(frames, compressed)
    segments = segments_of(data, rng, compressed)
    k = rng.randrange(len(segments))
    if rng.random() < 0.5:
        segments[k] = reheader_segment(segments[k], compressed, rng)
    else:
        segments[k] = mutate(segments[k], rng)
    chunks = split_randomly(b"".join(segments), rng)

    def run() -> None:
        drive_segments(SegmentReader(compressed), chunks)
        drive_segments(SegmentReader(not compressed), chunks)

    return f"segments/{'lz4' if compressed else 'plain'}", run


def _decompress_input(c: Corpus, rng: random.Random) -> tuple[str, Callable[[], None]]:
    frame, _ = rng.choice(c.frames)
    body = compress_frame_body(frame.body or b"x")
    if rng.random() < 0.3:  # the length prefix alone
        prefix = rng.choice((-1, -(2**31), 2**31 - 1, MAX_FRAME_BODY_LENGTH + 1, 0, 1))
        prefix = rng.choice((prefix, len(frame.body) + rng.choice((-1, 1))))
        body = struct.pack(">i", prefix) + body[4:]
    else:
        body = mutate(body, rng)

    def run() -> None:
        with suppress(RemoteProtocolError):
            decompress_frame_body(body)

    return "decompress_frame_body", run


def _rows_input(c: Corpus, rng: random.Random) -> tuple[str, Callable[[], None]]:
    result, version = rng.choice(c.rows)
    rows = [list(r) for r in result.rows]
    for _ in range(rng.randrange(1, 4)):
        row = rng.choice(rows)
        i = rng.randrange(len(row))
        cell = row[i]
        row[i] = mutate(cell or b"", rng) if rng.random() < 0.9 else None
    if rng.random() < 0.1:  # a row of the wrong width
        rows[0] = rows[0][:-1]
    columns = result.metadata.columns
    assert columns is not None
    frozen = [tuple(r) for r in rows]

    def run() -> None:
        for v in (version, rng.choice(VERSIONS)):
            with suppress(ProtocolError):
                decode_rows(columns, frozen, v)

    return "decode_rows", run


def _envelope_input(c: Corpus, rng: random.Random) -> tuple[str, Callable[[], None]]:
    frame, _ = rng.choice(c.frames)
    body = mutate(frame.body, rng)
    fields: dict[str, Any] = {"body": body}
    roll = rng.random()
    if roll < 0.15:
        fields["opcode"] = rng.randrange(256)
    elif roll < 0.3:
        fields["flags"] = rng.randrange(256)
    elif roll < 0.4:
        fields["direction"] = (
            Direction.RESPONSE if frame.direction is Direction.REQUEST else Direction.REQUEST
        )
    mutated = replace(frame, **fields)

    def run() -> None:
        for v in VERSIONS:
            try_decode(mutated, v)

    return "decode_envelope", run


def _garbage_input(_c: Corpus, rng: random.Random) -> tuple[str, Callable[[], None]]:
    data = rng.randbytes(rng.randrange(0, 512))
    if rng.random() < 0.5 and len(data) >= 9:  # a plausible header in front of garbage
        version = rng.choice((*VERSIONS, 1, 2, 6, 0x7F))
        header = bytes([version | rng.choice((0, 0x80)), rng.randrange(256)])
        data = header + data[2:]
    chunks = split_randomly(data, rng)

    def run() -> None:
        drive(Connection(Role.SERVER), chunks, lambda env: generic_answer(env.message))
        drive(Connection(Role.CLIENT, version=rng.choice(VERSIONS)), chunks)
        drive_segments(SegmentReader(True), chunks)
        drive_segments(SegmentReader(False), chunks)
        with suppress(RemoteProtocolError):
            decompress_frame_body(data)
        if len(data) >= 9:
            frame = RawFrame(
                version=rng.choice(VERSIONS),
                direction=rng.choice(tuple(Direction)),
                flags=data[0],
                stream=struct.unpack_from(">h", data, 1)[0],
                opcode=data[3] % 0x12,
                body=data[9:],
            )
            for v in VERSIONS:
                try_decode(frame, v)

    return "garbage", run


_GENERATORS = (
    (_connection_input, 10),
    (_segment_input, 2),
    (_decompress_input, 1),
    (_rows_input, 2),
    (_envelope_input, 4),
    (_garbage_input, 1),
)


def make_input(c: Corpus, seed: int) -> tuple[str, Callable[[], None]]:
    """The input of ``seed``: which entry points it goes to, and the run that feeds them."""
    rng = random.Random(seed)
    generators, weights = zip(*_GENERATORS, strict=True)
    generate = rng.choices(generators, weights)[0]
    return generate(c, rng)


def run_input(c: Corpus, seed: int) -> None:
    """Replay one input alone (what a failure report asks you to do)."""
    make_input(c, seed)[1]()


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Keep the garbage collector out of a timed input: a full collection of the heap other
    tests left behind would be charged to whichever input happened to trigger it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check(stats: Stats, kind: str, seed: int | str, run: Callable[[], None]) -> None:
    """Run one input. The drivers swallow exactly what each entry point may raise, so any
    exception that reaches this point, LocalProtocolError included, is a bug."""
    stats.count(kind)
    # CPU time of this thread: a codec that loops burns it, while a machine busy with other
    # work (CI runs other suites beside this one) only stretches the wall clock.
    with _no_gc():
        started = time.thread_time()
        try:
            run()
        except Exception as exc:
            stats.failures.append(f"seed {seed} ({kind}): {type(exc).__name__}: {exc}")
            return
        elapsed = time.thread_time() - started
    if elapsed >= PER_INPUT_SECONDS:
        stats.failures.append(f"seed {seed} ({kind}): took {elapsed:.2f} s")


def _truncation_inputs(c: Corpus) -> Iterator[tuple[str, str, Callable[[], None]]]:
    """Every frame body of the corpus cut at every length (at random lengths when long)."""
    rng = random.Random(BASE_SEED)
    for n, (frame, version) in enumerate(c.frames):
        size = len(frame.body)
        if size <= EXHAUSTIVE_TRUNCATION_LIMIT:
            lengths = range(size)
        else:
            lengths = sorted(rng.sample(range(size), 40))
        for length in lengths:
            cut = replace(frame, body=frame.body[:length])
            yield (
                f"frame {n} cut at {length}",
                "truncated body",
                lambda f=cut, v=version: try_decode(f, v),
            )
    # Whole streams cut short, into the connection that expects them.
    for scenario in c.scenarios:
        exchanges = scenario.conversation.exchanges
        data = exchanges[scenario.index].server_wire
        if scenario.role is Role.SERVER:
            data = b"".join(ex.client_wire for ex in exchanges[scenario.index :])
        for length in sorted(rng.sample(range(len(data)), min(len(data), 12))):
            yield (
                f"{scenario.name} cut at {length}",
                "truncated stream",
                lambda s=scenario, d=data[:length]: drive(s.prime(), [d], s.answers()),
            )


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_decoding_only_raises_protocol_error_and_terminates() -> None:
    c = corpus()
    stats = Stats()
    print(f"robustness base seed {BASE_SEED} (set CASSFLOW_FUZZ_SEED to change)")
    started = time.monotonic()
    for label, kind, run in _truncation_inputs(c):
        _check(stats, kind, label, run)
    for i in range(RANDOM_INPUTS):
        seed = BASE_SEED * 1_000_003 + i
        kind, run = make_input(c, seed)
        _check(stats, kind.split("/")[0], seed, run)
    elapsed = time.monotonic() - started
    print(f"{stats.inputs} inputs in {elapsed:.1f} s: {sorted(stats.by_kind.items())}")
    assert not stats.failures, (
        f"{len(stats.failures)} inputs broke the codec (base seed {BASE_SEED}; replay one "
        "with run_input(corpus(), seed)):\n" + "\n".join(stats.failures[:50])
    )
    truncations = stats.by_kind["truncated body"] + stats.by_kind["truncated stream"]
    assert stats.inputs - truncations >= MIN_INPUTS
    assert stats.inputs >= MIN_INPUTS + truncations
    assert stats.by_kind.keys() >= {
        "truncated body",
        "truncated stream",
        "connection",
        "segments",
        "decompress_frame_body",
        "decode_rows",
        "decode_envelope",
        "garbage",
    }


def test_seed_corpus_decodes_cleanly() -> None:
    """The corpus is valid traffic: rewrapped as the harness rewraps it, every scenario's
    bytes reach a connection primed as the harness primes it and decode without an error.
    (Otherwise the fuzzing above would only ever exercise the first check that fails.)"""
    c = corpus()
    rng = random.Random(BASE_SEED)
    assert len(c.scenarios) == 2 * sum(len(conv.exchanges) for conv in c.conversations)
    for scenario in c.scenarios:
        exchanges = scenario.conversation.exchanges[scenario.index :]
        recorded = (
            b"".join(ex.client_wire for ex in exchanges)
            if scenario.role is Role.SERVER
            else exchanges[0].server_wire
        )
        encoded = [(frame_bytes(i), i.framed) for i in scenario.items]
        assert wrap(encoded, scenario.segments_compressed, share=False) == recorded
        for share in (False, True):
            data = wrap(encoded, scenario.segments_compressed, share)
            received = drive(scenario.prime(), split_randomly(data, rng), scenario.answers())
            assert received == len(scenario.items), scenario.name
    kinds = {
        type(env.message)
        for conv in c.conversations
        for ex in conv.exchanges
        for env in (
            *ex.requests,
            *ex.responses,
        )
    }
    assert {Batch, Execute, PreparedResult, RowsResult, ReadFailure, SchemaChangeEvent} <= kinds
    assert any(i.compressed for s in c.scenarios for i in s.items)
    assert any(
        len(i.raw.body) > MAX_SEGMENT_PAYLOAD and i.framed for s in c.scenarios for i in s.items
    )


# --- regressions: inputs the fuzzing found ---------------------------------------------------


def _rows_frame(dtype: DataType, cell: bytes, version: int = 4) -> RawFrame:
    spec = ColumnSpec(keyspace="ks", table="t", name="c", type=dtype)
    result = RowsResult(metadata=RowsMetadata.of((spec,)), rows=((cell,),))
    return encode_envelope(Envelope(stream=3, message=result), version)


@pytest.mark.parametrize(
    "dtype",
    [
        DataType.custom("a\x00b"),
        DataType.custom("x)("),
        DataType.custom("ListType()"),
        DataType.custom("UserType(ks)"),
        DataType.custom(_VECTOR.replace("pache", "\x00\x00\x00\x01")),
        DataType.custom(
            "org.apache.cassandra.db.marshal.FrozenType(org.apache.cassandra.db.marshal."
            "UserType(ks,6162,6e616d65:org.apache.cassandra.db.marshal.UTF8Type))"
        ),
        DataType.udt("ks", "a\x00b", {"f": DataType(TypeCode.INT)}),
    ],
    ids=[
        "nul",
        "unbalanced",
        "list-without-type",
        "udt-without-fields",
        "vector-nul",
        "frozen-udt",
        "udt-name-nul",
    ],
)
def test_rows_of_a_type_the_driver_cannot_build_are_a_remote_error(dtype: DataType) -> None:
    # decode_rows used to build the cqltypes codec outside its error handling, so a custom
    # class name or UDT name the driver cannot parse escaped as ValueError/AttributeError.
    envelope = decode_envelope(_rows_frame(dtype, b"\x00\x00\x00\x01"), 4)
    assert isinstance(envelope.message, RowsResult)
    columns = envelope.message.metadata.columns
    assert columns is not None
    with pytest.raises(RemoteProtocolError, match="no codec for column type"):
        decode_rows(columns, envelope.message.rows, 4)


def _request_frame(opcode: Opcode, body: bytes, stream: int, version: int = 4) -> bytes:
    return RawFrame(
        version=version,
        direction=Direction.REQUEST,
        flags=0,
        stream=stream,
        opcode=opcode,
        body=body,
    ).encode()


def _decode_reply(reply: bytes | None, version: int = 4) -> tuple[int, ErrorMessage]:
    assert reply is not None
    reader = FrameReader()
    reader.feed(reply)
    raw = reader.next_frame()
    assert raw is not None
    assert reader.buffered == 0
    message = decode_envelope(raw, version).message
    assert isinstance(message, ErrorMessage)
    return raw.stream, message


def test_register_with_a_huge_unknown_event_type_is_refused_with_a_reply() -> None:
    # The reason quotes the event type with repr(), which can make it longer than a
    # [string]: building the reply used to raise LocalProtocolError out of next_event.
    server = Connection(Role.SERVER)
    server.receive_data(_request_frame(Opcode.OPTIONS, b"", stream=0))
    assert isinstance(server.next_event(), Envelope)
    server.send(Envelope(stream=0, message=Supported()))
    name = b"\x01" * 30_000
    body = struct.pack(">HH", 1, len(name)) + name
    server.receive_data(_request_frame(Opcode.REGISTER, body, stream=1))
    server.receive_data(_request_frame(Opcode.OPTIONS, b"", stream=2))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert not info.value.fatal
    assert info.value.stream == 1
    stream, reply = _decode_reply(info.value.reply)
    assert stream == 1
    assert isinstance(reply, ProtocolViolation)
    assert "unknown event type" in reply.message
    assert len(reply.message.encode()) <= 0xFFFF
    following = server.next_event()  # the connection goes on
    assert isinstance(following, Envelope)
    assert isinstance(following.message, Options)


@pytest.mark.parametrize("stream", [-12860, -2, -1, 0, 77])
def test_frame_of_another_version_on_any_stream_is_refused_with_a_reply(stream: int) -> None:
    # The refusal echoes the frame's stream id; one below -1 used to make building it
    # raise LocalProtocolError ("stream id outside -1..32767") out of next_event.
    server = Connection(Role.SERVER)
    server.receive_data(_request_frame(Opcode.OPTIONS, b"", stream=0))
    assert isinstance(server.next_event(), Envelope)
    server.receive_data(_request_frame(Opcode.OPTIONS, b"", stream=stream, version=3))
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert info.value.fatal
    assert server.next_event() is CLOSED
    reply_stream, reply = _decode_reply(info.value.reply)
    assert reply_stream == stream
    assert isinstance(reply, ProtocolViolation)
    assert reply.message.startswith("Invalid message version. Got v3")


# --- a short Hypothesis fuzz into the same entry points -------------------------------------

_FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,  # timed below with the same per-input bound as the seeded run
    suppress_health_check=[HealthCheck.too_slow],
)


def _timed(run: Callable[[], object]) -> None:
    with _no_gc():
        started = time.thread_time()  # CPU time: see _check
        run()
        elapsed = time.thread_time() - started
    assert elapsed < PER_INPUT_SECONDS


@pytest.mark.timeout(120)
@_FUZZ_SETTINGS
@given(
    frame=st.builds(
        RawFrame,
        version=st.sampled_from(VERSIONS),
        direction=st.sampled_from(tuple(Direction)),
        flags=st.integers(0, 0xFF),
        stream=st.integers(-0x8000, 0x7FFF),
        opcode=st.integers(0, 0x12),
        body=st.binary(max_size=2048),
    ),
    version=st.sampled_from(VERSIONS),
)
def test_fuzz_decode_envelope(frame: RawFrame, version: int) -> None:
    _timed(lambda: try_decode(frame, version))


@pytest.mark.timeout(120)
@_FUZZ_SETTINGS
@given(
    data=st.binary(max_size=4096),
    chunk=st.integers(1, 512),
    version=st.sampled_from(VERSIONS),
    header=st.sampled_from((b"", b"\x03", b"\x04", b"\x05", b"\x83", b"\x84", b"\x85")),
)
def test_fuzz_fresh_connections(data: bytes, chunk: int, version: int, header: bytes) -> None:
    data = header + data
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]

    def run() -> None:
        drive(Connection(Role.SERVER), chunks, lambda env: generic_answer(env.message))
        client = Connection(Role.CLIENT, version=version)
        client.send(Envelope(stream=0, message=Startup(options={"CQL_VERSION": "3.0.0"})))
        drive(client, chunks)

    _timed(run)


@pytest.mark.timeout(120)
@_FUZZ_SETTINGS
@given(data=st.binary(max_size=4096), compressed=st.booleans())
def test_fuzz_segment_reader_and_decompression(data: bytes, compressed: bool) -> None:
    def run() -> None:
        drive_segments(SegmentReader(compressed), [data])
        drive_segments(SegmentReader(compressed), [data[i : i + 1] for i in range(len(data))])
        with suppress(RemoteProtocolError):
            decompress_frame_body(data)

    _timed(run)


@pytest.mark.timeout(120)
@_FUZZ_SETTINGS
@given(
    payload=st.binary(max_size=4096),
    opcode=st.sampled_from(tuple(Opcode)),
    scenario_index=st.integers(0, 10_000),
    in_valid_segments=st.booleans(),
)
def test_fuzz_primed_connections(
    payload: bytes, opcode: Opcode, scenario_index: int, in_valid_segments: bool
) -> None:
    """Arbitrary bodies under a valid header, or arbitrary bytes inside segments with valid
    CRCs, into a connection in the middle of a conversation."""
    c = corpus()
    scenario = c.scenarios[scenario_index % len(c.scenarios)]
    first = scenario.items[0]
    if in_valid_segments and first.framed:
        data = encode_frames_as_segments([payload], scenario.segments_compressed)
    else:
        frame = replace(first.raw, opcode=opcode, body=payload)
        data = wrap([(frame.encode(), first.framed)], scenario.segments_compressed, share=False)
    _timed(lambda: drive(scenario.prime(), [data], scenario.answers()))
