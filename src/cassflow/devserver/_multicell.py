"""Non-frozen collections and user types as one cell per element, as Cassandra stores them.

A non-frozen list, set, map or user type column is a *complex* column in Cassandra: each
element (each field) is a cell of its own, with its own timestamp and TTL, addressed by a
*cell path*; overwriting or deleting the whole column writes a *complex deletion* (a
timestamp below which every cell of the column is gone). This module is the layout of those
cells in :mod:`._storage`, which stays ignorant of types:

* A cell path is a tag byte (the kind of column) followed by a body whose byte order is
  Cassandra's order of the cells: a set element or map key is encoded with
  :func:`~._keycodec.clustering_key` (byte order = the type's comparator); a list element
  has a time-based id (Cassandra's TimeUUID cell paths, here 8 bytes of 100 ns units since
  1582, compared as unsigned bytes = by time); a user type field has its position.
* A cell value holds what is needed to rebuild the collection without the type: a list or
  set element's serialized value, a map entry's ``[int32 key length][key][value]``, a field's
  ``[uint16 number of fields][value]``.
* :func:`assemble` rebuilds the serialized collection (protocol v3+ format) from the live
  cells of a column in path order; a column without live cells is null (so an empty
  collection reads as null, as in Cassandra).

List ids follow ``Lists.java``: appends take the current time, prepends a time mirrored
before 2010-01-01 that decreases with every prepend (``PrecisionTime``), so prepended
elements come first, the latest prepend before the earlier ones.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cassflow.devserver._keycodec import clustering_key
from cassflow.devserver._values import split_fields
from cassflow.protocol import DataType, TypeCode

__all__ = [
    "ElementCell",
    "MultiCellWrite",
    "assemble",
    "cassandra_size",
    "field_cell",
    "list_append_paths",
    "list_cell",
    "list_prepend_paths",
    "map_cell",
    "overwrite_cells",
    "set_cell",
    "split_map_value",
]

_LIST: Final = 0x01
_SET: Final = 0x02
_MAP: Final = 0x03
_FIELD: Final = 0x04

_INT32 = struct.Struct(">i")
_UINT16 = struct.Struct(">H")
_ID = struct.Struct(">Q")

# 100 ns intervals between 1582-10-15 (the UUID epoch) and 1970-01-01.
_UUID_EPOCH_OFFSET: Final = 0x01B21DD213814000
# Lists.PrecisionTime.REFERENCE_TIME (2010-01-01) in milliseconds.
_REFERENCE_MS: Final = 1262304000000
_MAX_NANOS: Final = 9999
# Cassandra's list cell paths are 16-byte TimeUUIDs; user type field paths are shorts.
_LIST_PATH_SIZE: Final = 16
_FIELD_PATH_SIZE: Final = 2

#: One element cell to write: (cell path, value), value None for an element tombstone.
ElementCell = tuple[bytes, bytes | None]


@dataclass(frozen=True, slots=True)
class MultiCellWrite:
    """What one statement writes to one non-frozen collection or user type column.

    ``deletion`` is the timestamp of a complex deletion (every cell of the column with a
    timestamp up to it goes): the write's timestamp - 1 when the whole value is overwritten,
    the timestamp itself for ``DELETE c`` / ``SET c = null``. ``elements`` are the element
    cells written with the statement's timestamp and TTL (tombstones take no TTL).
    """

    elements: tuple[ElementCell, ...] = ()
    deletion: int | None = None


# --- cell paths and values ----------------------------------------------------------------


def set_cell(element: bytes, element_type: DataType) -> tuple[bytes, bytes]:
    """The cell of a set element (its value is the element, to rebuild the set)."""
    return bytes((_SET,)) + clustering_key([element], [element_type], [False]), element


def map_cell(key: bytes, value: bytes | None, key_type: DataType) -> ElementCell:
    """The cell of a map entry; ``value`` None: the entry's tombstone."""
    path = bytes((_MAP,)) + clustering_key([key], [key_type], [False])
    return path, None if value is None else _INT32.pack(len(key)) + key + value


def split_map_value(stored: bytes) -> tuple[bytes, bytes]:
    """The (key, value) of a map entry cell's stored value."""
    size = _INT32.unpack_from(stored)[0]
    return stored[4 : 4 + size], stored[4 + size :]


def field_cell(position: int, value: bytes | None, count: int) -> ElementCell:
    """The cell of user type field ``position`` of ``count``; ``value`` None: a tombstone."""
    path = bytes((_FIELD,)) + _UINT16.pack(position)
    return path, None if value is None else _UINT16.pack(count) + value


def list_cell(path: bytes, value: bytes | None) -> ElementCell:
    """A list element cell at an existing ``path`` (index set, discard)."""
    return path, value


class _ListClock:
    """Process-wide sources of list cell ids, strictly increasing (appends) and strictly
    decreasing below 2010 (prepends), as ``UUIDGen.getTimeUUIDBytes`` and
    ``Lists.PrecisionTime`` make them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_append = 0
        self._last_prepend = 1 << 64

    def appends(self, count: int) -> list[int]:
        with self._lock:
            now = time.time_ns() // 100 + _UUID_EPOCH_OFFSET
            first = max(now, self._last_append + 1)
            self._last_append = first + count - 1
        return list(range(first, first + count))

    def prepends(self, count: int) -> list[int]:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            mirrored_ms = _REFERENCE_MS - (now_ms - _REFERENCE_MS)
            # 100 ns units of the mirrored millisecond, leaving room for ``count`` ids.
            base = (mirrored_ms * 10_000 + _MAX_NANOS - count) + _UUID_EPOCH_OFFSET
            first = min(base, self._last_prepend - count)
            self._last_prepend = first
        return list(range(first, first + count))


_CLOCK = _ListClock()


def list_append_paths(count: int) -> list[bytes]:
    """Cell paths for ``count`` appended elements, in list order (after every existing one)."""
    return [bytes((_LIST,)) + _ID.pack(i) for i in _CLOCK.appends(count)]


def list_prepend_paths(count: int) -> list[bytes]:
    """Cell paths for ``count`` prepended elements, in list order (before every existing one)."""
    return [bytes((_LIST,)) + _ID.pack(i) for i in _CLOCK.prepends(count)]


def overwrite_cells(raw: bytes, dtype: DataType) -> list[ElementCell]:
    """The element cells of a whole serialized value of a non-frozen ``dtype`` (a user
    type's null fields write no cell)."""
    code = dtype.code
    if code is TypeCode.UDT:
        count = len(dtype.params)
        fields = split_fields(raw, count)
        return [field_cell(i, v, count) for i, v in enumerate(fields) if v is not None]
    size = _INT32.unpack_from(raw)[0] * (2 if code is TypeCode.MAP else 1)
    items = split_fields(raw[4:], size)
    if code is TypeCode.MAP:
        key_type = dtype.params[0]
        return [
            map_cell(k, v, key_type)
            for k, v in zip(items[::2], items[1::2], strict=False)
            if k is not None and v is not None
        ]
    elements = [e for e in items if e is not None]
    if code is TypeCode.LIST:
        return list(zip(list_append_paths(len(elements)), elements, strict=True))
    return [set_cell(e, dtype.params[0]) for e in elements]


# --- reading back -------------------------------------------------------------------------


def _cell(value: bytes | None) -> bytes:
    return _INT32.pack(-1) if value is None else _INT32.pack(len(value)) + value


def assemble(cells: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The serialized collection or user type value of a column's live cells, in path order.

    ``cells`` is not empty. A user type gets as many fields as its cells say it had when they
    were written (missing fields null).
    """
    tag = cells[0][0][0]
    if tag == _MAP:
        parts = [_INT32.pack(len(cells))]
        for _, stored in cells:
            size = _INT32.unpack_from(stored)[0]
            parts.append(stored[: 4 + size])
            parts.append(_cell(stored[4 + size :]))
        return b"".join(parts)
    if tag == _FIELD:
        count = max(_UINT16.unpack_from(stored)[0] for _, stored in cells)
        fields: list[bytes | None] = [None] * count
        for path, stored in cells:
            position = _UINT16.unpack_from(path, 1)[0]
            if position >= len(fields):
                fields.extend([None] * (position + 1 - len(fields)))
            fields[position] = stored[2:]
        return b"".join(_cell(f) for f in fields)
    return _INT32.pack(len(cells)) + b"".join(_cell(stored) for _, stored in cells)


def cassandra_size(path: bytes, value: bytes | None) -> int:
    """The path and value bytes of Cassandra's cell for this element (``Cell.dataSize``
    less its timestamp, TTL and deletion time), for batch size checks. A set or map
    tombstone is sized by its encoded path (the element itself is not kept)."""
    tag = path[0]
    if tag == _LIST:
        return _LIST_PATH_SIZE + (0 if value is None else len(value))
    if tag == _FIELD:
        return _FIELD_PATH_SIZE + (0 if value is None else len(value) - 2)
    if value is None:
        return len(path) - 1
    # A map cell: the key is the path, its value the value; a set cell: the element is the
    # path and the value is empty.
    return len(value) - 4 if tag == _MAP else len(value)
