"""Byte-comparable keys: SQLite's BLOB order (memcmp) equals Cassandra's order.

Partition keys need no special encoding: Cassandra orders partitions by token, then by the
unsigned bytes of the routing key, and :func:`partition_key` builds that key exactly as the
Python driver does (so :func:`token` agrees with the driver's token-aware routing).

Clustering keys are encoded here. Theory of operation:

* A key is the concatenation of one *component* per clustering column. A component is a
  header byte (empty values sort first, as in Cassandra) followed by an order-preserving,
  *prefix-free* encoding of the value as Cassandra's ``AbstractType`` subclass for that type
  compares it (:mod:`._keycodec_values`). Fixed-width types are prefix-free by nature; byte
  strings are escaped and terminated; numbers of any size carry a sign tag and a length or
  exponent; collections, tuples and UDTs nest components.
* Because every component is prefix-free, comparing two concatenations byte by byte compares
  them component by component, and the keys sharing their first *k* components are exactly
  the keys starting with the same bytes: prefix equality is a byte range
  (``[prefix, prefix_successor(prefix))``).
* A DESC column has its whole component inverted (each byte XOR ``FF``). Inverting a
  prefix-free code reverses its order, so storage order is clustering order. A natural-order
  restriction such as ``c > x`` on a DESC column therefore selects a range *before* ``x`` in
  byte order; :func:`clustering_ranges` does that bookkeeping.
* Values that Cassandra considers equal encode equally (``1.0`` and ``1.00`` as decimals,
  any two NaNs, any two non-zero booleans, a varint with redundant sign bytes, a frozen set
  given in another order), so decoding returns a canonical serialization of the value, not
  necessarily the client's bytes.
* The static row of a partition uses :data:`STATIC_CK` (``b""``), which sorts before every
  encoded clustering key; the ranges made here never include it when the table has
  clustering columns.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cassandra.metadata import Murmur3Token

from cassflow.devserver._keycodec_values import (
    INVERT,
    KeyCodecError,
    ValueCodec,
    encode_component,
    read_component,
    value_codec,
)
from cassflow.protocol import DataType

__all__ = [
    "STATIC_CK",
    "CkRange",
    "KeyCodecError",
    "SliceBound",
    "clustering_key",
    "clustering_ranges",
    "decode_clustering_key",
    "merge_ranges",
    "partition_key",
    "prefix_successor",
    "token",
]


#: The clustering key of a partition's static row (and of the only row of a table without
#: clustering columns). It sorts before every other clustering key.
STATIC_CK: Final = b""

# A routing key component is prefixed by an unsigned short length.
_MAX_PK_COMPONENT: Final = 0xFFFF


# --------------------------------------------------------------------------- partition keys


def partition_key(values: Sequence[bytes]) -> bytes:
    """The routing key of a partition, as the Python driver builds it.

    One component: its serialized bytes. Several: ``[uint16 length][bytes][00]`` each.
    """
    if len(values) == 1:
        return bytes(values[0])
    parts = []
    for value in values:
        if len(value) > _MAX_PK_COMPONENT:
            raise KeyCodecError(
                f"partition key component of {len(value)} bytes (the limit is 65535)"
            )
        parts.append(len(value).to_bytes(2, "big") + value + b"\x00")
    return b"".join(parts)


def token(routing_key: bytes) -> int:
    """The Murmur3 token of a routing key (a signed 64-bit integer), as the driver computes it."""
    return int(Murmur3Token.hash_fn(routing_key))


# -------------------------------------------------------------------- clustering keys


@dataclass(frozen=True, slots=True)
class _Layout:
    codecs: tuple[ValueCodec, ...]
    descending: tuple[bool, ...]


@functools.lru_cache(maxsize=1024)
def _layout(types: tuple[DataType, ...], descending: tuple[bool, ...]) -> _Layout:
    if len(types) != len(descending):
        raise KeyCodecError(f"{len(types)} clustering types but {len(descending)} orders")
    return _Layout(tuple(value_codec(t) for t in types), descending)


def _encode(layout: _Layout, values: Sequence[bytes | None], first: int = 0) -> bytes:
    if first + len(values) > len(layout.codecs):
        raise KeyCodecError(
            f"{first + len(values)} clustering values for {len(layout.codecs)} columns"
        )
    parts = []
    for index, value in enumerate(values, first):
        if value is None:
            raise KeyCodecError(f"clustering column {index} is null")
        part = encode_component(layout.codecs[index], value)
        parts.append(part.translate(INVERT) if layout.descending[index] else part)
    return b"".join(parts)


def clustering_key(
    values: Sequence[bytes | None], types: Sequence[DataType], descending: Sequence[bool]
) -> bytes:
    """Encode the serialized values of the first ``len(values)`` clustering columns.

    ``types`` and ``descending`` describe every clustering column of the table, in order;
    ``values`` may be shorter (a prefix, as bounds need). With no values the result is
    :data:`STATIC_CK`. Raises :class:`KeyCodecError` for a null, a value of the wrong size
    for its type, or a type that cannot be in a key (duration).
    """
    return _encode(_layout(tuple(types), tuple(descending)), values)


def decode_clustering_key(
    ck: bytes, types: Sequence[DataType], descending: Sequence[bool]
) -> list[bytes]:
    """The serialized clustering values of an encoded key (or key prefix), canonicalized.

    Values equal for Cassandra but spelled differently come back in one spelling: decimals
    without trailing fractional zeros (scale 0 for whole numbers), minimal varints, booleans
    as ``00``/``01``, one NaN, frozen sets and maps sorted and deduplicated, tuples and UDTs
    with every component present.
    """
    layout = _layout(tuple(types), tuple(descending))
    values: list[bytes] = []
    pos = 0
    while pos < len(ck):
        index = len(values)
        if index >= len(layout.codecs):
            raise KeyCodecError("clustering key has more components than columns")
        if layout.descending[index]:
            rest = ck[pos:].translate(INVERT)
            value, used = read_component(layout.codecs[index], rest, 0)
        else:
            value, used = read_component(layout.codecs[index], ck, pos)
            used -= pos
        if value is None:
            raise KeyCodecError("clustering key holds a null component")
        values.append(value)
        pos += used
    return values


# ------------------------------------------------------------------------ key ranges


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``.

    ``None`` when there is none (``prefix`` is empty or all ``FF``): the range is unbounded.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


@dataclass(frozen=True, slots=True)
class CkRange:
    """Encoded clustering keys ``start <= ck < end`` (``end`` None: no upper limit)."""

    start: bytes
    end: bytes | None = None

    @classmethod
    def row(cls, ck: bytes) -> CkRange:
        """Exactly the row ``ck`` (a full key; for ``STATIC_CK`` that is the whole partition
        of a table without clustering columns)."""
        return cls(ck, prefix_successor(ck))

    def is_empty(self) -> bool:
        """True when no key can be in the range."""
        return self.end is not None and self.end <= self.start


@dataclass(frozen=True, slots=True)
class SliceBound:
    """One side of a clustering slice: ``(c_k, ..., c_m) >[=] (values)`` or ``<[=]``.

    ``values`` are serialized values of the columns right after the equality prefix, compared
    as a tuple in each type's natural order whatever the clustering order (as CQL does).
    """

    values: Sequence[bytes]
    inclusive: bool


def _span(start: bytes, end: bytes | None) -> list[CkRange]:
    rng = CkRange(start, end)
    return [] if rng.is_empty() else [rng]


def _side_ranges(
    layout: _Layout, prefix: bytes, first: int, bound: SliceBound, *, lower: bool
) -> list[CkRange]:
    # (c_first..c_m) > (v_0..v_j) is the union over i of {c_first..c_{first+i-1} = v_0..v_{i-1}
    # and c_{first+i} > v_i}, plus equality on all of them when inclusive. Each piece is one
    # byte range; which side of v_i it lies on depends on that column's order.
    ranges: list[CkRange] = []
    head = prefix
    for offset, value in enumerate(bound.values):
        index = first + offset
        with_value = head + _encode(layout, [value], index)
        after = lower != layout.descending[index]
        if after:
            past = prefix_successor(with_value)
            if past is not None:
                ranges += _span(past, prefix_successor(head))
        else:
            ranges += _span(head, with_value)
        head = with_value
    if bound.inclusive:
        ranges += _span(head, prefix_successor(head))
    return _merge(ranges)


def _merge(ranges: Sequence[CkRange]) -> list[CkRange]:
    merged: list[CkRange] = []
    for rng in sorted(ranges, key=lambda r: r.start):
        if rng.is_empty():
            continue
        if merged:
            last = merged[-1]
            if last.end is None or rng.start <= last.end:
                end = None if last.end is None or rng.end is None else max(last.end, rng.end)
                merged[-1] = CkRange(last.start, end)
                continue
        merged.append(rng)
    return merged


def _intersect(left: Sequence[CkRange], right: Sequence[CkRange]) -> list[CkRange]:
    out: list[CkRange] = []
    for a in left:
        for b in right:
            start = max(a.start, b.start)
            if a.end is None:
                end = b.end
            elif b.end is None:
                end = a.end
            else:
                end = min(a.end, b.end)
            out += _span(start, end)
    return _merge(out)


def merge_ranges(ranges: Sequence[CkRange]) -> list[CkRange]:
    """Sort ranges by start and merge the overlapping or touching ones (an IN list's ranges)."""
    return _merge(ranges)


def clustering_ranges(
    types: Sequence[DataType],
    descending: Sequence[bool],
    *,
    prefix: Sequence[bytes] = (),
    lower: SliceBound | None = None,
    upper: SliceBound | None = None,
) -> list[CkRange]:
    """The byte ranges of the rows matching a clustering restriction, in storage order.

    ``prefix`` holds the values of the first clustering columns restricted by equality
    (``c1 = x AND c2 = y``); ``lower``/``upper`` restrict the columns right after them,
    as ``(c3, c4) > (a, b)`` or ``c3 <= a`` would. With neither bound the result is the
    prefix's own range; with no prefix and no bound, every clustering row. DESC columns
    are handled (a bound may then need several ranges). The static row is never included
    when the table has clustering columns. For ``IN``, call this once per listed value
    (as ``prefix``) and pass all ranges to the storage, which merges them.
    """
    layout = _layout(tuple(types), tuple(descending))
    head = _encode(layout, prefix)
    ranges = _span(head, prefix_successor(head))
    first = len(prefix)
    for bound, is_lower in ((lower, True), (upper, False)):
        if bound is not None:
            ranges = _intersect(ranges, _side_ranges(layout, head, first, bound, lower=is_lower))
    if layout.codecs:
        # Keep the static row (b"") out of clustering reads.
        ranges = _intersect(ranges, [CkRange(b"\x00")])
    return ranges
