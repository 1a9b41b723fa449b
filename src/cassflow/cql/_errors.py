"""Errors raised by the CQL parser, split as Cassandra splits them.

Cassandra answers a statement it cannot read with a ``SyntaxError`` (protocol error code
0x2000) and a statement it can read but refuses before looking at the schema with an
``Invalid`` (0x2200). :class:`CqlSyntaxError` and :class:`CqlInvalidError` map one to one onto
those codes, so a server built on this parser picks the error code by class. The message of
either is the text Cassandra would send.
"""

from __future__ import annotations

from cassflow.errors import CassflowError


class CqlError(CassflowError):
    """Base class of the errors raised by :mod:`cassflow.cql`."""


class CqlSyntaxError(CqlError):
    """The text is not a CQL statement Cassandra would accept (its ``SyntaxException``).

    ``line`` (1-based) and ``column`` (0-based, as Cassandra counts) locate the offending
    token; at the end of the input they point just past the last character, while the message
    says ``line 0:-1`` as Cassandra does there. Errors that Cassandra reports without a
    position (``Bind variables cannot be used for keyspace names``...) still carry one here.
    """

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class CqlInvalidError(CqlError):
    """A well-formed statement that Cassandra refuses while preparing it, before it looks at
    the schema (its ``InvalidRequestException``): ``PRIMARY KEY`` declared twice, a column
    declared twice, ``COMPACT STORAGE``, a non-frozen collection inside a collection..."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
