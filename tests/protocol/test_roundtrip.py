"""Round trips through the codec: every message kind, every error code, every version.

For each protocol version, an envelope encoded with :func:`encode_envelope` and decoded with
:func:`decode_envelope` must come back equal, also after its frame went through bytes and a
:class:`FrameReader`. Errors a version does not know come back as the error Cassandra sends
such a client instead (:func:`backwards_compatible_error`). The coverage tests are
parametrized over the protocol's enums, so an opcode, error code, result kind, event type or
schema change target without a strategy fails here. What a version cannot carry must be
refused with :class:`LocalProtocolError`.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    ERROR_STRATEGIES,
    EVENT_STRATEGIES,
    MESSAGE_STRATEGIES,
    REQUEST_OPCODES,
    RESULT_STRATEGIES,
    envelopes,
    error_code_is_native,
    expected_after_roundtrip,
    request_envelopes,
    response_envelopes,
    schema_change_events,
    schema_change_results,
)

from cassflow.protocol import (
    ERROR_CLASSES,
    EVENT_STREAM_ID,
    SUPPORTED_VERSIONS,
    UNSET,
    Batch,
    BatchStatement,
    CasWriteUnknown,
    CdcWriteFailure,
    ColumnSpec,
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
    LocalProtocolError,
    Message,
    Opcode,
    Prepare,
    PreparedMetadata,
    PreparedResult,
    Query,
    QueryParameters,
    RawFrame,
    ReadFailure,
    ReadTimeout,
    Ready,
    ResultKind,
    RowsMetadata,
    RowsResult,
    SchemaChangeEvent,
    SchemaChangeResult,
    SchemaChangeTarget,
    TypeCode,
    VoidResult,
    WriteFailure,
    WriteTimeout,
    WriteType,
    backwards_compatible_error,
    decode_envelope,
    encode_body,
    encode_envelope,
)

VERSIONS = pytest.mark.parametrize("version", SUPPORTED_VERSIONS, ids=lambda v: f"v{int(v)}")

# --- helpers ------------------------------------------------------------------------------


def expected(envelope: Envelope, version: int) -> Envelope:
    """The envelope decoding must give back (see ``expected_after_roundtrip``)."""
    return dataclasses.replace(
        envelope, message=expected_after_roundtrip(envelope.message, version)
    )


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length, in order)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def read_all(chunks: list[bytes]) -> list[RawFrame]:
    """Feed ``chunks`` to a FrameReader one by one, collecting every frame it completes."""
    reader = FrameReader()
    frames = []
    for chunk in chunks:
        reader.feed(chunk)
        while (frame := reader.next_frame()) is not None:
            frames.append(frame)
    assert reader.buffered == 0
    assert reader.next_frame() is None
    return frames


def check_roundtrip(envelope: Envelope, version: int, cuts: list[int] | None = None) -> Envelope:
    """Encode ``envelope``, check the frame header, push the frame through bytes and a
    FrameReader, decode it, check it equals what it must, and return it."""
    frame = encode_envelope(envelope, version)
    message = envelope.message
    assert frame.version == version
    assert frame.opcode == message.opcode
    assert frame.stream == envelope.stream
    want_direction = Direction.REQUEST if message.opcode in REQUEST_OPCODES else Direction.RESPONSE
    assert frame.direction is want_direction
    assert bool(frame.flags & HeaderFlag.TRACING) == envelope.tracing
    assert bool(frame.flags & HeaderFlag.WARNING) == bool(envelope.warnings)
    assert bool(frame.flags & HeaderFlag.CUSTOM_PAYLOAD) == (envelope.custom_payload is not None)
    assert not frame.flags & HeaderFlag.COMPRESSION

    assert decode_envelope(frame, version) == expected(envelope, version)

    data = frame.encode()
    assert len(data) == 9 + len(frame.body)
    (announced,) = struct.unpack_from(">i", data, 5)
    assert announced == len(frame.body)
    (received,) = read_all(split_at(data, cuts or []))
    assert received == frame
    decoded = decode_envelope(received, version)
    assert decoded == expected(envelope, version)
    return decoded


# --- whole envelopes, per version ---------------------------------------------------------


@VERSIONS
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_request_envelopes_roundtrip(version: int, data: st.DataObject) -> None:
    envelope = data.draw(request_envelopes(version), label="envelope")
    cuts = data.draw(st.lists(st.integers(0, 1 << 16), max_size=4), label="cuts")
    check_roundtrip(envelope, version, cuts)


@VERSIONS
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_response_envelopes_roundtrip(version: int, data: st.DataObject) -> None:
    envelope = data.draw(response_envelopes(version), label="envelope")
    cuts = data.draw(st.lists(st.integers(0, 1 << 16), max_size=4), label="cuts")
    check_roundtrip(envelope, version, cuts)


# --- coverage: each opcode, result kind, event type, schema change target -----------------


def test_every_opcode_has_a_strategy() -> None:
    assert set(MESSAGE_STRATEGIES) == set(Opcode)


@pytest.mark.parametrize("opcode", list(Opcode), ids=lambda op: op.name)
@VERSIONS
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_each_opcode_roundtrips(opcode: Opcode, version: int, data: st.DataObject) -> None:
    envelope = data.draw(envelopes(version, opcode), label="envelope")
    assert envelope.message.opcode is opcode
    decoded = check_roundtrip(envelope, version)
    assert decoded.message.opcode is opcode


def test_every_result_kind_has_a_strategy() -> None:
    assert set(RESULT_STRATEGIES) == set(ResultKind)


@pytest.mark.parametrize("kind", list(ResultKind), ids=lambda k: k.name)
@VERSIONS
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_each_result_kind_roundtrips(kind: ResultKind, version: int, data: st.DataObject) -> None:
    envelope = data.draw(response_envelopes(version, RESULT_STRATEGIES[kind](version)))
    decoded = check_roundtrip(envelope, version)
    assert getattr(decoded.message, "kind", None) is kind


def test_every_event_type_has_a_strategy() -> None:
    assert set(EVENT_STRATEGIES) == set(EventType)


@pytest.mark.parametrize("event_type", list(EventType), ids=lambda e: e.name)
@VERSIONS
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_each_event_type_roundtrips(
    event_type: EventType, version: int, data: st.DataObject
) -> None:
    envelope = data.draw(response_envelopes(version, EVENT_STRATEGIES[event_type](version)))
    assert envelope.stream == EVENT_STREAM_ID
    decoded = check_roundtrip(envelope, version)
    assert getattr(decoded.message, "event_type", None) is event_type


@pytest.mark.parametrize("target", list(SchemaChangeTarget), ids=lambda t: t.name)
@pytest.mark.parametrize("carrier", ["result", "event"])
@VERSIONS
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_each_schema_change_target_roundtrips(
    target: SchemaChangeTarget, carrier: str, version: int, data: st.DataObject
) -> None:
    messages = (schema_change_results if carrier == "result" else schema_change_events)(
        version, target
    )
    envelope = data.draw(response_envelopes(version, messages))
    decoded = check_roundtrip(envelope, version)
    assert isinstance(decoded.message, SchemaChangeResult | SchemaChangeEvent)
    assert decoded.message.change.target is target


# --- coverage: each error code ------------------------------------------------------------


def test_every_error_code_has_a_class_and_a_strategy() -> None:
    assert set(ERROR_CLASSES) == set(ErrorCode)
    assert set(ERROR_STRATEGIES) == set(ErrorCode)
    for code, cls in ERROR_CLASSES.items():
        assert cls.code is code


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
@VERSIONS
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_each_error_code_roundtrips(code: ErrorCode, version: int, data: st.DataObject) -> None:
    message = data.draw(ERROR_STRATEGIES[code](version), label="message")
    assert type(message) is ERROR_CLASSES[code]
    envelope = data.draw(response_envelopes(version, st.just(message)), label="envelope")
    decoded = check_roundtrip(envelope, version).message
    assert isinstance(decoded, ErrorMessage)
    sent = backwards_compatible_error(message, version)
    (wire_code,) = struct.unpack_from(">i", encode_body(message, version))
    assert wire_code == sent.code
    if error_code_is_native(code, version):
        assert sent == message
        assert decoded == message
        assert decoded.code is code
    else:
        # The version predates this code: the client gets what Cassandra sends it instead.
        assert type(sent) is not type(message)
        assert decoded == sent
        assert decoded.code is not code


@pytest.mark.parametrize(
    ("message", "version", "want"),
    [
        pytest.param(
            ReadFailure(
                message="m",
                consistency=Consistency.QUORUM,
                received=1,
                block_for=2,
                num_failures=1,
                data_present=True,
            ),
            3,
            ReadTimeout(
                message="m",
                consistency=Consistency.QUORUM,
                received=1,
                block_for=2,
                data_present=True,
            ),
            id="read-failure-v3",
        ),
        pytest.param(
            WriteFailure(
                message="m",
                consistency=Consistency.ONE,
                received=0,
                block_for=1,
                num_failures=1,
                write_type="BATCH",
            ),
            3,
            WriteTimeout(
                message="m",
                consistency=Consistency.ONE,
                received=0,
                block_for=1,
                write_type="BATCH",
            ),
            id="write-failure-v3",
        ),
        pytest.param(
            FunctionFailure(message="boom", keyspace="ks", function="f", arg_types=("int",)),
            3,
            Invalid(message="ERROR FUNCTION_FAILURE: boom"),
            id="function-failure-v3",
        ),
        pytest.param(
            CdcWriteFailure(message="full"),
            3,
            Invalid(message="ERROR CDC_WRITE_FAILURE: full"),
            id="cdc-write-failure-v3",
        ),
        *(
            pytest.param(
                CasWriteUnknown(
                    message="m", consistency=Consistency.SERIAL, received=1, block_for=2
                ),
                version,
                WriteTimeout(
                    message="m",
                    consistency=Consistency.SERIAL,
                    received=1,
                    block_for=2,
                    write_type=WriteType.CAS,
                ),
                id=f"cas-write-unknown-v{version}",
            )
            for version in (3, 4)
        ),
        pytest.param(
            WriteTimeout(
                message="m",
                consistency=Consistency.SERIAL,
                received=1,
                block_for=2,
                write_type=WriteType.CAS,
                contentions=3,
            ),
            4,
            WriteTimeout(
                message="m",
                consistency=Consistency.SERIAL,
                received=1,
                block_for=2,
                write_type=WriteType.CAS,
            ),
            id="cas-contentions-v4",
        ),
    ],
)
def test_older_versions_get_older_errors(
    message: ErrorMessage, version: int, want: Message
) -> None:
    assert backwards_compatible_error(message, version) == want
    frame = encode_envelope(Envelope(stream=3, message=message), version)
    assert decode_envelope(frame, version).message == want


# --- raw frames through bytes -------------------------------------------------------------


@st.composite
def raw_frames(draw: st.DrawFn) -> RawFrame:
    """Any frame a FrameReader must pass through untouched, legacy (v1/v2) headers included."""
    version = draw(st.integers(1, 5))
    stream_bits = 8 if version <= 2 else 16
    return RawFrame(
        version=version,
        direction=draw(st.sampled_from(Direction)),
        flags=draw(st.integers(0, 0xFF)),
        stream=draw(st.integers(-(1 << (stream_bits - 1)), (1 << (stream_bits - 1)) - 1)),
        opcode=draw(st.integers(0, 0xFF)),
        body=draw(st.binary(max_size=64)),
    )


@settings(max_examples=150, deadline=None)
@given(
    frames=st.lists(raw_frames(), min_size=1, max_size=5),
    cuts=st.lists(st.integers(0, 1 << 12), max_size=8),
)
def test_raw_frames_roundtrip_through_frame_reader(frames: list[RawFrame], cuts: list[int]) -> None:
    data = b"".join(frame.encode() for frame in frames)
    assert read_all(split_at(data, cuts)) == frames


@settings(max_examples=30, deadline=None)
@given(frame=raw_frames())
def test_raw_frame_bytes_one_at_a_time(frame: RawFrame) -> None:
    data = frame.encode()
    reader = FrameReader()
    for byte in data[:-1]:
        reader.feed(bytes([byte]))
        assert reader.next_frame() is None
    reader.feed(data[-1:])
    assert reader.next_frame() == frame
    assert reader.buffered == 0


# --- what a version cannot carry ----------------------------------------------------------

_PARAMS_V5 = {
    "keyspace": QueryParameters(keyspace="ks"),
    "now_in_seconds": QueryParameters(now_in_seconds=1_700_000_000),
}
_COLUMN_DATE = ColumnSpec(keyspace="ks", table="t", name="d", type=DataType(TypeCode.DATE))
_COLUMN_DURATION = ColumnSpec(keyspace="ks", table="t", name="d", type=DataType(TypeCode.DURATION))
_ERROR_CASES: list[tuple[str, Envelope, tuple[int, ...]]] = [
    *(
        (f"query-{field}", Envelope(stream=1, message=Query(query="q", parameters=p)), (3, 4))
        for field, p in _PARAMS_V5.items()
    ),
    *(
        (
            f"execute-{field}",
            Envelope(stream=1, message=Execute(query_id=b"id", parameters=p)),
            (3, 4),
        )
        for field, p in _PARAMS_V5.items()
    ),
    ("prepare-keyspace", Envelope(stream=1, message=Prepare(query="q", keyspace="ks")), (3, 4)),
    ("batch-keyspace", Envelope(stream=1, message=Batch(keyspace="ks")), (3, 4)),
    ("batch-now-in-seconds", Envelope(stream=1, message=Batch(now_in_seconds=5)), (3, 4)),
    (
        "execute-result-metadata-id",
        Envelope(stream=1, message=Execute(query_id=b"id", result_metadata_id=b"md")),
        (3, 4),
    ),
    (
        "execute-without-result-metadata-id",
        Envelope(stream=1, message=Execute(query_id=b"id")),
        (5,),
    ),
    (
        "query-unset",
        Envelope(stream=1, message=Query(query="q", parameters=QueryParameters(values=(UNSET,)))),
        (3,),
    ),
    (
        "execute-unset",
        Envelope(
            stream=1,
            message=Execute(query_id=b"i", parameters=QueryParameters(values=(b"x", UNSET))),
        ),
        (3,),
    ),
    (
        "batch-unset",
        Envelope(
            stream=1,
            message=Batch(statements=(BatchStatement(statement="q", values=(UNSET,)),)),
        ),
        (3,),
    ),
    ("response-warnings", Envelope(stream=1, message=Ready(), warnings=("careful",)), (3,)),
    ("request-warnings", Envelope(stream=1, message=Query(query="q"), warnings=("w",)), (3, 4, 5)),
    ("custom-payload", Envelope(stream=1, message=Ready(), custom_payload={"k": b"v"}), (3,)),
    (
        "prepared-result-metadata-id",
        Envelope(stream=1, message=PreparedResult(query_id=b"i", result_metadata_id=b"m")),
        (3, 4),
    ),
    (
        "prepared-without-result-metadata-id",
        Envelope(stream=1, message=PreparedResult(query_id=b"i")),
        (5,),
    ),
    (
        "prepared-partition-key-indexes",
        Envelope(
            stream=1,
            message=PreparedResult(
                query_id=b"i",
                metadata=PreparedMetadata(
                    columns=(
                        ColumnSpec(keyspace="k", table="t", name="c", type=DataType.custom("x")),
                    ),
                    partition_key_indexes=(0,),
                ),
            ),
        ),
        (3,),
    ),
    (
        "rows-new-metadata-id",
        Envelope(
            stream=1,
            message=RowsResult(
                metadata=RowsMetadata.of((_COLUMN_DATE,), new_metadata_id=b"new"),
            ),
        ),
        (3, 4),
    ),
    (
        "rows-date-column",
        Envelope(stream=1, message=RowsResult(metadata=RowsMetadata.of((_COLUMN_DATE,)))),
        (3,),
    ),
    (
        "rows-duration-column",
        Envelope(stream=1, message=RowsResult(metadata=RowsMetadata.of((_COLUMN_DURATION,)))),
        (3, 4),
    ),
    (
        "row-too-narrow",
        Envelope(
            stream=1,
            message=RowsResult(metadata=RowsMetadata(column_count=2), rows=((b"a",),)),
        ),
        (3, 4, 5),
    ),
    (
        "rows-without-columns",
        Envelope(
            stream=1, message=RowsResult(metadata=RowsMetadata(column_count=0), rows=((), ()))
        ),
        (3, 4, 5),
    ),
    (
        "request-with-tracing-id",
        Envelope(stream=1, message=Query(query="q"), tracing_id=uuid.UUID(int=1)),
        (3, 4, 5),
    ),
    ("traced-response-without-id", Envelope(stream=1, message=Ready(), tracing=True), (3, 4, 5)),
    ("stream-too-low", Envelope(stream=-2, message=Query(query="q")), (3, 4, 5)),
    ("stream-too-high", Envelope(stream=32768, message=VoidResult()), (3, 4, 5)),
]


@pytest.mark.parametrize(
    ("envelope", "version"),
    [
        pytest.param(envelope, version, id=f"{name}-v{version}")
        for name, envelope, versions in _ERROR_CASES
        for version in versions
    ],
)
def test_unrepresentable_in_version_is_refused(envelope: Envelope, version: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_envelope(envelope, version)


@pytest.mark.parametrize(
    "envelope",
    [
        Envelope(stream=1, message=Query(query="q", parameters=_PARAMS_V5["keyspace"])),
        Envelope(stream=1, message=Query(query="q", parameters=_PARAMS_V5["now_in_seconds"])),
        Envelope(stream=1, message=Prepare(query="q", keyspace="ks")),
        Envelope(stream=1, message=Batch(keyspace="ks", now_in_seconds=5)),
        Envelope(stream=1, message=Execute(query_id=b"id", result_metadata_id=b"md")),
    ],
)
def test_v5_fields_roundtrip_in_v5(envelope: Envelope) -> None:
    assert decode_envelope(encode_envelope(envelope, 5), 5) == envelope


def test_tracing_id_sets_the_tracing_flag_on_responses_only() -> None:
    tracing_id = uuid.UUID(int=42)
    response = Envelope(stream=4, message=VoidResult(), tracing=True, tracing_id=tracing_id)
    frame = encode_envelope(response, 4)
    assert frame.flags & HeaderFlag.TRACING
    assert frame.body[:16] == tracing_id.bytes
    request = Envelope(stream=4, message=Query(query="q"), tracing=True)
    frame = encode_envelope(request, 4)
    assert frame.flags & HeaderFlag.TRACING
    assert decode_envelope(frame, 4) == request


# --- regressions found by the properties above --------------------------------------------


@VERSIONS
def test_named_batch_value_with_an_empty_name_keeps_its_names(version: int) -> None:
    # Read as unnamed, the empty name and an empty value parse as one empty value, and the
    # bytes after happen to look like an ANY consistency with no flags: the decoder once took
    # that reading and silently dropped the names.
    batch = Batch(
        statements=(BatchStatement(statement="q", values=(b"",), names=("",)),),
        consistency=Consistency.ANY,
    )
    envelope = Envelope(stream=0, message=batch)
    assert decode_envelope(encode_envelope(envelope, version), version) == envelope


@VERSIONS
def test_empty_names_are_not_lost(version: int) -> None:
    # names=() once went out without the names flag and came back as names=None.
    query = Query(query="q", parameters=QueryParameters(values=(), names=()))
    envelope = Envelope(stream=0, message=query)
    assert decode_envelope(encode_envelope(envelope, version), version) == envelope
