"""v5 framing: segments that wrap frames, with CRC24 headers and CRC32 payload trailers.

Theory of operation (native_protocol_v5.spec section 2): after the STARTUP handshake every
byte on a v5 connection is a segment. A *self-contained* segment holds one or more whole
frames; a frame too big for one segment (128 KiB - 1 payload bytes) is cut into a run of
non-self-contained segments that the receiver concatenates. With LZ4 negotiated, each segment
may be compressed; an uncompressed length of 0 says this one was sent as is.
All integers in segment headers are little-endian.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Final

from cassflow.protocol._compression import compress_block, decompress_block
from cassflow.protocol._constants import (
    COMPRESSED_SEGMENT_HEADER_LENGTH,
    MAX_SEGMENT_PAYLOAD,
    SEGMENT_HEADER_LENGTH,
    SEGMENT_TRAILER_LENGTH,
)
from cassflow.protocol._errors import LocalProtocolError, RemoteProtocolError

CRC24_INIT: Final = 0x875060
CRC24_POLY: Final = 0x1974F0B
#: The payload CRC32 starts from the CRC of these four bytes (Cassandra's choice, so that an
#: all-zero payload does not checksum to zero).
CRC32_INITIAL: Final = zlib.crc32(b"\xfa\x2d\x55\xca")


def _max_compressible_payload() -> int:
    # LZ4's documented worst case for n input bytes is n + n/255 + 16 (LZ4_compressBound).
    n = MAX_SEGMENT_PAYLOAD
    while n + n // 255 + 16 > MAX_SEGMENT_PAYLOAD:
        n -= 1
    return n


#: The largest payload whose LZ4 block is sure to fit a segment's 17-bit length, whatever the
#: data. Compressed connections cut frames into pieces of this size, so that every segment
#: can be sent compressed (see :func:`encode_segment` for why that matters).
MAX_COMPRESSIBLE_PAYLOAD: Final = _max_compressible_payload()

_SELF_CONTAINED_BIT: Final = 1 << 17
_COMPRESSED_SELF_CONTAINED_BIT: Final = 1 << 34
_LENGTH_MASK: Final = (1 << 17) - 1


def _crc24_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= CRC24_POLY
        table.append(crc & 0xFFFFFF)
    return tuple(table)


_CRC24_TABLE: Final = _crc24_table()


def crc24(data: bytes) -> int:
    """CRC24 of a segment header's bytes, as Cassandra computes it."""
    known = _CRC24_SEEN.get(data)
    if known is not None:
        return known
    crc = CRC24_INIT
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ _CRC24_TABLE[((crc >> 16) ^ byte) & 0xFF]
    if len(_CRC24_SEEN) >= _CRC24_SEEN_SIZE:
        _CRC24_SEEN.clear()
    _CRC24_SEEN[bytes(data)] = crc
    return crc


# Headers repeat (the same lengths, again and again): their CRCs are kept, as a byte-wise
# loop in Python costs more than the rest of reading a small segment.
_CRC24_SEEN: dict[bytes, int] = {}
_CRC24_SEEN_SIZE: Final = 4096


def crc32(payload: bytes) -> int:
    """CRC32 of a segment payload, seeded as Cassandra seeds it."""
    return zlib.crc32(payload, CRC32_INITIAL)


def encode_segment(payload: bytes, self_contained: bool, compressed: bool) -> bytes:
    """One segment around ``payload`` (at most 128 KiB - 1 bytes).

    With ``compressed`` the compressed-format header is used and the payload is compressed
    whenever its LZ4 block fits the 17-bit length, even when that does not make it smaller.
    The spec also allows sending a payload as is (uncompressed length 0), but the Apache
    Cassandra Python driver (3.29, 3.30) computes the length of such a segment with the
    uncompressed header's size, two bytes short, and drops the connection when a read ends
    inside those two bytes. Only a payload whose compressed form would not fit is sent as is.
    """
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise LocalProtocolError(
            f"segment payload of {len(payload)} bytes exceeds {MAX_SEGMENT_PAYLOAD}"
        )
    if compressed:
        packed = compress_block(payload) if payload else b""
        if packed and len(packed) <= MAX_SEGMENT_PAYLOAD:
            body, uncompressed_length = packed, len(payload)
        else:
            body, uncompressed_length = payload, 0
        bits = len(body) | (uncompressed_length << 17)
        if self_contained:
            bits |= _COMPRESSED_SELF_CONTAINED_BIT
        header = bits.to_bytes(5, "little")
    else:
        body = payload
        bits = len(payload) | (_SELF_CONTAINED_BIT if self_contained else 0)
        header = bits.to_bytes(3, "little")
    return b"".join(
        (
            header,
            crc24(header).to_bytes(3, "little"),
            body,
            crc32(body).to_bytes(SEGMENT_TRAILER_LENGTH, "little"),
        )
    )


def encode_frames_as_segments(frames: Iterable[bytes], compressed: bool) -> bytes:
    """Pack encoded frames into segments: small ones share self-contained segments, a large
    one is cut into non-self-contained pieces."""
    limit = MAX_COMPRESSIBLE_PAYLOAD if compressed else MAX_SEGMENT_PAYLOAD
    out: list[bytes] = []
    pending: list[bytes] = []
    pending_size = 0

    def flush() -> None:
        nonlocal pending_size
        if pending:
            out.append(encode_segment(b"".join(pending), True, compressed))
            pending.clear()
            pending_size = 0

    for frame in frames:
        if len(frame) > limit:
            flush()
            for start in range(0, len(frame), limit):
                out.append(encode_segment(frame[start : start + limit], False, compressed))
            continue
        if pending_size + len(frame) > limit:
            flush()
        pending.append(frame)
        pending_size += len(frame)
    flush()
    return b"".join(out)


class SegmentReader:
    """Accumulates bytes and yields segment payloads (decompressed, checksums verified)."""

    __slots__ = ("_buf", "compressed")

    def __init__(self, compressed: bool) -> None:
        self._buf = bytearray()
        self.compressed = compressed

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as segments."""
        return len(self._buf)

    def next_segment(self) -> tuple[bytes, bool] | None:
        """The next ``(payload, self_contained)``, or None until a whole segment is here."""
        buf = self._buf
        size = COMPRESSED_SEGMENT_HEADER_LENGTH if self.compressed else SEGMENT_HEADER_LENGTH
        if len(buf) < size:
            return None
        field_length = size - 3
        header = bytes(buf[:field_length])
        expected_crc = int.from_bytes(buf[field_length:size], "little")
        if crc24(header) != expected_crc:
            raise RemoteProtocolError("segment header CRC24 mismatch")
        bits = int.from_bytes(header, "little")
        length = bits & _LENGTH_MASK
        if self.compressed:
            uncompressed_length = (bits >> 17) & _LENGTH_MASK
            self_contained = bool(bits & _COMPRESSED_SELF_CONTAINED_BIT)
        else:
            uncompressed_length = 0
            self_contained = bool(bits & _SELF_CONTAINED_BIT)
        end = size + length + SEGMENT_TRAILER_LENGTH
        if len(buf) < end:
            return None
        payload = bytes(buf[size : size + length])
        if crc32(payload) != int.from_bytes(buf[size + length : end], "little"):
            raise RemoteProtocolError("segment payload CRC32 mismatch")
        del buf[:end]
        if uncompressed_length:
            payload = decompress_block(payload, uncompressed_length)
        return payload, self_contained
