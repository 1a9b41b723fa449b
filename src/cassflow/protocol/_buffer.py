"""Readers and writers for the notations of spec section 3 ([int], [string], [bytes map]...).

A :class:`Reader` walks a ``bytes`` body with an integer cursor; every read past the end, and
every value the spec forbids, raises :class:`RemoteProtocolError` (the bytes came from the
peer). A :class:`Writer` appends to a ``bytearray``; a value that cannot be represented on the
wire raises :class:`LocalProtocolError` (the caller handed it to us).
"""

from __future__ import annotations

import ipaddress
import struct
import uuid
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Final, Literal

from cassflow.protocol._errors import LocalProtocolError, RemoteProtocolError

_BYTE: Final = struct.Struct(">B")
_SHORT: Final = struct.Struct(">H")
_INT: Final = struct.Struct(">i")
_UINT: Final = struct.Struct(">I")
_LONG: Final = struct.Struct(">q")


class Unset(Enum):
    """Type of :data:`UNSET`, the [value] marker meaning "leave this column as it is" (v4+)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: A bound value that is neither null nor set: Cassandra leaves the existing cell untouched.
UNSET: Final = Unset.UNSET

#: What a bound [value] can be: serialized bytes, null, or not set.
Value = bytes | None | Literal[Unset.UNSET]

#: An IP address and port, as the [inet] notation carries them.
Inet = tuple[str, int]


class Reader:
    """Sequential reads over one message body."""

    __slots__ = ("_data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self._data = data
        self.pos = pos

    @property
    def data(self) -> bytes:
        """The whole body being read."""
        return self._data

    @property
    def remaining(self) -> int:
        """Bytes not read yet."""
        return len(self._data) - self.pos

    def _take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self._data):
            raise RemoteProtocolError(
                f"truncated body: {what} needs {n} bytes at offset {self.pos}, "
                f"{len(self._data) - self.pos} left"
            )
        chunk = self._data[self.pos : end]
        self.pos = end
        return chunk

    def _unpack(self, fmt: struct.Struct, what: str) -> int:
        if self.pos + fmt.size > len(self._data):
            raise RemoteProtocolError(
                f"truncated body: {what} needs {fmt.size} bytes at offset {self.pos}, "
                f"{len(self._data) - self.pos} left"
            )
        (value,) = fmt.unpack_from(self._data, self.pos)
        self.pos += fmt.size
        return int(value)

    def read_byte(self) -> int:
        """[byte]: an unsigned 8-bit integer."""
        return self._unpack(_BYTE, "[byte]")

    def read_short(self) -> int:
        """[short]: an unsigned 16-bit integer."""
        return self._unpack(_SHORT, "[short]")

    def read_int(self) -> int:
        """[int]: a signed 32-bit integer."""
        return self._unpack(_INT, "[int]")

    def read_uint(self) -> int:
        """An unsigned 32-bit integer (frame lengths)."""
        return self._unpack(_UINT, "[int]")

    def read_long(self) -> int:
        """[long]: a signed 64-bit integer."""
        return self._unpack(_LONG, "[long]")

    def read_raw(self, n: int, what: str = "bytes") -> bytes:
        """Exactly ``n`` bytes."""
        return self._take(n, what)

    def read_rest(self) -> bytes:
        """Everything not read yet."""
        chunk = self._data[self.pos :]
        self.pos = len(self._data)
        return chunk

    def _utf8(self, raw: bytes, what: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"{what} is not valid UTF-8: {exc.reason}") from None

    def read_string(self) -> str:
        """[string]: a [short] length and that many UTF-8 bytes."""
        return self._utf8(self._take(self.read_short(), "[string]"), "[string]")

    def read_long_string(self) -> str:
        """[long string]: an [int] length and that many UTF-8 bytes."""
        n = self.read_int()
        if n < 0:
            raise RemoteProtocolError(f"[long string] with negative length {n}")
        return self._utf8(self._take(n, "[long string]"), "[long string]")

    def skip_string(self) -> None:
        """Step over a [string] without decoding (or copying) it."""
        n = self.read_short()
        if self.pos + n > len(self._data):
            self._take(n, "[string]")  # raises the truncation error
        self.pos += n

    def read_uuid(self) -> uuid.UUID:
        """[uuid]: 16 bytes."""
        return uuid.UUID(bytes=self._take(16, "[uuid]"))

    def read_string_list(self) -> tuple[str, ...]:
        """[string list]."""
        return tuple(self.read_string() for _ in range(self.read_short()))

    def read_bytes(self) -> bytes | None:
        """[bytes]: an [int] length and that many bytes; a negative length is null."""
        n = self.read_int()
        if n < 0:
            return None
        return self._take(n, "[bytes]")

    def read_value(self, allow_unset: bool) -> Value:
        """[value]: like [bytes], but -2 means "not set" (v4+) and below -2 is invalid."""
        n = self.read_int()
        if n >= 0:
            return self._take(n, "[value]")
        if n == -1:
            return None
        if n == -2 and allow_unset:
            return UNSET
        raise RemoteProtocolError(f"[value] with invalid length {n}")

    def read_short_bytes(self) -> bytes:
        """[short bytes]."""
        return self._take(self.read_short(), "[short bytes]")

    def read_string_map(self) -> dict[str, str]:
        """[string map]."""
        return {self.read_string(): self.read_string() for _ in range(self.read_short())}

    def read_string_multimap(self) -> dict[str, tuple[str, ...]]:
        """[string multimap]."""
        return {self.read_string(): self.read_string_list() for _ in range(self.read_short())}

    def read_bytes_map(self) -> dict[str, bytes | None]:
        """[bytes map]."""
        return {self.read_string(): self.read_bytes() for _ in range(self.read_short())}

    def read_inetaddr(self) -> str:
        """[inetaddr]: a length byte (4 or 16) and the address."""
        size = self.read_byte()
        if size not in (4, 16):
            raise RemoteProtocolError(f"[inetaddr] with size {size}, expected 4 or 16")
        return str(ipaddress.ip_address(self._take(size, "[inetaddr]")))

    def read_inet(self) -> Inet:
        """[inet]: an [inetaddr] and an [int] port."""
        address = self.read_inetaddr()
        return (address, self.read_int())


class Writer:
    """Appends the spec's notations to a growing body."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        """The bytes written so far."""
        return bytes(self.buf)

    def write_byte(self, n: int) -> None:
        """[byte]."""
        self.buf += _pack(_BYTE, n, "[byte]")

    def write_short(self, n: int) -> None:
        """[short]."""
        self.buf += _pack(_SHORT, n, "[short]")

    def write_int(self, n: int) -> None:
        """[int]."""
        self.buf += _pack(_INT, n, "[int]")

    def write_long(self, n: int) -> None:
        """[long]."""
        self.buf += _pack(_LONG, n, "[long]")

    def write_raw(self, data: bytes) -> None:
        """Bytes with no length prefix."""
        self.buf += data

    def write_string(self, s: str) -> None:
        """[string]."""
        data = s.encode("utf-8")
        self.write_count(len(data), "[string]")
        self.buf += data

    def write_long_string(self, s: str) -> None:
        """[long string]."""
        data = s.encode("utf-8")
        self.write_int(len(data))
        self.buf += data

    def write_uuid(self, u: uuid.UUID) -> None:
        """[uuid]."""
        self.buf += u.bytes

    def write_string_list(self, items: Iterable[str]) -> None:
        """[string list]."""
        items = tuple(items)
        self.write_count(len(items), "[string list]")
        for item in items:
            self.write_string(item)

    def write_bytes(self, data: bytes | None) -> None:
        """[bytes]; None is written as null."""
        if data is None:
            self.buf += _INT.pack(-1)
        else:
            self.write_int(len(data))
            self.buf += data

    def write_value(self, data: Value, allow_unset: bool) -> None:
        """[value]; None is null, :data:`UNSET` is "not set" (v4+ only)."""
        if data is UNSET:
            if not allow_unset:
                raise LocalProtocolError("unset values need protocol v4 or later")
            self.buf += _INT.pack(-2)
        else:
            self.write_bytes(data)

    def write_short_bytes(self, data: bytes) -> None:
        """[short bytes]."""
        self.write_count(len(data), "[short bytes]")
        self.buf += data

    def write_string_map(self, mapping: Mapping[str, str]) -> None:
        """[string map]."""
        self.write_count(len(mapping), "[string map]")
        for key, val in mapping.items():
            self.write_string(key)
            self.write_string(val)

    def write_string_multimap(self, mapping: Mapping[str, Iterable[str]]) -> None:
        """[string multimap]."""
        self.write_count(len(mapping), "[string multimap]")
        for key, vals in mapping.items():
            self.write_string(key)
            self.write_string_list(vals)

    def write_bytes_map(self, mapping: Mapping[str, bytes | None]) -> None:
        """[bytes map]."""
        self.write_count(len(mapping), "[bytes map]")
        for key, val in mapping.items():
            self.write_string(key)
            self.write_bytes(val)

    def write_inetaddr(self, address: str) -> None:
        """[inetaddr]."""
        try:
            packed = ipaddress.ip_address(address).packed
        except ValueError:
            raise LocalProtocolError(f"not an IP address: {address!r}") from None
        self.write_byte(len(packed))
        self.buf += packed

    def write_inet(self, inet: Inet) -> None:
        """[inet]."""
        self.write_inetaddr(inet[0])
        self.write_int(inet[1])

    def write_count(self, n: int, what: str) -> None:
        """A [short] count or length, with a message naming what overflowed."""
        if n > 0xFFFF:
            raise LocalProtocolError(f"{what} too long for a [short] length: {n}")
        self.buf += _SHORT.pack(n)


def _pack(fmt: struct.Struct, n: int, what: str) -> bytes:
    try:
        return fmt.pack(n)
    except struct.error:
        raise LocalProtocolError(f"{n!r} does not fit in {what}") from None
