"""v5 segments: CRC24 headers, CRC32 trailers, self-containment, the 128 KiB - 1 payload
limit, frames split across segments and frames sharing one, LZ4 with its uncompressed
fallback, and byte-by-byte delivery (native_protocol_v5.spec section 2)."""

from __future__ import annotations

import random
import zlib

import lz4.block
import pytest
from cassandra.segment import compute_crc24

from cassflow.protocol import (
    MAX_SEGMENT_PAYLOAD,
    NEED_DATA,
    ColumnSpec,
    Connection,
    DataType,
    Envelope,
    LocalProtocolError,
    Message,
    Query,
    Ready,
    RemoteProtocolError,
    Role,
    RowsMetadata,
    RowsResult,
    SegmentReader,
    Startup,
    TypeCode,
    VoidResult,
    encode_envelope,
    encode_frames_as_segments,
    encode_segment,
)
from cassflow.protocol._segment import MAX_COMPRESSIBLE_PAYLOAD, crc24

SEED = 0x5E6


def reference_crc24(data: bytes) -> int:
    """CRC24 bit by bit, as the spec defines it: start from 0x875060, feed the header bytes
    in order, each into the top of the register, shift left one bit at a time (most
    significant first) and reduce by the polynomial 0x1974F0B whenever bit 24 is set."""
    crc = 0x875060
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1974F0B
    return crc


def reference_crc32(payload: bytes) -> int:
    """Cassandra's payload CRC32: zlib's CRC32, as if the payload followed FA 2D 55 CA."""
    return zlib.crc32(b"\xfa\x2d\x55\xca" + payload)


def read_all(data: bytes, compressed: bool) -> list[tuple[bytes, bool]]:
    """Every segment in ``data``, which must hold whole segments only."""
    reader = SegmentReader(compressed)
    reader.feed(data)
    out = []
    while (segment := reader.next_segment()) is not None:
        out.append(segment)
    assert reader.buffered == 0
    return out


# --- CRC24 and CRC32 ------------------------------------------------------------------------


def test_crc24_table_matches_the_bitwise_definition_on_random_input() -> None:
    rng = random.Random(SEED)
    samples = [bytes([b]) for b in range(256)]
    samples += [rng.randbytes(rng.choice((0, 1, 2, 3, 5, 8, 17, 64))) for _ in range(3000)]
    for data in samples:
        assert crc24(data) == reference_crc24(data), data.hex()
        assert 0 <= crc24(data) < 1 << 24


def test_crc24_of_nothing_is_the_initial_value() -> None:
    assert crc24(b"") == reference_crc24(b"") == 0x875060


def test_crc24_agrees_with_the_python_driver() -> None:
    # An independent implementation: the driver reads the header as a little-endian integer.
    rng = random.Random(SEED + 1)
    for size in (3, 5):
        for _ in range(500):
            header = rng.randbytes(size)
            assert crc24(header) == compute_crc24(int.from_bytes(header, "little"), size)


def test_crc24_catches_every_single_bit_error_in_a_header() -> None:
    rng = random.Random(SEED + 2)
    for size in (3, 5):
        header = rng.randbytes(size)
        for bit in range(8 * size):
            flipped = (int.from_bytes(header, "little") ^ (1 << bit)).to_bytes(size, "little")
            assert crc24(flipped) != crc24(header)


@pytest.mark.parametrize("compressed", [False, True])
def test_segment_trailer_is_the_seeded_crc32_of_the_bytes_on_the_wire(compressed: bool) -> None:
    payload = b"abc" * 100  # compressible, so the compressed variant does compress
    segment = encode_segment(payload, True, compressed)
    header_size = 8 if compressed else 6
    body = segment[header_size:-4]
    assert int.from_bytes(segment[-4:], "little") == reference_crc32(body)
    assert reference_crc32(b"") == zlib.crc32(b"\xfa\x2d\x55\xca")


# --- layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("self_contained", [True, False])
def test_uncompressed_segment_layout(self_contained: bool) -> None:
    payload = bytes(range(256)) * 3
    segment = encode_segment(payload, self_contained, compressed=False)
    header = segment[:3]
    bits = int.from_bytes(header, "little")
    assert bits & 0x1FFFF == len(payload)
    assert bool(bits & (1 << 17)) is self_contained
    assert bits >> 18 == 0  # padding
    assert int.from_bytes(segment[3:6], "little") == reference_crc24(header)
    assert segment[6:-4] == payload
    assert len(segment) == 6 + len(payload) + 4
    assert read_all(segment, compressed=False) == [(payload, self_contained)]


@pytest.mark.parametrize("self_contained", [True, False])
def test_compressed_segment_layout(self_contained: bool) -> None:
    payload = b"SELECT * FROM ks.t WHERE k = ?; " * 200
    segment = encode_segment(payload, self_contained, compressed=True)
    header = segment[:5]
    bits = int.from_bytes(header, "little")
    compressed_length = bits & 0x1FFFF
    assert (bits >> 17) & 0x1FFFF == len(payload)
    assert bool(bits & (1 << 34)) is self_contained
    assert bits >> 35 == 0
    assert int.from_bytes(segment[5:8], "little") == reference_crc24(header)
    body = segment[8:-4]
    assert len(body) == compressed_length < len(payload)
    assert lz4.block.decompress(body, uncompressed_size=len(payload)) == payload
    assert read_all(segment, compressed=True) == [(payload, self_contained)]


# --- checksums that do not match ------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_any_corrupted_header_bit_is_a_crc24_error(compressed: bool) -> None:
    segment = encode_segment(b"payload" * 20, True, compressed)
    header_size = 8 if compressed else 6
    for bit in range(8 * header_size):
        corrupted = bytearray(segment)
        corrupted[bit // 8] ^= 1 << (bit % 8)
        reader = SegmentReader(compressed)
        reader.feed(bytes(corrupted[:header_size]))  # checked before the payload arrives
        with pytest.raises(RemoteProtocolError, match="CRC24") as info:
            reader.next_segment()
        assert info.value.fatal


@pytest.mark.parametrize("compressed", [False, True])
def test_any_corrupted_payload_or_trailer_bit_is_a_crc32_error(compressed: bool) -> None:
    segment = encode_segment(b"0123456789" * 4, False, compressed)
    header_size = 8 if compressed else 6
    for bit in range(8 * header_size, 8 * len(segment)):
        corrupted = bytearray(segment)
        corrupted[bit // 8] ^= 1 << (bit % 8)
        reader = SegmentReader(compressed)
        reader.feed(bytes(corrupted))
        with pytest.raises(RemoteProtocolError, match="CRC32"):
            reader.next_segment()


def _segment_with(
    header_bits: int, header_size: int, body: bytes, trailer: int | None = None
) -> bytes:
    """A segment with the given header and body, and CRCs that match them."""
    header = header_bits.to_bytes(header_size, "little")
    crc = reference_crc32(body) if trailer is None else trailer
    return header + reference_crc24(header).to_bytes(3, "little") + body + crc.to_bytes(4, "little")


def test_corrupt_lz4_block_under_valid_checksums_is_a_remote_error() -> None:
    body = b"\xff" * 16
    segment = _segment_with(len(body) | (1000 << 17) | (1 << 34), 5, body)
    with pytest.raises(RemoteProtocolError, match="LZ4"):
        read_all(segment, compressed=True)


def test_uncompressed_length_that_lies_is_a_remote_error() -> None:
    payload = b"abcd" * 500
    block = lz4.block.compress(payload, store_size=False)
    segment = _segment_with(len(block) | ((len(payload) + 1) << 17) | (1 << 34), 5, block)
    with pytest.raises(RemoteProtocolError):
        read_all(segment, compressed=True)


def test_checksummed_reader_agrees_with_our_hand_built_segments() -> None:
    body = b"hand made"
    plain = _segment_with(len(body) | (1 << 17), 3, body)
    assert plain == encode_segment(body, True, compressed=False)
    assert read_all(plain, compressed=False) == [(body, True)]
    stored = _segment_with(len(body), 5, body)  # compressed format, sent as is
    assert read_all(stored, compressed=True) == [(body, False)]


# --- the payload limit ----------------------------------------------------------------------


def test_payload_limit_is_128_kib_minus_one() -> None:
    assert MAX_SEGMENT_PAYLOAD == 128 * 1024 - 1 == 0x1FFFF


@pytest.mark.parametrize("compressed", [False, True])
def test_largest_payload_fits_one_segment(compressed: bool) -> None:
    payload = random.Random(SEED).randbytes(MAX_SEGMENT_PAYLOAD)  # incompressible
    segment = encode_segment(payload, True, compressed)
    assert int.from_bytes(segment[:3], "little") & 0x1FFFF == MAX_SEGMENT_PAYLOAD
    assert read_all(segment, compressed) == [(payload, True)]


@pytest.mark.parametrize("compressed", [False, True])
def test_payload_over_the_limit_is_refused(compressed: bool) -> None:
    with pytest.raises(LocalProtocolError, match="exceeds"):
        encode_segment(b"\x00" * (MAX_SEGMENT_PAYLOAD + 1), True, compressed)


# --- how frames map to segments -------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_frame_over_the_limit_is_split_across_non_self_contained_segments(
    compressed: bool,
) -> None:
    piece = MAX_COMPRESSIBLE_PAYLOAD if compressed else MAX_SEGMENT_PAYLOAD
    frame = random.Random(SEED).randbytes(2 * piece + 1000)
    segments = read_all(encode_frames_as_segments([frame], compressed), compressed)
    assert [len(p) for p, _ in segments] == [piece, piece, 1000]
    assert not any(self_contained for _, self_contained in segments)
    assert b"".join(p for p, _ in segments) == frame


def test_small_frames_share_self_contained_segments_up_to_the_limit() -> None:
    frames = [bytes([i]) * 50_000 for i in range(5)]
    segments = read_all(encode_frames_as_segments(frames, compressed=False), compressed=False)
    # 50 000 * 2 fits under 131 071, 50 000 * 3 does not.
    assert segments == [
        (frames[0] + frames[1], True),
        (frames[2] + frames[3], True),
        (frames[4], True),
    ]


def handshake(compression: str | None) -> tuple[Connection, Connection]:
    """A v5 client and server past STARTUP/READY: both now speak in segments."""
    client = Connection(Role.CLIENT, version=5)
    server = Connection(Role.SERVER)
    options = {"CQL_VERSION": "3.0.0"} | ({"COMPRESSION": compression} if compression else {})
    transfer(client, server, [Envelope(stream=0, message=Startup(options=options))])
    transfer(server, client, [Envelope(stream=0, message=Ready())])
    return client, server


def transfer(sender: Connection, receiver: Connection, envelopes: list[Envelope]) -> bytes:
    data = sender.send_many(envelopes)
    receiver.receive_data(data)
    received = [receiver.next_event() for _ in envelopes]
    assert [e.message for e in received if isinstance(e, Envelope)] == [
        e.message for e in envelopes
    ]
    assert receiver.next_event() is NEED_DATA
    return data


def _blob_rows(*cells: bytes) -> RowsResult:
    spec = ColumnSpec(keyspace="ks", table="t", name="b", type=DataType(TypeCode.BLOB))
    return RowsResult(metadata=RowsMetadata.of((spec,)), rows=tuple((c,) for c in cells))


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_large_messages_cross_segments_and_reassemble_between_connections(
    compression: str | None,
) -> None:
    client, server = handshake(compression)
    rng = random.Random(SEED)
    query = Query(query="SELECT '" + "x" * (3 * MAX_SEGMENT_PAYLOAD) + "'")
    data = transfer(client, server, [Envelope(stream=1, message=query)])
    segments = read_all(data, compression is not None)
    assert len(segments) == 4
    assert not any(self_contained for _, self_contained in segments)

    rows = _blob_rows(rng.randbytes(MAX_SEGMENT_PAYLOAD), rng.randbytes(1000))  # incompressible
    data = transfer(server, client, [Envelope(stream=1, message=rows)])
    segments = read_all(data, compression is not None)
    assert len(segments) == 2
    assert not any(self_contained for _, self_contained in segments)

    # Small messages go on in self-contained segments afterwards.
    transfer(client, server, [Envelope(stream=2, message=Query(query="SELECT 1"))])
    data = transfer(server, client, [Envelope(stream=2, message=VoidResult())])
    assert [self_contained for _, self_contained in read_all(data, compression is not None)] == [
        True
    ]


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_send_many_packs_small_frames_into_one_self_contained_segment(
    compression: str | None,
) -> None:
    client, server = handshake(compression)
    envelopes = [
        Envelope(stream=i, message=Query(query=f"SELECT {i} FROM ks.t")) for i in range(1, 9)
    ]
    data = transfer(client, server, envelopes)
    [(payload, self_contained)] = read_all(data, compression is not None)
    assert self_contained
    assert payload == b"".join(encode_envelope(e, 5).encode() for e in envelopes)


def test_lz4_compresses_even_when_it_does_not_shrink() -> None:
    # Segments sent as is (uncompressed length 0) trip the Python driver's length arithmetic,
    # so a compressed connection compresses whatever fits.
    payload = random.Random(SEED).randbytes(4096)
    segment = encode_segment(payload, True, compressed=True)
    bits = int.from_bytes(segment[:5], "little")
    assert (bits >> 17) & 0x1FFFF == len(payload)
    assert bits & 0x1FFFF >= len(payload)
    assert lz4.block.decompress(segment[8:-4], uncompressed_size=len(payload)) == payload
    assert read_all(segment, compressed=True) == [(payload, True)]


def test_lz4_sends_as_is_only_what_would_not_fit_compressed() -> None:
    payload = random.Random(SEED).randbytes(MAX_SEGMENT_PAYLOAD)
    segment = encode_segment(payload, True, compressed=True)
    bits = int.from_bytes(segment[:5], "little")
    assert (bits >> 17) & 0x1FFFF == 0  # uncompressed length 0: sent as is
    assert bits & 0x1FFFF == len(payload)
    assert segment[8:-4] == payload
    assert read_all(segment, compressed=True) == [(payload, True)]


def test_compressed_connections_cut_frames_so_every_piece_compresses() -> None:
    frame = random.Random(SEED).randbytes(3 * MAX_SEGMENT_PAYLOAD)
    data = encode_frames_as_segments([frame], compressed=True)
    pos, headers = 0, []
    while pos < len(data):
        bits = int.from_bytes(data[pos : pos + 5], "little")
        headers.append(bits)
        pos += 8 + (bits & 0x1FFFF) + 4
    assert len(headers) == 4
    assert all((bits >> 17) & 0x1FFFF > 0 for bits in headers)  # all went out compressed
    pieces = read_all(data, compressed=True)
    assert b"".join(p for p, _ in pieces) == frame
    assert not any(self_contained for _, self_contained in pieces)


def test_lz4_compresses_when_it_does_shrink() -> None:
    payload = b"\x00" * 4096
    segment = encode_segment(payload, True, compressed=True)
    bits = int.from_bytes(segment[:5], "little")
    assert (bits >> 17) & 0x1FFFF == len(payload)
    assert bits & 0x1FFFF < len(payload)
    assert read_all(segment, compressed=True) == [(payload, True)]


def test_empty_payload_is_never_compressed() -> None:
    segment = encode_segment(b"", True, compressed=True)
    assert int.from_bytes(segment[:5], "little") == 1 << 34
    assert len(segment) == 8 + 4
    assert read_all(segment, compressed=True) == [(b"", True)]


def test_connection_compresses_incompressible_messages_too() -> None:
    client, server = handshake("lz4")
    rows = _blob_rows(random.Random(SEED).randbytes(2000))
    transfer(client, server, [Envelope(stream=1, message=Query(query="SELECT b FROM ks.t"))])
    data = transfer(server, client, [Envelope(stream=1, message=rows)])
    bits = int.from_bytes(data[:5], "little")
    frame = encode_envelope(Envelope(stream=1, message=rows), 5).encode()
    assert (bits >> 17) & 0x1FFFF == len(frame)
    assert lz4.block.decompress(data[8:-4], uncompressed_size=len(frame)) == frame


# --- byte by byte ---------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_segment_reader_fed_one_byte_at_a_time(compressed: bool) -> None:
    rng = random.Random(SEED)
    payloads = [b"", b"a", b"abc" * 300, rng.randbytes(700)]
    segments = [encode_segment(p, i % 2 == 0, compressed) for i, p in enumerate(payloads)]
    reader = SegmentReader(compressed)
    got = []
    for segment in segments:
        for i, byte in enumerate(segment):
            reader.feed(bytes([byte]))
            result = reader.next_segment()
            if i < len(segment) - 1:
                assert result is None
            else:
                assert result is not None
                got.append(result)
    assert got == [(p, i % 2 == 0) for i, p in enumerate(payloads)]
    assert reader.buffered == 0


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_connection_fed_segments_one_byte_at_a_time(compression: str | None) -> None:
    client, server = handshake(compression)
    messages: list[Message] = [
        Query(query="SELECT * FROM ks.t"),
        Query(query="y" * (MAX_SEGMENT_PAYLOAD + 10)),  # two non-self-contained segments
    ]
    envelopes = [Envelope(stream=i + 1, message=m) for i, m in enumerate(messages)]
    data = client.send_many(envelopes)
    received = []
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
        event = server.next_event()
        if isinstance(event, Envelope):
            received.append((i, event.message))
        else:
            assert event is NEED_DATA
    assert [m for _, m in received] == messages
    assert received[-1][0] == len(data) - 1  # the last one completes on the very last byte


# --- segment rules a connection enforces ----------------------------------------------------


def test_self_contained_segment_ending_inside_a_frame_is_a_remote_error() -> None:
    _, server = handshake(None)
    frame = encode_envelope(Envelope(stream=1, message=Query(query="SELECT 1")), 5).encode()
    server.receive_data(encode_segment(frame[:-3], True, compressed=False))
    with pytest.raises(RemoteProtocolError, match="self-contained"):
        server.next_event()


def test_self_contained_segment_inside_a_split_frame_is_a_remote_error() -> None:
    _, server = handshake(None)
    frame = encode_envelope(Envelope(stream=1, message=Query(query="SELECT 1")), 5).encode()
    server.receive_data(encode_segment(frame[:10], False, compressed=False))
    server.receive_data(encode_segment(frame[10:], True, compressed=False))
    with pytest.raises(RemoteProtocolError, match="self-contained"):
        server.next_event()


def test_split_frame_across_non_self_contained_segments_is_accepted() -> None:
    _, server = handshake(None)
    envelope = Envelope(stream=1, message=Query(query="SELECT 1"))
    frame = encode_envelope(envelope, 5).encode()
    for start in range(0, len(frame), 7):
        server.receive_data(encode_segment(frame[start : start + 7], False, compressed=False))
    event = server.next_event()
    assert isinstance(event, Envelope)
    assert event.message == envelope.message
