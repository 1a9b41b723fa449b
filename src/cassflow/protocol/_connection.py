"""A sans-IO connection for either end of the native protocol (modelled on h11).

Bytes in: :meth:`Connection.receive_data`. Messages out: :meth:`Connection.next_event`,
which returns an :class:`Envelope`, :data:`NEED_DATA` or :data:`CLOSED`. Messages in:
:meth:`Connection.send`, which returns the bytes to write. No sockets, no clocks, no logging.

A relay (the proxy) that passes most frames on untouched uses :meth:`Connection.next_relay_event`
and :meth:`Connection.relay_frames` instead: frames of the opcodes it names come out and go in
as :class:`RawFrame` (decompressed, body undecoded), with the same state checks as messages, so
that forwarding a frame costs no decoding and no re-encoding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from typing import Final

from cassflow.protocol._codec import decode_envelope, direction_of, encode_envelope
from cassflow.protocol._compression import (
    check_compression,
    compress_frame_body,
    decompress_frame_body,
)
from cassflow.protocol._constants import (
    EVENT_STREAM_ID,
    LEGACY_HEADER_VERSIONS,
    MAX_FRAME_BODY_LENGTH,
    MAX_STREAM_ID,
    OPCODE_OF,
    REQUEST_OPCODES,
    SUPPORTED_VERSIONS,
    Direction,
    HeaderFlag,
    Opcode,
    ProtocolVersion,
)
from cassflow.protocol._error_messages import ErrorMessage, ProtocolViolation
from cassflow.protocol._errors import LocalProtocolError, RemoteProtocolError
from cassflow.protocol._frame import FrameReader, RawFrame, pack_header
from cassflow.protocol._messages import Envelope, Startup
from cassflow.protocol._segment import SegmentReader, encode_frames_as_segments
from cassflow.protocol._state import (
    EVENT_STATES,
    REQUEST_TRANSITIONS,
    RESPONSE_TRANSITIONS,
    ConnectionState,
    unexpected_request_message,
)


class Role(Enum):
    """Which end of the connection this object plays."""

    CLIENT = "CLIENT"
    SERVER = "SERVER"


class Signal(Enum):
    """What :meth:`Connection.next_event` returns when it has no message."""

    NEED_DATA = "NEED_DATA"
    CLOSED = "CLOSED"


#: More bytes are needed before the next message can be returned.
NEED_DATA: Final = Signal.NEED_DATA
#: The peer closed the connection and every message before that has been returned.
CLOSED: Final = Signal.CLOSED

_SUPPORTED_VERSIONS_RE: Final = re.compile(r"supported versions are \(([^)]*)\)")
_NO_RELAY: Final[frozenset[int]] = frozenset()
_COMPRESSION_FLAG: Final = int(HeaderFlag.COMPRESSION)
_REQUEST_OPCODE_VALUES: Final = frozenset(int(opcode) for opcode in REQUEST_OPCODES)

#: A reason quotes what the peer sent, so it can outgrow the [string] of the ERROR that
#: carries it back; 16383 characters are at most 65532 bytes of UTF-8.
_MAX_REPLY_REASON: Final = 16383


def unsupported_version_message(version: int, supported: Iterable[ProtocolVersion]) -> str:
    """The text Cassandra sends when a client asks for a version it does not speak."""
    listed = ", ".join(v.description for v in supported)
    return f"Invalid or unsupported protocol version ({version}); supported versions are ({listed})"


def downgrade_version(error: ErrorMessage, current: int) -> ProtocolVersion | None:
    """The version to retry with after ``error`` answered a STARTUP or OPTIONS at ``current``.

    None when the error is not about the version, or no lower version is left. Uses the
    versions the server lists when it lists them (Cassandra does), else steps down by one,
    as the drivers do.
    """
    if not isinstance(error, ProtocolViolation) or (
        "unsupported protocol version" not in error.message.lower()
        and "beta version of the protocol" not in error.message.lower()
    ):
        return None
    match = _SUPPORTED_VERSIONS_RE.search(error.message)
    if match:
        offered = {
            int(number)
            for number in re.findall(r"(\d+)/v\d+(?!-beta)\b", match.group(1))
            if int(number) < current
        }
        candidates = [v for v in SUPPORTED_VERSIONS if v in offered]
        if candidates:
            return max(candidates)
    lower = [v for v in SUPPORTED_VERSIONS if v < current]
    return max(lower) if lower else None


class Connection:
    """Protocol state of one connection, client or server side.

    A client names the version it asks for; a server learns it from the first frame and
    answers unsupported versions the way Cassandra does (see :class:`RemoteProtocolError`'s
    ``reply``). ``max_frame_body_length`` bounds what the peer may announce.
    """

    def __init__(
        self,
        role: Role,
        *,
        version: int | None = None,
        supported_versions: Iterable[int] = SUPPORTED_VERSIONS,
        max_frame_body_length: int = MAX_FRAME_BODY_LENGTH,
    ) -> None:
        self.role = role
        self.supported_versions = tuple(sorted(ProtocolVersion(v) for v in supported_versions))
        if not self.supported_versions:
            raise LocalProtocolError("a connection needs at least one protocol version")
        self.version: ProtocolVersion | None = None
        if version is not None:
            if version not in self.supported_versions:
                raise LocalProtocolError(f"protocol v{version} is not supported here")
            self.version = ProtocolVersion(version)
        elif role is Role.CLIENT:
            self.version = max(self.supported_versions)
        self.state = ConnectionState.IDLE
        #: Compression agreed in STARTUP ("lz4") once it applies, else None.
        self.compression: str | None = None
        self._requested_compression: str | None = None
        self._framed = False  # v5 segments in use
        self._frames = FrameReader(max_frame_body_length)
        self._segments: SegmentReader | None = None
        self._last_segment_self_contained = True
        self._peer_closed = False
        #: Requests awaiting an answer, by stream id (what each one was).
        self._in_flight: dict[int, Opcode] = {}
        self._next_stream = 0

    # --- introspection ---------------------------------------------------------------------

    @property
    def in_flight(self) -> frozenset[int]:
        """Stream ids of requests that have not been answered yet."""
        return frozenset(self._in_flight)

    def free_stream_id(self) -> int:
        """A stream id no request in flight uses (client side)."""
        if len(self._in_flight) > MAX_STREAM_ID:
            raise LocalProtocolError("all 32768 stream ids are in flight")
        while True:
            candidate = self._next_stream
            self._next_stream = (self._next_stream + 1) % (MAX_STREAM_ID + 1)
            if candidate not in self._in_flight:
                return candidate

    # --- receiving -------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Hand over bytes read from the transport; ``b""`` means the peer closed."""
        if not data:
            self._peer_closed = True
            return
        if self._framed and self._segments is not None:
            self._segments.feed(data)
        else:
            self._frames.feed(data)

    def next_event(self) -> Envelope | Signal:
        """The next message received, :data:`NEED_DATA`, or :data:`CLOSED`.

        Raises :class:`RemoteProtocolError` for bytes that break the protocol; when the error
        is fatal the connection is CLOSED from then on.
        """
        event = self._next_event(_NO_RELAY)
        assert not isinstance(event, RawFrame)  # nothing is relayed
        return event

    def next_relay_event(self, relay: frozenset[int]) -> Envelope | RawFrame | Signal:
        """As :meth:`next_event`, but a frame whose opcode is in ``relay`` comes out as it is.

        The frame is decompressed (v4 frame compression; its COMPRESSION flag cleared) and its
        body is not decoded: what it holds is the caller's to check (a malformed body goes on
        to whoever decodes it). State, stream ids and versions are checked as for messages.
        A frame of the wrong direction for its opcode is decoded, so it fails as usual.
        """
        return self._next_event(relay)

    def _next_event(self, relay: frozenset[int]) -> Envelope | RawFrame | Signal:
        if self.state is ConnectionState.CLOSED:
            return CLOSED
        try:
            frame = self._next_frame()
            if frame is not None:
                return self._accept(frame, relay)
            if not self._peer_closed:
                return NEED_DATA
            buffered = self._frames.buffered + (self._segments.buffered if self._segments else 0)
            self.state = ConnectionState.CLOSED
            if buffered:
                raise RemoteProtocolError(f"connection closed with {buffered} bytes of a frame")
            return CLOSED
        except RemoteProtocolError as exc:
            if exc.fatal:
                self.state = ConnectionState.CLOSED
            raise

    def _next_frame(self) -> RawFrame | None:
        if self.role is Role.SERVER and self.version is None:
            self._check_first_version()
        if not self._framed:
            return self._frames.next_frame()
        assert self._segments is not None
        while True:
            frame = self._frames.next_frame()
            if frame is not None:
                return frame
            if self._frames.buffered and self._last_segment_self_contained:
                raise RemoteProtocolError("self-contained segment ends in the middle of a frame")
            segment = self._segments.next_segment()
            if segment is None:
                return None
            payload, self_contained = segment
            if self_contained and self._frames.buffered:
                raise RemoteProtocolError("self-contained segment inside a multi-segment frame")
            self._last_segment_self_contained = self_contained
            self._frames.feed(payload)

    def _check_first_version(self) -> None:
        requested = self._frames.peek_version()
        if requested is None or requested in self.supported_versions:
            return
        # Cassandra answers a retired version (1, 2) in that version's own framing and any
        # other unknown version in its newest one, so that the driver can read the refusal.
        reply_version = (
            requested if requested in LEGACY_HEADER_VERSIONS else max(self.supported_versions)
        )
        error = ProtocolViolation(
            message=unsupported_version_message(requested, self.supported_versions)
        )
        reply = self._encode_error_frame(error, reply_version, stream=0)
        raise RemoteProtocolError(error.message, stream=0, reply=reply, fatal=True)

    def _encode_error_frame(self, error: ErrorMessage, version: int, stream: int) -> bytes:
        # The body does not depend on the stream id, and the header echoes the offending
        # frame's as is, even one below -1 that no envelope may carry (as Cassandra does).
        body = encode_envelope(Envelope(stream=0, message=error), max(version, 3)).body
        encoded = RawFrame(
            version=version,
            direction=Direction.RESPONSE,
            flags=0,
            stream=stream,
            opcode=Opcode.ERROR,
            body=body,
        ).encode()
        if self._framed:  # past a v5 handshake every byte, refusals too, travels in segments
            return encode_frames_as_segments([encoded], self.compression is not None)
        return encoded

    def _accept(self, frame: RawFrame, relay: frozenset[int]) -> Envelope | RawFrame:
        version = self._frame_version(frame)
        if frame.flags & _COMPRESSION_FLAG and not self._framed:
            if not self._decompression_allowed():
                raise self._bad_request(frame, "compressed frame but no compression agreed")
            try:
                frame = _replace_body(frame, decompress_frame_body(frame.body))
            except RemoteProtocolError as exc:
                raise self._bad_request(frame, str(exc)) from None
        if frame.opcode in relay and (frame.opcode in _REQUEST_OPCODE_VALUES) == (
            frame.direction is Direction.REQUEST
        ):
            return self._accept_relayed(frame)
        try:
            envelope = decode_envelope(frame, version)
        except RemoteProtocolError as exc:
            raise self._bad_request(frame, str(exc)) from None
        if self.role is Role.SERVER:
            self._on_request_received(envelope.stream, envelope.message.opcode, frame)
            if isinstance(envelope.message, Startup):
                self._requested_compression = envelope.message.compression
        else:
            self._on_response_received(envelope.stream, envelope.message.opcode)
        return envelope

    def _accept_relayed(self, frame: RawFrame) -> RawFrame:
        opcode = OPCODE_OF[frame.opcode]
        if self.role is Role.SERVER:
            self._on_request_received(frame.stream, opcode, frame)
        else:
            self._on_response_received(frame.stream, opcode)
        if frame.flags & _COMPRESSION_FLAG:  # v5: the segment was the compressed unit
            frame = _replace_body(frame, frame.body)
        return frame

    def _frame_version(self, frame: RawFrame) -> ProtocolVersion:
        if self.role is Role.SERVER and self.version is None:
            self.version = ProtocolVersion(frame.version)
        assert self.version is not None
        if frame.version == self.version:
            return self.version
        # Before READY a server may answer in another version: a version refusal.
        if (
            self.role is Role.CLIENT
            and self.state in (ConnectionState.IDLE, ConnectionState.STARTING)
            and frame.opcode == Opcode.ERROR
            and frame.version in (1, 2, *SUPPORTED_VERSIONS)
        ):
            return ProtocolVersion(max(frame.version, 3))
        if self.role is Role.SERVER:
            error = ProtocolViolation(
                message=f"Invalid message version. Got v{frame.version} but previous messages "
                f"on this connection had version v{int(self.version)}"
            )
            reply = self._encode_error_frame(error, self.version, frame.stream)
            raise RemoteProtocolError(error.message, stream=frame.stream, reply=reply)
        raise RemoteProtocolError(
            f"frame of v{frame.version} on a v{int(self.version)} connection", stream=frame.stream
        )

    def _decompression_allowed(self) -> bool:
        return (self._requested_compression or self.compression) is not None

    def _bad_request(self, frame: RawFrame, reason: str) -> RemoteProtocolError:
        """A whole frame that cannot be accepted: the connection goes on."""
        if self.role is Role.CLIENT:
            # The request it answered is over, if badly: free its stream id.
            self._in_flight.pop(frame.stream, None)
        reply = None
        if self.role is Role.SERVER and frame.stream >= 0:
            reply = self.send(
                Envelope(
                    stream=frame.stream,
                    message=ProtocolViolation(message=reason[:_MAX_REPLY_REASON]),
                ),
                _unsolicited=True,
            )
        return RemoteProtocolError(reason, stream=frame.stream, reply=reply, fatal=False)

    def _on_request_received(self, stream: int, opcode: Opcode, frame: RawFrame) -> None:
        if stream < 0:
            raise self._bad_request(frame, f"request on negative stream id {stream}")
        if stream in self._in_flight:
            raise RemoteProtocolError(
                f"stream {stream} reused while its request is unanswered", stream=stream
            )
        new_state = REQUEST_TRANSITIONS.get((self.state, opcode))
        if new_state is None:
            raise self._bad_request(frame, unexpected_request_message(self.state, opcode))
        self._in_flight[stream] = opcode
        self.state = new_state

    def _on_response_received(self, stream: int, opcode: Opcode) -> None:
        if stream == EVENT_STREAM_ID and opcode is Opcode.EVENT:
            if self.state not in EVENT_STATES:
                raise RemoteProtocolError(f"EVENT pushed in state {self.state.value}")
            return
        request = self._in_flight.pop(stream, None)
        if request is None:
            raise RemoteProtocolError(
                f"{opcode.name} on stream {stream}, which has no request in flight",
                stream=stream,
            )
        new_state = RESPONSE_TRANSITIONS.get((self.state, request, opcode))
        if new_state is None:
            raise RemoteProtocolError(
                f"{opcode.name} cannot answer {request.name} in state {self.state.value}",
                stream=stream,
            )
        self._enter(new_state, request, opcode)

    # --- sending ---------------------------------------------------------------------------

    def send(self, envelope: Envelope, *, _unsolicited: bool = False) -> bytes:
        """The bytes that carry ``envelope``; raises LocalProtocolError if it is out of place."""
        return self._frames_to_bytes([self._prepare(envelope, _unsolicited)])

    def send_many(self, envelopes: Iterable[Envelope]) -> bytes:
        """The bytes of several messages at once (on v5 they share segments)."""
        return self._frames_to_bytes([self._prepare(e, False) for e in envelopes])

    def relay_frames(self, frames: Iterable[tuple[RawFrame, int]]) -> bytes:
        """The bytes that carry frames received on another connection, each ``(frame,
        stream)`` under the stream id given (the frame's own is the other connection's).

        Each frame's body must be uncompressed (as :meth:`next_relay_event` gives them); the
        header is written anew in this connection's version, with its compression. State and
        stream ids are checked as :meth:`send` checks them. Frames of STARTUP (which sets up
        compression) must be sent as messages.
        """
        return self._frames_to_bytes([self._prepare_frame(f, stream) for f, stream in frames])

    def _prepare_frame(self, frame: RawFrame, stream: int) -> tuple[bytes, bool]:
        if self.state is ConnectionState.CLOSED:
            raise LocalProtocolError("the connection is closed")
        version = self.version
        if version is None:
            raise LocalProtocolError("a server cannot send before the client's first frame")
        opcode = OPCODE_OF.get(frame.opcode)
        if opcode is None:
            raise LocalProtocolError(f"unknown opcode 0x{frame.opcode:02x}")
        is_request = frame.opcode in _REQUEST_OPCODE_VALUES
        if is_request != (self.role is Role.CLIENT) or opcode is Opcode.STARTUP:
            raise LocalProtocolError(f"a {self.role.value.lower()} cannot relay {opcode.name}")
        was_framed = self._framed
        if is_request:
            self._on_request_sent(stream, opcode)
        else:
            self._on_response_sent(stream, opcode)
        flags = frame.flags & ~_COMPRESSION_FLAG
        body = frame.body
        if self.compression and version < ProtocolVersion.V5 and body:
            body = compress_frame_body(body)
            flags |= _COMPRESSION_FLAG
        direction = Direction.REQUEST if is_request else Direction.RESPONSE
        return pack_header(version, direction, flags, stream, opcode, len(body)) + body, was_framed

    def _prepare(self, envelope: Envelope, unsolicited: bool) -> tuple[bytes, bool]:
        if self.state is ConnectionState.CLOSED and not unsolicited:
            raise LocalProtocolError("the connection is closed")
        if self.version is None:
            raise LocalProtocolError("a server cannot send before the client's first frame")
        message = envelope.message
        is_request = direction_of(message) is Direction.REQUEST
        if is_request != (self.role is Role.CLIENT):
            raise LocalProtocolError(
                f"a {self.role.value.lower()} cannot send {message.opcode.name}"
            )
        was_framed = self._framed
        if not unsolicited:
            if is_request:
                startup = message if isinstance(message, Startup) else None
                compression = check_compression(startup.compression) if startup else None
                self._on_request_sent(envelope.stream, message.opcode)
                if startup is not None:
                    self._requested_compression = compression
            else:
                self._on_response_sent(envelope.stream, message.opcode)
        raw = encode_envelope(envelope, self.version)
        # v3/v4 compress frame bodies once compression is agreed: a client from the answer
        # to STARTUP on, a server from that answer itself (the client inflates from the
        # moment it asked). v5 compresses segments instead, never frames.
        if self.compression and self.version < ProtocolVersion.V5 and raw.body:
            raw = _replace_body(raw, compress_frame_body(raw.body), HeaderFlag.COMPRESSION)
        return raw.encode(), was_framed

    def _frames_to_bytes(self, prepared: list[tuple[bytes, bool]]) -> bytes:
        out: list[bytes] = []
        run: list[bytes] = []  # consecutive framed messages share segments
        for encoded, framed in prepared:
            if framed:
                run.append(encoded)
                continue
            if run:
                out.append(encode_frames_as_segments(run, self.compression is not None))
                run = []
            out.append(encoded)
        if run:
            out.append(encode_frames_as_segments(run, self.compression is not None))
        return out[0] if len(out) == 1 else b"".join(out)

    def _on_request_sent(self, stream: int, opcode: Opcode) -> None:
        if not 0 <= stream <= MAX_STREAM_ID:
            raise LocalProtocolError(f"request stream id {stream} outside 0..32767")
        if stream in self._in_flight:
            raise LocalProtocolError(f"stream {stream} already has a request in flight")
        new_state = REQUEST_TRANSITIONS.get((self.state, opcode))
        if new_state is None:
            raise LocalProtocolError(f"cannot send {opcode.name} in state {self.state.value}")
        self._in_flight[stream] = opcode
        self.state = new_state

    def _on_response_sent(self, stream: int, opcode: Opcode) -> None:
        if opcode is Opcode.EVENT:
            if stream != EVENT_STREAM_ID:
                raise LocalProtocolError("EVENTs go on stream -1")
            if self.state not in EVENT_STATES:
                raise LocalProtocolError(f"cannot push EVENT in state {self.state.value}")
            return
        request = self._in_flight.get(stream)
        if request is None:
            raise LocalProtocolError(f"no request in flight on stream {stream}")
        new_state = RESPONSE_TRANSITIONS.get((self.state, request, opcode))
        if new_state is None:
            raise LocalProtocolError(
                f"{opcode.name} cannot answer {request.name} in state {self.state.value}"
            )
        if request is Opcode.STARTUP and opcode is not Opcode.ERROR:
            check_compression(self._requested_compression)
        del self._in_flight[stream]
        self._enter(new_state, request, opcode)

    def _enter(self, new_state: ConnectionState, request: Opcode, answer: Opcode) -> None:
        """Move to ``new_state`` after ``answer`` to ``request``, switching framing if due."""
        self.state = new_state
        if request is Opcode.STARTUP:
            if answer is Opcode.ERROR:
                self._requested_compression = None
                return
            self.compression = check_compression(self._requested_compression)
            self._requested_compression = None
            assert self.version is not None
            if self.version >= ProtocolVersion.V5:
                self._switch_to_segments()

    def _switch_to_segments(self) -> None:
        self._framed = True
        self._segments = SegmentReader(compressed=self.compression is not None)
        rest = self._frames.take_rest()
        if rest:
            self._segments.feed(rest)


def _replace_body(frame: RawFrame, body: bytes, add_flag: int = 0) -> RawFrame:
    flags = (frame.flags | add_flag) if add_flag else (frame.flags & ~HeaderFlag.COMPRESSION)
    return RawFrame(
        version=frame.version,
        direction=frame.direction,
        flags=flags,
        stream=frame.stream,
        opcode=frame.opcode,
        body=body,
    )
