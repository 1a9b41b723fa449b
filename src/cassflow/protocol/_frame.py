"""Frames (v5 calls them envelopes): the 9-byte header and the body it announces.

:class:`RawFrame` is a frame whose body has not been decoded: what a proxy forwards and what
:mod:`._codec` turns into messages. :class:`FrameReader` cuts complete frames out of a byte
stream without copying more than once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from cassflow.protocol._constants import (
    DIRECTION_OF,
    HEADER_LENGTH,
    LEGACY_HEADER_LENGTH,
    LEGACY_HEADER_VERSIONS,
    MAX_FRAME_BODY_LENGTH,
    VERSION_MASK,
    Direction,
)
from cassflow.protocol._errors import LocalProtocolError, RemoteProtocolError

_HEADER: Final = struct.Struct(">BBhBi")
_LEGACY_HEADER: Final = struct.Struct(">BBbBi")


@dataclass(frozen=True, slots=True, kw_only=True)
class RawFrame:
    """One frame with its body still encoded (and, in v4, possibly compressed)."""

    version: int
    direction: Direction
    flags: int
    stream: int
    opcode: int
    body: bytes

    def encode(self) -> bytes:
        """Header and body as they go on the wire."""
        return encode_header(self, len(self.body)) + self.body


def encode_header(frame: RawFrame, body_length: int) -> bytes:
    """The header of ``frame`` announcing ``body_length`` bytes."""
    return pack_header(
        frame.version, frame.direction, frame.flags, frame.stream, frame.opcode, body_length
    )


def pack_header(
    version: int, direction: int, flags: int, stream: int, opcode: int, body_length: int
) -> bytes:
    """A frame header from its fields."""
    try:
        if version in LEGACY_HEADER_VERSIONS:
            return _LEGACY_HEADER.pack(version | direction, flags, stream, opcode, body_length)
        return _HEADER.pack(version | direction, flags, stream, opcode, body_length)
    except struct.error:
        raise LocalProtocolError(
            f"frame header field out of range (stream {stream}, flags {flags})"
        ) from None


def header_length(version: int) -> int:
    """How long the header of a frame of ``version`` is."""
    return LEGACY_HEADER_LENGTH if version in LEGACY_HEADER_VERSIONS else HEADER_LENGTH


class FrameReader:
    """Accumulates bytes and yields whole frames.

    It checks only what framing needs (length bounds); versions, opcodes and flags are the
    connection's business, so it can read the first frame of any version.

    Bytes fed to an empty reader are kept as they are and read by offset (a v5 segment's
    payload usually holds whole frames: no copy into a buffer and back); bytes that continue
    a partial frame go into a growing buffer.
    """

    __slots__ = ("_buf", "_pos", "max_body_length")

    def __init__(self, max_body_length: int = MAX_FRAME_BODY_LENGTH) -> None:
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self.max_body_length = max_body_length

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        if self._pos >= len(self._buf):
            self._buf, self._pos = data, 0
            return
        if isinstance(self._buf, bytes) or self._pos:
            self._buf = bytearray(memoryview(self._buf)[self._pos :])
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def take_rest(self) -> bytes:
        """Hand back every buffered byte (used when a v5 connection switches to segments)."""
        rest = bytes(self._buf[self._pos :])
        self._buf, self._pos = b"", 0
        return rest

    def peek_version(self) -> int | None:
        """The version of the next frame, as soon as its first byte is here."""
        return (self._buf[self._pos] & VERSION_MASK) if self.buffered else None

    def next_frame(self) -> RawFrame | None:
        """The next complete frame, or None until enough bytes have arrived."""
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if available <= 0:
            return None
        version = buf[pos] & VERSION_MASK
        legacy = version in LEGACY_HEADER_VERSIONS
        size = LEGACY_HEADER_LENGTH if legacy else HEADER_LENGTH
        if available < size:
            return None
        fmt = _LEGACY_HEADER if legacy else _HEADER
        version_byte, flags, stream, opcode, length = fmt.unpack_from(buf, pos)
        if length < 0 or length > self.max_body_length:
            raise RemoteProtocolError(
                f"frame body length {length} outside 0..{self.max_body_length}", stream=stream
            )
        end = size + length
        if available < end:
            return None
        body = bytes(buf[pos + size : pos + end])
        self._pos = pos + end
        if self._pos == len(buf):  # all read: let the buffer go
            self._buf, self._pos = b"", 0
        return RawFrame(
            version=version,
            direction=DIRECTION_OF[version_byte & ~VERSION_MASK],
            flags=flags,
            stream=stream,
            opcode=opcode,
            body=body,
        )
