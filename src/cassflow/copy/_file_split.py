"""Cutting large CSV and JSON Lines files into byte ranges that start at record boundaries.

A file larger than ``slice_bytes`` is read by several workers at once when it can be cut
into ranges each of which reads, on its own, exactly the records (and bad records, with the
same positions and reasons) that reading the whole file gives for that stretch. Finding the
cuts takes one streaming pass over the file at plan time, block by block, with ``bytes``
methods and compiled regular expressions (C speed, no per-byte Python loop), so memory stays
flat whatever the file size.

JSON Lines: a record ends at every ``\\n`` (JSON text cannot hold a raw line break).

CSV (RFC 4180, doubled quotes, no escape character). Theory of operation:

- A line break is a record terminator when it lies outside quotes, which is when an even
  number of quote bytes precede it (counted from where the data starts: after a UTF-8 BOM
  and ``skip_lines`` physical lines). That parity is what picks the cuts: from each target
  offset, the first ``\\n`` after which the parity is even.
- The parity equals the reader's state only while the quoting is well-formed: the reader
  (:class:`cassflow.copy._csv.CsvReader`) quarantines a record with a stray quote
  (``ab"c``, ``"ab"c``) and goes on with the next physical line, where the parity would
  now say "inside a quoted field". So the same pass checks every quote where the parity
  says it opens or closes a field: an opening quote must follow a delimiter, a line break
  or the start of the data; a closing one must be followed by a delimiter, a line break,
  another quote (a doubled quote) or the end of the file. A regular expression skips runs
  of well-formed text and whole quoted fields at once; Python only looks at a quote where
  a block ends inside a quoted field or where something is wrong.
- At the first malformed quote no further cut is made: the rest of the file stays in the
  last range, read exactly as it is today. A quote that never closes keeps the parity odd
  to the end of the file, with the same effect.
- Cuts are made after ``\\n`` only, so a CRLF is never split. Line numbers count ``\\n``,
  CRLF and a lone CR once each, as the reader does; a file that ends its lines with a lone
  CR only has no ``\\n`` and stays whole.
- With an escape character, a comment character, a multi-byte encoding other than UTF-8
  (where a quote byte may be part of another character; in UTF-8 ASCII bytes never occur
  inside multi-byte sequences), a delimiter or quote that is not one byte, or a compressed
  file (not seekable), the file stays whole: :func:`csv_split_blocker` says why.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from cassflow.copy._csv import CsvDialect

#: Bytes read at a time by the plan pass.
SCAN_BLOCK = 1024 * 1024
#: Encodings in which the delimiter, quote and line break bytes only ever stand for
#: themselves (``codecs.lookup(...).name``).
SPLITTABLE_ENCODINGS = frozenset(("utf-8", "utf-8-sig", "ascii", "iso8859-1"))

_LF, _CR = ord("\n"), ord("\r")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_NOT_BLANK = re.compile(rb"[^\r\n]")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """``[start, end)`` of a file, starting at a record boundary on physical line
    ``first_line`` (1-based)."""

    start: int
    end: int
    first_line: int


def csv_split_blocker(dialect: CsvDialect) -> str | None:
    """Why a CSV file of this dialect cannot be cut into byte ranges (``None``: it can)."""
    if dialect.escape is not None:
        return "the dialect has an escape character"
    if dialect.comment is not None:
        return "the dialect has a comment character (comment lines may hold quotes)"
    if codecs.lookup(dialect.encoding).name not in SPLITTABLE_ENCODINGS:
        return f"the encoding {dialect.encoding} may hold quote bytes inside characters"
    codec = dialect.byte_codec
    for name, char in (("delimiter", dialect.delimiter), ("quote", dialect.quote)):
        if len(char.encode(codec, "replace")) != 1:
            return f"the {name} {char!r} is not one byte in {dialect.encoding}"
    return None


def jsonl_ranges(stream: IO[bytes], slice_bytes: int) -> list[ByteRange]:
    """Ranges of about ``slice_bytes`` of a JSON Lines stream, cut after ``\\n``."""
    cuts: list[tuple[int, int]] = []
    target = slice_bytes
    offset = lines = 0
    for block in _blocks(stream):
        end = offset + len(block)
        pos = 0  # lines counts the line breaks of block[:pos]
        while target < end:
            found = block.find(b"\n", max(target - 1 - offset, pos))
            if found < 0:
                break
            lines += block.count(b"\n", pos, found + 1)
            pos = found + 1
            cuts.append((offset + pos, lines + 1))
            target = offset + pos + slice_bytes
        lines += block.count(b"\n", pos)
        offset = end
    return _ranges(cuts, offset)


def csv_ranges(stream: IO[bytes], slice_bytes: int, dialect: CsvDialect) -> list[ByteRange]:
    """Ranges of about ``slice_bytes`` of a CSV stream, each starting at a record boundary
    (see the module docstring); the caller checks :func:`csv_split_blocker` first."""
    quote = dialect.quote.encode(dialect.byte_codec)
    delimiter = dialect.delimiter.encode(dialect.byte_codec)
    scan = _CsvScan(quote, delimiter, dialect.skip_lines, dialect.header, dialect.is_utf8)
    return scan.run(stream, slice_bytes)


def _ranges(cuts: list[tuple[int, int]], size: int) -> list[ByteRange]:
    starts = [(0, 1), *((at, line) for at, line in cuts if 0 < at < size)]
    ends = [at for at, _ in starts[1:]] + [size]
    return [ByteRange(s, e, line) for (s, line), e in zip(starts, ends, strict=True)]


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    while True:
        block = stream.read(SCAN_BLOCK)
        if not block:
            return
        yield block


def _breaks(block: bytes, start: int, end: int) -> int:
    """Line breaks in ``block[start:end]``: LF, CRLF and a lone CR count once each."""
    return (
        block.count(b"\n", start, end)
        + block.count(b"\r", start, end)
        - block.count(b"\r\n", start, end)
    )


class _QuoteCheck:
    """Follows quoted fields through the data block by block and finds the first quote that is
    not where RFC 4180 allows one (see the module docstring)."""

    _OUT, _IN, _IN_AFTER_QUOTE = range(3)

    def __init__(self, quote: bytes, delimiter: bytes) -> None:
        q, d = re.escape(quote), re.escape(delimiter)
        self._quote = quote
        self._q = quote[0]
        self._bounds = frozenset((delimiter[0], _CR, _LF))
        # Outside quotes: runs of other bytes, and whole quoted fields that open where a field
        # starts and close where one ends (a quoted field cut by the end of the block, or a
        # malformed one, stops the match at its opening quote, which feed() then looks at).
        self._outside = re.compile(
            rb"(?:[^"
            + q
            + rb"]++|(?<![^"
            + d
            + rb"\r\n])"
            + q
            + rb"[^"
            + q
            + rb"]*+(?:"
            + q
            + q
            + rb"[^"
            + q
            + rb"]*+)*+"
            + q
            + rb"(?=["
            + d
            + rb"\r\n]))*+"
        )
        self._state = self._OUT
        self._prev = _LF  # the data starts like a line

    def feed(self, block: bytes, start: int) -> int | None:
        """Check ``block[start:]``; the index of the first malformed quote (or of the byte
        after a closing quote that should not be there), or ``None``."""
        i, n, q = start, len(block), self._q
        while i < n:
            state = self._state
            if state == self._OUT:
                if block[i] != q:
                    i = self._outside.match(block, i).end()  # type: ignore[union-attr]
                    continue
                before = block[i - 1] if i > start else self._prev
                if before not in self._bounds:
                    return i
                self._state = self._IN
                i += 1
            elif state == self._IN:
                found = block.find(self._quote, i)
                if found < 0:
                    break
                i = found + 1
                self._state = self._IN_AFTER_QUOTE
            else:  # the byte after a quote inside a quoted field decides what it was
                after = block[i]
                if after == q:  # a doubled quote
                    self._state = self._IN
                    i += 1
                elif after in self._bounds:
                    self._state = self._OUT
                else:
                    return i
        if n > start:
            self._prev = block[-1]
        return None


class _CsvScan:
    """One pass over a CSV stream that finds the cuts (see :func:`csv_ranges`)."""

    def __init__(
        self, quote: bytes, delimiter: bytes, skip_lines: int, header: bool, utf8: bool
    ) -> None:
        self._quote = quote
        self._check = _QuoteCheck(quote, delimiter)
        self._skip = skip_lines
        self._utf8 = utf8
        #: With a header, no cut may come before the end of the first record that is not a
        #: blank line (the reader skips blank lines before the header).
        self._before_header = header
        self._cr_pending = False  # the last block ended with CR (maybe half a CRLF)
        self._skipped_cr = False
        self._lines = 0  # line breaks before the current block
        self._odd = 0  # 1: an odd number of quotes between the data start and the block

    def run(self, stream: IO[bytes], slice_bytes: int) -> list[ByteRange]:
        cuts: list[tuple[int, int]] = []
        target = slice_bytes
        offset = 0
        malformed = False
        for block in _blocks(stream):
            n = len(block)
            data = self._data_start(block, offset)
            crlf_split = self._cr_pending and block[:1] == b"\n"
            if data < n and not malformed:
                bad = self._check.feed(block, data)
                limit = n if bad is None else bad
                malformed = bad is not None
                if self._before_header:
                    first = _NOT_BLANK.search(block, data, limit)
                    if first is not None:
                        self._before_header = False
                        data_from = first.end()
                    else:
                        data_from = limit
                else:
                    data_from = data
                target = self._cut(
                    block, offset, data, data_from, limit, target, slice_bytes, crlf_split, cuts
                )
                if malformed:
                    target = -1
            self._lines += _breaks(block, 0, n) - crlf_split
            self._cr_pending = block.endswith(b"\r")
            offset += n
        return _ranges(cuts, offset)

    def _data_start(self, block: bytes, offset: int) -> int:
        """Where the data starts in ``block``: after a BOM and the lines to skip (``len(block)``
        while they go on)."""
        i = 0
        if offset == 0 and self._utf8 and block.startswith(codecs.BOM_UTF8):
            i = len(codecs.BOM_UTF8)
        if self._skipped_cr:  # the last skipped line ended the last block with CR
            self._skipped_cr = False
            if block[:1] == b"\n":
                i = 1
        while self._skip:
            match = _LINE_BREAK.search(block, i)
            if match is None:
                return len(block)
            self._skip -= 1
            i = match.end()
            # A CR at the end of the block may be the first half of a CRLF.
            self._skipped_cr = i == len(block) and match.group() == b"\r"
        return i

    def _cut(
        self,
        block: bytes,
        offset: int,
        data: int,
        data_from: int,
        limit: int,
        target: int,
        slice_bytes: int,
        crlf_split: bool,
        cuts: list[tuple[int, int]],
    ) -> int:
        """Record the cuts in ``block[data:limit]``; returns the next target offset."""
        quote = self._quote
        odd = self._odd
        pos = data  # odd: quote parity of the data up to pos
        # lines: line breaks before block[lines_at]; the LF of a CRLF cut by the end of the
        # last block was not one (every cut is after the block's first byte).
        lines, lines_at = self._lines - crlf_split, 0
        end = offset + limit
        while 0 <= target <= end:
            found = block.find(b"\n", max(target - 1 - offset, pos, data_from), limit)
            if found < 0:
                break
            odd ^= block.count(quote, pos, found) & 1
            pos = found
            if odd:
                target = offset + found + 2  # the next line break at the earliest
                continue
            lines += _breaks(block, lines_at, found + 1)
            lines_at = found + 1
            cuts.append((offset + found + 1, lines + 1))
            target = offset + found + 1 + slice_bytes
        self._odd = odd ^ (block.count(quote, pos, limit) & 1)
        return target


class RangeReader(io.RawIOBase):
    """The bytes ``[start, end)`` of a seekable binary stream, as a stream that ends at ``end``
    (wrap it in :class:`io.BufferedReader` for lines)."""

    def __init__(self, stream: IO[bytes], start: int, end: int) -> None:
        super().__init__()
        stream.seek(start)
        self._stream = stream
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        size = len(data)
        buffer[:size] = data
        self._left -= size
        return size


def open_range(stream: IO[bytes], byte_range: ByteRange) -> IO[bytes]:
    """A buffered stream of ``byte_range`` of ``stream`` (which must be seekable)."""
    raw = RangeReader(stream, byte_range.start, byte_range.end)
    return io.BufferedReader(raw, buffer_size=SCAN_BLOCK)
