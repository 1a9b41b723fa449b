"""Relaying frames without decoding them: what a proxy does with most of what it carries.

A client talks to a relay's server end; the relay passes the frames on, undecoded, through its
client end to a server, and the answers back the same way. Whatever either end sends must
arrive as it was sent, on every version, with and without compression, and the peeks a relay
uses (EXECUTE's head, RESULT's kind and row count) must agree with full decoding.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    executes,
    queries,
    request_envelopes,
    response_envelopes,
    results,
)
from test_connection import Pair, receive_all

from cassflow.protocol import (
    NEED_DATA,
    Connection,
    Direction,
    Envelope,
    Execute,
    LocalProtocolError,
    Opcode,
    Prepare,
    Query,
    RawFrame,
    RemoteProtocolError,
    ResultKind,
    RowsResult,
    VoidResult,
    body_offset,
    decode_envelope,
    encode_envelope,
    peek_execute,
    peek_result,
)
from cassflow.protocol._codec_requests import _peek_execute_checked, _peek_execute_fast

REQUESTS = frozenset({Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH})
ANSWERS = frozenset({Opcode.RESULT, Opcode.ERROR})
CASES = [(3, None), (4, None), (4, "lz4"), (5, None), (5, "lz4")]


def relayed(conn: Connection, data: bytes, relay: frozenset[int]) -> list[Envelope | RawFrame]:
    """Feed ``data`` and collect every event, relayed frames as they are."""
    conn.receive_data(data)
    events: list[Envelope | RawFrame] = []
    while (event := conn.next_relay_event(relay)) is not NEED_DATA:
        assert isinstance(event, Envelope | RawFrame)
        events.append(event)
    return events


class Relay:
    """client -> (front: the relay's server end) -> (back: its client end) -> server."""

    def __init__(self, version: int, compression: str | None) -> None:
        self.front = Pair(version)
        self.back = Pair(version)
        self.front.start(compression)
        self.back.start(compression)

    def request(self, sent: Envelope, upstream_stream: int) -> Envelope:
        (frame,) = relayed(self.front.server, self.front.client.send(sent), REQUESTS)
        assert isinstance(frame, RawFrame)
        assert frame.stream == sent.stream
        (got,) = receive_all(
            self.back.server, self.back.client.relay_frames([(frame, upstream_stream)])
        )
        return got

    def answer(self, sent: Envelope, client_stream: int) -> Envelope:
        (frame,) = relayed(self.back.client, self.back.server.send(sent), ANSWERS)
        assert isinstance(frame, RawFrame)
        (got,) = receive_all(
            self.front.client, self.front.server.relay_frames([(frame, client_stream)])
        )
        return got


@pytest.mark.parametrize(("version", "compression"), CASES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_relayed_requests_and_answers_arrive_as_sent(
    version: int, compression: str | None, data: st.DataObject
) -> None:
    relay = Relay(version, compression)
    request = data.draw(request_envelopes(version, executes(version) | queries(version)))
    got = relay.request(request, upstream_stream=7)
    assert got.message == request.message
    assert (got.stream, got.tracing) == (7, request.tracing)
    assert got.custom_payload == request.custom_payload
    answer = data.draw(response_envelopes(version, results(version)))
    answer = Envelope(
        stream=7,
        message=answer.message,
        tracing_id=answer.tracing_id,
        tracing=answer.tracing,
        warnings=answer.warnings,
        custom_payload=answer.custom_payload,
    )
    back = relay.answer(answer, client_stream=request.stream)
    assert back.message == answer.message
    assert back.stream == request.stream
    assert (back.tracing_id, back.warnings, back.custom_payload) == (
        answer.tracing_id,
        answer.warnings,
        answer.custom_payload,
    )


@pytest.mark.parametrize("version", [3, 4, 5])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_execute_head_is_what_decoding_finds(version: int, data: st.DataObject) -> None:
    envelope = data.draw(request_envelopes(version, executes(version)))
    frame = encode_envelope(envelope, version)
    head = peek_execute(frame.body, body_offset(frame), version)
    message = envelope.message
    assert isinstance(message, Execute)
    parameters = message.parameters
    assert head == (
        message.query_id,
        parameters.consistency,
        parameters.serial_consistency,
        parameters.page_size,
    )
    # Every cut the decoder refuses, the peek refuses too: nothing malformed slips through.
    cut = data.draw(st.integers(body_offset(frame), len(frame.body) - 1))
    short = dataclasses.replace(frame, body=frame.body[:cut])
    try:
        decode_envelope(short, version)
    except RemoteProtocolError:
        with pytest.raises(RemoteProtocolError):
            peek_execute(short.body, body_offset(short), version)


@pytest.mark.parametrize("version", [3, 4, 5])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_result_head_is_what_decoding_finds(version: int, data: st.DataObject) -> None:
    envelope = data.draw(response_envelopes(version, results(version)))
    frame = encode_envelope(envelope, version)
    head = peek_result(frame.body, body_offset(frame))
    message = envelope.message
    assert head.kind == message.kind  # type: ignore[attr-defined]
    assert head.rows == (len(message.rows) if isinstance(message, RowsResult) else 0)


def test_only_the_named_opcodes_are_relayed_and_state_is_kept() -> None:
    pair = Pair(4)
    pair.start()
    sent = pair.client.send_many(
        [
            Envelope(stream=5, message=Prepare(query="SELECT 1")),
            Envelope(stream=6, message=Query(query="SELECT 2")),
        ]
    )
    prepare, query = relayed(pair.server, sent, frozenset({Opcode.QUERY}))
    assert isinstance(prepare, Envelope)
    assert isinstance(prepare.message, Prepare)
    assert isinstance(query, RawFrame)
    assert query.opcode == Opcode.QUERY
    assert pair.server.in_flight == {5, 6}
    answer = RawFrame(
        version=4,
        direction=Direction.RESPONSE,
        flags=0,
        stream=6,
        opcode=Opcode.RESULT,
        body=encode_envelope(Envelope(stream=6, message=VoidResult()), 4).body,
    )
    (got,) = receive_all(pair.client, pair.server.relay_frames([(answer, 6)]))
    assert isinstance(got.message, VoidResult)
    assert got.stream == 6
    assert pair.server.in_flight == {5}
    with pytest.raises(LocalProtocolError, match="no request in flight on stream 6"):
        pair.server.relay_frames([(answer, 6)])


def test_a_relay_cannot_send_startup_or_the_wrong_direction() -> None:
    pair = Pair(4)
    pair.start()
    request = encode_envelope(Envelope(stream=1, message=Query(query="SELECT 1")), 4)
    with pytest.raises(LocalProtocolError, match="cannot relay QUERY"):
        pair.server.relay_frames([(request, 1)])
    unknown = RawFrame(
        version=4, direction=request.direction, flags=0, stream=1, opcode=0x7F, body=b""
    )
    with pytest.raises(LocalProtocolError, match="unknown opcode"):
        pair.client.relay_frames([(unknown, 1)])


def test_an_unknown_result_kind_is_refused_by_the_peek() -> None:
    with pytest.raises(RemoteProtocolError, match="unknown RESULT kind"):
        peek_result(b"\x00\x00\x00\x09", 0)
    assert peek_result(b"\x00\x00\x00\x01", 0) == (ResultKind.VOID, 0)


@pytest.mark.parametrize("version", [3, 4, 5])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_fast_execute_peek_never_accepts_what_the_checked_one_refuses(
    version: int, data: st.DataObject
) -> None:
    envelope = data.draw(request_envelopes(version, executes(version)))
    body = bytearray(encode_envelope(envelope, version).body)
    start = body_offset(encode_envelope(envelope, version))
    for _ in range(data.draw(st.integers(1, 3))):  # damage a few bytes
        at = data.draw(st.integers(start, len(body) - 1))
        body[at] = data.draw(st.integers(0, 255))
    damaged = bytes(body)
    fast = _peek_execute_fast(damaged, start, version)
    try:
        checked = _peek_execute_checked(damaged, start, version)
    except RemoteProtocolError:
        assert fast is None
    else:
        assert fast in (None, checked)
