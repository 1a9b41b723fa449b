"""A client and a server Connection wired back to back, through whole conversations.

Like h11's tests/helpers.py: both ends are real Connection objects; bytes one sends are fed
to the other, sometimes one byte at a time, and every message must arrive as it was sent.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cassflow.protocol import (
    CLOSED,
    EVENT_STREAM_ID,
    MAX_STREAM_ID,
    NEED_DATA,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    BadCredentials,
    Batch,
    BatchStatement,
    BatchType,
    ColumnSpec,
    Connection,
    ConnectionState,
    Consistency,
    DataType,
    Envelope,
    EventType,
    Execute,
    FrameReader,
    HeaderFlag,
    Invalid,
    LocalProtocolError,
    Message,
    Options,
    Prepare,
    PreparedMetadata,
    PreparedResult,
    ProtocolVersion,
    ProtocolViolation,
    Query,
    QueryParameters,
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
    Startup,
    Supported,
    TypeCode,
    VoidResult,
    decode_envelope,
    decode_rows,
    downgrade_version,
    encode_envelope,
    encode_frames_as_segments,
    encode_rows,
)

VERSIONS = [ProtocolVersion.V3, ProtocolVersion.V4, ProtocolVersion.V5]
COLUMNS = (
    ColumnSpec(keyspace="ks", table="kv", name="k", type=DataType(TypeCode.INT)),
    ColumnSpec(keyspace="ks", table="kv", name="v", type=DataType(TypeCode.VARCHAR)),
)
PASSWORD_AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"


def receive_all(conn: Connection, data: bytes, chunk: int | None = None) -> list[Envelope]:
    """Feed ``data`` (in pieces of ``chunk`` bytes) and collect every message it completes."""
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    received: list[Envelope] = []
    for piece in pieces:
        conn.receive_data(piece)
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            assert isinstance(event, Envelope)
            received.append(event)
    return received


class Pair:
    """A client and a server; every message sent must arrive unchanged."""

    def __init__(
        self, version: int, chunk: int | None = None, server_versions: tuple[int, ...] = (3, 4, 5)
    ) -> None:
        self.client = Connection(Role.CLIENT, version=version)
        self.server = Connection(Role.SERVER, supported_versions=server_versions)
        self.chunk = chunk

    def to_server(self, stream: int, message: Message, **extra: Any) -> Envelope:
        return self._deliver(
            self.client, self.server, Envelope(stream=stream, message=message, **extra)
        )

    def to_client(self, stream: int, message: Message, **extra: Any) -> Envelope:
        return self._deliver(
            self.server, self.client, Envelope(stream=stream, message=message, **extra)
        )

    def _deliver(self, sender: Connection, receiver: Connection, sent: Envelope) -> Envelope:
        (got,) = receive_all(receiver, sender.send(sent), self.chunk)
        assert got.message == sent.message
        assert got.stream == sent.stream
        return got

    def exchange(self, stream: int, request: Message, answer: Message) -> Envelope:
        self.to_server(stream, request)
        return self.to_client(stream, answer)

    def start(self, compression: str | None = None, authenticate: bool = True) -> None:
        options = {"CQL_VERSION": "3.0.0"} | ({"COMPRESSION": compression} if compression else {})
        if not authenticate:
            self.exchange(0, Startup(options=options), Ready())
        else:
            self.exchange(
                0, Startup(options=options), Authenticate(authenticator=PASSWORD_AUTHENTICATOR)
            )
            assert self.client.state is ConnectionState.AUTHENTICATING
            assert self.server.state is ConnectionState.AUTHENTICATING
            self.exchange(
                1, AuthResponse(token=b"\x00user\x00first"), AuthChallenge(token=b"again")
            )
            self.exchange(2, AuthResponse(token=b"\x00user\x00second"), AuthSuccess(token=None))
        assert self.client.state is ConnectionState.READY
        assert self.server.state is ConnectionState.READY
        assert self.client.compression == compression == self.server.compression


@pytest.mark.parametrize("compression", [None, "lz4"])
@pytest.mark.parametrize("version", VERSIONS)
def test_full_conversation(version: ProtocolVersion, compression: str | None) -> None:
    pair = Pair(version)
    pair.exchange(
        0, Options(), Supported(options={"CQL_VERSION": ("3.4.6",), "COMPRESSION": ("lz4",)})
    )
    pair.start(compression)

    # A SELECT paged over three pages, each page asked for with the previous paging state.
    values = [(i, f"value-{i}" * 3) for i in range(250)]
    paging_state: bytes | None = None
    seen: list[tuple[object, ...]] = []
    for page in range(3):
        query = Query(
            query="SELECT k, v FROM ks.kv",
            parameters=QueryParameters(
                consistency=Consistency.LOCAL_QUORUM, page_size=100, paging_state=paging_state
            ),
        )
        chunk = values[page * 100 : (page + 1) * 100]
        next_state = f"state-{page}".encode() if page < 2 else None
        rows = RowsResult(
            metadata=RowsMetadata.of(COLUMNS, paging_state=next_state),
            rows=encode_rows([c.type for c in COLUMNS], chunk, version),
        )
        got = pair.exchange(3, query, rows)
        assert isinstance(got.message, RowsResult)
        seen += decode_rows(COLUMNS, got.message.rows, version)
        paging_state = got.message.metadata.paging_state
    assert seen == values
    assert paging_state is None

    # PREPARE, then EXECUTE with the ids the server gave.
    prepared = PreparedResult(
        query_id=uuid.uuid4().bytes,
        result_metadata_id=b"meta" if version >= 5 else None,
        metadata=PreparedMetadata(
            columns=COLUMNS, partition_key_indexes=(0,) if version >= 4 else ()
        ),
        result_metadata=RowsMetadata(column_count=0),
    )
    pair.exchange(4, Prepare(query="INSERT INTO ks.kv (k, v) VALUES (?, ?)"), prepared)
    bound = encode_rows([c.type for c in COLUMNS], [(1, "one")], version)[0]
    execute = Execute(
        query_id=prepared.query_id,
        result_metadata_id=prepared.result_metadata_id,
        parameters=QueryParameters(values=bound, timestamp=1_234_567),
    )
    pair.exchange(5, execute, VoidResult())

    batch = Batch(
        batch_type=BatchType.UNLOGGED,
        statements=(
            BatchStatement(statement=prepared.query_id, values=bound),
            BatchStatement(statement="DELETE FROM ks.kv WHERE k = 2"),
        ),
        consistency=Consistency.QUORUM,
    )
    pair.exchange(6, batch, VoidResult())

    # REGISTER, then a pushed event and DDL answered with a schema change.
    pair.exchange(7, Register(event_types=(EventType.SCHEMA_CHANGE,)), Ready())
    change = SchemaChange(
        change_type=SchemaChangeType.CREATED,
        target=SchemaChangeTarget.TABLE,
        keyspace="ks",
        name="kv2",
    )
    pair.to_client(EVENT_STREAM_ID, SchemaChangeEvent(change=change))
    pair.exchange(
        8, Query(query="CREATE TABLE ks.kv2 (k int PRIMARY KEY)"), SchemaChangeResult(change=change)
    )
    assert pair.client.in_flight == frozenset()
    assert pair.server.in_flight == frozenset()


@pytest.mark.parametrize("version", VERSIONS)
def test_one_byte_at_a_time(version: ProtocolVersion) -> None:
    pair = Pair(version, chunk=1)
    pair.start("lz4")
    rows = RowsResult(
        metadata=RowsMetadata.of(COLUMNS),
        rows=encode_rows([c.type for c in COLUMNS], [(i, "x" * i) for i in range(40)], version),
    )
    pair.exchange(3, Query(query="SELECT k, v FROM ks.kv"), rows)


@pytest.mark.parametrize("version", VERSIONS)
def test_multiplexed_streams_answered_out_of_order(version: ProtocolVersion) -> None:
    pair = Pair(version)
    pair.start(authenticate=False)
    streams = [pair.client.free_stream_id() for _ in range(3)]
    requests = [Envelope(stream=s, message=Query(query=f"SELECT {s}")) for s in streams]
    # All three requests go out in one write; on v5 they share one segment.
    received = receive_all(pair.server, pair.client.send_many(requests))
    assert [e.stream for e in received] == streams
    assert pair.client.in_flight == frozenset(streams) == pair.server.in_flight
    for stream in reversed(streams):
        answer = Invalid(message=f"no table {stream}")
        (got,) = receive_all(pair.client, pair.server.send(Envelope(stream=stream, message=answer)))
        assert got.stream == stream
        assert got.message == answer
    assert pair.client.in_flight == frozenset()


def test_free_stream_id_skips_streams_in_flight() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    first = pair.client.free_stream_id()
    pair.client.send(Envelope(stream=first + 1, message=Query(query="SELECT 1")))
    assert pair.client.free_stream_id() == first + 2


def test_stream_ids_run_out() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    for stream in range(MAX_STREAM_ID + 1):
        pair.client.send(Envelope(stream=stream, message=Query(query="SELECT 1")))
    with pytest.raises(LocalProtocolError, match="in flight"):
        pair.client.free_stream_id()


def test_tracing_warnings_and_custom_payload_arrive() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    request = pair.to_server(3, Query(query="SELECT 1"), tracing=True, custom_payload={"k": b"v"})
    assert request.tracing
    assert request.custom_payload == {"k": b"v"}
    trace = uuid.uuid4()
    answer = pair.to_client(3, VoidResult(), tracing_id=trace, warnings=("Aggregation query used",))
    assert answer.tracing_id == trace
    assert answer.warnings == ("Aggregation query used",)


# --- the state machine --------------------------------------------------------------------


def test_client_cannot_query_before_startup() -> None:
    client = Connection(Role.CLIENT, version=4)
    with pytest.raises(LocalProtocolError, match="QUERY in state IDLE"):
        client.send(Envelope(stream=0, message=Query(query="SELECT 1")))


def test_server_refuses_query_before_startup_and_goes_on() -> None:
    client_bytes = Connection(Role.CLIENT, version=4)
    # Build a QUERY frame the state machine would not let a client send: go around it.
    client_bytes.state = ConnectionState.READY
    frame = client_bytes.send(Envelope(stream=9, message=Query(query="SELECT 1")))
    server = Connection(Role.SERVER)
    server.receive_data(frame)
    with pytest.raises(RemoteProtocolError) as caught:
        server.next_event()
    assert not caught.value.fatal
    assert caught.value.stream == 9
    reply = FrameReader()
    assert caught.value.reply is not None
    reply.feed(caught.value.reply)
    raw = reply.next_frame()
    assert raw is not None
    refusal = decode_envelope(raw, 4)
    assert refusal.stream == 9
    assert refusal.message == ProtocolViolation(
        message="Unexpected message QUERY, expecting STARTUP or OPTIONS"
    )
    # The connection is still usable: OPTIONS is fine before STARTUP.
    client = Connection(Role.CLIENT, version=4)
    (got,) = receive_all(server, client.send(Envelope(stream=1, message=Options())))
    assert got.message == Options()


def test_server_refuses_second_startup() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    pair.client.state = ConnectionState.IDLE  # a misbehaving client
    data = pair.client.send(Envelope(stream=5, message=Startup(options={"CQL_VERSION": "3.0.0"})))
    pair.server.receive_data(data)
    with pytest.raises(RemoteProtocolError, match="already initialized") as caught:
        pair.server.next_event()
    assert not caught.value.fatal
    assert pair.server.state is ConnectionState.READY


def test_failed_authentication_can_be_retried() -> None:
    pair = Pair(5)
    startup = Startup(options={"CQL_VERSION": "3.0.0"})
    pair.exchange(0, startup, Authenticate(authenticator=PASSWORD_AUTHENTICATOR))
    refused = BadCredentials(message="Provided username user and/or password are incorrect")
    pair.exchange(1, AuthResponse(token=b"\x00user\x00wrong"), refused)
    assert pair.client.state is ConnectionState.AUTHENTICATING
    pair.exchange(2, AuthResponse(token=b"\x00user\x00right"), AuthSuccess())
    assert pair.client.state is ConnectionState.READY


def test_failed_startup_returns_to_idle() -> None:
    pair = Pair(4)
    startup = Startup(options={"CQL_VERSION": "9.9.9"})
    pair.exchange(0, startup, ProtocolViolation(message="Unknown CQL version 9.9.9"))
    assert pair.client.state is ConnectionState.IDLE
    assert pair.server.state is ConnectionState.IDLE
    pair.start(authenticate=False)


def test_server_cannot_answer_a_request_it_did_not_get() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    with pytest.raises(LocalProtocolError, match="no request in flight on stream 77"):
        pair.server.send(Envelope(stream=77, message=VoidResult()))


def test_answer_of_the_wrong_kind_is_refused() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    pair.to_server(3, Options())
    with pytest.raises(LocalProtocolError, match="RESULT cannot answer OPTIONS"):
        pair.server.send(Envelope(stream=3, message=VoidResult()))


def test_client_refuses_an_answer_on_an_idle_stream() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    pair.to_server(3, Query(query="SELECT 1"))
    data = pair.server.send(Envelope(stream=3, message=VoidResult()))
    receive_all(pair.client, data)
    with pytest.raises(RemoteProtocolError, match="no request in flight"):
        receive_all(pair.client, data)  # the same answer a second time
    assert pair.client.state is ConnectionState.CLOSED
    assert pair.client.next_event() is CLOSED


def test_event_before_ready_is_a_protocol_violation() -> None:
    server = Connection(Role.SERVER)
    server.version = ProtocolVersion.V4
    server.state = ConnectionState.READY  # craft the bytes of a premature push
    change = SchemaChange(
        change_type=SchemaChangeType.DROPPED, target=SchemaChangeTarget.KEYSPACE, keyspace="ks"
    )
    data = server.send(Envelope(stream=-1, message=SchemaChangeEvent(change=change)))
    client = Connection(Role.CLIENT, version=4)
    client.send(Envelope(stream=0, message=Options()))
    with pytest.raises(RemoteProtocolError, match="EVENT pushed in state IDLE"):
        receive_all(client, data)


def test_stream_reuse_by_a_client_is_fatal_for_the_server() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    request = Envelope(stream=4, message=Query(query="SELECT 1"))
    data = pair.client.send(request)
    receive_all(pair.server, data)
    with pytest.raises(RemoteProtocolError, match="reused") as caught:
        receive_all(pair.server, data)
    assert caught.value.fatal
    assert pair.server.state is ConnectionState.CLOSED


# --- compression --------------------------------------------------------------------------


def test_client_will_not_ask_for_unknown_compression() -> None:
    client = Connection(Role.CLIENT, version=4)
    startup = Startup(options={"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"})
    with pytest.raises(LocalProtocolError, match="unsupported compression 'snappy'"):
        client.send(Envelope(stream=0, message=startup))


def test_server_must_refuse_unknown_compression() -> None:
    client = Connection(Role.CLIENT, version=4)
    client.state = ConnectionState.IDLE
    startup = Startup(options={"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"})
    # Encode past the client-side check to play a client that asks for snappy.
    data = encode_envelope(Envelope(stream=0, message=startup), 4).encode()
    server = Connection(Role.SERVER)
    (got,) = receive_all(server, data)
    assert got.message == startup
    with pytest.raises(LocalProtocolError, match="snappy"):
        server.send(Envelope(stream=0, message=Ready()))
    server.send(Envelope(stream=0, message=ProtocolViolation(message="Unknown compression")))
    assert server.state is ConnectionState.IDLE
    assert server.compression is None


def test_v4_frames_are_compressed_after_startup() -> None:
    pair = Pair(4)
    pair.start("lz4", authenticate=False)
    data = pair.client.send(Envelope(stream=3, message=Query(query="SELECT " + "x, " * 200)))
    assert data[1] & HeaderFlag.COMPRESSION
    assert len(data) < 300
    receive_all(pair.server, data)


def test_compressed_frame_without_agreement_is_refused_but_not_fatal() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    data = bytearray(pair.client.send(Envelope(stream=3, message=Query(query="SELECT 1"))))
    data[1] |= HeaderFlag.COMPRESSION
    pair.server.receive_data(bytes(data))
    with pytest.raises(RemoteProtocolError, match="no compression agreed") as caught:
        pair.server.next_event()
    assert not caught.value.fatal
    assert caught.value.reply is not None


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_v5_switches_to_segments_after_ready(compression: str | None) -> None:
    pair = Pair(5)
    options = {"CQL_VERSION": "3.0.0"} | ({"COMPRESSION": compression} if compression else {})
    startup_bytes = pair.client.send(Envelope(stream=0, message=Startup(options=options)))
    assert startup_bytes[0] == 5  # unframed: a plain v5 frame header
    receive_all(pair.server, startup_bytes)
    ready_bytes = pair.server.send(Envelope(stream=0, message=Ready()))
    assert ready_bytes[0] == 0x85  # still unframed
    receive_all(pair.client, ready_bytes)
    query_bytes = pair.client.send(Envelope(stream=1, message=Query(query="SELECT 1")))
    segments = SegmentReader(compressed=compression is not None)
    segments.feed(query_bytes)
    segment = segments.next_segment()
    assert segment is not None
    payload, self_contained = segment
    assert self_contained
    assert payload[0] == 5
    (got,) = receive_all(pair.server, query_bytes)
    assert got.message == Query(query="SELECT 1")


# --- version negotiation ------------------------------------------------------------------


def refusal_of(server: Connection, first_bytes: bytes) -> tuple[RemoteProtocolError, bytes]:
    server.receive_data(first_bytes)
    with pytest.raises(RemoteProtocolError) as caught:
        server.next_event()
    assert caught.value.fatal
    assert server.state is ConnectionState.CLOSED
    assert caught.value.reply is not None
    return caught.value, caught.value.reply


def test_newer_client_is_refused_and_downgrades() -> None:
    server = Connection(Role.SERVER, supported_versions=(3, 4))
    client = Connection(Role.CLIENT, version=5)
    error, reply = refusal_of(server, client.send(Envelope(stream=0, message=Options())))
    expected = "Invalid or unsupported protocol version (5); supported versions are (3/v3, 4/v4)"
    assert str(error) == expected
    assert reply[0] == 0x84  # answered in the server's newest version, as Cassandra does
    (got,) = receive_all(client, reply)
    assert got.message == ProtocolViolation(message=expected)
    assert downgrade_version(got.message, 5) == ProtocolVersion.V4
    pair = Pair(4, server_versions=(3, 4))
    pair.start(authenticate=False)


@pytest.mark.parametrize("legacy", [1, 2])
def test_retired_versions_are_refused_in_their_own_framing(legacy: int) -> None:
    server = Connection(Role.SERVER)
    # v1/v2 header: version, flags, one-byte stream, opcode, length.
    request = bytes([legacy, 0, 0, 0x05, 0, 0, 0, 0])
    _, reply = refusal_of(server, request)
    assert reply[0] == 0x80 | legacy
    assert reply[3] == 0x00  # ERROR, at the 8-byte header's opcode position
    reader = FrameReader()
    reader.feed(reply)
    raw = reader.next_frame()
    assert raw is not None
    assert raw.version == legacy
    refusal = decode_envelope(raw, 3)
    assert isinstance(refusal.message, ProtocolViolation)
    assert f"({legacy})" in refusal.message.message


def test_future_version_is_refused_in_newest_version() -> None:
    server = Connection(Role.SERVER)
    _, reply = refusal_of(server, bytes([0x06, 0x10, 0, 0, 0x05, 0, 0, 0, 0]))
    assert reply[0] == 0x85


def test_server_refuses_a_version_change_mid_connection() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    other = Connection(Role.CLIENT, version=3)
    other.state = ConnectionState.READY
    error, reply = refusal_of(pair.server, other.send(Envelope(stream=2, message=Query(query="x"))))
    assert "Invalid message version" in str(error)
    reader = FrameReader()
    reader.feed(reply)
    assert reader.next_frame() is not None


@pytest.mark.parametrize(
    ("message", "current", "expected"),
    [
        (
            "Invalid or unsupported protocol version (66); "
            "supported versions are (3/v3, 4/v4, 5/v5, 6/v6-beta)",
            66,
            5,
        ),
        ("Invalid or unsupported protocol version (5); supported versions are (3/v3, 4/v4)", 5, 4),
        ("Beta version of the protocol used (5/v5-beta), but USE_BETA flag is unset", 5, 4),
        ("Invalid or unsupported protocol version: 4", 4, 3),
        (
            "Invalid or unsupported protocol version (3); supported versions are (4/v4, 5/v5)",
            3,
            None,
        ),
    ],
)
def test_downgrade_version(message: str, current: int, expected: int | None) -> None:
    assert downgrade_version(ProtocolViolation(message=message), current) == expected


def test_downgrade_ignores_other_errors() -> None:
    assert downgrade_version(Invalid(message="unsupported protocol version"), 5) is None
    assert downgrade_version(ProtocolViolation(message="bad frame"), 5) is None


# --- end of stream ------------------------------------------------------------------------


def test_clean_close() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    pair.client.receive_data(b"")
    assert pair.client.next_event() is CLOSED
    assert pair.client.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError, match="closed"):
        pair.client.send(Envelope(stream=3, message=Query(query="SELECT 1")))


def test_close_in_the_middle_of_a_frame() -> None:
    pair = Pair(4)
    pair.start(authenticate=False)
    data = pair.client.send(Envelope(stream=3, message=Query(query="SELECT 1")))
    pair.server.receive_data(data[:-3])
    assert pair.server.next_event() is NEED_DATA
    pair.server.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed with"):
        pair.server.next_event()


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_version_change_on_a_v5_connection_is_refused_in_a_segment(
    compression: str | None,
) -> None:
    pair = Pair(5)
    pair.start(compression, authenticate=False)
    stray = encode_envelope(Envelope(stream=2, message=Query(query="SELECT 1")), 4).encode()
    framed = encode_frames_as_segments([stray], compression is not None)
    _, reply = refusal_of(pair.server, framed)
    segments = SegmentReader(compressed=compression is not None)
    segments.feed(reply)
    segment = segments.next_segment()
    assert segment is not None
    reader = FrameReader()
    reader.feed(segment[0])
    raw = reader.next_frame()
    assert raw is not None
    assert raw.stream == 2
    refusal = decode_envelope(raw, 5)
    assert isinstance(refusal.message, ProtocolViolation)
    assert "Invalid message version" in refusal.message.message
