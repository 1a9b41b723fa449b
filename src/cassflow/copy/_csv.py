"""CSV as written: an RFC 4180 reader that keeps ``""`` apart from an empty field, and its writer.

Python's ``csv`` module reads ``""`` and an empty field alike, caps fields at 128 KiB and
cannot say on which physical line a record starts; ``cqlsh COPY FROM`` inherits all three.
This reader does not:

- an unquoted empty field is ``None`` (null) and a quoted empty field (``""``) is ``''``;
- every record knows the physical line it starts on (1-based, counting the header and the
  lines inside multi-line quoted fields), which is the position errors show (``a.csv:17``);
- a bad record — ragged, undecodable, a stray quote, text after a closing quote, a quote
  that never closes — becomes a :class:`BadRecord` and reading goes on with the next line,
  so one bad record never swallows its neighbours.

Theory of operation. Bytes are read in blocks and decoded incrementally with
``surrogateescape``, so a byte that is not valid in the encoding becomes a lone surrogate
that marks the record bad instead of failing the block. Only complete lines are parsed; the
rest waits for the next block (a record longer than a block makes the next read as large as
the pending text, so long fields cost linear time). Three paths share the parsing, chosen
per stretch of text, fastest first:

1. lines without a quote, an escape or an undecodable byte are cut with ``str.split`` (the
   bulk of most files, at C speed);
2. a window of records with quotes is validated by one regular expression and cut into
   fields by another (``findall``), both in C, then assembled in a tight loop;
3. a record that fails the validation is walked field by field by :meth:`CsvReader._one`,
   which says what is wrong and where, or asks for more input.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from itertools import accumulate
from typing import IO, Any, NamedTuple

from cassflow.copy._model import BadRecord, CopyError

#: Bytes read at a time; small enough that one block of parsed rows stays a few MB.
BLOCK_SIZE = 256 * 1024
#: Characters of quoted records validated and tokenised at once (then the loop looks again
#: for plain lines, which are cheaper).
_TOKEN_WINDOW = 64 * 1024
#: Lone surrogates: what ``surrogateescape`` makes of bytes the encoding cannot decode.
_SURROGATES = "\udc80-\udcff"
_SURROGATE = re.compile(f"[{_SURROGATES}]")
_NEWLINES = re.compile(r"\r\n|\r|\n")
#: A physical line with its line break (the ``csv`` module wants lines with their ends).
_PHYSICAL_LINE = re.compile(r"[^\r\n]*+(?:\r\n|\r|\n)")
_LINE_END = re.compile(r"\r\n|\r|\n")
_UTF8_NAMES = ("utf-8", "utf-8-sig")

Row = tuple[str | None, ...]


class CsvRecord(NamedTuple):
    """A record read from a CSV file: the physical line it starts on and its fields."""

    line: int
    fields: Row


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How a CSV file is written. Every field is checked when the dialect is made."""

    delimiter: str = ","
    quote: str = '"'
    #: Escapes the next character (``\\"`` in a quoted field, ``\\,`` in an unquoted one);
    #: ``None`` (the default) leaves only doubled quotes.
    escape: str | None = None
    #: Whether the first record holds the column names.
    header: bool = True
    encoding: str = "utf-8"
    #: Unquoted texts read as null besides the empty field (e.g. ``("NULL", "\\N")``);
    #: a quoted field is never null.
    null: tuple[str, ...] = ()
    #: Lines starting with this character are skipped (none by default).
    comment: str | None = None
    #: Physical lines skipped at the start of the file, before the header.
    skip_lines: int = 0
    #: What the writer ends records with; the reader accepts CRLF, LF and a lone CR.
    line_terminator: str = "\n"
    #: A record longer than this (in characters) is refused as bad, so that a quote that never
    #: closes cannot make the reader hold the whole rest of the file; ``None`` = no limit.
    max_record_size: int | None = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("delimiter", "quote", "escape", "comment"):
            value = getattr(self, name)
            if value is None and name in ("escape", "comment"):
                continue
            if not isinstance(value, str) or len(value) != 1:
                raise CopyError(f"CSV {name} must be a single character, got {value!r}")
            if value in "\r\n":
                raise CopyError(f"CSV {name} cannot be a line break ({value!r})")
            if "\udc80" <= value <= "\udcff":
                raise CopyError(f"CSV {name} cannot be a lone surrogate ({value!r})")
        specials = [("delimiter", self.delimiter), ("quote", self.quote)]
        specials += [(n, v) for n, v in (("escape", self.escape), ("comment", self.comment)) if v]
        seen: dict[str, str] = {}
        for name, value in specials:
            if value in seen:
                raise CopyError(f"CSV {name} and {seen[value]} are both {value!r}")
            seen[value] = name
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise CopyError(f"unknown CSV encoding {self.encoding!r}") from None
        if not isinstance(self.header, bool):
            raise CopyError(f"CSV header must be true or false, got {self.header!r}")
        if not isinstance(self.skip_lines, int) or self.skip_lines < 0:
            raise CopyError(f"CSV skip_lines must be a whole number >= 0, got {self.skip_lines!r}")
        if self.line_terminator not in ("\n", "\r\n", "\r"):
            raise CopyError(
                f"CSV line_terminator must be '\\n', '\\r\\n' or '\\r', "
                f"got {self.line_terminator!r}"
            )
        if not isinstance(self.null, tuple) or not all(isinstance(v, str) for v in self.null):
            raise CopyError(f"CSV null must be a list of strings, got {self.null!r}")
        if self.max_record_size is not None and (
            not isinstance(self.max_record_size, int) or self.max_record_size < 1
        ):
            raise CopyError(
                f"CSV max_record_size must be a positive number of characters, "
                f"got {self.max_record_size!r}"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> CsvDialect:
        """A dialect from dataset options (YAML values: ``header: "false"``, ``null: NULL``);
        keys that are not dialect fields are ignored (the caller checks for unknown ones)."""
        kwargs: dict[str, Any] = {}
        for name in OPTION_NAMES:
            if name not in options:
                continue
            value = options[name]
            if name == "header":
                value = _boolean(name, value)
            elif name == "null":
                value = (value,) if isinstance(value, str) else tuple(value)
            elif name in ("skip_lines", "max_record_size") and isinstance(value, str):
                value = _integer(name, value)
            kwargs[name] = value
        return cls(**kwargs)

    @property
    def byte_codec(self) -> str:
        """The codec that turns text back into the file's bytes (no BOM)."""
        return "utf-8" if self.is_utf8 else self.encoding

    @property
    def is_utf8(self) -> bool:
        """Whether the encoding is UTF-8 (with or without a BOM)."""
        return codecs.lookup(self.encoding).name in _UTF8_NAMES


#: Option names :meth:`CsvDialect.from_options` understands.
OPTION_NAMES = tuple(f.name for f in fields(CsvDialect))


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise CopyError(f"CSV {name} must be true or false, got {value!r}")


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CopyError(f"CSV {name} must be a whole number, got {value!r}") from None


class _Syntax(NamedTuple):
    """The regular expressions of one dialect (see the module docstring for their roles)."""

    #: One field and what follows it; groups: opening quote, quoted body, unquoted text, separator.
    token: re.Pattern[str]
    #: Any number of whole, well-formed, decodable records.
    valid: re.Pattern[str]
    #: A quoted field (group 1: its body), for the field-by-field walk.
    quoted: re.Pattern[str]
    #: An unquoted field, for the field-by-field walk.
    unquoted: re.Pattern[str]
    #: Undoes doubled quotes and escapes in a field's text.
    unescape: Callable[[str], str]


@lru_cache(maxsize=32)
def _syntax(delimiter: str, quote: str, escape: str | None) -> _Syntax:
    d, q = re.escape(delimiter), re.escape(quote)
    bad = _SURROGATES  # the token path leaves undecodable records to the walk, which names them
    if escape is None:
        body = f"[^{q}]*+(?:{q}{q}[^{q}]*+)*+"
        t_body = f"[^{q}{bad}]*+(?:{q}{q}[^{q}{bad}]*+)*+"
        plain = f"[^{d}{q}\\r\\n]*+"
        t_plain = f"[^{d}{q}\\r\\n{bad}]*+"
        doubled = quote * 2

        def unescape(text: str) -> str:
            return text.replace(doubled, quote)

    else:
        e = re.escape(escape)
        body = f"[^{q}{e}]*+(?:(?:{q}{q}|{e}[\\s\\S])[^{q}{e}]*+)*+"
        t_body = f"[^{q}{e}{bad}]*+(?:(?:{q}{q}|{e}[^{bad}])[^{q}{e}{bad}]*+)*+"
        plain = f"[^{d}{q}{e}\\r\\n]*+(?:{e}[\\s\\S][^{d}{q}{e}\\r\\n]*+)*+"
        t_plain = f"[^{d}{q}{e}\\r\\n{bad}]*+(?:{e}[^{bad}][^{d}{q}{e}\\r\\n{bad}]*+)*+"
        pattern = re.compile(f"{q}{q}|{e}([\\s\\S])")

        def replace(match: re.Match[str]) -> str:
            escaped = match.group(1)
            return quote if escaped is None else escaped

        def unescape(text: str) -> str:
            return pattern.sub(replace, text)

    t_field = f"(?:{q}{t_body}{q}|{t_plain})"
    record = f"{t_field}(?:{d}{t_field})*+(?:\\r\\n|\\n|\\r)"
    return _Syntax(
        token=re.compile(f"(?:({q})({t_body}){q}|({t_plain}))({d}|\\r\\n|\\n|\\r)"),
        valid=re.compile(f"(?:{record})*+"),
        quoted=re.compile(f"{q}({body}){q}"),
        unquoted=re.compile(plain),
        unescape=unescape,
    )


def _count_lines(text: str, start: int = 0, end: int | None = None) -> int:
    """Line breaks in ``text[start:end]``: LF, CRLF and lone CR count once each."""
    stop = len(text) if end is None else end
    return (
        text.count("\n", start, stop)
        + text.count("\r", start, stop)
        - text.count("\r\n", start, stop)
    )


@dataclass(slots=True)
class CsvBatch:
    """Records parsed from one block of input: good rows with their lines, and bad records."""

    rows: list[Row]
    lines: list[int]
    bad: list[BadRecord]
    #: Bytes of input read for this batch.
    nbytes: int


class CsvReader:
    """Reads one CSV file from a binary stream, block by block (memory stays flat).

    ``origin`` is the file name used in positions (``origin:line``). ``expected_fields``
    fixes the number of fields (when the columns are given; ``expected_reason`` then says why,
    in the errors of ragged records); otherwise the header, or the first record when there is
    no header, sets it. :attr:`header` holds the header's fields.

    ``first_line`` is the physical line the stream starts on: a byte range of a file cut at a
    record boundary (:mod:`cassflow.copy._file_split`) starts on a later line than 1, and
    holds no BOM (pass a dialect without ``header`` and ``skip_lines`` for it).
    """

    def __init__(
        self,
        stream: IO[bytes],
        origin: str,
        dialect: CsvDialect | None = None,
        *,
        expected_fields: int | None = None,
        expected_reason: str | None = None,
        block_size: int = BLOCK_SIZE,
        first_line: int = 1,
    ) -> None:
        self.origin = origin
        self.dialect = dialect = dialect or CsvDialect()
        self._stream = stream
        self._block_size = max(16, block_size)
        self._syntax = _syntax(dialect.delimiter, dialect.quote, dialect.escape)
        self._nulls = frozenset(("", *dialect.null))
        self._codec = dialect.byte_codec
        self._encoding_name = "UTF-8" if dialect.is_utf8 else dialect.encoding
        self._decoder = codecs.getincrementaldecoder(self._codec)(errors="surrogateescape")
        # Comments can hold quotes, which the token path would take for fields.
        self._token_path = dialect.comment is None
        self._n = expected_fields
        self._n_reason = expected_reason or f"{expected_fields} columns were given"
        self._header: Row | None = None
        self._want_header = False
        self._header_error: CopyError | None = None
        self._started = False
        self._bom = 0
        self._buf = ""
        self._pos = 0
        self._end = 0
        self._eof = False
        self._line = first_line
        self._file_start = first_line == 1
        self._has_bad_bytes = False
        self._next_quote = -1
        self._next_escape = -1
        self._next_bad_byte = -1
        self._rows: list[Row] = []
        self._lines: list[int] = []
        self._bad: list[BadRecord] = []
        self._nbytes = 0
        #: Bytes read from the stream so far.
        self.bytes_read = 0

    @property
    def header(self) -> Row | None:
        """The header's fields (reads the start of the file); ``None`` without a header or
        when the file is empty.

        Raises :class:`CopyError` when the header itself cannot be read.
        """
        self._start()
        return self._header

    @property
    def expected_fields(self) -> int | None:
        """Fields every record must have (``None`` until the first record sets it)."""
        self._start()
        return self._n

    def __iter__(self) -> Iterator[CsvRecord | BadRecord]:
        """Records and bad records in file order."""
        for batch in self.batches():
            bad = batch.bad
            k = 0
            for line, row in zip(batch.lines, batch.rows, strict=True):
                while k < len(bad) and _bad_line(bad[k]) < line:
                    yield bad[k]
                    k += 1
                yield CsvRecord(line, row)
            yield from bad[k:]

    def batches(self) -> Iterator[CsvBatch]:
        """Parsed records a block at a time (the fast way to read a large file)."""
        self._start()
        while True:
            self._parse()
            if self._rows or self._bad:
                yield self._take()
            if self._eof:  # at the end every record resolves, good or bad
                break
            self._fill()
        if self._nbytes:
            yield self._take()

    # -- reading ---------------------------------------------------------------------------

    def _take(self) -> CsvBatch:
        batch = CsvBatch(self._rows, self._lines, self._bad, self._nbytes)
        self._rows, self._lines, self._bad, self._nbytes = [], [], [], 0
        return batch

    def _start(self) -> None:
        if self._started:
            if self._header_error is not None:
                raise self._header_error
            return
        self._started = True
        self._fill()
        for _ in range(self.dialect.skip_lines):
            if not self._skip_line():
                break
        if self.dialect.header:
            try:
                self._read_header()
            except CopyError as exc:
                self._header_error = exc
                raise

    def _fill(self) -> None:
        """Read the next block and decode it after what is still pending."""
        if self._eof:
            return
        # Reading as much again as is pending keeps a long record's cost linear.
        data = self._stream.read(max(self._block_size, len(self._buf) - self._pos))
        if self.bytes_read == 0 and self._file_start:
            data = self._strip_bom(data)
        self.bytes_read += len(data) + self._bom * (self.bytes_read == 0)
        self._nbytes += len(data) + self._bom * (self.bytes_read == len(data) + self._bom)
        if data:
            text = self._decoder.decode(data)
        else:
            text = self._decoder.decode(b"", final=True)
            self._eof = True
        buf = self._buf[self._pos :] + text
        if self._eof and buf and buf[-1] not in "\r\n":
            buf += "\n"  # the last record needs no line break in the file; the parser does
        self._buf, self._pos = buf, 0
        self._has_bad_bytes = not buf.isascii() and _SURROGATE.search(buf) is not None
        if self._eof:
            self._end = len(buf)
        else:
            # A CR at the very end may be the first half of a CRLF: keep it for the next block.
            limit = len(buf) - 1 if buf.endswith("\r") else len(buf)
            self._end = max(buf.rfind("\n", 0, limit), buf.rfind("\r", 0, limit)) + 1
        self._next_quote = self._next_escape = self._next_bad_byte = -1

    def _strip_bom(self, data: bytes) -> bytes:
        if self.dialect.is_utf8 and data.startswith(codecs.BOM_UTF8):
            self._bom = len(codecs.BOM_UTF8)
            return data[self._bom :]
        return data

    def _skip_line(self) -> bool:
        """Skip one physical line whatever it holds; False at the end of the input."""
        while True:
            match = _LINE_END.search(self._buf, self._pos, self._end)
            if match is not None:
                self._pos = match.end()
                self._line += 1
                return True
            if self._eof:
                return False
            self._fill()

    def _read_header(self) -> None:
        self._want_header = True
        while self._want_header:
            if self._pos >= self._end:
                if self._eof:
                    self._want_header = False  # an empty file: no header, no records
                    return
                self._fill()
                continue
            new = self._one(self._buf, self._pos, self._end)
            if new is None:
                self._fill()
                continue
            self._pos = new
            if self._bad:
                raise CopyError(f"cannot read the header of {self.origin}: {self._bad[0].reason}")

    def _parse(self) -> None:
        """Parse every complete record in the buffer (a record that goes on past it waits)."""
        buf, end, pos = self._buf, self._end, self._pos
        syntax = self._syntax
        while pos < end:
            special = self._special(buf, pos, end)
            if special > pos:
                cut = end if special >= end else self._line_start(buf, pos, special)
                if cut > pos:
                    self._simple(buf, pos, cut)
                    pos = cut
                    continue
            if self._token_path:
                stop = buf.find("\n", pos + _TOKEN_WINDOW, end)
                stop = end if stop < 0 else stop + 1
                match = syntax.valid.match(buf, pos, stop)
                good = match.end() if match is not None else pos
                if good > pos:
                    self._tokens(buf, pos, good)
                    pos = good
                    continue
            new = self._one(buf, pos, end)
            if new is None:
                break
            pos = new
        self._pos = pos

    @staticmethod
    def _line_start(buf: str, pos: int, index: int) -> int:
        """Start of the line holding ``index`` (``pos`` if that line starts at ``pos``)."""
        last = max(buf.rfind("\n", pos, index), buf.rfind("\r", pos, index))
        return last + 1 if last >= 0 else pos

    def _special(self, buf: str, pos: int, end: int) -> int:
        """Index of the next quote, escape or undecodable byte at or after ``pos`` (or ``end``)."""
        if self._next_quote < pos:
            found = buf.find(self.dialect.quote, pos, end)
            self._next_quote = end if found < 0 else found
        special = self._next_quote
        if self.dialect.escape is not None:
            if self._next_escape < pos:
                found = buf.find(self.dialect.escape, pos, end)
                self._next_escape = end if found < 0 else found
            special = min(special, self._next_escape)
        if self._has_bad_bytes:
            if self._next_bad_byte < pos:
                match = _SURROGATE.search(buf, pos, end)
                self._next_bad_byte = end if match is None else match.start()
            special = min(special, self._next_bad_byte)
        return special

    def _simple(self, buf: str, start: int, end: int) -> None:
        """Lines without quotes, escapes or undecodable bytes: one record per line."""
        text = buf[start:end]
        parts = _NEWLINES.split(text) if "\r" in text else text.split("\n")
        parts.pop()  # the text ends with a line break
        delimiter, comment, nulls = self.dialect.delimiter, self.dialect.comment, self._nulls
        plain_nulls = len(nulls) == 1
        rows, lines = self._rows, self._lines
        n = self._n
        line = self._line - 1
        for part in parts:
            line += 1
            if not part:
                if n == 1:
                    rows.append((None,))
                    lines.append(line)
                continue  # a blank line is no record (unless one field is expected: a null)
            if comment is not None and part.startswith(comment):
                continue
            row: list[Any] = part.split(delimiter)
            if len(row) != n:
                if n is not None:
                    self._ragged(part, line, len(row))
                    continue
                n = self._first_record(line, len(row))
            if plain_nulls:
                if "" in row:
                    row = [v or None for v in row]
            else:
                row = [None if v in nulls else v for v in row]
            rows.append(tuple(row))
            lines.append(line)
        self._line = line + 1

    def _tokens(self, buf: str, start: int, end: int) -> None:
        """Well-formed, decodable records (validated by ``_Syntax.valid``) cut into fields.

        The C ``csv`` module cuts them when it cannot go wrong: without an escape character
        (its escape rules differ), and for each record whose fields it returns all non-empty
        and none a null text, since it reads ``""`` and an empty field alike. Such records
        go through :meth:`_tokens_exact` instead. The records are validated, so the module
        sees no malformed input, and the window is far below its field size limit.
        """
        if self.dialect.escape is not None:
            self._tokens_exact(buf, start, end)
            return
        lines = _PHYSICAL_LINE.findall(buf, start, end)
        reader = csv.reader(
            lines, delimiter=self.dialect.delimiter, quotechar=self.dialect.quote, strict=True
        )
        custom_nulls = self._nulls - {""}
        rows, found_lines = self._rows, self._lines
        n = self._n
        base = self._line
        offsets: list[int] | None = None
        done = 0
        for record in reader:
            num = reader.line_num
            if (
                record
                and len(record) == n
                and "" not in record
                and (not custom_nulls or custom_nulls.isdisjoint(record))
            ):
                rows.append(tuple(record))
                found_lines.append(base + done)
            else:  # empty fields, nulls, a blank line, another width: look closer
                if offsets is None:
                    offsets = list(accumulate(map(len, lines), initial=start))
                self._n = n
                self._line = base + done
                self._tokens_exact(buf, offsets[done], offsets[num])
                n = self._n
            done = num
        self._line = base + done

    def _tokens_exact(self, buf: str, start: int, end: int) -> None:
        """Well-formed, decodable records (validated by ``_Syntax.valid``) cut into tokens."""
        tokens = self._syntax.token.findall(buf, start, end)
        dialect = self.dialect
        delimiter, quote = dialect.delimiter, dialect.quote
        escape = dialect.escape or quote  # with no escape character this repeats the quote test
        unescape = self._syntax.unescape
        nulls = self._nulls
        rows, lines = self._rows, self._lines
        n = self._n
        line = first = self._line
        first_token = 0
        row: list[str | None] = []
        for opening, body, plain, separator in tokens:
            if opening:
                if "\n" in body or "\r" in body:
                    line += _count_lines(body)
                row.append(unescape(body) if quote in body or escape in body else body)
            elif plain in nulls:
                row.append(None)
            elif escape in plain:
                line += _count_lines(plain)  # an escaped line break
                row.append(unescape(plain))
            else:
                row.append(plain)
            if separator != delimiter:
                line += 1
                width = len(row)
                if width != n:
                    if width == 1 and not opening and not plain:
                        if n == 1:
                            rows.append((None,))
                            lines.append(first)
                    elif n is None:
                        n = self._first_record(first, width)
                        rows.append(tuple(row))
                        lines.append(first)
                    else:
                        text = "".join(
                            t[0] + t[1] + t[0] + t[2] + t[3]
                            for t in tokens[first_token : first_token + width]
                        )
                        self._ragged(text.rstrip("\r\n"), first, width)
                else:
                    rows.append(tuple(row))
                    lines.append(first)
                first_token += width
                row = []
                first = line
        self._line = line

    def _first_record(self, line: int, width: int) -> int:
        self._n = width
        self._n_reason = f"the first record of {self.origin}, line {line}, has {width}"
        return width

    def _ragged(self, text: str, line: int, width: int) -> None:
        self._bad.append(
            BadRecord(
                position=f"{self.origin}:{line}",
                reason=f"expected {self._n} fields ({self._n_reason}) but got {width}",
                record=self._printable(text),
            )
        )

    def _one(self, buf: str, pos: int, end: int) -> int | None:
        """Parse the record at ``pos`` field by field; returns where the next record starts, or
        ``None`` when the record goes on past the text read so far."""
        dialect = self.dialect
        if dialect.comment is not None and buf.startswith(dialect.comment, pos):
            match = _LINE_END.search(buf, pos, end)
            assert match is not None  # end always follows a line break
            self._line += 1
            return match.end()
        syntax = self._syntax
        delimiter, quote = dialect.delimiter, dialect.quote
        row: list[str | None] = []
        i = pos
        while True:
            if buf.startswith(quote, i):
                match = syntax.quoted.match(buf, i, end)
                if match is None:
                    return self._unclosed(buf, pos, i)
                j = match.end()
                char = buf[j]  # j < end: the text up to end ends with a line break
                if char != delimiter and char not in "\r\n":
                    return self._fail(buf, pos, self._after_quote(buf, pos, i, j))
                row.append(syntax.unescape(match.group(1)))
            else:
                match = syntax.unquoted.match(buf, i, end)
                assert match is not None  # it matches the empty string
                j = match.end()
                if j >= end:  # an escape took the last line break: the field goes on
                    if not self._eof:
                        return None
                    reason = f"escape character at the end of {self.origin}"
                    return self._fail(buf, pos, reason)
                char = buf[j]
                if char == quote:
                    line, column = self._where(buf, pos, j)
                    reason = (
                        f"unexpected quote in an unquoted field at line {line} column {column} "
                        f"(a field holding quotes must be quoted, with each inner quote doubled)"
                    )
                    return self._fail(buf, pos, reason)
                text = match.group()
                if text in self._nulls:
                    row.append(None)
                else:
                    row.append(syntax.unescape(text) if dialect.escape else text)
            if char == delimiter:
                i = j + 1
                continue
            break
        stop = j + 2 if buf.startswith("\r\n", j) else j + 1
        bad_byte = _SURROGATE.search(buf, pos, stop) if self._has_bad_bytes else None
        undecodable = None if bad_byte is None else self._undecodable(buf, pos, bad_byte.start())
        first = self._line
        self._line += _count_lines(buf, pos, stop)
        if len(row) == 1 and j == pos:  # a blank line
            if self._n == 1 and not self._want_header:
                self._rows.append((None,))
                self._lines.append(first)
            return stop
        if undecodable is not None:
            self._bad.append(
                BadRecord(f"{self.origin}:{first}", undecodable, self._printable(buf[pos:j]))
            )
            return stop
        if self._want_header:
            self._want_header = False
            self._header = tuple(row)
            if self._n is not None and self._n != len(row):
                raise CopyError(
                    f"the header of {self.origin} has {len(row)} fields but {self._n_reason}"
                )
            self._n = len(row)
            self._n_reason = f"the header of {self.origin} has {len(row)}"
            return stop
        if len(row) != self._n:
            if self._n is not None:
                self._ragged(buf[pos:j], first, len(row))
                return stop
            self._first_record(first, len(row))
        self._rows.append(tuple(row))
        self._lines.append(first)
        return stop

    def _undecodable(self, buf: str, pos: int, index: int) -> str:
        """Why the record at ``pos`` is bad: ``buf[index]`` stands for an undecodable byte."""
        line, column = self._where(buf, pos, index)
        start = index - column + 1
        offset = len(buf[start:index].encode(self._codec, "surrogateescape"))
        offset += 1 + (self._bom if line == 1 else 0)
        return f"invalid {self._encoding_name} at byte {offset} of line {line}"

    def _unclosed(self, buf: str, pos: int, quote_at: int) -> int | None:
        """A quoted field with no closing quote in the text read so far."""
        limit = self.dialect.max_record_size
        too_long = limit is not None and len(buf) - pos > limit
        if not self._eof and not too_long:
            return None
        line, column = self._where(buf, pos, quote_at)
        if self._eof:
            reason = (
                f"unterminated quoted field: the quote at line {line} column {column} "
                f"is never closed (the file ends first)"
            )
        else:
            reason = (
                f"unterminated quoted field: the quote at line {line} column {column} is not "
                f"closed within max_record_size ({limit} characters)"
            )
        return self._fail(buf, pos, reason)

    def _after_quote(self, buf: str, pos: int, opened: int, closed: int) -> str:
        """Why text after a closing quote is wrong, said the way that helps fix it."""
        char = buf[closed]
        line, column = self._where(buf, pos, closed)
        open_line, open_column = self._where(buf, pos, opened)
        expected = f"{self.dialect.delimiter!r} or the end of the line"
        if open_line == line:
            return (
                f"unexpected character {char!r} after closing quote at line {line} "
                f"column {column} (expected {expected})"
            )
        # The quote spans lines and what follows its "closing" quote is not a separator: most
        # likely the quote opened on open_line never closes and a later field's quote was taken
        # for its end.
        return (
            f"unterminated quoted field: the quote at line {open_line} column {open_column} is "
            f"not closed where a field can end (the next quote, at line {line} column "
            f"{column - 1}, is followed by {char!r}, not {expected})"
        )

    def _fail(self, buf: str, pos: int, reason: str) -> int:
        """Quarantine the first physical line of the record at ``pos``; go on after it.

        Going on after the first line, not after the error, is what keeps one bad record from
        swallowing its neighbours: a quote that never closes would otherwise take them along.
        """
        match = _LINE_END.search(buf, pos)
        assert match is not None  # the buffer always ends with a line break
        self._bad.append(
            BadRecord(
                f"{self.origin}:{self._line}", reason, self._printable(buf[pos : match.start()])
            )
        )
        self._line += 1
        return match.end()

    def _where(self, buf: str, pos: int, index: int) -> tuple[int, int]:
        """Physical line and 1-based column of ``buf[index]`` (the record starts at ``pos``)."""
        line = self._line + _count_lines(buf, pos, index)
        return line, index - self._line_start(buf, pos, index) + 1

    def _printable(self, text: str) -> str:
        """The record's text with undecodable bytes as U+FFFD (safe to write as JSON)."""
        if text.isascii() or _SURROGATE.search(text) is None:
            return text
        return text.encode(self._codec, "surrogateescape").decode(self._codec, "replace")


def _bad_line(bad: BadRecord) -> int:
    return int(bad.position.rpartition(":")[2])


def read_csv(
    stream: IO[bytes], origin: str, dialect: CsvDialect | None = None
) -> Iterator[CsvRecord | BadRecord]:
    """Records (``CsvRecord(line, fields)``) and bad records of a CSV stream, in file order.

    With a header (the default) the header is not yielded; see :class:`CsvReader`.
    """
    return iter(CsvReader(stream, origin, dialect))


class CsvWriter:
    """Writes records so that :class:`CsvReader` (and Python's ``csv``) read them back as they
    were: ``None`` is an unquoted empty field, ``''`` is ``""``; a field is quoted when it holds
    the delimiter, the quote, the escape, CR or LF, starts or ends with white space, starts
    with the comment character or equals a null text.

    A row of one ``None`` is a blank line, which the reader reads back as null only when one
    field is expected (a header of one column, or ``expected_fields=1``).
    """

    def __init__(self, stream: IO[bytes], dialect: CsvDialect | None = None) -> None:
        self.dialect = dialect = dialect or CsvDialect()
        self._stream = stream
        self._codec = dialect.byte_codec
        self._nulls = frozenset(dialect.null)
        specials = re.escape(dialect.delimiter + dialect.quote + (dialect.escape or ""))
        comment = f"|^{re.escape(dialect.comment)}" if dialect.comment else ""
        self._needs_quotes = re.compile(f"[{specials}\\r\\n]|^\\s|\\s\\Z" + comment).search
        quote = dialect.quote
        if dialect.escape is None:
            doubled = quote * 2
            self._escape: Callable[[str], str] = lambda v: v.replace(quote, doubled)
        else:
            esc = dialect.escape
            self._escape = lambda v: v.replace(esc, esc + esc).replace(quote, esc + quote)
        #: Bytes written so far.
        self.bytes_written = 0
        if codecs.lookup(dialect.encoding).name == "utf-8-sig":
            self._write(codecs.BOM_UTF8)

    def format_row(self, row: Sequence[str | None]) -> str:
        """One record as text, line terminator included."""
        quote, needs, escape, nulls = (
            self.dialect.quote,
            self._needs_quotes,
            self._escape,
            self._nulls,
        )
        out: list[str] = []
        for value in row:
            if value is None:
                out.append("")
            elif not isinstance(value, str):
                raise TypeError(f"CSV values must be text or None, not {type(value).__name__}")
            elif value == "" or needs(value) is not None or value in nulls:
                out.append(quote + escape(value) + quote)
            else:
                out.append(value)
        return self.dialect.delimiter.join(out) + self.dialect.line_terminator

    def encode_row(self, row: Sequence[str | None]) -> bytes:
        """One record as bytes; raises ``UnicodeEncodeError``/``TypeError`` for bad values."""
        return self.format_row(row).encode(self._codec)

    def write_row(self, row: Sequence[str | None]) -> int:
        """Write one record; returns the bytes written."""
        return self._write(self.encode_row(row))

    def write_rows(self, rows: Iterable[Sequence[str | None]]) -> int:
        """Write records; returns the bytes written."""
        text = "".join(self.format_row(row) for row in rows)
        return self._write(text.encode(self._codec))

    def write_bytes(self, data: bytes) -> int:
        """Write records already made by :meth:`encode_row`."""
        return self._write(data)

    def _write(self, data: bytes) -> int:
        self._stream.write(data)
        self.bytes_written += len(data)
        return len(data)
