"""``vector<t, n>`` values (Cassandra 5's ``VectorType``): their bytes element by element.

Fixed-width elements (float, int, bigint...) follow one another; the others each come after
their length as an unsigned vint. The type is a custom type named by its marshal class;
:func:`~._schema_types.vector_parts` gives its element type and dimension.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from cassflow.devserver._schema_types import cql_type, vector_parts
from cassflow.protocol import DataType, TypeCode

__all__ = ["SIMILARITY_FUNCTIONS", "join_vector", "similarity", "split_vector"]

# Serialized sizes of the fixed-width types: their vector elements carry no length.
_FIXED_WIDTH = {
    TypeCode.BIGINT: 8,
    TypeCode.BOOLEAN: 1,
    TypeCode.COUNTER: 8,
    TypeCode.DOUBLE: 8,
    TypeCode.FLOAT: 4,
    TypeCode.INT: 4,
    TypeCode.TIMESTAMP: 8,
    TypeCode.UUID: 16,
    TypeCode.TIMEUUID: 16,
}


def join_vector(elements: Sequence[bytes], element_type: DataType) -> bytes:
    """A vector's bytes: fixed-width elements back to back, others each after its length
    as an unsigned vint (``VectorType``'s serializer)."""
    if element_type.code in _FIXED_WIDTH and not element_type.params:
        return b"".join(elements)
    return b"".join(_unsigned_vint(len(e)) + e for e in elements)


def split_vector(raw: bytes, dtype: DataType) -> list[bytes]:
    """The serialized elements of a vector value; ValueError names what is wrong."""
    element_type, dimension = vector_parts(dtype) or (dtype, 0)
    if not raw:
        raise ValueError("Invalid empty vector value")
    name = cql_type(dtype)
    width = _FIXED_WIDTH.get(element_type.code) if not element_type.params else None
    elements: list[bytes] = []
    pos = 0
    for _ in range(dimension):
        if width is None:
            if pos >= len(raw):
                raise ValueError(f"Not enough bytes to read a {name}")
            size, pos = _read_unsigned_vint(raw, pos)
        else:
            size = width
        if pos + size > len(raw):
            raise ValueError(f"Not enough bytes to read a {name}")
        elements.append(raw[pos : pos + size])
        pos += size
    if pos != len(raw):
        raise ValueError(f"Unexpected {len(raw) - pos} extraneous bytes after {name} value")
    return elements


def _unsigned_vint(value: int) -> bytes:
    # Cassandra's VIntCoding: the count of extra bytes is the number of leading 1 bits.
    if value < 0x80:
        return bytes([value])
    size = (value.bit_length() + 6) // 7  # total bytes, 7 payload bits per extra byte
    extra = size - 1
    data = value.to_bytes(size, "big")
    first = (0xFF << (8 - extra)) & 0xFF
    return bytes([data[0] | first]) + data[1:]


def _read_unsigned_vint(raw: bytes, pos: int) -> tuple[int, int]:
    first = raw[pos]
    extra = 0
    while extra < 8 and first & (0x80 >> extra):
        extra += 1
    if pos + 1 + extra > len(raw):
        raise ValueError("Not enough bytes to read a vint")
    value = first & (0xFF >> extra) if extra < 8 else 0
    for byte in raw[pos + 1 : pos + 1 + extra]:
        value = (value << 8) | byte
    return value, pos + 1 + extra


# --- similarity functions (Cassandra 5.0's VectorFcts) -------------------------------------

#: The similarity functions of Cassandra 5.0, and whether each accepts all-zero vectors.
SIMILARITY_FUNCTIONS = {
    "similarity_cosine": False,
    "similarity_euclidean": True,
    "similarity_dot_product": True,
}
_F32 = struct.Struct(">f")


def _f32(value: float) -> float:
    """``value`` rounded to a Java float (what each float operation of jvector gives)."""
    try:
        return float(_F32.unpack(_F32.pack(value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _floats(raw: bytes) -> list[float]:
    return [_F32.unpack_from(raw, pos)[0] for pos in range(0, len(raw), 4)]


def similarity(name: str, left: bytes, right: bytes) -> bytes:
    """``similarity_xxx(left, right)`` of two float vectors of one dimension, as a float.

    Cosine is ``(1 + cos) / 2``, dot product ``(1 + a·b) / 2`` and euclidean
    ``1 / (1 + |a - b|²)``, in float arithmetic as jvector's ``VectorSimilarityFunction``.
    Raises ValueError for an all-zero vector given to cosine.
    """
    a, b = _floats(left), _floats(right)
    if name == "similarity_euclidean":
        total = 0.0
        for x, y in zip(a, b, strict=True):
            diff = _f32(x - y)
            total = _f32(total + _f32(diff * diff))
        return _F32.pack(_f32(1 / _f32(1 + total)))
    dot = 0.0
    for x, y in zip(a, b, strict=True):
        dot = _f32(dot + _f32(x * y))
    if name == "similarity_dot_product":
        return _F32.pack(_f32(_f32(1 + dot) / 2))
    if not any(a) or not any(b):
        raise ValueError(f"Function system.{name} doesn't support all-zero vectors.")
    norm_a = norm_b = 0.0
    for x, y in zip(a, b, strict=True):
        norm_a = _f32(norm_a + _f32(x * x))
        norm_b = _f32(norm_b + _f32(y * y))
    cosine = _f32(dot / math.sqrt(norm_a * norm_b))
    return _F32.pack(_f32(_f32(1 + cosine) / 2))
