"""LZ4, the one compression both v4 frames and v5 segments share.

The two versions package it differently: a v4 frame body is ``[int uncompressed length]``
(big-endian) followed by an LZ4 block; a v5 segment carries the uncompressed length in its
own header, so its payload is the bare block.
"""

from __future__ import annotations

import struct

import lz4.block

from cassflow.protocol._constants import MAX_FRAME_BODY_LENGTH, SUPPORTED_COMPRESSION
from cassflow.protocol._errors import LocalProtocolError, RemoteProtocolError

_LENGTH = struct.Struct(">i")


def check_compression(name: str | None) -> str | None:
    """Validate a compression name from STARTUP (None means no compression)."""
    if name is None:
        return None
    lowered = name.lower()
    if lowered not in SUPPORTED_COMPRESSION:
        raise LocalProtocolError(
            f"unsupported compression {name!r}; supported: {', '.join(SUPPORTED_COMPRESSION)}"
        )
    return lowered


def compress_block(data: bytes) -> bytes:
    """A bare LZ4 block (v5 segment payloads)."""
    return bytes(lz4.block.compress(data, store_size=False))


def decompress_block(data: bytes, uncompressed_length: int) -> bytes:
    """Inflate a bare LZ4 block that must yield exactly ``uncompressed_length`` bytes."""
    try:
        out = lz4.block.decompress(data, uncompressed_size=uncompressed_length)
    except (lz4.block.LZ4BlockError, ValueError) as exc:
        raise RemoteProtocolError(f"corrupt LZ4 block: {exc}") from None
    if len(out) != uncompressed_length:
        raise RemoteProtocolError(
            f"LZ4 block inflated to {len(out)} bytes, header said {uncompressed_length}"
        )
    return bytes(out)


def compress_frame_body(body: bytes) -> bytes:
    """A v4 compressed frame body: big-endian length, then the LZ4 block."""
    return _LENGTH.pack(len(body)) + compress_block(body)


def decompress_frame_body(body: bytes) -> bytes:
    """Inflate a v4 compressed frame body."""
    if len(body) < _LENGTH.size:
        raise RemoteProtocolError("compressed frame body shorter than its length prefix")
    (length,) = _LENGTH.unpack_from(body)
    if length < 0 or length > MAX_FRAME_BODY_LENGTH:
        raise RemoteProtocolError(f"compressed frame claims {length} uncompressed bytes")
    if length == 0:
        return b""
    return decompress_block(body[_LENGTH.size :], length)
