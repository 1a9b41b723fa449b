"""Envelopes to frames and back: the body prefix (tracing id, warnings, custom payload) and
the per-opcode body codecs."""

from __future__ import annotations

from cassflow.protocol._buffer import Reader, Writer
from cassflow.protocol._codec_requests import REQUEST_DECODERS, REQUEST_ENCODERS
from cassflow.protocol._codec_responses import RESPONSE_DECODERS, RESPONSE_ENCODERS
from cassflow.protocol._constants import (
    OPCODE_OF,
    REQUEST_OPCODES,
    Direction,
    HeaderFlag,
)
from cassflow.protocol._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from cassflow.protocol._frame import RawFrame
from cassflow.protocol._messages import Envelope, Message

# Plain ints for the per-frame flag tests: IntFlag arithmetic is slow on the hot path.
_TRACING = int(HeaderFlag.TRACING)
_WARNING = int(HeaderFlag.WARNING)
_CUSTOM_PAYLOAD = int(HeaderFlag.CUSTOM_PAYLOAD)
_USE_BETA = int(HeaderFlag.USE_BETA)


def direction_of(message: Message) -> Direction:
    """Which way ``message`` travels."""
    return Direction.REQUEST if message.opcode in REQUEST_OPCODES else Direction.RESPONSE


def encode_body(message: Message, version: int) -> bytes:
    """The body of ``message`` alone, with no envelope prefix."""
    writer = Writer()
    _encode_body_into(writer, message, version)
    return writer.getvalue()


def _encode_body_into(writer: Writer, message: Message, version: int) -> None:
    encoders = REQUEST_ENCODERS if message.opcode in REQUEST_OPCODES else RESPONSE_ENCODERS
    try:
        encoders[message.opcode](writer, message, version)
    except (UnicodeEncodeError, OverflowError, TypeError, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode {message.opcode.name}: {exc}") from None


def encode_envelope(envelope: Envelope, version: int) -> RawFrame:
    """The (uncompressed) frame carrying ``envelope``."""
    message = envelope.message
    direction = direction_of(message)
    if not -1 <= envelope.stream <= 0x7FFF and version >= 3:
        raise LocalProtocolError(f"stream id {envelope.stream} outside -1..32767")
    flags = 0  # a plain int: IntFlag arithmetic shows up in small frames
    writer = Writer()
    if direction is Direction.REQUEST:
        if envelope.tracing_id is not None:
            raise LocalProtocolError("a tracing id travels on responses; requests set tracing")
        if envelope.tracing:
            flags |= HeaderFlag.TRACING
    elif envelope.tracing_id is not None:
        flags |= HeaderFlag.TRACING
        writer.write_uuid(envelope.tracing_id)
    elif envelope.tracing:
        raise LocalProtocolError("a traced response needs its tracing id")
    if envelope.warnings:
        if version < 4 or direction is Direction.REQUEST:
            raise LocalProtocolError("warnings travel on responses, from protocol v4 on")
        flags |= HeaderFlag.WARNING
        writer.write_string_list(envelope.warnings)
    if envelope.custom_payload is not None:
        if version < 4:
            raise LocalProtocolError("custom payloads need protocol v4 or later")
        flags |= HeaderFlag.CUSTOM_PAYLOAD
        writer.write_bytes_map(envelope.custom_payload)
    if envelope.use_beta:
        flags |= HeaderFlag.USE_BETA
    _encode_body_into(writer, message, version)
    return RawFrame(
        version=version,
        direction=direction,
        flags=int(flags),
        stream=envelope.stream,
        opcode=message.opcode,
        body=writer.getvalue(),
    )


def body_offset(frame: RawFrame) -> int:
    """Where the message body of a received (decompressed) frame starts: past the tracing id
    of a traced response, the warnings and the custom payload.

    Raises :class:`RemoteProtocolError` (non-fatal) when that prefix is malformed.
    """
    flags = frame.flags
    if not flags & (_TRACING | _WARNING | _CUSTOM_PAYLOAD):
        return 0
    reader = Reader(frame.body)
    try:
        if flags & _TRACING and frame.direction is Direction.RESPONSE:
            reader.read_uuid()
        if flags & _WARNING:
            reader.read_string_list()
        if flags & _CUSTOM_PAYLOAD:
            reader.read_bytes_map()
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(
            f"malformed frame prefix: {exc}", stream=frame.stream, fatal=False
        ) from None
    return reader.pos


def decode_envelope(frame: RawFrame, version: int) -> Envelope:
    """The envelope a received (already decompressed) frame carries.

    Raises :class:`RemoteProtocolError` (non-fatal: the frame was whole) when the body does
    not decode; the stream id is kept so a server can answer on it.
    """
    opcode = OPCODE_OF.get(frame.opcode)
    if opcode is None:
        raise RemoteProtocolError(
            f"unknown opcode 0x{frame.opcode:02x}", stream=frame.stream, fatal=False
        )
    is_request = opcode in REQUEST_OPCODES
    if is_request != (frame.direction is Direction.REQUEST):
        raise RemoteProtocolError(
            f"{opcode.name} sent as a {frame.direction.name.lower()}",
            stream=frame.stream,
            fatal=False,
        )
    reader = Reader(frame.body)
    try:
        tracing_id = None
        flags = frame.flags
        if flags & _TRACING and not is_request:
            tracing_id = reader.read_uuid()
        warnings: tuple[str, ...] = ()
        if flags & _WARNING:
            warnings = reader.read_string_list()
        custom_payload = None
        if flags & _CUSTOM_PAYLOAD:
            custom_payload = reader.read_bytes_map()
        decoders = REQUEST_DECODERS if is_request else RESPONSE_DECODERS
        message = decoders[opcode](reader, version)
    except RemoteProtocolError as exc:
        raise RemoteProtocolError(
            f"malformed {opcode.name} body: {exc}", stream=frame.stream, fatal=False
        ) from None
    except ProtocolError as exc:
        # A field the peer sent broke a message invariant: still the peer's fault.
        raise RemoteProtocolError(
            f"invalid {opcode.name} body: {exc}", stream=frame.stream, fatal=False
        ) from None
    # Trailing bytes are allowed: the spec reserves them for future extensions.
    return Envelope(
        stream=frame.stream,
        message=message,
        tracing=bool(frame.flags & _TRACING),
        tracing_id=tracing_id,
        warnings=warnings,
        custom_payload=custom_payload,
        use_beta=bool(frame.flags & _USE_BETA),
    )
