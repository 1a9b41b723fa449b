"""Order-preserving, prefix-free encodings of single CQL values (the parts of a clustering key).

Each codec encodes a non-empty serialized value so that unsigned byte order is the order of
Cassandra's ``AbstractType`` subclass for that type, and decodes it back to a canonical
serialization. :func:`encode_component` adds the header byte that orders null (only inside
tuples and UDTs) before empty before any value. Per type:

* tinyint, smallint, int, bigint, counter, timestamp, time: two's complement, sign bit flipped;
  date: unsigned as it is; boolean: ``00`` false, ``01`` any true.
* float, double: IEEE bits, all flipped for negatives and the sign bit flipped otherwise, which
  is Java's ``Float.compare``/``Double.compare`` once every NaN is made the one canonical NaN
  (above +infinity); -0.0 sorts before 0.0.
* uuid (``UUIDType``): version nibble first, then the timestamp of version 1 UUIDs or the other
  bits, then the low 8 bytes unsigned. timeuuid (``TimeUUIDType``): timestamp, then the low 8
  bytes compared as signed bytes (each byte's top bit flipped).
* text, ascii, blob, inet, custom: unsigned bytes, ``00`` escaped as ``00 FF``, then ``00 00``.
* varint: sign tag, magnitude length, magnitude; decimal: sign tag, decimal exponent, digits,
  terminator; negatives inverted. Numerically equal values (``1.0``/``1.00``) encode equally.
* vector: one component per element, in the element type's order.
* frozen list/set/map: one ``01`` + component per element (map: key then value), ``00`` to end;
  sets and maps sorted and deduplicated as Cassandra keeps them. tuple/UDT: one component per
  declared field, missing trailing fields being nulls.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from cassflow.devserver._schema_types import vector_parts
from cassflow.devserver._vectors import join_vector, split_vector
from cassflow.errors import CassflowError
from cassflow.protocol import DataType, TypeCode

__all__ = [
    "INVERT",
    "KeyCodecError",
    "ValueCodec",
    "encode_component",
    "read_component",
    "value_codec",
]


class KeyCodecError(CassflowError):
    """A value cannot be part of a key: null, wrong length for its type, or a duration.

    The caller handed a value Cassandra would reject with an ``Invalid`` error; the executor
    should validate first and treat this as a bug guard.
    """


#: Translation table that inverts every byte (DESC components, negative numbers).
INVERT: Final = bytes(255 - i for i in range(256))

# Component headers. Cassandra orders a null tuple component first, then an empty value,
# then every non-empty value.
_NULL: Final = 0x00
_EMPTY: Final = 0x01
_VALUE: Final = 0x02
# Collection element markers: another element follows, or the collection ends (a shorter
# collection that is a prefix of a longer one sorts first).
_MORE: Final = b"\x01"
_END: Final = b"\x00"
# Sign tags of variable-length numbers.
_NEG: Final = b"\x01"
_ZERO: Final = b"\x02"
_POS: Final = b"\x03"
# Decimals that are whole numbers decode with scale 0 unless that needs more zeros than this
# (1E+100000 stays in exponent form rather than growing a 100 kB varint).
_MAX_EXPANDED_ZEROS: Final = 64

_DIGITS_IN: Final = bytes.maketrans(b"0123456789", bytes(range(1, 11)))
_DIGITS_OUT: Final = bytes.maketrans(bytes(range(1, 11)), b"0123456789")
_INT32: Final = struct.Struct(">i")
_UINT64: Final = struct.Struct(">Q")
_MASK64: Final = (1 << 64) - 1
_TIMEUUID_LSB_FLIP: Final = 0x8080808080808080


# A body encoder takes a non-empty serialized value; a body decoder takes the encoded key and
# the offset of the body and returns the canonical serialized value and the offset after it.
_Enc = Callable[[bytes], bytes]
_Dec = Callable[[bytes, int], tuple[bytes, int]]


@dataclass(frozen=True, slots=True)
class ValueCodec:
    """Encoder and decoder of one type's values (see the module docstring)."""

    enc: _Enc
    dec: _Dec


def _need(value: bytes, width: int, dtype: DataType) -> None:
    if len(value) != width:
        raise KeyCodecError(f"a {dtype.cql()} value has {width} bytes, not {len(value)}")


def _take(buf: bytes, pos: int, width: int) -> bytes:
    end = pos + width
    if end > len(buf):
        raise KeyCodecError("truncated clustering key")
    return buf[pos:end]


def _signed(dtype: DataType, width: int) -> ValueCodec:
    # Two's complement big-endian orders like unsigned once the sign bit is flipped.
    def enc(value: bytes) -> bytes:
        _need(value, width, dtype)
        return bytes((value[0] ^ 0x80,)) + value[1:]

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        body = _take(buf, pos, width)
        return bytes((body[0] ^ 0x80,)) + body[1:], pos + width

    return ValueCodec(enc, dec)


def _unsigned(dtype: DataType, width: int) -> ValueCodec:
    def enc(value: bytes) -> bytes:
        _need(value, width, dtype)
        return value

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        return _take(buf, pos, width), pos + width

    return ValueCodec(enc, dec)


def _boolean(dtype: DataType) -> ValueCodec:
    # BooleanType: 0 is false, any other byte is true, and all trues are equal.
    def enc(value: bytes) -> bytes:
        _need(value, 1, dtype)
        return b"\x01" if value[0] else b"\x00"

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        return _take(buf, pos, 1), pos + 1

    return ValueCodec(enc, dec)


def _ieee(dtype: DataType, width: int) -> ValueCodec:
    # Java's Float.compare/Double.compare: -0.0 < 0.0, and every NaN (whatever its sign or
    # payload) is equal to every other NaN and above +infinity.
    bits = width * 8
    sign = 1 << (bits - 1)
    full = (1 << bits) - 1
    mantissa_bits = 52 if width == 8 else 23
    mantissa = (1 << mantissa_bits) - 1
    exponent = full & ~mantissa & ~sign
    canonical_nan = exponent | (1 << (mantissa_bits - 1))

    def enc(value: bytes) -> bytes:
        _need(value, width, dtype)
        raw = int.from_bytes(value, "big")
        if raw & exponent == exponent and raw & mantissa:
            raw = canonical_nan
        raw = raw ^ full if raw & sign else raw | sign
        return raw.to_bytes(width, "big")

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        raw = int.from_bytes(_take(buf, pos, width), "big")
        raw = raw ^ sign if raw & sign else raw ^ full
        return raw.to_bytes(width, "big"), pos + width

    return ValueCodec(enc, dec)


def _reorder_timestamp(msb: int) -> int:
    # time_low | time_mid | version+time_hi  ->  version+time_hi | time_mid | time_low
    return ((msb << 48) & _MASK64) | ((msb << 16) & 0xFFFF00000000) | (msb >> 32)


def _reorder_back(high: int) -> int:
    return ((high << 32) & _MASK64) | ((high >> 16) & 0xFFFF0000) | (high >> 48)


def _uuid(dtype: DataType) -> ValueCodec:
    # UUIDType: version first; time-based UUIDs by timestamp, others by their unsigned most
    # significant bits; then the least significant bits unsigned. Moving the version nibble
    # to the top of the high long makes that a plain unsigned 128-bit comparison.
    def enc(value: bytes) -> bytes:
        _need(value, 16, dtype)
        msb = int.from_bytes(value[:8], "big")
        version = (msb >> 12) & 0xF
        if version == 1:
            high = _reorder_timestamp(msb)
        else:
            high = (version << 60) | ((msb >> 4) & 0x0FFFFFFFFFFFF000) | (msb & 0xFFF)
        return high.to_bytes(8, "big") + value[8:]

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        body = _take(buf, pos, 16)
        high = int.from_bytes(body[:8], "big")
        version = high >> 60
        if version == 1:
            msb = _reorder_back(high)
        else:
            msb = ((high << 4) & 0xFFFFFFFFFFFF0000) | (version << 12) | (high & 0xFFF)
        return msb.to_bytes(8, "big") + body[8:], pos + 16

    return ValueCodec(enc, dec)


def _timeuuid(dtype: DataType) -> ValueCodec:
    # TimeUUIDType: by timestamp, then the low 8 bytes compared as *signed* bytes
    # (CASSANDRA-8730), which flipping each byte's top bit turns into unsigned order.
    def enc(value: bytes) -> bytes:
        _need(value, 16, dtype)
        msb = int.from_bytes(value[:8], "big")
        if (msb >> 12) & 0xF != 1:
            raise KeyCodecError("a timeuuid value must be a version 1 UUID")
        lsb = int.from_bytes(value[8:], "big") ^ _TIMEUUID_LSB_FLIP
        return _reorder_timestamp(msb).to_bytes(8, "big") + lsb.to_bytes(8, "big")

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        body = _take(buf, pos, 16)
        msb = _reorder_back(int.from_bytes(body[:8], "big"))
        lsb = int.from_bytes(body[8:], "big") ^ _TIMEUUID_LSB_FLIP
        return msb.to_bytes(8, "big") + lsb.to_bytes(8, "big"), pos + 16

    return ValueCodec(enc, dec)


def _escape(value: bytes) -> bytes:
    return value.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _unescape(buf: bytes, pos: int) -> tuple[bytes, int]:
    parts = []
    while True:
        zero = buf.find(b"\x00", pos)
        if zero < 0 or zero + 1 >= len(buf):
            raise KeyCodecError("truncated clustering key")
        parts.append(buf[pos:zero])
        if buf[zero + 1] == 0x00:
            return b"".join(parts), zero + 2
        parts.append(b"\x00")
        pos = zero + 2


_BYTES_CODEC: Final = ValueCodec(_escape, _unescape)


def _minimal_varint(number: int) -> bytes:
    if number >= 0:
        return number.to_bytes(number.bit_length() // 8 + 1, "big", signed=True)
    return number.to_bytes((~number).bit_length() // 8 + 1, "big", signed=True)


def _varint_enc(value: bytes) -> bytes:
    # Sign tag, then the magnitude's length (4 bytes) and bytes; negatives inverted so that a
    # larger magnitude sorts first.
    number = int.from_bytes(value, "big", signed=True)
    if number == 0:
        return _ZERO
    magnitude = abs(number)
    body = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
    body = len(body).to_bytes(4, "big") + body
    return _POS + body if number > 0 else _NEG + body.translate(INVERT)


def _varint_dec(buf: bytes, pos: int) -> tuple[bytes, int]:
    tag = _take(buf, pos, 1)
    pos += 1
    if tag == _ZERO:
        return b"\x00", pos
    header = _take(buf, pos, 4)
    if tag == _NEG:
        header = header.translate(INVERT)
    length = int.from_bytes(header, "big")
    body = _take(buf, pos + 4, length)
    if tag == _NEG:
        body = body.translate(INVERT)
    magnitude = int.from_bytes(body, "big")
    return _minimal_varint(magnitude if tag == _POS else -magnitude), pos + 4 + length


_VARINT_CODEC: Final = ValueCodec(_varint_enc, _varint_dec)


def _decimal_enc(value: bytes) -> bytes:
    # value = unscaled * 10**-scale = 0.d1d2...dn * 10**E with d1 != 0 and dn != 0: sign tag,
    # E (8 bytes, sign bit flipped), digits shifted to 01..0A, terminator 00; negatives inverted.
    if len(value) < 5:
        raise KeyCodecError(f"a decimal value has at least 5 bytes, not {len(value)}")
    scale = _INT32.unpack_from(value)[0]
    unscaled = int.from_bytes(value[4:], "big", signed=True)
    if unscaled == 0:
        return _ZERO
    text = str(abs(unscaled))
    exponent = len(text) - scale
    body = (
        _UINT64.pack((exponent + (1 << 63)) & _MASK64)
        + text.rstrip("0").encode().translate(_DIGITS_IN)
        + b"\x00"
    )
    return _POS + body if unscaled > 0 else _NEG + body.translate(INVERT)


def _decimal_dec(buf: bytes, pos: int) -> tuple[bytes, int]:
    tag = _take(buf, pos, 1)
    pos += 1
    if tag == _ZERO:
        return b"\x00\x00\x00\x00\x00", pos
    end = buf.find(b"\xff" if tag == _NEG else b"\x00", pos + 8)
    if end < 0:
        raise KeyCodecError("truncated clustering key")
    body = buf[pos:end]
    if tag == _NEG:
        body = body.translate(INVERT)
    exponent = _UINT64.unpack_from(body)[0] - (1 << 63)
    digits = body[8:].translate(_DIGITS_OUT)
    unscaled = int(digits)
    scale = len(digits) - exponent
    if -_MAX_EXPANDED_ZEROS <= scale < 0:
        unscaled *= 10**-scale
        scale = 0
    if tag == _NEG:
        unscaled = -unscaled
    return _INT32.pack(scale) + _minimal_varint(unscaled), end + 1


_DECIMAL_CODEC: Final = ValueCodec(_decimal_enc, _decimal_dec)


# Frozen collections, tuples and UDTs: the serialized form of protocol v3 and later
# ([int] count, then [int] length + bytes per element, a negative length being null).


def _split(value: bytes, *, counted: bool, per_entry: int = 1) -> list[bytes | None]:
    """Elements of a collection (``counted``: an [int] count of entries comes first, each entry
    being ``per_entry`` values) or all the components of a tuple."""
    pos = 0
    count = -1
    if counted:
        if len(value) < 4 or _INT32.unpack_from(value)[0] < 0:
            raise KeyCodecError("malformed collection value")
        count = _INT32.unpack_from(value)[0] * per_entry
        pos = 4
    items: list[bytes | None] = []
    while len(items) < count if counted else pos < len(value):
        if pos + 4 > len(value):
            raise KeyCodecError("truncated collection value")
        length = _INT32.unpack_from(value, pos)[0]
        pos += 4
        if length < 0:
            items.append(None)
            continue
        if pos + length > len(value):
            raise KeyCodecError("truncated collection value")
        items.append(value[pos : pos + length])
        pos += length
    if pos != len(value):
        raise KeyCodecError("trailing bytes after a collection value")
    return items


def _join(items: Sequence[bytes | None], *, counted: bool) -> bytes:
    parts = [_INT32.pack(len(items))] if counted else []
    for item in items:
        if item is None:
            parts.append(_INT32.pack(-1))
        else:
            parts.append(_INT32.pack(len(item)))
            parts.append(item)
    return b"".join(parts)


_NULL_COMPONENT: Final = bytes((_NULL,))
_EMPTY_COMPONENT: Final = bytes((_EMPTY,))
_VALUE_HEADER: Final = bytes((_VALUE,))


def encode_component(codec: ValueCodec, value: bytes | None) -> bytes:
    """A header byte (null < empty < value) and the encoded value: one prefix-free component."""
    if value is None:
        return _NULL_COMPONENT
    if not value:
        return _EMPTY_COMPONENT
    return _VALUE_HEADER + codec.enc(value)


def read_component(codec: ValueCodec, buf: bytes, pos: int) -> tuple[bytes | None, int]:
    """Decode the component at ``buf[pos:]``: its canonical value and the offset after it."""
    header = _take(buf, pos, 1)[0]
    if header == _NULL:
        return None, pos + 1
    if header == _EMPTY:
        return b"", pos + 1
    if header != _VALUE:
        raise KeyCodecError(f"bad component header 0x{header:02x} in a clustering key")
    return codec.dec(buf, pos + 1)


def _sequence(element: ValueCodec, *, is_set: bool) -> ValueCodec:
    # ListType/SetType: element by element, then the shorter one first. Cassandra keeps frozen
    # sets sorted and without duplicates, so a set given in any order encodes the same.
    def enc(value: bytes) -> bytes:
        encoded = [encode_component(element, item) for item in _split(value, counted=True)]
        if is_set:
            encoded = sorted(set(encoded))
        return b"".join(_MORE + item for item in encoded) + _END

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        items: list[bytes | None] = []
        while _take(buf, pos, 1) == _MORE:
            item, pos = read_component(element, buf, pos + 1)
            items.append(item)
        return _join(items, counted=True), pos + 1

    return ValueCodec(enc, dec)


def _map(key: ValueCodec, val: ValueCodec) -> ValueCodec:
    # MapType: entry by entry (key, then value), then the shorter one first; frozen maps are
    # kept sorted by key, one entry per key (the last one given wins, as in a Java TreeMap).
    def enc(value: bytes) -> bytes:
        items = _split(value, counted=True, per_entry=2)
        entries = {
            encode_component(key, items[i]): encode_component(val, items[i + 1])
            for i in range(0, len(items), 2)
        }
        return b"".join(_MORE + k + entries[k] for k in sorted(entries)) + _END

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        items: list[bytes | None] = []
        while _take(buf, pos, 1) == _MORE:
            k, pos = read_component(key, buf, pos + 1)
            v, pos = read_component(val, buf, pos)
            items += (k, v)
        return _INT32.pack(len(items) // 2) + _join(items, counted=False), pos + 1

    return ValueCodec(enc, dec)


def _tuple(fields: Sequence[ValueCodec]) -> ValueCodec:
    # TupleType/UserType: component by component, null first; missing trailing components
    # (a UDT value written before a field was added) are nulls.
    def enc(value: bytes) -> bytes:
        items = _split(value, counted=False)
        if len(items) > len(fields):
            raise KeyCodecError(f"a tuple value has {len(items)} components, not {len(fields)}")
        items += [None] * (len(fields) - len(items))
        return b"".join(encode_component(f, item) for f, item in zip(fields, items, strict=True))

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        items: list[bytes | None] = []
        for field in fields:
            item, pos = read_component(field, buf, pos)
            items.append(item)
        return _join(items, counted=False), pos

    return ValueCodec(enc, dec)


def _vector(element_type: DataType, dtype: DataType) -> ValueCodec:
    # VectorType: element by element with the element type's order; the dimension is fixed,
    # so the components need no terminator.
    element = value_codec(element_type)
    dimension = (vector_parts(dtype) or (dtype, 0))[1]

    def enc(value: bytes) -> bytes:
        try:
            items = split_vector(value, dtype)
        except ValueError as exc:
            raise KeyCodecError(str(exc)) from None
        return b"".join(encode_component(element, item) for item in items)

    def dec(buf: bytes, pos: int) -> tuple[bytes, int]:
        items: list[bytes] = []
        for _ in range(dimension):
            item, pos = read_component(element, buf, pos)
            items.append(item or b"")
        return join_vector(items, element_type), pos

    return ValueCodec(enc, dec)


_SIGNED_WIDTHS: Final = {
    TypeCode.TINYINT: 1,
    TypeCode.SMALLINT: 2,
    TypeCode.INT: 4,
    TypeCode.BIGINT: 8,
    TypeCode.COUNTER: 8,
    TypeCode.TIMESTAMP: 8,
    TypeCode.TIME: 8,
}
_BYTE_ORDERED: Final = frozenset(
    {TypeCode.ASCII, TypeCode.VARCHAR, TypeCode.BLOB, TypeCode.INET, TypeCode.CUSTOM}
)


@functools.lru_cache(maxsize=1024)
def value_codec(dtype: DataType) -> ValueCodec:
    """The codec of a type; :class:`KeyCodecError` for a type that cannot be in a key."""
    code = dtype.code
    if code in _SIGNED_WIDTHS:
        return _signed(dtype, _SIGNED_WIDTHS[code])
    vector = vector_parts(dtype)
    if vector is not None:
        return _vector(vector[0], dtype)
    if code in _BYTE_ORDERED:
        return _BYTES_CODEC
    if code is TypeCode.DATE:
        return _unsigned(dtype, 4)
    if code is TypeCode.BOOLEAN:
        return _boolean(dtype)
    if code is TypeCode.FLOAT:
        return _ieee(dtype, 4)
    if code is TypeCode.DOUBLE:
        return _ieee(dtype, 8)
    if code is TypeCode.UUID:
        return _uuid(dtype)
    if code is TypeCode.TIMEUUID:
        return _timeuuid(dtype)
    if code is TypeCode.VARINT:
        return _VARINT_CODEC
    if code is TypeCode.DECIMAL:
        return _DECIMAL_CODEC
    if code is TypeCode.LIST or code is TypeCode.SET:
        return _sequence(value_codec(dtype.params[0]), is_set=code is TypeCode.SET)
    if code is TypeCode.MAP:
        return _map(value_codec(dtype.params[0]), value_codec(dtype.params[1]))
    if code is TypeCode.TUPLE or code is TypeCode.UDT:
        return _tuple([value_codec(p) for p in dtype.params])
    raise KeyCodecError(f"{dtype.cql()} values cannot be part of a key")
